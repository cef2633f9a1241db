//! Native twins: an empty TEMPORARY table per model, declared with the model's own columns, against which a
//! SELECT's computed result columns are typed. The backend types `LOWER(name)` or `SUM(qty)` from what it reads —
//! on a model table, the slot (TEXT, BIGINT) or a JSON extraction; on a native table, the declared column. Running
//! the user's SELECT once more on the (empty) twins gives the metadata the native table would give.

use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{
    visit_expressions, BinaryOperator, Expr, Ident, ObjectName, ObjectNamePart, Statement,
    TableAlias, TableFactor, VisitMut, VisitorMut,
};

use super::select::Scope;
use crate::catalog::Model;
use crate::sql::names::{self, Table};
use crate::sql::quote_identifier;

/// The twin of one model, as named on the backend session.
pub fn table_name(model: &Model) -> String {
    format!("stardust_twin_{}", model.id)
}

/// The twin's definition: the model's columns as a native table declares them, and the indexes of its indexed
/// fields, so the backend plans a SELECT on the twins as on a native table (whether rows pass through a
/// temporary table changes some of their metadata). A string or JSON type that takes no plain index (TEXT,
/// BLOB, JSON) keeps its column without the index.
pub fn ddl(model: &Model) -> String {
    let mut columns = vec!["`id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY".to_string()];
    columns.extend(
        model
            .fields
            .iter()
            .map(|f| format!("{} {}", quote_identifier(&f.name), f.shape.declared_sql)),
    );
    columns.push("`created_at` DATETIME NOT NULL".to_string());
    columns.push("`updated_at` DATETIME NOT NULL".to_string());
    for field in model.fields.iter().filter(|f| f.index_name.is_some()) {
        if let Some(part) = key_part(&field.name, &field.shape.column_type) {
            columns.push(format!("KEY ({part})"));
        }
    }
    format!(
        "CREATE TEMPORARY TABLE `{}` ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        table_name(model),
        columns.join(", ")
    )
}

/// The key part indexing a column of `column_type` (as SHOW COLUMNS prints it): none for TEXT, BLOB and JSON,
/// which take no plain index; a prefix of 768 characters for a longer string (InnoDB's 3072-byte key limit in
/// utf8mb4: MariaDB shortens such a key by itself, MySQL refuses it).
fn key_part(name: &str, column_type: &str) -> Option<String> {
    let t = column_type.to_ascii_lowercase();
    if t.contains("text") || t.contains("blob") || t.starts_with("json") {
        return None;
    }
    let length = t
        .strip_prefix("varchar(")
        .or_else(|| t.strip_prefix("char("))
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse::<u32>().ok());
    Some(match length {
        Some(n) if n > 768 => format!("{}(768)", quote_identifier(name)),
        _ => quote_identifier(name),
    })
}

/// A SELECT on model tables turned into the same SELECT on their twins.
pub struct Probe {
    pub statement: Statement,
    /// The models whose twins it reads.
    pub models: Vec<Arc<Model>>,
}

/// The probe of `statement` (a query, before the rewrite): every model table reference names the model's twin
/// instead, under the alias the statement knows it by. The twins are empty, so running it reads nothing and
/// returns no row (or one row of aggregates over nothing); it is run rather than prepared or limited to
/// `LIMIT 0`, because MariaDB describes some columns differently on those paths (a BINARY flag on numbers).
/// `None` when the statement names no model, is not a query, or is not [`harmless`].
pub fn probe(statement: &Statement, scope: Scope<'_>) -> Option<Probe> {
    let Statement::Query(query) = statement else {
        return None;
    };
    if !harmless(statement, scope.home) {
        return None;
    }
    let mut statement = Statement::Query(query.clone());
    super::unqualify_model_columns(&mut statement, scope.home);
    let Statement::Query(mut query) = statement else {
        return None;
    };
    let mut twins = Twins {
        scope,
        models: Vec::new(),
    };
    if let ControlFlow::Break(()) = query.visit(&mut twins) {
        return None;
    }
    if twins.models.is_empty() {
        return None;
    }
    // Locking changes no result type, and a shared lock would print as `FOR SHARE`, which MariaDB does not read.
    query.locks.clear();
    Some(Probe {
        statement: Statement::Query(query),
        models: twins.models,
    })
}

/// Whether running the statement on empty twins has no effect and costs nothing: it reads only model tables (a
/// backend table would be read for real), stores nothing (`INTO`, `:=`), and calls nothing that acts or waits.
fn harmless(statement: &Statement, home: &str) -> bool {
    const ACTING: [&str; 8] = [
        "sleep",
        "benchmark",
        "nextval",
        "setval",
        "lastval",
        "last_insert_id",
        "get_lock",
        "release_lock",
    ];
    if names::tables(statement, home)
        .iter()
        .any(|t| !matches!(t, Table::Virtual(_)))
    {
        return false;
    }
    if let Statement::Query(query) = statement {
        if let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() {
            if select.into.is_some() {
                return false;
            }
        }
    }
    visit_expressions(statement, |e| match e {
        Expr::BinaryOp {
            op: BinaryOperator::Assignment,
            ..
        } => ControlFlow::Break(()),
        Expr::Function(f)
            if f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|n| ACTING.iter().any(|a| n.value.eq_ignore_ascii_case(a))) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_continue()
}

struct Twins<'a> {
    scope: Scope<'a>,
    models: Vec<Arc<Model>>,
}

impl VisitorMut for Twins<'_> {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let Table::Virtual(table) = names::table(name, self.scope.home) else {
            return ControlFlow::Continue(());
        };
        // A model the catalog does not know: the real statement reports it.
        let Some(model) = self.scope.catalog.model_for_table(&table).cloned() else {
            return ControlFlow::Break(());
        };
        if alias.is_none() {
            *alias = Some(TableAlias {
                explicit: true,
                name: Ident::new(&table),
                columns: Vec::new(),
                at: None,
            });
        }
        *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
            '`',
            table_name(&model),
        ))]);
        if !self.models.iter().any(|m| m.id == model.id) {
            self.models.push(model);
        }
        ControlFlow::Continue(())
    }
}
