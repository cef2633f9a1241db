//! The default value COM_FIELD_LIST sends after each column definition: the column's value in the server's
//! default record, as text — not the DEFAULT clause SHOW COLUMNS prints. A column with no default that may be
//! NULL defaults to NULL; one that may not holds its type's zero value; an expression default is evaluated per
//! row, so the record holds NULL or the zero value too; BLOB, TEXT and JSON columns keep their defaults outside
//! the record and show an empty string.

use super::types::{self, data_type};

/// The default-record value of a column described as SHOW COLUMNS describes it (`column_type` such as
/// `decimal(10,2)`, `default` unquoted, or `None` for no default or NULL). `None` is SQL NULL.
pub fn field_list_default(
    column_type: &str,
    nullable: bool,
    default: Option<&str>,
) -> Option<String> {
    let base = data_type(column_type);
    let blob = types::is_text(&base) || base.ends_with("blob") || base == "json";
    match default {
        Some(_) if blob => Some(String::new()),
        Some(value) if !is_expression(&base, value) => Some(value.to_string()),
        _ if nullable => None,
        _ if blob => Some(String::new()),
        _ => Some(zero(column_type, &base)),
    }
}

/// A temporal column's default naming a function rather than a value (`current_timestamp()`).
fn is_expression(base: &str, value: &str) -> bool {
    let temporal = matches!(base, "date" | "time" | "datetime" | "timestamp" | "year");
    let lower = value.to_ascii_lowercase();
    temporal
        && (lower.starts_with("current_")
            || lower.starts_with("now(")
            || lower.starts_with("localtime"))
}

/// The type's zero value as the server prints it: `0`, `0.00`, `0000-00-00 00:00:00.000`, the first ENUM
/// member, or an empty string.
fn zero(column_type: &str, base: &str) -> String {
    let fraction = |digits: u64| {
        if digits == 0 {
            String::new()
        } else {
            format!(".{}", "0".repeat(digits as usize))
        }
    };
    let scale = || types::arguments(column_type).get(1).copied().unwrap_or(0);
    let precision = || types::arguments(column_type).first().copied().unwrap_or(0);
    match base {
        "decimal" | "numeric" => format!("0{}", fraction(scale())),
        "date" => "0000-00-00".to_string(),
        "time" => format!("00:00:00{}", fraction(precision())),
        "datetime" | "timestamp" => format!("0000-00-00 00:00:00{}", fraction(precision())),
        "year" => "0000".to_string(),
        "enum" => first_member(column_type),
        b if types::is_numeric(b) || b == "bit" => "0".to_string(),
        _ => String::new(),
    }
}

/// `enum('a','b')` → `a`.
fn first_member(column_type: &str) -> String {
    let inside = column_type.split_once("('").map_or("", |(_, rest)| rest);
    let mut member = String::new();
    let mut chars = inside.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                member.push('\'');
            }
            '\'' => break,
            other => member.push(other),
        }
    }
    member
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What MariaDB 10.11 sends for each column of a table created with these types.
    #[test]
    fn defaults_are_the_default_record_as_the_server_prints_it() {
        let cases: [(&str, bool, Option<&str>, Option<&str>); 16] = [
            ("bigint(20) unsigned", false, None, Some("0")),
            ("varchar(64)", true, Some("x"), Some("x")),
            ("int(11)", true, None, None),
            ("decimal(10,2)", false, None, Some("0.00")),
            ("decimal(10,2)", true, Some("1.00"), Some("1.00")),
            ("double", false, None, Some("0")),
            ("varchar(5)", false, None, Some("")),
            ("text", false, None, Some("")),
            ("text", true, Some("hi"), Some("")),
            ("blob", true, None, None),
            ("date", false, None, Some("0000-00-00")),
            (
                "timestamp",
                false,
                Some("current_timestamp()"),
                Some("0000-00-00 00:00:00"),
            ),
            ("datetime", true, Some("current_timestamp()"), None),
            ("datetime(3)", false, None, Some("0000-00-00 00:00:00.000")),
            ("year(4)", false, None, Some("0000")),
            ("enum('it''s','b')", false, None, Some("it's")),
        ];
        for (column_type, nullable, default, expected) in cases {
            assert_eq!(
                field_list_default(column_type, nullable, default).as_deref(),
                expected,
                "{column_type} {nullable} {default:?}"
            );
        }
    }
}
