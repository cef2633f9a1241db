//! `stardust verify` and `stardust repair`: the invariant *slot value = the JSON value coerced to the slot's
//! type* checked for every live slot of every model (read-only), and restored by re-projecting from the JSON;
//! likewise the page invariant (`invariant.rs`: no value where no live entry of the slot's model owns it).

pub mod invariant;

use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::backend::{self, Backend};
use crate::catalog::{Family, Field, Model};
use crate::registry;
use crate::write::slot_expression;

/// Which models to look at.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tenant: Option<u64>,
    /// A model name, without the `model_` prefix.
    pub model: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldReport {
    pub field: String,
    pub slot: String,
    pub status: String,
    /// Live entries whose slot value differs from their coerced JSON value (a missing page row counts when the
    /// JSON has a value).
    pub drift: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ModelReport {
    pub tenant: u64,
    pub model: String,
    pub entries: u64,
    pub fields: Vec<FieldReport>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Report {
    pub models: Vec<ModelReport>,
    /// Entries waiting on `stardust_sync_queue` for a slot (they are written to JSON and are not drift).
    pub queued: u64,
    pub drift: u64,
    /// The page invariant, page by page.
    pub pages: Vec<invariant::PageReport>,
    /// Values the page invariant says should be NULL (page rows of soft-deleted entries, values of other models).
    pub violations: u64,
}

/// Live slots a field is checked on: those reads trust (`assigned`, `ready`); a backfilling slot is incomplete
/// by definition and is the Reconciler's to finish.
fn checked(field: &Field) -> Option<(Family, &crate::catalog::Slot)> {
    let slot = field.slot.as_ref().filter(|s| s.status.readable())?;
    Some((field.family?, slot))
}

async fn tenants(
    conn: &mut mysql_async::Conn,
    filter: &Filter,
) -> Result<Vec<u64>, backend::Error> {
    Ok(match filter.tenant {
        Some(tenant) => vec![tenant],
        None => {
            conn.query("SELECT DISTINCT tenant_id FROM stardust_models ORDER BY 1")
                .await?
        }
    })
}

async fn models(backend: &Backend, filter: &Filter) -> Result<Vec<Model>, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let version = registry::version(&mut conn).await?;
    let mut all = Vec::new();
    for tenant in tenants(&mut conn, filter).await? {
        let catalog = registry::load(&mut conn, tenant, version).await?;
        all.extend(
            catalog
                .models
                .values()
                .filter(|m| {
                    filter
                        .model
                        .as_deref()
                        .is_none_or(|name| name.eq_ignore_ascii_case(&m.name))
                })
                .map(|m| (**m).clone()),
        );
    }
    Ok(all)
}

/// Checks every live slot against the JSON. Read-only.
pub async fn verify(backend: &Backend, filter: &Filter) -> Result<Report, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let mut report = Report::default();
    for model in models(backend, filter).await? {
        let live = "e.tenant_id = ? AND e.model_id = ? AND e.deleted_at IS NULL";
        let entries: Option<u64> = conn
            .exec_first(
                format!("SELECT COUNT(*) FROM entry_data e WHERE {live}"),
                (model.tenant, model.id),
            )
            .await?;
        let mut fields = Vec::new();
        for field in &model.fields {
            let Some((family, slot)) = checked(field) else {
                continue;
            };
            let expected = slot_expression(field, family);
            let sql = format!(
                "SELECT COUNT(*) FROM entry_data e LEFT JOIN `{table}` p ON p.entry_id = e.id \
                 WHERE {live} AND NOT (p.{column} <=> {expected})",
                table = slot.table,
                column = slot.column,
            );
            let drift: Option<u64> = conn.exec_first(sql, (model.tenant, model.id)).await?;
            let drift = drift.unwrap_or(0);
            report.drift += drift;
            fields.push(FieldReport {
                field: field.name.clone(),
                slot: format!("{}.{}", slot.table, slot.column),
                status: slot.status.as_str().to_string(),
                drift,
            });
        }
        report.models.push(ModelReport {
            tenant: model.tenant,
            model: model.name.clone(),
            entries: entries.unwrap_or(0),
            fields,
        });
    }
    let queued: Option<u64> = conn
        .query_first("SELECT COUNT(*) FROM stardust_sync_queue")
        .await?;
    report.queued = queued.unwrap_or(0);
    report.pages = invariant::check(backend).await?;
    report.violations = report.pages.iter().map(|p| p.deleted + p.foreign).sum();
    Ok(report)
}

/// Restores the page invariant, then re-projects every checked slot from the JSON, one statement per field,
/// each its own transaction. Returns the number of page rows written.
pub async fn repair(backend: &Backend, filter: &Filter) -> Result<u64, backend::Error> {
    let mut written = invariant::repair(backend).await?;
    let mut conn = backend.conn(false).await?;
    for model in models(backend, filter).await? {
        for field in &model.fields {
            let Some((family, slot)) = checked(field) else {
                continue;
            };
            let expected = slot_expression(field, family);
            let sql = format!(
                "INSERT INTO `{table}` (entry_id, tenant_id, {column}) \
                 SELECT e.id, e.tenant_id, {expected} FROM entry_data e \
                 WHERE e.tenant_id = ? AND e.model_id = ? AND e.deleted_at IS NULL \
                 ON DUPLICATE KEY UPDATE {column} = VALUES({column})",
                table = slot.table,
                column = slot.column,
            );
            conn.exec_drop(sql, (model.tenant, model.id)).await?;
            written += conn.affected_rows();
        }
    }
    Ok(written)
}
