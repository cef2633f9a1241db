//! Parsing and classifying client SQL: what each statement is, where it goes, and whether this user may send it.

mod bind;
mod classify;
pub mod names;
mod policy;
mod show;

pub use bind::{bind, placeholders};
pub use classify::{classify, Context, ModelShow, Route};

use crate::error::Kind;

/// An identifier as MySQL reads it: in backticks, with backticks inside doubled (printed by sqlparser).
pub fn quote_identifier(name: &str) -> String {
    sqlparser::ast::Ident::with_quote('`', name).to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("You have an error in your SQL syntax: {0}")]
    Syntax(String),
    #[error("{command} command denied to user '{user}' for table '{table}': a tenant login reaches only its own model_* tables")]
    TableDenied {
        command: String,
        user: String,
        table: String,
    },
    #[error("Access denied for user '{user}' to database '{database}': a tenant login works only in '{home}'")]
    DatabaseDenied {
        user: String,
        database: String,
        home: String,
    },
    #[error("Access denied: {0}")]
    PrivilegeDenied(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("Query was empty")]
    Empty,
    #[error("Invalid utf8mb4 character string in the statement: send the query as valid UTF-8")]
    BadCharacters,
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Syntax(_) => Kind::Syntax,
            Error::TableDenied { .. } => Kind::TableDenied,
            Error::DatabaseDenied { .. } => Kind::DatabaseDenied,
            Error::PrivilegeDenied(_) => Kind::PrivilegeDenied,
            Error::NotSupported(_) => Kind::NotSupported,
            Error::BadCharacters => Kind::BadCharacters,
            Error::Empty => Kind::EmptyQuery,
        }
    }
}
