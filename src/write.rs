//! The write path: statements that change model rows become one backend transaction over `entry_data` (the JSON
//! payload, the system of record) and the slot pages. Values are coerced by the backend itself, through a
//! temporary "shadow" table declared with the model's own column definitions, so defaults, NOT NULL, lengths
//! and conversions behave — and fail, with MySQL's own codes and messages — exactly as on a native table.

mod delete;
mod insert;
mod literal;
mod payload;
mod shadow;
mod slots;
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
    /// The registry moved after the statement was planned (the guard its unit opened with fired): nothing was
    /// written, and the caller plans it again on the fresh catalog.
    #[error("the model catalog changed while the statement was planned; send it again")]
    CatalogMoved,
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
            Error::CatalogMoved => Kind::Internal,
        }
    }
}

/// What a write reports in its OK packet, and the warnings `SHOW WARNINGS` lists after it.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// The entries an INSERT created, in the order of its rows (for `RETURNING`).
    pub ids: Vec<u64>,
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

/// The rows an UPDATE or DELETE changes: a rewritten SELECT whose first column is `id`, and whether it names its
/// rows by primary key (then its `entry_data` is read through the primary key: see `rewrite::by_id`).
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub text: &'a str,
    pub by_id: bool,
}

/// The statements that lock the entries a write's selection matches, as a native UPDATE or DELETE locks the rows
/// it changes, listing them in the session's [`LOCKED`] table (read by [`LOCKED_IDS`]). They wait for a
/// concurrent writer of those entries, so what the statement reads next is their latest version.
///
/// The exclusive lock is taken on `entry_data` itself, joined to the selection: a locking clause does not lock
/// the rows behind a derived table. Nor would a plain `SELECT … FOR UPDATE` leave the client's snapshot alone:
/// it reads the derived table's rows consistently, which takes the REPEATABLE READ snapshot then and there, where
/// a native UPDATE takes none. As the source of an `INSERT … SELECT` (into a session-private list of ids) the
/// same rows are read with locks, and no snapshot is taken; the list is then read with a locking read too.
fn lock_statements(tenant: u64, selection: Selection<'_>) -> [String; 3] {
    let hint = if selection.by_id {
        " FORCE INDEX (PRIMARY)"
    } else {
        ""
    };
    let text = selection.text;
    [
        format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS `{LOCKED}` (id BIGINT UNSIGNED NOT NULL PRIMARY KEY) \
             ENGINE=InnoDB"
        ),
        format!("DELETE FROM `{LOCKED}`"),
        format!(
            "INSERT INTO `{LOCKED}` (id) SELECT e.id FROM entry_data AS e{hint} \
             JOIN ({text}) AS stardust_match ON stardust_match.id = e.id \
             WHERE e.tenant_id = {tenant} ORDER BY e.id FOR UPDATE"
        ),
    ]
}

/// Reads the ids [`lock_statements`] listed.
const LOCKED_IDS: &str = "SELECT id FROM `stardust_locked` ORDER BY id FOR UPDATE";

/// The session's list of the entries its current UPDATE or DELETE has locked.
const LOCKED: &str = "stardust_locked";

/// Ends the write path's reads of its own shadow tables. A plain (consistent) read would take the client's
/// REPEATABLE READ snapshot there and then, inside a write — where a native table's INSERT or UPDATE takes none, and
/// the transaction's first SELECT decides what it sees. A locking read takes no snapshot, and the rows of a
/// session's temporary table are its own to lock.
const UNSNAPSHOTTED: &str = "FOR UPDATE";

/// Whether the client has a transaction a model write must join: one it opened (`BEGIN`), or the implicit one
/// every statement opens while `autocommit` is off — which the backend does not report as open until a
/// statement has run in it.
pub fn in_client_transaction(status: mysql_async::consts::StatusFlags) -> bool {
    use mysql_async::consts::StatusFlags;
    status.contains(StatusFlags::SERVER_STATUS_IN_TRANS)
        || !status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
}

/// What one statement of a [`batch`] reported.
#[derive(Debug, Default)]
struct Reported {
    last_insert_id: u64,
    affected_rows: u64,
    info: String,
    rows: Vec<mysql_async::Row>,
}

/// Sends statements (one each) as one multi-statement batch, one round trip, and reads what each reported. The
/// backend stops at the first statement that fails, and that failure is the batch's. Afterwards the connection's
/// warning count is the last statement's.
async fn batch(
    conn: &mut mysql_async::Conn,
    statements: &[String],
) -> Result<Vec<Reported>, Error> {
    let mut result = conn.query_iter(statements.join(";\n")).await?;
    let mut reported = Vec::with_capacity(statements.len());
    for _ in statements {
        let mut one = Reported {
            last_insert_id: result.last_insert_id().unwrap_or(0),
            affected_rows: result.affected_rows(),
            info: result.info().into_owned(),
            rows: Vec::new(),
        };
        // Reads this statement's rows (if any) and the next one's first packet. A later statement's error is kept
        // pending by the driver and surfaces from the next read, so every result is read, the last too.
        one.rows = result.collect().await?;
        reported.push(one);
    }
    Ok(reported)
}

/// A statement's atomic unit: a transaction of its own, or a savepoint inside the client's transaction, so that
/// a failed statement undoes only itself and the client's `COMMIT` or `ROLLBACK` decides the rest.
///
/// Opening and closing may ride in the write's own multi-statement batches ([`Unit::opening`],
/// [`Unit::closing`]), which saves the two round trips a single-row INSERT would otherwise spend on them. A
/// unit of its own may also carry the registry version its statement was planned at: the opening then fails,
/// before anything is written, if the registry moved since ([`Error::CatalogMoved`]), so the version check
/// costs no round trip of its own.
pub struct Unit {
    in_transaction: bool,
    guard: Option<u64>,
    opened: bool,
    guarded: bool,
    closed: bool,
}

/// What the guard's scalar subquery raises when the registry moved: two rows where one is allowed. (Assigned to
/// a variable: `DO` would turn the error into a warning.) No other statement a batch carrying the guard holds
/// has a subquery.
const SUBQUERY_ROWS: u16 = 1242;

impl Unit {
    /// `planned_at`: the registry version the statement was planned against, to be checked as the unit opens;
    /// ignored inside the client's transaction, whose reads may see an older snapshot.
    pub fn new(status: mysql_async::consts::StatusFlags, planned_at: Option<u64>) -> Unit {
        let in_transaction = in_client_transaction(status);
        Unit {
            in_transaction,
            guard: planned_at.filter(|_| !in_transaction),
            opened: false,
            guarded: false,
            closed: false,
        }
    }

    /// Opens the unit now, on its own, unless a batch already did.
    pub(crate) async fn open(&mut self, conn: &mut mysql_async::Conn) -> Result<(), Error> {
        let opening = self.opening();
        if !opening.is_empty() {
            batch(conn, &opening).await.map_err(|e| self.moved(e))?;
        }
        Ok(())
    }

    /// The statements that open the unit, for the next batch to lead with; none once they were handed out.
    pub(crate) fn opening(&mut self) -> Vec<String> {
        if std::mem::replace(&mut self.opened, true) {
            return Vec::new();
        }
        if self.in_transaction {
            return vec!["SAVEPOINT stardust_statement".to_string()];
        }
        let mut opening = vec!["START TRANSACTION".to_string()];
        if let Some(version) = self.guard {
            self.guarded = true;
            opening.push(format!(
                "SET @stardust_planned = (SELECT 1 UNION ALL SELECT 1 FROM stardust_schema_version \
                 WHERE id = 1 AND version <> {version})"
            ));
        }
        opening
    }

    /// A batch's failure, as [`Error::CatalogMoved`] when it is the guard's.
    pub(crate) fn moved(&self, error: Error) -> Error {
        match &error {
            Error::Backend(crate::backend::Error::Server(e))
                if self.guarded && e.code == SUBQUERY_ROWS =>
            {
                Error::CatalogMoved
            }
            _ => error,
        }
    }

    /// The statement that keeps the unit's work, for the write's last batch to end with; if that batch fails,
    /// [`Unit::finish`] undoes the unit as usual.
    pub(crate) fn closing(&mut self) -> &'static str {
        self.closed = true;
        if self.in_transaction {
            "RELEASE SAVEPOINT stardust_statement"
        } else {
            "COMMIT"
        }
    }

    /// Closes the unit: kept if the statement succeeded (unless its last batch did that already), undone if it
    /// failed. A statement's own error wins over a failure to undo it: after a deadlock or a lock wait timeout
    /// with `innodb_rollback_on_timeout`, the backend has already rolled the whole transaction back, savepoint
    /// and all, as it would for a native table.
    pub(crate) async fn finish<T>(
        self,
        conn: &mut mysql_async::Conn,
        outcome: Result<T, Error>,
    ) -> Result<T, Error> {
        let statement = match (outcome.is_ok(), self.in_transaction) {
            (true, _) if self.closed => return outcome,
            (true, true) => "RELEASE SAVEPOINT stardust_statement",
            (true, false) => "COMMIT",
            (false, true) => "ROLLBACK TO SAVEPOINT stardust_statement",
            (false, false) => "ROLLBACK",
        };
        let closed = conn.query_drop(statement).await;
        match outcome {
            Ok(value) => closed.map(|()| value).map_err(Error::from),
            Err(e) => Err(e),
        }
    }
}
