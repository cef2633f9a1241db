//! Rewriting statements into backend SQL by editing sqlparser's AST: pure functions, no I/O.

pub mod by_id;
pub mod information_schema;
pub mod plans;
pub mod select;
pub mod shape;
pub mod share_lock;
pub mod system_schema;
pub mod twin;

use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions_mut, Expr, Ident, Query, SelectItem, SelectItemQualifiedWildcardKind,
    SetExpr, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// `home.model_x.col` and `home.model_x.*` become `model_x.col` and `model_x.*`: the model table is replaced by a
/// derived table (or a twin) known as `model_x`, which no database name qualifies. BI tools qualify every column
/// with its database and table. A model table given an alias cannot be named so in MySQL either.
pub(crate) fn unqualify_model_columns(statement: &mut Statement, home: &str) {
    let model_in_home =
        |db: &Ident, table: &Ident| db.value == home && crate::catalog::is_virtual(&table.value);
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::CompoundIdentifier(parts) = expr {
            if parts.len() == 3 && model_in_home(&parts[0], &parts[1]) {
                parts.remove(0);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    struct Wildcards<'a>(&'a str);
    impl VisitorMut for Wildcards<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            unqualify_wildcards(query.body.as_mut(), self.0);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Wildcards(home));
}

fn unqualify_wildcards(body: &mut SetExpr, home: &str) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    _,
                ) = item
                {
                    let model_in_home = matches!(name.0.as_slice(), [db, table]
                        if db.as_ident().is_some_and(|d| d.value == home)
                            && table.as_ident().is_some_and(|t| crate::catalog::is_virtual(&t.value)));
                    if model_in_home {
                        name.0.remove(0);
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            unqualify_wildcards(left, home);
            unqualify_wildcards(right, home);
        }
        _ => {}
    }
}

/// Parses SQL the rewriter composed from catalog data (never user text) into a query.
fn parse_query(sql: &str) -> Result<Query, Error> {
    let mut parsed =
        Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| Error::Build(e.to_string()))?;
    match parsed.pop() {
        Some(Statement::Query(query)) => Ok(*query),
        _ => Err(Error::Build("the composed SQL is not a query".to_string())),
    }
}

/// Puts a derived table in place of a table reference, under the reference's alias or, without one, the table's
/// own name, so every qualified column reference in the statement still resolves.
fn replace_with_derived(factor: &mut TableFactor, subquery: Query, name: &str) {
    let alias = match factor {
        TableFactor::Table { alias, .. } => alias.clone(),
        _ => None,
    };
    let alias = alias.unwrap_or(TableAlias {
        explicit: true,
        name: Ident::new(name),
        columns: Vec::new(),
        at: None,
    });
    *factor = TableFactor::Derived {
        lateral: false,
        subquery: Box::new(subquery),
        alias: Some(alias),
        sample: None,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the rewritten statement: {0}")]
    Build(String),
    #[error("Table '{database}.{table}' doesn't exist")]
    NoSuchTable { database: String, table: String },
    #[error(
        "Column '{field}' of {table} is {}: filtering on it would read every entry's JSON. {} allow scans for \
         this session (SET stardust_allow_scan = 1)",
        match why {
            Unindexed::NoIndex => "not indexed",
            Unindexed::Backfilling => "still being indexed",
            Unindexed::Json => "JSON, which no index serves",
        },
        match why {
            Unindexed::NoIndex => format!("Index it (ALTER TABLE {table} ADD INDEX ({field})) or"),
            Unindexed::Backfilling =>
                format!("Wait until stardust.fields shows its slot_status 'ready' (table_name '{table}'), or"),
            Unindexed::Json => "Filter on a scalar column, or".to_string(),
        }
    )]
    NotIndexed {
        field: String,
        table: String,
        why: Unindexed,
    },
}

/// Why a filtered field has no index to serve the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unindexed {
    /// Declared without an index (`ALTER TABLE … ADD INDEX` gives it one).
    NoIndex,
    /// Indexed, and the Reconciler is still filling the index.
    Backfilling,
    /// A JSON column, which takes no index.
    Json,
}

impl Error {
    pub fn kind(&self) -> crate::error::Kind {
        match self {
            Error::Build(_) => crate::error::Kind::Internal,
            Error::NoSuchTable { .. } => crate::error::Kind::NoSuchTable,
            Error::NotIndexed { .. } => crate::error::Kind::NotIndexed,
        }
    }
}
