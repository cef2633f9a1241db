//! The write path: statements that change model rows become one backend transaction over `entry_data` (the JSON
//! payload, the system of record) and the slot pages. Values are coerced by the backend itself, through a
//! temporary "shadow" table declared with the model's own column definitions, so defaults, NOT NULL, lengths
//! and conversions behave — and fail, with MySQL's own codes and messages — exactly as on a native table.

mod delete;
mod insert;
mod literal;
mod payload;
mod shadow;
mod update;

pub use delete::delete;
pub use insert::insert;
pub use payload::{path as payload_path, slot_expression};
pub use shadow::Shadows;
pub use update::{update, Change, Updated};

use mysql_async::prelude::Queryable;

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

/// What a write reports in its OK packet, and the warnings `SHOW WARNINGS` lists after it.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub warnings: Warnings,
}

/// `SHOW WARNINGS` as the backend answered it on the shadow table: its column definitions and rows.
#[derive(Debug, Clone, Default)]
pub struct Warnings {
    pub columns: Vec<mysql_async::Column>,
    pub rows: Vec<Warning>,
}

impl Warnings {
    fn extend(&mut self, more: Warnings) {
        if self.columns.is_empty() {
            self.columns = more.columns;
        }
        self.rows.extend(more.rows);
    }
}

/// The backend's `SHOW WARNINGS` after a write that failed — the statement's error, kept through the rollback,
/// and its warnings — as the client should read them: the model's table named instead of the shadow, the error
/// in the words the client received (its row counted from the statement's first). `None` if there are none.
pub async fn failure_warnings(
    conn: &mut mysql_async::Conn,
    model: &crate::catalog::Model,
    error: &Error,
) -> Option<Warnings> {
    // Only the backend's errors left diagnostics behind; the proxy's own refusals never reached it.
    let Error::Backend(crate::backend::Error::Server(e)) = error else {
        return None;
    };
    let listed = show_warnings(conn, |level, code, message| {
        if level == "Error" && code == e.code {
            e.message.clone()
        } else {
            message.replace(&shadow::table_name(model), &model.table_name())
        }
    })
    .await
    .ok()?;
    (!listed.rows.is_empty()).then_some(listed)
}

/// The backend session's `SHOW WARNINGS`, each message put in the client's words by `words`.
async fn show_warnings(
    conn: &mut mysql_async::Conn,
    words: impl Fn(&str, u16, String) -> String,
) -> Result<Warnings, mysql_async::Error> {
    let mut result = conn.query_iter("SHOW WARNINGS").await?;
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    let rows: Vec<(String, u16, String)> = result.collect().await?;
    Ok(Warnings {
        columns,
        rows: rows
            .into_iter()
            .map(|(level, code, message)| Warning {
                message: words(&level, code, message),
                level,
                code,
            })
            .collect(),
    })
}

/// One row of `SHOW WARNINGS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub level: String,
    pub code: u16,
    pub message: String,
}

/// The warnings the backend raised for the statement just run on the shadow table — where values are coerced
/// and SET expressions evaluated, so where a native table would warn — naming the model's table, with "at row
/// N" counted from the statement's first row (`before` rows came in earlier chunks). The statements that follow
/// (reading the shadow, writing entries and pages) would otherwise replace them in the session's diagnostics.
async fn shadow_warnings(
    conn: &mut mysql_async::Conn,
    model: &crate::catalog::Model,
    before: usize,
) -> Result<Warnings, Error> {
    if conn.get_warnings() == 0 {
        return Ok(Warnings::default());
    }
    Ok(show_warnings(conn, |_, _, message| {
        insert::at_statement_row(message, before)
            .replace(&shadow::table_name(model), &model.table_name())
    })
    .await?)
}

/// Locks the entries a write's `selection` (a rewritten SELECT whose first column is `id`) matches, as a native
/// UPDATE or DELETE locks the rows it changes, and returns their ids. The lock is taken on `entry_data` itself:
/// a locking clause does not lock the rows behind a derived table. It waits for a concurrent writer of those
/// entries, so what the statement reads next is their latest version.
async fn lock_entries(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    selection: &str,
) -> Result<Vec<u64>, Error> {
    Ok(conn
        .query(format!(
            "SELECT e.id FROM entry_data AS e JOIN ({selection}) AS stardust_match ON stardust_match.id = e.id \
             WHERE e.tenant_id = {tenant} ORDER BY e.id FOR UPDATE"
        ))
        .await?)
}

/// Opens the statement's atomic unit: a transaction, or a savepoint inside the client's own transaction.
async fn begin(
    conn: &mut mysql_async::Conn,
    status: mysql_async::consts::StatusFlags,
) -> Result<bool, Error> {
    let in_transaction = status.contains(mysql_async::consts::StatusFlags::SERVER_STATUS_IN_TRANS);
    conn.query_drop(if in_transaction {
        "SAVEPOINT stardust_statement"
    } else {
        "START TRANSACTION"
    })
    .await?;
    Ok(in_transaction)
}

/// Closes what [`begin`] opened: kept if the statement succeeded, undone if it failed.
async fn finish(
    conn: &mut mysql_async::Conn,
    in_transaction: bool,
    succeeded: bool,
) -> Result<(), Error> {
    let statement = match (succeeded, in_transaction) {
        (true, true) => "RELEASE SAVEPOINT stardust_statement",
        (true, false) => "COMMIT",
        (false, true) => "ROLLBACK TO SAVEPOINT stardust_statement",
        (false, false) => "ROLLBACK",
    };
    conn.query_drop(statement).await?;
    Ok(())
}
