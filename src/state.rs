//! The state every connection shares: configuration snapshot, backend handle, and the live-session registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::config::Config;
use crate::registry::Registry;

pub struct State {
    pub config: Config,
    pub backend: Backend,
    /// Catalog snapshots per tenant, and the registry writes of model DDL.
    pub registry: Registry,
    /// `host/pid`, recorded on pages this instance provisions.
    pub instance: String,
    pub sessions: Sessions,
    /// Rewritten reads of model tables by statement text (`plan_cache_entries`).
    pub plans: crate::rewrite::plans::Plans,
    /// Statement counts and latencies, and what `GET /metrics` serves.
    pub metrics: crate::metrics::Metrics,
    /// When the proxy started, for COM_STATISTICS.
    pub started: std::time::Instant,
    /// Offered to clients that ask for TLS (`tls_cert`, `tls_key`); `None` when not configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    next_connection_id: AtomicU32,
}

impl State {
    pub fn new(config: Config, backend: Backend) -> State {
        let instance = format!(
            "{}/{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "stardust".to_string()),
            std::process::id()
        );
        let plans = crate::rewrite::plans::Plans::new(config.plan_cache_entries);
        let metrics = crate::metrics::Metrics::new(config.metrics_listen.is_some());
        State {
            config,
            registry: Registry::new(backend.clone()),
            instance,
            backend,
            sessions: Sessions::default(),
            plans,
            metrics,
            started: std::time::Instant::now(),
            tls: None,
            next_connection_id: AtomicU32::new(1),
        }
    }

    /// The same state offering TLS with `acceptor` (`protocol::tls_acceptor` builds it from the configuration).
    pub fn with_tls(mut self, acceptor: Option<tokio_rustls::TlsAcceptor>) -> State {
        self.tls = acceptor;
        self
    }

    /// A proxy-wide unique connection id (never 0).
    pub fn next_connection_id(&self) -> u32 {
        loop {
            let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }
}

/// What `KILL` and the processlist need to know about a live session.
#[derive(Clone)]
pub struct SessionHandle {
    pub user: String,
    /// The client's address.
    pub host: String,
    /// What the session is doing now.
    pub activity: std::sync::Arc<crate::processlist::Activity>,
    /// The backend's thread id for this session's backend connection.
    pub backend_thread: u32,
    /// Cancelled to end the session (`KILL CONNECTION`).
    pub cancel: CancellationToken,
}

/// Live sessions by proxy connection id. The lock is never held across an `.await`.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<u32, SessionHandle>>,
}

impl Sessions {
    /// Registers a session until the returned guard drops, however the session ends (a panic included).
    pub fn register(&self, id: u32, handle: SessionHandle) -> Registration<'_> {
        self.lock().insert(id, handle);
        Registration { sessions: self, id }
    }

    /// A session logged in again as another user (COM_CHANGE_USER): `KILL` and the processlist follow it.
    pub fn rename(&self, id: u32, user: &str) {
        if let Some(handle) = self.lock().get_mut(&id) {
            handle.user = user.to_string();
        }
    }

    pub fn get(&self, id: u32) -> Option<SessionHandle> {
        self.lock().get(&id).cloned()
    }

    /// Every live session, by id.
    pub fn list(&self) -> Vec<(u32, SessionHandle)> {
        let mut all: Vec<(u32, SessionHandle)> =
            self.lock().iter().map(|(id, h)| (*id, h.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, SessionHandle>> {
        // A panic while holding this lock cannot leave the map half-updated, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps a session in the registry while it lives.
pub struct Registration<'a> {
    sessions: &'a Sessions,
    id: u32,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}
