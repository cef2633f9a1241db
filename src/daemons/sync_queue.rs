//! The Reconciler's sync-queue drain: entries written while one of their filterable fields had no live slot
//! (`stardust_sync_queue`) are projected into slots once the field has one — reserving it first, as
//! `assigned`, when a free indexed slot of its family exists.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::TxOpts;

use super::Tick;
use crate::backend::{self, Backend};
use crate::catalog::{SlotStatus, TenantCatalog};
use crate::registry::{self, slots};
use crate::write::slot_expression;

/// Queue rows per tick, one transaction.
pub const CHUNK: usize = 200;

pub async fn tick(backend: &Backend) -> Result<Tick, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let version = registry::version(&mut conn).await?;
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let claimed: Vec<(i64, u64, u64, i64)> = tx
        .query(format!(
            "SELECT q.id, q.entry_id, e.tenant_id, e.model_id FROM stardust_sync_queue q \
             JOIN entry_data e ON e.id = q.entry_id ORDER BY q.id LIMIT {CHUNK} FOR UPDATE SKIP LOCKED"
        ))
        .await?;
    if claimed.is_empty() {
        return Ok(Tick::Idle);
    }
    let mut by_model: BTreeMap<(u64, i64), Vec<u64>> = BTreeMap::new();
    for (_, entry, tenant, model) in &claimed {
        by_model.entry((*tenant, *model)).or_default().push(*entry);
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
            tx.exec_drop(
                format!(
                    "INSERT INTO `{table}` (entry_id, tenant_id, {column}) SELECT e.id, e.tenant_id, {value} \
                     FROM entry_data e WHERE e.tenant_id = ? AND e.id IN ({}) \
                     ON DUPLICATE KEY UPDATE {column} = VALUES({column})",
                    ids.join(", ")
                ),
                (tenant,),
            )
            .await?;
        }
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
    tracing::debug!(
        event = "chunk_complete",
        queue = "sync_queue",
        entries = claimed.len(),
        "queue drained"
    );
    Ok(Tick::Worked)
}
