//! The model the introspection tests describe: `company`, with its fields shaped as each flavor's backend
//! printed them when the DDL probed them.

use crate::backend::Flavor;
use crate::catalog::{ColumnShape, Family, Field, Model};

/// `company (name VARCHAR(200), employees INT NOT NULL, city VARCHAR(64) DEFAULT 'x', meta JSON,
/// INDEX (name), INDEX emp (employees))`.
pub fn company(flavor: Flavor) -> Model {
    let maria = flavor == Flavor::MariaDb;
    let text = match flavor {
        Flavor::MySql => "utf8mb4_0900_ai_ci",
        Flavor::MariaDb => "utf8mb4_general_ci",
    };
    let (json_type, json_collation) = if maria {
        ("longtext", Some("utf8mb4_bin".to_string()))
    } else {
        ("json", None)
    };
    Model {
        id: 7,
        tenant: 1,
        name: "company".to_string(),
        created_at: "2024-05-01 12:00:00".to_string(),
        fields: vec![
            field(
                1,
                "name",
                Some(Family::Str),
                Some("name"),
                shape("varchar(200)", "VARCHAR(200)", Some(text)),
            ),
            field(
                2,
                "employees",
                Some(Family::Int),
                Some("emp"),
                ColumnShape {
                    nullable: false,
                    ..shape(if maria { "int(11)" } else { "int" }, "INT", None)
                },
            ),
            field(
                3,
                "city",
                Some(Family::Str),
                None,
                ColumnShape {
                    default: Some("x".to_string()),
                    ..shape("varchar(64)", "VARCHAR(64)", Some(text))
                },
            ),
            field(
                4,
                "meta",
                None,
                None,
                ColumnShape {
                    collation: json_collation,
                    ..shape(json_type, "JSON", None)
                },
            ),
        ],
        derived: Default::default(),
    }
}

fn shape(column_type: &str, declared: &str, collation: Option<&str>) -> ColumnShape {
    ColumnShape {
        column_type: column_type.to_string(),
        declared_sql: declared.to_string(),
        nullable: true,
        default: None,
        collation: collation.map(str::to_string),
        comment: String::new(),
        wire: Default::default(),
    }
}

fn field(
    id: i64,
    name: &str,
    family: Option<Family>,
    index_name: Option<&str>,
    shape: ColumnShape,
) -> Field {
    Field {
        id,
        name: name.to_string(),
        family,
        filterable: index_name.is_some(),
        index_name: index_name.map(str::to_string),
        ordinal: id as u32,
        shape,
        slot: None,
    }
}
