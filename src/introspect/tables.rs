//! `SHOW [FULL] TABLES` and `SHOW TABLE STATUS` over a tenant's models.

use super::{like, table_collation, text, Answer, ENGINE};
use crate::backend::Flavor;
use crate::catalog::Model;

/// `SHOW [FULL] TABLES [LIKE 'p']` over the models: `Tables_in_<database>` (with ` (<pattern>)` appended
/// when a pattern is given, as the server names it) and, for FULL, `Table_type`. Table names compare
/// case-sensitively; rows are sorted by name.
pub fn show_tables(models: &[&Model], database: &str, full: bool, like: Option<&str>) -> Answer {
    let title = match like {
        Some(pattern) => format!("Tables_in_{database} ({pattern})"),
        None => format!("Tables_in_{database}"),
    };
    let mut answer = Answer {
        columns: vec![title],
        rows: Vec::new(),
    };
    if full {
        answer.columns.push("Table_type".to_string());
    }
    for name in table_names(models, like) {
        let mut row = vec![text(name)];
        if full {
            row.push(text("BASE TABLE"));
        }
        answer.rows.push(row);
    }
    answer
}

/// `SHOW TABLE STATUS [LIKE 'p']`: one row per model, sorted by name. Model tables have no storage of their
/// own, so the sizes are those of an empty InnoDB table.
pub fn show_table_status(models: &[&Model], flavor: Flavor, like: Option<&str>) -> Answer {
    let mut names = vec![
        "Name",
        "Engine",
        "Version",
        "Row_format",
        "Rows",
        "Avg_row_length",
        "Data_length",
        "Max_data_length",
        "Index_length",
        "Data_free",
        "Auto_increment",
        "Create_time",
        "Update_time",
        "Check_time",
        "Collation",
        "Checksum",
        "Create_options",
        "Comment",
    ];
    if flavor == Flavor::MariaDb {
        names.extend(["Max_index_length", "Temporary"]);
    }
    let mut answer = Answer::new(&names);
    let mut models: Vec<&Model> = models
        .iter()
        .copied()
        .filter(|m| like.is_none_or(|pattern| like::like(pattern, &m.table_name(), false)))
        .collect();
    models.sort_by_key(|m| m.table_name());
    for model in models {
        let mut row = vec![text(model.table_name())];
        row.extend(status(model, flavor));
        answer.rows.push(row);
    }
    answer
}

/// The sorted table names of the models that match `like` (case-sensitively, as table names compare).
fn table_names(models: &[&Model], like: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = models
        .iter()
        .map(|m| m.table_name())
        .filter(|name| like.is_none_or(|pattern| like::like(pattern, name, false)))
        .collect();
    names.sort();
    names
}

/// The columns SHOW TABLE STATUS and information_schema.TABLES share, from ENGINE on (MariaDB adds
/// MAX_INDEX_LENGTH and TEMPORARY): what InnoDB shows for a freshly created table.
pub(super) fn status(model: &Model, flavor: Flavor) -> Vec<Option<String>> {
    let mut values = vec![
        text(ENGINE),
        text("10"),
        text("Dynamic"),
        text("0"),
        text("0"),
        text("16384"),
        text("0"),
        text(index_length(model).to_string()),
        text("0"),
        None,
        text(model.created_at.clone()),
        None,
        None,
        text(table_collation(flavor)),
        None,
        text(""),
        text(""),
    ];
    if flavor == Flavor::MariaDb {
        values.extend([text("0"), text("N")]);
    }
    values
}

/// What InnoDB reports for an empty table: one 16 KiB page per secondary index.
pub(super) fn index_length(model: &Model) -> u64 {
    16_384
        * model
            .fields
            .iter()
            .filter(|f| f.index_name.is_some())
            .count() as u64
}

#[cfg(test)]
mod tests {
    use super::super::fixture::company;
    use super::*;

    fn texts(row: &[Option<String>]) -> Vec<&str> {
        row.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect()
    }

    #[test]
    fn tables_are_sorted_and_like_is_case_sensitive() {
        let (a, mut b) = (company(Flavor::MySql), company(Flavor::MySql));
        b.name = "acme".to_string();
        let models = [&a, &b];
        let plain = show_tables(&models, "app", false, None);
        assert_eq!(plain.columns, ["Tables_in_app"]);
        assert_eq!(
            plain.rows,
            vec![vec![text("model_acme")], vec![text("model_company")]]
        );
        let full = show_tables(&models, "app", true, Some("model\\_c%"));
        assert_eq!(full.columns, ["Tables_in_app (model\\_c%)", "Table_type"]);
        assert_eq!(
            full.rows,
            vec![vec![text("model_company"), text("BASE TABLE")]]
        );
        assert!(show_tables(&models, "app", true, Some("MODEL%"))
            .rows
            .is_empty());
    }

    #[test]
    fn table_status_per_flavor() {
        let model = company(Flavor::MariaDb);
        let maria = show_table_status(&[&model], Flavor::MariaDb, None);
        assert_eq!(maria.columns.len(), 20);
        assert_eq!(&maria.columns[18..], ["Max_index_length", "Temporary"]);
        assert_eq!(
            texts(&maria.rows[0]),
            [
                "model_company",
                "InnoDB",
                "10",
                "Dynamic",
                "0",
                "0",
                "16384",
                "0",
                "32768",
                "0",
                "NULL",
                "2024-05-01 12:00:00",
                "NULL",
                "NULL",
                "utf8mb4_general_ci",
                "NULL",
                "",
                "",
                "0",
                "N"
            ]
        );
        let mysql = show_table_status(&[&model], Flavor::MySql, Some("model%"));
        assert_eq!(mysql.columns.len(), 18);
        assert_eq!(mysql.columns[17], "Comment");
        assert_eq!(mysql.rows[0].len(), 18);
        assert_eq!(mysql.rows[0][14].as_deref(), Some("utf8mb4_0900_ai_ci"));
        assert!(show_table_status(&[&model], Flavor::MySql, Some("Model%"))
            .rows
            .is_empty());
    }
}
