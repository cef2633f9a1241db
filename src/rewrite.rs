//! Rewriting statements into backend SQL by editing sqlparser's AST: pure functions, no I/O.

pub mod information_schema;
pub mod select;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the rewritten statement: {0}")]
    Build(String),
    #[error("Table '{database}.{table}' doesn't exist")]
    NoSuchTable { database: String, table: String },
    #[error(
        "Column '{field}' of {table} is {}: filtering on it would read every entry's JSON. Index it \
         (ALTER TABLE {table} ADD INDEX ({field})) or allow scans for this session (SET stardust_allow_scan = 1)",
        if *.backfilling { "still being indexed" } else { "not indexed" }
    )]
    NotIndexed {
        field: String,
        table: String,
        backfilling: bool,
    },
}

impl Error {
    pub fn kind(&self) -> crate::error::Kind {
        match self {
            Error::Build(_) => crate::error::Kind::Internal,
            Error::NoSuchTable { .. } => crate::error::Kind::NoSuchTable,
            Error::NotIndexed { .. } => crate::error::Kind::NotIndexed,
        }
    }
}
