//! The proxy's metrics, defined in one place: statements by class and outcome, their latency, connections, the
//! backend pool, the plan cache, the daemons' queues and the jobs' states — kept in a `metrics` Prometheus
//! recorder owned by the `State` (never a global one, so proxies in one process keep their own counts), and
//! served as the Prometheus text format on `GET /metrics` at `metrics_listen`.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use mysql_async::prelude::Queryable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::error::Kind;
use crate::state::State;

/// What kind of statement a client sent, as the proxy routed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Sent to the backend as it is (administrators' statements, tenants' table-less ones).
    Passthrough,
    /// Driver chatter answered or forwarded from the chatter table (`SELECT @@version_comment`, …).
    Chatter,
    /// A read of model tables.
    ModelRead,
    /// An INSERT, UPDATE or DELETE on model tables.
    ModelWrite,
    /// Model DDL (`CREATE/ALTER/DROP TABLE model_…`).
    ModelDdl,
    /// SHOW, DESCRIBE and information_schema answered for model tables.
    Introspection,
    /// The `stardust` schema, SHOW PROCESSLIST, KILL and `CALL stardust.…`.
    System,
    /// USE and the SET statements the proxy keeps itself.
    Session,
    /// COM_STMT_EXECUTE of a prepared statement.
    Prepared,
    /// Any other command that answers (COM_PING, COM_STMT_PREPARE, COM_INIT_DB, …).
    Command,
}

const CLASSES: [Class; 10] = [
    Class::Passthrough,
    Class::Chatter,
    Class::ModelRead,
    Class::ModelWrite,
    Class::ModelDdl,
    Class::Introspection,
    Class::System,
    Class::Session,
    Class::Prepared,
    Class::Command,
];

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::Passthrough => "passthrough",
            Class::Chatter => "chatter",
            Class::ModelRead => "model_read",
            Class::ModelWrite => "model_write",
            Class::ModelDdl => "model_ddl",
            Class::Introspection => "introspection",
            Class::System => "system",
            Class::Session => "session",
            Class::Prepared => "prepared",
            Class::Command => "command",
        }
    }
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused by the proxy: a client mistake or a policy (syntax, access, unknown model, …).
    Refused,
    /// The backend answered with an error.
    BackendError,
    /// Interrupted by `KILL QUERY`.
    Killed,
    /// Interrupted by the statement timeout.
    Timeout,
    /// The backend was unreachable or the proxy failed.
    Failed,
}

const OUTCOMES: [Outcome; 6] = [
    Outcome::Ok,
    Outcome::Refused,
    Outcome::BackendError,
    Outcome::Killed,
    Outcome::Timeout,
    Outcome::Failed,
];

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::BackendError => "backend_error",
            Outcome::Killed => "killed",
            Outcome::Timeout => "timeout",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of a statement that failed with an error of `kind`.
    pub fn of(kind: Kind) -> Outcome {
        match kind {
            Kind::StatementTimeout => Outcome::Timeout,
            // ER_QUERY_INTERRUPTED: KILL QUERY from this proxy or on the backend.
            Kind::Backend { code: 1317, .. } => Outcome::Killed,
            Kind::Backend { .. } => Outcome::BackendError,
            Kind::BackendUnavailable | Kind::BackendLost | Kind::Internal => Outcome::Failed,
            _ => Outcome::Refused,
        }
    }
}

/// Upper bounds of the latency histogram's buckets, in seconds: 100 µs to 30 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

/// The job kinds and the states each table's ENUM allows, so a state that empties reads 0 rather than vanishing.
const JOB_STATES: [(&str, &[&str]); 3] = [
    ("backfill", &["running", "paused", "completed", "failed"]),
    ("import", &["pending", "processing", "completed", "failed"]),
    ("export", &["pending", "processing", "completed", "failed"]),
];

const SLOT_STATES: [&str; 5] = ["free", "assigned", "backfilling", "ready", "tombstoned"];

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Every metric of one proxy. Statement metrics are recorded only when `metrics_listen` is set: the exporter keeps
/// histogram samples until a scrape (or the endpoint's upkeep) folds them in.
pub struct Metrics {
    enabled: bool,
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// `stardust_statements_total` by class, then outcome.
    statements: Vec<Vec<Counter>>,
    /// `stardust_statement_duration_seconds` by class.
    latency: Vec<Histogram>,
    timeouts: Counter,
    kills: Counter,
}

impl Metrics {
    pub fn new(enabled: bool) -> Metrics {
        // Static, non-empty buckets: the builder cannot refuse them.
        let builder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        describe(&recorder);
        let statements = CLASSES
            .iter()
            .map(|class| {
                OUTCOMES
                    .iter()
                    .map(|outcome| {
                        counter(
                            &recorder,
                            "stardust_statements_total",
                            &[("class", class.label()), ("outcome", outcome.label())],
                        )
                    })
                    .collect()
            })
            .collect();
        let latency = CLASSES
            .iter()
            .map(|class| {
                let key = key(
                    "stardust_statement_duration_seconds",
                    &[("class", class.label())],
                );
                recorder.register_histogram(&key, &METADATA)
            })
            .collect();
        let timeouts = counter(&recorder, "stardust_statement_timeouts_total", &[]);
        let kills = counter(&recorder, "stardust_kills_total", &[]);
        Metrics {
            enabled,
            recorder,
            handle,
            statements,
            latency,
            timeouts,
            kills,
        }
    }

    /// Counts one statement and its latency.
    pub fn statement(&self, class: Class, outcome: Outcome, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        let class = class as usize;
        self.statements[class][outcome as usize].increment(1);
        self.latency[class].record(elapsed.as_secs_f64());
        if outcome == Outcome::Timeout {
            self.timeouts.increment(1);
        }
    }

    /// Counts one `KILL` carried out.
    pub fn kill(&self) {
        self.kills.increment(1);
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &METADATA)
    }

    /// The text exposition: counters as they stand, gauges read now from the state and the backend.
    pub async fn render(&self, state: &State) -> String {
        self.gauge("stardust_uptime_seconds", &[])
            .set(state.started.elapsed().as_secs_f64());
        self.gauge("stardust_connections", &[])
            .set(state.sessions.len() as f64);
        self.gauge("stardust_connections_max", &[])
            .set(state.config.max_connections as f64);
        let (hits, misses) = state.plans.counts();
        self.recorder
            .register_counter(&key("stardust_plan_cache_hits_total", &[]), &METADATA)
            .absolute(hits);
        self.recorder
            .register_counter(&key("stardust_plan_cache_misses_total", &[]), &METADATA)
            .absolute(misses);
        let pool = state.backend.pool_load();
        self.gauge("stardust_backend_pool_connections", &[("state", "in_use")])
            .set(pool.in_use as f64);
        self.gauge("stardust_backend_pool_connections", &[("state", "idle")])
            .set(pool.idle as f64);
        self.gauge("stardust_backend_pool_waiting", &[])
            .set(pool.waiting as f64);
        self.gauge("stardust_backend_pool_max", &[])
            .set(pool.max as f64);
        let read = tokio::time::timeout(Duration::from_secs(5), self.backend_gauges(state)).await;
        let up = match read {
            Ok(Ok(())) => 1.0,
            Ok(Err(e)) => {
                warn!(error = %e, "metrics: reading the daemons' queues failed");
                0.0
            }
            Err(_) => {
                warn!("metrics: reading the daemons' queues timed out");
                0.0
            }
        };
        self.gauge("stardust_backend_up", &[]).set(up);
        self.handle.render()
    }

    /// Queue depths, daemon lag, slots and jobs by state: one round trip on a pooled connection.
    async fn backend_gauges(&self, state: &State) -> Result<(), crate::Error> {
        let mut conn = state.backend.conn(false).await?;
        let rows: Vec<(String, String, f64)> = conn
            .query(
                "SELECT 'queue', 'sync', COUNT(*) FROM stardust_sync_queue \
                 UNION ALL SELECT 'lag', 'sync', COALESCE(TIMESTAMPDIFF(SECOND, MIN(created_at), UTC_TIMESTAMP()), 0) \
                 FROM stardust_sync_queue \
                 UNION ALL SELECT 'queue', 'dlq', COUNT(*) FROM stardust_reconciler_dlq \
                 UNION ALL SELECT 'slot', CAST(status AS CHAR), COUNT(*) FROM stardust_slot_assignments GROUP BY status \
                 UNION ALL SELECT 'backfill', CAST(status AS CHAR), COUNT(*) FROM backfill_checkpoints GROUP BY status \
                 UNION ALL SELECT 'import', CAST(status AS CHAR), COUNT(*) FROM stardust_import_jobs GROUP BY status \
                 UNION ALL SELECT 'export', CAST(status AS CHAR), COUNT(*) FROM stardust_export_jobs GROUP BY status",
            )
            .await?;
        for status in SLOT_STATES {
            self.gauge("stardust_slots", &[("status", status)]).set(0.0);
        }
        for (kind, states) in JOB_STATES {
            for status in states {
                self.gauge("stardust_jobs", &[("kind", kind), ("status", status)])
                    .set(0.0);
            }
        }
        for (what, name, value) in rows {
            match what.as_str() {
                "queue" => self.gauge("stardust_queue_depth", &[("queue", name.as_str())]),
                "lag" => self.gauge("stardust_sync_queue_oldest_seconds", &[]),
                "slot" => self.gauge("stardust_slots", &[("status", name.as_str())]),
                kind => self.gauge(
                    "stardust_jobs",
                    &[("kind", kind), ("status", name.as_str())],
                ),
            }
            .set(value);
        }
        Ok(())
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}

fn counter(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: &[(&'static str, &str)],
) -> Counter {
    recorder.register_counter(&key(name, labels), &METADATA)
}

/// The HELP lines.
fn describe(recorder: &PrometheusRecorder) {
    use metrics::Unit;
    let help: [(&'static str, Option<Unit>, &'static str); 17] = [
        ("stardust_statements_total", None, "Statements by class and outcome."),
        ("stardust_statement_duration_seconds", Some(Unit::Seconds), "Statement latency in the proxy, from the command's arrival to its last reply packet, by class."),
        ("stardust_statement_timeouts_total", None, "Statements cancelled by the statement timeout (statement_timeout_ms, max_statement_time, max_execution_time)."),
        ("stardust_kills_total", None, "KILL [QUERY|CONNECTION] carried out."),
        ("stardust_uptime_seconds", Some(Unit::Seconds), "Seconds since the proxy started."),
        ("stardust_connections", None, "Client connections logged in now."),
        ("stardust_connections_max", None, "The max_connections limit."),
        ("stardust_plan_cache_hits_total", None, "Reads of model tables served from the plan cache."),
        ("stardust_plan_cache_misses_total", None, "Reads of model tables rewritten afresh."),
        ("stardust_backend_pool_connections", None, "Backend connections of the proxy's pools, by state."),
        ("stardust_backend_pool_waiting", None, "Requests waiting for a backend connection."),
        ("stardust_backend_pool_max", None, "The most backend connections each pool opens."),
        ("stardust_backend_up", None, "1 when the last scrape could read the backend, else 0."),
        ("stardust_queue_depth", None, "Entries waiting on the Reconciler's sync queue, and dead-lettered entries."),
        ("stardust_sync_queue_oldest_seconds", Some(Unit::Seconds), "Age of the oldest sync-queue entry: the Reconciler's lag."),
        ("stardust_slots", None, "Slot columns by state."),
        ("stardust_jobs", None, "Backfill, import and export jobs by state."),
    ];
    // The exporter keeps one description per name, whatever the kind.
    for (name, unit, text) in help {
        recorder.describe_counter(metrics::KeyName::from_const_str(name), unit, text.into());
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown`: one short HTTP/1.1 exchange per connection, then close.
pub async fn serve(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
    let mut upkeep = tokio::time::interval(Duration::from_secs(5));
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = upkeep.tick() => {
                // Folds recorded latencies into the histograms, so memory stays bounded between scrapes.
                state.metrics.handle.run_upkeep();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "metrics: accept failed");
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let answered =
                tokio::time::timeout(Duration::from_secs(10), answer(stream, &state)).await;
            if !matches!(answered, Ok(Ok(()))) {
                debug!("metrics: a scrape connection failed or timed out");
            }
        });
    }
}

/// Reads one request head (at most 8 KiB) and answers it.
async fn answer(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 8192 {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
            )
            .await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => {
            let body = state.metrics.render(state).await;
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                body.as_bytes(),
            )
            .await
        }
        (b"GET", _) => {
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"StarDust serves GET /metrics\n",
            )
            .await
        }
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                b"only GET\n",
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}
