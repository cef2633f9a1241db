//! The accept loop: one task per connection under the connection limit, and a bounded drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::protocol;
use crate::state::State;

/// Serves clients from `listener` until `shutdown` is cancelled, then waits up to `shutdown_grace_secs` for
/// open sessions to finish their current statement.
pub async fn run(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(state.config.max_connections));
    let tracker = TaskTracker::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: keep serving the sessions we have.
                    warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let (state, shutdown) = (state.clone(), shutdown.clone());
                tracker.spawn(async move {
                    protocol::serve(stream, state, shutdown).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracker.spawn(protocol::refuse_over_limit(
                    stream,
                    state.config.max_connections,
                ));
            }
        }
    }
    drop(listener);
    tracker.close();
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    info!(sessions = state.sessions.len(), "shutting down");
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(
            sessions = state.sessions.len(),
            "sessions still open after the grace period; closing them"
        );
    }
    Ok(())
}
