//! Coercion the proxy can do itself: a literal whose stored form is certain — a string that fits its VARCHAR or
//! TEXT, an integer in its type's range, a decimal within its precision and scale, a well-formed date — is
//! stored as a native column would store it without a round trip through the shadow table. Anything else
//! (expressions, FLOAT, TIMESTAMP, values that would be rounded, clipped or refused) returns `None`, and the
//! backend coerces it through the shadow table, so the outcome and every error stay MySQL's own.

use sqlparser::ast::{Expr, UnaryOperator, Value};

use crate::catalog::Field;

/// The column types whose literal coercion the proxy knows, as `SHOW COLUMNS` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// VARCHAR(n): at most `n` characters, kept as written (trailing spaces included).
    Chars(usize),
    /// A TEXT type: at most this many bytes.
    Bytes(usize),
    Int {
        min: i128,
        max: i128,
    },
    Decimal {
        precision: usize,
        scale: usize,
        unsigned: bool,
    },
    Date,
    DateTime,
}

fn kind(column_type: &str) -> Option<Kind> {
    let text = column_type.to_ascii_lowercase();
    let (base, rest) = text
        .split_once('(')
        .map_or((text.as_str(), ""), |(b, r)| (b, r));
    let args: Vec<usize> = rest
        .split(')')
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let unsigned = text.contains(" unsigned");
    if text.contains("zerofill") {
        return None;
    }
    let int = |bits: u32| {
        Some(if unsigned {
            Kind::Int {
                min: 0,
                max: (1i128 << bits) - 1,
            }
        } else {
            Kind::Int {
                min: -(1i128 << (bits - 1)),
                max: (1i128 << (bits - 1)) - 1,
            }
        })
    };
    match base.split_whitespace().next().unwrap_or_default() {
        "varchar" => args.first().map(|n| Kind::Chars(*n)),
        "tinytext" => Some(Kind::Bytes(255)),
        "text" if args.is_empty() => Some(Kind::Bytes(65_535)),
        "mediumtext" => Some(Kind::Bytes(16_777_215)),
        "longtext" => Some(Kind::Bytes(u32::MAX as usize)),
        "tinyint" => int(8),
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" => int(64),
        "decimal" => match args.as_slice() {
            [precision, scale] => Some(Kind::Decimal {
                precision: *precision,
                scale: *scale,
                unsigned,
            }),
            _ => None,
        },
        // DATETIME(n) keeps fractions and TIMESTAMP converts time zones: the backend decides those.
        "date" if text == "date" => Some(Kind::Date),
        "datetime" if text == "datetime" => Some(Kind::DateTime),
        _ => None,
    }
}

/// What the proxy knows of a field's column for coercing literals: read once per statement, not per value.
#[derive(Debug, Clone)]
pub struct Column {
    /// `None`: only the backend can coerce into this column (CHAR, FLOAT, TIMESTAMP, JSON, …).
    kind: Option<Kind>,
    nullable: bool,
    collation: Option<String>,
}

impl Column {
    pub fn of(field: &Field) -> Column {
        Column {
            // JSON (MariaDB prints it as longtext) must be valid JSON: the backend checks it.
            kind: field.family.and_then(|_| kind(&field.shape.column_type)),
            nullable: field.shape.nullable,
            collation: field.shape.collation.clone(),
        }
    }
}

/// The stored text of `expr` in `column` — `Some(None)` for NULL — or `None` when only the backend can say.
pub fn coerce(column: &Column, expr: &Expr) -> Option<Option<String>> {
    let kind = column.kind?;
    match expr {
        Expr::Value(v) if matches!(v.value, Value::Null) => column.nullable.then_some(None),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => string(kind, column.collation.as_deref(), s).map(Some),
            Value::Number(n, false) => number(kind, false, n).map(Some),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(n, false) => number(kind, true, n).map(Some),
                _ => None,
            },
            _ => None,
        },
        Expr::Nested(inner) => coerce(column, inner),
        _ => None,
    }
}

/// The stored text of a DATETIME literal (`created_at`, `updated_at`), when it is certain.
pub fn datetime_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => string(Kind::DateTime, None, s),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `expr` is the statement's current time: `NOW()`, `CURRENT_TIMESTAMP` and their synonyms.
pub fn is_now(expr: &Expr) -> bool {
    let Expr::Function(function) = expr else {
        return false;
    };
    let [name] = function.name.0.as_slice() else {
        return false;
    };
    let Some(name) = name.as_ident() else {
        return false;
    };
    let no_arguments = match &function.args {
        sqlparser::ast::FunctionArguments::None => true,
        sqlparser::ast::FunctionArguments::List(list) => list.args.is_empty(),
        sqlparser::ast::FunctionArguments::Subquery(_) => false,
    };
    no_arguments
        && ["NOW", "CURRENT_TIMESTAMP", "LOCALTIME", "LOCALTIMESTAMP"]
            .iter()
            .any(|now| name.value.eq_ignore_ascii_case(now))
}

/// The value an omitted column takes, when that is certain: NULL for a nullable column without a default.
pub fn omitted(field: &Field) -> Option<Option<String>> {
    (field.shape.nullable && field.shape.default.is_none()).then_some(None)
}

fn string(kind: Kind, collation: Option<&str>, s: &str) -> Option<String> {
    // sqlparser reads `\a` and `\f` as BEL and FF where MySQL reads plain `a` and `f`: let the backend decide.
    if s.contains(['\u{7}', '\u{c}']) {
        return None;
    }
    if !collation.is_none_or(|c| c.starts_with("utf8mb4_")) {
        return None;
    }
    match kind {
        Kind::Chars(n) if s.chars().count() <= n => Some(s.to_string()),
        Kind::Bytes(n) if s.len() <= n => Some(s.to_string()),
        Kind::Date => date(s).filter(|_| s.len() == 10).map(str::to_string),
        Kind::DateTime => match s.len() {
            10 => date(s).map(|d| format!("{d} 00:00:00")),
            19 => datetime(s).map(str::to_string),
            _ => None,
        },
        _ => None,
    }
}

fn number(kind: Kind, negative: bool, n: &str) -> Option<String> {
    let (whole, fraction) = n.split_once('.').unwrap_or((n, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let zero = whole.is_empty() && fraction.bytes().all(|b| b == b'0');
    match kind {
        Kind::Int { min, max } if fraction.is_empty() && whole.len() <= 20 => {
            let magnitude: i128 = if whole.is_empty() {
                0
            } else {
                whole.parse().ok()?
            };
            let value = if negative { -magnitude } else { magnitude };
            (min..=max).contains(&value).then(|| value.to_string())
        }
        Kind::Decimal {
            precision,
            scale,
            unsigned,
        } => {
            let fraction = fraction.trim_end_matches('0');
            if whole.len() > precision - scale.min(precision)
                || fraction.len() > scale
                || (negative && (unsigned || zero))
            {
                return None;
            }
            let mut text = String::with_capacity(precision + 3);
            if negative {
                text.push('-');
            }
            text.push_str(if whole.is_empty() { "0" } else { whole });
            if scale > 0 {
                text.push('.');
                text.push_str(fraction);
                text.extend(std::iter::repeat_n('0', scale - fraction.len()));
            }
            Some(text)
        }
        _ => None,
    }
}

/// `YYYY-MM-DD` at the start of `s`, if it is a real day of years 1000–9999.
fn date(s: &str) -> Option<&str> {
    let d = s.get(..10)?;
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| d[r].parse().ok())?
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    ((1000..=9999).contains(&year) && (1..=days).contains(&day)).then_some(d)
}

/// `YYYY-MM-DD HH:MM:SS`, if the day is real and the time of day valid.
fn datetime(s: &str) -> Option<&str> {
    date(s)?;
    let b = s.as_bytes();
    let two = |i: usize| -> Option<u32> {
        (b[i].is_ascii_digit() && b[i + 1].is_ascii_digit())
            .then(|| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0'))
    };
    if b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    (two(11)? < 24 && two(14)? < 60 && two(17)? < 60).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ColumnShape;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn field(column_type: &str, nullable: bool) -> Field {
        Field {
            id: 1,
            name: "f".to_string(),
            family: Some(crate::catalog::Family::Str),
            filterable: false,
            index_name: None,
            ordinal: 1,
            shape: ColumnShape {
                column_type: column_type.to_string(),
                nullable,
                collation: column_type
                    .contains("char")
                    .then(|| "utf8mb4_general_ci".to_string()),
                ..ColumnShape::default()
            },
            slot: None,
        }
    }

    fn value(column_type: &str, sql: &str) -> Option<Option<String>> {
        let expr = Parser::new(&MySqlDialect {})
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap();
        coerce(&Column::of(&field(column_type, true)), &expr)
    }

    fn stored(column_type: &str, sql: &str) -> Option<String> {
        value(column_type, sql)
            .expect("the proxy should know this value")
            .map(|s| s.to_string())
    }

    #[test]
    fn strings_that_fit_are_kept_as_written() {
        assert_eq!(stored("varchar(5)", "'héllo'").as_deref(), Some("héllo"));
        assert_eq!(
            stored("varchar(5)", "'ab  '").as_deref(),
            Some("ab  "),
            "VARCHAR keeps trailing spaces"
        );
        assert_eq!(stored("varchar(10)", r"'it\'s'").as_deref(), Some("it's"));
        assert_eq!(stored("text", "'x'").as_deref(), Some("x"));
        assert_eq!(
            value("varchar(4)", "'héllo'"),
            None,
            "too long: the backend raises 1406"
        );
        assert_eq!(
            value("char(4)", "'ab'"),
            None,
            "CHAR strips trailing spaces: the backend decides"
        );
        assert_eq!(
            value("varchar(9)", r"'\a'"),
            None,
            "sqlparser and MySQL read \\a differently"
        );
        assert_eq!(value("varchar(9)", "\"x\""), None);
    }

    #[test]
    fn integers_in_range_and_exact_decimals() {
        assert_eq!(stored("int(11)", "007").as_deref(), Some("7"));
        assert_eq!(stored("int", "-2147483648").as_deref(), Some("-2147483648"));
        assert_eq!(value("int(11)", "2147483648"), None, "out of range: 1264");
        assert_eq!(value("int(10) unsigned", "-1"), None);
        assert_eq!(
            stored("bigint(20) unsigned", "18446744073709551615").as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(value("int(11)", "1.5"), None, "rounded by the backend");
        assert_eq!(value("tinyint(3) unsigned zerofill", "1"), None);
        assert_eq!(stored("decimal(14,2)", "12.5").as_deref(), Some("12.50"));
        assert_eq!(stored("decimal(14,2)", "12").as_deref(), Some("12.00"));
        assert_eq!(
            stored("decimal(14,2)", "-0012.340").as_deref(),
            Some("-12.34")
        );
        assert_eq!(stored("decimal(5,0)", "99999").as_deref(), Some("99999"));
        assert_eq!(stored("decimal(4,4)", ".5").as_deref(), Some("0.5000"));
        assert_eq!(
            value("decimal(14,2)", "1.125"),
            None,
            "rounded by the backend"
        );
        assert_eq!(value("decimal(3,1)", "100"), None, "out of range: 1264");
        assert_eq!(
            value("decimal(3,1)", "-0.0"),
            None,
            "negative zero: the backend decides"
        );
        assert_eq!(value("double", "1.5"), None);
        assert_eq!(value("decimal(14,2)", "1e3"), None);
    }

    #[test]
    fn dates_that_exist_and_nulls_where_allowed() {
        assert_eq!(
            stored("date", "'2024-02-29'").as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(value("date", "'2023-02-29'"), None);
        assert_eq!(
            stored("datetime", "'2024-01-02'").as_deref(),
            Some("2024-01-02 00:00:00")
        );
        assert_eq!(
            stored("datetime", "'2024-01-02 23:59:59'").as_deref(),
            Some("2024-01-02 23:59:59")
        );
        assert_eq!(value("datetime", "'2024-01-02 24:00:00'"), None);
        assert_eq!(value("datetime(3)", "'2024-01-02 00:00:00'"), None);
        assert_eq!(value("timestamp", "'2024-01-02 00:00:00'"), None);
        assert_eq!(value("datetime", "NOW()"), None);
        assert_eq!(value("int(11)", "NULL"), Some(None));
        let expr = Parser::new(&MySqlDialect {})
            .try_with_sql("NULL")
            .unwrap()
            .parse_expr()
            .unwrap();
        assert_eq!(
            coerce(&Column::of(&field("int(11)", false)), &expr),
            None,
            "NOT NULL: the backend raises 1048"
        );
        assert_eq!(omitted(&field("int(11)", true)), Some(None));
        assert_eq!(omitted(&field("int(11)", false)), None);
        let mut json = field("longtext", true);
        json.family = None;
        let text = Parser::new(&MySqlDialect {})
            .try_with_sql("'{bad'")
            .unwrap()
            .parse_expr()
            .unwrap();
        assert_eq!(
            coerce(&Column::of(&json), &text),
            None,
            "JSON is checked by the backend"
        );
        let parse = |sql: &str| {
            Parser::new(&MySqlDialect {})
                .try_with_sql(sql)
                .unwrap()
                .parse_expr()
                .unwrap()
        };
        assert!(
            is_now(&parse("NOW()"))
                && is_now(&parse("CURRENT_TIMESTAMP"))
                && is_now(&parse("current_timestamp()"))
        );
        assert!(!is_now(&parse("NOW(3)")) && !is_now(&parse("UTC_TIMESTAMP()")));
        assert_eq!(
            datetime_literal(&parse("'2024-05-06 07:08:09'")).as_deref(),
            Some("2024-05-06 07:08:09")
        );
    }
}
