//! Server-side cursors: COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY, then COM_STMT_FETCH.
//!
//! The backend runs the statement as usual; its result stays pending on the session's own backend connection
//! and each fetch reads the next rows from it, so memory does not grow with the result. Only one result can be
//! pending on a connection: when any other command needs the connection while a cursor streams (a query, another
//! execute, a close of another statement), the cursor's unread rows are read into memory first, up to
//! `cursor_buffer_bytes`, and later fetches are answered from there. Past the bound the rest is read and dropped,
//! and the cursor's next fetch gets error 1114 naming the setting. (MySQL materialises every cursor in a temporary
//! table; this keeps the common case, fetching to the end, streaming.)

use std::collections::VecDeque;
use std::sync::Arc;

use mysql_async::consts::StatusFlags;
use mysql_async::{BinaryProtocol, Column, Conn, QueryResult, Row, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use super::prepared::statement_id;
use super::relay::{self, gone};
use super::session::Session;
use super::Error;

/// CURSOR_TYPE_READ_ONLY in COM_STMT_EXECUTE's flags byte.
pub const CURSOR_TYPE_READ_ONLY: u8 = 0x01;

const COM_QUIT: u8 = 0x01;
const COM_PING: u8 = 0x0E;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1A;
const COM_STMT_FETCH: u8 = 0x1C;
const COM_RESET_CONNECTION: u8 = 0x1F;

/// An open cursor of one prepared statement.
pub struct Cursor {
    /// The columns as the client was told them; rows are encoded by their types.
    columns: Arc<[Column]>,
    /// Rows read from the backend but not yet fetched: the one read ahead to tell whether more follow, or all
    /// that remained when another command needed the connection.
    rows: VecDeque<Row>,
    /// Roughly the memory `rows` holds.
    bytes: usize,
    /// Why the cursor cannot go on, told at its next fetch.
    failure: Option<crate::Error>,
    /// The backend's warning count, known once its result is read to the end; the last fetch reports it.
    warnings: u16,
}

/// Roughly the memory a row holds: its bytes plus a value's size each.
fn row_size(row: &Row) -> usize {
    (0..row.len())
        .map(|i| match row.as_ref(i) {
            Some(Value::Bytes(bytes)) => bytes.len() + std::mem::size_of::<Value>(),
            _ => std::mem::size_of::<Value>(),
        })
        .sum()
}

/// The next row of the result pending on `conn`; `None` once it is read to its end.
async fn next_row(conn: &mut Conn) -> Result<Option<Row>, mysql_async::Error> {
    QueryResult::<'_, '_, BinaryProtocol>::new(conn)
        .next()
        .await
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Answers an execute whose result is pending on the backend connection with the column definitions and
    /// SERVER_STATUS_CURSOR_EXISTS; the rows wait for COM_STMT_FETCH.
    pub(super) async fn open_cursor(
        &mut self,
        id: u32,
        columns: Arc<[Column]>,
    ) -> Result<(), crate::Error> {
        let status = self.status | StatusFlags::SERVER_STATUS_CURSOR_EXISTS;
        self.wire
            .cursor_opened(&columns, status)
            .await
            .map_err(gone)?;
        let prepared = self.statements.get_mut(id, "mysqld_stmt_execute")?;
        prepared.cursor = Some(Cursor {
            columns,
            rows: VecDeque::new(),
            bytes: 0,
            failure: None,
            warnings: 0,
        });
        self.statements.streaming = Some(id);
        Ok(())
    }

    /// COM_STMT_FETCH: up to the asked number of rows, then a terminator carrying CURSOR_EXISTS while rows remain,
    /// or LAST_ROW_SENT (and the cursor closes) once they are all sent.
    pub(super) async fn fetch(&mut self, body: &[u8]) -> Result<(), crate::Error> {
        const COMMAND: &str = "mysqld_stmt_fetch";
        let id = statement_id(body, COMMAND)?;
        let count = body
            .get(4..8)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(Error::Malformed(COMMAND))?;
        let streaming = self.statements.streaming == Some(id);
        let prepared = self.statements.get_mut(id, COMMAND)?;
        let mut cursor = prepared.cursor.take().ok_or(Error::NoOpenCursor(id))?;
        if let Some(failure) = cursor.failure.take() {
            return Err(failure);
        }
        let mut sent = 0;
        let mut warnings = 0;
        // Then one more row is read ahead, so that the last fetch says LAST_ROW_SENT.
        while sent <= count {
            let row = match cursor.rows.pop_front() {
                Some(row) => {
                    cursor.bytes -= row_size(&row);
                    Some(row)
                }
                None if streaming => match next_row(&mut self.conn).await {
                    Ok(row) => row,
                    Err(e) => {
                        self.statements.streaming = None;
                        return Err(e.into());
                    }
                },
                None => None,
            };
            let Some(row) = row else {
                break;
            };
            if sent == count {
                cursor.bytes += row_size(&row);
                cursor.rows.push_front(row);
                break;
            }
            let values = (0..row.len()).map(|i| row.as_ref(i));
            self.wire
                .binary_row(&cursor.columns, values)
                .await
                .map_err(gone)?;
            sent += 1;
        }
        let status = if !cursor.rows.is_empty() {
            self.statements.get_mut(id, COMMAND)?.cursor = Some(cursor);
            self.status | StatusFlags::SERVER_STATUS_CURSOR_EXISTS
        } else {
            if streaming {
                self.statements.streaming = None;
                self.status = relay::backend_status(&self.conn);
                cursor.warnings = self.conn.get_warnings();
            }
            warnings = cursor.warnings;
            self.status | StatusFlags::SERVER_STATUS_LAST_ROW_SENT
        };
        self.wire.end_rows(warnings, status).await.map_err(gone)
    }

    /// Frees the backend connection before a command that needs it: the streaming cursor's rows are kept in
    /// memory (up to `cursor_buffer_bytes`), or dropped when the command closes that cursor or resets the session.
    pub(super) async fn settle_cursor(
        &mut self,
        command: u8,
        body: &[u8],
    ) -> Result<(), crate::Error> {
        let Some(id) = self.statements.streaming else {
            return Ok(());
        };
        let own = statement_id(body, "").ok() == Some(id);
        match command {
            COM_STMT_FETCH | COM_PING | COM_STMT_SEND_LONG_DATA | COM_QUIT => Ok(()),
            COM_STMT_CLOSE | COM_STMT_RESET | COM_STMT_EXECUTE if own => self.drop_cursor(id).await,
            COM_CHANGE_USER | COM_RESET_CONNECTION => self.drop_cursor(id).await,
            _ => self.buffer_cursor(id).await,
        }
    }

    /// Closes the streaming cursor, reading the rest of its result from the backend and dropping it.
    async fn drop_cursor(&mut self, id: u32) -> Result<(), crate::Error> {
        self.statements.streaming = None;
        if let Ok(prepared) = self.statements.get_mut(id, "mysqld_stmt_close") {
            prepared.cursor = None;
        }
        QueryResult::<'_, '_, BinaryProtocol>::new(&mut self.conn)
            .drop_result()
            .await?;
        self.status = relay::backend_status(&self.conn);
        Ok(())
    }

    /// Reads the rest of the streaming cursor's result into memory, up to `cursor_buffer_bytes`.
    async fn buffer_cursor(&mut self, id: u32) -> Result<(), crate::Error> {
        let limit = self.state.config.cursor_buffer_bytes;
        self.statements.streaming = None;
        let cursor = self
            .statements
            .get_mut(id, "mysqld_stmt_fetch")
            .ok()
            .and_then(|prepared| prepared.cursor.as_mut());
        let Some(cursor) = cursor else {
            return self.drop_cursor(id).await;
        };
        let mut result = QueryResult::<'_, '_, BinaryProtocol>::new(&mut self.conn);
        loop {
            match result.next().await {
                Ok(Some(row)) => {
                    let size = row_size(&row);
                    if cursor.bytes + size > limit {
                        debug!(
                            statement = id,
                            limit, "cursor rows over cursor_buffer_bytes"
                        );
                        cursor.rows.clear();
                        cursor.bytes = 0;
                        cursor.failure = Some(Error::CursorBufferFull { id, limit }.into());
                        result.drop_result().await?;
                        break;
                    }
                    cursor.bytes += size;
                    cursor.rows.push_back(row);
                }
                Ok(None) => {
                    cursor.warnings = result.warnings();
                    break;
                }
                Err(e) => {
                    // The command that needed the connection goes on; the cursor reports the failure instead.
                    cursor.rows.clear();
                    cursor.bytes = 0;
                    cursor.failure = Some(e.into());
                    break;
                }
            }
        }
        self.status = relay::backend_status(&self.conn);
        Ok(())
    }
}
