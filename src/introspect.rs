//! SHOW and information_schema answers for model tables: each virtual table described exactly as the backend
//! describes a native table with the same columns. Pure functions of the catalog snapshot; no I/O.
//!
//! Every answer starts from [`columns`], the ordered column list of `model_<name>`: `id`, the fields in
//! declaration order, `created_at`, `updated_at`. The answers are text rows ([`Answer`]) whose column names
//! are exactly those of the statement or catalog table they stand in for, on the backend's flavor.

mod column;
mod constraints;
mod create;
mod field_list;
#[cfg(test)]
mod fixture;
mod index;
mod like;
mod schema;
mod show;
mod tables;
mod types;

pub use column::{columns, Key, VirtualColumn};
pub use constraints::{
    information_schema_check_constraints, information_schema_key_column_usage,
    information_schema_table_constraints,
};
pub use create::show_create_table;
pub use field_list::field_list_default;
pub use index::{information_schema_statistics, show_index};
pub use like::like;
pub use schema::{information_schema_columns, information_schema_tables};
pub use show::show_columns;
pub use tables::{show_table_status, show_tables};

use crate::backend::Flavor;

/// A text result set: column names, then rows of values where `None` is SQL NULL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Answer {
    fn new(columns: &[&str]) -> Answer {
        Answer {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

/// What `SHOW FULL COLUMNS` and information_schema print for a column the user may fully use.
const PRIVILEGES: &str = "select,insert,update,references";

/// A virtual table is described as an InnoDB table in utf8mb4, the backend's default.
const ENGINE: &str = "InnoDB";
const CHARSET: &str = "utf8mb4";

/// The default utf8mb4 collation of each flavor, which a table created without one gets.
fn table_collation(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MySql => "utf8mb4_0900_ai_ci",
        Flavor::MariaDb => "utf8mb4_general_ci",
    }
}

/// A non-NULL text value.
fn text(value: impl Into<String>) -> Option<String> {
    Some(value.into())
}

/// `` `name` ``, with backticks doubled, as SHOW CREATE TABLE quotes identifiers.
fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'` as the server prints a string literal in SHOW CREATE TABLE: quotes doubled, backslashes and
/// control characters escaped.
fn quote_string(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            '\0' => quoted.push_str("\\0"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\u{1a}' => quoted.push_str("\\Z"),
            other => quoted.push(other),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(quote_identifier("we`ird"), "`we``ird`");
        assert_eq!(quote_string("it's"), "'it''s'");
        assert_eq!(quote_string("a\\b\nc"), "'a\\\\b\\nc'");
        assert_eq!(quote_string(""), "''");
    }

    #[test]
    fn answers_name_their_columns() {
        let answer = Answer::new(&["Field", "Type"]);
        assert_eq!(
            answer.columns,
            vec!["Field".to_string(), "Type".to_string()]
        );
        assert!(answer.rows.is_empty());
        assert_eq!(table_collation(Flavor::MySql), "utf8mb4_0900_ai_ci");
        assert_eq!(table_collation(Flavor::MariaDb), "utf8mb4_general_ci");
    }
}
