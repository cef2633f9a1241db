//! The Reconciler's import jobs: a claimed job's artifact is checked against its manifest, then drained in
//! chunks through the INSERT write path (`write::insert`: coercion, slots, the page invariant). Each chunk's
//! entries, its dead letters and the job's checkpoint commit in one transaction, so a job resumed after a crash
//! loads every row exactly once.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, TxOpts};
use serde_json::{Map, Value};

mod statement;

use statement::{insert, into_backend, row_error};

use super::Tick;
use crate::artifact::{self, Check};
use crate::backend::{self, Backend};
use crate::catalog::Model;
use crate::jobs::import::Manifest;
use crate::jobs::payload;
use crate::registry::Registry;
use crate::write::Shadows;

/// Claims the oldest pending job, or a running one whose lease ran out, skipping jobs other workers hold.
const CLAIM: &str = "SELECT id, tenant_id, artifact_path, manifest, status FROM stardust_import_jobs \
    WHERE status = 'pending' OR (status = 'processing' AND heartbeat_at < UTC_TIMESTAMP() - INTERVAL ? SECOND) \
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";

/// Longest dead-letter message kept (StarDust's).
const MESSAGE_MAX: usize = 1024;

/// The Reconciler's import worker on one instance.
#[derive(Clone)]
pub struct Importer {
    backend: Backend,
    registry: Arc<Registry>,
    dir: PathBuf,
    lease_secs: u64,
    chunk: usize,
}

/// A claimed job.
struct Job {
    id: i64,
    tenant: u64,
    artifact: String,
    manifest: Manifest,
    identity: String,
}

/// How a job ended on this worker.
enum Outcome {
    Completed,
    Failed(&'static str, String),
    /// Another worker took the job over (this one's lease ran out): it owns the job now.
    LeaseLost,
}

impl Importer {
    pub fn new(backend: Backend, dir: &Path, lease_secs: u64, chunk: u64) -> Importer {
        Importer {
            registry: Arc::new(Registry::new(backend.clone())),
            backend,
            dir: dir.to_path_buf(),
            lease_secs,
            chunk: usize::try_from(chunk).unwrap_or(500).max(1),
        }
    }

    /// Claims one job and runs it to its end (or until this worker loses the lease).
    pub async fn tick(&self) -> Result<Tick, backend::Error> {
        let Some(job) = self.claim().await? else {
            return Ok(Tick::Idle);
        };
        let mut conn = self.backend.conn(false).await?;
        let outcome = match self.run(&mut conn, &job).await {
            Ok(outcome) => outcome,
            Err(e) => return Err(e),
        };
        match outcome {
            Outcome::Completed => {}
            Outcome::Failed(reason, message) => {
                self.fail(&mut conn, &job, reason, &message).await?
            }
            Outcome::LeaseLost => {
                tracing::warn!(
                    event = "lease_lost",
                    queue = "import_jobs",
                    job_id = job.id,
                    tenant = job.tenant,
                    "another worker took the import job over"
                );
            }
        }
        Ok(Tick::Worked)
    }

    async fn claim(&self) -> Result<Option<Job>, backend::Error> {
        let mut conn = self.backend.conn(false).await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        let row: Option<Row> = tx.exec_first(CLAIM, (self.lease_secs,)).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.get(0).unwrap_or_default();
        let tenant: u64 = row.get(1).unwrap_or_default();
        let artifact: String = row.get(2).unwrap_or_default();
        let manifest: Option<String> = row.get(3).flatten();
        let status: String = row.get(4).unwrap_or_default();
        let identity = crate::jobs::identity();
        tx.exec_drop(
            "UPDATE stardust_import_jobs SET status = 'processing', worker_identity = ?, \
             claimed_at = COALESCE(claimed_at, UTC_TIMESTAMP()), heartbeat_at = UTC_TIMESTAMP() \
             WHERE id = ? AND tenant_id = ?",
            (&identity, id, tenant),
        )
        .await?;
        tx.commit().await?;
        let manifest: Manifest = manifest
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default();
        tracing::info!(
            event = "chunk_claimed",
            queue = "import_jobs",
            job_id = id,
            tenant,
            claim_kind = if status == "pending" {
                "pending"
            } else {
                "abandoned"
            },
            resume_offset = manifest.entries_written,
            "import job claimed"
        );
        Ok(Some(Job {
            id,
            tenant,
            artifact,
            manifest,
            identity,
        }))
    }

    async fn run(&self, conn: &mut Conn, job: &Job) -> Result<Outcome, backend::Error> {
        if job.manifest.sha256.is_empty() {
            return Ok(Outcome::Failed(
                "malformed_json",
                "the job has no manifest".to_string(),
            ));
        }
        let (dir, name) = (self.dir.clone(), job.artifact.clone());
        let (bytes, sha) = (job.manifest.bytes, job.manifest.sha256.clone());
        let checked = blocking(move || artifact::check(&dir, &name, bytes, &sha)).await;
        match checked {
            Ok(Check::Intact) => {}
            Ok(Check::Missing) => {
                return Ok(Outcome::Failed(
                    "artifact_missing",
                    format!("{} is missing", job.artifact),
                ))
            }
            Ok(Check::Corrupt(why)) => {
                return Ok(Outcome::Failed(
                    "artifact_corrupt",
                    format!("{}: {why}", job.artifact),
                ))
            }
            Err(e) => return Ok(Outcome::Failed("artifact_unreadable", e.to_string())),
        }
        let path = self.dir.join(&job.artifact);
        let offset = job.manifest.offset;
        let opened = blocking(move || {
            let mut file = std::fs::File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            Ok::<_, std::io::Error>(BufReader::with_capacity(1 << 20, file))
        })
        .await;
        let mut reader = match opened {
            Ok(reader) => reader,
            Err(e) => return Ok(Outcome::Failed("artifact_unreadable", e.to_string())),
        };
        let mut manifest = job.manifest.clone();
        let mut shadows = Shadows::default();
        loop {
            let chunk = self.chunk;
            let (back, lines) = blocking(move || read_lines(reader, chunk)).await;
            reader = back;
            let lines = match lines {
                Ok(lines) => lines,
                Err(e) => return Ok(Outcome::Failed("artifact_unreadable", e.to_string())),
            };
            if lines.is_empty() {
                return self.complete(conn, job, &manifest).await;
            }
            let catalog = self.registry.snapshot_on(conn, job.tenant).await?;
            let Some(model) = catalog
                .models
                .values()
                .find(|m| m.id == manifest.model_id)
                .cloned()
            else {
                return Ok(Outcome::Failed(
                    "entry_write_failed",
                    format!("model `{}` no longer exists", manifest.model),
                ));
            };
            if !self
                .chunk(conn, &mut shadows, job, &model, &lines, &mut manifest)
                .await?
            {
                return Ok(Outcome::LeaseLost);
            }
        }
    }

    /// Loads one chunk of rows, dead-letters the ones that cannot be loaded, and moves the checkpoint, in one
    /// transaction. `false` if the lease was lost (then nothing of the chunk stays).
    async fn chunk(
        &self,
        conn: &mut Conn,
        shadows: &mut Shadows,
        job: &Job,
        model: &Model,
        lines: &[(String, u64)],
        manifest: &mut Manifest,
    ) -> Result<bool, backend::Error> {
        let first_row = manifest.entries_written + 1;
        let mut rejected: Vec<(u64, &'static str, String)> = Vec::new();
        let mut rows: Vec<(u64, Map<String, Value>)> = Vec::with_capacity(lines.len());
        for (n, (line, _)) in lines.iter().enumerate() {
            let number = first_row + n as u64;
            match payload::parse_line(line) {
                Ok(fields) => rows.push((number, fields)),
                Err(reason) => rejected.push((number, "malformed_json", reason)),
            }
        }
        conn.query_drop("START TRANSACTION").await?;
        let outcome = self
            .load(conn, shadows, job.tenant, model, &rows, &mut rejected)
            .await;
        let loaded = match outcome {
            Ok(loaded) => loaded,
            Err(e) => {
                let _ = conn.query_drop("ROLLBACK").await;
                return Err(e);
            }
        };
        let correlation = uuid::Uuid::new_v4().to_string();
        let mut next = manifest.clone();
        next.chunks += 1;
        next.entries_written += lines.len() as u64;
        next.offset += lines.iter().map(|(_, bytes)| bytes).sum::<u64>();
        next.loaded += loaded;
        next.rejected += rejected.len() as u64;
        let committed = self
            .checkpoint(conn, job, model, &next, &rejected, &correlation)
            .await;
        match committed {
            Ok(true) => {
                conn.query_drop("COMMIT").await?;
            }
            Ok(false) => {
                conn.query_drop("ROLLBACK").await?;
                return Ok(false);
            }
            Err(e) => {
                let _ = conn.query_drop("ROLLBACK").await;
                return Err(e);
            }
        }
        *manifest = next;
        for (row, reason, message) in &rejected {
            tracing::warn!(
                event = "dlq_inserted",
                dlq_source = "bulk_import",
                job_id = job.id,
                tenant = job.tenant,
                model = model.id,
                row,
                reason,
                error = message.as_str(),
                chunk_correlation_id = correlation.as_str(),
                "import row moved to the dead-letter queue"
            );
        }
        Ok(true)
    }

    /// Inserts the rows: runs of rows with the same columns as one multi-row INSERT each; a run the backend
    /// refuses is retried row by row, and each refused row joins `rejected`. Returns the rows loaded.
    async fn load(
        &self,
        conn: &mut Conn,
        shadows: &mut Shadows,
        tenant: u64,
        model: &Model,
        rows: &[(u64, Map<String, Value>)],
        rejected: &mut Vec<(u64, &'static str, String)>,
    ) -> Result<u64, backend::Error> {
        let mut loaded = 0;
        let mut start = 0;
        while start < rows.len() {
            let columns: Vec<&String> = rows[start].1.keys().collect();
            let end = start
                + rows[start..]
                    .iter()
                    .take_while(|(_, fields)| fields.keys().eq(columns.iter().copied()))
                    .count();
            let run = &rows[start..end];
            match insert(conn, shadows, model, tenant, run).await {
                Ok(()) => loaded += run.len() as u64,
                Err(e) if row_error(&e) && run.len() > 1 => {
                    for row in run {
                        match insert(conn, shadows, model, tenant, std::slice::from_ref(row)).await
                        {
                            Ok(()) => loaded += 1,
                            Err(e) if row_error(&e) => {
                                rejected.push((row.0, "schema_incompatibility", e.to_string()))
                            }
                            Err(e) => return Err(into_backend(e)),
                        }
                    }
                }
                Err(e) if row_error(&e) => {
                    rejected.push((run[0].0, "schema_incompatibility", e.to_string()))
                }
                Err(e) => return Err(into_backend(e)),
            }
            start = end;
        }
        rejected.sort_by_key(|(row, ..)| *row);
        Ok(loaded)
    }

    /// Writes the dead letters and moves the checkpoint, if this worker still holds the job.
    async fn checkpoint(
        &self,
        conn: &mut Conn,
        job: &Job,
        model: &Model,
        manifest: &Manifest,
        rejected: &[(u64, &'static str, String)],
        correlation: &str,
    ) -> Result<bool, backend::Error> {
        let text = serde_json::to_string(manifest).unwrap_or_default();
        conn.exec_drop(
            "UPDATE stardust_import_jobs SET manifest = ?, heartbeat_at = UTC_TIMESTAMP() \
             WHERE id = ? AND tenant_id = ? AND worker_identity = ? AND status = 'processing'",
            (text, job.id, job.tenant, &job.identity),
        )
        .await?;
        if conn.affected_rows() == 0 {
            return Ok(false);
        }
        for (row, reason, message) in rejected {
            let mut message = format!("import job {} row {row}: {message}", job.id);
            truncate(&mut message, MESSAGE_MAX);
            conn.exec_drop(
                "INSERT INTO stardust_reconciler_dlq (source, entry_id, tenant_id, model_id, reason, error_message, \
                 failed_at, chunk_correlation_id) VALUES ('bulk_import', NULL, ?, ?, ?, ?, UTC_TIMESTAMP(), ?)",
                (job.tenant, model.id, reason, message, correlation),
            )
            .await?;
        }
        Ok(true)
    }

    async fn complete(
        &self,
        conn: &mut Conn,
        job: &Job,
        manifest: &Manifest,
    ) -> Result<Outcome, backend::Error> {
        let text = serde_json::to_string(manifest).unwrap_or_default();
        conn.exec_drop(
            "UPDATE stardust_import_jobs SET status = 'completed', manifest = ?, completed_at = UTC_TIMESTAMP(), \
             heartbeat_at = UTC_TIMESTAMP() WHERE id = ? AND tenant_id = ? AND worker_identity = ? \
             AND status = 'processing'",
            (text, job.id, job.tenant, &job.identity),
        )
        .await?;
        if conn.affected_rows() == 0 {
            return Ok(Outcome::LeaseLost);
        }
        // The rows are in the database now; the payload has served its purpose.
        let (dir, name) = (self.dir.clone(), job.artifact.clone());
        if let Err(e) = blocking(move || artifact::remove(&dir, &name)).await {
            tracing::warn!(job_id = job.id, error = %e, "cannot remove a finished import's artifact");
        }
        tracing::info!(
            event = "chunk_complete",
            queue = "import_jobs",
            job_id = job.id,
            tenant = job.tenant,
            chunks = manifest.chunks,
            entries_written = manifest.entries_written,
            loaded = manifest.loaded,
            rejected = manifest.rejected,
            "import job complete"
        );
        Ok(Outcome::Completed)
    }

    async fn fail(
        &self,
        conn: &mut Conn,
        job: &Job,
        reason: &str,
        message: &str,
    ) -> Result<(), backend::Error> {
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        tx.exec_drop(
            "UPDATE stardust_import_jobs SET status = 'failed', failed_reason = ?, completed_at = UTC_TIMESTAMP(), \
             heartbeat_at = UTC_TIMESTAMP() WHERE id = ? AND tenant_id = ? AND worker_identity = ?",
            (reason, job.id, job.tenant, &job.identity),
        )
        .await?;
        let mut text = format!("import job {}: {message}", job.id);
        truncate(&mut text, MESSAGE_MAX);
        let dlq_reason = if reason == "malformed_json" {
            "malformed_json"
        } else {
            "other"
        };
        tx.exec_drop(
            "INSERT INTO stardust_reconciler_dlq (source, entry_id, tenant_id, model_id, reason, error_message, \
             failed_at, chunk_correlation_id) VALUES ('bulk_import', NULL, ?, ?, ?, ?, UTC_TIMESTAMP(), ?)",
            (job.tenant, job.manifest.model_id, dlq_reason, &text, uuid::Uuid::new_v4().to_string()),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(
            event = "chunk_partial",
            queue = "import_jobs",
            job_id = job.id,
            tenant = job.tenant,
            failed_reason = reason,
            error = message,
            "import job failed"
        );
        Ok(())
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Up to `n` lines and the bytes each took (with its newline).
fn read_lines(
    mut reader: BufReader<std::fs::File>,
    n: usize,
) -> (
    BufReader<std::fs::File>,
    std::io::Result<Vec<(String, u64)>>,
) {
    let mut lines = Vec::with_capacity(n);
    while lines.len() < n {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(bytes) => {
                let text = line.trim_end_matches(['\n', '\r']).to_string();
                lines.push((text, bytes as u64));
            }
            Err(e) => return (reader, Err(e)),
        }
    }
    (reader, Ok(lines))
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
