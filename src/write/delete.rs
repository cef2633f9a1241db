//! `DELETE FROM model_x WHERE … [ORDER BY …] [LIMIT n]`: a soft delete — the entries get `deleted_at` and vanish
//! from every read; their payloads stay, as StarDust's system of record, and their page rows go in the same
//! transaction (the page invariant: a slot holds a value only for a live entry, so a page's index alone can
//! answer a filter).

use std::collections::BTreeSet;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};

use super::insert::CHUNK;
use super::{Error, Written};
use crate::catalog::Model;

/// `selection` is the rewritten SELECT of the ids of the rows to delete.
pub async fn delete(
    conn: &mut Conn,
    model: &Model,
    tenant: u64,
    selection: super::Selection<'_>,
    mut unit: super::Unit,
) -> Result<Written, Error> {
    unit.open(conn).await?;
    let deleted = run(conn, model, tenant, selection).await;
    unit.finish(conn, deleted).await
}

async fn run(
    conn: &mut Conn,
    model: &Model,
    tenant: u64,
    selection: super::Selection<'_>,
) -> Result<Written, Error> {
    let ids = super::lock_entries(conn, tenant, selection).await?;
    let pages = pages(model);
    let mut written = Written::default();
    for chunk in ids.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut params: Vec<Value> = vec![tenant.into(), model.id.into()];
        params.extend(chunk.iter().map(|id| Value::from(*id)));
        conn.exec_drop(
            format!(
                "UPDATE entry_data FORCE INDEX (PRIMARY) SET deleted_at = UTC_TIMESTAMP() \
                 WHERE tenant_id = ? AND model_id = ? AND deleted_at IS NULL AND id IN ({marks})"
            ),
            Params::Positional(params),
        )
        .await?;
        written.affected_rows += conn.affected_rows();
        // A page row holds only its own entry's values, so the whole row goes; an entry never comes back to
        // life, and a page row is not required to exist (reads join pages by entry). Through the primary key
        // (the multi-table form is the one that takes an index hint): read through a `(tenant_id, slot)` index,
        // the delete would lock the gaps there and hold up other sessions' INSERTs until the transaction ends.
        for table in &pages {
            let mut params: Vec<Value> = vec![tenant.into()];
            params.extend(chunk.iter().map(|id| Value::from(*id)));
            conn.exec_drop(
                format!(
                    "DELETE p FROM `{table}` AS p FORCE INDEX (PRIMARY) \
                     WHERE p.tenant_id = ? AND p.entry_id IN ({marks})"
                ),
                Params::Positional(params),
            )
            .await?;
        }
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
