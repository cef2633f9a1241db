//! The JSON payload of an entry: one member per non-NULL field, keyed by the field's id (so that renaming a
//! column moves nothing, and a dropped-then-re-added column never shows the old values).

use serde_json::{Map, Value};

use crate::catalog::{Family, Field};

/// The member name of a field in `entry_data.fields`.
pub fn key(field: &Field) -> String {
    field.id.to_string()
}

/// The JSON path of a field, for JSON_EXTRACT.
pub fn path(field: &Field) -> String {
    format!("$.\"{}\"", field.id)
}

/// SQL for a field's JSON value coerced to its slot family's column type, NULL where it cannot be (a retype may
/// leave values of the old type in the JSON): what a slot must hold. Used by backfills, `verify` and `repair`.
/// In a SELECT it never fails; in an INSERT … SELECT under strict mode a value that does not exist as a date
/// or double still raises a data exception, which the daemons catch entry by entry.
pub fn slot_expression(field: &Field, family: Family) -> String {
    let text = format!("JSON_UNQUOTE(JSON_EXTRACT(e.fields, '{}'))", path(field));
    match family {
        Family::Str => text,
        // Out of BIGINT's range is NULL, not the clipped value a bare CAST would give.
        Family::Int => format!(
            "CASE WHEN {text} REGEXP '^-?[0-9]{{1,19}}$' THEN CASE WHEN CAST({text} AS DECIMAL(20,0)) \
             BETWEEN -9223372036854775808 AND 9223372036854775807 THEN CAST({text} AS SIGNED) END END"
        ),
        // Beyond DOUBLE's range is NULL, not DBL_MAX.
        Family::Num => format!(
            "CASE WHEN {text} REGEXP '^-?[0-9]*[.]?[0-9]+([eE][-+]?[0-9]+)?$' THEN \
             CASE WHEN ABS({text} + 0E0) < 1.7976931348623157e308 THEN ({text} + 0E0) END END"
        ),
        // A date that does not exist (February 30) is NULL; the IS NOT NULL test matters, because compared
        // with a DATETIME column a bare CAST reads such a date leniently.
        Family::Dt => format!(
            "CASE WHEN {text} REGEXP '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}' THEN CASE WHEN CAST({text} AS DATETIME) \
             IS NOT NULL THEN CAST({text} AS DATETIME) END END"
        ),
    }
}

/// A coerced value, as the backend printed it, in its stored JSON form: integers as numbers; JSON as JSON;
/// everything else as the exact text (DECIMAL keeps its scale, dates their format).
pub fn json_value(field: &Field, text: &str) -> Value {
    match field.family {
        Some(Family::Int) => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<u64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(text.to_string())),
        Some(_) => Value::String(text.to_string()),
        None => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
    }
}

/// The payload of one row: `values[i]` is the coerced text of `fields[i]`, `None` for NULL (left out).
pub fn payload(fields: &[Field], values: &[Option<String>]) -> String {
    let mut object = Map::new();
    for (field, value) in fields.iter().zip(values) {
        if let Some(text) = value {
            object.insert(key(field), json_value(field, text));
        }
    }
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ColumnShape;

    fn field(id: i64, family: Option<Family>) -> Field {
        Field {
            id,
            name: format!("f{id}"),
            family,
            filterable: false,
            index_name: None,
            ordinal: id as u32,
            shape: ColumnShape::default(),
            slot: None,
        }
    }

    #[test]
    fn payloads_keep_exact_values_and_skip_nulls() {
        let fields = [
            field(1, Some(Family::Int)),
            field(2, Some(Family::Num)),
            field(3, Some(Family::Str)),
            field(4, None),
            field(5, Some(Family::Dt)),
            field(6, Some(Family::Int)),
        ];
        let values = [
            Some("-42".to_string()),
            Some("12.50".to_string()),
            Some("it's \"quoted\"".to_string()),
            Some("{\"a\": [1, null]}".to_string()),
            None,
            Some("18446744073709551615".to_string()),
        ];
        let text = payload(&fields, &values);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["1"], Value::from(-42));
        assert_eq!(parsed["2"], Value::from("12.50"));
        assert_eq!(parsed["3"], Value::from("it's \"quoted\""));
        assert_eq!(parsed["4"]["a"][1], Value::Null);
        assert!(parsed.get("5").is_none(), "NULL is left out");
        assert_eq!(parsed["6"], Value::from(u64::MAX));
        assert_eq!(path(&fields[0]), "$.\"1\"");
    }
}
