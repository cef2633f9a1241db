//! The Liberator: a `tombstoned` slot's values are nulled in chunks (cursor in `sweep_cursor_id`), then the slot
//! is `free` again, so a dropped or retyped field's old values can never show through the field that reuses it.
//! A singleton across instances: it works only while it holds a `GET_LOCK`.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, TxOpts};
use tokio::sync::Mutex;

use super::Tick;
use crate::backend::{self, Backend};
use crate::registry;

pub const LOCK: &str = "stardust_liberator";
/// Page rows nulled per chunk, each chunk one transaction.
pub const CHUNK: u64 = 1000;

/// The Liberator and the connection holding its singleton lock, if it has won it.
#[derive(Clone)]
pub struct Liberator {
    backend: Backend,
    holder: Arc<Mutex<Option<Conn>>>,
}

impl Liberator {
    pub fn new(backend: Backend) -> Liberator {
        Liberator {
            backend,
            holder: Arc::new(Mutex::new(None)),
        }
    }

    /// Sweeps one chunk of the oldest tombstoned slot, if this instance holds the lock.
    pub async fn tick(&self) -> Result<Tick, backend::Error> {
        if !self.hold_lock().await? {
            return Ok(Tick::Idle);
        }
        sweep(&self.backend).await
    }

    /// Takes the singleton lock on a connection of its own, kept while the Liberator lives.
    async fn hold_lock(&self) -> Result<bool, backend::Error> {
        let mut holder = self.holder.lock().await;
        if let Some(conn) = holder.as_mut() {
            let still: Option<Option<i64>> = conn
                .exec_first("SELECT IS_USED_LOCK(?) = CONNECTION_ID()", (LOCK,))
                .await?;
            if still.flatten() == Some(1) {
                return Ok(true);
            }
        }
        let mut conn = self.backend.conn(false).await?;
        let got: Option<Option<i64>> = conn.exec_first("SELECT GET_LOCK(?, 0)", (LOCK,)).await?;
        if got.flatten() == Some(1) {
            *holder = Some(conn);
            return Ok(true);
        }
        Ok(false)
    }
}

/// One chunk of the oldest tombstoned slot, or its release once nothing is left in it.
pub async fn sweep(backend: &Backend) -> Result<Tick, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let next: Option<Row> = conn
        .query_first(
            "SELECT a.id, p.table_name, a.slot_column, COALESCE(a.sweep_cursor_id, 0) \
             FROM stardust_slot_assignments a JOIN stardust_pages p ON p.id = a.page_id \
             WHERE a.status = 'tombstoned' ORDER BY a.tombstoned_at, a.id LIMIT 1",
        )
        .await?;
    let Some(row) = next else {
        return Ok(Tick::Idle);
    };
    let slot: i64 = row.get(0).unwrap_or_default();
    let table: String = row.get(1).unwrap_or_default();
    let column: String = row.get(2).unwrap_or_default();
    let cursor: u64 = row.get(3).unwrap_or_default();
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let ids: Vec<u64> = tx
        .exec(
            format!(
                "SELECT entry_id FROM `{table}` WHERE entry_id > ? AND {column} IS NOT NULL \
                 ORDER BY entry_id LIMIT {CHUNK} FOR UPDATE"
            ),
            (cursor,),
        )
        .await?;
    match ids.last() {
        None => {
            tx.exec_drop(
                "UPDATE stardust_slot_assignments SET status = 'free', field_id = NULL, sweep_cursor_id = NULL, \
                 tombstoned_at = NULL, sweep_gap_count = 0 WHERE id = ? AND status = 'tombstoned'",
                (slot,),
            )
            .await?;
            registry::bump(&mut tx).await?;
            tx.commit().await?;
            tracing::info!(event = "sweep_complete", slot, "slot swept and freed");
        }
        Some(&last) => {
            let first = ids[0];
            tx.exec_drop(
                format!(
                    "UPDATE `{table}` SET {column} = NULL WHERE entry_id BETWEEN ? AND ? AND {column} IS NOT NULL"
                ),
                (first, last),
            )
            .await?;
            tx.exec_drop(
                "UPDATE stardust_slot_assignments SET sweep_cursor_id = ? WHERE id = ? AND status = 'tombstoned'",
                (last, slot),
            )
            .await?;
            tx.commit().await?;
            tracing::debug!(
                event = "sweep_chunk",
                slot,
                cursor = last,
                rows = ids.len(),
                "slot chunk nulled"
            );
        }
    }
    Ok(Tick::Worked)
}
