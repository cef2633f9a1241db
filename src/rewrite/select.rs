//! Reads of model tables by substitution: each `model_x` reference becomes a derived table over `entry_data`
//! and the slot pages its fields live on, restricted to the tenant, the model and live entries. The backend
//! merges the derived table into the query, so a filter on an indexed field reads the slot's
//! `(tenant_id, slot)` index. Every other part of the statement — projection, joins, grouping, ordering,
//! subqueries — is left to the backend unchanged.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{
    visit_expressions, Expr, JoinConstraint, JoinOperator, Query, SelectItem, SetExpr, Statement,
    TableFactor, VisitMut, VisitorMut,
};

use super::shape::{self, Needs};
use super::Error;
use crate::catalog::{Model, TenantCatalog};
use crate::sql::names::{self, Table};

/// Where a top-level result column comes from, so its metadata can be that of the native column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Id(Arc<Model>),
    Field(Arc<Model>, usize),
    CreatedAt(Arc<Model>),
    UpdatedAt(Arc<Model>),
    /// An expression over no model column (a literal, `COUNT(…)`): the backend types it as it would on a native
    /// table.
    Unchanged,
}

/// What the rewrite needs besides the statement.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub catalog: &'a TenantCatalog,
    /// The home database, where model tables live.
    pub home: &'a str,
    /// `SET stardust_allow_scan = 1`: filters on unindexed fields may scan the JSON.
    pub allow_scan: bool,
}

/// Rewrites every model table reference in `statement`; returns, for each top-level result column, its source
/// when it is a model column or typed alike on a native table (`None` for other computed columns; empty when
/// the projection's width cannot be known, e.g. `*` over a join, or for a UNION).
pub fn rewrite(statement: &mut Statement, scope: Scope<'_>) -> Result<Vec<Option<Source>>, Error> {
    super::unqualify_model_columns(statement, scope.home);
    let sources = match statement {
        Statement::Query(query) => top_sources(query, scope)?,
        _ => Vec::new(),
    };
    let needs = shape::needs(statement);
    let mut visitor = Substitute { scope, needs };
    match statement.visit(&mut visitor) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(sources),
    }
}

struct Substitute<'a> {
    scope: Scope<'a>,
    /// The columns the statement may read from its models.
    needs: Needs,
}

impl VisitorMut for Substitute<'_> {
    type Break = Error;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Error> {
        if let SetExpr::Select(select) = query.body.as_ref() {
            let models = models_in(&select.from, self.scope);
            let mut filters: Vec<&Expr> = select
                .selection
                .iter()
                .chain(select.having.iter())
                .collect();
            for table in &select.from {
                for join in &table.joins {
                    if let Some(JoinConstraint::On(on)) = join_constraint(&join.join_operator) {
                        filters.push(on);
                    }
                }
            }
            if let Err(e) = check_filters(&filters, &models, self.scope) {
                return ControlFlow::Break(e);
            }
        }
        match self.substitute_body(query.body.as_mut()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }

    // After the children, so the derived table put in place is not visited again.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        let TableFactor::Table { name, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let Table::Virtual(table) = names::table(name, self.scope.home) else {
            return ControlFlow::Continue(());
        };
        let result = model(&table, self.scope)
            .and_then(|model| shape::query(&model, &self.needs, &BTreeSet::new()));
        match result {
            Ok(subquery) => {
                super::replace_with_derived(factor, subquery, &table);
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    }
}

impl Substitute<'_> {
    /// The SELECTs of a query body, through set operations (a parenthesised query is visited on its own).
    fn substitute_body(&self, body: &mut SetExpr) -> Result<(), Error> {
        match body {
            SetExpr::Select(select) => self.substitute_from(select),
            SetExpr::SetOperation { left, right, .. } => {
                self.substitute_body(left)?;
                self.substitute_body(right)
            }
            _ => Ok(()),
        }
    }

    /// Replaces the model tables a SELECT's FROM names directly, each by the shape its WHERE allows. (Model
    /// tables elsewhere — inside nested joins — take the general form, after their children are visited.)
    fn substitute_from(&self, select: &mut sqlparser::ast::Select) -> Result<(), Error> {
        let selection = select.selection.clone();
        for table in &mut select.from {
            let factors = std::iter::once(&mut table.relation)
                .chain(table.joins.iter_mut().map(|j| &mut j.relation));
            for factor in factors {
                let TableFactor::Table { name, alias, .. } = &*factor else {
                    continue;
                };
                let Table::Virtual(table) = names::table(name, self.scope.home) else {
                    continue;
                };
                let model = model(&table, self.scope)?;
                let known = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| table.clone());
                let rejected = shape::rejected(selection.as_ref(), &known, &model);
                let subquery = shape::query(&model, &self.needs, &rejected)?;
                super::replace_with_derived(factor, subquery, &table);
            }
        }
        Ok(())
    }
}

/// The condition a join carries, whatever its kind.
pub(super) fn join_constraint(operator: &JoinOperator) -> Option<&JoinConstraint> {
    match operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c) => Some(c),
        _ => None,
    }
}

fn model(table: &str, scope: Scope<'_>) -> Result<Arc<Model>, Error> {
    scope
        .catalog
        .model_for_table(table)
        .cloned()
        .ok_or_else(|| Error::NoSuchTable {
            database: scope.home.to_string(),
            table: table.to_string(),
        })
}

/// The models a SELECT's FROM clause names, with the name each is known by (alias or table).
fn models_in(
    from: &[sqlparser::ast::TableWithJoins],
    scope: Scope<'_>,
) -> Vec<(String, Arc<Model>)> {
    let factors = from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
    factors
        .filter_map(|factor| match factor {
            TableFactor::Table { name, alias, .. } => match names::table(name, scope.home) {
                Table::Virtual(table) => {
                    let known = alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or_else(|| table.clone());
                    scope
                        .catalog
                        .model_for_table(&table)
                        .map(|m| (known, m.clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A filter on a field without a readable slot would scan every entry's JSON: refused unless scans are allowed.
fn check_filters(
    filters: &[&Expr],
    models: &[(String, Arc<Model>)],
    scope: Scope<'_>,
) -> Result<(), Error> {
    if scope.allow_scan || models.is_empty() {
        return Ok(());
    }
    let mut named = BTreeSet::new();
    for filter in filters {
        let _ = visit_expressions(*filter, |expr| {
            match expr {
                Expr::Identifier(ident) => {
                    named.insert((None, ident.value.to_ascii_lowercase()));
                }
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let qualifier = parts[parts.len() - 2].value.to_ascii_lowercase();
                    named.insert((
                        Some(qualifier),
                        parts[parts.len() - 1].value.to_ascii_lowercase(),
                    ));
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    for (qualifier, column) in named {
        for (known, model) in models {
            if qualifier
                .as_ref()
                .is_some_and(|q| !q.eq_ignore_ascii_case(known))
            {
                continue;
            }
            if let Some(field) = model.field(&column) {
                let indexed = field.slot.as_ref().is_some_and(|s| s.status.readable());
                if !indexed {
                    let why = match (&field.slot, field.family) {
                        (Some(_), _) => super::Unindexed::Backfilling,
                        (None, None) => super::Unindexed::Json,
                        (None, Some(_)) => super::Unindexed::NoIndex,
                    };
                    return Err(Error::NotIndexed {
                        field: field.name.clone(),
                        table: model.table_name(),
                        why,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The source of each top-level result column.
fn top_sources(query: &Query, scope: Scope<'_>) -> Result<Vec<Option<Source>>, Error> {
    set_sources(query.body.as_ref(), scope)
}

fn set_sources(body: &SetExpr, scope: Scope<'_>) -> Result<Vec<Option<Source>>, Error> {
    let select = match body {
        SetExpr::Select(select) => select,
        SetExpr::Query(query) => return top_sources(query, scope),
        // A set operation's columns come from a temporary table, described as such (no key flags): the twins
        // type them.
        SetExpr::SetOperation { .. } => return Ok(Vec::new()),
        _ => return Ok(Vec::new()),
    };
    let models = models_in(&select.from, scope);
    let single = select.from.len() == 1 && select.from[0].joins.is_empty();
    let mut sources = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) if single && models.len() == 1 => {
                sources.extend(all_columns(&models[0].1))
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => return Ok(Vec::new()),
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                sources.push(
                    column_source(expr, &models)
                        .or_else(|| unchanged(expr).then_some(Source::Unchanged)),
                );
            }
            SelectItem::ExprWithAliases { .. } => sources.push(None),
        }
    }
    Ok(sources)
}

fn all_columns(model: &Arc<Model>) -> Vec<Option<Source>> {
    let mut all = vec![Some(Source::Id(model.clone()))];
    all.extend((0..model.fields.len()).map(|i| Some(Source::Field(model.clone(), i))));
    all.push(Some(Source::CreatedAt(model.clone())));
    all.push(Some(Source::UpdatedAt(model.clone())));
    all
}

/// Whether the backend types `expr` the same on a model table as on a native one: it reads no column (a literal,
/// a variable), or it is a `COUNT`, which is a BIGINT whatever it counts.
fn unchanged(expr: &Expr) -> bool {
    if let Expr::Function(function) = expr {
        if let [name] = function.name.0.as_slice() {
            if name
                .as_ident()
                .is_some_and(|n| n.value.eq_ignore_ascii_case("COUNT"))
            {
                return true;
            }
        }
    }
    visit_expressions(expr, |e| match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_continue()
}

/// A bare (possibly qualified) column of exactly one model in scope.
fn column_source(expr: &Expr, models: &[(String, Arc<Model>)]) -> Option<Source> {
    let (qualifier, name) = match expr {
        Expr::Identifier(ident) => (None, ident.value.as_str()),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => (
            Some(parts[parts.len() - 2].value.as_str()),
            parts[parts.len() - 1].value.as_str(),
        ),
        _ => return None,
    };
    let candidates: Vec<Source> = models
        .iter()
        .filter(|(known, _)| qualifier.is_none_or(|q| q.eq_ignore_ascii_case(known)))
        .filter_map(|(_, model)| match name.to_ascii_lowercase().as_str() {
            "id" => Some(Source::Id(model.clone())),
            "created_at" => Some(Source::CreatedAt(model.clone())),
            "updated_at" => Some(Source::UpdatedAt(model.clone())),
            _ => model
                .fields
                .iter()
                .position(|f| f.name.eq_ignore_ascii_case(name))
                .map(|i| Source::Field(model.clone(), i)),
        })
        .collect();
    match candidates.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}
