//! Prepared statements: the session's COM_STMT_PREPARE and COM_STMT_EXECUTE, its statement table, and decoding
//! of COM_STMT_EXECUTE / SEND_LONG_DATA packets.

use std::collections::HashMap;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Params, Statement, Value};
use mysql_common::io::ParseBuf;
use mysql_common::proto::MyDeserialize;
use mysql_common::value::{BinValue, ValueDeserializer};

use super::cursors::{Cursor, CURSOR_TYPE_READ_ONLY};
use super::relay::{self, gone, Encoding};
use super::session::Session;
use super::wire::text_column;
use super::Error;
use crate::sql::{self, Route};

/// The parameter types a client may send. Others (the server-internal VARCHAR2, TYPED_ARRAY, VECTOR, …) are
/// refused as malformed rather than decoded.
const PARAMETER_TYPES: [ColumnType; 27] = {
    use ColumnType::*;
    [
        MYSQL_TYPE_DECIMAL,
        MYSQL_TYPE_TINY,
        MYSQL_TYPE_SHORT,
        MYSQL_TYPE_LONG,
        MYSQL_TYPE_FLOAT,
        MYSQL_TYPE_DOUBLE,
        MYSQL_TYPE_NULL,
        MYSQL_TYPE_TIMESTAMP,
        MYSQL_TYPE_LONGLONG,
        MYSQL_TYPE_INT24,
        MYSQL_TYPE_DATE,
        MYSQL_TYPE_TIME,
        MYSQL_TYPE_DATETIME,
        MYSQL_TYPE_YEAR,
        MYSQL_TYPE_VARCHAR,
        MYSQL_TYPE_BIT,
        MYSQL_TYPE_JSON,
        MYSQL_TYPE_NEWDECIMAL,
        MYSQL_TYPE_ENUM,
        MYSQL_TYPE_SET,
        MYSQL_TYPE_TINY_BLOB,
        MYSQL_TYPE_MEDIUM_BLOB,
        MYSQL_TYPE_LONG_BLOB,
        MYSQL_TYPE_BLOB,
        MYSQL_TYPE_VAR_STRING,
        MYSQL_TYPE_STRING,
        MYSQL_TYPE_GEOMETRY,
    ]
};

/// What carries out a prepared statement.
pub enum Backing {
    /// A statement prepared on the session's backend connection.
    Backend(Statement),
    /// A write to model tables, kept as parsed; each execute binds the parameters into it as literals and runs it
    /// through the write path (the backend cannot prepare a statement on a table that does not exist).
    Emulated {
        statement: Box<sqlparser::ast::Statement>,
        params: u16,
    },
    /// `USE db`, which the proxy carries out itself (it keeps the session's database).
    Use(String),
}

impl Backing {
    pub fn num_params(&self) -> u16 {
        match self {
            Backing::Backend(statement) => statement.num_params(),
            Backing::Emulated { params, .. } => *params,
            Backing::Use(_) => 0,
        }
    }
}

/// A statement the client prepared, backed by a statement on the session's backend connection.
pub struct Prepared {
    pub backend: Backing,
    /// Native column metadata for model columns in the result (see `relay::stream`).
    pub overrides: Vec<Option<mysql_async::Column>>,
    /// Parameter types from the last execute that sent them; later executes may omit them.
    types: Vec<(ColumnType, ColumnFlags)>,
    /// COM_STMT_SEND_LONG_DATA chunks by parameter index, consumed by the next execute.
    long_data: HashMap<u16, Vec<u8>>,
    /// For a read of model tables: the registry version it was rewritten at, and the statement as the client
    /// wrote it, to rewrite and prepare again when the registry moves.
    pub planned: Option<(u64, Box<sqlparser::ast::Statement>)>,
    /// The cursor an execute with CURSOR_TYPE_READ_ONLY opened, until fetched to its end, reset or closed.
    pub cursor: Option<Cursor>,
}

/// The session's prepared statements by the id the client knows them by.
#[derive(Default)]
pub struct Statements {
    by_id: HashMap<u32, Prepared>,
    next_id: u32,
    /// The statement whose cursor's result is pending on the backend connection, read as it is fetched.
    pub streaming: Option<u32>,
}

impl Statements {
    pub fn add(&mut self, backend: Backing, overrides: Vec<Option<mysql_async::Column>>) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let id = self.next_id;
        self.by_id.insert(
            id,
            Prepared {
                backend,
                overrides,
                types: Vec::new(),
                long_data: HashMap::new(),
                planned: None,
                cursor: None,
            },
        );
        id
    }

    pub fn get_mut(&mut self, id: u32, command: &'static str) -> Result<&mut Prepared, Error> {
        self.by_id
            .get_mut(&id)
            .ok_or(Error::UnknownStatement { id, command })
    }

    pub fn remove(&mut self, id: u32) -> Option<Prepared> {
        self.by_id.remove(&id)
    }

    pub fn clear(&mut self) {
        self.by_id.clear();
        self.streaming = None;
    }
}

/// The statement id a COM_STMT_* packet (without its command byte) starts with.
pub fn statement_id(body: &[u8], command: &'static str) -> Result<u32, Error> {
    body.get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(Error::Malformed(command))
}

impl Prepared {
    /// Records a COM_STMT_SEND_LONG_DATA chunk (body without the command byte).
    pub fn append_long_data(&mut self, body: &[u8]) -> Result<(), Error> {
        let param = body
            .get(4..6)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or(Error::Malformed("mysqld_stmt_send_long_data"))?;
        if usize::from(param) >= self.backend.num_params().into() {
            return Err(Error::Malformed("mysqld_stmt_send_long_data"));
        }
        self.long_data
            .entry(param)
            .or_default()
            .extend_from_slice(&body[6..]);
        Ok(())
    }

    pub fn reset(&mut self) {
        self.long_data.clear();
        self.cursor = None;
    }

    /// Decodes the parameters of a COM_STMT_EXECUTE body (without the command byte).
    pub fn decode_params(&mut self, body: &[u8]) -> Result<Vec<Value>, Error> {
        const COMMAND: &str = "mysqld_stmt_execute";
        let malformed = || Error::Malformed(COMMAND);
        let count = usize::from(self.backend.num_params());
        let long_data = std::mem::take(&mut self.long_data);
        if count == 0 {
            return Ok(Vec::new());
        }
        // stmt id (4), flags (1), iteration count (4)
        let mut buf = ParseBuf(body.get(9..).ok_or_else(malformed)?);
        let bitmap = buf
            .checked_eat(count.div_ceil(8))
            .ok_or_else(malformed)?
            .to_vec();
        let bound = buf.checked_eat(1).ok_or_else(malformed)?[0];
        if bound == 1 {
            let mut types = Vec::with_capacity(count);
            for _ in 0..count {
                let pair = buf.checked_eat(2).ok_or_else(malformed)?;
                let column_type = ColumnType::try_from(pair[0])
                    .ok()
                    .filter(|t| PARAMETER_TYPES.contains(t))
                    .ok_or_else(malformed)?;
                let flags = if pair[1] & 0x80 != 0 {
                    ColumnFlags::UNSIGNED_FLAG
                } else {
                    ColumnFlags::empty()
                };
                types.push((column_type, flags));
            }
            self.types = types;
        }
        if self.types.len() != count {
            return Err(malformed());
        }
        let mut values = Vec::with_capacity(count);
        for (i, &(column_type, flags)) in self.types.iter().enumerate() {
            let is_null = bitmap[i / 8] & (1 << (i % 8)) != 0;
            let value = if let Some(data) = long_data.get(&(i as u16)) {
                Value::Bytes(data.clone())
            } else if is_null || column_type == ColumnType::MYSQL_TYPE_NULL {
                Value::NULL
            } else {
                ValueDeserializer::<BinValue>::deserialize((column_type, flags), &mut buf)
                    .map_err(|_| malformed())?
                    .0
            };
            values.push(value);
        }
        Ok(values)
    }
}
impl<R: tokio::io::AsyncRead + Unpin, W: tokio::io::AsyncWrite + Unpin> Session<R, W> {
    pub(super) async fn prepare(&mut self, sql: &[u8]) -> Result<(), crate::Error> {
        self.warnings = None;
        let Ok(text) = std::str::from_utf8(sql) else {
            // Non-UTF-8 text (a latin1 literal): an admin's goes to the backend as it is, as in COM_QUERY; a
            // tenant's cannot be checked and is refused.
            return match self.user.role() {
                crate::config::Role::Admin => {
                    self.twins.forget_types();
                    self.prepare_on_backend(sql, super::twins::Described::none(), None)
                        .await
                }
                crate::config::Role::Tenant(_) => Err(sql::Error::BadCharacters.into()),
            };
        };
        let (text, described, planned) = match sql::classify(text, &self.context())? {
            Route::Forward => {
                self.twins.forget_types();
                (text.to_string(), super::twins::Described::none(), None)
            }
            Route::Virtual(statement)
                if matches!(*statement, sqlparser::ast::Statement::Query(_)) =>
            {
                let (text, described, version) = self
                    .rewrite_read(&statement, Some(super::twins::Probe::Prepare))
                    .await?;
                (text, described, Some((version, statement)))
            }
            Route::Virtual(statement) => return self.prepare_emulated(statement).await,
            Route::Use(database) => {
                let id = self.statements.add(Backing::Use(database), Vec::new());
                return self
                    .wire
                    .prepared(id, &[], &[], self.status)
                    .await
                    .map_err(gone);
            }
            _ => return Err(sql::Error::NotSupported(
                "KILL, SHOW, DDL and SET stardust_* cannot be prepared: send them as plain queries"
                    .to_string(),
            )
            .into()),
        };
        self.prepare_on_backend(text.as_bytes(), described, planned)
            .await
    }

    /// Prepares `text` on the backend connection and answers the client with the statement's new id.
    async fn prepare_on_backend(
        &mut self,
        text: &[u8],
        described: super::twins::Described,
        planned: Option<(u64, Box<sqlparser::ast::Statement>)>,
    ) -> Result<(), crate::Error> {
        let statement = self.conn.prep(text).await?;
        let columns = relay::apply_overrides(&statement.columns(), &described.prepared);
        let id = self
            .statements
            .add(Backing::Backend(statement.clone()), described.executed);
        self.statements.get_mut(id, "mysqld_stmt_prepare")?.planned = planned;
        self.wire
            .prepared(id, statement.params(), &columns, self.status)
            .await
            .map_err(gone)
    }

    /// A write to model tables, prepared by the proxy itself: parameters are counted now, bound at execute.
    async fn prepare_emulated(
        &mut self,
        statement: Box<sqlparser::ast::Statement>,
    ) -> Result<(), crate::Error> {
        let params = sql::placeholders(&statement);
        let markers: Vec<Column> = (0..params)
            .map(|_| text_column("?", ColumnType::MYSQL_TYPE_VAR_STRING))
            .collect();
        let id = self
            .statements
            .add(Backing::Emulated { statement, params }, Vec::new());
        self.wire
            .prepared(id, &markers, &[], self.status)
            .await
            .map_err(gone)
    }

    pub(super) async fn execute_prepared(&mut self, body: &[u8]) -> Result<(), crate::Error> {
        self.warnings = None;
        let id = statement_id(body, "mysqld_stmt_execute")?;
        let prepared = self.statements.get_mut(id, "mysqld_stmt_execute")?;
        // A new execute closes the statement's cursor.
        prepared.cursor = None;
        let params = prepared.decode_params(body)?;
        let wants_cursor = body.get(4).is_some_and(|f| f & CURSOR_TYPE_READ_ONLY != 0);
        if let Some((planned_at, source)) = prepared.planned.clone() {
            self.replan(id, planned_at, &source).await?;
        }
        let prepared = self.statements.get_mut(id, "mysqld_stmt_execute")?;
        let overrides = prepared.overrides.clone();
        let statement = match &prepared.backend {
            Backing::Backend(statement) => statement.clone(),
            Backing::Emulated { statement, .. } => {
                let bound = sql::bind(statement, &params)?;
                return self.virtual_statement(&bound, None).await;
            }
            Backing::Use(database) => {
                let database = database.clone();
                return self.use_database(&database).await;
            }
        };
        let params = if params.is_empty() {
            Params::Empty
        } else {
            Params::Positional(params)
        };
        let result = self.conn.exec_iter(&statement, params).await?;
        // A cursor for a statement that returns one result set (not a CALL, whose results are unknown at prepare).
        if wants_cursor && !statement.columns().is_empty() {
            if let Some(columns) = result.columns().filter(|c| !c.is_empty()) {
                // The rows stay pending on the backend connection for COM_STMT_FETCH to read.
                drop(result);
                let columns = if overrides.is_empty() {
                    columns
                } else {
                    relay::apply_overrides(&columns, &overrides).into()
                };
                return self.open_cursor(id, columns).await;
            }
        }
        let last = relay::stream(
            &mut self.wire,
            result,
            Encoding::Binary,
            self.status,
            &overrides,
        )
        .await?;
        self.status = relay::finish(&mut self.wire, &self.conn, last).await?;
        Ok(())
    }

    /// Prepares a read of model tables again when the registry moved since it was planned: the version is the one
    /// this instance read within `registry::PREPARED_STALENESS`, or read now (so an execute costs one round trip
    /// while statements keep the recent version fresh, and at most two).
    async fn replan(
        &mut self,
        id: u32,
        planned_at: u64,
        source: &sqlparser::ast::Statement,
    ) -> Result<(), crate::Error> {
        let current = match self.state.registry.recent() {
            Some(version) => version,
            None => {
                let version = if self.autocommitting() {
                    crate::registry::version(&mut self.conn).await?
                } else {
                    let mut conn = self.state.backend.conn(false).await?;
                    crate::registry::version(&mut conn).await?
                };
                self.state.registry.saw(version);
                version
            }
        };
        if current == planned_at {
            return Ok(());
        }
        let (text, described, version) = self
            .rewrite_read(source, Some(super::twins::Probe::Prepare))
            .await?;
        let statement = self.conn.prep(text).await?;
        let prepared = self.statements.get_mut(id, "mysqld_stmt_execute")?;
        prepared.backend = Backing::Backend(statement);
        prepared.overrides = described.executed;
        prepared.planned = Some((version, Box::new(source.clone())));
        Ok(())
    }
}
