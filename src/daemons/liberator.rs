//! The Liberator: a `tombstoned` slot's values are nulled in chunks (cursor in `sweep_cursor_id`), then the slot
//! is `free` again, so a dropped or retyped field's old values can never show through the field that reuses it:
//! a slot is NULL in every row before it is assigned again (the page invariant).
//! A singleton across instances: it works only while it holds a `GET_LOCK`.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};

use super::{Singleton, Tick};
use crate::backend::{self, Backend};
use crate::registry;

pub const LOCK: &str = "stardust_liberator";
/// Page rows nulled per chunk, each chunk one transaction.
pub const CHUNK: u64 = 500;

/// The Liberator, working only where it holds its singleton lock.
#[derive(Clone)]
pub struct Liberator {
    backend: Backend,
    singleton: Singleton,
    chunk: u64,
}

impl Liberator {
    pub fn new(backend: Backend) -> Liberator {
        Liberator::with_chunk(backend, CHUNK)
    }

    /// A Liberator nulling `chunk` values per transaction.
    pub fn with_chunk(backend: Backend, chunk: u64) -> Liberator {
        Liberator {
            singleton: Singleton::new(backend.clone(), LOCK),
            backend,
            chunk,
        }
    }

    /// Sweeps one chunk of the oldest tombstoned slot, if this instance holds the lock.
    pub async fn tick(&self) -> Result<Tick, backend::Error> {
        if !self.singleton.hold().await? {
            return Ok(Tick::Idle);
        }
        sweep(&self.backend, self.chunk).await
    }
}

/// One chunk of the oldest tombstoned slot, or its release once nothing is left in it.
pub async fn sweep(backend: &Backend, chunk: u64) -> Result<Tick, backend::Error> {
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
    if cursor == 0 {
        tracing::info!(
            event = "sweep_started",
            slot,
            table = table.as_str(),
            column = column.as_str(),
            "sweeping a tombstoned slot"
        );
    }
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let ids: Vec<u64> = tx
        .exec(
            format!(
                "SELECT entry_id FROM `{table}` WHERE entry_id > ? AND {column} IS NOT NULL \
                 ORDER BY entry_id LIMIT {chunk} FOR UPDATE"
            ),
            (cursor,),
        )
        .await?;
    // The cursor only moves forward; a value written behind it (by a writer still holding an older catalog)
    // would outlive the sweep. Before the slot is freed, the whole column is checked once more.
    let behind: Option<u64> = match ids.last() {
        Some(_) => None,
        None => {
            tx.query_first(format!(
                "SELECT entry_id FROM `{table}` WHERE {column} IS NOT NULL ORDER BY entry_id LIMIT 1"
            ))
            .await?
        }
    };
    if let Some(first) = behind {
        tx.exec_drop(
            "UPDATE stardust_slot_assignments SET sweep_cursor_id = ? WHERE id = ? AND status = 'tombstoned'",
            (first - 1, slot),
        )
        .await?;
        tx.commit().await?;
        return Ok(Tick::Worked);
    }
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
