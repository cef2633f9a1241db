//! A job's state as `stardust jobs` shows it: always read with the tenant's predicate, so a tenant sees only
//! its own jobs.

use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::Serialize;

use super::Error;

/// One import or export job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: &'static str,
    pub tenant: u64,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: String,
    /// Rows done (imports: loaded or dead-lettered; exports: rows written).
    pub done: u64,
    /// Rows in all (imports), when known.
    pub total: Option<u64>,
    /// Rows dead-lettered (imports) or skipped (exports).
    pub rejected: u64,
    pub failed_reason: Option<String>,
    pub artifact: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

impl Job {
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed")
    }
}

const IMPORTS: &str = "SELECT id, tenant_id, status, \
    CAST(COALESCE(JSON_UNQUOTE(JSON_EXTRACT(manifest, '$.entries_written')), '0') AS UNSIGNED), entry_count, \
    CAST(COALESCE(JSON_UNQUOTE(JSON_EXTRACT(manifest, '$.rejected')), '0') AS UNSIGNED), failed_reason, \
    artifact_path, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s'), DATE_FORMAT(completed_at, '%Y-%m-%d %H:%i:%s') \
    FROM stardust_import_jobs WHERE tenant_id = ?";

fn import(row: Row) -> Job {
    Job {
        id: row.get(0).unwrap_or_default(),
        kind: "import",
        tenant: row.get(1).unwrap_or_default(),
        status: row.get(2).unwrap_or_default(),
        done: row.get(3).unwrap_or_default(),
        total: row.get::<Option<u64>, _>(4).flatten(),
        rejected: row.get(5).unwrap_or_default(),
        failed_reason: row.get(6).flatten(),
        artifact: row.get(7).flatten(),
        created_at: row.get(8).unwrap_or_default(),
        completed_at: row.get(9).flatten(),
    }
}

const EXPORTS: &str = "SELECT id, tenant_id, status, COALESCE(row_count, 0), NULL, skip_count, failed_reason, \
    artifact_path, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s'), DATE_FORMAT(completed_at, '%Y-%m-%d %H:%i:%s') \
    FROM stardust_export_jobs WHERE tenant_id = ?";

fn export(row: Row) -> Job {
    Job {
        kind: "export",
        ..import(row)
    }
}

/// The tenant's jobs, imports then exports, newest first.
pub async fn list(conn: &mut mysql_async::Conn, tenant: u64) -> Result<Vec<Job>, Error> {
    let rows: Vec<Row> = conn
        .exec(format!("{IMPORTS} ORDER BY id DESC LIMIT 100"), (tenant,))
        .await?;
    let mut jobs: Vec<Job> = rows.into_iter().map(import).collect();
    let rows: Vec<Row> = conn
        .exec(format!("{EXPORTS} ORDER BY id DESC LIMIT 100"), (tenant,))
        .await?;
    jobs.extend(rows.into_iter().map(export));
    Ok(jobs)
}

/// One of the tenant's export jobs; `None` if it has none of that id.
pub async fn export_job(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    id: i64,
) -> Result<Option<Job>, Error> {
    let row: Option<Row> = conn
        .exec_first(format!("{EXPORTS} AND id = ?"), (tenant, id))
        .await?;
    Ok(row.map(export))
}

/// One of the tenant's import jobs; `None` if it has none of that id.
pub async fn import_job(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    id: i64,
) -> Result<Option<Job>, Error> {
    let row: Option<Row> = conn
        .exec_first(format!("{IMPORTS} AND id = ?"), (tenant, id))
        .await?;
    Ok(row.map(import))
}

/// Cancels one of the tenant's jobs that has not finished: it ends `failed` with reason `cancelled`. A worker
/// running it finds its next checkpoint refused and stops (`lease_lost`). `false` if the tenant has no such
/// unfinished job.
pub async fn cancel(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    id: i64,
    export: bool,
) -> Result<bool, Error> {
    let table = if export {
        "stardust_export_jobs"
    } else {
        "stardust_import_jobs"
    };
    conn.exec_drop(
        format!(
            "UPDATE {table} SET status = 'failed', failed_reason = 'cancelled', completed_at = UTC_TIMESTAMP() \
             WHERE id = ? AND tenant_id = ? AND status IN ('pending', 'processing')"
        ),
        (id, tenant),
    )
    .await?;
    Ok(conn.affected_rows() > 0)
}

/// Cancels one of the tenant's unfinished jobs ([`cancel`]) and removes an import's payload, which no one will
/// read now (a worker that had it open keeps reading its own handle). `stardust jobs --cancel` and
/// `CALL stardust.cancel_job` both end here; a job the tenant does not have, or one already finished, is refused.
pub async fn cancel_job(
    conn: &mut mysql_async::Conn,
    dir: &std::path::Path,
    tenant: u64,
    id: i64,
    export: bool,
) -> Result<(), Error> {
    let kind = if export { "export" } else { "import" };
    if !cancel(conn, tenant, id, export).await? {
        return Err(Error::Input(format!(
            "tenant {tenant} has no unfinished {kind} job {id} (SELECT id, kind, status FROM stardust.jobs lists them)"
        )));
    }
    if !export {
        if let Some(name) = import_job(conn, tenant, id).await?.and_then(|j| j.artifact) {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || crate::artifact::remove(&dir, &name))
                .await
                .map_err(|e| {
                    Error::Input(format!("removing the cancelled import's payload: {e}"))
                })??;
        }
    }
    Ok(())
}
