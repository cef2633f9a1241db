//! The test harness: one throwaway backend per test run (or `STARDUST_TEST_BACKEND_URL`), a database per test,
//! and the proxy in-process on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use stardust::backend::Backend;
use stardust::config::{Config, User};
use stardust::embedded::Embedded;
use stardust::server;
use stardust::state::State;

pub const ADMIN: (&str, &str) = ("ops", "ops-pw");
pub const TENANT_1: (&str, &str) = ("acme", "acme-pw");
pub const TENANT_2: (&str, &str) = ("globex", "globex-pw");

/// The backend every test of this run shares.
pub struct TestBackend {
    /// A URL with rights to create databases, without a database.
    pub root_url: String,
    _embedded: Option<Embedded>,
}

static BACKEND: OnceLock<TestBackend> = OnceLock::new();

/// Starts the shared backend on first use. With `STARDUST_TEST_BACKEND_URL` set, that server is used instead.
pub fn backend() -> &'static TestBackend {
    BACKEND.get_or_init(|| match std::env::var("STARDUST_TEST_BACKEND_URL") {
        Ok(url) if !url.is_empty() => TestBackend {
            root_url: url.trim_end_matches('/').to_string(),
            _embedded: None,
        },
        _ => {
            let embedded =
                Embedded::start().unwrap_or_else(|e| panic!("cannot start the test backend: {e}"));
            TestBackend {
                root_url: embedded.root_url(),
                _embedded: Some(embedded),
            }
        }
    })
}

/// A connection to the backend directly, bypassing the proxy, in `database` (or none).
pub async fn direct(database: Option<&str>) -> Conn {
    let opts = Opts::from_url(&backend().root_url).expect("valid backend URL");
    let opts = OptsBuilder::from_opts(opts)
        .db_name(database)
        .prefer_socket(false);
    Conn::new(opts).await.expect("direct backend connection")
}

/// A fresh database on the shared backend.
pub async fn fresh_database() -> String {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = direct(None).await;
    conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        .await
        .expect("create test database");
    name
}

/// A proxy serving a fresh database, in this test's runtime.
pub struct Proxy {
    pub address: SocketAddr,
    /// Where `GET /metrics` is served, when the configuration sets `metrics_listen` (its port 0 picks one).
    pub metrics: Option<SocketAddr>,
    pub database: String,
    pub state: Arc<State>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub fn users() -> Vec<User> {
    let user = |(name, password): (&str, &str), tenant: Option<u64>| User {
        name: name.to_string(),
        password: password.to_string(),
        tenant,
        admin: tenant.is_none(),
        allow_scan: false,
        require_tls: false,
    };
    vec![
        user(ADMIN, None),
        user(TENANT_1, Some(1)),
        user(TENANT_2, Some(2)),
    ]
}

/// A valid configuration for `database` with the three test users.
pub fn config_for(database: &str) -> Config {
    let url = format!("{}/{database}", backend().root_url);
    let mut config = Config::new(&url);
    config.listen = "127.0.0.1:0".to_string();
    config.users = users();
    config
}

impl Proxy {
    pub async fn start() -> Proxy {
        let database = fresh_database().await;
        Proxy::start_with(config_for(&database)).await
    }

    pub async fn start_with(config: Config) -> Proxy {
        let database = config.database();
        let backend = Backend::connect(&config.backend_url, config.max_connections + 8)
            .await
            .expect("backend");
        backend.bootstrap().await.expect("bootstrap");
        stardust::verify::invariant::establish(&backend)
            .await
            .expect("page invariant");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let tls =
            stardust::protocol::tls_acceptor(&config).expect("the TLS certificate and key load");
        let state = Arc::new(State::new(config, backend).with_tls(tls));
        let shutdown = CancellationToken::new();
        let metrics = match &state.config.metrics_listen {
            Some(listen) => {
                let listener = TcpListener::bind(listen.as_str())
                    .await
                    .expect("bind metrics");
                let address = listener.local_addr().expect("metrics address");
                tokio::spawn(stardust::metrics::serve(
                    listener,
                    state.clone(),
                    shutdown.clone(),
                ));
                Some(address)
            }
            None => None,
        };
        let task = tokio::spawn(server::run(listener, state.clone(), shutdown.clone()));
        Proxy {
            address,
            metrics,
            database,
            state,
            shutdown,
            task: Some(task),
        }
    }

    pub fn opts(&self, (user, password): (&str, &str)) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname(self.address.ip().to_string())
            .tcp_port(self.address.port())
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false)
    }

    pub async fn connect(&self, login: (&str, &str)) -> Conn {
        Conn::new(self.opts(login))
            .await
            .expect("connect through the proxy")
    }

    /// The backend URL of this proxy's database, for a second "instance" or the binary.
    pub fn backend_url(&self) -> String {
        format!("{}/{}", backend().root_url, self.database)
    }

    pub async fn admin(&self) -> Conn {
        self.connect(ADMIN).await
    }

    pub async fn tenant(&self, n: u64) -> Conn {
        self.connect(if n == 1 { TENANT_1 } else { TENANT_2 }).await
    }

    /// A direct backend connection to this proxy's database.
    pub async fn direct(&self) -> Conn {
        direct(Some(&self.database)).await
    }

    /// Stops accepting, drains sessions and waits for the server task.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// How many slots are tombstoned, waiting for the Liberator.
pub async fn tombstoned(conn: &mut Conn) -> Option<u64> {
    conn.query_first("SELECT COUNT(*) FROM stardust_slot_assignments WHERE status = 'tombstoned'")
        .await
        .unwrap()
}

/// Takes every assigned slot away behind the proxy's back, as when a page's slots ran out: the fields stay
/// filterable, and writes to them are queued on the sync queue.
pub async fn take_live_slots(direct: &mut Conn) {
    direct
        .query_drop("UPDATE stardust_slot_assignments SET status = 'tombstoned', field_id = NULL WHERE status = 'assigned'")
        .await
        .unwrap();
    direct
        .query_drop("UPDATE stardust_schema_version SET version = version + 1")
        .await
        .unwrap();
}

/// Asserts that `stardust verify` finds every live slot equal to the JSON.
pub async fn no_drift(backend: &stardust::backend::Backend) {
    let report = stardust::verify::verify(backend, &Default::default())
        .await
        .unwrap();
    assert_eq!(report.drift, 0, "{report:?}");
    assert_eq!(report.violations, 0, "page invariant: {report:?}");
}

/// Asserts that each statement answers the same through the proxy and on the native twin.
pub async fn same_answers(ours: &mut Conn, theirs: &mut Conn, statements: &[&str]) {
    for sql in statements {
        assert_eq!(
            texts(ours.query(*sql).await.unwrap()),
            texts(theirs.query(*sql).await.unwrap()),
            "{sql}"
        );
    }
}

/// The server error code of a failed result.
pub fn code<T: std::fmt::Debug>(result: Result<T, mysql_async::Error>) -> u16 {
    match result {
        Err(mysql_async::Error::Server(e)) => e.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// The server error of a failed result.
pub fn server_error<T: std::fmt::Debug>(
    result: Result<T, mysql_async::Error>,
) -> mysql_async::ServerError {
    match result {
        Err(mysql_async::Error::Server(e)) => e,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Rows as text, NULL as `None`: what a client would print, for comparing two answers.
pub fn texts(rows: Vec<mysql_async::Row>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|row| {
            (0..row.len())
                .map(|i| match row.as_ref(i) {
                    None | Some(mysql_async::Value::NULL) => None,
                    Some(mysql_async::Value::Bytes(b)) => {
                        Some(String::from_utf8_lossy(b).into_owned())
                    }
                    Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
                })
                .collect()
        })
        .collect()
}

/// `table` with `columns` as tenant 1's model (with `indexes`) and as a native twin in a database of its own.
pub async fn model_and_twin(
    proxy: &Proxy,
    table: &str,
    columns: &str,
    indexes: &str,
) -> (Conn, Conn) {
    let mut ours = proxy.tenant(1).await;
    ours.query_drop(format!("CREATE TABLE {table} ({columns}{indexes})"))
        .await
        .unwrap();
    let native_db = fresh_database().await;
    let mut theirs = direct(Some(&native_db)).await;
    theirs
        .query_drop(format!(
            "CREATE TABLE {table} (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, {columns}, \
             created_at DATETIME, updated_at DATETIME) DEFAULT CHARSET=utf8mb4"
        ))
        .await
        .unwrap();
    (ours, theirs)
}

/// Each result column's name, type, character set, length, decimals and flags, leaving out what depends on the
/// plan rather than the table (the same SELECT on a native table differs with and without an index, or between
/// prepare and execute): where rows pass through a temporary table, the server drops the key flags (PRI_KEY,
/// UNIQUE_KEY, MULTIPLE_KEY, PART_KEY) and shows its internal GROUP flag (32768) or not, adds BINARY to numbers,
/// sends a string's decimals as 0 or 39 ("not fixed", which no client reads for strings), and gives an aggregate
/// of a DOUBLE a display length of 22 or 23. The key flags are compared for a plain `SELECT *` (`flags` in
/// rows.rs), BINARY on strings, where it means binary data.
pub type Described = (String, u8, u16, u32, u8, u16);

const PLAN_FLAGS: u16 = 2 | 4 | 8 | 16384 | 32768;
const BINARY: u16 = 128;

fn is_string(column: &mysql_async::Column) -> bool {
    use mysql_async::consts::ColumnType::*;
    matches!(
        column.column_type(),
        MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_JSON
    )
}

fn is_double(column: &mysql_async::Column) -> bool {
    use mysql_async::consts::ColumnType::*;
    matches!(column.column_type(), MYSQL_TYPE_DOUBLE | MYSQL_TYPE_FLOAT)
}

fn plan_free_flags(column: &mysql_async::Column) -> u16 {
    let flags = column.flags().bits() & !PLAN_FLAGS;
    if is_string(column) {
        flags
    } else {
        flags & !BINARY
    }
}

pub fn described(columns: &[mysql_async::Column]) -> Vec<Described> {
    columns
        .iter()
        .map(|c| {
            (
                c.name_str().into_owned(),
                c.column_type() as u8,
                c.character_set(),
                if is_double(c) { 0 } else { c.column_length() },
                if is_string(c) { 0 } else { c.decimals() },
                plan_free_flags(c),
            )
        })
        .collect()
}

pub async fn types(conn: &mut Conn, sql: &str) -> Vec<Described> {
    let result = conn.query_iter(sql).await.unwrap();
    let described = described(result.columns_ref());
    result.drop_result().await.unwrap();
    described
}

/// A small deterministic generator (xorshift) for the differential tests: a failure replays from its seed.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Two proxy instances on one database (as behind a load balancer), a tenant-1 session on each, and the model
/// `model_p (name VARCHAR(20), INDEX (name))` made through the first.
pub async fn two_instances() -> (Proxy, Proxy, Conn, Conn) {
    let first = Proxy::start().await;
    let second = Proxy::start_with(config_for(&first.database)).await;
    let mut here = first.tenant(1).await;
    let there = second.tenant(1).await;
    here.query_drop("CREATE TABLE model_p (name VARCHAR(20), INDEX (name))")
        .await
        .unwrap();
    (first, second, here, there)
}

/// The shared backend's general log, which tests read to see what the proxy sent: a test turns it on, reads it,
/// and (the adversarial one) turns it off and empties it, so each holds this lock while it does.
pub static GENERAL_LOG: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A backend of one test's own, which the test can crash and start again on the same data directory and port:
/// for the crash matrix's backend restarts. It is started like the shared one (`Embedded`); a restart runs the
/// same server binary with the same options, so clients reconnect to the same address.
pub struct PrivateBackend {
    /// The server started after a restart; the first one belongs to `embedded`. Declared first: dropped (and
    /// killed) before `embedded` removes the directory.
    restarted: Option<std::process::Child>,
    embedded: Embedded,
}

impl PrivateBackend {
    pub async fn start() -> PrivateBackend {
        let embedded = tokio::task::spawn_blocking(Embedded::start)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("cannot start a private backend: {e}"));
        PrivateBackend {
            restarted: None,
            embedded,
        }
    }

    pub fn root_url(&self) -> String {
        self.embedded.root_url()
    }

    /// A connection to this backend directly, in `database` (or none).
    pub async fn direct(&self, database: Option<&str>) -> Conn {
        let opts = Opts::from_url(&self.root_url()).expect("valid backend URL");
        let opts = OptsBuilder::from_opts(opts)
            .db_name(database)
            .prefer_socket(false);
        Conn::new(opts)
            .await
            .expect("direct private backend connection")
    }

    /// A proxy with the three test users on a fresh database of this backend.
    pub async fn proxy(&self) -> Proxy {
        let database = format!("t_{}", uuid::Uuid::new_v4().simple());
        self.direct(None)
            .await
            .query_drop(format!(
                "CREATE DATABASE `{database}` CHARACTER SET utf8mb4"
            ))
            .await
            .expect("create test database");
        let mut config = Config::new(&format!("{}/{database}", self.root_url()));
        config.listen = "127.0.0.1:0".to_string();
        config.users = users();
        Proxy::start_with(config).await
    }

    /// Kills the server with SIGKILL, as a crash or an `kill -9` by an operator would, and waits until its port
    /// no longer answers.
    pub async fn crash(&mut self) {
        match self.restarted.take() {
            Some(mut server) => {
                server.kill().unwrap();
                server.wait().unwrap();
            }
            None => {
                let pid = std::fs::read_to_string(self.embedded.directory().join("pid"))
                    .expect("the server's pid file");
                let status = std::process::Command::new("kill")
                    .args(["-9", pid.trim()])
                    .status()
                    .unwrap();
                assert!(status.success(), "kill -9 {pid}");
            }
        }
        let port = self.embedded.port();
        let patience = Patience::new(Duration::from_secs(30), "the killed server's port to close");
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            patience.wait().await;
        }
    }

    /// Starts the server again on the same data directory and port (InnoDB recovers what the crash left) and
    /// waits until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.restarted.is_none(), "crash the running server first");
        let dir = self.embedded.directory().to_path_buf();
        let mut dirs = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .collect::<Vec<_>>();
        dirs.push("/usr/sbin".into());
        let binary = ["mariadbd", "mysqld"]
            .iter()
            .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
            .find(|candidate| candidate.is_file())
            .expect("the server binary that started the backend");
        let log = dir.join("restarted.log");
        let port = self.embedded.port();
        // The options `Embedded::start` runs the server with.
        let server = std::process::Command::new(binary)
            .args(stardust::embedded::server_options(&dir, port))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("restarted.err")).unwrap())
            .spawn()
            .expect("restart the server");
        self.restarted = Some(server);
        let opts =
            OptsBuilder::from_opts(Opts::from_url(&self.root_url()).unwrap()).prefer_socket(false);
        let patience = Patience::new(
            Duration::from_secs(120),
            "the restarted server to accept connections",
        );
        loop {
            if let Ok(conn) = Conn::new(opts.clone()).await {
                if conn.disconnect().await.is_ok() {
                    break;
                }
            }
            patience.wait().await;
        }
    }
}

impl Drop for PrivateBackend {
    fn drop(&mut self) {
        if let Some(mut server) = self.restarted.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// A bound on polling for a condition: `wait` pauses briefly between two checks and panics, naming what was
/// awaited, once the bound has passed.
pub struct Patience {
    deadline: tokio::time::Instant,
    limit: Duration,
    what: String,
}

impl Patience {
    pub fn new(limit: Duration, what: &str) -> Patience {
        Patience {
            deadline: tokio::time::Instant::now() + limit,
            limit,
            what: what.to_string(),
        }
    }

    pub async fn wait(&self) {
        assert!(
            tokio::time::Instant::now() < self.deadline,
            "waited {:?} for {}",
            self.limit,
            self.what
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
