//! `SHOW [FULL] COLUMNS` and `DESCRIBE` for a model table.

use super::{columns, like, text, Answer, PRIVILEGES};
use crate::backend::Flavor;
use crate::catalog::Model;

/// `SHOW [FULL] COLUMNS FROM model_x [LIKE 'p']`; `DESCRIBE model_x` is the non-full form. LIKE matches the
/// column name case-insensitively, as the server does.
pub fn show_columns(model: &Model, flavor: Flavor, full: bool, like: Option<&str>) -> Answer {
    let mut answer = if full {
        Answer::new(&[
            "Field",
            "Type",
            "Collation",
            "Null",
            "Key",
            "Default",
            "Extra",
            "Privileges",
            "Comment",
        ])
    } else {
        Answer::new(&["Field", "Type", "Null", "Key", "Default", "Extra"])
    };
    for column in columns(model, flavor) {
        if like.is_some_and(|pattern| !like::like(pattern, &column.name, true)) {
            continue;
        }
        let null = if column.nullable { "YES" } else { "NO" };
        answer.rows.push(if full {
            vec![
                text(column.name),
                text(column.column_type),
                column.collation,
                text(null),
                text(column.key.as_str()),
                column.default,
                text(column.extra),
                text(PRIVILEGES),
                text(column.comment),
            ]
        } else {
            vec![
                text(column.name),
                text(column.column_type),
                text(null),
                text(column.key.as_str()),
                column.default,
                text(column.extra),
            ]
        });
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::super::fixture::company;
    use super::*;

    fn texts(row: &[Option<String>]) -> Vec<&str> {
        row.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect()
    }

    #[test]
    fn describe_prints_the_six_columns() {
        let answer = show_columns(&company(Flavor::MariaDb), Flavor::MariaDb, false, None);
        assert_eq!(
            answer.columns,
            ["Field", "Type", "Null", "Key", "Default", "Extra"]
        );
        let rows: Vec<Vec<&str>> = answer.rows.iter().map(|r| texts(r)).collect();
        assert_eq!(
            rows,
            vec![
                vec![
                    "id",
                    "bigint(20) unsigned",
                    "NO",
                    "PRI",
                    "NULL",
                    "auto_increment"
                ],
                vec!["name", "varchar(200)", "YES", "MUL", "NULL", ""],
                vec!["employees", "int(11)", "NO", "MUL", "NULL", ""],
                vec!["city", "varchar(64)", "YES", "", "x", ""],
                vec!["meta", "longtext", "YES", "", "NULL", ""],
                vec!["created_at", "datetime", "NO", "", "NULL", ""],
                vec!["updated_at", "datetime", "NO", "", "NULL", ""],
            ]
        );
        assert_eq!(
            answer.rows[0][4], None,
            "no default is SQL NULL, not the text"
        );
    }

    #[test]
    fn full_columns_add_collation_privileges_and_comment() {
        let answer = show_columns(&company(Flavor::MySql), Flavor::MySql, true, None);
        assert_eq!(
            answer.columns,
            [
                "Field",
                "Type",
                "Collation",
                "Null",
                "Key",
                "Default",
                "Extra",
                "Privileges",
                "Comment"
            ]
        );
        let p = PRIVILEGES;
        assert_eq!(
            texts(&answer.rows[0]),
            [
                "id",
                "bigint unsigned",
                "NULL",
                "NO",
                "PRI",
                "NULL",
                "auto_increment",
                p,
                ""
            ]
        );
        assert_eq!(
            texts(&answer.rows[1]),
            [
                "name",
                "varchar(200)",
                "utf8mb4_0900_ai_ci",
                "YES",
                "MUL",
                "NULL",
                "",
                p,
                ""
            ]
        );
        assert_eq!(
            texts(&answer.rows[4]),
            ["meta", "json", "NULL", "YES", "", "NULL", "", p, ""]
        );
        let maria = show_columns(&company(Flavor::MariaDb), Flavor::MariaDb, true, None);
        assert_eq!(maria.rows[4][2].as_deref(), Some("utf8mb4_bin"));
    }

    #[test]
    fn column_like_is_case_insensitive() {
        let model = company(Flavor::MariaDb);
        let names = |pattern: &str| -> Vec<String> {
            let answer = show_columns(&model, Flavor::MariaDb, false, Some(pattern));
            answer
                .rows
                .into_iter()
                .filter_map(|r| r[0].clone())
                .collect()
        };
        assert_eq!(names("NA%"), ["name"]);
        assert_eq!(names("%\\_at"), ["created_at", "updated_at"]);
        assert!(names("nothing").is_empty());
    }
}
