//! information_schema.TABLES and information_schema.COLUMNS rows for model tables, with exactly the real
//! tables' columns on each flavor, so that a user's projection, WHERE and ORDER BY work on them unchanged.

use super::tables::status;
use super::types::{charset, Measures};
use super::PRIVILEGES;
use super::{columns, text, Answer, VirtualColumn};
use crate::backend::Flavor;
use crate::catalog::Model;

/// information_schema.TABLES rows for the models, in `database`.
pub fn information_schema_tables(models: &[&Model], database: &str, flavor: Flavor) -> Answer {
    let mut names = vec![
        "TABLE_CATALOG",
        "TABLE_SCHEMA",
        "TABLE_NAME",
        "TABLE_TYPE",
        "ENGINE",
        "VERSION",
        "ROW_FORMAT",
        "TABLE_ROWS",
        "AVG_ROW_LENGTH",
        "DATA_LENGTH",
        "MAX_DATA_LENGTH",
        "INDEX_LENGTH",
        "DATA_FREE",
        "AUTO_INCREMENT",
        "CREATE_TIME",
        "UPDATE_TIME",
        "CHECK_TIME",
        "TABLE_COLLATION",
        "CHECKSUM",
        "CREATE_OPTIONS",
        "TABLE_COMMENT",
    ];
    if flavor == Flavor::MariaDb {
        names.extend(["MAX_INDEX_LENGTH", "TEMPORARY"]);
    }
    let mut answer = Answer::new(&names);
    for model in models {
        let mut row = vec![
            text("def"),
            text(database),
            text(model.table_name()),
            text("BASE TABLE"),
        ];
        row.extend(status(model, flavor));
        answer.rows.push(row);
    }
    answer
}

/// information_schema.COLUMNS rows for the models, in `database`; ORDINAL_POSITION counts from 1.
pub fn information_schema_columns(models: &[&Model], database: &str, flavor: Flavor) -> Answer {
    let mut names = vec![
        "TABLE_CATALOG",
        "TABLE_SCHEMA",
        "TABLE_NAME",
        "COLUMN_NAME",
        "ORDINAL_POSITION",
        "COLUMN_DEFAULT",
        "IS_NULLABLE",
        "DATA_TYPE",
        "CHARACTER_MAXIMUM_LENGTH",
        "CHARACTER_OCTET_LENGTH",
        "NUMERIC_PRECISION",
        "NUMERIC_SCALE",
        "DATETIME_PRECISION",
        "CHARACTER_SET_NAME",
        "COLLATION_NAME",
        "COLUMN_TYPE",
        "COLUMN_KEY",
        "EXTRA",
        "PRIVILEGES",
        "COLUMN_COMMENT",
    ];
    match flavor {
        Flavor::MariaDb => names.extend(["IS_GENERATED", "GENERATION_EXPRESSION"]),
        Flavor::MySql => names.extend(["GENERATION_EXPRESSION", "SRS_ID"]),
    }
    let mut answer = Answer::new(&names);
    for model in models {
        let table = model.table_name();
        for (position, column) in columns(model, flavor).into_iter().enumerate() {
            let mut row = vec![
                text("def"),
                text(database),
                text(table.clone()),
                text(column.name.clone()),
                text((position + 1).to_string()),
                column_default(&column, flavor),
                text(if column.nullable { "YES" } else { "NO" }),
                text(column.data_type()),
            ];
            let measures = Measures::of(&column.column_type, column.collation.as_deref(), flavor);
            row.extend(
                [
                    measures.character_maximum_length,
                    measures.character_octet_length,
                    measures.numeric_precision,
                    measures.numeric_scale,
                    measures.datetime_precision,
                ]
                .map(|n| n.map(|n| n.to_string())),
            );
            row.extend([
                column.collation.as_deref().map(|c| charset(c).to_string()),
                column.collation,
                text(column.column_type),
                text(column.key.as_str()),
                text(column.extra),
                text(PRIVILEGES),
                text(column.comment),
            ]);
            match flavor {
                Flavor::MariaDb => row.extend([text("NEVER"), None]),
                Flavor::MySql => row.extend([text(""), None]),
            }
            answer.rows.push(row);
        }
    }
    answer
}

/// COLUMN_DEFAULT: MariaDB prints the default as SQL (`'x'`, `1.50`, `current_timestamp()`) and the text
/// `NULL` for a nullable column without one; MySQL prints the bare value, and SQL NULL when there is none.
fn column_default(column: &VirtualColumn, flavor: Flavor) -> Option<String> {
    match flavor {
        Flavor::MySql => column.default.clone(),
        Flavor::MariaDb => match column.default_sql(flavor) {
            Some(default) => Some(default),
            None if column.nullable => text("NULL"),
            None => None,
        },
    }
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
    fn tables_rows_per_flavor() {
        let model = company(Flavor::MariaDb);
        let maria = information_schema_tables(&[&model], "app", Flavor::MariaDb);
        assert_eq!(maria.columns.len(), 23);
        assert_eq!(
            texts(&maria.rows[0]),
            [
                "def",
                "app",
                "model_company",
                "BASE TABLE",
                "InnoDB",
                "10",
                "Dynamic",
                "0",
                "0",
                "16384",
                "0",
                "32768",
                "0",
                "(null)",
                "2024-05-01 12:00:00",
                "(null)",
                "(null)",
                "utf8mb4_general_ci",
                "(null)",
                "",
                "",
                "0",
                "N"
            ]
        );
        let mysql = information_schema_tables(&[&model], "app", Flavor::MySql);
        assert_eq!(mysql.columns.len(), 21);
        assert_eq!(mysql.columns[20], "TABLE_COMMENT");
        assert_eq!(mysql.rows[0].len(), 21);
        assert_eq!(mysql.rows[0][17].as_deref(), Some("utf8mb4_0900_ai_ci"));
    }

    #[test]
    fn columns_on_mariadb() {
        let model = company(Flavor::MariaDb);
        let answer = information_schema_columns(&[&model], "app", Flavor::MariaDb);
        assert_eq!(answer.columns.len(), 22);
        assert_eq!(
            &answer.columns[20..],
            ["IS_GENERATED", "GENERATION_EXPRESSION"]
        );
        let rows: Vec<Vec<&str>> = answer.rows.iter().map(|r| texts(&r[3..])).collect();
        let p = PRIVILEGES;
        let n = "(null)";
        #[rustfmt::skip]
        let expected = vec![
            vec!["id", "1", n, "NO", "bigint", n, n, "20", "0", n, n, n, "bigint(20) unsigned", "PRI", "auto_increment", p, "", "NEVER", n],
            vec!["name", "2", "NULL", "YES", "varchar", "200", "800", n, n, n, "utf8mb4", "utf8mb4_general_ci", "varchar(200)", "MUL", "", p, "", "NEVER", n],
            vec!["employees", "3", n, "NO", "int", n, n, "10", "0", n, n, n, "int(11)", "MUL", "", p, "", "NEVER", n],
            vec!["city", "4", "'x'", "YES", "varchar", "64", "256", n, n, n, "utf8mb4", "utf8mb4_general_ci", "varchar(64)", "", "", p, "", "NEVER", n],
            vec!["meta", "5", "NULL", "YES", "longtext", "4294967295", "4294967295", n, n, n, "utf8mb4", "utf8mb4_bin", "longtext", "", "", p, "", "NEVER", n],
            vec!["created_at", "6", n, "NO", "datetime", n, n, n, n, "0", n, n, "datetime", "", "", p, "", "NEVER", n],
            vec!["updated_at", "7", n, "NO", "datetime", n, n, n, n, "0", n, n, "datetime", "", "", p, "", "NEVER", n],
        ];
        assert_eq!(rows, expected);
        assert_eq!(texts(&answer.rows[0][..3]), ["def", "app", "model_company"]);
        assert_eq!(
            answer.rows[1][5].as_deref(),
            Some("NULL"),
            "the text NULL, not SQL NULL"
        );
    }

    #[test]
    fn columns_on_mysql() {
        let model = company(Flavor::MySql);
        let answer = information_schema_columns(&[&model], "app", Flavor::MySql);
        assert_eq!(answer.columns.len(), 22);
        assert_eq!(
            &answer.columns[19..],
            ["COLUMN_COMMENT", "GENERATION_EXPRESSION", "SRS_ID"]
        );
        let rows: Vec<Vec<&str>> = answer.rows.iter().map(|r| texts(&r[3..])).collect();
        let p = PRIVILEGES;
        let n = "(null)";
        #[rustfmt::skip]
        let expected = vec![
            vec!["id", "1", n, "NO", "bigint", n, n, "20", "0", n, n, n, "bigint unsigned", "PRI", "auto_increment", p, "", "", n],
            vec!["name", "2", n, "YES", "varchar", "200", "800", n, n, n, "utf8mb4", "utf8mb4_0900_ai_ci", "varchar(200)", "MUL", "", p, "", "", n],
            vec!["employees", "3", n, "NO", "int", n, n, "10", "0", n, n, n, "int", "MUL", "", p, "", "", n],
            vec!["city", "4", "x", "YES", "varchar", "64", "256", n, n, n, "utf8mb4", "utf8mb4_0900_ai_ci", "varchar(64)", "", "", p, "", "", n],
            vec!["meta", "5", n, "YES", "json", n, n, n, n, n, n, n, "json", "", "", p, "", "", n],
            vec!["created_at", "6", n, "NO", "datetime", n, n, n, n, "0", n, n, "datetime", "", "", p, "", "", n],
            vec!["updated_at", "7", n, "NO", "datetime", n, n, n, n, "0", n, n, "datetime", "", "", p, "", "", n],
        ];
        assert_eq!(rows, expected);
    }

    #[test]
    fn several_models_in_order_given() {
        let (a, mut b) = (company(Flavor::MySql), company(Flavor::MySql));
        b.name = "acme".to_string();
        let answer = information_schema_columns(&[&a, &b], "app", Flavor::MySql);
        assert_eq!(answer.rows.len(), 14);
        assert_eq!(answer.rows[7][2].as_deref(), Some("model_acme"));
        assert_eq!(answer.rows[7][4].as_deref(), Some("1"));
    }
}
