//! `ALTER TABLE model_x …` (ADD/DROP/MODIFY/CHANGE/RENAME COLUMN, ADD/DROP INDEX, RENAME TO) and
//! `CREATE INDEX … ON model_x` / `DROP INDEX … ON model_x`. The operations are checked in order against a
//! working copy of the model, then applied in one transaction: promotion and retype leave the new slot
//! `backfilling`, demotion and drop leave the old one `tombstoned`; the daemons finish both.

use sqlparser::ast::{
    AlterTable, AlterTableOperation, ColumnDef, ColumnOption, ColumnOptionDef, CreateIndex,
    DataType, Ident, ObjectName, RenameTableNameKind, TableConstraint,
};

use super::create::{check_indexable, exhausted, retryable, single_column, ATTEMPTS};
use super::names::{validate_field_name, validate_model_table};
use super::shape::{check_options, family_of, probe};
use super::{Error, Target};
use crate::catalog::{Family, Model, SlotStatus};
use crate::registry::pages::{ensure_capacity, provision_more, Demand};
use crate::registry::{self, fields, models, slots, Registry};

/// A field as the statement leaves it.
#[derive(Debug, Clone)]
struct Work {
    /// The existing field's id; `None` for a column this statement adds.
    id: Option<i64>,
    original_name: String,
    name: String,
    family: Option<Family>,
    original_family: Option<Family>,
    index_name: Option<String>,
    original_index: Option<String>,
    had_slot: bool,
    /// The new definition, for added and modified columns.
    definition: Option<ColumnDef>,
    dropped: bool,
}

struct Plan {
    fields: Vec<Work>,
    rename_to: Option<String>,
}

pub async fn alter_table(
    registry: &Registry,
    target: Target<'_>,
    alter: &AlterTable,
) -> Result<u64, Error> {
    let table = table_of(&alter.name);
    let model = find_model(registry, target, &table).await?;
    let mut plan = Plan::new(&model);
    for operation in &alter.operations {
        plan.apply(operation, &table)?;
    }
    apply(registry, target, &model, plan).await
}

pub async fn create_index(
    registry: &Registry,
    target: Target<'_>,
    index: &CreateIndex,
) -> Result<u64, Error> {
    let table = table_of(&index.table_name);
    let model = find_model(registry, target, &table).await?;
    let column = single_column(&index.columns)?;
    let name = index
        .name
        .as_ref()
        .map(table_of)
        .unwrap_or_else(|| column.clone());
    let mut plan = Plan::new(&model);
    plan.add_index(&column, name)?;
    apply(registry, target, &model, plan).await
}

pub async fn drop_index(
    registry: &Registry,
    target: Target<'_>,
    names: &[ObjectName],
    table: Option<&ObjectName>,
) -> Result<u64, Error> {
    let table = table
        .map(table_of)
        .ok_or_else(|| Error::NotSupported("DROP INDEX needs ON <table>".to_string()))?;
    let model = find_model(registry, target, &table).await?;
    let mut plan = Plan::new(&model);
    for name in names {
        plan.drop_index(&table_of(name))?;
    }
    apply(registry, target, &model, plan).await
}

fn table_of(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.clone())
        .unwrap_or_default()
}

pub(super) async fn find_model(
    registry: &Registry,
    target: Target<'_>,
    table: &str,
) -> Result<std::sync::Arc<Model>, Error> {
    let catalog = registry.snapshot(target.tenant).await?;
    catalog
        .model_for_table(table)
        .cloned()
        .ok_or_else(|| Error::NoSuchTable {
            database: target.database.to_string(),
            table: table.to_string(),
        })
}

impl Plan {
    fn new(model: &Model) -> Plan {
        let fields = model
            .fields
            .iter()
            .map(|f| Work {
                id: Some(f.id),
                original_name: f.name.clone(),
                name: f.name.clone(),
                family: f.family,
                original_family: f.family,
                index_name: f.index_name.clone(),
                original_index: f.index_name.clone(),
                had_slot: f.slot.is_some(),
                definition: None,
                dropped: false,
            })
            .collect();
        Plan {
            fields,
            rename_to: None,
        }
    }

    fn live(&mut self, name: &str) -> Option<&mut Work> {
        self.fields
            .iter_mut()
            .find(|w| !w.dropped && w.name.eq_ignore_ascii_case(name))
    }

    fn apply(&mut self, operation: &AlterTableOperation, table: &str) -> Result<(), Error> {
        use AlterTableOperation as Op;
        match operation {
            Op::AddColumn {
                column_def,
                if_not_exists,
                column_position,
                ..
            } => {
                refuse_position(column_position.is_some())?;
                if self.live(&column_def.name.value).is_some() {
                    return if *if_not_exists {
                        Ok(())
                    } else {
                        Err(Error::DuplicateColumn(column_def.name.value.clone()))
                    };
                }
                validate_field_name(&column_def.name.value)?;
                check_options(column_def)?;
                let family = family_of(column_def)?;
                self.fields.push(Work {
                    id: None,
                    original_name: column_def.name.value.clone(),
                    name: column_def.name.value.clone(),
                    family,
                    original_family: family,
                    index_name: None,
                    original_index: None,
                    had_slot: false,
                    definition: Some(column_def.clone()),
                    dropped: false,
                });
                Ok(())
            }
            Op::DropColumn {
                column_names,
                if_exists,
                ..
            } => {
                for name in column_names {
                    match self.live(&name.value) {
                        Some(work) => work.dropped = true,
                        None if *if_exists => {}
                        None => {
                            return Err(Error::CantDrop {
                                what: "COLUMN",
                                name: name.value.clone(),
                            })
                        }
                    }
                }
                Ok(())
            }
            Op::AddConstraint {
                constraint: TableConstraint::Index(index),
                ..
            } => {
                let column = single_column(&index.columns)?;
                let name = index
                    .name
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_else(|| column.clone());
                self.add_index(&column, name)
            }
            Op::DropIndex { name } => self.drop_index(&name.value),
            Op::ModifyColumn {
                col_name,
                data_type,
                options,
                column_position,
            } => {
                refuse_position(column_position.is_some())?;
                self.modify(col_name, col_name, data_type, options, table)
            }
            Op::ChangeColumn {
                old_name,
                new_name,
                data_type,
                options,
                column_position,
            } => {
                refuse_position(column_position.is_some())?;
                self.modify(old_name, new_name, data_type, options, table)
            }
            Op::RenameColumn {
                old_column_name,
                new_column_name,
            } => self.rename_column(&old_column_name.value, &new_column_name.value, table),
            Op::RenameTable {
                table_name: RenameTableNameKind::To(name) | RenameTableNameKind::As(name),
            } => {
                let new_table = table_of(name);
                self.rename_to = Some(validate_model_table(&new_table)?);
                Ok(())
            }
            other => Err(Error::NotSupported(format!(
                "ALTER TABLE … {} is not supported on model tables",
                other
                    .to_string()
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
        }
    }

    fn add_index(&mut self, column: &str, name: String) -> Result<(), Error> {
        let taken = self.fields.iter().any(|w| {
            !w.dropped
                && w.index_name
                    .as_deref()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&name))
        });
        if taken {
            return Err(Error::DuplicateKey(name));
        }
        let work = self
            .live(column)
            .ok_or_else(|| Error::NoKeyColumn(column.to_string()))?;
        check_indexable(column, work.family, work.index_name.is_some())?;
        work.index_name = Some(name);
        Ok(())
    }

    fn drop_index(&mut self, name: &str) -> Result<(), Error> {
        let work = self
            .fields
            .iter_mut()
            .find(|w| {
                !w.dropped
                    && w.index_name
                        .as_deref()
                        .is_some_and(|i| i.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| Error::CantDrop {
                what: "INDEX",
                name: name.to_string(),
            })?;
        work.index_name = None;
        Ok(())
    }

    fn modify(
        &mut self,
        old: &Ident,
        new: &Ident,
        data_type: &DataType,
        options: &[ColumnOption],
        table: &str,
    ) -> Result<(), Error> {
        let definition = ColumnDef {
            name: new.clone(),
            data_type: data_type.clone(),
            options: options
                .iter()
                .map(|o| ColumnOptionDef {
                    name: None,
                    option: o.clone(),
                })
                .collect(),
        };
        check_options(&definition)?;
        let family = family_of(&definition)?;
        if !old.value.eq_ignore_ascii_case(&new.value) {
            self.rename_column(&old.value, &new.value, table)?;
        }
        let work = self.live(&new.value).ok_or_else(|| Error::NoSuchColumn {
            column: old.value.clone(),
            table: table.to_string(),
        })?;
        if family.is_none() && work.index_name.is_some() {
            return Err(Error::NotSupported(format!(
                "column `{}` is indexed and cannot become JSON; DROP INDEX first",
                new.value
            )));
        }
        work.family = family;
        work.definition = Some(definition);
        Ok(())
    }

    fn rename_column(&mut self, old: &str, new: &str, table: &str) -> Result<(), Error> {
        validate_field_name(new)?;
        if !old.eq_ignore_ascii_case(new) && self.live(new).is_some() {
            return Err(Error::DuplicateColumn(new.to_string()));
        }
        let work = self.live(old).ok_or_else(|| Error::NoSuchColumn {
            column: old.to_string(),
            table: table.to_string(),
        })?;
        work.name = new.to_string();
        if let Some(definition) = work.definition.as_mut() {
            definition.name = Ident::new(new);
        }
        Ok(())
    }
}

fn refuse_position(given: bool) -> Result<(), Error> {
    if given {
        return Err(Error::NotSupported(
            "FIRST/AFTER column positions are not supported on model tables: new columns go last"
                .to_string(),
        ));
    }
    Ok(())
}

/// Whether the field ends with a slot it did not have (or must replace): the family of the slot to reserve.
fn wants_new_slot(work: &Work) -> Option<Family> {
    let needs = work.index_name.is_some() && !work.dropped;
    let family = work.family?;
    let retyped = work.had_slot && work.original_family != work.family;
    (needs && (!work.had_slot || retyped)).then_some(family)
}

fn loses_slot(work: &Work) -> bool {
    work.had_slot
        && (work.dropped || work.index_name.is_none() || work.original_family != work.family)
}

async fn apply(
    registry: &Registry,
    target: Target<'_>,
    model: &Model,
    plan: Plan,
) -> Result<u64, Error> {
    let definitions: Vec<&ColumnDef> = plan
        .fields
        .iter()
        .filter_map(|w| w.definition.as_ref())
        .collect();
    let mut shapes = if definitions.is_empty() {
        Vec::new()
    } else {
        probe(registry.backend(), &definitions).await?
    }
    .into_iter();
    let shaped: Vec<(Work, Option<crate::catalog::ColumnShape>)> = plan
        .fields
        .into_iter()
        .map(|w| {
            let shape = if w.definition.is_some() {
                shapes.next()
            } else {
                None
            };
            (w, shape)
        })
        .collect();
    let mut demand = Demand::new();
    for family in shaped.iter().filter_map(|(w, _)| wants_new_slot(w)) {
        *demand.entry(family).or_default() += 1;
    }
    let next_ordinal = model.fields.iter().map(|f| f.ordinal).max().unwrap_or(0) + 1;
    for _ in 0..ATTEMPTS {
        ensure_capacity(registry.backend(), &demand, target.instance).await?;
        match attempt(
            registry,
            model,
            &shaped,
            plan.rename_to.as_deref(),
            next_ordinal,
        )
        .await
        {
            Ok(Some(())) => return Ok(0),
            Ok(None) => provision_more(registry.backend(), &demand, target.instance).await?,
            Err(e) if retryable(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Err(exhausted())
}

/// One attempt at applying the plan in a transaction; `None` when a slot could not be had.
async fn attempt(
    registry: &Registry,
    model: &Model,
    shaped: &[(Work, Option<crate::catalog::ColumnShape>)],
    rename_to: Option<&str>,
    next_ordinal: u32,
) -> Result<Option<()>, Error> {
    let mut conn = registry.backend().conn(false).await?;
    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    let mut ordinal = next_ordinal;
    let mut reserved = Vec::new();
    for (work, shape) in shaped {
        if loses_slot(work) {
            slots::tombstone(&mut tx, work.id.unwrap_or_default()).await?;
        }
        let id = match (work.id, shape) {
            (Some(id), _) if work.dropped => {
                fields::delete(&mut tx, id).await?;
                continue;
            }
            (None, _) if work.dropped => continue,
            (None, Some(shape)) => {
                let new = fields::NewField {
                    model: model.id,
                    ordinal,
                    name: &work.name,
                    family: work.family,
                    filterable: work.index_name.is_some(),
                    index_name: work.index_name.as_deref(),
                    shape,
                };
                ordinal += 1;
                fields::insert(&mut tx, &new).await?
            }
            (Some(id), shape) => {
                if work.name != work.original_name {
                    fields::rename(&mut tx, id, &work.name).await?;
                }
                if let Some(shape) = shape {
                    fields::reshape(&mut tx, id, work.family, shape).await?;
                }
                if work.index_name != work.original_index {
                    fields::set_index(&mut tx, id, work.index_name.as_deref()).await?;
                }
                id
            }
            (None, None) => continue,
        };
        if let Some(family) = wants_new_slot(work) {
            // A column added by this statement has no values yet; an existing one must be backfilled.
            let status = if work.id.is_none() {
                SlotStatus::Assigned
            } else {
                SlotStatus::Backfilling
            };
            match slots::reserve(&mut tx, model.id, id, family, status).await? {
                Some(claimed) => reserved.push((id, claimed, status)),
                None => return Ok(None),
            }
        }
    }
    if let Some(name) = rename_to {
        if !models::rename(&mut tx, model.id, name).await? {
            return Err(Error::TableExists(format!(
                "{}{name}",
                crate::catalog::TABLE_PREFIX
            )));
        }
    }
    registry::bump(&mut tx).await?;
    tx.commit().await?;
    for (field_id, claimed, status) in reserved {
        tracing::info!(
            event = "slot_reserved",
            field_id,
            page_id = claimed.page,
            slot_column = claimed.column.as_str(),
            status = status.as_str(),
            "slot reserved"
        );
        if status == SlotStatus::Backfilling {
            tracing::info!(
                event = "retype_started",
                field_id,
                model_id = model.id,
                "backfill of the field's existing values started"
            );
        }
    }
    Ok(Some(()))
}
