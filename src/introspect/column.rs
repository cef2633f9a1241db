//! The virtual table's columns: `id`, the model's fields in declaration order, `created_at` and `updated_at`,
//! each described as the backend describes a native column. Every introspection answer starts here.

use super::{quote_string, types};
use crate::backend::Flavor;
use crate::catalog::{Field, Model};

/// The column's part in an index, as the `Key` column of SHOW COLUMNS prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Primary,
    Multiple,
    None,
}

impl Key {
    pub fn as_str(self) -> &'static str {
        match self {
            Key::Primary => "PRI",
            Key::Multiple => "MUL",
            Key::None => "",
        }
    }
}

/// One column of a virtual table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualColumn {
    pub name: String,
    /// As SHOW COLUMNS prints it: `bigint(20) unsigned`, `varchar(200)`, `datetime`.
    pub column_type: String,
    pub nullable: bool,
    /// As SHOW COLUMNS prints it (a string default unquoted); `None` when there is none or it is NULL.
    pub default: Option<String>,
    pub key: Key,
    /// The index the column heads: `PRIMARY` for `id`, the index name for an indexed field.
    pub index: Option<String>,
    /// `auto_increment` for `id`; on MySQL, `DEFAULT_GENERATED` for an expression default.
    pub extra: String,
    /// `None` for non-string columns.
    pub collation: Option<String>,
    pub comment: String,
    /// MariaDB stores JSON as `longtext` guarded by `CHECK (json_valid(col))`, a constraint named after the
    /// column; a native table shows both in SHOW CREATE TABLE and TABLE_CONSTRAINTS.
    pub json_check: bool,
}

impl VirtualColumn {
    /// The base type word information_schema calls DATA_TYPE: `varchar`, `bigint`.
    pub fn data_type(&self) -> String {
        types::data_type(&self.column_type)
    }

    /// The default as SQL, as SHOW CREATE TABLE prints it after `DEFAULT` (and MariaDB's COLUMN_DEFAULT):
    /// literals quoted — except numbers on MariaDB, which prints them bare while MySQL quotes them — and
    /// expressions such as `current_timestamp()` bare.
    pub fn default_sql(&self, flavor: Flavor) -> Option<String> {
        let value = self.default.as_deref()?;
        let bare = self.expression_default()
            || (flavor == Flavor::MariaDb && types::is_numeric(&self.data_type()));
        Some(if bare {
            value.to_string()
        } else {
            quote_string(value)
        })
    }

    /// SHOW COLUMNS prints an expression default without quotes, like a literal; on a temporal column only
    /// the current-time functions can be meant.
    fn expression_default(&self) -> bool {
        let Some(value) = self.default.as_deref() else {
            return false;
        };
        let lower = value.to_ascii_lowercase();
        !types::is_character(&self.data_type())
            && [
                "current_timestamp",
                "now(",
                "localtime",
                "curdate(",
                "current_date",
            ]
            .iter()
            .any(|f| lower.starts_with(f))
    }
}

/// The full ordered column list of `model_<name>`.
pub fn columns(model: &Model, flavor: Flavor) -> Vec<VirtualColumn> {
    let mut columns = Vec::with_capacity(model.fields.len() + 3);
    columns.push(id(flavor));
    columns.extend(model.fields.iter().map(|f| field(f, flavor)));
    columns.extend(["created_at", "updated_at"].map(timestamp));
    columns
}

fn id(flavor: Flavor) -> VirtualColumn {
    // MySQL 8 stopped printing integer display widths; MariaDB still does.
    let column_type = match flavor {
        Flavor::MySql => "bigint unsigned",
        Flavor::MariaDb => "bigint(20) unsigned",
    };
    VirtualColumn {
        name: "id".to_string(),
        column_type: column_type.to_string(),
        nullable: false,
        default: None,
        key: Key::Primary,
        index: Some("PRIMARY".to_string()),
        extra: "auto_increment".to_string(),
        collation: None,
        comment: String::new(),
        json_check: false,
    }
}

fn field(field: &Field, flavor: Flavor) -> VirtualColumn {
    let shape = &field.shape;
    let mut column = VirtualColumn {
        name: field.name.clone(),
        column_type: shape.column_type.clone(),
        nullable: shape.nullable,
        default: shape.default.clone(),
        key: match field.index_name {
            Some(_) => Key::Multiple,
            None => Key::None,
        },
        index: field.index_name.clone(),
        extra: String::new(),
        collation: shape.collation.clone(),
        comment: shape.comment.clone(),
        json_check: flavor == Flavor::MariaDb && field.family.is_none(),
    };
    if flavor == Flavor::MySql && column.expression_default() {
        column.extra = "DEFAULT_GENERATED".to_string();
    }
    column
}

fn timestamp(name: &str) -> VirtualColumn {
    VirtualColumn {
        name: name.to_string(),
        column_type: "datetime".to_string(),
        nullable: false,
        default: None,
        key: Key::None,
        index: None,
        extra: String::new(),
        collation: None,
        comment: String::new(),
        json_check: false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::company;
    use super::*;

    fn summary(flavor: Flavor) -> Vec<(String, String, bool, &'static str, Option<String>)> {
        columns(&company(flavor), flavor)
            .into_iter()
            .map(|c| (c.name, c.column_type, c.nullable, c.key.as_str(), c.index))
            .collect()
    }

    #[test]
    fn id_fields_then_timestamps() {
        let s = |v: &str| v.to_string();
        assert_eq!(
            summary(Flavor::MariaDb),
            vec![
                (
                    s("id"),
                    s("bigint(20) unsigned"),
                    false,
                    "PRI",
                    Some(s("PRIMARY"))
                ),
                (s("name"), s("varchar(200)"), true, "MUL", Some(s("name"))),
                (s("employees"), s("int(11)"), false, "MUL", Some(s("emp"))),
                (s("city"), s("varchar(64)"), true, "", None),
                (s("meta"), s("longtext"), true, "", None),
                (s("created_at"), s("datetime"), false, "", None),
                (s("updated_at"), s("datetime"), false, "", None),
            ]
        );
        let mysql = summary(Flavor::MySql);
        assert_eq!(mysql[0].1, "bigint unsigned");
        assert_eq!(mysql[2].1, "int");
        assert_eq!(mysql[4].1, "json");
    }

    #[test]
    fn extras_collations_and_json_checks() {
        let maria = columns(&company(Flavor::MariaDb), Flavor::MariaDb);
        assert_eq!(maria[0].extra, "auto_increment");
        assert_eq!(maria[1].collation.as_deref(), Some("utf8mb4_general_ci"));
        assert_eq!(maria[2].collation, None);
        assert!(maria[4].json_check && !maria[3].json_check);
        let mysql = columns(&company(Flavor::MySql), Flavor::MySql);
        assert!(mysql.iter().all(|c| !c.json_check));
        assert_eq!(mysql[4].collation, None);
    }

    #[test]
    fn defaults_are_quoted_as_each_flavor_prints_them() {
        let mut column = timestamp("x");
        column.default = Some("it's".to_string());
        column.column_type = "varchar(10)".to_string();
        assert_eq!(
            column.default_sql(Flavor::MariaDb).as_deref(),
            Some("'it''s'")
        );
        column.column_type = "decimal(10,2)".to_string();
        column.default = Some("1.50".to_string());
        assert_eq!(column.default_sql(Flavor::MariaDb).as_deref(), Some("1.50"));
        assert_eq!(column.default_sql(Flavor::MySql).as_deref(), Some("'1.50'"));
        column.column_type = "datetime".to_string();
        column.default = Some("current_timestamp()".to_string());
        assert_eq!(
            column.default_sql(Flavor::MariaDb).as_deref(),
            Some("current_timestamp()")
        );
        column.default = Some("2020-01-01 00:00:00".to_string());
        assert_eq!(
            column.default_sql(Flavor::MySql).as_deref(),
            Some("'2020-01-01 00:00:00'")
        );
        column.default = None;
        assert_eq!(column.default_sql(Flavor::MySql), None);
    }

    #[test]
    fn mysql_marks_expression_defaults() {
        let mut model = company(Flavor::MySql);
        model.fields[3].shape.column_type = "datetime".to_string();
        model.fields[3].shape.collation = None;
        model.fields[3].shape.default = Some("CURRENT_TIMESTAMP".to_string());
        assert_eq!(columns(&model, Flavor::MySql)[4].extra, "DEFAULT_GENERATED");
        assert_eq!(columns(&model, Flavor::MariaDb)[4].extra, "");
    }
}
