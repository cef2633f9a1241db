//! `DELETE FROM model_x WHERE … [ORDER BY …] [LIMIT n]`: a soft delete — the entries get `deleted_at` and vanish
//! from every read; their payloads stay, as StarDust's system of record, and their page rows go in the same
//! transaction (the page invariant: a slot holds a value only for a live entry, so a page's index alone can
//! answer a filter).

use std::collections::BTreeSet;

use mysql_async::Conn;

use super::insert::CHUNK;
use super::{Error, Written};
use crate::catalog::Model;

/// `selection` is the rewritten SELECT of the ids of the rows to delete. Two round trips: the unit's opening with
/// the entries' lock, then the soft delete, the page rows' delete and the unit's closing.
pub async fn delete(
    conn: &mut Conn,
    model: &Model,
    tenant: u64,
    selection: super::Selection<'_>,
    mut unit: super::Unit,
) -> Result<Written, Error> {
    let deleted = run(conn, &mut unit, model, tenant, selection).await;
    unit.finish(conn, deleted).await
}

async fn run(
    conn: &mut Conn,
    unit: &mut super::Unit,
    model: &Model,
    tenant: u64,
    selection: super::Selection<'_>,
) -> Result<Written, Error> {
    let mut locking = unit.opening();
    locking.extend(super::lock_statements(tenant, selection));
    locking.push(super::LOCKED_IDS.to_string());
    let reported = super::batch(conn, &locking)
        .await
        .map_err(|e| unit.moved(e))?;
    let ids: Vec<u64> = reported
        .last()
        .map(|r| r.rows.iter().filter_map(|row| row.get(0)).collect())
        .unwrap_or_default();
    let pages = pages(model);
    let mut written = Written::default();
    let chunks = ids.len().div_ceil(CHUNK);
    for (n, chunk) in ids.chunks(CHUNK).enumerate() {
        let list = chunk
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut statements = vec![format!(
            "UPDATE entry_data FORCE INDEX (PRIMARY) SET deleted_at = UTC_TIMESTAMP() \
             WHERE tenant_id = {tenant} AND model_id = {} AND deleted_at IS NULL AND id IN ({list})",
            model.id
        )];
        // A page row holds only its own entry's values, so the whole row goes; an entry never comes back to
        // life, and a page row is not required to exist (reads join pages by entry). Through the primary key
        // (the multi-table form is the one that takes an index hint): read through a `(tenant_id, slot)` index,
        // the delete would lock the gaps there and hold up other sessions' INSERTs until the transaction ends.
        for table in &pages {
            statements.push(format!(
                "DELETE p FROM `{table}` AS p FORCE INDEX (PRIMARY) \
                 WHERE p.tenant_id = {tenant} AND p.entry_id IN ({list})"
            ));
        }
        if n + 1 == chunks {
            statements.push(unit.closing().to_string());
        }
        let reported = super::batch(conn, &statements).await?;
        written.affected_rows += reported[0].affected_rows;
    }
    Ok(written)
}

/// The pages the model's fields have slots on, in any state: the only pages its entries have values on, apart
/// from tombstoned slots, which the Liberator nulls before they are used again.
fn pages(model: &Model) -> BTreeSet<&str> {
    model
        .fields
        .iter()
        .filter_map(|f| f.slot.as_ref().map(|s| s.table.as_str()))
        .collect()
}
