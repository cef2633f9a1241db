//! Rewriting statements into backend SQL by editing sqlparser's AST: pure functions, no I/O.

pub mod information_schema;
pub mod select;
pub mod system_schema;
pub mod twin;

use sqlparser::ast::{Ident, Query, Statement, TableAlias, TableFactor};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// Parses SQL the rewriter composed from catalog data (never user text) into a query.
fn parse_query(sql: &str) -> Result<Query, Error> {
    let mut parsed =
        Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| Error::Build(e.to_string()))?;
    match parsed.pop() {
        Some(Statement::Query(query)) => Ok(*query),
        _ => Err(Error::Build("the composed SQL is not a query".to_string())),
    }
}

/// Puts a derived table in place of a table reference, under the reference's alias or, without one, the table's
/// own name, so every qualified column reference in the statement still resolves.
fn replace_with_derived(factor: &mut TableFactor, subquery: Query, name: &str) {
    let alias = match factor {
        TableFactor::Table { alias, .. } => alias.clone(),
        _ => None,
    };
    let alias = alias.unwrap_or(TableAlias {
        explicit: true,
        name: Ident::new(name),
        columns: Vec::new(),
        at: None,
    });
    *factor = TableFactor::Derived {
        lateral: false,
        subquery: Box::new(subquery),
        alias: Some(alias),
        sample: None,
    };
}

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
