//! information_schema.KEY_COLUMN_USAGE and TABLE_CONSTRAINTS rows for model tables: each has its primary
//! key on `id`, and on MariaDB a `CHECK (json_valid(…))` per JSON field, as a native table would.

use super::{columns, text, Answer};
use crate::backend::Flavor;
use crate::catalog::Model;

/// information_schema.KEY_COLUMN_USAGE: the `PRIMARY` constraint on `id`, one row per model. The columns
/// are the same on both flavors.
pub fn information_schema_key_column_usage(models: &[&Model], database: &str) -> Answer {
    let mut answer = Answer::new(&[
        "CONSTRAINT_CATALOG",
        "CONSTRAINT_SCHEMA",
        "CONSTRAINT_NAME",
        "TABLE_CATALOG",
        "TABLE_SCHEMA",
        "TABLE_NAME",
        "COLUMN_NAME",
        "ORDINAL_POSITION",
        "POSITION_IN_UNIQUE_CONSTRAINT",
        "REFERENCED_TABLE_SCHEMA",
        "REFERENCED_TABLE_NAME",
        "REFERENCED_COLUMN_NAME",
    ]);
    for model in models {
        answer.rows.push(vec![
            text("def"),
            text(database),
            text("PRIMARY"),
            text("def"),
            text(database),
            text(model.table_name()),
            text("id"),
            text("1"),
            None,
            None,
            None,
            None,
        ]);
    }
    answer
}

/// information_schema.TABLE_CONSTRAINTS: `PRIMARY KEY` per model, then on MariaDB the `CHECK` constraint
/// guarding each JSON field. MySQL (8.0.16 and later) adds `ENFORCED`.
pub fn information_schema_table_constraints(
    models: &[&Model],
    database: &str,
    flavor: Flavor,
) -> Answer {
    let mut names = vec![
        "CONSTRAINT_CATALOG",
        "CONSTRAINT_SCHEMA",
        "CONSTRAINT_NAME",
        "TABLE_SCHEMA",
        "TABLE_NAME",
        "CONSTRAINT_TYPE",
    ];
    if flavor == Flavor::MySql {
        names.push("ENFORCED");
    }
    let mut answer = Answer::new(&names);
    for model in models {
        let table = model.table_name();
        let checks = columns(model, flavor)
            .into_iter()
            .filter(|c| c.json_check)
            .map(|c| (c.name, "CHECK"));
        for (name, kind) in std::iter::once(("PRIMARY".to_string(), "PRIMARY KEY")).chain(checks) {
            let mut row = vec![
                text("def"),
                text(database),
                text(name),
                text(database),
                text(table.clone()),
                text(kind),
            ];
            if flavor == Flavor::MySql {
                row.push(text("YES"));
            }
            answer.rows.push(row);
        }
    }
    answer
}

/// information_schema.CHECK_CONSTRAINTS: on MariaDB the `json_valid` check guarding each JSON field, a
/// column-level constraint named after its column, as MariaDB keeps for a native JSON column; MySQL keeps none.
pub fn information_schema_check_constraints(
    models: &[&Model],
    database: &str,
    flavor: Flavor,
) -> Answer {
    let names: &[&str] = match flavor {
        Flavor::MariaDb => &[
            "CONSTRAINT_CATALOG",
            "CONSTRAINT_SCHEMA",
            "TABLE_NAME",
            "CONSTRAINT_NAME",
            "LEVEL",
            "CHECK_CLAUSE",
        ],
        Flavor::MySql => &[
            "CONSTRAINT_CATALOG",
            "CONSTRAINT_SCHEMA",
            "CONSTRAINT_NAME",
            "CHECK_CLAUSE",
        ],
    };
    let mut answer = Answer::new(names);
    for model in models {
        for column in columns(model, flavor).into_iter().filter(|c| c.json_check) {
            answer.rows.push(vec![
                text("def"),
                text(database),
                text(model.table_name()),
                text(column.name.clone()),
                text("Column"),
                text(format!("json_valid(`{}`)", column.name)),
            ]);
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::super::fixture::company;
    use super::*;

    fn texts(row: &[Option<String>]) -> Vec<&str> {
        row.iter()
            .map(|v| v.as_deref().unwrap_or("(null)"))
            .collect()
    }

    #[test]
    fn key_column_usage_names_the_primary_key() {
        let model = company(Flavor::MySql);
        let answer = information_schema_key_column_usage(&[&model], "app");
        assert_eq!(answer.columns.len(), 12);
        assert_eq!(answer.columns[11], "REFERENCED_COLUMN_NAME");
        let n = "(null)";
        assert_eq!(
            texts(&answer.rows[0]),
            [
                "def",
                "app",
                "PRIMARY",
                "def",
                "app",
                "model_company",
                "id",
                "1",
                n,
                n,
                n,
                n
            ]
        );
        assert!(information_schema_key_column_usage(&[], "app")
            .rows
            .is_empty());
    }

    #[test]
    fn table_constraints_per_flavor() {
        let model = company(Flavor::MariaDb);
        let maria = information_schema_table_constraints(&[&model], "app", Flavor::MariaDb);
        assert_eq!(maria.columns.len(), 6);
        let rows: Vec<Vec<&str>> = maria.rows.iter().map(|r| texts(r)).collect();
        assert_eq!(
            rows,
            vec![
                vec![
                    "def",
                    "app",
                    "PRIMARY",
                    "app",
                    "model_company",
                    "PRIMARY KEY"
                ],
                vec!["def", "app", "meta", "app", "model_company", "CHECK"],
            ]
        );
        let model = company(Flavor::MySql);
        let mysql = information_schema_table_constraints(&[&model], "app", Flavor::MySql);
        assert_eq!(mysql.columns[6], "ENFORCED");
        let rows: Vec<Vec<&str>> = mysql.rows.iter().map(|r| texts(r)).collect();
        assert_eq!(
            rows,
            vec![vec![
                "def",
                "app",
                "PRIMARY",
                "app",
                "model_company",
                "PRIMARY KEY",
                "YES"
            ]]
        );
    }
}
