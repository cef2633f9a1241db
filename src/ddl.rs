//! Model DDL: `CREATE TABLE`, `ALTER TABLE`, `CREATE/DROP INDEX`, `RENAME TABLE` and `DROP TABLE` on `model_*`
//! tables become registry changes — models, fields, slot reservations — in one backend transaction each.

mod alter;
mod create;
mod drop;
mod names;
mod shape;

use sqlparser::ast::{ObjectType, Statement};

use crate::error::Kind;
use crate::registry::Registry;

pub use names::{validate_field_name, validate_model_table};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Table '{0}' already exists")]
    TableExists(String),
    #[error("Table '{database}.{table}' doesn't exist")]
    NoSuchTable { database: String, table: String },
    /// `DROP TABLE` of tables that do not exist: MySQL lists them all, qualified, in one message.
    #[error("Unknown table '{0}'")]
    UnknownTable(String),
    #[error("Unknown column '{column}' in '{table}'")]
    NoSuchColumn { column: String, table: String },
    #[error("Duplicate column name '{0}'")]
    DuplicateColumn(String),
    #[error("Key column '{0}' doesn't exist in table")]
    NoKeyColumn(String),
    #[error("Duplicate key name '{0}'")]
    DuplicateKey(String),
    #[error("Can't DROP {what} `{name}`; check that it exists")]
    CantDrop { what: &'static str, name: String },
    #[error("Incorrect table name '{name}': {why}")]
    BadTableName { name: String, why: String },
    #[error("Incorrect column name '{name}': {why}")]
    BadColumnName { name: String, why: String },
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
            Error::TableExists(_) => Kind::TableExists,
            Error::NoSuchTable { .. } => Kind::NoSuchTable,
            Error::UnknownTable(_) => Kind::UnknownTable,
            Error::NoSuchColumn { .. } => Kind::NoSuchColumn,
            Error::DuplicateColumn(_) => Kind::DuplicateColumn,
            Error::DuplicateKey(_) => Kind::DuplicateKey,
            Error::NoKeyColumn(_) => Kind::NoKeyColumn,
            Error::CantDrop { .. } => Kind::CantDrop,
            Error::BadTableName { .. } => Kind::BadTableName,
            Error::BadColumnName { .. } => Kind::BadColumnName,
            Error::NotSupported(_) => Kind::NotSupported,
            Error::Backend(e) => e.kind(),
        }
    }
}

/// Who the DDL is for.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub tenant: u64,
    /// The home database, for messages.
    pub database: &'a str,
    /// Recorded as `provisioned_by` on pages this DDL creates.
    pub instance: &'a str,
}

/// Whether `statement` is DDL this module handles (the caller has established that it names a model table).
pub fn is_model_ddl(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateTable(_)
            | Statement::AlterTable(_)
            | Statement::CreateIndex(_)
            | Statement::RenameTable(_)
            | Statement::Drop {
                object_type: ObjectType::Table | ObjectType::Index,
                ..
            }
    )
}

/// Applies one DDL statement to the tenant's models. Returns the affected-row count for the OK packet.
pub async fn execute(
    registry: &Registry,
    target: Target<'_>,
    statement: &Statement,
) -> Result<u64, Error> {
    match statement {
        Statement::CreateTable(create) => create::create_table(registry, target, create).await,
        Statement::AlterTable(alter) => alter::alter_table(registry, target, alter).await,
        Statement::CreateIndex(index) => alter::create_index(registry, target, index).await,
        Statement::Drop {
            object_type: ObjectType::Index,
            names,
            table,
            ..
        } => alter::drop_index(registry, target, names, table.as_ref()).await,
        Statement::Drop {
            object_type: ObjectType::Table,
            names,
            if_exists,
            ..
        } => drop::drop_tables(registry, target, names, *if_exists).await,
        Statement::RenameTable(renames) => drop::rename_tables(registry, target, renames).await,
        other => Err(Error::NotSupported(format!(
            "this statement is not supported on model tables: {}",
            other.to_string().chars().take(60).collect::<String>()
        ))),
    }
}
