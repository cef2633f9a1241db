//! Import rows as a client's INSERT: the statement the parser would have built from them, run through
//! `write::insert`, and which failures are the rows' own.

use mysql_async::consts::StatusFlags;
use mysql_async::Conn;
use serde_json::{Map, Value};
use sqlparser::ast::{Expr, Insert, SetExpr, Statement};

use crate::backend;
use crate::catalog::Model;
use crate::sql::quote_identifier;
use crate::write::{self, Shadows};

/// Whether an INSERT failed because of its rows (a value, a column, an explicit id), not the connection or a
/// lock: then the rows are dead-lettered instead of the chunk retried.
pub(super) fn row_error(error: &write::Error) -> bool {
    match error {
        write::Error::NotSupported(_) => true,
        write::Error::Backend(backend::Error::Server(e)) => {
            // Deadlock, lock wait timeout, interrupted, server shutting down, read-only: retry the chunk later.
            !matches!(e.code, 1205 | 1213 | 1317 | 1053 | 1290 | 1836 | 1792)
        }
        write::Error::Backend(_) | write::Error::CatalogMoved => false,
    }
}

pub(super) fn into_backend(error: write::Error) -> backend::Error {
    match error {
        write::Error::Backend(e) => e,
        write::Error::NotSupported(message) => backend::Error::Busy(message),
        write::Error::CatalogMoved => backend::Error::Busy(write::Error::CatalogMoved.to_string()),
    }
}

/// Runs rows through `write::insert`, the path a client's multi-row INSERT takes, inside the chunk's
/// transaction (the write path guards the statement with a savepoint).
pub(super) async fn insert(
    conn: &mut Conn,
    shadows: &mut Shadows,
    model: &Model,
    tenant: u64,
    rows: &[(u64, Map<String, Value>)],
) -> Result<(), write::Error> {
    let statement = statement(model, rows)?;
    let status = StatusFlags::SERVER_STATUS_IN_TRANS | StatusFlags::SERVER_STATUS_AUTOCOMMIT;
    let unit = write::Unit::new(status, None);
    write::insert(conn, shadows, model, tenant, &statement, None, unit).await?;
    Ok(())
}

/// `INSERT INTO model_x (the rows' keys) VALUES (…), …` as the parser would have built it, the values as
/// literals (objects and arrays as their JSON text).
fn statement(model: &Model, rows: &[(u64, Map<String, Value>)]) -> Result<Insert, write::Error> {
    let columns: Vec<String> = rows
        .first()
        .map(|(_, fields)| fields.keys().map(|k| quote_identifier(k)).collect())
        .unwrap_or_default();
    let template = if columns.is_empty() {
        format!(
            "INSERT INTO {} () VALUES ()",
            quote_identifier(&model.table_name())
        )
    } else {
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote_identifier(&model.table_name()),
            columns.join(", "),
            vec!["NULL"; columns.len()].join(", ")
        )
    };
    let dialect = sqlparser::dialect::MySqlDialect {};
    let parsed = sqlparser::parser::Parser::parse_sql(&dialect, &template)
        .map_err(|e| write::Error::NotSupported(format!("column names: {e}")))?;
    let Some(Statement::Insert(mut insert)) = parsed.into_iter().next() else {
        return Err(write::Error::NotSupported("column names".to_string()));
    };
    let Some(SetExpr::Values(values)) = insert.source.as_mut().map(|s| s.body.as_mut()) else {
        return Err(write::Error::NotSupported("column names".to_string()));
    };
    let Some(shape) = values.rows.first().cloned() else {
        return Err(write::Error::NotSupported("column names".to_string()));
    };
    values.rows = rows
        .iter()
        .map(|(_, fields)| {
            let mut row = shape.clone();
            row.content = fields.values().map(literal).collect();
            row
        })
        .collect();
    Ok(insert)
}

fn literal(value: &Value) -> Expr {
    use sqlparser::ast::Value as Sql;
    Expr::value(match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Boolean(*b),
        Value::Number(n) => Sql::Number(n.to_string(), false),
        Value::String(s) => Sql::SingleQuotedString(s.clone()),
        other => Sql::SingleQuotedString(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(json: &[&str]) -> Vec<(u64, Map<String, Value>)> {
        json.iter()
            .enumerate()
            .map(|(n, text)| (n as u64 + 1, serde_json::from_str(text).unwrap()))
            .collect()
    }

    #[test]
    fn rows_become_one_multi_row_insert_of_literals() {
        let model = Model {
            id: 1,
            tenant: 1,
            name: "t".to_string(),
            created_at: String::new(),
            fields: Vec::new(),
            derived: Default::default(),
        };
        let insert = statement(
            &model,
            &rows(&[
                r#"{"a": "x'y", "b": 1.5, "c": null, "d": [1, "2"]}"#,
                r#"{"a": "z", "b": -2, "c": true, "d": {"k": 1}}"#,
            ]),
        )
        .unwrap();
        assert_eq!(
            Statement::Insert(insert).to_string(),
            "INSERT INTO `model_t` (`a`, `b`, `c`, `d`) VALUES ('x''y', 1.5, NULL, '[1,\"2\"]'), \
             ('z', -2, true, '{\"k\":1}')"
        );
    }

    #[test]
    fn a_row_error_is_the_rows_fault_and_a_deadlock_is_not() {
        let server = |code| {
            write::Error::Backend(backend::Error::Server(mysql_async::ServerError {
                code,
                message: String::new(),
                state: "HY000".to_string(),
            }))
        };
        assert!(row_error(&server(1366)));
        assert!(row_error(&server(1054)));
        assert!(row_error(&write::Error::NotSupported(String::new())));
        assert!(!row_error(&server(1213)));
        assert!(!row_error(&server(1205)));
    }
}
