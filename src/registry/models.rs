//! Model rows in `stardust_models`, inside the caller's transaction.

use mysql_async::prelude::Queryable;
use mysql_async::Transaction;

use crate::backend;

/// MySQL's duplicate-key errno: the (tenant, name) pair is taken.
pub const DUPLICATE: u16 = 1062;

/// Inserts a model; `Ok(None)` when the tenant already has one of that name.
pub async fn insert(
    tx: &mut Transaction<'_>,
    tenant: u64,
    name: &str,
) -> Result<Option<i64>, backend::Error> {
    let inserted = tx
        .exec_drop(
            "INSERT INTO stardust_models (tenant_id, name, created_at) VALUES (?, ?, UTC_TIMESTAMP())",
            (tenant, name),
        )
        .await;
    match inserted {
        Err(mysql_async::Error::Server(e)) if e.code == DUPLICATE => Ok(None),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(Some(tx.last_insert_id().unwrap_or(0) as i64)),
    }
}

/// Renames a model; `Ok(false)` when the new name is taken.
pub async fn rename(
    tx: &mut Transaction<'_>,
    model: i64,
    name: &str,
) -> Result<bool, backend::Error> {
    let renamed = tx
        .exec_drop(
            "UPDATE stardust_models SET name = ? WHERE id = ?",
            (name, model),
        )
        .await;
    match renamed {
        Err(mysql_async::Error::Server(e)) if e.code == DUPLICATE => Ok(false),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(true),
    }
}

/// Deletes a model and (by cascade) its fields; their slots must already be tombstoned.
pub async fn delete(tx: &mut Transaction<'_>, model: i64) -> Result<(), backend::Error> {
    tx.exec_drop("DELETE FROM stardust_models WHERE id = ?", (model,))
        .await?;
    Ok(())
}
