//! Which tables a statement names, and which of them are virtual (`model_*` in the home database) or
//! information_schema tables the proxy answers with virtual rows.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_relations, ObjectName, ObjectType, Statement};

use crate::catalog::is_virtual;

/// information_schema tables whose rows include virtual tables.
pub const INFORMATION_SCHEMA_TABLES: [&str; 5] = [
    "TABLES",
    "COLUMNS",
    "STATISTICS",
    "KEY_COLUMN_USAGE",
    "TABLE_CONSTRAINTS",
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

/// Every table the statement names: relations anywhere (subqueries, joins, CTEs) and DDL targets.
pub fn tables(statement: &Statement, home: &str) -> Vec<Table> {
    let mut found = Vec::new();
    let _ = visit_relations(statement, |name| {
        found.push(table(name, home));
        ControlFlow::<()>::Continue(())
    });
    for name in ddl_targets(statement) {
        found.push(table(name, home));
    }
    // `dual` is no table.
    found.retain(|t| !matches!(t, Table::Backend(name) if name.eq_ignore_ascii_case("dual")));
    found
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
