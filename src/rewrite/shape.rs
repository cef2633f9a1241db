//! Shapes: the derived table that stands in for one model reference, built from what the statement needs.
//!
//! The general form is `entry_data` LEFT JOIN the pages of the columns the statement names, restricted to the
//! tenant, the model and live entries. When the statement's WHERE is a conjunction with a NULL-rejecting
//! predicate (`=`, `<>`, ranges, `IN`, `BETWEEN`, `LIKE`, `IS NOT NULL`, or the NOT of one that is NULL on a
//! NULL column) on a field read from a slot, the page
//! invariant (a slot holds a value only for a live entry of its model) lets that page stand for the model: the
//! derived table is driven from the page's `(tenant_id, slot)` index, the pages of the other rejected fields are
//! inner-joined, the pages of other named fields left-joined, and `entry_data` is joined only when a named column
//! lives there alone (a JSON-read field, `created_at`, `updated_at`). Either form keeps a tenant predicate on
//! every table it reads. Pages of columns the statement never names are not joined.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, BinaryOperator, Expr, JoinConstraint, Query, SelectItem, SetExpr, Statement,
    UnaryOperator, Visit, Visitor,
};

use super::Error;
use crate::catalog::{Family, Field, Model};
use crate::sql::quote_identifier;
use crate::write::payload_path;

/// The columns a statement may read from a model: every name it uses anywhere (a superset: a name is counted
/// for every model that has such a column), or all of them when it has a `*` or a join by `USING`/`NATURAL`.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    all: bool,
    names: BTreeSet<String>,
}

impl Needs {
    pub fn all() -> Needs {
        Needs {
            all: true,
            names: BTreeSet::new(),
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.all || self.names.contains(&name.to_ascii_lowercase())
    }
}

/// What `statement` may read from the model tables it names.
pub fn needs(statement: &Statement) -> Needs {
    let mut needs = Needs::default();
    let _ = visit_expressions(statement, |expr| {
        match expr {
            Expr::Identifier(ident) => {
                needs.names.insert(ident.value.to_ascii_lowercase());
            }
            Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last() {
                    needs.names.insert(last.value.to_ascii_lowercase());
                }
            }
            Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => needs.all = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    let mut wildcards = Wildcards(false);
    let _ = statement.visit(&mut wildcards);
    needs.all |= wildcards.0;
    needs
}

/// Finds projections by `*` and joins whose columns are implicit.
struct Wildcards(bool);

impl Visitor for Wildcards {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.0 |= implicit_columns(query.body.as_ref());
        ControlFlow::Continue(())
    }
}

/// Whether a query body (through its set operations) names columns without naming them.
fn implicit_columns(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => {
            let star = select.projection.iter().any(|item| {
                matches!(
                    item,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            });
            let implicit = select.from.iter().flat_map(|t| &t.joins).any(|join| {
                matches!(
                    super::select::join_constraint(&join.join_operator),
                    Some(JoinConstraint::Using(_) | JoinConstraint::Natural)
                )
            });
            star || implicit
        }
        SetExpr::SetOperation { left, right, .. } => {
            implicit_columns(left) || implicit_columns(right)
        }
        _ => false,
    }
}

/// The fields of `model` (known in the statement as `known`) on which a top-level conjunct of `selection` is
/// NULL-rejecting: a row whose field is NULL cannot pass the WHERE. An unqualified name is the model's when the
/// model has such a column (another table in scope with it would make the statement ambiguous).
pub fn rejected(selection: Option<&Expr>, known: &str, model: &Model) -> BTreeSet<usize> {
    let mut conjuncts = Vec::new();
    if let Some(selection) = selection {
        split(selection, &mut conjuncts);
    }
    conjuncts
        .into_iter()
        .filter_map(rejected_operand)
        .filter_map(|column| field_of(column, known, model))
        .collect()
}

fn split<'a>(expr: &'a Expr, into: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split(left, into);
            split(right, into);
        }
        Expr::Nested(inner) => split(inner, into),
        other => into.push(other),
    }
}

/// The bare column a conjunct is NULL-rejecting on, if it is one of the recognised predicates.
fn rejected_operand(conjunct: &Expr) -> Option<&Expr> {
    match conjunct {
        // `NULL NOT IN (empty subquery)` is TRUE: only the positive form rejects NULL.
        Expr::InSubquery {
            expr,
            negated: false,
            ..
        } => column(expr),
        Expr::IsNotNull(expr) => column(expr),
        // NOT of a predicate that is NULL for a NULL column is NULL too (`NOT (qty > 3)` excludes NULLs).
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => null_when_null(unnested(expr)),
        other => null_when_null(other),
    }
}

/// The bare column of a predicate that is NULL whenever that column is NULL: comparisons, `[NOT] IN (list)`,
/// `[NOT] BETWEEN`, `[NOT] LIKE`, `[NOT] REGEXP`.
fn null_when_null(predicate: &Expr) -> Option<&Expr> {
    match predicate {
        Expr::BinaryOp { left, op, right } => {
            let comparison = matches!(
                op,
                BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq
            );
            if !comparison {
                return None;
            }
            column(left).or_else(|| column(right))
        }
        Expr::InList { expr, .. } => column(expr),
        Expr::Between { expr, .. } => column(expr),
        Expr::Like {
            expr, any: false, ..
        } => column(expr),
        Expr::RLike { expr, .. } => column(expr),
        _ => None,
    }
}

fn unnested(e: &Expr) -> &Expr {
    let mut e = e;
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

fn column(e: &Expr) -> Option<&Expr> {
    let e = unnested(e);
    matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)).then_some(e)
}

fn field_of(column: &Expr, known: &str, model: &Model) -> Option<usize> {
    let name = match column {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [qualifier, name] if qualifier.value.eq_ignore_ascii_case(known) => &name.value,
            _ => return None,
        },
        _ => return None,
    };
    model
        .fields
        .iter()
        .position(|f| f.name.eq_ignore_ascii_case(name))
}

/// The derived table standing in for `model` in a statement that needs `needs` and whose WHERE rejects NULL
/// in the fields `rejected`.
pub fn query(model: &Model, needs: &Needs, rejected: &BTreeSet<usize>) -> Result<Query, Error> {
    let general = needs.all && !rejected.iter().any(|i| slot_read(&model.fields[*i]));
    if general {
        if let Some(query) = model.derived.get() {
            return Ok(query.clone());
        }
        let query = super::parse_query(&sql(model, needs, rejected))?;
        return Ok(model.derived.get_or_init(|| query).clone());
    }
    super::parse_query(&sql(model, needs, rejected))
}

/// Whether a field's value is read from its slot (so a NULL-rejecting predicate on it can drive from the page).
fn slot_read(field: &Field) -> bool {
    field_expression(field).1.is_some()
}

fn sql(model: &Model, needs: &Needs, rejected: &BTreeSet<usize>) -> String {
    let tenant = model.tenant;
    let mut columns = Vec::new();
    // Page number → (table, joined inner: a rejected field lives there).
    let mut pages: BTreeMap<u32, (String, bool)> = BTreeMap::new();
    // On each inner page, a rejected slot: NULL for every row that is not a live entry of the model.
    let mut drivers: BTreeMap<u32, String> = BTreeMap::new();
    let mut entry = false;
    for (i, field) in model.fields.iter().enumerate() {
        let is_rejected = rejected.contains(&i);
        if !is_rejected && !needs.wants(&field.name) {
            continue;
        }
        let (expr, page) = field_expression(field);
        match page {
            Some((n, table)) => {
                let inner = pages.entry(n).or_insert((table, false));
                if is_rejected {
                    inner.1 = true;
                    if let Some(slot) = &field.slot {
                        drivers
                            .entry(n)
                            .or_insert_with(|| format!("p{n}.{}", slot.column));
                    }
                }
            }
            None => entry = true,
        }
        columns.push(format!("{expr} AS {}", quote_identifier(&field.name)));
    }
    for stamp in ["created_at", "updated_at"] {
        if needs.wants(stamp) {
            entry = true;
            columns.push(format!("e.{stamp} AS `{stamp}`"));
        }
    }
    let live = format!(
        "e.tenant_id = {tenant} AND e.model_id = {} AND e.deleted_at IS NULL",
        model.id
    );
    let hints = hints(model);
    let hint = |n: &u32| {
        let mut names = vec!["PRIMARY".to_string()];
        names.extend(hints.get(n).cloned().unwrap_or_default());
        format!("USE INDEX ({})", names.join(", "))
    };
    let Some(&driver) = drivers.keys().next() else {
        // The general form: every live entry of the model, its named slots beside it.
        let mut sql = "SELECT e.id AS `id`".to_string();
        for column in &columns {
            sql.push_str(", ");
            sql.push_str(column);
        }
        sql.push_str(" FROM entry_data AS e");
        for (n, (table, _)) in &pages {
            sql.push_str(&format!(
                " LEFT JOIN `{table}` AS p{n} {} ON p{n}.entry_id = e.id AND p{n}.tenant_id = {tenant}",
                hint(n)
            ));
        }
        sql.push_str(&format!(" WHERE {live}"));
        return sql;
    };
    // Driven from a page: its rows with a value in a rejected slot are exactly the live entries of the model
    // that can pass the WHERE.
    let mut sql = format!("SELECT p{driver}.entry_id AS `id`");
    for column in &columns {
        sql.push_str(", ");
        sql.push_str(column);
    }
    let (table, _) = &pages[&driver];
    sql.push_str(&format!(" FROM `{table}` AS p{driver} {}", hint(&driver)));
    for (n, (table, inner)) in pages.iter().filter(|(n, _)| **n != driver) {
        let join = if *inner { "JOIN" } else { "LEFT JOIN" };
        sql.push_str(&format!(
            " {join} `{table}` AS p{n} {} ON p{n}.entry_id = p{driver}.entry_id AND p{n}.tenant_id = {tenant}",
            hint(n)
        ));
    }
    if entry {
        sql.push_str(&format!(
            " JOIN entry_data AS e ON e.id = p{driver}.entry_id AND {live}"
        ));
    }
    sql.push_str(&format!(" WHERE p{driver}.tenant_id = {tenant}"));
    for slot in drivers.values() {
        sql.push_str(&format!(" AND {slot} IS NOT NULL"));
    }
    sql
}

/// Per page, the model's own slot indexes: the only ones that can serve its filters. Naming them keeps the
/// optimizer from estimating every other index of a shared page (each estimate is a B-tree dive).
fn hints(model: &Model) -> BTreeMap<u32, Vec<String>> {
    let mut indexes: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for field in &model.fields {
        if let Some(slot) = field.slot.as_ref().filter(|s| s.status.readable()) {
            let names = indexes.entry(slot.page).or_default();
            if slot.indexed {
                names.push(format!("`ix_{}_{}`", slot.table, slot.column));
            }
        }
    }
    indexes
}

/// A field's value expression, and the page it reads from (number, table) when it reads a slot.
pub fn field_expression(field: &Field) -> (String, Option<(u32, String)>) {
    let column_type = field.shape.column_type.to_ascii_lowercase();
    let base = column_type
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .to_string();
    if let (Some(family), Some(slot)) = (
        field.family,
        field.slot.as_ref().filter(|s| s.status.readable()),
    ) {
        let slot_expr = format!("p{}.{}", slot.page, slot.column);
        let exact = match family {
            Family::Str => [
                "char",
                "varchar",
                "tinytext",
                "text",
                "mediumtext",
                "longtext",
            ]
            .contains(&base.as_str()),
            Family::Int => true,
            Family::Num => base == "double",
            Family::Dt => column_type == "datetime" || column_type == "timestamp" || base == "date",
        };
        if exact {
            let expr = if base == "date" {
                format!("CAST({slot_expr} AS DATE)")
            } else if family == Family::Str && field.shape.collation != slot.collation {
                // A collation of the user's own (say utf8mb4_bin) compares and sorts as declared; the slot's
                // index cannot serve that comparison, so such a field's filters are correct but not indexed.
                collated(&slot_expr, field)
            } else {
                slot_expr
            };
            return (expr, Some((slot.page, slot.table.clone())));
        }
    }
    let raw = format!("JSON_EXTRACT(e.fields, '{}')", payload_path(field));
    let text = format!("JSON_UNQUOTE({raw})");
    let expr = match field.family {
        None => raw,
        // JSON strings are utf8mb4_bin: compare and sort them as the declared column would.
        Some(Family::Str) => collated(&text, field),
        Some(Family::Int) if column_type.contains("unsigned") => {
            format!("CAST({text} AS UNSIGNED)")
        }
        Some(Family::Int) => format!("CAST({text} AS SIGNED)"),
        Some(Family::Num) if base == "decimal" || base == "numeric" => {
            let precision = column_type
                .trim_start_matches(base.as_str())
                .trim_end_matches(" unsigned");
            let precision = if precision.starts_with('(') {
                precision.to_string()
            } else {
                "(10,0)".to_string()
            };
            format!("CAST({text} AS DECIMAL{precision})")
        }
        Some(Family::Num) => format!("({text} + 0E0)"),
        Some(Family::Dt) if base == "date" => format!("CAST({text} AS DATE)"),
        Some(Family::Dt) => {
            let fsp = column_type
                .split_once('(')
                .map(|(_, rest)| rest.trim_end_matches(')'))
                .unwrap_or("0");
            format!("CAST({text} AS DATETIME({fsp}))")
        }
    };
    (expr, None)
}

/// A string expression in the field's declared collation (and character set), when the field has one.
fn collated(expr: &str, field: &Field) -> String {
    let Some(collation) = field.shape.collation.as_deref() else {
        return expr.to_string();
    };
    let charset = collation.split('_').next().unwrap_or_default();
    if collation.is_empty()
        || charset.is_empty()
        || !collation
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return expr.to_string();
    }
    if charset == "utf8mb4" {
        format!("({expr} COLLATE {collation})")
    } else {
        format!("(CONVERT({expr} USING {charset}) COLLATE {collation})")
    }
}
