//! `DROP TABLE [IF EXISTS] model_x, …` and `RENAME TABLE model_a TO model_b, …`. Dropping tombstones every live
//! slot of the model (the Liberator sweeps them) and deletes its registry rows; its entries become unreachable,
//! since a new model of the same name gets a new id.

use sqlparser::ast::{ObjectName, RenameTable};

use super::names::validate_model_table;
use super::{Error, Target};
use crate::catalog::TABLE_PREFIX;
use crate::registry::{self, fields, models, slots, Registry};

fn last(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.clone())
        .unwrap_or_default()
}

pub async fn drop_tables(
    registry: &Registry,
    target: Target<'_>,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<u64, Error> {
    let catalog = registry.snapshot(target.tenant).await?;
    let mut doomed = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        let table = last(name);
        match catalog.model_for_table(&table) {
            Some(model) => doomed.push(model.clone()),
            None => missing.push(format!("{}.{table}", target.database)),
        }
    }
    if !missing.is_empty() && !if_exists {
        // MySQL names every missing table and drops none of them.
        return Err(Error::UnknownTable(missing.join(",")));
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    let mut conn = registry.backend().conn(false).await?;
    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    for model in &doomed {
        for field in &model.fields {
            slots::tombstone(&mut tx, field.id).await?;
            fields::delete(&mut tx, field.id).await?;
        }
        models::delete(&mut tx, model.id).await?;
    }
    registry::bump(&mut tx).await?;
    tx.commit().await?;
    Ok(0)
}

pub async fn rename_tables(
    registry: &Registry,
    target: Target<'_>,
    renames: &[RenameTable],
) -> Result<u64, Error> {
    let catalog = registry.snapshot(target.tenant).await?;
    let mut plan = Vec::with_capacity(renames.len());
    for rename in renames {
        let (old, new) = (last(&rename.old_name), last(&rename.new_name));
        let model = catalog
            .model_for_table(&old)
            .ok_or_else(|| Error::NoSuchTable {
                database: target.database.to_string(),
                table: old.clone(),
            })?;
        plan.push((model.id, validate_model_table(&new)?));
    }
    let mut conn = registry.backend().conn(false).await?;
    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    for (model, name) in &plan {
        if !models::rename(&mut tx, *model, name).await? {
            tx.rollback().await?;
            return Err(Error::TableExists(format!("{TABLE_PREFIX}{name}")));
        }
    }
    registry::bump(&mut tx).await?;
    tx.commit().await?;
    Ok(0)
}
