//! Field rows in `stardust_fields`: insert, reshape, rename, promote, demote, delete — inside the caller's
//! transaction, which also bumps the registry version.

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Transaction, Value};

use crate::backend;
use crate::catalog::{ColumnShape, Family};

/// A field to register.
pub struct NewField<'a> {
    pub model: i64,
    pub ordinal: u32,
    pub name: &'a str,
    pub family: Option<Family>,
    pub filterable: bool,
    pub index_name: Option<&'a str>,
    pub shape: &'a ColumnShape,
}

fn shape_values(family: Option<Family>, shape: &ColumnShape) -> Vec<Value> {
    vec![
        family.map_or("json", Family::declared).into(),
        shape.declared_sql.as_str().into(),
        shape.column_type.as_str().into(),
        shape.nullable.into(),
        shape.default.clone().into(),
        shape.collation.clone().into(),
        shape.comment.as_str().into(),
        shape.wire.encode().into(),
    ]
}

/// Inserts a field and returns its id.
pub async fn insert(tx: &mut Transaction<'_>, field: &NewField<'_>) -> Result<i64, backend::Error> {
    let mut values: Vec<Value> = vec![
        field.model.into(),
        field.name.into(),
        field.filterable.into(),
        field.ordinal.into(),
        field.index_name.into(),
    ];
    values.extend(shape_values(field.family, field.shape));
    tx.exec_drop(
        "INSERT INTO stardust_fields (model_id, name, is_filterable, ordinal, index_name, declared_type, \
         declared_sql, column_type, is_nullable, default_value, collation_name, column_comment, wire_meta, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(), UTC_TIMESTAMP())",
        Params::Positional(values),
    )
    .await?;
    Ok(tx.last_insert_id().unwrap_or(0) as i64)
}

/// Replaces a field's declared type and shape (MODIFY / CHANGE COLUMN).
pub async fn reshape(
    tx: &mut Transaction<'_>,
    field: i64,
    family: Option<Family>,
    shape: &ColumnShape,
) -> Result<(), backend::Error> {
    let mut values = shape_values(family, shape);
    values.push(field.into());
    tx.exec_drop(
        "UPDATE stardust_fields SET declared_type = ?, declared_sql = ?, column_type = ?, is_nullable = ?, \
         default_value = ?, collation_name = ?, column_comment = ?, wire_meta = ?, updated_at = UTC_TIMESTAMP() \
         WHERE id = ?",
        Params::Positional(values),
    )
    .await?;
    Ok(())
}

pub async fn rename(
    tx: &mut Transaction<'_>,
    field: i64,
    name: &str,
) -> Result<(), backend::Error> {
    tx.exec_drop(
        "UPDATE stardust_fields SET name = ?, updated_at = UTC_TIMESTAMP() WHERE id = ?",
        (name, field),
    )
    .await?;
    Ok(())
}

/// Marks a field filterable under `index_name`, or not filterable with `None`.
pub async fn set_index(
    tx: &mut Transaction<'_>,
    field: i64,
    index_name: Option<&str>,
) -> Result<(), backend::Error> {
    tx.exec_drop(
        "UPDATE stardust_fields SET is_filterable = ?, index_name = ?, updated_at = UTC_TIMESTAMP() WHERE id = ?",
        (index_name.is_some(), index_name, field),
    )
    .await?;
    Ok(())
}

/// Deletes a field row; its slot must already be tombstoned (the slot's foreign key does not cascade).
pub async fn delete(tx: &mut Transaction<'_>, field: i64) -> Result<(), backend::Error> {
    tx.exec_drop("DELETE FROM stardust_fields WHERE id = ?", (field,))
        .await?;
    Ok(())
}
