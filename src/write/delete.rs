//! `DELETE FROM model_x WHERE … [ORDER BY …] [LIMIT n]`: a soft delete — the entries get `deleted_at` and vanish
//! from every read; their payloads stay, as StarDust's system of record.

use mysql_async::consts::StatusFlags;
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
    status: StatusFlags,
) -> Result<Written, Error> {
    let in_transaction = super::begin(conn, status).await?;
    let deleted = run(conn, model, tenant, selection).await;
    let deleted = super::finish(conn, in_transaction, deleted).await;
    deleted
}

async fn run(
    conn: &mut Conn,
    model: &Model,
    tenant: u64,
    selection: super::Selection<'_>,
) -> Result<Written, Error> {
    let ids = super::lock_entries(conn, tenant, selection).await?;
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
    }
    Ok(written)
}
