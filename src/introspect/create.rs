//! `SHOW CREATE TABLE model_x`: the text the server would print for a native table with the virtual
//! table's columns and indexes — the text SQLAlchemy's reflection regexes and Connector/J parse.

use super::index::indexes;
use super::types::{charset, is_text};
use super::{columns, quote_identifier, quote_string, table_collation, VirtualColumn};
use super::{CHARSET, ENGINE};
use crate::backend::Flavor;
use crate::catalog::Model;

/// The `Create Table` value of `SHOW CREATE TABLE model_x`.
pub fn show_create_table(model: &Model, flavor: Flavor) -> String {
    let columns = columns(model, flavor);
    let mut lines: Vec<String> = columns.iter().map(|c| definition(c, flavor)).collect();
    for index in indexes(&columns) {
        let column = quote_identifier(&index.column);
        lines.push(if index.unique {
            format!("PRIMARY KEY ({column})")
        } else {
            format!("KEY {} ({column})", quote_identifier(&index.name))
        });
    }
    format!(
        "CREATE TABLE {} (\n  {}\n) ENGINE={ENGINE} DEFAULT CHARSET={CHARSET} COLLATE={}",
        quote_identifier(&model.table_name()),
        lines.join(",\n  "),
        table_collation(flavor)
    )
}

/// One column definition, its clauses in the server's order: type, character set and collation when they
/// differ from the table's, nullability, default, AUTO_INCREMENT, comment, MariaDB's JSON check.
fn definition(column: &VirtualColumn, flavor: Flavor) -> String {
    let mut sql = format!("{} {}", quote_identifier(&column.name), column.column_type);
    if let Some(collation) = column
        .collation
        .as_deref()
        .filter(|c| *c != table_collation(flavor))
    {
        sql.push_str(&format!(
            " CHARACTER SET {} COLLATE {collation}",
            charset(collation)
        ));
    }
    let data_type = column.data_type();
    if column.nullable && data_type == "timestamp" {
        // A nullable TIMESTAMP says so explicitly: the type was once NOT NULL by default.
        sql.push_str(" NULL");
    }
    if !column.nullable {
        sql.push_str(" NOT NULL");
    }
    match column.default_sql(flavor) {
        Some(default) => sql.push_str(&format!(" DEFAULT {default}")),
        // MySQL prints no default at all for TEXT columns, which cannot have a literal one.
        None if column.nullable && !(flavor == Flavor::MySql && is_text(&data_type)) => {
            sql.push_str(" DEFAULT NULL")
        }
        None => {}
    }
    if column.extra == "auto_increment" {
        sql.push_str(" AUTO_INCREMENT");
    }
    if !column.comment.is_empty() {
        sql.push_str(&format!(" COMMENT {}", quote_string(&column.comment)));
    }
    if column.json_check {
        sql.push_str(&format!(
            " CHECK (json_valid({}))",
            quote_identifier(&column.name)
        ));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::super::fixture::company;
    use super::*;

    #[test]
    fn mariadb_text() {
        let expected = "CREATE TABLE `model_company` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(200) DEFAULT NULL,
  `employees` int(11) NOT NULL,
  `city` varchar(64) DEFAULT 'x',
  `meta` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`meta`)),
  `created_at` datetime NOT NULL,
  `updated_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `name` (`name`),
  KEY `emp` (`employees`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";
        let model = company(Flavor::MariaDb);
        assert_eq!(show_create_table(&model, Flavor::MariaDb), expected);
    }

    #[test]
    fn mysql_text() {
        let expected = "CREATE TABLE `model_company` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(200) DEFAULT NULL,
  `employees` int NOT NULL,
  `city` varchar(64) DEFAULT 'x',
  `meta` json DEFAULT NULL,
  `created_at` datetime NOT NULL,
  `updated_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `name` (`name`),
  KEY `emp` (`employees`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci";
        let model = company(Flavor::MySql);
        assert_eq!(show_create_table(&model, Flavor::MySql), expected);
    }

    #[test]
    fn quoting_defaults_comments_and_odd_names() {
        let mut model = company(Flavor::MariaDb);
        model.name = "we`ird".to_string();
        let employees = &mut model.fields[1];
        employees.name = "emp`s".to_string();
        employees.index_name = Some("e`1".to_string());
        employees.shape.default = Some("5".to_string());
        employees.shape.comment = "head 'count'".to_string();
        model.fields[2].shape.nullable = false;
        model.fields[2].shape.default = Some("it's".to_string());
        let maria = show_create_table(&model, Flavor::MariaDb);
        assert!(
            maria.starts_with("CREATE TABLE `model_we``ird` ("),
            "{maria}"
        );
        assert!(
            maria.contains("\n  `emp``s` int(11) NOT NULL DEFAULT 5 COMMENT 'head ''count''',\n"),
            "{maria}"
        );
        assert!(
            maria.contains("\n  `city` varchar(64) NOT NULL DEFAULT 'it''s',\n"),
            "{maria}"
        );
        assert!(maria.contains("\n  KEY `e``1` (`emp``s`)\n"), "{maria}");
        let mysql = show_create_table(&model, Flavor::MySql);
        assert!(
            mysql.contains("`emp``s` int(11) NOT NULL DEFAULT '5' COMMENT"),
            "{mysql}"
        );
    }

    #[test]
    fn text_and_timestamp_nullability() {
        let mut model = company(Flavor::MySql);
        model.fields[2].shape.column_type = "text".to_string();
        model.fields[2].shape.default = None;
        model.fields[3].shape.column_type = "timestamp".to_string();
        let mysql = show_create_table(&model, Flavor::MySql);
        assert!(mysql.contains("\n  `city` text,\n"), "{mysql}");
        assert!(
            mysql.contains("\n  `meta` timestamp NULL DEFAULT NULL,\n"),
            "{mysql}"
        );
        let maria = show_create_table(&model, Flavor::MariaDb);
        assert!(
            maria.contains(
                "\n  `city` text CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci DEFAULT NULL,\n"
            ),
            "{maria}"
        );
    }
}
