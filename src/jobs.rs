//! Import and export jobs: submitting them (`stardust import`, `stardust export`, `CALL stardust.export`), their
//! rows in `stardust_import_jobs` / `stardust_export_jobs`, and what `stardust jobs` shows. The daemons run
//! them (`daemons::importer`); the files they read and write are `artifact`s.

pub mod export;
pub mod import;
pub mod payload;
pub mod repair;
pub mod status;

use crate::backend;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Artifact(#[from] crate::artifact::Error),
    #[error(transparent)]
    Backend(#[from] backend::Error),
    /// The tenant has no model of that name.
    #[error(
        "tenant {tenant} has no model `{model}` (create it first: CREATE TABLE model_{model} (…))"
    )]
    NoSuchModel { tenant: u64, model: String },
    #[error("{0}")]
    Input(String),
}

impl Error {
    pub fn kind(&self) -> crate::Kind {
        match self {
            Error::Artifact(_) => crate::Kind::Internal,
            Error::Backend(e) => e.kind(),
            Error::NoSuchModel { .. } => crate::Kind::NoSuchTable,
            Error::Input(_) => crate::Kind::WrongArguments,
        }
    }
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        Error::Backend(e.into())
    }
}

/// Who holds a job's lease: `host:pid:uuid`, fresh for every claim (StarDust's worker identity).
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let mut identity = format!("{host}:{}:{}", std::process::id(), uuid::Uuid::new_v4());
    identity.truncate(128);
    identity
}
