//! COM_FIELD_LIST (`mysql_list_fields`, the CLI's auto-rehash): a table's column definitions, each followed by
//! its default value. A model table is described from the catalog exactly as the backend describes a native
//! table with the same columns; any other table (admins only) from the backend's own metadata.

use mysql_async::prelude::Queryable;
use mysql_async::{Column, Row};
use tokio::io::{AsyncRead, AsyncWrite};

use super::models::model_columns;
use super::relay::gone;
use super::session::Session;
use super::Error;
use crate::config::Role;
use crate::introspect;

/// A table's column definition and its default-record value (`None` is NULL).
pub type Field = (Column, Option<String>);

/// The table name (up to a NUL) and the column-name wildcard (the rest, a LIKE pattern; empty means all).
fn parse(body: &[u8]) -> Result<(String, String), Error> {
    let end = body
        .iter()
        .position(|b| *b == 0)
        .ok_or(Error::Malformed("COM_FIELD_LIST"))?;
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| Error::Malformed("COM_FIELD_LIST"))
    };
    Ok((text(&body[..end])?, text(&body[end + 1..])?))
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(super) async fn field_list(&mut self, body: &[u8]) -> Result<(), crate::Error> {
        let (table, wildcard) = parse(body)?;
        let home = self.home();
        let in_home = self.database.as_deref().is_none_or(|d| d == home);
        let model = match self.tenant() {
            Some(tenant) if in_home => {
                let catalog = self.catalog(tenant).await?;
                catalog.model_for_table(&table).cloned()
            }
            _ => None,
        };
        let fields = match model {
            Some(model) => {
                let flavor = self.state.backend.engine().flavor;
                let described = introspect::columns(&model, flavor);
                model_columns(&model, &home)
                    .into_iter()
                    .zip(described)
                    .map(|(column, d)| {
                        let default = introspect::field_list_default(
                            &d.column_type,
                            d.nullable,
                            d.default.as_deref(),
                        );
                        (column, default)
                    })
                    .collect()
            }
            None if matches!(self.user.role(), Role::Tenant(_)) => {
                return Err(crate::ddl::Error::NoSuchTable {
                    database: home,
                    table,
                }
                .into())
            }
            None => self.native_fields(&table).await?,
        };
        let listed: Vec<Field> = fields
            .into_iter()
            .filter(|(column, _)| {
                wildcard.is_empty() || introspect::like(&wildcard, &column.name_str(), true)
            })
            .collect();
        self.wire
            .field_list(&listed, self.status)
            .await
            .map_err(gone)
    }

    /// A backend table's fields: the column definitions of `SELECT *` on it, the defaults from SHOW COLUMNS.
    async fn native_fields(&mut self, table: &str) -> Result<Vec<Field>, crate::Error> {
        let quoted = crate::sql::quote_identifier(table);
        let result = self
            .conn
            .query_iter(format!("SELECT * FROM {quoted} LIMIT 0"))
            .await?;
        let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
        result.drop_result().await?;
        let described: Vec<Row> = self
            .conn
            .query(format!("SHOW COLUMNS FROM {quoted}"))
            .await?;
        let default_of = |name: &str| -> Option<String> {
            let row = described
                .iter()
                .find(|row| row.get::<String, _>(0).as_deref() == Some(name))?;
            let column_type: String = row.get(1)?;
            let nullable = row.get::<String, _>(2).as_deref() == Some("YES");
            let default: Option<String> = row.get::<Option<String>, _>(4).flatten();
            introspect::field_list_default(&column_type, nullable, default.as_deref())
        };
        Ok(columns
            .into_iter()
            .map(|column| {
                let default = default_of(&column.name_str());
                (column, default)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_wildcard_are_split_at_the_nul() {
        assert_eq!(parse(b"t\0").unwrap(), ("t".to_string(), String::new()));
        assert_eq!(
            parse(b"t\0na%").unwrap(),
            ("t".to_string(), "na%".to_string())
        );
        assert!(parse(b"t").is_err());
        assert!(parse(b"\xff\0").is_err());
    }
}
