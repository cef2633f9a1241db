//! Import jobs: the manifest a job row carries (the artifact's size and checksum, the model, and the resume
//! checkpoint), and submission — after the artifact is durable, once per (tenant, idempotency key).

use std::path::Path;

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use super::Error;
use crate::artifact::Durable;
use crate::catalog::Model;

/// `stardust_import_jobs.manifest`: what the artifact must be, and how far the job got. The Reconciler rewrites
/// it with every chunk, in the chunk's transaction, so it is also the resume checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub model_id: i64,
    pub model: String,
    /// The artifact's size and SHA-256, checked before the first row is read.
    pub bytes: u64,
    pub sha256: String,
    /// Chunks committed.
    #[serde(default)]
    pub chunks: u64,
    /// Rows consumed (loaded or dead-lettered): the next row to read is row `entries_written + 1`.
    #[serde(default)]
    pub entries_written: u64,
    /// The byte offset of that row in the artifact.
    #[serde(default)]
    pub offset: u64,
    /// Rows written as entries.
    #[serde(default)]
    pub loaded: u64,
    /// Rows dead-lettered (`stardust.dlq`, source `bulk_import`).
    #[serde(default)]
    pub rejected: u64,
}

/// What a submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// A new job.
    New(i64),
    /// The tenant already submitted an import with this idempotency key: that job.
    Existing(i64),
}

impl Submitted {
    pub fn id(self) -> i64 {
        match self {
            Submitted::New(id) | Submitted::Existing(id) => id,
        }
    }
}

/// MySQL's duplicate-key error: another submission with the same key won the race.
const ER_DUP_ENTRY: u16 = 1062;

/// The artifact file name for a new import of `tenant`.
pub fn artifact_name(tenant: u64) -> String {
    format!("import_{tenant}_{}.ndjson", uuid::Uuid::new_v4().simple())
}

/// The import job the tenant submitted with this key, if any.
pub async fn existing(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    key: &str,
) -> Result<Option<i64>, Error> {
    Ok(conn
        .exec_first(
            "SELECT id FROM stardust_import_jobs WHERE tenant_id = ? AND idempotency_key = ?",
            (tenant, key),
        )
        .await?)
}

/// Records a pending import job for a durable artifact. On a lost idempotency race the artifact is removed and
/// the winner's job returned.
pub async fn submit(
    conn: &mut mysql_async::Conn,
    dir: &Path,
    tenant: u64,
    model: &Model,
    artifact: &Durable,
    key: Option<&str>,
) -> Result<Submitted, Error> {
    let manifest = Manifest {
        model_id: model.id,
        model: model.name.clone(),
        bytes: artifact.bytes,
        sha256: artifact.sha256.clone(),
        ..Manifest::default()
    };
    let manifest = serde_json::to_string(&manifest).map_err(|e| Error::Input(e.to_string()))?;
    let inserted = conn
        .exec_drop(
            "INSERT INTO stardust_import_jobs \
             (tenant_id, status, idempotency_key, artifact_path, entry_count, manifest, created_at) \
             VALUES (?, 'pending', ?, ?, ?, ?, UTC_TIMESTAMP())",
            (tenant, key, &artifact.name, artifact.rows, manifest),
        )
        .await;
    match inserted {
        Ok(()) => {
            let id = conn.last_insert_id().unwrap_or(0) as i64;
            tracing::info!(
                event = "bulk_accepted",
                job_id = id,
                tenant,
                rows = artifact.rows,
                "import job submitted"
            );
            Ok(Submitted::New(id))
        }
        Err(mysql_async::Error::Server(e)) if e.code == ER_DUP_ENTRY => {
            crate::artifact::remove(dir, &artifact.name)?;
            let key = key.unwrap_or_default();
            let id = existing(conn, tenant, key).await?.unwrap_or(0);
            tracing::info!(
                event = "bulk_accepted",
                job_id = id,
                tenant,
                "import job already submitted with this key"
            );
            Ok(Submitted::Existing(id))
        }
        Err(e) => {
            let _ = crate::artifact::remove(dir, &artifact.name);
            Err(e.into())
        }
    }
}
