//! `UPDATE model_x SET f = <expression> … WHERE … [ORDER BY …] [LIMIT n]`: the matching entries are loaded into
//! the shadow table, the user's assignments run there — so the backend evaluates every expression and reports
//! matched and changed rows as for a native table — and the results are written back to the payloads and to the
//! slots of the columns the statement assigns.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::insert::{coerced, rename_shadow, Coerced, CHUNK};
use super::payload::payload;
use super::shadow::Shadows;
use super::slots::{slot_statements, EntryIds, Slots};
use super::{Error, Written};
use crate::catalog::Model;
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

/// Three round trips: the unit's opening, the entries' lock, their copy into the shadow table and the user's
/// assignments there; the shadow's rows read back; the entries' payloads, their slots and the unit's closing.
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
    Ok(updated)
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
