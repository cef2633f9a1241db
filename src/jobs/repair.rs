//! The artifact directory against the job rows: `inspect` (read-only, for `stardust verify`) finds jobs whose
//! files are missing or corrupt; `repair` (at start-up, under the directory lock) marks those jobs failed and
//! removes dead writers' temp files and files no job refers to.

use std::path::Path;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::import::Manifest;
use super::Error;
use crate::artifact::{self, Check};
use crate::backend::Backend;

/// Files no job refers to are removed once untouched this long: a `stardust import` publishes its file a moment
/// before it records the job.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(600);

/// One job whose artifact is not what its row says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: &'static str,
    pub job: i64,
    pub tenant: u64,
    pub artifact: String,
    /// `artifact_missing` or `artifact_corrupt`.
    pub reason: &'static str,
    pub detail: String,
}

/// What `verify` reports about artifacts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checked: u64,
    pub problems: Vec<Problem>,
}

/// A finished export's row: id, tenant, file, recorded size and checksum.
type Recorded = (i64, u64, String, Option<u64>, Option<String>);

/// Checks the artifact of every job that still needs one (pending and running imports, completed exports)
/// against the size and checksum its row recorded.
pub async fn inspect(backend: &Backend, dir: &Path) -> Result<Report, Error> {
    let mut conn = backend.conn(false).await?;
    let rows: Vec<(i64, u64, String, Option<String>)> = conn
        .query(
            "SELECT id, tenant_id, artifact_path, manifest FROM stardust_import_jobs \
             WHERE status IN ('pending', 'processing') ORDER BY id",
        )
        .await?;
    let mut report = Report::default();
    for (job, tenant, name, manifest) in rows {
        let manifest: Manifest = manifest
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default();
        report.checked += 1;
        let Some((reason, detail)) = damage(dir, &name, manifest.bytes, manifest.sha256).await?
        else {
            continue;
        };
        report.problems.push(Problem {
            kind: "import",
            job,
            tenant,
            artifact: name,
            reason,
            detail,
        });
    }
    let exports: Vec<Recorded> = conn
        .query(
            "SELECT id, tenant_id, artifact_path, artifact_bytes, artifact_sha256 FROM stardust_export_jobs \
             WHERE status = 'completed' AND artifact_path IS NOT NULL ORDER BY id",
        )
        .await?;
    for (job, tenant, name, bytes, sha) in exports {
        report.checked += 1;
        let (bytes, sha) = (bytes.unwrap_or(0), sha.unwrap_or_default());
        let Some((reason, detail)) = damage(dir, &name, bytes, sha).await? else {
            continue;
        };
        report.problems.push(Problem {
            kind: "export",
            job,
            tenant,
            artifact: name,
            reason,
            detail,
        });
    }
    Ok(report)
}

/// Start-up repair: under the directory lock, fails the jobs whose artifacts are missing or corrupt and sweeps
/// temp files and orphans. Returns what it found.
pub async fn repair(backend: &Backend, dir: &Path) -> Result<(Report, artifact::Swept), Error> {
    let lock_dir = dir.to_path_buf();
    let _lock = tokio::task::spawn_blocking(move || artifact::lock(&lock_dir))
        .await
        .map_err(|e| Error::Input(e.to_string()))??;
    let report = inspect(backend, dir).await?;
    let mut conn = backend.conn(false).await?;
    for problem in &report.problems {
        let sql = if problem.kind == "import" {
            "UPDATE stardust_import_jobs SET status = 'failed', failed_reason = ?, completed_at = UTC_TIMESTAMP() \
             WHERE id = ? AND tenant_id = ? AND status IN ('pending', 'processing')"
        } else {
            // Never serve a file that is not what was recorded: the job fails and forgets it.
            "UPDATE stardust_export_jobs SET status = 'failed', failed_reason = ?, artifact_path = NULL \
             WHERE id = ? AND tenant_id = ? AND status = 'completed'"
        };
        conn.exec_drop(sql, (problem.reason, problem.job, problem.tenant))
            .await?;
        tracing::warn!(
            job_id = problem.job,
            tenant = problem.tenant,
            reason = problem.reason,
            detail = problem.detail.as_str(),
            "import job failed at start-up: its artifact is not intact"
        );
    }
    let referenced: std::collections::HashSet<String> = conn
        .query::<String, _>(
            "SELECT artifact_path FROM stardust_import_jobs WHERE status IN ('pending', 'processing') \
             UNION SELECT artifact_path FROM stardust_export_jobs WHERE artifact_path IS NOT NULL \
             UNION SELECT partial_path FROM stardust_export_jobs WHERE partial_path IS NOT NULL",
        )
        .await?
        .into_iter()
        .collect();
    let sweep_dir = dir.to_path_buf();
    let swept = tokio::task::spawn_blocking(move || {
        artifact::sweep(&sweep_dir, ORPHAN_GRACE, |name| referenced.contains(name))
    })
    .await
    .map_err(|e| Error::Input(e.to_string()))??;
    if !swept.temps.is_empty() || !swept.orphans.is_empty() {
        tracing::info!(
            temps = swept.temps.len(),
            orphans = swept.orphans.len(),
            "artifact directory swept"
        );
    }
    Ok((report, swept))
}

/// What is wrong with a finished job's artifact, as a failure reason and a detail; `None` when it is intact.
async fn damage(
    dir: &std::path::Path,
    name: &str,
    bytes: u64,
    sha256: String,
) -> Result<Option<(&'static str, String)>, Error> {
    let (dir, file) = (dir.to_path_buf(), name.to_string());
    let checked = tokio::task::spawn_blocking(move || artifact::check(&dir, &file, bytes, &sha256))
        .await
        .map_err(|e| Error::Input(e.to_string()))?;
    Ok(match checked {
        Ok(Check::Intact) => None,
        Ok(Check::Missing) => Some(("artifact_missing", "no such file".to_string())),
        Ok(Check::Corrupt(detail)) => Some(("artifact_corrupt", detail)),
        Err(e) => Some(("artifact_corrupt", e.to_string())),
    })
}
