//! Rewriting statements into backend SQL by editing sqlparser's AST: pure functions, no I/O.

pub mod information_schema;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the rewritten statement: {0}")]
    Build(String),
}

impl Error {
    pub fn kind(&self) -> crate::error::Kind {
        match self {
            Error::Build(_) => crate::error::Kind::Internal,
        }
    }
}
