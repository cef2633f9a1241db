//! The Chronicler: runs export jobs. Workers on any number of instances claim with `FOR UPDATE SKIP LOCKED`,
//! tenants taking turns; a job is streamed chunk by chunk (the user's query, rewritten, after the id cursor)
//! into a resumable partial file that is fsynced before each checkpoint commits (one at most every
//! [`CHECKPOINT_EVERY`], not one per chunk: each is an fsync and a commit) — so a job taken over after a crash goes
//! on from the recorded bytes and cursor, and its file comes out byte-identical. Before
//! claiming: the low-disk gate; when idle: TTL garbage collection. StarDust's failure states and event names.

mod chunk;
mod render;

use std::path::PathBuf;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, TxOpts};
use tokio::sync::Notify;

use chunk::{read_chunk, Chunk};

use super::Tick;
use crate::artifact::{self, Writer};
use crate::backend::{self, Backend};
use crate::config::Jobs;
use crate::jobs::export::{self, Format};
use crate::registry::Registry;

/// Rows that cannot be encoded are skipped and counted; past this many, the job fails (StarDust's cap).
const SKIP_CAP: u64 = 1000;

/// How often a running export records its progress (an fsync of the partial file, then the checkpoint, which is
/// also the lease's heartbeat): at most this much work is redone after a crash. A third of the lease when that
/// is shorter, so a live worker's heartbeat never lapses.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn checkpoint_every(lease_secs: u64) -> std::time::Duration {
    CHECKPOINT_EVERY.min(std::time::Duration::from_millis(
        lease_secs.saturating_mul(1000) / 3,
    ))
}

/// Candidates for a claim, tenants taking turns: those with the fewest running exports first, then the one
/// served longest ago, then oldest job first. Read without locks; each candidate is then claimed with SKIP LOCKED.
const CANDIDATES: &str = "SELECT j.id FROM stardust_export_jobs j \
    WHERE j.status = 'pending' OR (j.status = 'processing' AND j.heartbeat_at < UTC_TIMESTAMP() - INTERVAL ? SECOND) \
    ORDER BY (SELECT COUNT(*) FROM stardust_export_jobs r WHERE r.tenant_id = j.tenant_id AND r.status = 'processing'), \
    (SELECT MAX(r.claimed_at) FROM stardust_export_jobs r WHERE r.tenant_id = j.tenant_id), j.id LIMIT 8";

const CLAIM: &str = "SELECT id, tenant_id, filter, format, status, COALESCE(last_cursor, 0), partial_path, \
    COALESCE(artifact_bytes, 0), COALESCE(row_count, 0), skip_count FROM stardust_export_jobs \
    WHERE id = ? AND (status = 'pending' OR (status = 'processing' AND heartbeat_at < UTC_TIMESTAMP() - INTERVAL ? SECOND)) \
    FOR UPDATE SKIP LOCKED";

/// Wakes this process's idle Chronicler: an export was submitted here (`CALL stardust.export`). Jobs submitted
/// elsewhere (another instance, the CLI) are found by its next idle tick.
pub static WAKE: Notify = Notify::const_new();

/// Called after an export job is recorded through this process.
pub fn wake() {
    WAKE.notify_one();
}

#[derive(Clone)]
pub struct Chronicler {
    backend: Backend,
    registry: Arc<Registry>,
    jobs: Jobs,
    dir: PathBuf,
    page: u64,
}

/// A claimed job and where it resumes.
struct Job {
    id: i64,
    tenant: u64,
    query: String,
    format: Format,
    identity: String,
    cursor: u64,
    /// The previous claim's partial file and how much of it is recorded (bytes, rows), if it resumes.
    resume: Option<(String, u64, u64)>,
    skips: u64,
}

/// Why a job failed: StarDust's `failed_reason` values.
enum Failure {
    Query(String),
    DiskFull,
    TooLarge,
    Skips,
    Io(String),
}

impl Failure {
    fn reason(&self) -> &'static str {
        match self {
            Failure::Query(_) => "query_failure",
            Failure::DiskFull => "disk_full",
            Failure::TooLarge => "artifact_size_exceeded",
            Failure::Skips => "excessive_skips",
            Failure::Io(_) => "io_failure",
        }
    }
}

impl From<artifact::Error> for Failure {
    fn from(e: artifact::Error) -> Failure {
        match e {
            artifact::Error::DiskFull { .. } => Failure::DiskFull,
            artifact::Error::TooLarge { .. } => Failure::TooLarge,
            other => Failure::Io(other.to_string()),
        }
    }
}

/// How processing ended on this worker.
enum Outcome {
    Completed,
    Failed(Failure),
    LeaseLost,
}

impl Chronicler {
    pub fn new(backend: Backend, jobs: &Jobs, page: u64) -> Chronicler {
        Chronicler {
            registry: Arc::new(Registry::new(backend.clone())),
            backend,
            dir: jobs.artifact_dir.clone(),
            jobs: jobs.clone(),
            page: page.max(1),
        }
    }

    /// One job run to its end, or garbage collection when there is none (or the disk is low).
    pub async fn tick(&self) -> Result<Tick, backend::Error> {
        if !self.disk_ok() {
            self.gc().await?;
            return Ok(Tick::Idle);
        }
        let Some(job) = self.claim().await? else {
            self.gc().await?;
            return Ok(Tick::Idle);
        };
        let mut conn = self.backend.conn(false).await?;
        match self.process(&mut conn, &job).await? {
            Outcome::Completed => {}
            Outcome::Failed(failure) => self.fail(&mut conn, &job, &failure).await?,
            Outcome::LeaseLost => tracing::warn!(
                event = "lease_lost",
                job_id = job.id,
                tenant = job.tenant,
                "another worker took the export job over"
            ),
        }
        Ok(Tick::Worked)
    }

    /// The low-disk gate: below `low_disk_percent` free, no export starts. A failed probe lets work go on.
    fn disk_ok(&self) -> bool {
        let probe = if self.dir.exists() {
            self.dir.clone()
        } else {
            std::env::temp_dir()
        };
        let (Ok(free), Ok(total)) = (fs4::available_space(&probe), fs4::total_space(&probe)) else {
            return true;
        };
        let threshold = u128::from(self.jobs.low_disk_percent);
        if total == 0 || u128::from(free) * 100 >= u128::from(total) * threshold {
            return true;
        }
        tracing::warn!(
            event = "low_disk",
            partition = %probe.display(),
            free_pct = free as f64 * 100.0 / total as f64,
            threshold_pct = self.jobs.low_disk_percent,
            "too little free disk to start an export"
        );
        false
    }

    async fn claim(&self) -> Result<Option<Job>, backend::Error> {
        let mut conn = self.backend.conn(false).await?;
        let candidates: Vec<i64> = conn.exec(CANDIDATES, (self.jobs.lease_secs,)).await?;
        for candidate in candidates {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            let row: Option<Row> = tx
                .exec_first(CLAIM, (candidate, self.jobs.lease_secs))
                .await?;
            let Some(row) = row else {
                continue;
            };
            let identity = crate::jobs::identity();
            let id: i64 = row.get(0).unwrap_or_default();
            let tenant: u64 = row.get(1).unwrap_or_default();
            let filter: String = row.get(2).unwrap_or_default();
            let format: String = row.get(3).unwrap_or_default();
            let abandoned = row.get::<String, _>(4).unwrap_or_default() == "processing";
            tx.exec_drop(
                // `claimed_at` before `status`: MySQL assigns left to right, and reads the new value after.
                "UPDATE stardust_export_jobs SET claimed_at = IF(status = 'pending', UTC_TIMESTAMP(), claimed_at), \
                 status = 'processing', worker_identity = ?, heartbeat_at = UTC_TIMESTAMP() \
                 WHERE id = ? AND tenant_id = ?",
                (&identity, id, tenant),
            )
            .await?;
            tx.commit().await?;
            let partial: Option<String> = row.get(6).flatten();
            let (bytes, rows): (u64, u64) = (row.get(7).unwrap_or(0), row.get(8).unwrap_or(0));
            let resume = partial.filter(|_| abandoned).map(|p| (p, bytes, rows));
            tracing::info!(
                event = "job_claimed",
                job_id = id,
                tenant,
                worker_identity = identity.as_str(),
                claim_kind = if abandoned { "abandoned" } else { "pending" },
                "export job claimed"
            );
            let query = serde_json::from_str::<serde_json::Value>(&filter)
                .ok()
                .and_then(|f| f["query"].as_str().map(str::to_string))
                .unwrap_or_default();
            return Ok(Some(Job {
                id,
                tenant,
                query,
                format: Format::parse(&format).unwrap_or(Format::Csv),
                identity,
                cursor: if resume.is_some() {
                    row.get(5).unwrap_or(0)
                } else {
                    0
                },
                resume,
                skips: if abandoned {
                    row.get(9).unwrap_or(0)
                } else {
                    0
                },
            }));
        }
        Ok(None)
    }

    /// Opens this claim's partial file, continuing the previous claim's if that one is intact.
    async fn open(&self, job: &Job) -> (Result<Writer, artifact::Error>, u64, u64) {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let partial = format!(".export_{}_{}.partial", job.id, &tag[..12]);
        let name = format!("export_{}_{}.{}", job.id, &tag[..12], job.format.as_str());
        let cap = Some(self.jobs.artifact_max_bytes);
        let dir = self.dir.clone();
        let resume = job.resume.clone();
        let cursor = job.cursor;
        let skips = job.skips;
        blocking(move || {
            if let Some((old, bytes, rows)) = resume.filter(|(_, bytes, _)| *bytes > 0) {
                let from = dir.join(&old);
                let resumed =
                    Writer::partial(&dir, &partial, &name, cap, Some((&from, bytes, rows)));
                if let Ok(writer) = resumed {
                    // The previous claim's partial is copied; it is no one's now.
                    let _ = std::fs::remove_file(&from);
                    return (Ok(writer), cursor, skips);
                }
                let _ = std::fs::remove_file(dir.join(&partial));
                tracing::warn!(
                    partial = old.as_str(),
                    "an export's partial file is short or gone; starting it over"
                );
            }
            (Writer::partial(&dir, &partial, &name, cap, None), 0, 0)
        })
        .await
    }

    async fn process(&self, conn: &mut Conn, job: &Job) -> Result<Outcome, backend::Error> {
        let started = std::time::Instant::now();
        let (writer, mut cursor, mut skips) = self.open(job).await;
        let mut writer = match writer {
            Ok(writer) => writer,
            Err(e) => return Ok(Outcome::Failed(e.into())),
        };
        let home = self.backend.database().to_string();
        let mut checkpointed = std::time::Instant::now();
        // Planned once, and again only when the tenant's catalog moves (a model or column changed meanwhile).
        let mut planned: Option<(u64, export::Plan)> = None;
        loop {
            let chunk_started = std::time::Instant::now();
            let catalog = self.registry.snapshot_on(conn, job.tenant).await?;
            if planned.as_ref().map(|(version, _)| *version) != Some(catalog.version) {
                match export::parse(&job.query, &catalog)
                    .and_then(|e| e.plan(&catalog, &home, self.page))
                {
                    Ok(plan) => planned = Some((catalog.version, plan)),
                    Err(e) => return Ok(abort(writer, Failure::Query(e.to_string()))),
                }
            }
            let Some((_, plan)) = planned.as_ref() else {
                continue;
            };
            let sql = match plan.sql(&catalog, cursor) {
                Ok(sql) => sql,
                Err(e) => return Ok(abort(writer, Failure::Query(e.to_string()))),
            };
            let first = writer.rows() == 0;
            let chunk = match read_chunk(conn, &sql, job.format, writer.bytes() == 0, first).await {
                Ok(chunk) => chunk,
                Err(backend::Error::Server(e)) => {
                    return Ok(abort(writer, Failure::Query(e.to_string())))
                }
                Err(e) => return Err(e),
            };
            let Chunk {
                mut bytes,
                rows: rows_written,
                cursor: next,
                read,
                skipped,
            } = match chunk {
                Ok(chunk) => chunk,
                Err(e) => return Ok(abort(writer, Failure::Io(e))),
            };
            cursor = next.unwrap_or(cursor);
            for (entry, reason) in skipped {
                skips += 1;
                tracing::warn!(
                    event = "row_skipped",
                    job_id = job.id,
                    entry_id = entry,
                    reason = reason.as_str(),
                    "export row skipped"
                );
                if skips > SKIP_CAP {
                    return Ok(abort(writer, Failure::Skips));
                }
            }
            let last = read < self.page;
            if last {
                bytes.extend_from_slice(render::close(job.format));
            }
            let before = writer.bytes();
            let (back, written) = blocking(move || {
                let written = writer.write_rows(&bytes, rows_written);
                (writer, written)
            })
            .await;
            writer = back;
            if let Err(e) = written {
                return Ok(abort(writer, e.into()));
            }
            if last {
                return self
                    .complete(conn, job, writer, cursor, skips, started)
                    .await;
            }
            if checkpointed.elapsed() < checkpoint_every(self.jobs.lease_secs) {
                let (back, flushed) = blocking(move || {
                    let flushed = writer.flush();
                    (writer, flushed)
                })
                .await;
                writer = back;
                if let Err(e) = flushed {
                    return Ok(abort(writer, e.into()));
                }
                continue;
            }
            checkpointed = std::time::Instant::now();
            let (back, synced) = blocking(move || {
                let synced = writer.sync();
                (writer, synced)
            })
            .await;
            writer = back;
            let synced = match synced {
                Ok(synced) => synced,
                Err(e) => return Ok(abort(writer, e.into())),
            };
            if !self
                .checkpoint(conn, job, &writer, cursor, synced, skips)
                .await?
            {
                return Ok(Outcome::LeaseLost);
            }
            tracing::debug!(
                event = "chunk_written",
                job_id = job.id,
                last_cursor = cursor,
                rows_streamed = rows_written,
                bytes_written = synced - before,
                chunk_elapsed_ms = chunk_started.elapsed().as_millis() as u64,
                "export chunk written"
            );
        }
    }

    /// Records the durable part of the partial file and the cursor, if this worker still holds the job.
    async fn checkpoint(
        &self,
        conn: &mut Conn,
        job: &Job,
        writer: &Writer,
        cursor: u64,
        bytes: u64,
        skips: u64,
    ) -> Result<bool, backend::Error> {
        conn.exec_drop(
            "UPDATE stardust_export_jobs SET last_cursor = ?, partial_path = ?, artifact_bytes = ?, row_count = ?, \
             skip_count = ?, heartbeat_at = UTC_TIMESTAMP() \
             WHERE id = ? AND tenant_id = ? AND worker_identity = ? AND status = 'processing'",
            (cursor, writer.temp_name(), bytes, writer.rows(), skips, job.id, job.tenant, &job.identity),
        )
        .await?;
        Ok(conn.affected_rows() > 0)
    }

    async fn complete(
        &self,
        conn: &mut Conn,
        job: &Job,
        writer: Writer,
        cursor: u64,
        skips: u64,
        started: std::time::Instant,
    ) -> Result<Outcome, backend::Error> {
        let durable = match blocking(move || writer.finish()).await {
            Ok(durable) => durable,
            Err(e) => return Ok(Outcome::Failed(e.into())),
        };
        conn.exec_drop(
            "UPDATE stardust_export_jobs SET status = 'completed', artifact_path = ?, artifact_bytes = ?, \
             artifact_sha256 = ?, row_count = ?, last_cursor = ?, skip_count = ?, partial_path = NULL, \
             completed_at = UTC_TIMESTAMP(), heartbeat_at = UTC_TIMESTAMP() \
             WHERE id = ? AND tenant_id = ? AND worker_identity = ? AND status = 'processing'",
            (
                &durable.name,
                durable.bytes,
                &durable.sha256,
                durable.rows,
                cursor,
                skips,
                job.id,
                job.tenant,
                &job.identity,
            ),
        )
        .await?;
        if conn.affected_rows() == 0 {
            // Published under a name of this claim only: no one else refers to it.
            let (dir, name) = (self.dir.clone(), durable.name.clone());
            let _ = blocking(move || artifact::remove(&dir, &name)).await;
            return Ok(Outcome::LeaseLost);
        }
        tracing::info!(
            event = "job_complete",
            job_id = job.id,
            tenant = job.tenant,
            artifact_path = durable.name.as_str(),
            rows_streamed_total = durable.rows,
            bytes_written_total = durable.bytes,
            skip_count = skips,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "export job complete"
        );
        Ok(Outcome::Completed)
    }

    async fn fail(
        &self,
        conn: &mut Conn,
        job: &Job,
        failure: &Failure,
    ) -> Result<(), backend::Error> {
        conn.exec_drop(
            "UPDATE stardust_export_jobs SET status = 'failed', failed_reason = ?, partial_path = NULL, \
             completed_at = UTC_TIMESTAMP(), heartbeat_at = UTC_TIMESTAMP() \
             WHERE id = ? AND tenant_id = ? AND worker_identity = ?",
            (failure.reason(), job.id, job.tenant, &job.identity),
        )
        .await?;
        match failure {
            Failure::TooLarge => tracing::warn!(
                event = "artifact_oversized",
                job_id = job.id,
                tenant = job.tenant,
                cap_bytes = self.jobs.artifact_max_bytes,
                "export larger than the artifact size cap"
            ),
            Failure::Query(detail) | Failure::Io(detail) => tracing::warn!(
                event = "job_failed",
                job_id = job.id,
                tenant = job.tenant,
                reason = failure.reason(),
                error = detail.as_str(),
                "export job failed"
            ),
            Failure::DiskFull | Failure::Skips => tracing::warn!(
                event = "job_failed",
                job_id = job.id,
                tenant = job.tenant,
                reason = failure.reason(),
                "export job failed"
            ),
        }
        Ok(())
    }

    /// Removes finished exports' files past their TTL; the job rows stay for audit, without a path.
    async fn gc(&self) -> Result<(), backend::Error> {
        let mut conn = self.backend.conn(false).await?;
        let expired: Vec<(i64, u64, String)> = conn
            .exec(
                "SELECT id, tenant_id, artifact_path FROM stardust_export_jobs WHERE status = 'completed' \
                 AND artifact_path IS NOT NULL AND completed_at < UTC_TIMESTAMP() - INTERVAL ? SECOND \
                 ORDER BY completed_at LIMIT 100",
                (self.jobs.artifact_ttl_secs,),
            )
            .await?;
        let (mut deleted, mut reclaimed) = (0u64, 0u64);
        for (id, tenant, name) in expired {
            let dir = self.dir.clone();
            let file = name.clone();
            match blocking(move || artifact::remove(&dir, &file)).await {
                Ok(bytes) => reclaimed += bytes,
                Err(e) => {
                    tracing::warn!(job_id = id, error = %e, "cannot remove an expired export");
                    continue;
                }
            }
            conn.exec_drop(
                "UPDATE stardust_export_jobs SET artifact_path = NULL WHERE id = ? AND tenant_id = ? AND artifact_path = ?",
                (id, tenant, &name),
            )
            .await?;
            deleted += 1;
        }
        if deleted > 0 {
            tracing::info!(
                event = "gc_swept",
                artifacts_deleted = deleted,
                bytes_reclaimed = reclaimed,
                "expired exports removed"
            );
        }
        Ok(())
    }
}

/// Gives up on the partial file (it is removed) and reports the failure.
fn abort(writer: Writer, failure: Failure) -> Outcome {
    writer.abort();
    Outcome::Failed(failure)
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
