//! The daemons that finish what DDL starts, hosted in the proxy process: each a loop around a small `tick()`
//! that does one unit of work, backs off while idle, and stops promptly on shutdown.

pub mod advisories;
pub mod chronicler;
pub mod importer;
pub mod liberator;
pub mod reconciler;
pub mod sync_queue;
pub mod watcher;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::sync::Mutex;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{self, Backend};
use crate::config::Config;

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Did some work; tick again at once.
    Worked,
    /// Nothing to do (or another instance holds the singleton lock); wait before the next tick.
    Idle,
}

/// The first pause of an idle daemon; it doubles up to the daemon's `idle_max_secs`.
const MIN_IDLE: Duration = Duration::from_millis(200);

/// Starts the daemons the configuration enables on `tracker`, until `token` is cancelled.
pub fn spawn(backend: &Backend, config: &Config, token: &CancellationToken, tracker: &TaskTracker) {
    if !config.daemons {
        return;
    }
    let idle = |daemon: crate::config::Daemon| Duration::from_secs(daemon.idle_max_secs);
    if config.reconciler.enabled {
        spawn_reconciler(backend, config.reconciler, token, tracker);
        let importer = importer::Importer::new(
            backend.clone(),
            &config.jobs.artifact_dir,
            config.jobs.lease_secs,
            config.reconciler.chunk_size,
        );
        tracker.spawn(run(
            "importer",
            idle(config.reconciler),
            token.clone(),
            move || {
                let importer = importer.clone();
                async move { importer.tick().await }
            },
        ));
    }
    if config.chronicler.enabled {
        let chronicler = chronicler::Chronicler::new(
            backend.clone(),
            &config.jobs,
            config.chronicler.chunk_size,
        );
        tracker.spawn(run_woken(
            "chronicler",
            idle(config.chronicler),
            token.clone(),
            Some(&chronicler::WAKE),
            move || {
                let chronicler = chronicler.clone();
                async move { chronicler.tick().await }
            },
        ));
    }
    if config.liberator.enabled {
        let liberator =
            liberator::Liberator::with_chunk(backend.clone(), config.liberator.chunk_size);
        tracker.spawn(run(
            "liberator",
            idle(config.liberator),
            token.clone(),
            move || {
                let liberator = liberator.clone();
                async move { liberator.tick().await }
            },
        ));
    }
    if config.watcher.enabled {
        let watcher = watcher::Watcher::new(backend.clone());
        tracker.spawn(run(
            "watcher",
            idle(config.watcher),
            token.clone(),
            move || {
                let watcher = watcher.clone();
                async move { watcher.tick().await }
            },
        ));
    }
}

fn spawn_reconciler(
    backend: &Backend,
    settings: crate::config::Daemon,
    token: &CancellationToken,
    tracker: &TaskTracker,
) {
    let reconciler = backend.clone();
    let max_idle = Duration::from_secs(settings.idle_max_secs);
    let chunk = settings.chunk_size;
    tracker.spawn(run("reconciler", max_idle, token.clone(), move || {
        let backend = reconciler.clone();
        async move {
            // The queue first: its entries wait on it; then one backfill chunk.
            let drained = sync_queue::tick_chunk(&backend, chunk).await?;
            let backfilled = reconciler::tick_chunk(&backend, chunk).await?;
            Ok(if drained == Tick::Worked || backfilled == Tick::Worked {
                Tick::Worked
            } else {
                Tick::Idle
            })
        }
    }));
}

/// Runs one statement of a daemon's transaction under a savepoint. A data exception (a value the statement
/// cannot store) rolls back to the savepoint and is returned, so the caller can retry entry by entry and
/// set the bad one aside; any other error fails the transaction.
pub(crate) async fn attempt(
    tx: &mut mysql_async::Transaction<'_>,
    savepoint: &str,
    sql: &str,
    params: mysql_async::Params,
) -> Result<Option<backend::Error>, backend::Error> {
    tx.query_drop(format!("SAVEPOINT {savepoint}")).await?;
    let done = match params {
        mysql_async::Params::Empty => tx.query_drop(sql).await,
        params => tx.exec_drop(sql, params).await,
    };
    let Err(e) = done else {
        return Ok(None);
    };
    let e = backend::Error::from(e);
    if !e.is_data_exception() {
        return Err(e);
    }
    tx.query_drop(format!("ROLLBACK TO SAVEPOINT {savepoint}"))
        .await?;
    Ok(Some(e))
}

/// A named `GET_LOCK` held on a connection of its own: the daemon it guards runs on exactly one instance at a
/// time, and another instance takes over if that connection goes away. (A PID file cannot see other hosts.)
#[derive(Clone)]
pub struct Singleton {
    backend: Backend,
    name: String,
    holder: Arc<Mutex<Option<Conn>>>,
}

impl Singleton {
    pub fn new(backend: Backend, base: &str) -> Singleton {
        Singleton {
            name: backend.lock_name(base),
            backend,
            holder: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether this instance holds the lock, taking it if it is free.
    pub async fn hold(&self) -> Result<bool, backend::Error> {
        let mut holder = self.holder.lock().await;
        if let Some(conn) = holder.as_mut() {
            let still: Option<Option<i64>> = conn
                .exec_first("SELECT IS_USED_LOCK(?) = CONNECTION_ID()", (&self.name,))
                .await?;
            if still.flatten() == Some(1) {
                return Ok(true);
            }
        }
        let mut conn = self.backend.conn(false).await?;
        let got: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, 0)", (&self.name,))
            .await?;
        if got.flatten() == Some(1) {
            *holder = Some(conn);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Ticks until cancelled: at once after work, with a doubling pause (up to `max_idle`) while idle or failing.
pub async fn run<F, Fut>(name: &'static str, max_idle: Duration, token: CancellationToken, tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Tick, backend::Error>>,
{
    run_woken(name, max_idle, token, None, tick).await;
}

/// As [`run`], and a pause also ends when `wake` is notified (work submitted in this process); work submitted
/// elsewhere is still found by the next idle tick.
pub async fn run_woken<F, Fut>(
    name: &'static str,
    max_idle: Duration,
    token: CancellationToken,
    wake: Option<&'static tokio::sync::Notify>,
    mut tick: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Tick, backend::Error>>,
{
    let woken = || async move {
        match wake {
            Some(wake) => wake.notified().await,
            None => std::future::pending().await,
        }
    };
    let mut pause = MIN_IDLE;
    while !token.is_cancelled() {
        let outcome = tokio::select! {
            _ = token.cancelled() => break,
            outcome = tick() => outcome,
        };
        match outcome {
            Ok(Tick::Worked) => {
                pause = MIN_IDLE;
                continue;
            }
            Ok(Tick::Idle) => {}
            Err(e) => tracing::warn!(daemon = name, error = %e, "tick failed"),
        }
        tokio::select! {
            _ = token.cancelled() => break,
            _ = woken() => {
                pause = MIN_IDLE;
                continue;
            }
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(max_idle.max(MIN_IDLE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const FIVE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_loop_ticks_while_there_is_work_and_stops_when_cancelled() {
        let token = CancellationToken::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        let (counter, cancel) = (ticks.clone(), token.clone());
        run("test", FIVE, token.clone(), move || {
            let (counter, cancel) = (counter.clone(), cancel.clone());
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
                    cancel.cancel();
                }
                Ok(Tick::Worked)
            }
        })
        .await;
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            5,
            "worked ticks follow each other; cancellation ends the loop"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_loop_backs_off_doubling_up_to_five_seconds() {
        let token = CancellationToken::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        let idle = tokio::spawn(run("idle", FIVE, token.clone(), move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Tick::Idle)
            }
        }));
        // Ticks at 0, 0.2, 0.6, 1.4, 3.0 and 6.2 s (pauses 0.2, 0.4, 0.8, 1.6, 3.2), then every 5 s: 11.2, 16.2 …
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 6);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 8);
        token.cancel();
        idle.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_notified_loop_ticks_at_once() {
        static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();
        let token = CancellationToken::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        let idle = tokio::spawn(run_woken(
            "idle",
            FIVE,
            token.clone(),
            Some(&WAKE),
            move || {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Ok(Tick::Idle)
                }
            },
        ));
        // Idle long enough that the pause is at its 5 s most: ticks at 0, 0.2, 0.6, 1.4, 3.0, 6.2 and 11.2 s.
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 7);
        WAKE.notify_one();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 8, "a wake ends the pause");
        token.cancel();
        idle.await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_loop_waits_but_wakes_for_cancellation() {
        let token = CancellationToken::new();
        let cancel = token.clone();
        let idle = tokio::spawn(run("idle", FIVE, token, || async { Ok(Tick::Idle) }));
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), idle)
            .await
            .expect("the loop stops during its pause")
            .unwrap();
    }
}
