//! The Reconciler's sync-queue drain: entries written while one of their filterable fields had no live slot
//! (`stardust_sync_queue`) are projected into slots once the field has one — reserving it first, as
//! `assigned`, when a free indexed slot of its family exists. An entry that cannot be projected (its row is
//! gone, or a value does not fit its slot) is moved to the dead-letter queue, `stardust_reconciler_dlq`, in
//! the same transaction, so it never blocks the queue; `replay` puts it back once fixed.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Params, TxOpts};

use super::Tick;
use crate::backend::{self, Backend};
use crate::catalog::{SlotStatus, TenantCatalog};
use crate::registry::{self, slots};
use crate::write::slot_expression;

/// Queue rows per tick by default (StarDust's `reconcilerChunkSize`), one transaction.
pub const CHUNK: u64 = 500;

/// Drains up to [`CHUNK`] queue rows.
pub async fn tick(backend: &Backend) -> Result<Tick, backend::Error> {
    tick_chunk(backend, CHUNK).await
}

/// Drains up to `chunk` queue rows in one transaction.
pub async fn tick_chunk(backend: &Backend, chunk: u64) -> Result<Tick, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let version = registry::version(&mut conn).await?;
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let claimed: Vec<(i64, u64)> = tx
        .query(format!(
            "SELECT id, entry_id FROM stardust_sync_queue ORDER BY id LIMIT {chunk} FOR UPDATE SKIP LOCKED"
        ))
        .await?;
    if claimed.is_empty() {
        return Ok(Tick::Idle);
    }
    let correlation = uuid::Uuid::new_v4().to_string();
    tracing::debug!(
        event = "chunk_claimed",
        queue = "sync_queue",
        rows_claimed = claimed.len(),
        chunk_correlation_id = correlation.as_str(),
        "sync queue chunk claimed"
    );
    let entry_ids: Vec<String> = claimed.iter().map(|(_, entry)| entry.to_string()).collect();
    let owners: BTreeMap<u64, (u64, i64)> = tx
        .query::<(u64, u64, i64), _>(format!(
            "SELECT id, tenant_id, model_id FROM entry_data WHERE id IN ({})",
            entry_ids.join(", ")
        ))
        .await?
        .into_iter()
        .map(|(id, tenant, model)| (id, (tenant, model)))
        .collect();
    let mut dead: Vec<Dead> = Vec::new();
    let mut by_model: BTreeMap<(u64, i64), Vec<u64>> = BTreeMap::new();
    for (_, entry) in &claimed {
        match owners.get(entry) {
            Some((tenant, model)) => by_model.entry((*tenant, *model)).or_default().push(*entry),
            None => dead.push(Dead {
                entry: *entry,
                owner: (0, 0),
                reason: "missing_entry_data",
                message: "the entry's row in entry_data is gone".to_string(),
            }),
        }
    }
    let mut catalogs: BTreeMap<u64, TenantCatalog> = BTreeMap::new();
    let mut reserved = false;
    for ((tenant, model_id), entries) in &by_model {
        if !catalogs.contains_key(tenant) {
            catalogs.insert(*tenant, registry::load(&mut tx, *tenant, version).await?);
        }
        let Some(model) = catalogs[tenant]
            .models
            .values()
            .find(|m| m.id == *model_id)
            .cloned()
        else {
            continue;
        };
        let ids: Vec<String> = entries.iter().map(u64::to_string).collect();
        for field in &model.fields {
            let Some(family) = field.family.filter(|_| field.filterable) else {
                continue;
            };
            let slot = match &field.slot {
                Some(slot) => Some((slot.table.clone(), slot.column.clone())),
                None => {
                    let claimed =
                        slots::reserve(&mut tx, model.id, field.id, family, SlotStatus::Assigned)
                            .await?;
                    reserved |= claimed.is_some();
                    claimed.map(|c| (crate::registry::pages::table_name(c.page), c.column))
                }
            };
            let Some((table, column)) = slot else {
                // No free indexed slot of the family: the entries stay queued until the Watcher adds a page.
                tx.rollback().await?;
                tracing::info!(
                    event = "capacity_wait",
                    queue = "sync_queue",
                    field = field.id,
                    "no slot yet"
                );
                return Ok(Tick::Idle);
            };
            let value = slot_expression(field, family);
            let project = |ids: &str| {
                format!(
                    "INSERT INTO `{table}` (entry_id, tenant_id, {column}) SELECT e.id, e.tenant_id, {value} \
                     FROM entry_data e WHERE e.tenant_id = {tenant} AND e.id IN ({ids}) AND e.deleted_at IS NULL \
                     ON DUPLICATE KEY UPDATE {column} = VALUES({column})"
                )
            };
            if super::attempt(
                &mut tx,
                "stardust_chunk",
                &project(&ids.join(", ")),
                Params::Empty,
            )
            .await?
            .is_none()
            {
                continue;
            }
            // A value that does not fit the slot: find the entries it is in, one by one.
            for entry in entries {
                if dead.iter().any(|d| d.entry == *entry) {
                    continue;
                }
                let sql = project(&entry.to_string());
                let Some(e) =
                    super::attempt(&mut tx, "stardust_entry", &sql, Params::Empty).await?
                else {
                    continue;
                };
                dead.push(Dead {
                    entry: *entry,
                    owner: (*tenant, *model_id),
                    reason: "schema_incompatibility",
                    message: format!("field {}: {e}", field.name),
                });
            }
        }
    }
    for d in &dead {
        tx.exec_drop(
            "INSERT INTO stardust_reconciler_dlq (source, entry_id, tenant_id, model_id, reason, error_message, \
             failed_at, chunk_correlation_id) VALUES ('sync_queue', ?, ?, ?, ?, ?, UTC_TIMESTAMP(), ?)",
            (d.entry, d.owner.0, d.owner.1, d.reason, &d.message, &correlation),
        )
        .await?;
    }
    let queue_ids: Vec<String> = claimed.iter().map(|(id, ..)| id.to_string()).collect();
    tx.query_drop(format!(
        "DELETE FROM stardust_sync_queue WHERE id IN ({})",
        queue_ids.join(", ")
    ))
    .await?;
    if reserved {
        registry::bump(&mut tx).await?;
    }
    tx.commit().await?;
    for d in &dead {
        tracing::warn!(
            event = "dlq_inserted",
            dlq_source = "sync_queue",
            entry_id = d.entry,
            tenant = d.owner.0,
            model = d.owner.1,
            reason = d.reason,
            error = d.message.as_str(),
            chunk_correlation_id = correlation.as_str(),
            "entry moved to the dead-letter queue"
        );
    }
    if dead.is_empty() {
        tracing::debug!(
            event = "chunk_complete",
            queue = "sync_queue",
            rows_processed = claimed.len(),
            chunk_correlation_id = correlation.as_str(),
            "queue drained"
        );
    } else {
        tracing::info!(
            event = "chunk_partial",
            queue = "sync_queue",
            rows_processed = claimed.len(),
            rows_dlq = dead.len(),
            chunk_correlation_id = correlation.as_str(),
            "queue drained; some entries dead-lettered"
        );
    }
    Ok(Tick::Worked)
}

/// A queued entry that cannot be projected.
struct Dead {
    entry: u64,
    /// Tenant and model, 0 when the entry is gone.
    owner: (u64, i64),
    /// One of the DLQ's reasons.
    reason: &'static str,
    message: String,
}

/// Puts dead-lettered entries back on the sync queue (after their cause is fixed): the DLQ rows with `id`, or
/// all with `reason`, restricted to `tenant` when given. Returns the entries re-queued; rows of a bulk import
/// (no entry) are removed without one. `None` when no row matched.
pub async fn replay(
    backend: &Backend,
    selector: Replay<'_>,
    tenant: Option<u64>,
) -> Result<Option<Vec<u64>>, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let (filter, value): (&str, mysql_async::Value) = match selector {
        Replay::Id(id) => ("id = ?", id.into()),
        Replay::Reason(reason) => ("reason = ?", reason.into()),
    };
    let tenant_filter = tenant.map_or(String::new(), |t| format!(" AND tenant_id = {t}"));
    let rows: Vec<(i64, Option<u64>)> = tx
        .exec(
            format!("SELECT id, entry_id FROM stardust_reconciler_dlq WHERE {filter}{tenant_filter} ORDER BY id FOR UPDATE"),
            (value,),
        )
        .await?;
    let mut requeued = Vec::new();
    for (id, entry) in &rows {
        if let Some(entry) = entry {
            tx.exec_drop(
                "INSERT IGNORE INTO stardust_sync_queue (entry_id, created_at) VALUES (?, UTC_TIMESTAMP())",
                (entry,),
            )
            .await?;
            requeued.push(*entry);
        }
        tx.exec_drop("DELETE FROM stardust_reconciler_dlq WHERE id = ?", (id,))
            .await?;
    }
    tx.commit().await?;
    Ok((!rows.is_empty()).then_some(requeued))
}

/// Which dead letters to replay.
#[derive(Debug, Clone, Copy)]
pub enum Replay<'a> {
    Id(i64),
    Reason(&'a str),
}
