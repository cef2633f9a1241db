//! Shadow tables: one TEMPORARY table per model on the session's backend connection, declared with the model's
//! column definitions, into which written values go first so the backend coerces them as a native table would.

use mysql_async::Conn;

use super::Error;
use crate::backend::temporary::Temporaries;
use crate::catalog::Model;
use crate::sql::quote_identifier;

/// Which shadow tables exist on the session's backend connection, and for which shape of their model.
#[derive(Debug, Default)]
pub struct Shadows {
    made: Temporaries,
}

impl Shadows {
    /// Forget every shadow (the backend connection was reset, dropping its temporary tables).
    pub fn clear(&mut self) {
        self.made.clear();
    }

    /// The shadow table of `model`, created or re-created when the model's columns changed.
    pub async fn ensure(&mut self, conn: &mut Conn, model: &Model) -> Result<String, Error> {
        let name = table_name(model);
        self.made
            .ensure(conn, model, &name, || {
                let mut columns = vec![
                    "`__seq` INT NOT NULL AUTO_INCREMENT PRIMARY KEY".to_string(),
                    // The entry an UPDATE loaded the row from; NULL for rows an INSERT brings.
                    "`__id` BIGINT UNSIGNED NULL".to_string(),
                    "`created_at` DATETIME NULL".to_string(),
                    "`updated_at` DATETIME NULL".to_string(),
                ];
                for field in &model.fields {
                    columns.push(format!(
                        "{} {}",
                        quote_identifier(&field.name),
                        field.shape.declared_sql
                    ));
                }
                format!(
                    "CREATE TEMPORARY TABLE `{name}` ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                    columns.join(", ")
                )
            })
            .await?;
        Ok(name)
    }
}

pub fn table_name(model: &Model) -> String {
    format!("stardust_shadow_{}", model.id)
}
