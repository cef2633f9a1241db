//! `UPDATE model_x SET f = <expression> … WHERE … [ORDER BY …] [LIMIT n]`: the matching entries are loaded into
//! the shadow table, the user's assignments run there — so the backend evaluates every expression and reports
//! matched and changed rows as for a native table — and the results are written back to the payloads and to the
//! slots of the columns the statement assigns, by the backend itself from the shadow table wherever it can.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::insert::{coerced, rename_shadow, Coerced, CHUNK};
use super::payload::{self, payload};
use super::shadow::Shadows;
use super::slots::{slot_statements, EntryIds, Slots};
use super::{Error, Written};
use crate::catalog::{Family, Field, Model};
use crate::sql::{quote_identifier, quote_text};

/// What an UPDATE reports: rows changed (or matched, for CLIENT_FOUND_ROWS backends) and MySQL's info text.
#[derive(Debug, Clone, Default)]
pub struct Updated {
    pub written: Written,
    pub info: String,
}

/// The rows and assignments of one UPDATE.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The rewritten SELECT of `id, created_at, updated_at` and every field, in order, of the rows to update.
    pub selection: super::Selection<'a>,
    /// The user's `SET` list, printed.
    pub assignments: &'a str,
    /// The name the statement gives the table (its alias, or the table name).
    pub alias: &'a str,
    /// The columns the `SET` list assigns, when known: only their slots are re-projected.
    pub targets: Option<&'a [String]>,
}

pub async fn update(
    conn: &mut Conn,
    shadows: &mut Shadows,
    model: &Model,
    tenant: u64,
    change: Change<'_>,
    mut unit: super::Unit,
) -> Result<Updated, Error> {
    let shadow = shadows.ensure(conn, model).await?;
    let updated = run(conn, &mut unit, &shadow, model, tenant, change).await;
    unit.finish(conn, updated)
        .await
        .map_err(|e| rename_shadow(e, model))
}

/// Two round trips: the unit's opening, the entries' lock, their copy into the shadow table and the user's
/// assignments there; then the write-back on the backend ([`in_place`]) and the unit's closing. Fields the
/// backend cannot write back itself take a third: the shadow's rows read back into the proxy in between.
async fn run(
    conn: &mut Conn,
    unit: &mut super::Unit,
    shadow: &str,
    model: &Model,
    tenant: u64,
    change: Change<'_>,
) -> Result<Updated, Error> {
    let Change {
        selection,
        assignments,
        alias,
        targets,
    } = change;
    // Only assigned columns change in the shadow table: model DDL refuses `ON UPDATE` clauses.
    let fields: Vec<String> = model
        .fields
        .iter()
        .map(|f| quote_identifier(&f.name))
        .collect();
    let mut columns = vec![
        "`__id`".to_string(),
        "`created_at`".to_string(),
        "`updated_at`".to_string(),
    ];
    columns.extend(fields.iter().cloned());
    let mut statements = unit.opening();
    statements.push(format!("DELETE FROM `{shadow}`"));
    // Locked first, so the copy below reads the entries' latest values: `SET n = n + 1` from two sessions adds
    // two, under READ COMMITTED too.
    statements.extend(super::lock_statements(tenant, selection));
    statements.push(format!(
        "INSERT INTO `{shadow}` ({}) {}",
        columns.join(", "),
        selection.text
    ));
    statements.push(format!(
        "UPDATE `{shadow}` AS {} SET {assignments}",
        quote_identifier(alias)
    ));
    let reported = super::batch(conn, &statements)
        .await
        .map_err(|e| unit.moved(e))?;
    let assigned = reported.last().map(|r| (r.affected_rows, r.info.clone()));
    let (affected_rows, info) = assigned.unwrap_or_default();
    let updated = Updated {
        written: Written {
            affected_rows,
            last_insert_id: 0,
            ids: Vec::new(),
            warnings: super::shadow_warnings(conn, model, 0).await?,
        },
        info,
    };
    match written_back(model, targets) {
        Some(fields) => {
            let mut statements = in_place(model, tenant, shadow, &fields);
            statements.push(unit.closing().to_string());
            super::batch(conn, &statements).await?;
        }
        None => through_proxy(conn, unit, shadow, model, tenant, targets).await?,
    }
    Ok(updated)
}

/// The fields whose new values an UPDATE writes back — those it assigns, or all when that is not known — if
/// the backend can write them itself, from the shadow's typed columns to the payload and the slots, exactly as
/// the proxy would from their printed text: integers (JSON numbers), non-binary strings, and DECIMALs and
/// dates (JSON strings of their printed text). A FLOAT or DOUBLE prints rounded to its precision, a binary
/// string is not text and a JSON value merges rather than replaces (`JSON_MERGE_PATCH`): those go through the
/// proxy.
fn written_back<'m>(model: &'m Model, targets: Option<&[String]>) -> Option<Vec<&'m Field>> {
    let fields: Vec<&Field> = model
        .fields
        .iter()
        .filter(|f| {
            targets.is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(&f.name)))
        })
        .collect();
    let printable = |field: &Field| match field.family {
        Some(Family::Int) | Some(Family::Dt) => true,
        Some(Family::Str) => field.shape.collation.is_some(),
        Some(Family::Num) => field.shape.column_type.starts_with("decimal"),
        None => false,
    };
    fields.iter().all(|f| printable(f)).then_some(fields)
}

/// The statements that write an UPDATE's results back from the shadow table on the backend, with no row
/// passing through the proxy: the assigned fields merged into each entry's payload (a NULL removes the
/// member, as the payload leaves NULLs out), its timestamps, the slots of those fields on their pages, and the
/// entries queued for fields that have no live slot yet.
fn in_place(model: &Model, tenant: u64, shadow: &str, fields: &[&Field]) -> Vec<String> {
    let members: Vec<String> = fields
        .iter()
        .map(|field| {
            let column = format!("s.{}", quote_identifier(&field.name));
            let value = match field.family {
                Some(Family::Num) | Some(Family::Dt) => format!("CAST({column} AS CHAR)"),
                _ => column,
            };
            format!("'{}', {value}", payload::key(field))
        })
        .collect();
    let mut statements = vec![format!(
        "UPDATE entry_data AS e JOIN `{shadow}` AS s ON s.`__id` = e.id \
         SET e.fields = JSON_MERGE_PATCH(e.fields, JSON_OBJECT({})), e.created_at = s.created_at, \
         e.updated_at = UTC_TIMESTAMP() WHERE e.tenant_id = {tenant} AND e.model_id = {}",
        members.join(", "),
        model.id
    )];
    let mut pages: BTreeMap<&str, Vec<(&str, String)>> = BTreeMap::new();
    for field in fields {
        if let Some(slot) = &field.slot {
            pages.entry(slot.table.as_str()).or_default().push((
                slot.column.as_str(),
                format!("s.{}", quote_identifier(&field.name)),
            ));
        }
    }
    for (table, slots) in pages {
        let columns: Vec<&str> = slots.iter().map(|(c, _)| *c).collect();
        let values: Vec<&str> = slots.iter().map(|(_, v)| v.as_str()).collect();
        let updates: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = VALUES({c})"))
            .collect();
        statements.push(format!(
            "INSERT INTO `{table}` (entry_id, tenant_id, {}) SELECT s.`__id`, {tenant}, {} FROM `{shadow}` AS s \
             ORDER BY s.`__id` ON DUPLICATE KEY UPDATE {}",
            columns.join(", "),
            values.join(", "),
            updates.join(", ")
        ));
    }
    if model
        .fields
        .iter()
        .any(|f| f.filterable && f.slot.is_none())
    {
        statements.push(format!(
            "INSERT IGNORE INTO stardust_sync_queue (entry_id, created_at) \
             SELECT s.`__id`, UTC_TIMESTAMP() FROM `{shadow}` AS s"
        ));
    }
    statements
}

/// The general write-back: the shadow's rows read into the proxy, their payloads rebuilt from the printed
/// values, and written with the slots of the assigned fields, in chunks; the last batch closes the unit.
async fn through_proxy(
    conn: &mut Conn,
    unit: &mut super::Unit,
    shadow: &str,
    model: &Model,
    tenant: u64,
    targets: Option<&[String]>,
) -> Result<(), Error> {
    let fields: Vec<String> = model
        .fields
        .iter()
        .map(|f| quote_identifier(&f.name))
        .collect();
    let mut select = "SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s'), \
                      DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')"
        .to_string();
    for field in &fields {
        select.push_str(", ");
        select.push_str(field);
    }
    select.push_str(&format!(
        ", `__id` FROM `{shadow}` ORDER BY `__seq` {}",
        super::UNSNAPSHOTTED
    ));
    let rows: Vec<Row> = conn.query(select).await?;
    let n = model.fields.len();
    let ids: Vec<u64> = rows
        .iter()
        .map(|row| match row.as_ref(n + 2) {
            Some(Value::Bytes(b)) => String::from_utf8_lossy(b).parse().unwrap_or(0),
            Some(Value::UInt(u)) => *u,
            Some(Value::Int(i)) => *i as u64,
            _ => 0,
        })
        .collect();
    let coerced: Vec<Coerced> = rows.into_iter().map(|row| coerced(row, n)).collect();
    let chunks = ids.len().div_ceil(CHUNK);
    for (n, (ids, rows)) in ids.chunks(CHUNK).zip(coerced.chunks(CHUNK)).enumerate() {
        let mut statements = vec![rewrite_entries(model, tenant, ids, rows)];
        statements.extend(slot_statements(
            model,
            tenant,
            EntryIds::Known(ids),
            rows,
            Slots::Replace(targets),
        ));
        if n + 1 == chunks {
            statements.push(unit.closing().to_string());
        }
        super::batch(conn, &statements).await?;
    }
    Ok(())
}

/// The statement that replaces the payloads of existing entries (and their `updated_at`).
fn rewrite_entries(model: &Model, tenant: u64, ids: &[u64], rows: &[Coerced]) -> String {
    let values: Vec<String> = ids
        .iter()
        .zip(rows)
        .map(|(id, row)| {
            format!(
                "({id}, {tenant}, {}, {}, {}, {})",
                model.id,
                row.created_at.sql(),
                row.updated_at.sql(),
                quote_text(&payload(&model.fields, &row.values))
            )
        })
        .collect();
    format!(
        "INSERT INTO entry_data (id, tenant_id, model_id, created_at, updated_at, fields) VALUES {} \
         ON DUPLICATE KEY UPDATE fields = VALUES(fields), updated_at = VALUES(updated_at)",
        values.join(", ")
    )
}
