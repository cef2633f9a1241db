//! What the proxy keeps around each statement for its operators: the processlist entry, the metrics, and the
//! statement timeout that cancels the backend query as `KILL QUERY` does; and the statements that show or change
//! them (`SHOW PROCESSLIST`, `SET max_statement_time`, `KILL`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::field::Empty;
use tracing::{debug, Instrument};

use super::relay::gone;
use super::session::Session;
use super::wire::text_column;
use super::Error;
use crate::config::Role;
use crate::metrics::{Class, Outcome};
use crate::processlist::{self, Viewer};
use crate::sql::Route;
use crate::state::State;

/// One statement under watch: when it started, the timeout it runs under, and its tracing span.
pub(super) struct Watch {
    started: Instant,
    /// `statement` (debug): command, verb, size and digest — never the text, which can carry values and
    /// passwords (`CREATE USER … IDENTIFIED BY`).
    span: tracing::Span,
    limit: Option<Duration>,
    state: Arc<State>,
    thread: u32,
}

impl Watch {
    /// Runs `work`; past the limit, the session's backend query is killed and the statement ends with MySQL's
    /// timeout error (3024) instead of the interruption the backend reports.
    pub(super) async fn bound<F>(&self, work: F) -> Result<(), crate::Error>
    where
        F: Future<Output = Result<(), crate::Error>>,
    {
        let work = work.instrument(self.span.clone());
        let Some(limit) = self.limit else {
            return work.await;
        };
        tokio::pin!(work);
        tokio::select! {
            biased;
            done = &mut work => return done,
            _ = tokio::time::sleep(limit) => {}
        }
        debug!(limit_ms = limit.as_millis() as u64, "statement timeout");
        if let Err(e) = kill_on_backend(&self.state, self.thread, true).await {
            debug!(error = %e, "cancelling a timed-out statement failed");
        }
        match work.await {
            Err(e) if interrupted(&e) => Err(Error::StatementTimeout.into()),
            done => done,
        }
    }
}

/// The backend's own words for an interrupted statement: KILL QUERY (1317), MariaDB's max_statement_time (1969),
/// MySQL's max_execution_time (3024).
fn interrupted(error: &crate::Error) -> bool {
    error
        .server_error()
        .is_some_and(|e| matches!(e.code, 1317 | 1969 | 3024))
}

/// `KILL [QUERY] thread` on the backend, from a pooled connection of its own.
pub(super) async fn kill_on_backend(
    state: &State,
    thread: u32,
    query_only: bool,
) -> Result<(), crate::Error> {
    let verb = if query_only { "KILL QUERY" } else { "KILL" };
    let mut killer = state.backend.conn(false).await?;
    match killer.query_drop(format!("{verb} {thread}")).await {
        // The backend thread already ended: nothing left to stop there.
        Err(mysql_async::Error::Server(e)) if e.code == 1094 => Ok(()),
        other => Ok(other?),
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// A statement starts: it shows in the processlist, and its class is `class` until the route refines it.
    pub(super) fn watch(
        &mut self,
        command: &'static str,
        text: Option<&[u8]>,
        class: Class,
    ) -> Watch {
        self.activity.begin(command, text);
        self.class = class;
        let span = tracing::debug_span!(
            "statement",
            command,
            verb = Empty,
            bytes = Empty,
            digest = Empty
        );
        if let (false, Some(text)) = (span.is_disabled(), text) {
            span.record("verb", super::verb(text).as_str());
            span.record("bytes", text.len());
            let digest = crate::sql::digest::digest(&String::from_utf8_lossy(text));
            span.record("digest", digest.as_str());
        }
        Watch {
            started: Instant::now(),
            span,
            limit: self.timeout,
            state: self.state.clone(),
            thread: self.conn.id(),
        }
    }

    /// The statement ended: counted, timed, and the session idle again.
    pub(super) fn unwatch(
        &mut self,
        watch: Watch,
        done: Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        let outcome = match &done {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::of(e.kind()),
        };
        let elapsed = watch.started.elapsed();
        self.state.metrics.statement(self.class, outcome, elapsed);
        debug!(
            parent: &watch.span,
            class = self.class.label(),
            outcome = outcome.label(),
            elapsed_us = elapsed.as_micros() as u64,
            "statement done"
        );
        self.activity.idle();
        done
    }

    /// `SET max_statement_time` / `max_execution_time`: this session's timeout; `DEFAULT` restores the configured.
    pub(super) async fn set_statement_timeout(
        &mut self,
        ms: Option<u64>,
    ) -> Result<(), crate::Error> {
        let ms = ms.unwrap_or(self.state.config.statement_timeout_ms);
        self.timeout = (ms > 0).then(|| Duration::from_millis(ms));
        self.ok().await
    }

    /// `SHOW [FULL] PROCESSLIST`: the proxy's sessions with the ids `KILL` takes — every session for an
    /// administrator, a login's own otherwise; never the backend's threads.
    pub(super) async fn show_processlist(&mut self, full: bool) -> Result<(), crate::Error> {
        let viewer = match self.user.role() {
            Role::Admin => Viewer::Admin,
            Role::Tenant(_) => Viewer::User(&self.user.name),
        };
        let processes = processlist::list(&self.state.sessions, viewer);
        let text = |name| text_column(name, ColumnType::MYSQL_TYPE_VAR_STRING);
        let number = |name| text_column(name, ColumnType::MYSQL_TYPE_LONGLONG);
        let columns = [
            number("Id"),
            text("User"),
            text("Host"),
            text("db"),
            text("Command"),
            number("Time"),
            text("State"),
            text("Info"),
        ];
        let bytes = |s: String| Value::Bytes(s.into_bytes());
        let rows = processes
            .into_iter()
            .map(|p| {
                let info = p.info.map(|info| match full {
                    true => info,
                    false => processlist::short(&info).to_string(),
                });
                vec![
                    Value::UInt(u64::from(p.id)),
                    bytes(p.user),
                    bytes(p.host),
                    p.database.map_or(Value::NULL, bytes),
                    bytes(p.command),
                    Value::UInt(p.time),
                    bytes(p.state),
                    info.map_or(Value::NULL, bytes),
                ]
            })
            .collect();
        self.answer(&columns, rows).await
    }

    /// `KILL [QUERY] id` by proxy connection id: found in the registry, then killed on the backend.
    pub(super) async fn kill(&mut self, id: u64, query_only: bool) -> Result<(), crate::Error> {
        let handle = u32::try_from(id)
            .ok()
            .and_then(|id| self.state.sessions.get(id))
            .ok_or(Error::NoSuchThread(id))?;
        if self.user.role() != Role::Admin && handle.user != self.user.name {
            return Err(Error::NotOwner(id).into());
        }
        kill_on_backend(&self.state, handle.backend_thread, query_only).await?;
        self.state.metrics.kill();
        if !query_only {
            handle.cancel.cancel();
        }
        self.ok().await
    }

    pub(super) async fn statistics(&mut self) -> Result<(), crate::Error> {
        let (hits, misses) = self.state.plans.counts();
        let text = format!(
            "Uptime: {}  Threads: {}  Questions: 0  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: 0.000  Plan cache hits: {hits}  misses: {misses}",
            self.state.started.elapsed().as_secs(),
            self.state.sessions.len()
        );
        self.wire.raw(text.as_bytes()).await.map_err(gone)
    }
}

/// The metrics' class of a routed statement.
pub(super) fn class_of(route: &Route) -> Class {
    match route {
        Route::Forward => Class::Passthrough,
        Route::Use(_)
        | Route::SetTenant(_)
        | Route::SetAllowScan(_)
        | Route::SetStatementTimeout(_) => Class::Session,
        Route::Kill { .. }
        | Route::ShowProcesslist { .. }
        | Route::SystemSchema(_)
        | Route::ReplayDlq(_)
        | Route::Export { .. }
        | Route::CancelJob { .. } => Class::System,
        Route::ShowDatabases
        | Route::ShowTables { .. }
        | Route::ShowTableStatus { .. }
        | Route::ShowModel(_)
        | Route::InformationSchema(_) => Class::Introspection,
        Route::ModelDdl(_) => Class::ModelDdl,
        Route::Virtual(statement) => match **statement {
            sqlparser::ast::Statement::Query(_) => Class::ModelRead,
            _ => Class::ModelWrite,
        },
    }
}
