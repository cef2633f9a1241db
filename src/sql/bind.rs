//! Parameters of emulated prepared statements: counting `?` placeholders and binding values into them as
//! literals printed by sqlparser.

use std::ops::ControlFlow;

use mysql_async::Value as Param;
use sqlparser::ast::{
    visit_expressions, visit_expressions_mut, Expr, Statement, Value, ValueWithSpan,
};

use super::Error;

fn is_placeholder(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) if p == "?")
}

/// How many `?` the statement holds.
pub fn placeholders(statement: &Statement) -> u16 {
    let mut count = 0u16;
    let _ = visit_expressions(statement, |expr| {
        if is_placeholder(expr) {
            count = count.saturating_add(1);
        }
        ControlFlow::<()>::Continue(())
    });
    count
}

/// The statement with each `?`, in order, replaced by the literal of its parameter.
pub fn bind(statement: &Statement, params: &[Param]) -> Result<Statement, Error> {
    let mut bound = statement.clone();
    let mut values = params.iter();
    let mut missing = false;
    let _ = visit_expressions_mut(&mut bound, |expr| {
        if is_placeholder(expr) {
            match values.next() {
                Some(param) => *expr = literal(param),
                None => missing = true,
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if missing || values.next().is_some() {
        return Err(Error::NotSupported(
            "the parameters do not match the statement's placeholders".to_string(),
        ));
    }
    Ok(bound)
}

fn literal(param: &Param) -> Expr {
    let value = match param {
        Param::NULL => Value::Null,
        Param::Int(i) => Value::Number(i.to_string(), false),
        Param::UInt(u) => Value::Number(u.to_string(), false),
        Param::Float(f) => Value::Number(f.to_string(), false),
        Param::Double(d) => Value::Number(d.to_string(), false),
        Param::Bytes(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => return super::string_literal(text),
            Err(_) => Value::HexStringLiteral(super::hex(bytes)),
        },
        Param::Date(y, m, d, h, i, s, us) => {
            Value::SingleQuotedString(format!("{y:04}-{m:02}-{d:02} {h:02}:{i:02}:{s:02}.{us:06}"))
        }
        Param::Time(negative, days, h, i, s, us) => {
            let sign = if *negative { "-" } else { "" };
            let hours = u64::from(*days) * 24 + u64::from(*h);
            Value::SingleQuotedString(format!("{sign}{hours:02}:{i:02}:{s:02}.{us:06}"))
        }
    };
    Expr::value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    #[test]
    fn placeholders_are_counted_and_bound_in_order() {
        let statement = Parser::parse_sql(
            &MySqlDialect {},
            "INSERT INTO model_x (a, b, c) VALUES (?, ?, ?)",
        )
        .unwrap()
        .remove(0);
        assert_eq!(placeholders(&statement), 3);
        let bound = bind(
            &statement,
            &[Param::Int(-1), Param::Bytes(b"it's".to_vec()), Param::NULL],
        )
        .unwrap();
        assert_eq!(
            bound.to_string(),
            "INSERT INTO model_x (a, b, c) VALUES (-1, 'it''s', NULL)"
        );
        assert!(bind(&statement, &[Param::Int(1)]).is_err());
        let escaped = bind(
            &statement,
            &[
                Param::Bytes(br"a\b".to_vec()),
                Param::Bytes(b"two '' quotes".to_vec()),
                Param::Bytes(b"O'Brien".to_vec()),
            ],
        )
        .unwrap();
        assert_eq!(
            escaped.to_string(),
            "INSERT INTO model_x (a, b, c) VALUES (_utf8mb4 X'615C62', _utf8mb4 X'74776F2027272071756F746573', 'O''Brien')",
            "printed exactly: sqlparser would drop the backslash and merge the quotes"
        );
        let binary = bind(
            &statement,
            &[
                Param::Bytes(vec![0xFF]),
                Param::Double(1.5),
                Param::Date(2024, 2, 29, 0, 0, 0, 0),
            ],
        )
        .unwrap();
        assert_eq!(
            binary.to_string(),
            "INSERT INTO model_x (a, b, c) VALUES (X'FF', 1.5, '2024-02-29 00:00:00.000000')"
        );
    }
}
