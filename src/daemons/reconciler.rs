//! The Reconciler's backfill: a `backfilling` slot (a promoted or retyped field) is filled from the JSON in
//! chunks, its cursor in `backfill_checkpoints`, then becomes `ready`. Workers on any number of instances claim
//! slots with `FOR UPDATE SKIP LOCKED`, so each chunk is done once.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};

use super::Tick;
use crate::backend::{self, Backend};
use crate::catalog::{ColumnShape, Family, Field};
use crate::registry;
use crate::write::slot_expression;

/// Entries per chunk by default (StarDust's `reconcilerChunkSize`), each chunk one transaction.
pub const CHUNK: u64 = 500;

/// Claims one backfilling slot, locking its row only: read in the order of the status index, so the scan stops
/// at the first row no other worker holds, and workers on other instances take other slots. (Locking a join
/// would lock the page and model rows the slots share, leaving every other worker idle.)
pub const CLAIM: &str =
    "SELECT id FROM stardust_slot_assignments FORCE INDEX (ix_slot_assignments_status_type) \
    WHERE status = 'backfilling' ORDER BY status, slot_type, id LIMIT 1 FOR UPDATE SKIP LOCKED";

/// What the claimed slot belongs to.
const SLOT: &str =
    "SELECT a.id, a.slot_column, p.table_name, f.id, f.declared_type, m.tenant_id, m.id \
    FROM stardust_slot_assignments a \
    JOIN stardust_pages p ON p.id = a.page_id \
    JOIN stardust_fields f ON f.id = a.live_field_id \
    JOIN stardust_models m ON m.id = f.model_id \
    WHERE a.id = ?";

/// Backfills one chunk of [`CHUNK`] entries of one `backfilling` slot.
pub async fn tick(backend: &Backend) -> Result<Tick, backend::Error> {
    tick_chunk(backend, CHUNK).await
}

/// Backfills one chunk of `chunk` entries of one `backfilling` slot.
pub async fn tick_chunk(backend: &Backend, chunk: u64) -> Result<Tick, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let claimed: Option<i64> = tx.query_first(CLAIM).await?;
    let Some(claimed) = claimed else {
        return Ok(Tick::Idle);
    };
    let row: Option<Row> = tx.exec_first(SLOT, (claimed,)).await?;
    let Some(row) = row else {
        return Ok(Tick::Idle);
    };
    let slot: i64 = row.get(0).unwrap_or_default();
    let column: String = row.get(1).unwrap_or_default();
    let table: String = row.get(2).unwrap_or_default();
    let field_id: i64 = row.get(3).unwrap_or_default();
    let declared: String = row.get(4).unwrap_or_default();
    let tenant: u64 = row.get(5).unwrap_or_default();
    let model: i64 = row.get(6).unwrap_or_default();
    let Some(family) = Family::from_declared(&declared) else {
        return Ok(Tick::Idle);
    };
    // One checkpoint per (slot, field): a later promotion of the same field starts over instead of colliding
    // with a finished job of the same name (digest §8.3 item 2).
    let job = format!("backfill_slot_{slot}_field_{field_id}");
    tx.exec_drop(
        "INSERT INTO backfill_checkpoints (job_name, last_processed_id, status, started_at, updated_at) \
         VALUES (?, 0, 'running', UTC_TIMESTAMP(), UTC_TIMESTAMP()) \
         ON DUPLICATE KEY UPDATE last_processed_id = IF(status = 'running', last_processed_id, 0), \
         status = 'running', updated_at = UTC_TIMESTAMP()",
        (&job,),
    )
    .await?;
    let cursor: u64 = tx
        .exec_first(
            "SELECT last_processed_id FROM backfill_checkpoints WHERE job_name = ?",
            (&job,),
        )
        .await?
        .unwrap_or(0);
    let last: Option<u64> = tx
        .exec_first(
            // Ordered as the index is, so the scan starts at the cursor: ordered by `id` alone, the optimizer
            // reads the model's entries from the first one on every chunk (quadratic over a backfill).
            "SELECT MAX(id) FROM (SELECT id FROM entry_data FORCE INDEX (ix_entry_data_tenant_model) \
             WHERE tenant_id = ? AND model_id = ? AND id > ? ORDER BY tenant_id, model_id, id LIMIT ?) AS chunk",
            (tenant, model, cursor, chunk),
        )
        .await?
        .flatten();
    let Some(last) = last else {
        finish(&mut tx, slot, &job).await?;
        tx.commit().await?;
        tracing::info!(
            event = "promote_to_ready",
            slot,
            field_id,
            "backfill complete; slot ready"
        );
        // Advice only: a failed sample does not undo the promotion.
        if let Err(e) = super::advisories::cardinality(backend, Some(slot), "post_backfill").await {
            tracing::warn!(error = %e, "cardinality sample failed");
        }
        if let Err(e) = super::advisories::spread(backend, Some(model), "post_relocation").await {
            tracing::warn!(error = %e, "spread sample failed");
        }
        return Ok(Tick::Worked);
    };
    let field = Field {
        id: field_id,
        name: String::new(),
        family: Some(family),
        filterable: true,
        index_name: None,
        ordinal: 0,
        shape: ColumnShape::default(),
        slot: None,
    };
    tracing::debug!(
        event = "chunk_claimed",
        queue = "retype_backfill",
        field_id,
        tenant,
        cursor,
        "backfill chunk claimed"
    );
    let value = slot_expression(&field, family);
    let project = format!(
        "INSERT INTO `{table}` (entry_id, tenant_id, {column}) \
         SELECT e.id, e.tenant_id, {value} FROM entry_data e \
         WHERE e.tenant_id = ? AND e.model_id = ? AND e.id > ? AND e.id <= ? AND e.deleted_at IS NULL \
         ON DUPLICATE KEY UPDATE {column} = VALUES({column})"
    );
    let mut nulled = Vec::new();
    let range = |from: u64, to: u64| (tenant, model, from, to).into();
    if super::attempt(&mut tx, "stardust_chunk", &project, range(cursor, last))
        .await?
        .is_some()
    {
        // Some value does not fit the slot (a 20-digit number for a BIGINT slot, a date that does not exist):
        // entry by entry, and each one that fails keeps its JSON but gets NULL in the slot.
        let ids: Vec<u64> = tx
            .exec(
                "SELECT id FROM entry_data WHERE tenant_id = ? AND model_id = ? AND id > ? AND id <= ? ORDER BY id",
                (tenant, model, cursor, last),
            )
            .await?;
        for id in ids {
            let Some(e) =
                super::attempt(&mut tx, "stardust_entry", &project, range(id - 1, id)).await?
            else {
                continue;
            };
            tx.exec_drop(
                format!(
                    "INSERT INTO `{table}` (entry_id, tenant_id, {column}) VALUES (?, ?, NULL) \
                     ON DUPLICATE KEY UPDATE {column} = NULL"
                ),
                (id, tenant),
            )
            .await?;
            nulled.push((id, e.to_string()));
        }
    }
    tx.exec_drop(
        "UPDATE backfill_checkpoints SET last_processed_id = ?, updated_at = UTC_TIMESTAMP() WHERE job_name = ?",
        (last, &job),
    )
    .await?;
    tx.commit().await?;
    for (entry_id, reason) in &nulled {
        tracing::warn!(
            event = "coercion_null",
            entry_id,
            field_id,
            target_type = declared.as_str(),
            reason = reason.as_str(),
            "value does not fit the slot: NULL in the slot, the JSON keeps it"
        );
    }
    tracing::debug!(
        event = "chunk_complete",
        queue = "retype_backfill",
        slot,
        cursor = last,
        coercion_nulls = nulled.len(),
        "backfill chunk"
    );
    Ok(Tick::Worked)
}

/// The last chunk is done: the slot becomes readable and filterable, and every instance learns it.
async fn finish(
    tx: &mut mysql_async::Transaction<'_>,
    slot: i64,
    job: &str,
) -> Result<(), backend::Error> {
    tx.exec_drop(
        "UPDATE stardust_slot_assignments SET status = 'ready' WHERE id = ? AND status = 'backfilling'",
        (slot,),
    )
    .await?;
    tx.exec_drop(
        "UPDATE backfill_checkpoints SET status = 'completed', completed_at = UTC_TIMESTAMP(), \
         updated_at = UTC_TIMESTAMP() WHERE job_name = ?",
        (job,),
    )
    .await?;
    registry::bump(tx).await
}
