//! A virtual table's indexes — `PRIMARY` on `id`, then one single-column index per indexed field — as
//! `SHOW INDEX` and information_schema.STATISTICS list them.

use super::{columns, text, Answer, Key, VirtualColumn};
use crate::backend::Flavor;
use crate::catalog::Model;

/// One single-column index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Index {
    pub name: String,
    pub column: String,
    pub unique: bool,
    pub nullable: bool,
}

/// The indexes in the order the server lists them: the primary key first, then the fields' indexes in
/// declaration order.
pub(super) fn indexes(columns: &[VirtualColumn]) -> Vec<Index> {
    columns
        .iter()
        .filter_map(|c| {
            Some(Index {
                name: c.index.clone()?,
                unique: c.key == Key::Primary,
                column: c.name.clone(),
                nullable: c.nullable,
            })
        })
        .collect()
}

/// The values every index row shares after its name and column: Collation, Cardinality, Sub_part, Packed,
/// Null, Index_type, Comment, Index_comment, then MariaDB's Ignored or MySQL's Visible and Expression.
fn details(index: &Index, flavor: Flavor) -> Vec<Option<String>> {
    let mut row = vec![
        text("A"),
        text("0"),
        None,
        None,
        text(if index.nullable { "YES" } else { "" }),
        text("BTREE"),
        text(""),
        text(""),
    ];
    match flavor {
        Flavor::MariaDb => row.push(text("NO")),
        Flavor::MySql => row.extend([text("YES"), None]),
    }
    row
}

fn non_unique(index: &Index) -> Option<String> {
    text(if index.unique { "0" } else { "1" })
}

/// `SHOW {INDEX | KEYS} FROM model_x`.
pub fn show_index(model: &Model, flavor: Flavor) -> Answer {
    let mut names = vec![
        "Table",
        "Non_unique",
        "Key_name",
        "Seq_in_index",
        "Column_name",
        "Collation",
        "Cardinality",
        "Sub_part",
        "Packed",
        "Null",
        "Index_type",
        "Comment",
        "Index_comment",
    ];
    match flavor {
        Flavor::MariaDb => names.push("Ignored"),
        Flavor::MySql => names.extend(["Visible", "Expression"]),
    }
    let mut answer = Answer::new(&names);
    let table = model.table_name();
    for index in indexes(&columns(model, flavor)) {
        let mut row = vec![
            text(table.clone()),
            non_unique(&index),
            text(index.name.clone()),
            text("1"),
            text(index.column.clone()),
        ];
        row.extend(details(&index, flavor));
        answer.rows.push(row);
    }
    answer
}

/// information_schema.STATISTICS rows for the models, in `database`.
pub fn information_schema_statistics(models: &[&Model], database: &str, flavor: Flavor) -> Answer {
    let mut names = vec![
        "TABLE_CATALOG",
        "TABLE_SCHEMA",
        "TABLE_NAME",
        "NON_UNIQUE",
        "INDEX_SCHEMA",
        "INDEX_NAME",
        "SEQ_IN_INDEX",
        "COLUMN_NAME",
        "COLLATION",
        "CARDINALITY",
        "SUB_PART",
        "PACKED",
        "NULLABLE",
        "INDEX_TYPE",
        "COMMENT",
        "INDEX_COMMENT",
    ];
    match flavor {
        Flavor::MariaDb => names.push("IGNORED"),
        Flavor::MySql => names.extend(["IS_VISIBLE", "EXPRESSION"]),
    }
    let mut answer = Answer::new(&names);
    for model in models {
        let table = model.table_name();
        for index in indexes(&columns(model, flavor)) {
            let mut row = vec![
                text("def"),
                text(database),
                text(table.clone()),
                non_unique(&index),
                text(database),
                text(index.name.clone()),
                text("1"),
                text(index.column.clone()),
            ];
            row.extend(details(&index, flavor));
            answer.rows.push(row);
        }
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
    fn show_index_on_mariadb() {
        let answer = show_index(&company(Flavor::MariaDb), Flavor::MariaDb);
        assert_eq!(answer.columns.len(), 14);
        assert_eq!(answer.columns[13], "Ignored");
        let rows: Vec<Vec<&str>> = answer.rows.iter().map(|r| texts(r)).collect();
        let t = "model_company";
        assert_eq!(
            rows,
            vec![
                vec![
                    t, "0", "PRIMARY", "1", "id", "A", "0", "NULL", "NULL", "", "BTREE", "", "",
                    "NO"
                ],
                vec![
                    t, "1", "name", "1", "name", "A", "0", "NULL", "NULL", "YES", "BTREE", "", "",
                    "NO"
                ],
                vec![
                    t,
                    "1",
                    "emp",
                    "1",
                    "employees",
                    "A",
                    "0",
                    "NULL",
                    "NULL",
                    "",
                    "BTREE",
                    "",
                    "",
                    "NO"
                ],
            ]
        );
    }

    #[test]
    fn show_index_on_mysql_has_visible_and_expression() {
        let answer = show_index(&company(Flavor::MySql), Flavor::MySql);
        assert_eq!(answer.columns.len(), 15);
        assert_eq!(&answer.columns[13..], ["Visible", "Expression"]);
        assert_eq!(
            texts(&answer.rows[1]),
            [
                "model_company",
                "1",
                "name",
                "1",
                "name",
                "A",
                "0",
                "NULL",
                "NULL",
                "YES",
                "BTREE",
                "",
                "",
                "YES",
                "NULL"
            ]
        );
        assert_eq!(answer.rows[1][14], None);
    }

    #[test]
    fn statistics_rows_per_flavor() {
        let model = company(Flavor::MariaDb);
        let maria = information_schema_statistics(&[&model], "app", Flavor::MariaDb);
        assert_eq!(maria.columns.len(), 17);
        assert_eq!(maria.columns[16], "IGNORED");
        assert_eq!(
            texts(&maria.rows[2]),
            [
                "def",
                "app",
                "model_company",
                "1",
                "app",
                "emp",
                "1",
                "employees",
                "A",
                "0",
                "NULL",
                "NULL",
                "",
                "BTREE",
                "",
                "",
                "NO"
            ]
        );
        let mysql = information_schema_statistics(&[&model], "app", Flavor::MySql);
        assert_eq!(mysql.columns.len(), 18);
        assert_eq!(&mysql.columns[16..], ["IS_VISIBLE", "EXPRESSION"]);
        assert_eq!(
            texts(&mysql.rows[0])[..8],
            [
                "def",
                "app",
                "model_company",
                "0",
                "app",
                "PRIMARY",
                "1",
                "id"
            ]
        );
        assert!(information_schema_statistics(&[], "app", Flavor::MySql)
            .rows
            .is_empty());
    }
}
