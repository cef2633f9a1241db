//! The session's side of model tables: which tenant a statement acts for, model DDL, introspection answers
//! (SHOW, DESCRIBE, information_schema), and the native column metadata of model columns.

use std::sync::Arc;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Row, Value};
use sqlparser::ast::Statement;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::Session;
use super::wire::text_column;
use super::Error;
use crate::catalog::{Model, TenantCatalog};
use crate::config::Role;
use crate::introspect::{self, Answer};
use crate::sql::ModelShow;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// The tenant whose models a statement sees: a tenant login's own, or the one an admin chose.
    pub(super) fn tenant(&self) -> Option<u64> {
        match self.user.role() {
            Role::Tenant(tenant) => Some(tenant),
            Role::Admin => self.tenant,
        }
    }

    pub(super) fn required_tenant(&self) -> Result<u64, crate::Error> {
        self.tenant().ok_or_else(|| Error::NoTenant.into())
    }

    /// Whether each statement on the session's backend connection commits on its own (autocommit on, no
    /// transaction open). Otherwise a read of the registry version there could see a stale snapshot.
    pub(super) fn autocommitting(&self) -> bool {
        use mysql_async::consts::StatusFlags;
        self.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
            && !self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS)
    }

    /// The tenant's catalog as of now. Inside the client's transaction (or with autocommit off) a consistent
    /// read of the version could be stale, so it is read on a pooled connection then; otherwise on the
    /// session's own.
    pub(super) async fn catalog(
        &mut self,
        tenant: u64,
    ) -> Result<Arc<TenantCatalog>, crate::Error> {
        if !self.autocommitting() {
            return Ok(self.state.registry.snapshot(tenant).await?);
        }
        Ok(self
            .state
            .registry
            .snapshot_on(&mut self.conn, tenant)
            .await?)
    }

    fn flavor(&self) -> crate::backend::Flavor {
        self.state.backend.engine().flavor
    }

    pub(super) fn home(&self) -> String {
        self.state.backend.database().to_string()
    }

    /// Model DDL changes the registry on connections of its own; like DDL on MySQL, it first commits the client's
    /// open transaction (whether or not the DDL then succeeds).
    pub(super) async fn model_ddl(&mut self, statement: &Statement) -> Result<(), crate::Error> {
        let tenant = self.required_tenant()?;
        if crate::write::in_client_transaction(self.status) {
            self.conn.query_drop("COMMIT").await?;
            self.status = super::relay::backend_status(&self.conn);
        }
        let home = self.home();
        let target = crate::ddl::Target {
            tenant,
            database: &home,
            instance: &self.state.instance,
        };
        let changed = crate::ddl::execute(&self.state.registry, target, statement).await;
        self.state.registry.moved();
        changed?;
        self.ok().await
    }

    pub(super) async fn model(&mut self, table: &str) -> Result<Arc<Model>, crate::Error> {
        let tenant = self.required_tenant()?;
        let catalog = self.catalog(tenant).await?;
        self.model_in(&catalog, table)
    }

    /// The model behind `table` in a catalog the caller already holds.
    pub(super) fn model_in(
        &self,
        catalog: &TenantCatalog,
        table: &str,
    ) -> Result<Arc<Model>, crate::Error> {
        catalog.model_for_table(table).cloned().ok_or_else(|| {
            crate::ddl::Error::NoSuchTable {
                database: self.home(),
                table: table.to_string(),
            }
            .into()
        })
    }

    /// SHOW/DESCRIBE of a model table; an admin who chose no tenant means a backend table of that name.
    pub(super) async fn show_model(
        &mut self,
        show: ModelShow,
        text: &str,
    ) -> Result<(), crate::Error> {
        if self.tenant().is_none() {
            return self.forward(text.as_bytes()).await;
        }
        let flavor = self.flavor();
        let answer = match show {
            ModelShow::Columns { table, full, like } => {
                introspect::show_columns(&*self.model(&table).await?, flavor, full, like.as_deref())
            }
            ModelShow::Index { table } => {
                introspect::show_index(&*self.model(&table).await?, flavor)
            }
            ModelShow::CreateTable { table } => {
                let model = self.model(&table).await?;
                Answer {
                    columns: vec!["Table".to_string(), "Create Table".to_string()],
                    rows: vec![vec![
                        Some(model.table_name()),
                        Some(introspect::show_create_table(&model, flavor)),
                    ]],
                }
            }
        };
        self.answer_text(answer).await
    }

    /// `SHOW [FULL] TABLES`: a tenant's models; for an admin with a tenant chosen, the backend's tables too.
    pub(super) async fn show_tables(
        &mut self,
        full: bool,
        like: Option<&str>,
        text: &str,
    ) -> Result<(), crate::Error> {
        let Some(tenant) = self.tenant() else {
            return self.forward(text.as_bytes()).await;
        };
        let catalog = self.catalog(tenant).await?;
        let models: Vec<&Model> = catalog.models.values().map(|m| &**m).collect();
        let answer = introspect::show_tables(&models, &self.home(), full, like);
        self.answer_merged(answer, text).await
    }

    /// `SHOW TABLE STATUS`: as `show_tables`, one status row per table.
    pub(super) async fn show_table_status(
        &mut self,
        like: Option<&str>,
        text: &str,
    ) -> Result<(), crate::Error> {
        let Some(tenant) = self.tenant() else {
            return self.forward(text.as_bytes()).await;
        };
        let catalog = self.catalog(tenant).await?;
        let models: Vec<&Model> = catalog.models.values().map(|m| &**m).collect();
        let answer = introspect::show_table_status(&models, self.flavor(), like);
        self.answer_merged(answer, text).await
    }

    /// A query on information_schema: each of its catalog tables is replaced by a derived table holding the
    /// tenant's virtual rows — merged with the real rows for admins — and the backend evaluates the rest.
    pub(super) async fn information_schema(
        &mut self,
        mut statement: Statement,
        text: &str,
    ) -> Result<(), crate::Error> {
        let Some(tenant) = self.tenant() else {
            return self.forward(text.as_bytes()).await;
        };
        let catalog = self.catalog(tenant).await?;
        let models: Vec<&Model> = catalog.models.values().map(|m| &**m).collect();
        let home = self.home();
        let flavor = self.flavor();
        let answers = |table: &str| match table {
            "TABLES" => introspect::information_schema_tables(&models, &home, flavor),
            "COLUMNS" => introspect::information_schema_columns(&models, &home, flavor),
            "STATISTICS" => introspect::information_schema_statistics(&models, &home, flavor),
            "KEY_COLUMN_USAGE" => introspect::information_schema_key_column_usage(&models, &home),
            "CHECK_CONSTRAINTS" => {
                introspect::information_schema_check_constraints(&models, &home, flavor)
            }
            _ => introspect::information_schema_table_constraints(&models, &home, flavor),
        };
        let merge = self.user.role() == Role::Admin;
        crate::rewrite::information_schema::substitute(&mut statement, &answers, merge)?;
        self.forward(statement.to_string().as_bytes()).await
    }

    /// A read of the `stardust` system schema: a tenant login sees its own tenant's state and its own sessions.
    pub(super) async fn system_schema(
        &mut self,
        mut statement: Statement,
    ) -> Result<(), crate::Error> {
        use crate::processlist::{list, Viewer};
        let (tenant, viewer) = match self.user.role() {
            Role::Tenant(tenant) => (Some(tenant), Viewer::User(&self.user.name)),
            Role::Admin => (None, Viewer::Admin),
        };
        let processes = list(&self.state.sessions, viewer);
        crate::rewrite::system_schema::substitute(&mut statement, tenant, &processes)?;
        self.forward(statement.to_string().as_bytes()).await
    }

    /// `CALL stardust.replay_dlq(id)`: a tenant replays only its own entries, an admin any.
    pub(super) async fn replay_dlq(&mut self, id: i64) -> Result<(), crate::Error> {
        let tenant = match self.user.role() {
            Role::Tenant(tenant) => Some(tenant),
            Role::Admin => None,
        };
        let replayed = crate::daemons::sync_queue::replay(
            &self.state.backend,
            crate::daemons::sync_queue::Replay::Id(id),
            tenant,
        )
        .await?
        .ok_or(Error::NoDeadLetter(id))?;
        let outcome = super::wire::Outcome {
            affected_rows: replayed.len() as u64,
            status: self.status,
            ..Default::default()
        };
        self.wire.ok(&outcome).await.map_err(super::relay::gone)
    }

    /// The virtual rows; for admins, with the backend's own answer to the same statement, sorted by name.
    async fn answer_merged(&mut self, mut answer: Answer, text: &str) -> Result<(), crate::Error> {
        if self.user.role() == Role::Admin {
            let backend: Vec<Row> = self.conn.query(text).await?;
            answer.rows.extend(backend.into_iter().map(row_texts));
            answer.rows.sort();
        }
        self.answer_text(answer).await
    }

    async fn answer_text(&mut self, answer: Answer) -> Result<(), crate::Error> {
        let columns: Vec<Column> = answer
            .columns
            .iter()
            .map(|name| text_column(name, ColumnType::MYSQL_TYPE_VAR_STRING))
            .collect();
        let rows: Vec<Vec<Value>> = answer
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| v.map_or(Value::NULL, |s| Value::Bytes(s.into_bytes())))
                    .collect()
            })
            .collect();
        self.answer(&columns, rows).await
    }
}

fn row_texts(row: Row) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| match row.as_ref(i) {
            None | Some(Value::NULL) => None,
            Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
        })
        .collect()
}

/// The column definition of a model column, as the native column would send it; `None` where the backend's
/// own describes the column as a native table's would.
pub(super) fn native_column(
    source: &crate::rewrite::select::Source,
    database: &str,
) -> Option<Column> {
    use crate::rewrite::select::Source;
    let (model, index) = match source {
        Source::Id(model) => (model, 0),
        Source::Field(model, i) => (model, i + 1),
        Source::CreatedAt(model) => (model, model.fields.len() + 1),
        Source::UpdatedAt(model) => (model, model.fields.len() + 2),
        Source::Unchanged => return None,
    };
    Some(column(model, index, database))
}

/// Every column of the model's table, in order, as the native table's `SELECT *` describes them.
pub(super) fn model_columns(model: &Model, database: &str) -> Vec<Column> {
    (0..model.fields.len() + 3)
        .map(|index| column(model, index, database))
        .collect()
}

/// Column `index` of the model's table: `id`, the fields in order, `created_at`, `updated_at`.
fn column(model: &Model, index: usize, database: &str) -> Column {
    let table = model.table_name();
    let named = |column_type: ColumnType, name: &str| {
        Column::new(column_type)
            .with_schema(database.as_bytes())
            .with_table(table.as_bytes())
            .with_org_table(table.as_bytes())
            .with_name(name.as_bytes())
            .with_org_name(name.as_bytes())
    };
    if index == 0 {
        let id_flags = ColumnFlags::NOT_NULL_FLAG
            | ColumnFlags::PRI_KEY_FLAG
            | ColumnFlags::UNSIGNED_FLAG
            | ColumnFlags::AUTO_INCREMENT_FLAG
            | ColumnFlags::PART_KEY_FLAG;
        return named(ColumnType::MYSQL_TYPE_LONGLONG, "id")
            .with_flags(id_flags)
            .with_column_length(20)
            .with_character_set(63);
    }
    match model.fields.get(index - 1) {
        Some(field) => {
            let wire = field.shape.wire;
            let column_type =
                ColumnType::try_from(wire.column_type).unwrap_or(ColumnType::MYSQL_TYPE_VAR_STRING);
            // The probe's table had no index; a native column with one is flagged as part of a key.
            let mut flags = ColumnFlags::from_bits_truncate(wire.flags);
            if field.filterable {
                flags |= ColumnFlags::MULTIPLE_KEY_FLAG | ColumnFlags::PART_KEY_FLAG;
            }
            named(column_type, &field.name)
                .with_flags(flags)
                .with_column_length(wire.length)
                .with_decimals(wire.decimals)
                .with_character_set(wire.charset)
        }
        None => {
            let name = if index == model.fields.len() + 1 {
                "created_at"
            } else {
                "updated_at"
            };
            named(ColumnType::MYSQL_TYPE_DATETIME, name)
                .with_flags(
                    ColumnFlags::NOT_NULL_FLAG
                        | ColumnFlags::BINARY_FLAG
                        | ColumnFlags::NO_DEFAULT_VALUE_FLAG,
                )
                .with_column_length(19)
                .with_character_set(63)
        }
    }
}
