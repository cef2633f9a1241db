//! The configuration file: one strict serde tree, defaults in code, `validate()` reporting every problem at once.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Everything `stardust serve` needs. Unknown keys are an error (`deny_unknown_fields`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the proxy listens on for MySQL clients.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `mysql://user:password@host:port/database` of the backend; the database holds everything.
    #[serde(default)]
    pub backend_url: String,
    /// The logins the proxy accepts.
    #[serde(default)]
    pub users: Vec<User>,
    /// Most client connections served at once; one more is refused with error 1040.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds open sessions get to finish when the proxy shuts down.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Largest packet accepted from a client, in bytes.
    #[serde(default = "default_max_allowed_packet")]
    pub max_allowed_packet: usize,
    /// Most bytes of unread rows a server-side cursor keeps when another command needs the backend connection
    /// while it is open; past it the cursor is closed and its next COM_STMT_FETCH gets error 1114.
    #[serde(default = "default_cursor_buffer_bytes")]
    pub cursor_buffer_bytes: usize,
    /// Most statement texts whose rewritten model-table reads are cached (0: none).
    #[serde(default = "default_plan_cache_entries")]
    pub plan_cache_entries: usize,
    /// Address of the Prometheus endpoint (`GET /metrics`); none when unset.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Milliseconds a statement may run before the proxy cancels it on the backend (error 3024); 0: no limit.
    /// A session changes its own with `SET max_statement_time` (seconds) or `SET max_execution_time` (ms).
    #[serde(default)]
    pub statement_timeout_ms: u64,
    /// Seconds a write to a client may stay blocked (the client stopped reading, its window full) before the
    /// proxy closes the connection and kills its backend query: MySQL's `net_write_timeout`, same default.
    /// 0: no limit.
    #[serde(default = "default_net_write_timeout_secs")]
    pub net_write_timeout_secs: u64,
    /// Whether `serve` runs the daemons (Watcher, Reconciler, Liberator) in-process at all.
    #[serde(default = "default_daemons")]
    pub daemons: bool,
    /// `[watcher]`: keeps indexed slot capacity ahead of demand (one instance at a time).
    #[serde(default)]
    pub watcher: Daemon,
    /// `[reconciler]`: drains the sync queue and runs backfills (every instance).
    #[serde(default)]
    pub reconciler: Daemon,
    /// `[liberator]`: sweeps and frees the slots of dropped fields (one instance at a time).
    #[serde(default)]
    pub liberator: Daemon,
    /// PEM file of the certificate chain clients are offered TLS with; TLS is offered only with `tls_key`.
    #[serde(default)]
    pub tls_cert: Option<String>,
    /// PEM file of the certificate's private key.
    #[serde(default)]
    pub tls_key: Option<String>,
    /// `[chronicler]`: runs export jobs (every instance); `chunk_size` is the rows per chunk (default 5000).
    #[serde(
        default = "default_chronicler",
        deserialize_with = "chronicler_settings"
    )]
    pub chronicler: Daemon,
    /// `[jobs]`: import and export jobs and their artifact files.
    #[serde(default)]
    pub jobs: Jobs,
}

/// Import and export jobs: where their artifacts live, leases, caps and retention.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jobs {
    /// Where import payloads and export files are written; every proxy and CLI sharing a backend must see the
    /// same directory (a shared volume when they run on several hosts).
    pub artifact_dir: std::path::PathBuf,
    /// A claimed job whose heartbeat is older than this is taken over by another worker.
    pub lease_secs: u64,
    /// Most pending and running export jobs per tenant.
    pub active_per_tenant: u64,
    /// Largest export file, in bytes.
    pub artifact_max_bytes: u64,
    /// Seconds a finished export's file is kept.
    pub artifact_ttl_secs: u64,
    /// Exports are not started while the artifact directory's file system has less than this percentage free.
    pub low_disk_percent: u8,
}

impl Default for Jobs {
    fn default() -> Jobs {
        Jobs {
            artifact_dir: std::env::temp_dir().join("stardust"),
            lease_secs: 30,
            active_per_tenant: 3,
            artifact_max_bytes: 5 * 1024 * 1024 * 1024,
            artifact_ttl_secs: 86_400,
            low_disk_percent: 10,
        }
    }
}

/// One daemon's switch and pace.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Daemon {
    /// Whether this instance runs it (when `daemons` is on).
    pub enabled: bool,
    /// The longest pause between ticks while it has nothing to do; after work it ticks again at once, and
    /// while idle its pause doubles from 0.2 s up to this.
    pub idle_max_secs: u64,
    /// Entries (Reconciler) or slot values (Liberator) per transaction; the Watcher has no chunks.
    pub chunk_size: u64,
}

/// StarDust's chunk sizes (500 entries or values per transaction). Idle pauses grow to 5 s for all three,
/// where StarDust's Watcher polled every 60 s and its Liberator every 10 s: an idle tick is one cheap query,
/// and work starts sooner.
impl Default for Daemon {
    fn default() -> Daemon {
        Daemon {
            enabled: true,
            idle_max_secs: 5,
            chunk_size: 500,
        }
    }
}

/// The Chronicler's chunks are larger than the other daemons': each ends with an fsync of the file and a
/// checkpoint commit, which cost more than the rows of a 500-row chunk (docs/benchmarks.md). Its idle pause
/// is at most 1 s: an export submitted through another instance or the CLI (this process's submissions wake it
/// at once) starts within a second, for one cheap query a second.
fn default_chronicler() -> Daemon {
    Daemon {
        chunk_size: 5000,
        idle_max_secs: 1,
        ..Daemon::default()
    }
}

/// `[chronicler]` with the keys it leaves out taken from [`default_chronicler`], not from [`Daemon::default`].
fn chronicler_settings<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Daemon, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Given {
        enabled: Option<bool>,
        idle_max_secs: Option<u64>,
        chunk_size: Option<u64>,
    }
    let given = Given::deserialize(deserializer)?;
    let base = default_chronicler();
    Ok(Daemon {
        enabled: given.enabled.unwrap_or(base.enabled),
        idle_max_secs: given.idle_max_secs.unwrap_or(base.idle_max_secs),
        chunk_size: given.chunk_size.unwrap_or(base.chunk_size),
    })
}

/// One login. Exactly one of `tenant` and `admin = true` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub tenant: Option<u64>,
    #[serde(default)]
    pub admin: bool,
    /// Whether this login's sessions start with `stardust_allow_scan` on: filters on unindexed model fields
    /// read the JSON payload instead of being refused.
    #[serde(default)]
    pub allow_scan: bool,
    /// Whether this login is refused (1045) on a connection without TLS.
    #[serde(default)]
    pub require_tls: bool,
}

/// What a user may do, derived from the `[[users]]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees and changes only this tenant's virtual tables.
    Tenant(u64),
    /// May pass anything through and chooses a tenant with `SET stardust_tenant`.
    Admin,
}

impl User {
    /// Fails closed: only `admin = true` without a tenant makes an administrator; anything else is a tenant
    /// login (tenant 0, which owns nothing, if no tenant is set — `validate` refuses that configuration anyway).
    pub fn role(&self) -> Role {
        match (self.tenant, self.admin) {
            (None, true) => Role::Admin,
            (tenant, _) => Role::Tenant(tenant.unwrap_or(0)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The longest statement timeout (a year, in milliseconds): past it a timer is no timeout at all.
pub const MAX_TIMEOUT_MS: u64 = 365 * 24 * 3600 * 1000;

fn default_listen() -> String {
    "127.0.0.1:3307".to_string()
}
fn default_max_connections() -> usize {
    1024
}
fn default_shutdown_grace_secs() -> u64 {
    10
}
fn default_daemons() -> bool {
    true
}
fn default_max_allowed_packet() -> usize {
    64 * 1024 * 1024
}
fn default_cursor_buffer_bytes() -> usize {
    64 * 1024 * 1024
}

fn default_net_write_timeout_secs() -> u64 {
    60
}

fn default_plan_cache_entries() -> usize {
    1024
}

impl Config {
    /// A configuration with every default, the given backend, and no users.
    pub fn new(backend_url: &str) -> Config {
        Config {
            listen: default_listen(),
            backend_url: backend_url.to_string(),
            users: Vec::new(),
            max_connections: default_max_connections(),
            shutdown_grace_secs: default_shutdown_grace_secs(),
            max_allowed_packet: default_max_allowed_packet(),
            cursor_buffer_bytes: default_cursor_buffer_bytes(),
            plan_cache_entries: default_plan_cache_entries(),
            metrics_listen: None,
            statement_timeout_ms: 0,
            net_write_timeout_secs: default_net_write_timeout_secs(),
            daemons: default_daemons(),
            watcher: Daemon::default(),
            reconciler: Daemon::default(),
            liberator: Daemon::default(),
            tls_cert: None,
            tls_key: None,
            chronicler: default_chronicler(),
            jobs: Jobs::default(),
        }
    }

    /// Reads and parses a TOML file, applies `STARDUST_*` environment overrides, then validates.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let config = Config::read(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file and applies `STARDUST_*` environment overrides, without validating, so that
    /// command-line flags can still override before [`Config::validate`].
    pub fn read(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| Error::Parse {
            path: path.display().to_string(),
            message,
        })?;
        config.apply_env(|key| std::env::var(key).ok());
        Ok(config)
    }

    /// Parses TOML text; the message names the offending key and line.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// `STARDUST_LISTEN`, `STARDUST_BACKEND_URL` and `STARDUST_METRICS_LISTEN` override the file.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if let Some(listen) = lookup("STARDUST_METRICS_LISTEN") {
            self.metrics_listen = Some(listen).filter(|l| !l.is_empty());
        }
        if let Some(listen) = lookup("STARDUST_LISTEN") {
            self.listen = listen;
        }
        if let Some(url) = lookup("STARDUST_BACKEND_URL") {
            self.backend_url = url;
        }
    }

    /// Checks every rule and reports all violations together.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "listen = {:?} is not an address like \"127.0.0.1:3307\"",
                self.listen
            ));
        }
        if let Some(metrics) = &self.metrics_listen {
            if metrics.parse::<SocketAddr>().is_err() {
                problems.push(format!(
                    "metrics_listen = {metrics:?} is not an address like \"127.0.0.1:9104\""
                ));
            } else if *metrics == self.listen {
                problems.push("metrics_listen must differ from listen".to_string());
            }
        }
        if self.statement_timeout_ms > MAX_TIMEOUT_MS {
            problems.push(format!(
                "statement_timeout_ms = {} must be at most {MAX_TIMEOUT_MS} (a year)",
                self.statement_timeout_ms
            ));
        }
        match mysql_async::Opts::from_url(&self.backend_url) {
            _ if self.backend_url.is_empty() => problems.push(
                "backend_url is missing: set it in the file, STARDUST_BACKEND_URL or --backend-url"
                    .to_string(),
            ),
            Ok(opts) if opts.db_name().is_none_or(str::is_empty) => problems.push(
                "backend_url names no database: add one, as in mysql://user:pw@host:3306/app"
                    .to_string(),
            ),
            Ok(_) => {}
            Err(e) => problems.push(format!("backend_url is not a mysql:// URL: {e}")),
        }
        if self.users.is_empty() {
            problems.push("no [[users]]: add at least one login".to_string());
        }
        if self.max_connections == 0 {
            problems.push("max_connections must be at least 1".to_string());
        }
        for (name, daemon) in [
            ("watcher", self.watcher),
            ("reconciler", self.reconciler),
            ("liberator", self.liberator),
            ("chronicler", self.chronicler),
        ] {
            if daemon.idle_max_secs == 0 || daemon.idle_max_secs > 3600 {
                problems.push(format!(
                    "[{name}] idle_max_secs = {} must be between 1 and 3600",
                    daemon.idle_max_secs
                ));
            }
            if daemon.chunk_size == 0 || daemon.chunk_size > 100_000 {
                problems.push(format!(
                    "[{name}] chunk_size = {} must be between 1 and 100000",
                    daemon.chunk_size
                ));
            }
        }
        if self.jobs.lease_secs == 0 || self.jobs.active_per_tenant == 0 {
            problems.push("[jobs] lease_secs and active_per_tenant must be at least 1".to_string());
        }
        if self.jobs.low_disk_percent > 100 {
            problems.push("[jobs] low_disk_percent must be between 0 and 100".to_string());
        }
        if self.jobs.artifact_dir.as_os_str().is_empty() {
            problems.push("[jobs] artifact_dir is empty".to_string());
        }
        if self.max_allowed_packet < 1024 {
            problems.push("max_allowed_packet must be at least 1024 bytes".to_string());
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                problems.push("tls_cert is set without tls_key: set both, or neither".to_string())
            }
            (None, Some(_)) => {
                problems.push("tls_key is set without tls_cert: set both, or neither".to_string())
            }
            _ => {}
        }
        let tls = self.tls_cert.is_some() && self.tls_key.is_some();
        let mut seen = std::collections::HashSet::new();
        for (i, user) in self.users.iter().enumerate() {
            let at = format!("users[{i}] ({:?})", user.name);
            if user.name.is_empty() || user.name.len() > 80 {
                problems.push(format!("{at}: name must be 1 to 80 characters"));
            }
            if !seen.insert(user.name.as_str()) {
                problems.push(format!("{at}: the name is used twice"));
            }
            match (user.tenant, user.admin) {
                (Some(_), true) => problems.push(format!(
                    "{at}: set either tenant = N or admin = true, not both"
                )),
                (None, false) => problems.push(format!(
                    "{at}: set tenant = N (a tenant login) or admin = true (an administrator)"
                )),
                (Some(0), false) => {
                    problems.push(format!("{at}: tenant ids start at 1"));
                }
                _ => {}
            }
            if user.require_tls && !tls {
                problems.push(format!(
                    "{at}: require_tls = true, but the proxy offers no TLS: set tls_cert and tls_key"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// The database named in `backend_url`: where StarDust's tables and virtual tables live.
    pub fn database(&self) -> String {
        mysql_async::Opts::from_url(&self.backend_url)
            .ok()
            .and_then(|opts| opts.db_name().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|user| user.name == name)
    }
}
