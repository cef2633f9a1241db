//! The real MySQL/MariaDB server behind the proxy: the connection pool, engine detection and bootstrap.

pub mod bootstrap;
pub mod dialect;
pub mod temporary;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

pub use dialect::{Engine, Flavor};

use crate::error::Kind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Engine(#[from] dialect::Error),
    #[error("backend_url is invalid: {0}")]
    Url(String),
    #[error("the backend at {address} cannot be reached: {source}")]
    Unreachable {
        address: String,
        source: mysql_async::Error,
    },
    #[error("{0}")]
    Server(mysql_async::ServerError),
    /// A named lock (page provisioning) stayed taken too long.
    #[error("{0}")]
    Busy(String),
    #[error("backend connection failed: {0}")]
    Driver(mysql_async::Error),
}

impl Error {
    /// A value the statement could not store (SQLSTATE class 22: out of range, truncated, too long, invalid):
    /// the data's fault, not the connection's or the schema's.
    pub fn is_data_exception(&self) -> bool {
        matches!(self, Error::Server(e) if e.state.starts_with("22"))
    }
}

impl From<mysql_async::Error> for Error {
    fn from(e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(server) => Error::Server(server),
            other => Error::Driver(other),
        }
    }
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Server(e) => {
                let mut state = [b'H', b'Y', b'0', b'0', b'0'];
                if e.state.len() == 5 {
                    state.copy_from_slice(e.state.as_bytes());
                }
                Kind::Backend {
                    code: e.code,
                    state,
                }
            }
            Error::Unreachable { .. } | Error::Driver(_) => Kind::BackendUnavailable,
            Error::Busy(_) => Kind::LockTimeout,
            Error::Engine(_) | Error::Url(_) => Kind::Internal,
        }
    }
}

/// The shared handle on the backend: a pool of connections to the configured database and what it is.
#[derive(Clone)]
pub struct Backend {
    pool: Pool,
    /// The same backend with CLIENT_FOUND_ROWS, for clients that ask for matched rather than changed rows.
    found_rows_pool: Pool,
    engine: Engine,
    database: String,
    /// How the pools connect, for the connections a client session opens of its own (`session_conn`).
    opts: OptsBuilder,
    /// The most connections each pool opens.
    max_connections: usize,
}

/// How busy the pools are, summed over both.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolLoad {
    pub in_use: usize,
    pub idle: usize,
    /// `get_conn` calls waiting for a connection.
    pub waiting: usize,
    pub max: usize,
}

impl Backend {
    /// Connects, detects and checks the engine. Fails with a message that names what to fix.
    pub async fn connect(url: &str, max_connections: usize) -> Result<Backend, Error> {
        let opts = Opts::from_url(url).map_err(|e| Error::Url(e.to_string()))?;
        let address = format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port());
        let database = opts.db_name().unwrap_or_default().to_string();
        let constraints = PoolConstraints::new(0, max_connections.max(1))
            .ok_or_else(|| Error::Url("max_connections must be at least 1".to_string()))?;
        let pool_opts = PoolOpts::default()
            .with_constraints(constraints)
            .with_inactive_connection_ttl(Duration::from_secs(60))
            .with_reset_connection(true);
        let builder = OptsBuilder::from_opts(opts)
            .pool_opts(pool_opts)
            .stmt_cache_size(0)
            .prefer_socket(false);
        let pool = Pool::new(builder.clone());
        let found_rows_pool = Pool::new(builder.clone().client_found_rows(true));
        let mut conn = pool
            .get_conn()
            .await
            .map_err(|source| Error::Unreachable { address, source })?;
        let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
        let engine = Engine::detect(&version.unwrap_or_default())?;
        drop(conn);
        Ok(Backend {
            pool,
            found_rows_pool,
            engine,
            database,
            opts: builder,
            max_connections: max_connections.max(1),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How busy the pools are now (for the metrics endpoint).
    pub fn pool_load(&self) -> PoolLoad {
        use std::sync::atomic::Ordering::Relaxed;
        let mut load = PoolLoad {
            max: self.max_connections,
            ..PoolLoad::default()
        };
        for pool in [&self.pool, &self.found_rows_pool] {
            let metrics = pool.metrics();
            load.in_use += metrics.connections_in_use.load(Relaxed);
            load.idle += metrics.connections_in_pool.load(Relaxed);
            load.waiting += metrics.active_wait_requests.load(Relaxed);
        }
        load
    }

    /// The database named in `backend_url`.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The name of one of StarDust's `GET_LOCK`s for this database. Named locks are server-wide, so the name
    /// carries the database: deployments sharing a server keep their own singletons. MySQL caps lock names at
    /// 64 characters; a longer name is cut there (databases differing only after their 40th character would
    /// then share a lock, which is safe, only slower).
    pub fn lock_name(&self, base: &str) -> String {
        format!("{base}@{}", self.database)
            .chars()
            .take(64)
            .collect()
    }

    /// A connection from the pool; it is reset (COM_RESET_CONNECTION) when it returns. With `found_rows`,
    /// UPDATE reports the rows it matched rather than the rows it changed, as a client asking so expects.
    pub async fn conn(&self, found_rows: bool) -> Result<mysql_async::Conn, Error> {
        let pool = if found_rows {
            &self.found_rows_pool
        } else {
            &self.pool
        };
        Ok(pool.get_conn().await?)
    }

    /// A new connection for one client session, not taken from the pool: a session starts from the server's
    /// global variables as they are when it connects, as a direct connection does, whereas a pooled connection
    /// keeps the read-only session values it was opened with (`max_allowed_packet`, found by MariaDB's own
    /// `func_str` test through the proxy after `SET GLOBAL max_allowed_packet`). The driver's own limit on the
    /// packets it reads is the largest there is, not the session's value: a server may send a row past its
    /// `max_allowed_packet` (a truncating `CONVERT(…, BINARY(n))`, MariaDB's `cast` test), and a client reads it.
    pub async fn session_conn(&self, found_rows: bool) -> Result<mysql_async::Conn, Error> {
        let opts = self
            .opts
            .clone()
            .client_found_rows(found_rows)
            .max_allowed_packet(Some(1024 * 1024 * 1024));
        Ok(mysql_async::Conn::new(opts).await?)
    }

    /// Creates StarDust's fixed tables where missing.
    pub async fn bootstrap(&self) -> Result<(), Error> {
        let mut conn = self.conn(false).await?;
        bootstrap::run(&mut conn).await
    }

    /// Closes both pools, waiting for borrowed connections to come back.
    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
        let _ = self.found_rows_pool.disconnect().await;
    }
}
