//! Column types: which slot family a declared type maps to, and how the backend itself prints and types the
//! column — learnt by creating it in a temporary table, so introspection shows exactly what a native table would.

use mysql_async::prelude::Queryable;
use mysql_async::Row;
use sqlparser::ast::{ColumnDef, ColumnOption};

use super::Error;
use crate::backend::Backend;
use crate::catalog::{ColumnShape, Family, Wire};

/// The family of a declared SQL type; `Ok(None)` for JSON (kept in the payload only, never filterable).
pub fn family_of(column: &ColumnDef) -> Result<Option<Family>, Error> {
    let printed = column.data_type.to_string().to_ascii_uppercase();
    let word = printed
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    Ok(Some(match word {
        "CHAR" | "VARCHAR" | "CHARACTER" | "NCHAR" | "NVARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT"
        | "LONGTEXT" => Family::Str,
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "INTEGER" | "BIGINT" | "BOOL" | "BOOLEAN" => {
            Family::Int
        }
        "DECIMAL" | "DEC" | "NUMERIC" | "FIXED" | "FLOAT" | "DOUBLE" | "REAL" => Family::Num,
        "DATE" | "DATETIME" | "TIMESTAMP" => Family::Dt,
        "JSON" => return Ok(None),
        _ => {
            return Err(Error::NotSupported(format!(
                "column `{}` has type {printed}, which a model cannot store: use CHAR, VARCHAR or TEXT; an integer \
                 type or BOOLEAN; DECIMAL, FLOAT or DOUBLE; DATE, DATETIME or TIMESTAMP; or JSON",
                column.name.value
            )))
        }
    }))
}

/// Refuses column options a model cannot honour, naming the option and the reason.
pub fn check_options(column: &ColumnDef) -> Result<(), Error> {
    for option in &column.options {
        let refused = match &option.option {
            ColumnOption::Null
            | ColumnOption::NotNull
            | ColumnOption::Default(_)
            | ColumnOption::CharacterSet(_)
            | ColumnOption::Collation(_)
            | ColumnOption::Comment(_) => continue,
            ColumnOption::PrimaryKey(_) => {
                "PRIMARY KEY (every model table's key is its `id` column)"
            }
            ColumnOption::Unique(_) => {
                "UNIQUE (uniqueness across a model is not enforced by StarDust)"
            }
            ColumnOption::ForeignKey(_) => "REFERENCES (model tables take no foreign keys)",
            ColumnOption::Generated { .. }
            | ColumnOption::Alias(_)
            | ColumnOption::Materialized(_) => {
                "a generated column (compute the value in the query instead)"
            }
            ColumnOption::Check(_) => "CHECK (model tables take no check constraints)",
            ColumnOption::OnUpdate(_) => {
                "ON UPDATE (only `updated_at` is maintained automatically)"
            }
            _ => "this column option (AUTO_INCREMENT belongs to `id` alone)",
        };
        return Err(Error::NotSupported(format!(
            "column `{}`: {refused} is not supported on model tables",
            column.name.value
        )));
    }
    Ok(())
}

/// How the backend prints and types each column: created in a temporary table on a pooled connection, read
/// back with `SHOW FULL COLUMNS` and a `LIMIT 0` query, then dropped. A type the backend rejects fails here
/// with the backend's own error.
pub async fn probe(backend: &Backend, columns: &[&ColumnDef]) -> Result<Vec<ColumnShape>, Error> {
    let mut conn = backend.conn(false).await?;
    conn.query_drop("DROP TEMPORARY TABLE IF EXISTS stardust_probe")
        .await?;
    let definitions: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    conn.query_drop(format!(
        "CREATE TEMPORARY TABLE stardust_probe ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        definitions.join(", ")
    ))
    .await?;
    let described: Vec<Row> = conn.query("SHOW FULL COLUMNS FROM stardust_probe").await?;
    let result = conn
        .query_iter("SELECT * FROM stardust_probe LIMIT 0")
        .await?;
    let wires: Vec<Wire> = result
        .columns()
        .map(|columns| columns.iter().map(wire_of).collect())
        .unwrap_or_default();
    result.drop_result().await?;
    conn.query_drop("DROP TEMPORARY TABLE stardust_probe")
        .await?;
    let shapes = described
        .iter()
        .zip(columns)
        .zip(wires)
        .map(|((row, column), wire)| shape_of(row, column, wire))
        .collect();
    Ok(shapes)
}

/// A column definition without its name: the type and each option, as sqlparser prints them.
fn definition(column: &ColumnDef) -> String {
    std::iter::once(column.data_type.to_string())
        .chain(column.options.iter().map(|o| o.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn wire_of(column: &mysql_async::Column) -> Wire {
    Wire {
        column_type: column.column_type() as u8,
        flags: column.flags().bits(),
        length: column.column_length(),
        decimals: column.decimals(),
        charset: column.character_set(),
    }
}

/// A `SHOW FULL COLUMNS` row: Field, Type, Collation, Null, Key, Default, Extra, Privileges, Comment.
fn shape_of(row: &Row, column: &ColumnDef, wire: Wire) -> ColumnShape {
    let text = |i: usize| row.get::<Option<String>, _>(i).flatten();
    ColumnShape {
        column_type: text(1).unwrap_or_default(),
        declared_sql: definition(column),
        nullable: text(3).as_deref() == Some("YES"),
        default: text(5).filter(|d| d != "NULL"),
        collation: text(2),
        comment: text(8).unwrap_or_default(),
        wire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Statement;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn columns(sql: &str) -> Vec<ColumnDef> {
        match Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0) {
            Statement::CreateTable(create) => create.columns,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn declared_types_map_to_families() {
        let defs = columns(
            "CREATE TABLE model_t (a VARCHAR(10), b TEXT, c TINYINT, d BIGINT UNSIGNED, e BOOLEAN, f DECIMAL(10,2), \
             g DOUBLE, h DATE, i DATETIME(3), j TIMESTAMP, k JSON, l CHAR(2))",
        );
        let families: Vec<Option<Family>> = defs.iter().map(|c| family_of(c).unwrap()).collect();
        use Family::*;
        assert_eq!(
            families,
            vec![
                Some(Str),
                Some(Str),
                Some(Int),
                Some(Int),
                Some(Int),
                Some(Num),
                Some(Num),
                Some(Dt),
                Some(Dt),
                Some(Dt),
                None,
                Some(Str)
            ]
        );
        for refused in ["BLOB", "ENUM('a')", "GEOMETRY", "TIME", "YEAR", "BIT(1)"] {
            let defs = columns(&format!("CREATE TABLE model_t (a {refused})"));
            assert!(
                matches!(family_of(&defs[0]), Err(Error::NotSupported(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn column_options_that_cannot_be_honoured_are_refused() {
        for ok in [
            "a INT NOT NULL",
            "a VARCHAR(5) DEFAULT 'x' COMMENT 'c'",
            "a TEXT COLLATE utf8mb4_bin",
            "a INT NULL",
        ] {
            assert!(
                check_options(&columns(&format!("CREATE TABLE model_t ({ok})"))[0]).is_ok(),
                "{ok}"
            );
        }
        for refused in [
            "a INT PRIMARY KEY",
            "a INT UNIQUE",
            "a INT AUTO_INCREMENT",
            "a INT REFERENCES other (id)",
            "a INT AS (1) STORED",
            "a INT CHECK (a > 0)",
        ] {
            let defs = columns(&format!("CREATE TABLE model_t ({refused})"));
            assert!(
                matches!(check_options(&defs[0]), Err(Error::NotSupported(_))),
                "{refused}"
            );
        }
    }
}
