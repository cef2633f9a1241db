//! `INSERT INTO model_x [(cols)] VALUES (…), …`: values coerced through the shadow table, then the entries and
//! their slot rows written in multi-row statements of at most [`CHUNK`] rows, all in one transaction (or, inside
//! the client's transaction, under a savepoint, so the statement is atomic either way).

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use sqlparser::ast::{Expr, Insert, SetExpr, TableObject};

use super::literal;
use super::payload::payload;
use super::shadow::{table_name, Shadows};
use super::slots::{slot_statements, EntryIds, Slots};
use super::{Error, Written};
use crate::catalog::Model;
use crate::sql::{quote_identifier, quote_text};
use std::fmt::Write;

/// Rows per backend statement.
pub const CHUNK: usize = 500;

/// Where each inserted value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Id,
    CreatedAt,
    UpdatedAt,
    Field(usize),
    /// A name the model does not have: passed to the shadow table, so the backend reports it in its own words.
    Unknown(String),
}

impl Target {
    fn shadow_column(&self, model: &Model) -> Option<String> {
        match self {
            Target::Id => None,
            Target::CreatedAt => Some("`created_at`".to_string()),
            Target::UpdatedAt => Some("`updated_at`".to_string()),
            Target::Field(i) => Some(quote_identifier(&model.fields[*i].name)),
            Target::Unknown(name) => Some(quote_identifier(name)),
        }
    }
}

/// Where the inserted rows come from.
pub enum Rows<'a> {
    /// `VALUES (…), …` as written.
    Values(Vec<&'a [Expr]>),
    /// `INSERT … SELECT`: the SELECT, already rewritten into backend SQL.
    Select(String),
}

/// `select` is the rewritten source query of an `INSERT … SELECT`, `None` for `INSERT … VALUES`.
pub async fn insert(
    conn: &mut Conn,
    shadows: &mut Shadows,
    model: &Model,
    tenant: u64,
    insert: &Insert,
    select: Option<String>,
    mut unit: super::Unit,
) -> Result<Written, Error> {
    check_options(insert)?;
    // `INSERT … SET a = 1, b = 2` is one row of VALUES.
    let set_row: Vec<Expr> = insert.assignments.iter().map(|a| a.value.clone()).collect();
    let rows = match select {
        Some(select) => Rows::Select(select),
        None if !set_row.is_empty() => Rows::Values(vec![set_row.as_slice()]),
        None => Rows::Values(values_of(insert)?),
    };
    let targets = targets(model, insert)?;
    if matches!(rows, Rows::Select(_)) && targets.contains(&Target::Id) {
        return Err(Error::NotSupported(
            "INSERT … SELECT into a model table cannot set `id`: StarDust assigns ids; leave it out of the column list"
                .to_string(),
        ));
    }
    let verb = if insert.ignore {
        "INSERT IGNORE"
    } else {
        "INSERT"
    };
    let written = write(
        conn, &mut unit, shadows, model, tenant, &targets, rows, verb,
    )
    .await;
    let written = unit.finish(conn, written).await;
    written.map_err(|e| rename_shadow(e, model))
}

/// Refuses the INSERT forms the write path does not take. `REPLACE` and `ON DUPLICATE KEY UPDATE` are plain
/// inserts here: a model table's only unique key is `id`, which StarDust assigns, so no row can collide — as
/// on a native table whose only unique key is an AUTO_INCREMENT id the statement leaves out. `INSERT IGNORE`
/// likewise ignores no duplicate; what it changes is that values the column cannot hold are adjusted, with a
/// warning, instead of failing the statement — the shadow table's own `INSERT IGNORE` does exactly that.
fn check_options(insert: &Insert) -> Result<(), Error> {
    if matches!(insert.on, Some(sqlparser::ast::OnInsert::OnConflict(_))) {
        return Err(Error::NotSupported(
            "ON CONFLICT is PostgreSQL syntax; model tables take MySQL's INSERT".to_string(),
        ));
    }
    Ok(())
}

fn values_of(insert: &Insert) -> Result<Vec<&[Expr]>, Error> {
    match insert.source.as_ref().map(|source| source.body.as_ref()) {
        Some(SetExpr::Values(values)) => Ok(values
            .rows
            .iter()
            .map(|row| row.content.as_slice())
            .collect()),
        _ => Err(Error::NotSupported(
            "this INSERT form is not supported on model tables".to_string(),
        )),
    }
}

/// The column each value goes to: the column list, or every column of the table in order.
fn targets(model: &Model, insert: &Insert) -> Result<Vec<Target>, Error> {
    let TableObject::TableName(_) = &insert.table else {
        return Err(Error::NotSupported(
            "INSERT INTO a table function".to_string(),
        ));
    };
    let last = |name: &sqlparser::ast::ObjectName| {
        name.0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone())
            .unwrap_or_default()
    };
    let named: Vec<String> = if insert.assignments.is_empty() {
        insert.columns.iter().map(last).collect()
    } else {
        insert
            .assignments
            .iter()
            .map(|a| match &a.target {
                sqlparser::ast::AssignmentTarget::ColumnName(name) => last(name),
                other => other.to_string(),
            })
            .collect()
    };
    if named.is_empty() {
        let mut all = vec![Target::Id];
        all.extend((0..model.fields.len()).map(Target::Field));
        all.extend([Target::CreatedAt, Target::UpdatedAt]);
        return Ok(all);
    }
    // Unknown and repeated columns, and rows of the wrong length, reach the shadow table as written: the
    // backend rejects them with its own codes and messages.
    let targets = named
        .into_iter()
        .map(|name| match name.to_ascii_lowercase().as_str() {
            "id" => Target::Id,
            "created_at" => Target::CreatedAt,
            "updated_at" => Target::UpdatedAt,
            _ => model
                .fields
                .iter()
                .position(|f| f.name.eq_ignore_ascii_case(&name))
                .map_or(Target::Unknown(name), Target::Field),
        })
        .collect();
    Ok(targets)
}

/// `id` is assigned by StarDust: only NULL, 0 or DEFAULT may be given for it, as for AUTO_INCREMENT.
fn check_id(value: &Expr) -> Result<(), Error> {
    let text = value.to_string().to_ascii_uppercase();
    if matches!(text.as_str(), "NULL" | "0" | "DEFAULT") {
        return Ok(());
    }
    Err(Error::NotSupported(
        "explicit `id` values are not supported: StarDust assigns ids (give NULL or leave the column out)".to_string(),
    ))
}

#[allow(clippy::too_many_arguments)]
async fn write(
    conn: &mut Conn,
    unit: &mut super::Unit,
    shadows: &mut Shadows,
    model: &Model,
    tenant: u64,
    targets: &[Target],
    rows: Rows<'_>,
    verb: &str,
) -> Result<Written, Error> {
    let mut written = Written::default();
    match rows {
        Rows::Values(rows) => {
            let chunks = rows.len().div_ceil(CHUNK);
            for (n, chunk) in rows.chunks(CHUNK).enumerate() {
                // Literals the proxy coerces store exactly, without a warning, with or without IGNORE.
                let coerced = match literal_rows(model, targets, chunk) {
                    Some(rows) => rows,
                    None => {
                        // Made on first need: a session that writes only literals never makes it.
                        let shadow = shadows.ensure(conn, model).await?;
                        unit.open(conn).await?;
                        fill(conn, &shadow, model, targets, chunk, verb)
                            .await
                            .map_err(|e| statement_row(e, n * CHUNK))?;
                        let warnings = super::shadow_warnings(conn, model, n * CHUNK).await?;
                        written.warnings.extend(warnings);
                        read_back(conn, &shadow, model).await?
                    }
                };
                let last = n + 1 == chunks;
                store(conn, unit, model, tenant, &coerced, last, &mut written).await?;
            }
        }
        Rows::Select(select) => {
            let shadow = shadows.ensure(conn, model).await?;
            unit.open(conn).await?;
            conn.query_drop(format!("DELETE FROM `{shadow}`")).await?;
            let columns: Vec<String> = targets
                .iter()
                .filter_map(|t| t.shadow_column(model))
                .collect();
            conn.query_drop(format!(
                "{verb} INTO `{shadow}` ({}) {select}",
                columns.join(", ")
            ))
            .await?;
            written.warnings = super::shadow_warnings(conn, model, 0).await?;
            let coerced = read_back(conn, &shadow, model).await?;
            let chunks = coerced.len().div_ceil(CHUNK);
            for (n, chunk) in coerced.chunks(CHUNK).enumerate() {
                let last = n + 1 == chunks;
                store(conn, unit, model, tenant, chunk, last, &mut written).await?;
            }
        }
    }
    Ok(written)
}

/// Writes coerced rows as new entries and their slots, and counts them: one multi-statement batch, the pages'
/// rows naming the entries by `LAST_INSERT_ID()`. The batch opens the statement's unit if nothing did yet, and
/// closes it when these are the statement's `last` rows.
async fn store(
    conn: &mut Conn,
    unit: &mut super::Unit,
    model: &Model,
    tenant: u64,
    rows: &[Coerced],
    last: bool,
    written: &mut Written,
) -> Result<(), Error> {
    let mut batch: Vec<String> = Vec::with_capacity(4);
    batch.extend(unit.opening());
    let entries = batch.len();
    if !rows.is_empty() {
        batch.push(insert_entries(model, tenant, rows));
        batch.extend(slot_statements(
            model,
            tenant,
            EntryIds::Generated(rows.len()),
            rows,
            Slots::Insert,
        ));
    }
    if last {
        batch.push(unit.closing().to_string());
    }
    if batch.is_empty() {
        return Ok(());
    }
    let reported = super::batch(conn, &batch)
        .await
        .map_err(|e| unit.moved(e))?;
    if rows.is_empty() {
        return Ok(());
    }
    let first = reported.get(entries).map_or(0, |r| r.last_insert_id);
    if written.last_insert_id == 0 {
        written.last_insert_id = first;
    }
    written.ids.extend(first..first + rows.len() as u64);
    written.affected_rows += rows.len() as u64;
    Ok(())
}

/// A row as the backend coerced it: timestamps and each field's value as text.
pub(super) struct Coerced {
    pub created_at: Stamp,
    pub updated_at: Stamp,
    pub values: Vec<Option<String>>,
}

/// A row's `created_at` or `updated_at`: a coerced literal, or the statement's `NOW()` or `UTC_TIMESTAMP()`
/// (what an omitted or NULL timestamp becomes), evaluated by the backend in the statement that stores it.
pub(super) enum Stamp {
    Now,
    Utc,
    At(String),
}

impl Stamp {
    /// The timestamp as backend SQL.
    pub(super) fn sql(&self) -> String {
        match self {
            Stamp::Now => "NOW()".to_string(),
            Stamp::Utc => "UTC_TIMESTAMP()".to_string(),
            Stamp::At(text) => quote_text(text),
        }
    }
}

/// The rows coerced in the proxy, when every value is a literal whose stored form is certain (see
/// [`literal`]); `None` sends the chunk through the shadow table, which also reports every error.
fn literal_rows(model: &Model, targets: &[Target], rows: &[&[Expr]]) -> Option<Vec<Coerced>> {
    let mut seen = Vec::with_capacity(targets.len());
    for target in targets {
        if matches!(target, Target::Unknown(_)) || seen.contains(&target) {
            return None;
        }
        seen.push(target);
    }
    let stamp = |value: &Expr| match value {
        Expr::Value(v) if matches!(v.value, sqlparser::ast::Value::Null) => Some(Stamp::Utc),
        _ if literal::is_now(value) => Some(Stamp::Now),
        _ => literal::datetime_literal(value).map(Stamp::At),
    };
    let columns: Vec<literal::Column> = model.fields.iter().map(literal::Column::of).collect();
    let mut literals = Vec::with_capacity(rows.len());
    for row in rows {
        if row.len() != targets.len() {
            return None;
        }
        let mut values = vec![None; model.fields.len()];
        let mut given = vec![false; model.fields.len()];
        let (mut created_at, mut updated_at) = (Stamp::Utc, Stamp::Utc);
        for (target, value) in targets.iter().zip(row.iter()) {
            match target {
                Target::Id => check_id(value).ok()?,
                Target::CreatedAt => created_at = stamp(value)?,
                Target::UpdatedAt => updated_at = stamp(value)?,
                Target::Field(i) => {
                    values[*i] = literal::coerce(&columns[*i], value)?;
                    given[*i] = true;
                }
                Target::Unknown(_) => return None,
            }
        }
        for (i, field) in model.fields.iter().enumerate() {
            if !given[i] {
                values[i] = literal::omitted(field)?;
            }
        }
        literals.push(Coerced {
            created_at,
            updated_at,
            values,
        });
    }
    Some(literals)
}

/// Runs the values through the shadow table, where the backend coerces them.
async fn fill(
    conn: &mut Conn,
    shadow: &str,
    model: &Model,
    targets: &[Target],
    rows: &[&[Expr]],
    verb: &str,
) -> Result<(), Error> {
    conn.query_drop(format!("DELETE FROM `{shadow}`")).await?;
    let columns: Vec<String> = targets
        .iter()
        .filter_map(|t| t.shadow_column(model))
        .collect();
    let mut tuples = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (i, value) in row.iter().enumerate() {
            match targets.get(i) {
                Some(Target::Id) => check_id(value)?,
                _ => values.push(value.to_string()),
            }
        }
        tuples.push(format!("({})", values.join(", ")));
    }
    conn.query_drop(format!(
        "{verb} INTO `{shadow}` ({}) VALUES {}",
        columns.join(", "),
        tuples.join(", ")
    ))
    .await?;
    Ok(())
}

/// The shadow table's rows as the backend stored them, in insertion order.
async fn read_back(conn: &mut Conn, shadow: &str, model: &Model) -> Result<Vec<Coerced>, Error> {
    let fields: Vec<String> = model
        .fields
        .iter()
        .map(|f| quote_identifier(&f.name))
        .collect();
    let mut select =
        "SELECT DATE_FORMAT(COALESCE(created_at, UTC_TIMESTAMP()), '%Y-%m-%d %H:%i:%s'), \
                      DATE_FORMAT(COALESCE(updated_at, UTC_TIMESTAMP()), '%Y-%m-%d %H:%i:%s')"
            .to_string();
    for field in &fields {
        select.push_str(", ");
        select.push_str(field);
    }
    select.push_str(&format!(
        " FROM `{shadow}` ORDER BY `__seq` {}",
        super::UNSNAPSHOTTED
    ));
    let read: Vec<Row> = conn.query(select).await?;
    Ok(read
        .into_iter()
        .map(|row| coerced(row, model.fields.len()))
        .collect())
}

pub(super) fn coerced(row: Row, fields: usize) -> Coerced {
    let text = |i: usize| match row.as_ref(i) {
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::NULL) | None => None,
        Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
    };
    Coerced {
        created_at: Stamp::At(text(0).unwrap_or_default()),
        updated_at: Stamp::At(text(1).unwrap_or_default()),
        values: (0..fields).map(|i| text(i + 2)).collect(),
    }
}

/// The entries' INSERT: one multi-row statement, whose ids are consecutive from the `LAST_INSERT_ID()` it sets.
fn insert_entries(model: &Model, tenant: u64, rows: &[Coerced]) -> String {
    let mut sql = String::with_capacity(rows.len() * 160);
    sql.push_str(
        "INSERT INTO entry_data (tenant_id, model_id, created_at, updated_at, fields) VALUES ",
    );
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            sql.push_str(", ");
        }
        let _ = write!(
            sql,
            "({tenant}, {}, {}, {}, {})",
            model.id,
            row.created_at.sql(),
            row.updated_at.sql(),
            quote_text(&payload(&model.fields, &row.values))
        );
    }
    sql
}

/// A coercion error's "at row N" counts from the chunk's first row; the user counts from the statement's.
fn statement_row(error: Error, before: usize) -> Error {
    match error {
        Error::Backend(crate::backend::Error::Server(mut e)) => {
            e.message = at_statement_row(e.message, before);
            Error::Backend(crate::backend::Error::Server(e))
        }
        other => other,
    }
}

/// A message's "at row N", moved on by `before` rows.
pub(super) fn at_statement_row(message: String, before: usize) -> String {
    if before == 0 {
        return message;
    }
    match message.rsplit_once(" at row ") {
        Some((head, row)) => match row.parse::<usize>() {
            Ok(row) => format!("{head} at row {}", row + before),
            Err(_) => message,
        },
        None => message,
    }
}

/// Coercion errors name the shadow table; they should name the model table the user wrote to.
pub(super) fn rename_shadow(error: Error, model: &Model) -> Error {
    match error {
        Error::Backend(crate::backend::Error::Server(mut e)) => {
            e.message = e.message.replace(&table_name(model), &model.table_name());
            Error::Backend(crate::backend::Error::Server(e))
        }
        other => other,
    }
}
