//! information_schema with virtual tables: each reference to `information_schema.TABLES`, `COLUMNS`,
//! `STATISTICS`, `KEY_COLUMN_USAGE` or `TABLE_CONSTRAINTS` becomes a derived table of the virtual rows (for
//! admins, the real table's rows followed by them), under the same name, so that the user's own projection,
//! WHERE, joins and ORDER BY run unchanged on the backend.

use std::ops::ControlFlow;

use sqlparser::ast::{Query, Statement, TableFactor, VisitMut, VisitorMut};

use super::Error;
use crate::introspect::Answer;
use crate::sql::names::{self, Table};

/// Replaces every catalog table reference in `statement`; `answers` gives the virtual rows of each table.
pub fn substitute(
    statement: &mut Statement,
    answers: &dyn Fn(&str) -> Answer,
    merge: bool,
) -> Result<(), Error> {
    let mut visitor = Substitute { answers, merge };
    match statement.visit(&mut visitor) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Substitute<'a> {
    answers: &'a dyn Fn(&str) -> Answer,
    merge: bool,
}

impl VisitorMut for Substitute<'_> {
    type Break = Error;

    // After the children: the derived table put in place must not be visited again (it names the real table).
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        let TableFactor::Table { name, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let Table::InformationSchema(table) = names::table(name, "") else {
            return ControlFlow::Continue(());
        };
        let answer = (self.answers)(&table);
        match derived_query(&table, &answer, self.merge) {
            Ok(subquery) => {
                super::replace_with_derived(factor, subquery, &table);
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// `SELECT <cols> FROM information_schema.T UNION ALL SELECT <row 1> UNION ALL …`, or the virtual rows alone.
/// Text values travel as hex literals converted to utf8mb4, which no sql_mode can misread; whole numbers as
/// numbers, so that ORDER BY ORDINAL_POSITION sorts numerically.
fn derived_query(table: &str, answer: &Answer, merge: bool) -> Result<Query, Error> {
    let columns: Vec<String> = answer.columns.iter().map(|c| format!("`{c}`")).collect();
    let mut branches = Vec::new();
    if merge {
        branches.push(format!(
            "SELECT {} FROM information_schema.`{table}`",
            columns.join(", ")
        ));
    }
    for row in &answer.rows {
        let values: Vec<String> = row
            .iter()
            .zip(&columns)
            .map(|(value, column)| format!("{} AS {column}", literal(value.as_deref())))
            .collect();
        branches.push(format!("SELECT {}", values.join(", ")));
    }
    if branches.is_empty() {
        let nulls: Vec<String> = columns.iter().map(|c| format!("NULL AS {c}")).collect();
        branches.push(format!("SELECT {} FROM DUAL WHERE 1 = 0", nulls.join(", ")));
    }
    let sql = branches.join(" UNION ALL ");
    super::parse_query(&sql)
}

fn literal(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_string(),
        Some(v)
            if !v.is_empty()
                && v.len() < 18
                && v.bytes().all(|b| b.is_ascii_digit())
                && !v.starts_with('0') =>
        {
            v.to_string()
        }
        Some("0") => "0".to_string(),
        Some(v) => {
            if v.is_empty() {
                "CONVERT('' USING utf8mb4)".to_string()
            } else {
                format!(
                    "CONVERT(X'{}' USING utf8mb4)",
                    crate::sql::hex(v.as_bytes())
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn answer() -> Answer {
        Answer {
            columns: vec!["TABLE_NAME".to_string(), "ORDINAL_POSITION".to_string()],
            rows: vec![
                vec![Some("model_x".to_string()), Some("2".to_string())],
                vec![Some("it's".to_string()), None],
            ],
        }
    }

    fn rewrite(sql: &str, merge: bool) -> String {
        let mut statement = Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0);
        substitute(&mut statement, &|_| answer(), merge).unwrap();
        statement.to_string()
    }

    #[test]
    fn catalog_tables_become_derived_tables_under_their_own_name() {
        let sql = rewrite(
            "SELECT TABLE_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' ORDER BY ORDINAL_POSITION",
            false,
        );
        assert!(
            sql.contains("FROM (SELECT CONVERT(X'6D6F64656C5F78' USING utf8mb4) AS `TABLE_NAME`, 2 AS `ORDINAL_POSITION`"),
            "{sql}"
        );
        assert!(sql.contains("UNION ALL SELECT CONVERT(X'69742773' USING utf8mb4) AS `TABLE_NAME`, NULL AS `ORDINAL_POSITION`"), "{sql}");
        assert!(
            sql.contains(") AS COLUMNS WHERE TABLE_SCHEMA = 'app' ORDER BY ORDINAL_POSITION"),
            "{sql}"
        );
        assert!(!sql.contains("information_schema.COLUMNS"), "{sql}");
    }

    #[test]
    fn admins_keep_the_real_rows() {
        let sql = rewrite("SELECT * FROM information_schema.tables t", true);
        assert!(sql.contains("(SELECT `TABLE_NAME`, `ORDINAL_POSITION` FROM information_schema.`TABLES` UNION ALL"), "{sql}");
        assert!(sql.ends_with(") t"), "the user's alias is kept: {sql}");
    }

    #[test]
    fn other_tables_are_untouched_and_empty_answers_keep_the_columns() {
        let mut statement = Parser::parse_sql(
            &MySqlDialect {},
            "SELECT * FROM information_schema.STATISTICS JOIN information_schema.PROCESSLIST",
        )
        .unwrap()
        .remove(0);
        let empty = |_: &str| Answer {
            columns: vec!["A".to_string()],
            rows: Vec::new(),
        };
        substitute(&mut statement, &empty, false).unwrap();
        let sql = statement.to_string();
        assert!(
            sql.contains("(SELECT NULL AS `A` FROM DUAL WHERE 1 = 0) AS STATISTICS"),
            "{sql}"
        );
        assert!(sql.contains("information_schema.PROCESSLIST"), "{sql}");
    }
}
