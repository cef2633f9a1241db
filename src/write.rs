//! The write path: statements that change model rows become one backend transaction over `entry_data` (the JSON
//! payload, the system of record) and the slot pages. Values are coerced by the backend itself, through a
//! temporary "shadow" table declared with the model's own column definitions, so defaults, NOT NULL, lengths
//! and conversions behave — and fail, with MySQL's own codes and messages — exactly as on a native table.

mod insert;
mod payload;
mod shadow;

pub use insert::insert;
pub use payload::path as payload_path;
pub use shadow::Shadows;

use crate::error::Kind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotSupported(String),
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        Error::Backend(e.into())
    }
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::NotSupported(_) => Kind::NotSupported,
            Error::Backend(e) => e.kind(),
        }
    }
}

/// What a write reports in its OK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    pub affected_rows: u64,
    pub last_insert_id: u64,
}
