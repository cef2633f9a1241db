//! The session's side of model writes: INSERT, UPDATE and DELETE through the write path, with the counts,
//! warnings and `RETURNING` rows a client expects, each planned on a catalog whose version the write checks.

use sqlparser::ast::Statement;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::Session;
use super::Error;
use crate::sql::names;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// `UPDATE model_x [AS a] SET … [WHERE …] [ORDER BY …] [LIMIT n]` on one model table.
    pub(super) async fn update_rows(
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
        let mut fresh = false;
        let (model, updated) = loop {
            // One catalog (one version read, or none: see `write_catalog`) for the model and its selection.
            let (catalog, planned_at) = self.write_catalog(tenant, fresh).await?;
            let Some(model) = replannable(self.model_in(&catalog, &table), planned_at)? else {
                fresh = true;
                continue;
            };
            let mut columns = vec![
                "id".to_string(),
                "created_at".to_string(),
                "updated_at".to_string(),
            ];
            columns.extend(model.fields.iter().map(|f| f.name.clone()));
            let rows = Rows {
                relation: &update.table.relation,
                alias: &alias,
                columns: &columns,
                selection: update.selection.as_ref(),
                order_by: &update.order_by,
                limit: update.limit.as_ref(),
            };
            let Some((selection, by_id)) =
                replannable(self.rewrite_rows(rows, &catalog), planned_at)?
            else {
                fresh = true;
                continue;
            };
            let assignments: Vec<String> =
                update.assignments.iter().map(|a| a.to_string()).collect();
            let targets = assigned_columns(&update.assignments);
            let updated = crate::write::update(
                &mut self.conn,
                &mut self.shadows,
                &model,
                tenant,
                crate::write::Change {
                    selection: crate::write::Selection {
                        text: &selection,
                        by_id,
                    },
                    assignments: &assignments.join(", "),
                    alias: &alias,
                    targets: targets.as_deref(),
                },
                crate::write::Unit::new(self.status, planned_at),
            )
            .await;
            match updated {
                Err(crate::write::Error::CatalogMoved) => fresh = true,
                updated => break (model, updated),
            }
        };
        let updated = self.settle(&model, updated).await?;
        let outcome = super::wire::Outcome {
            affected_rows: updated.written.affected_rows,
            status: self.status,
            info: updated.info,
            warnings: updated
                .written
                .warnings
                .rows
                .len()
                .min(usize::from(u16::MAX)) as u16,
            ..Default::default()
        };
        self.keep_warnings(updated.written.warnings);
        self.wire.ok(&outcome).await.map_err(super::relay::gone)
    }

    /// `DELETE FROM model_x [WHERE …] [ORDER BY …] [LIMIT n]`: a soft delete.
    pub(super) async fn delete_rows(
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
        if delete.returning.is_some() {
            return Err(Error::Unsupported(
                "DELETE … RETURNING is not supported on model tables: SELECT the rows first"
                    .to_string(),
            )
            .into());
        }
        let (table, alias) = self.single_model(&single.relation)?;
        let mut fresh = false;
        let deleted = loop {
            let (catalog, planned_at) = self.write_catalog(tenant, fresh).await?;
            let Some(model) = replannable(self.model_in(&catalog, &table), planned_at)? else {
                fresh = true;
                continue;
            };
            let rows = Rows {
                relation: &single.relation,
                alias: &alias,
                columns: &["id".to_string()],
                selection: delete.selection.as_ref(),
                order_by: &delete.order_by,
                limit: delete.limit.as_ref(),
            };
            let Some((selection, by_id)) =
                replannable(self.rewrite_rows(rows, &catalog), planned_at)?
            else {
                fresh = true;
                continue;
            };
            let selection = crate::write::Selection {
                text: &selection,
                by_id,
            };
            let unit = crate::write::Unit::new(self.status, planned_at);
            match crate::write::delete(&mut self.conn, &model, tenant, selection, unit).await {
                Err(crate::write::Error::CatalogMoved) => fresh = true,
                deleted => break deleted,
            }
        };
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

    /// After a write: the backend's status, and for a failed one the warnings `SHOW WARNINGS` will list.
    async fn settle<T>(
        &mut self,
        model: &crate::catalog::Model,
        written: Result<T, crate::write::Error>,
    ) -> Result<T, crate::Error> {
        self.status = super::relay::backend_status(&self.conn);
        match written {
            Ok(written) => Ok(written),
            Err(e) => {
                self.warnings = crate::write::failure_warnings(&mut self.conn, model, &e).await;
                Err(e.into())
            }
        }
    }

    /// The catalog a write plans with, and the registry version its unit checks as it opens: the cached catalog
    /// when each statement commits on its own (the check then rides in the write's first batch, and a write
    /// that finds the registry moved is planned again with `fresh` set); otherwise one read of the version
    /// first, as for any statement.
    async fn write_catalog(
        &mut self,
        tenant: u64,
        fresh: bool,
    ) -> Result<(std::sync::Arc<crate::catalog::TenantCatalog>, Option<u64>), crate::Error> {
        if !fresh && self.autocommitting() {
            if let Some(cached) = self.state.registry.cached(tenant) {
                let version = cached.version;
                return Ok((cached, Some(version)));
            }
        }
        Ok((self.catalog(tenant).await?, None))
    }

    /// Keeps a write's warnings for the `SHOW WARNINGS` that may follow: the backend session's own diagnostics
    /// describe the last of the write's statements, not the shadow table's coercions.
    fn keep_warnings(&mut self, warnings: crate::write::Warnings) {
        self.warnings = (!warnings.rows.is_empty()).then_some(warnings);
    }

    /// The rows an UPDATE or DELETE changes, as backend SQL, and whether they are named by primary key (then
    /// read by it).
    fn rewrite_rows(
        &self,
        rows: Rows<'_>,
        catalog: &crate::catalog::TenantCatalog,
    ) -> Result<(String, bool), crate::Error> {
        let by_id = crate::rewrite::by_id::by_id(rows.selection, rows.alias);
        let mut selection = selection(rows)?;
        let home = self.home();
        let scope = crate::rewrite::select::Scope {
            catalog,
            home: &home,
            allow_scan: self.allow_scan,
        };
        crate::rewrite::select::rewrite(&mut selection, scope)?;
        if by_id {
            crate::rewrite::by_id::force_primary(&mut selection);
        }
        Ok((selection.to_string(), by_id))
    }

    /// `INSERT INTO model_x …`: the write path, then an OK with the count and the first id.
    pub(super) async fn insert(
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
        let mut fresh = false;
        let (model, written) = loop {
            let (catalog, planned_at) = self.write_catalog(tenant, fresh).await?;
            let Some(model) = replannable(self.model_in(&catalog, &table), planned_at)? else {
                fresh = true;
                continue;
            };
            // INSERT … SELECT: the source query is read like any other (model tables substituted, index rules).
            let select = match insert.source.as_ref() {
                Some(source)
                    if !matches!(source.body.as_ref(), sqlparser::ast::SetExpr::Values(_)) =>
                {
                    let rewritten = self.rewrite_with(Statement::Query(source.clone()), &catalog);
                    let Some(rewritten) = replannable(rewritten, planned_at)? else {
                        fresh = true;
                        continue;
                    };
                    Some(rewritten.text)
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
                crate::write::Unit::new(self.status, planned_at),
            )
            .await;
            match written {
                Err(crate::write::Error::CatalogMoved) => fresh = true,
                written => break (model, written),
            }
        };
        let written = self.settle(&model, written).await?;
        if let Some(returning) = &insert.returning {
            self.keep_warnings(written.warnings);
            return self.returning(&table, returning, &written.ids).await;
        }
        let warnings = written.warnings.rows.len();
        // As a server reports a multi-row INSERT or an INSERT … SELECT (not a single row).
        let many = match insert.source.as_ref().map(|s| s.body.as_ref()) {
            Some(sqlparser::ast::SetExpr::Values(values)) => values.rows.len() > 1,
            Some(_) => true,
            None => false,
        };
        let outcome = super::wire::Outcome {
            affected_rows: written.affected_rows,
            last_insert_id: written.last_insert_id,
            status: self.status,
            warnings: warnings.min(usize::from(u16::MAX)) as u16,
            info: if many {
                format!(
                    "Records: {}  Duplicates: 0  Warnings: {warnings}",
                    written.affected_rows
                )
            } else {
                String::new()
            },
        };
        self.keep_warnings(written.warnings);
        self.wire.ok(&outcome).await.map_err(super::relay::gone)
    }
    /// `INSERT … RETURNING` (MariaDB's, which SQLAlchemy uses to learn new ids): the rows just written, read back
    /// by id in the order they were inserted, through the same rewrite as any SELECT (so with native metadata).
    async fn returning(
        &mut self,
        table: &str,
        items: &[sqlparser::ast::SelectItem],
        ids: &[u64],
    ) -> Result<(), crate::Error> {
        use sqlparser::ast::{Expr, SetExpr, Value};
        let relation = sqlparser::ast::TableFactor::Table {
            name: sqlparser::ast::ObjectName::from(vec![sqlparser::ast::Ident::new(table)]),
            alias: None,
            args: None,
            with_hints: Vec::new(),
            version: None,
            with_ordinality: false,
            partitions: Vec::new(),
            json_path: None,
            sample: None,
            index_hints: Vec::new(),
        };
        let mut statement = selection(Rows {
            relation: &relation,
            alias: table,
            columns: &["id".to_string()],
            selection: None,
            order_by: &[],
            limit: None,
        })?;
        if let Statement::Query(query) = &mut statement {
            if let SetExpr::Select(select) = query.body.as_mut() {
                select.projection = items.to_vec();
                let id = Box::new(Expr::Identifier(sqlparser::ast::Ident::new("id")));
                // No row can match an empty list; `id IN ()` is not SQL.
                let list = if ids.is_empty() {
                    vec![Expr::value(Value::Null)]
                } else {
                    ids.iter()
                        .map(|id| Expr::value(Value::Number(id.to_string(), false)))
                        .collect()
                };
                select.selection = Some(Expr::InList {
                    expr: id,
                    list,
                    negated: false,
                });
            }
            query.order_by = Some(sqlparser::ast::OrderBy {
                kind: sqlparser::ast::OrderByKind::Expressions(vec![sqlparser::ast::OrderByExpr {
                    expr: Expr::Identifier(sqlparser::ast::Ident::new("id")),
                    options: Default::default(),
                    with_fill: None,
                }]),
                interpolate: None,
            });
        }
        self.read(&statement, None).await
    }
}

/// The rows an UPDATE or DELETE touches, as the statement names them.
struct Rows<'a> {
    relation: &'a sqlparser::ast::TableFactor,
    alias: &'a str,
    columns: &'a [String],
    selection: Option<&'a sqlparser::ast::Expr>,
    order_by: &'a [sqlparser::ast::OrderByExpr],
    limit: Option<&'a sqlparser::ast::Expr>,
}

/// The SELECT of `columns` of the rows an UPDATE or DELETE touches: the user's WHERE, ORDER BY and LIMIT over
/// the table as the statement names it, to go through the same rewrite (and the same index rules) as any read.
fn selection(rows: Rows<'_>) -> Result<Statement, crate::Error> {
    let Rows {
        relation,
        alias,
        columns,
        selection,
        order_by,
        limit,
    } = rows;
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
    Ok(
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &sql)
            .map_err(|e| crate::sql::Error::Syntax(e.to_string()))?
            .pop()
            .ok_or(crate::sql::Error::Empty)?,
    )
}

/// The column names an UPDATE's `SET` list assigns, or `None` if one of its targets is not a plain column.
fn assigned_columns(assignments: &[sqlparser::ast::Assignment]) -> Option<Vec<String>> {
    assignments
        .iter()
        .map(|a| match &a.target {
            sqlparser::ast::AssignmentTarget::ColumnName(name) => name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .map(|ident| ident.value.clone()),
            sqlparser::ast::AssignmentTarget::Tuple(_) => None,
        })
        .collect()
}

/// A planning step of a write on the catalog it was planned with: `None` when a cached catalog refused it (no
/// such table, an unindexed field), which may be stale, so the write is planned again on a fresh one.
fn replannable<T, E: Into<crate::Error>>(
    step: Result<T, E>,
    planned_at: Option<u64>,
) -> Result<Option<T>, crate::Error> {
    match step {
        Ok(value) => Ok(Some(value)),
        Err(_) if planned_at.is_some() => Ok(None),
        Err(e) => Err(e.into()),
    }
}
