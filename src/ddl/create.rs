//! `CREATE TABLE [IF NOT EXISTS] model_x (col TYPE …, INDEX (col), KEY name (col))`: registers the model and its
//! fields; each indexed column gets a slot at once (a new model has no rows, so there is nothing to backfill).

use sqlparser::ast::{ColumnDef, CreateTable, Expr, IndexColumn, TableConstraint};

use super::names::{validate_field_name, validate_model_table};
use super::shape::{check_options, family_of, probe};
use super::{Error, Target};
use crate::catalog::{Family, SlotStatus};
use crate::registry::pages::{ensure_capacity, provision_more, Demand};
use crate::registry::{self, fields, models, slots, Registry};

/// Reservation races with other instances can exhaust a just-provisioned page; try this many times.
pub(super) const ATTEMPTS: usize = 8;

/// A column with what the DDL says about it.
struct Planned<'a> {
    column: &'a ColumnDef,
    family: Option<Family>,
    index_name: Option<String>,
}

pub async fn create_table(
    registry: &Registry,
    target: Target<'_>,
    create: &CreateTable,
) -> Result<u64, Error> {
    let table = create.name.to_string().replace('`', "");
    let table = table.rsplit('.').next().unwrap_or(&table).to_string();
    let model = validate_model_table(&table)?;
    refuse_table_options(create)?;
    let mut planned = plan_columns(&create.columns)?;
    for constraint in &create.constraints {
        apply_constraint(&mut planned, constraint)?;
    }
    let catalog = registry.snapshot(target.tenant).await?;
    if catalog.models.contains_key(&model) {
        return existing(create.if_not_exists, &table);
    }
    let columns: Vec<&ColumnDef> = planned.iter().map(|p| p.column).collect();
    let shapes = if columns.is_empty() {
        Vec::new()
    } else {
        probe(registry.backend(), &columns).await?
    };
    let mut demand = Demand::new();
    for p in planned.iter().filter(|p| p.index_name.is_some()) {
        if let Some(family) = p.family {
            *demand.entry(family).or_default() += 1;
        }
    }
    for _ in 0..ATTEMPTS {
        ensure_capacity(registry.backend(), &demand, target.instance).await?;
        match register(registry, target, &model, &planned, &shapes).await {
            Ok(Some(())) => return Ok(0),
            Ok(None) => provision_more(registry.backend(), &demand, target.instance).await?,
            Err(Error::TableExists(_)) => return existing(create.if_not_exists, &table),
            Err(e) if retryable(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Err(exhausted())
}

/// One attempt at registering the model in a transaction; `None` when a slot could not be had.
async fn register(
    registry: &Registry,
    target: Target<'_>,
    model: &str,
    planned: &[Planned<'_>],
    shapes: &[crate::catalog::ColumnShape],
) -> Result<Option<()>, Error> {
    let mut conn = registry.backend().conn(false).await?;
    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    let Some(model_id) = models::insert(&mut tx, target.tenant, model).await? else {
        return Err(Error::TableExists(model.to_string()));
    };
    for (ordinal, (p, shape)) in planned.iter().zip(shapes).enumerate() {
        let new = fields::NewField {
            model: model_id,
            ordinal: ordinal as u32 + 1,
            name: &p.column.name.value,
            family: p.family,
            filterable: p.index_name.is_some(),
            index_name: p.index_name.as_deref(),
            shape,
        };
        let field = fields::insert(&mut tx, &new).await?;
        if let (Some(family), Some(_)) = (p.family, &p.index_name) {
            if slots::reserve(&mut tx, model_id, field, family, SlotStatus::Assigned)
                .await?
                .is_none()
            {
                return Ok(None);
            }
        }
    }
    registry::bump(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(()))
}

/// Deadlocks and lock-wait timeouts between concurrent DDL are worth another attempt.
pub(super) fn retryable(error: &Error) -> bool {
    matches!(
        error,
        Error::Backend(crate::backend::Error::Server(e)) if e.code == 1213 || e.code == 1205
    )
}

pub(super) fn exhausted() -> Error {
    Error::Backend(crate::backend::Error::Busy(
        "other instances took every new slot while this DDL ran; run it again".to_string(),
    ))
}

/// `CREATE TABLE IF NOT EXISTS` of an existing model succeeds and changes nothing, as in MySQL.
fn existing(if_not_exists: bool, table: &str) -> Result<u64, Error> {
    if if_not_exists {
        Ok(0)
    } else {
        Err(Error::TableExists(table.to_string()))
    }
}

fn refuse_table_options(create: &CreateTable) -> Result<(), Error> {
    let refused = if create.query.is_some() {
        Some("CREATE TABLE … AS SELECT (create the model, then INSERT … SELECT)")
    } else if create.like.is_some() || create.clone.is_some() {
        Some("CREATE TABLE … LIKE (declare the columns)")
    } else if create.temporary {
        Some("CREATE TEMPORARY TABLE (models are permanent)")
    } else if create.partition_by.is_some() {
        Some("PARTITION BY (StarDust lays out the storage itself)")
    } else {
        None
    };
    match refused {
        Some(what) => Err(Error::NotSupported(format!(
            "{what} is not supported for model tables"
        ))),
        None => Ok(()),
    }
}

fn plan_columns(columns: &[ColumnDef]) -> Result<Vec<Planned<'_>>, Error> {
    let mut planned: Vec<Planned<'_>> = Vec::with_capacity(columns.len());
    for column in columns {
        let name = &column.name.value;
        validate_field_name(name)?;
        if planned
            .iter()
            .any(|p| p.column.name.value.eq_ignore_ascii_case(name))
        {
            return Err(Error::DuplicateColumn(name.clone()));
        }
        check_options(column)?;
        let family = family_of(column)?;
        planned.push(Planned {
            column,
            family,
            index_name: None,
        });
    }
    Ok(planned)
}

/// Applies `INDEX`/`KEY` to its column; refuses keys and constraints a model cannot honour.
fn apply_constraint(
    planned: &mut [Planned<'_>],
    constraint: &TableConstraint,
) -> Result<(), Error> {
    let TableConstraint::Index(index) = constraint else {
        return Err(Error::NotSupported(format!(
            "{} is not supported on model tables: they take plain INDEX/KEY on one column each \
             (the primary key is `id`; no UNIQUE, FOREIGN KEY or CHECK)",
            constraint
                .to_string()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        )));
    };
    let column = single_column(&index.columns)?;
    let position = planned
        .iter()
        .position(|p| p.column.name.value.eq_ignore_ascii_case(&column))
        .ok_or_else(|| Error::NoKeyColumn(column.clone()))?;
    let name = index
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| column.clone());
    if planned.iter().any(|p| {
        p.index_name
            .as_deref()
            .is_some_and(|i| i.eq_ignore_ascii_case(&name))
    }) {
        return Err(Error::DuplicateKey(name));
    }
    let target = &mut planned[position];
    check_indexable(&column, target.family, target.index_name.is_some())?;
    target.index_name = Some(name);
    Ok(())
}

/// A column takes an index only if it has a slot family (not JSON) and no index yet.
pub(super) fn check_indexable(
    column: &str,
    family: Option<Family>,
    indexed: bool,
) -> Result<(), Error> {
    if family.is_none() {
        return Err(Error::NotSupported(format!(
            "column `{column}` is JSON, which cannot be indexed; index a scalar column instead"
        )));
    }
    if indexed {
        return Err(Error::NotSupported(format!(
            "column `{column}` has an index already; a model field takes one index"
        )));
    }
    Ok(())
}

/// The one column an index covers; multi-column and expression indexes are refused.
pub(super) fn single_column(columns: &[IndexColumn]) -> Result<String, Error> {
    match columns {
        [only] => match &only.column.expr {
            Expr::Identifier(ident) => Ok(ident.value.clone()),
            other => Err(Error::NotSupported(format!(
                "an index on the expression {other} is not supported; index a column"
            ))),
        },
        _ => Err(Error::NotSupported(
            "an index on several columns is not supported on model tables: index each column on its own".to_string(),
        )),
    }
}
