//! TEMPORARY tables a session declares from a model's columns — the write path's shadows, the reads' twins: made
//! once per shape of the model on the session's backend connection, and made again when its columns change.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::catalog::Model;

/// Which of one kind of temporary table exist on a backend connection, by model, with the shape each was made
/// for (`Model::columns_signature`).
#[derive(Debug, Default)]
pub struct Temporaries {
    made: HashMap<i64, String>,
}

impl Temporaries {
    /// Forget them all (the backend connection was reset, dropping its temporary tables).
    pub fn clear(&mut self) {
        self.made.clear();
    }

    /// Forget `model`'s (dropped behind the session's back).
    pub fn forget(&mut self, model: i64) {
        self.made.remove(&model);
    }

    /// Makes the table `name` for `model` with `create` (a `CREATE TEMPORARY TABLE`), unless it exists for the
    /// model's current columns; one it replaces is dropped first, in the same round trip.
    pub async fn ensure(
        &mut self,
        conn: &mut Conn,
        model: &Model,
        name: &str,
        create: impl FnOnce() -> String,
    ) -> Result<(), mysql_async::Error> {
        let signature = model.columns_signature();
        if self.made.get(&model.id) == Some(&signature) {
            return Ok(());
        }
        conn.query_drop(format!(
            "DROP TEMPORARY TABLE IF EXISTS `{name}`; {}",
            create()
        ))
        .await?;
        self.made.insert(model.id, signature);
        Ok(())
    }
}
