//! Which tables a statement names, and which of them are virtual (`model_*` in the home database) or
//! information_schema tables the proxy answers with virtual rows.

use std::ops::ControlFlow;

use sqlparser::ast::{ObjectName, ObjectType, Query, Statement, Visit, Visitor};

use crate::catalog::is_virtual;

/// information_schema tables whose rows include virtual tables.
pub const INFORMATION_SCHEMA_TABLES: [&str; 6] = [
    "TABLES",
    "COLUMNS",
    "STATISTICS",
    "KEY_COLUMN_USAGE",
    "TABLE_CONSTRAINTS",
    "CHECK_CONSTRAINTS",
];

/// What a table name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// A model table in the home database; the name without qualifier.
    Virtual(String),
    /// One of [`INFORMATION_SCHEMA_TABLES`], upper-cased.
    InformationSchema(String),
    /// A table of the read-only `stardust` system schema (`stardust.models`, …).
    System(&'static str),
    /// Anything else: a backend table.
    Backend(String),
}

/// Classifies a (possibly qualified) table name.
pub fn table(name: &ObjectName, home: &str) -> Table {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect();
    let printed = name.to_string().replace('`', "");
    if let Some(system) = crate::rewrite::system_schema::system_table(&parts) {
        return Table::System(system);
    }
    match parts.as_slice() {
        [table] if is_virtual(table) => Table::Virtual(table.clone()),
        [db, table] if db == home && is_virtual(table) => Table::Virtual(table.clone()),
        [db, table] if db.eq_ignore_ascii_case("information_schema") => {
            let upper = table.to_ascii_uppercase();
            if INFORMATION_SCHEMA_TABLES.contains(&upper.as_str()) {
                Table::InformationSchema(upper)
            } else {
                Table::Backend(printed)
            }
        }
        _ => Table::Backend(printed),
    }
}

/// Every table the statement names: relations anywhere (subqueries, joins, CTE bodies) and DDL targets. A
/// reference to a common table expression is no table; see [`Relations`] for when a name is one.
pub fn tables(statement: &Statement, home: &str) -> Vec<Table> {
    tables_and_ctes(statement, home).0
}

/// [`tables`], and the names of every common table expression the statement defines, at any depth — found in
/// the same walk.
pub fn tables_and_ctes(statement: &Statement, home: &str) -> (Vec<Table>, Vec<String>) {
    let mut relations = Relations {
        home,
        found: Vec::new(),
        scopes: Vec::new(),
        defined: Vec::new(),
    };
    let _ = statement.visit(&mut relations);
    let mut found = relations.found;
    for name in ddl_targets(statement) {
        found.push(table(name, home));
    }
    // `dual` is no table.
    found.retain(|t| !matches!(t, Table::Backend(name) if name.eq_ignore_ascii_case("dual")));
    (found, relations.defined)
}

/// Collects the tables a statement reads or writes, leaving out references to common table expressions. A name
/// is taken for a CTE only where the server is bound to resolve it to one, so no real table can pass for a CTE:
/// it is unqualified, spelt exactly as the CTE, and in the CTE's scope — the query that defines it (its body
/// and the subqueries in it), a later CTE of the same `WITH`, or, under `WITH RECURSIVE`, any CTE of it. Under a
/// plain `WITH`, a CTE's own body, or an earlier one's, naming it means a real table of that name.
struct Relations<'a> {
    home: &'a str,
    found: Vec<Table>,
    /// For each query being visited, innermost last: the CTE names its own FROM clauses may refer to, and for each
    /// CTE it defines, the body's address and the names visible inside that body.
    scopes: Vec<Scope>,
    /// Every CTE name defined.
    defined: Vec<String>,
}

struct Scope {
    visible: Vec<String>,
    bodies: Vec<(*const Query, Vec<String>)>,
}

impl Visitor for Relations<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let inherited = match self.scopes.last() {
            Some(outer) => outer
                .bodies
                .iter()
                .find(|(body, _)| std::ptr::eq(*body, query))
                .map(|(_, names)| names.clone())
                .unwrap_or_else(|| outer.visible.clone()),
            None => Vec::new(),
        };
        let mut scope = Scope {
            visible: inherited.clone(),
            bodies: Vec::new(),
        };
        if let Some(with) = &query.with {
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|c| c.alias.name.value.clone())
                .collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let mut inside = inherited.clone();
                inside.extend_from_slice(if with.recursive { &names } else { &names[..i] });
                scope.bodies.push((&*cte.query as *const Query, inside));
            }
            scope.visible.extend(names.iter().cloned());
            self.defined.extend(names);
        }
        self.scopes.push(scope);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let cte = match name.0.as_slice() {
            [part] => part.as_ident().is_some_and(|ident| {
                self.scopes
                    .last()
                    .is_some_and(|scope| scope.visible.contains(&ident.value))
            }),
            _ => false,
        };
        if !cte {
            self.found.push(table(name, self.home));
        }
        ControlFlow::Continue(())
    }
}

/// The tables DDL statements name, which sqlparser's relation visitor does not visit.
fn ddl_targets(statement: &Statement) -> Vec<&ObjectName> {
    match statement {
        Statement::Drop {
            object_type: ObjectType::Table | ObjectType::View,
            names,
            ..
        } => names.iter().collect(),
        Statement::Drop {
            object_type: ObjectType::Index,
            table,
            ..
        } => table.iter().collect(),
        Statement::AlterTable(alter) => vec![&alter.name],
        Statement::CreateTable(create) => vec![&create.name],
        Statement::CreateIndex(create) => vec![&create.table_name],
        Statement::RenameTable(renames) => renames
            .iter()
            .flat_map(|r| [&r.old_name, &r.new_name])
            .collect(),
        Statement::ShowCreate { obj_name, .. } => vec![obj_name],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn of(sql: &str) -> Vec<Table> {
        let statement = Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0);
        tables(&statement, "app")
    }

    #[test]
    fn common_table_expressions_are_no_tables_within_their_scope_only() {
        let backend = |name: &str| Table::Backend(name.to_string());
        assert_eq!(
            of("WITH t AS (SELECT * FROM model_x) SELECT * FROM t JOIN (SELECT * FROM t) AS u ON 1"),
            vec![Table::Virtual("model_x".into())]
        );
        assert_eq!(
            of("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b"),
            vec![]
        );
        // Outside its query, a plain WITH's own or later CTE's body, another spelling, a qualified name: real tables.
        assert_eq!(
            of("SELECT * FROM entry_data WHERE EXISTS (WITH entry_data AS (SELECT 1) SELECT * FROM entry_data)"),
            vec![backend("entry_data")]
        );
        assert_eq!(
            of("WITH entry_data AS (SELECT * FROM entry_data) SELECT * FROM entry_data"),
            vec![backend("entry_data")]
        );
        assert_eq!(
            of("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a"),
            vec![backend("b")]
        );
        assert_eq!(
            of("WITH t AS (SELECT 1) SELECT * FROM T"),
            vec![backend("T")]
        );
        assert_eq!(
            of("WITH t AS (SELECT 1) SELECT * FROM app.t"),
            vec![backend("app.t")]
        );
        assert_eq!(
            of("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r"),
            vec![]
        );
    }

    #[test]
    fn classifies_names() {
        assert_eq!(
            of("SELECT * FROM model_x"),
            vec![Table::Virtual("model_x".into())]
        );
        assert_eq!(
            of("SELECT * FROM app.model_x"),
            vec![Table::Virtual("model_x".into())]
        );
        assert_eq!(
            of("SELECT * FROM other.model_x"),
            vec![Table::Backend("other.model_x".into())]
        );
        assert_eq!(
            of("SELECT * FROM information_schema.columns"),
            vec![Table::InformationSchema("COLUMNS".into())]
        );
        assert_eq!(
            of("SELECT * FROM information_schema.PROCESSLIST"),
            vec![Table::Backend("information_schema.PROCESSLIST".into())]
        );
        assert_eq!(of("DROP TABLE model_a, entry_data").len(), 2);
        assert_eq!(
            of("RENAME TABLE model_a TO model_b"),
            vec![
                Table::Virtual("model_a".into()),
                Table::Virtual("model_b".into())
            ]
        );
        assert!(of("SELECT 1 FROM dual").is_empty());
    }
}
