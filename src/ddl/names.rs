//! Identifier rules for models and fields: a strict pattern, checked before anything reaches the backend.

use super::Error;
use crate::catalog::{model_name, TABLE_PREFIX};

/// Columns every virtual table has; a field may not take these names.
pub const RESERVED_COLUMNS: [&str; 3] = ["id", "created_at", "updated_at"];

/// Checks a virtual table name (`model_<name>`) and returns the model name, lower-cased.
pub fn validate_model_table(table: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::BadTableName {
        name: table.to_string(),
        why: why.to_string(),
    };
    let name = model_name(table).ok_or_else(|| bad("model tables are named model_<name>"))?;
    if table.len() > 64 {
        return Err(bad("a table name has at most 64 characters"));
    }
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(bad(&format!(
            "after {TABLE_PREFIX}, use a letter followed by letters, digits and underscores"
        )));
    }
    Ok(name)
}

/// Checks a field name: a letter or underscore, then letters, digits and underscores; at most 64 characters;
/// not one of the columns StarDust provides.
pub fn validate_field_name(name: &str) -> Result<(), Error> {
    let bad = |why: String| Error::BadColumnName {
        name: name.to_string(),
        why,
    };
    if RESERVED_COLUMNS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(Error::DuplicateColumn(format!(
            "{name}' (StarDust provides `{name}` on every model table; choose another name"
        )));
    }
    if name.is_empty() || name.len() > 64 {
        return Err(bad("a column name has 1 to 64 characters".to_string()));
    }
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(bad(
            "use a letter or underscore followed by letters, digits and underscores".to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_tables() {
        assert_eq!(validate_model_table("model_Company").unwrap(), "company");
        assert!(validate_model_table("model_1x").is_err());
        assert!(validate_model_table("model_a-b").is_err());
        assert!(validate_model_table("model_a`b").is_err());
        assert!(validate_model_table("orders").is_err());
        assert!(validate_model_table(&format!("model_{}", "a".repeat(60))).is_err());
    }

    #[test]
    fn field_names() {
        assert!(validate_field_name("name").is_ok());
        assert!(validate_field_name("_x9").is_ok());
        assert!(matches!(
            validate_field_name("ID"),
            Err(Error::DuplicateColumn(_))
        ));
        assert!(matches!(
            validate_field_name("created_at"),
            Err(Error::DuplicateColumn(_))
        ));
        assert!(matches!(
            validate_field_name("a b"),
            Err(Error::BadColumnName { .. })
        ));
        assert!(matches!(
            validate_field_name("é"),
            Err(Error::BadColumnName { .. })
        ));
        assert!(matches!(
            validate_field_name(""),
            Err(Error::BadColumnName { .. })
        ));
    }
}
