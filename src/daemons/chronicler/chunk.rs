//! One export chunk read from the backend and rendered as its rows arrive, into one buffer.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::render::Renderer;
use crate::backend;
use crate::jobs::export::Format;

/// One chunk as file bytes.
pub(super) struct Chunk {
    pub(super) bytes: Vec<u8>,
    /// Rows written into `bytes`.
    pub(super) rows: u64,
    /// The last row's cursor, if any row came.
    pub(super) cursor: Option<u64>,
    /// Rows read, written or skipped (fewer than a page: the last chunk).
    pub(super) read: u64,
    /// Rows that could not be encoded: their entry id and why.
    pub(super) skipped: Vec<(u64, String)>,
}

/// Reads one chunk (at most a page) and renders its rows as they arrive, into one buffer: the preamble first if
/// the file is still empty; `first` if no row is in the file yet. The outer error is the backend's, the inner
/// one the renderer's.
pub(super) async fn read_chunk(
    conn: &mut Conn,
    sql: &str,
    format: Format,
    empty: bool,
    first: bool,
) -> Result<Result<Chunk, String>, backend::Error> {
    let mut result = conn.query_iter(sql).await?;
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    let mut renderer = Renderer::new(format, &columns);
    let mut chunk = Chunk {
        bytes: Vec::with_capacity(1 << 20),
        rows: 0,
        cursor: None,
        read: 0,
        skipped: Vec::new(),
    };
    let mut failed = None;
    if empty {
        if let Err(e) = renderer.preamble(&mut chunk.bytes) {
            failed = Some(e);
        }
    }
    while let Some(row) = result.next().await? {
        chunk.read += 1;
        let cursor = row
            .as_ref(row.len().saturating_sub(1))
            .and_then(|v| match v {
                mysql_async::Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
                mysql_async::Value::UInt(n) => Some(*n),
                mysql_async::Value::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            });
        chunk.cursor = cursor.or(chunk.cursor);
        if failed.is_some() {
            continue;
        }
        match renderer.row(&row, first && chunk.rows == 0, &mut chunk.bytes) {
            Ok(()) => chunk.rows += 1,
            Err(reason) => chunk.skipped.push((cursor.unwrap_or(0), reason)),
        }
    }
    if let Err(e) = renderer.finish(&mut chunk.bytes) {
        failed.get_or_insert(e);
    }
    Ok(match failed {
        Some(e) => Err(e),
        None => Ok(chunk),
    })
}
