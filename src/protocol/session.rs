//! One client session: the command loop. `Session::query` shows a statement's whole path.

use std::sync::Arc;

use mysql_async::consts::{ColumnType, StatusFlags};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::chatter::{self, Chatter};
use super::packet::{PacketReader, ReadError};
use super::prepared::{statement_id, Backing, Statements};
use super::relay::{self, gone, Encoding};
use super::wire::{text_column, Outcome, Wire};
use super::{write_error, Error};
use crate::config::{Role, User};
use crate::metrics::Class;
use crate::processlist::Activity;
use crate::sql::{self, Route};
use crate::state::State;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_STATISTICS: u8 = 0x09;
const COM_PROCESS_KILL: u8 = 0x0C;
const COM_PING: u8 = 0x0E;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1A;
const COM_SET_OPTION: u8 = 0x1B;
const COM_STMT_FETCH: u8 = 0x1C;
const COM_RESET_CONNECTION: u8 = 0x1F;

/// The character set to set on the backend when the client's differs from the backend session's utf8mb4.
pub(super) fn client_charset(collation: u8) -> Option<String> {
    use mysql_common::collations::{Collation, CollationId};
    let charset = Collation::from(CollationId::from(u16::from(collation)))
        .charset()
        .to_string();
    (!charset.is_empty() && charset != "utf8mb4").then_some(charset)
}

enum Flow {
    Continue,
    Quit,
}

pub(super) struct Session<R, W: AsyncWrite + Unpin> {
    pub(super) id: u32,
    pub(super) state: Arc<State>,
    pub(super) user: User,
    pub(super) conn: Conn,
    pub(super) reader: PacketReader<R>,
    pub(super) wire: Wire<W>,
    pub(super) statements: Statements,
    pub(super) database: Option<String>,
    /// The tenant an admin acts for (`SET stardust_tenant`); a tenant login's is fixed by its role.
    pub(super) tenant: Option<u64>,
    /// The backend session's status flags as of its last reply.
    pub(super) status: StatusFlags,
    /// Cancelled by `KILL CONNECTION` from another session.
    pub(super) cancel: CancellationToken,
    /// `SET stardust_allow_scan = 1`: filters on unindexed model fields may scan the JSON.
    pub(super) allow_scan: bool,
    /// The write path's temporary shadow tables on this session's backend connection.
    pub(super) shadows: crate::write::Shadows,
    /// Empty twins of the models, on which computed result columns are typed as a native table types them.
    pub(super) twins: super::twins::Twins,
    /// What `SHOW WARNINGS` lists when the backend's own list would be wrong: the warnings or error of a model
    /// write (`keep_warnings`), or the proxy's own refusal (`keep_refusal`).
    pub(super) warnings: Option<crate::write::Warnings>,
    /// The greeting's scramble, which COM_CHANGE_USER answers against.
    pub(super) salt: [u8; 20],
    /// The client's connection collation, from its handshake or its last COM_CHANGE_USER.
    pub(super) collation: u8,
    /// What the processlist shows of this session.
    pub(super) activity: Arc<Activity>,
    /// The running statement's class, for the metrics.
    pub(super) class: Class,
    /// The statement timeout (`statement_timeout_ms`, `SET max_statement_time`); none when unlimited.
    pub(super) timeout: Option<std::time::Duration>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Selects the client's database (or the home database), matches its character set, and says OK.
    pub(super) async fn start(&mut self, database: Option<&str>) -> Result<(), crate::Error> {
        let home = self.state.backend.database().to_string();
        self.switch_database(database.unwrap_or(&home)).await?;
        if let Some(charset) = client_charset(self.collation) {
            let set_names = format!("SET NAMES {}", sql::quote_identifier(&charset));
            self.conn.query_drop(set_names).await?;
        }
        self.ok().await?;
        self.wire.flush().await.map_err(gone)?;
        Ok(())
    }

    pub(super) async fn run(&mut self, shutdown: CancellationToken) {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.cancel.cancelled() => break,
                next = self.reader.next() => next,
            };
            let (seq, payload) = match next {
                Ok(Some(packet)) => packet,
                Ok(None) | Err(ReadError::Io(_)) => break,
                Err(ReadError::TooLarge { size, .. }) => {
                    let error = Error::PacketTooLarge(size).into();
                    let _ = write_error(&mut self.wire, &error).await;
                    let _ = self.wire.flush().await;
                    break;
                }
            };
            self.wire.set_seq(seq.wrapping_add(1));
            match self.dispatch(&payload).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => break,
                Err(crate::Error::Client(Error::ClientGone(e))) => {
                    if e.kind() == std::io::ErrorKind::TimedOut {
                        // The client stopped reading mid-result: its backend query (blocked writing to the
                        // proxy) is killed with its connection rather than left to run or to drain.
                        tracing::info!(error = %e, "closing a client that stopped reading");
                        let thread = self.conn.id();
                        if let Err(e) =
                            super::operations::kill_on_backend(&self.state, thread, false).await
                        {
                            debug!(error = %e, "killing a stalled client's backend connection failed");
                        }
                    }
                    break;
                }
                Err(e) => {
                    let e = self.lost(e);
                    self.report(&e);
                    self.keep_refusal(&e);
                    if write_error(&mut self.wire, &e).await.is_err() {
                        break;
                    }
                }
            }
            if self.wire.flush().await.is_err() || self.conn.is_disconnected() {
                break;
            }
        }
    }

    /// A driver failure that left the session's backend connection broken (the backend restarted, or its
    /// connection was cut) is reported as MySQL's lost connection; the loop then closes the client connection,
    /// since the backend session it stood for, with its variables and open transaction, no longer exists.
    fn lost(&self, error: crate::Error) -> crate::Error {
        if error.kind() != crate::error::Kind::BackendUnavailable || !self.conn.is_disconnected() {
            return error;
        }
        tracing::info!(error = %error, "backend connection lost; closing the client connection");
        Error::BackendLost(error.to_string()).into()
    }

    /// An error of the proxy's own never reached the backend, whose `SHOW WARNINGS` would list the statement
    /// before: the session lists it, as a server lists the error of the statement it refused. (A backend error
    /// is in the backend's list, or, after a model write, in the list the write kept.)
    fn keep_refusal(&mut self, error: &crate::Error) {
        if matches!(error.kind(), crate::error::Kind::Backend { .. }) {
            return;
        }
        let (code, _, message) = super::error_packet(error);
        self.warnings = Some(crate::write::Warnings {
            columns: Vec::new(),
            rows: vec![crate::write::Warning {
                level: "Error".to_string(),
                code,
                message,
            }],
        });
    }

    /// A client's mistake is logged by its kind only: messages can quote values (`Duplicate entry '…'`).
    fn report(&self, error: &crate::Error) {
        match error.kind() {
            crate::error::Kind::Internal => warn!(error = %error, "statement failed"),
            kind => debug!(?kind, "statement refused"),
        }
    }

    async fn dispatch(&mut self, payload: &[u8]) -> Result<Flow, crate::Error> {
        let Some((&command, body)) = payload.split_first() else {
            return Err(Error::Malformed("an empty command packet").into());
        };
        self.settle_cursor(command, body).await?;
        match command {
            COM_QUIT => return Ok(Flow::Quit),
            COM_QUERY => {
                let watch = self.watch("Query", Some(body), Class::Passthrough);
                let done = watch.bound(self.query(body)).await;
                self.unwatch(watch, done)?
            }
            COM_INIT_DB => {
                let database = std::str::from_utf8(body).map_err(|_| sql::Error::BadCharacters)?;
                self.use_database(database).await?
            }
            COM_PING => self.ok().await?,
            COM_STMT_PREPARE => {
                let watch = self.watch("Prepare", Some(body), Class::Command);
                let done = watch.bound(self.prepare(body)).await;
                self.unwatch(watch, done)?
            }
            COM_STMT_EXECUTE => {
                let watch = self.watch("Execute", None, Class::Prepared);
                let done = watch.bound(self.execute_prepared(body)).await;
                self.unwatch(watch, done)?
            }
            // Neither command has a reply, not even an error: a bad one is dropped, and a bad chunk shows at
            // execute as a parameter mismatch.
            COM_STMT_SEND_LONG_DATA => {
                let appended = statement_id(body, "mysqld_stmt_send_long_data")
                    .and_then(|id| self.statements.get_mut(id, "mysqld_stmt_send_long_data"))
                    .and_then(|prepared| prepared.append_long_data(body));
                if let Err(e) = appended {
                    debug!(error = %e, "long data dropped");
                }
            }
            COM_STMT_CLOSE => {
                let removed =
                    statement_id(body, "mysqld_stmt_close").map(|id| self.statements.remove(id));
                if let Ok(Some(prepared)) = removed {
                    if let Backing::Backend(statement) = prepared.backend {
                        if let Err(e) = self.conn.close(statement).await {
                            debug!(error = %e, "closing a backend statement failed");
                        }
                    }
                }
            }
            COM_STMT_RESET => {
                let id = statement_id(body, "mysqld_stmt_reset")?;
                self.statements.get_mut(id, "mysqld_stmt_reset")?.reset();
                self.ok().await?
            }
            COM_FIELD_LIST => self.field_list(body).await?,
            COM_STATISTICS => self.statistics().await?,
            COM_PROCESS_KILL => {
                let id = statement_id(body, "COM_PROCESS_KILL")?;
                self.kill(u64::from(id), false).await?
            }
            COM_SET_OPTION => self.wire.end_rows(0, self.status).await.map_err(gone)?,
            COM_RESET_CONNECTION => self.reset().await?,
            COM_CHANGE_USER => self.change_user(body).await?,
            COM_STMT_FETCH => self.fetch(body).await?,
            other => return Err(Error::UnknownCommand(other).into()),
        }
        Ok(Flow::Continue)
    }

    /// A statement's whole path: chatter check, parse and classify, execute, write.
    async fn query(&mut self, sql: &[u8]) -> Result<(), crate::Error> {
        let Ok(text) = std::str::from_utf8(sql) else {
            return self.query_bytes(sql).await;
        };
        let chatter = chatter::lookup(text);
        // A model write's warnings stand until a statement that reads a table, or raises conditions of its own,
        // replaces them, as a server's diagnostics do; asking for them changes nothing.
        let kept = self.warnings.take();
        if let Some(chatter) = chatter {
            self.warnings = kept;
            self.class = Class::Chatter;
            return self.chatter(chatter, text).await;
        }
        if self.planned_read(text).await? {
            self.class = Class::ModelRead;
            return Ok(());
        }
        let route = sql::classify(text, &self.context())?;
        self.class = super::operations::class_of(&route);
        // A tenant's passthrough statements name no table (the policy sees to it); SHOW reads tables itself.
        let tableless = matches!(self.user.role(), Role::Tenant(_))
            && matches!(
                route,
                Route::Forward | Route::SetAllowScan(_) | Route::SetTenant(_)
            )
            && !chatter::is_show(text);
        // Anything but a model statement may change the session's character set, and so its result metadata.
        if !matches!(route, Route::Virtual(_)) {
            self.twins.forget_types();
        }
        let done = self.execute(route, text).await;
        if tableless && done.is_ok() && self.conn.get_warnings() == 0 && self.warnings.is_none() {
            self.warnings = kept;
        }
        done
    }

    pub(super) fn context(&self) -> sql::Context<'_> {
        sql::Context {
            user: &self.user.name,
            role: self.user.role(),
            home: self.state.backend.database(),
        }
    }

    /// Non-UTF-8 text (raw bytes in a `_binary'…'` literal, a latin1 client): admins' goes to the backend as it is;
    /// a tenant's cannot be checked and is refused.
    async fn query_bytes(&mut self, sql: &[u8]) -> Result<(), crate::Error> {
        match self.user.role() {
            Role::Admin => self.forward(sql).await,
            Role::Tenant(_) => Err(sql::Error::BadCharacters.into()),
        }
    }

    async fn chatter(&mut self, chatter: Chatter, text: &str) -> Result<(), crate::Error> {
        match chatter {
            Chatter::Forward => self.forward(text.as_bytes()).await,
            Chatter::Warnings => match self.warnings.clone() {
                Some(mut warnings) => {
                    // A refusal of the proxy's own brings no column definitions: the backend's, for this session.
                    if warnings.columns.is_empty() {
                        let listed = self.conn.query_iter("SHOW WARNINGS").await?;
                        warnings.columns = listed.columns().map(|c| c.to_vec()).unwrap_or_default();
                        listed.drop_result().await?;
                    }
                    let rows = warnings
                        .rows
                        .into_iter()
                        .map(|w| {
                            vec![
                                Value::Bytes(w.level.into_bytes()),
                                Value::UInt(u64::from(w.code)),
                                Value::Bytes(w.message.into_bytes()),
                            ]
                        })
                        .collect();
                    self.answer(&warnings.columns, rows).await
                }
                None => self.forward(text.as_bytes()).await,
            },
            Chatter::WarningCount(name) => match &self.warnings {
                Some(warnings) => {
                    let count = warnings.rows.len() as u64;
                    let column = text_column(name, ColumnType::MYSQL_TYPE_LONGLONG).with_flags(
                        mysql_async::consts::ColumnFlags::UNSIGNED_FLAG
                            | mysql_async::consts::ColumnFlags::BINARY_FLAG,
                    );
                    self.answer(&[column], vec![vec![Value::UInt(count)]]).await
                }
                None => self.forward(text.as_bytes()).await,
            },
            Chatter::ConnectionId => {
                let column = text_column("CONNECTION_ID()", ColumnType::MYSQL_TYPE_LONGLONG);
                self.answer(&[column], vec![vec![Value::UInt(u64::from(self.id))]])
                    .await
            }
        }
    }

    async fn execute(&mut self, route: Route, text: &str) -> Result<(), crate::Error> {
        match route {
            Route::Forward => self.forward(text.as_bytes()).await,
            Route::Use(database) => self.use_database(&database).await,
            Route::SetTenant(tenant) => self.set_tenant(tenant).await,
            Route::SetAllowScan(allow) => {
                self.allow_scan = allow;
                self.ok().await
            }
            Route::Kill { id, query_only } => self.kill(id, query_only).await,
            Route::SetStatementTimeout(ms) => self.set_statement_timeout(ms).await,
            Route::ShowProcesslist { full } => self.show_processlist(full).await,
            Route::ShowDatabases => {
                let home = self.state.backend.database().as_bytes().to_vec();
                let column = text_column("Database", ColumnType::MYSQL_TYPE_VAR_STRING);
                self.answer(&[column], vec![vec![Value::Bytes(home)]]).await
            }
            Route::ShowTables { full, like } => self.show_tables(full, like.as_deref(), text).await,
            Route::ShowTableStatus { like } => self.show_table_status(like.as_deref(), text).await,
            Route::ShowModel(show) => self.show_model(show, text).await,
            Route::ModelDdl(statement) => self.model_ddl(&statement).await,
            Route::InformationSchema(statement) => self.information_schema(*statement, text).await,
            Route::Virtual(statement) => self.virtual_statement(&statement, Some(text)).await,
            Route::SystemSchema(statement) => self.system_schema(*statement).await,
            Route::ReplayDlq(id) => self.replay_dlq(id).await,
            Route::Export { query, format } => self.export(&query, &format).await,
            Route::CancelJob { id, kind } => self.cancel_job(id, &kind).await,
        }
    }

    /// Sends text to the backend session and streams every result back.
    pub(super) async fn forward(&mut self, sql: &[u8]) -> Result<(), crate::Error> {
        self.forward_with(sql, &[]).await
    }

    /// As `forward`, describing the first result's columns with `overrides` where given.
    pub(super) async fn forward_with(
        &mut self,
        sql: &[u8],
        overrides: &[Option<Column>],
    ) -> Result<(), crate::Error> {
        let result = self.conn.query_iter(sql).await?;
        let last = relay::stream(
            &mut self.wire,
            result,
            Encoding::Text,
            self.status,
            overrides,
        )
        .await?;
        self.status = relay::finish(&mut self.wire, &self.conn, last).await?;
        Ok(())
    }

    pub(super) async fn use_database(&mut self, database: &str) -> Result<(), crate::Error> {
        self.switch_database(database).await?;
        self.ok().await
    }

    pub(super) async fn switch_database(&mut self, database: &str) -> Result<(), crate::Error> {
        let home = self.state.backend.database();
        if matches!(self.user.role(), Role::Tenant(_)) && database != home {
            return Err(sql::Error::DatabaseDenied {
                user: self.user.name.clone(),
                database: database.to_string(),
                home: home.to_string(),
            }
            .into());
        }
        self.conn
            .query_drop(format!("USE {}", sql::quote_identifier(database)))
            .await?;
        // Result metadata names the current database.
        self.twins.forget_types();
        self.activity.set_database(database);
        self.database = Some(database.to_string());
        Ok(())
    }

    async fn set_tenant(&mut self, tenant: u64) -> Result<(), crate::Error> {
        match self.user.role() {
            Role::Admin => {
                self.tenant = Some(tenant);
                self.activity.set_tenant(Some(tenant));
            }
            Role::Tenant(own) if own == tenant => {}
            Role::Tenant(_) => {
                return Err(sql::Error::PrivilegeDenied(
                    "a tenant login cannot act for another tenant".to_string(),
                )
                .into())
            }
        }
        self.ok().await
    }

    pub(super) async fn ok(&mut self) -> Result<(), crate::Error> {
        let outcome = Outcome {
            status: self.status,
            ..Outcome::default()
        };
        self.wire.ok(&outcome).await.map_err(gone)
    }

    /// A result set the proxy composes itself.
    pub(super) async fn answer(
        &mut self,
        columns: &[Column],
        rows: Vec<Vec<Value>>,
    ) -> Result<(), crate::Error> {
        self.wire
            .columns(columns, self.status)
            .await
            .map_err(gone)?;
        for row in &rows {
            self.wire
                .text_row(row.iter().map(Some))
                .await
                .map_err(gone)?;
        }
        self.wire.end_rows(0, self.status).await.map_err(gone)
    }
}
