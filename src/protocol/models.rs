//! The session's side of model tables: which tenant a statement acts for, model DDL, introspection answers
//! (SHOW, DESCRIBE, information_schema), and result metadata for `SELECT … LIMIT 0`.

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
use crate::sql::{names, ModelShow};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// The tenant whose models a statement sees: a tenant login's own, or the one an admin chose.
    fn tenant(&self) -> Option<u64> {
        match self.user.role() {
            Role::Tenant(tenant) => Some(tenant),
            Role::Admin => self.tenant,
        }
    }

    fn required_tenant(&self) -> Result<u64, crate::Error> {
        self.tenant().ok_or_else(|| Error::NoTenant.into())
    }

    /// The tenant's catalog as of now. Inside the client's transaction a consistent read of the version would be
    /// stale, so it is read on a pooled connection then; otherwise on the session's own.
    async fn catalog(&mut self, tenant: u64) -> Result<Arc<TenantCatalog>, crate::Error> {
        let in_transaction = self
            .status
            .contains(mysql_async::consts::StatusFlags::SERVER_STATUS_IN_TRANS);
        if in_transaction {
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

    fn home(&self) -> String {
        self.state.backend.database().to_string()
    }

    pub(super) async fn model_ddl(&mut self, statement: &Statement) -> Result<(), crate::Error> {
        let tenant = self.required_tenant()?;
        let home = self.home();
        let target = crate::ddl::Target {
            tenant,
            database: &home,
            instance: &self.state.instance,
        };
        crate::ddl::execute(&self.state.registry, target, statement).await?;
        self.ok().await
    }

    async fn model(&mut self, table: &str) -> Result<Arc<Model>, crate::Error> {
        let tenant = self.required_tenant()?;
        let catalog = self.catalog(tenant).await?;
        catalog.model_for_table(table).cloned().ok_or_else(|| {
            crate::ddl::Error::NoSuchTable {
                database: self.home(),
                table: table.to_string(),
            }
            .into()
        })
    }

    pub(super) async fn show_model(&mut self, show: ModelShow) -> Result<(), crate::Error> {
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
            _ => introspect::information_schema_table_constraints(&models, &home, flavor),
        };
        let merge = self.user.role() == Role::Admin;
        crate::rewrite::information_schema::substitute(&mut statement, &answers, merge)?;
        self.forward(statement.to_string().as_bytes()).await
    }

    /// Reading and writing model tables is the rewriter's (next) work; until then only result metadata
    /// (`SELECT … FROM model_x LIMIT 0`, as ORMs and BI tools send to learn the columns) is answered.
    pub(super) async fn virtual_statement(
        &mut self,
        statement: &Statement,
    ) -> Result<(), crate::Error> {
        let tenant = self.required_tenant()?;
        if let Statement::Insert(insert) = statement {
            return self.insert(tenant, insert).await;
        }
        match statement {
            Statement::Query(_) => {
                let (text, overrides) = self.rewrite_read(statement.clone()).await?;
                self.forward_with(text.as_bytes(), &overrides).await
            }
            Statement::Update(update) => self.update_rows(tenant, update).await,
            Statement::Delete(delete) => self.delete_rows(tenant, delete).await,
            _ => Err(Error::Unsupported(
                "this statement is not supported on model tables: they take SELECT, INSERT … VALUES, UPDATE, \
                 DELETE and DDL"
                    .to_string(),
            )
            .into()),
        }
    }

    /// `UPDATE model_x [AS a] SET … [WHERE …] [ORDER BY …] [LIMIT n]` on one model table.
    async fn update_rows(
        &mut self,
        tenant: u64,
        update: &sqlparser::ast::Update,
    ) -> Result<(), crate::Error> {
        if !update.table.joins.is_empty() || update.from.is_some() || update.returning.is_some() {
            return Err(Error::Unsupported(
                "UPDATE of several tables is not supported on model tables".to_string(),
            )
            .into());
        }
        let (table, alias) = self.single_model(&update.table.relation)?;
        let model = self.model(&table).await?;
        let mut columns = vec![
            "id".to_string(),
            "created_at".to_string(),
            "updated_at".to_string(),
        ];
        columns.extend(model.fields.iter().map(|f| f.name.clone()));
        let selection = self
            .selection(
                &update.table.relation,
                &alias,
                &columns,
                update.selection.as_ref(),
                &update.order_by,
                update.limit.as_ref(),
            )
            .await?;
        let assignments: Vec<String> = update.assignments.iter().map(|a| a.to_string()).collect();
        let updated = crate::write::update(
            &mut self.conn,
            &mut self.shadows,
            &model,
            tenant,
            crate::write::Change {
                selection: &selection,
                assignments: &assignments.join(", "),
                alias: &alias,
            },
            self.status,
        )
        .await;
        self.status = super::relay::backend_status(&self.conn);
        let updated = updated?;
        let outcome = super::wire::Outcome {
            affected_rows: updated.written.affected_rows,
            status: self.status,
            info: updated.info,
            ..Default::default()
        };
        self.wire.ok(&outcome).await.map_err(super::relay::gone)
    }

    /// `DELETE FROM model_x [WHERE …] [ORDER BY …] [LIMIT n]`: a soft delete.
    async fn delete_rows(
        &mut self,
        tenant: u64,
        delete: &sqlparser::ast::Delete,
    ) -> Result<(), crate::Error> {
        use sqlparser::ast::FromTable;
        let from = match &delete.from {
            FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
        };
        let single = match from.as_slice() {
            [only]
                if only.joins.is_empty() && delete.tables.is_empty() && delete.using.is_none() =>
            {
                only
            }
            _ => {
                return Err(Error::Unsupported(
                    "DELETE from several tables is not supported on model tables".to_string(),
                )
                .into())
            }
        };
        let (table, alias) = self.single_model(&single.relation)?;
        let model = self.model(&table).await?;
        let selection = self
            .selection(
                &single.relation,
                &alias,
                &["id".to_string()],
                delete.selection.as_ref(),
                &delete.order_by,
                delete.limit.as_ref(),
            )
            .await?;
        let deleted =
            crate::write::delete(&mut self.conn, &model, tenant, &selection, self.status).await;
        self.status = super::relay::backend_status(&self.conn);
        let deleted = deleted?;
        let outcome = super::wire::Outcome {
            affected_rows: deleted.affected_rows,
            status: self.status,
            ..Default::default()
        };
        self.wire.ok(&outcome).await.map_err(super::relay::gone)
    }

    /// The model table a single-table UPDATE or DELETE names, and the name the statement calls it by.
    fn single_model(
        &self,
        factor: &sqlparser::ast::TableFactor,
    ) -> Result<(String, String), crate::Error> {
        if let sqlparser::ast::TableFactor::Table { name, alias, .. } = factor {
            if let names::Table::Virtual(table) = names::table(name, &self.home()) {
                let known = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| table.clone());
                return Ok((table, known));
            }
        }
        Err(Error::Unsupported("this statement must name one model table".to_string()).into())
    }

    /// The rewritten SELECT of `columns` of the rows an UPDATE or DELETE touches: the user's WHERE, ORDER BY and
    /// LIMIT over the table as the statement names it, through the same rewrite (and the same index rules) as
    /// any read.
    async fn selection(
        &mut self,
        relation: &sqlparser::ast::TableFactor,
        alias: &str,
        columns: &[String],
        selection: Option<&sqlparser::ast::Expr>,
        order_by: &[sqlparser::ast::OrderByExpr],
        limit: Option<&sqlparser::ast::Expr>,
    ) -> Result<String, crate::Error> {
        let qualified: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "{}.{}",
                    crate::sql::quote_identifier(alias),
                    crate::sql::quote_identifier(c)
                )
            })
            .collect();
        let mut sql = format!("SELECT {} FROM {relation}", qualified.join(", "));
        if let Some(selection) = selection {
            sql.push_str(&format!(" WHERE {selection}"));
        }
        if !order_by.is_empty() {
            let order: Vec<String> = order_by.iter().map(|o| o.to_string()).collect();
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        if let Some(limit) = limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let statement =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &sql)
                .map_err(|e| crate::sql::Error::Syntax(e.to_string()))?
                .pop()
                .ok_or(crate::sql::Error::Empty)?;
        Ok(self.rewrite_read(statement).await?.0)
    }

    /// A read of model tables as backend SQL, with the native metadata of each result column that is one.
    pub(super) async fn rewrite_read(
        &mut self,
        mut statement: Statement,
    ) -> Result<(String, Vec<Option<Column>>), crate::Error> {
        let tenant = self.required_tenant()?;
        let catalog = self.catalog(tenant).await?;
        let home = self.home();
        let scope = crate::rewrite::select::Scope {
            catalog: &catalog,
            home: &home,
            allow_scan: self.allow_scan,
        };
        let sources = crate::rewrite::select::rewrite(&mut statement, scope)?;
        let overrides = sources
            .iter()
            .map(|source| source.as_ref().map(|s| native_column(s, &home)))
            .collect();
        Ok((statement.to_string(), overrides))
    }

    /// `INSERT INTO model_x …`: the write path, then an OK with the count and the first id.
    async fn insert(
        &mut self,
        tenant: u64,
        insert: &sqlparser::ast::Insert,
    ) -> Result<(), crate::Error> {
        let table = match &insert.table {
            sqlparser::ast::TableObject::TableName(name) => {
                match names::table(name, &self.home()) {
                    names::Table::Virtual(table) => table,
                    _ => {
                        return Err(Error::Unsupported(
                            "INSERT into this table is not supported".to_string(),
                        )
                        .into())
                    }
                }
            }
            _ => return Err(Error::Unsupported("INSERT into a table function".to_string()).into()),
        };
        let model = self.model(&table).await?;
        // INSERT … SELECT: the source query is read like any other (model tables substituted, index rules).
        let select = match insert.source.as_ref() {
            Some(source) if !matches!(source.body.as_ref(), sqlparser::ast::SetExpr::Values(_)) => {
                Some(self.rewrite_read(Statement::Query(source.clone())).await?.0)
            }
            _ => None,
        };
        let written = crate::write::insert(
            &mut self.conn,
            &mut self.shadows,
            &model,
            tenant,
            insert,
            select,
            self.status,
        )
        .await;
        self.status = super::relay::backend_status(&self.conn);
        let written = written?;
        let outcome = super::wire::Outcome {
            affected_rows: written.affected_rows,
            last_insert_id: written.last_insert_id,
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

/// The column definition of a model column, as the native column would send it.
fn native_column(source: &crate::rewrite::select::Source, database: &str) -> Column {
    use crate::rewrite::select::Source;
    let (model, index) = match source {
        Source::Id(model) => (model, 0),
        Source::Field(model, i) => (model, i + 1),
        Source::CreatedAt(model) => (model, model.fields.len() + 1),
        Source::UpdatedAt(model) => (model, model.fields.len() + 2),
    };
    result_columns(model, database).swap_remove(index)
}

/// The column definitions a native table with the model's columns would send.
pub fn result_columns(model: &Model, database: &str) -> Vec<Column> {
    let table = model.table_name();
    let id_flags = ColumnFlags::NOT_NULL_FLAG
        | ColumnFlags::PRI_KEY_FLAG
        | ColumnFlags::UNSIGNED_FLAG
        | ColumnFlags::AUTO_INCREMENT_FLAG
        | ColumnFlags::NUM_FLAG;
    let mut columns = vec![Column::new(ColumnType::MYSQL_TYPE_LONGLONG)
        .with_schema(database.as_bytes())
        .with_table(table.as_bytes())
        .with_org_table(table.as_bytes())
        .with_name(b"id")
        .with_org_name(b"id")
        .with_flags(id_flags)
        .with_column_length(20)
        .with_character_set(63)];
    for field in &model.fields {
        let wire = field.shape.wire;
        let column_type =
            ColumnType::try_from(wire.column_type).unwrap_or(ColumnType::MYSQL_TYPE_VAR_STRING);
        columns.push(
            Column::new(column_type)
                .with_schema(database.as_bytes())
                .with_table(table.as_bytes())
                .with_org_table(table.as_bytes())
                .with_name(field.name.as_bytes())
                .with_org_name(field.name.as_bytes())
                .with_flags(ColumnFlags::from_bits_truncate(wire.flags))
                .with_column_length(wire.length)
                .with_decimals(wire.decimals)
                .with_character_set(wire.charset),
        );
    }
    for name in ["created_at", "updated_at"] {
        columns.push(
            Column::new(ColumnType::MYSQL_TYPE_DATETIME)
                .with_schema(database.as_bytes())
                .with_table(table.as_bytes())
                .with_org_table(table.as_bytes())
                .with_name(name.as_bytes())
                .with_org_name(name.as_bytes())
                .with_flags(ColumnFlags::NOT_NULL_FLAG | ColumnFlags::BINARY_FLAG)
                .with_column_length(19)
                .with_character_set(63),
        );
    }
    columns
}
