//! Parsing and classifying client SQL: what each statement is, where it goes, and whether this user may send it.

mod bind;
mod classify;
pub mod digest;
mod labels;
pub mod names;
mod policy;
pub mod scan;
mod share_lock;
mod show;
mod variables;

pub use bind::{bind, placeholders};
pub use classify::{classify, parse_and_route, Context, ModelShow, Route};
pub use policy::EXPLAIN_WRITES;

use crate::error::Kind;

/// An identifier as MySQL reads it: in backticks, with backticks inside doubled (printed by sqlparser).
pub fn quote_identifier(name: &str) -> String {
    sqlparser::ast::Ident::with_quote('`', name).to_string()
}

/// A utf8mb4 string literal for backend SQL that reads the same under every sql_mode and connection character
/// set: quoted, with quotes doubled, when it holds no backslash or NUL (the bytes NO_BACKSLASH_ESCAPES reads
/// differently); otherwise in hex. Bulk writes send text this way rather than as prepared-statement parameters,
/// which cost a PREPARE round trip and a column definition per parameter.
pub fn quote_text(value: &str) -> String {
    if value.contains(['\\', '\0']) {
        return format!("CONVERT(X'{}' USING utf8mb4)", hex(value.as_bytes()));
    }
    let mut quoted = String::with_capacity(value.len() + 12);
    quoted.push_str("_utf8mb4'");
    for c in value.chars() {
        if c == '\'' {
            quoted.push('\'');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// A string literal for backend SQL built from the AST. sqlparser prints a string by doubling its quotes only,
/// so a value holding a backslash, a NUL or two quotes in a row would reach the backend changed (`'a\\b'`
/// arrives as `ab`); such a value becomes `_utf8mb4 X'…'`, which every sql_mode reads byte for byte and which
/// compares like any literal. Other values stay plain quoted strings.
pub fn string_literal(text: &str) -> sqlparser::ast::Expr {
    use sqlparser::ast::{Expr, Ident, Value};
    if !needs_hex(text) {
        return Expr::value(Value::SingleQuotedString(text.to_string()));
    }
    Expr::Prefixed {
        prefix: Ident::new("_utf8mb4"),
        value: Box::new(Expr::value(Value::HexStringLiteral(hex(text.as_bytes())))),
    }
}

fn is_hex(expr: &sqlparser::ast::Expr) -> bool {
    use sqlparser::ast::{Expr, Value, ValueWithSpan};
    matches!(
        expr,
        Expr::Value(ValueWithSpan {
            value: Value::HexStringLiteral(_),
            ..
        })
    )
}

fn needs_hex(text: &str) -> bool {
    text.contains(['\\', '\0']) || text.contains("''")
}

/// Rewrites every string literal of `statement` that sqlparser would print inexactly (see
/// [`string_literal`]), so that the backend SQL printed from it says what the client wrote.
pub fn exact_strings(statement: &mut sqlparser::ast::Statement) {
    use sqlparser::ast::{Expr, Value, ValueWithSpan};
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        match expr {
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(text),
                ..
            }) if needs_hex(text) => *expr = string_literal(text),
            // The client's own introducer (`_utf8mb4 'a\\b'`) keeps its string's hex form alone: its inner string
            // was visited first and would otherwise carry a second introducer.
            Expr::Prefixed { value, .. } => {
                if let Expr::Prefixed { value: inner, .. } = value.as_mut() {
                    if is_hex(inner) {
                        *value = inner.clone();
                    }
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// Bytes as the digits of a hex literal (`X'…'`), upper case.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut digits = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(digits, "{byte:02X}");
    }
    digits
}

/// [`quote_text`], or `NULL`.
pub fn quote_value(value: Option<&str>) -> String {
    value.map_or_else(|| "NULL".to_string(), quote_text)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("You have an error in your SQL syntax: {0}")]
    Syntax(String),
    #[error("{command} command denied to user '{user}' for table '{table}': a tenant login reaches only its own model_* tables")]
    TableDenied {
        command: String,
        user: String,
        table: String,
    },
    #[error("Access denied for user '{user}' to database '{database}': a tenant login works only in '{home}'")]
    DatabaseDenied {
        user: String,
        database: String,
        home: String,
    },
    #[error("Access denied: {0}")]
    PrivilegeDenied(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("Variable '{variable}' can't be set to the value of '{value}': give a number of {}, 0 for no limit", if variable == "max_statement_time" { "seconds" } else { "milliseconds" })]
    WrongValue { variable: String, value: String },
    #[error("Query was empty")]
    Empty,
    #[error("Invalid utf8mb4 character string in the statement: send the query as valid UTF-8")]
    BadCharacters,
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Syntax(_) => Kind::Syntax,
            Error::TableDenied { .. } => Kind::TableDenied,
            Error::DatabaseDenied { .. } => Kind::DatabaseDenied,
            Error::PrivilegeDenied(_) => Kind::PrivilegeDenied,
            Error::NotSupported(_) => Kind::NotSupported,
            Error::BadCharacters => Kind::BadCharacters,
            Error::Empty => Kind::EmptyQuery,
            Error::WrongValue { .. } => Kind::WrongValueForVariable,
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn exact(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0);
        super::exact_strings(&mut statement);
        statement.to_string()
    }

    #[test]
    fn strings_print_byte_for_byte_with_one_introducer() {
        assert_eq!(
            exact(r"SELECT 'a\\b', 'plain'"),
            "SELECT _utf8mb4 X'615C62', 'plain'"
        );
        assert_eq!(
            exact(r"SELECT * FROM t WHERE name = _utf8mb4 'a\\b'"),
            "SELECT * FROM t WHERE name = _utf8mb4 X'615C62'"
        );
        assert_eq!(exact(r"SELECT _latin1 'x\\y'"), "SELECT _latin1 X'785C79'");
    }
}
