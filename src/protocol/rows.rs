//! The session's side of model rows: SELECT through the read rewrite, INSERT, UPDATE and DELETE through the
//! write path, with the native metadata and counts a client expects.

use mysql_async::prelude::Queryable;
use mysql_async::Column;
use sqlparser::ast::Statement;
use tokio::io::{AsyncRead, AsyncWrite};

use super::models::native_column;
use super::session::Session;
use super::twins::{Described, Probe};
use super::Error;
use crate::rewrite::plans::{Plan, Scope};
use crate::sql::names;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Reading and writing model tables is the rewriter's (next) work; until then only result metadata
    /// (`SELECT … FROM model_x LIMIT 0`, as ORMs and BI tools send to learn the columns) is answered.
    /// `text`: the client's own text of a statement it sent as a query, under which a read's plan is cached.
    pub(super) async fn virtual_statement(
        &mut self,
        statement: &Statement,
        text: Option<&str>,
    ) -> Result<(), crate::Error> {
        let tenant = self.required_tenant()?;
        if let Statement::Insert(insert) = statement {
            return self.insert(tenant, insert).await;
        }
        match statement {
            Statement::Query(_) => self.read(statement, text).await,
            Statement::Explain { statement: explained, .. }
                if matches!(explained.as_ref(), Statement::Query(_)) =>
            {
                // The backend's plan of the rewritten SELECT: its result columns are the backend's own.
                let (text, _) = self.rewrite_read(statement, None).await?;
                self.forward_with(text.as_bytes(), &[]).await
            }
            Statement::Explain { .. } => Err(Error::Unsupported(
                crate::sql::EXPLAIN_WRITES.to_string(),
            )
            .into()),
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
        // One catalog (one version read) for the model and its selection.
        let catalog = self.catalog(tenant).await?;
        let model = self.model_in(&catalog, &table)?;
        let mut columns = vec![
            "id".to_string(),
            "created_at".to_string(),
            "updated_at".to_string(),
        ];
        columns.extend(model.fields.iter().map(|f| f.name.clone()));
        let by_id = crate::rewrite::by_id::by_id(update.selection.as_ref(), &alias);
        let selection = selection(
            &update.table.relation,
            &alias,
            &columns,
            update.selection.as_ref(),
            &update.order_by,
            update.limit.as_ref(),
        )?;
        let selection = self.rewrite_selection(selection, &catalog, by_id)?;
        let assignments: Vec<String> = update.assignments.iter().map(|a| a.to_string()).collect();
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
            self.status,
        )
        .await;
        self.status = super::relay::backend_status(&self.conn);
        let updated = match updated {
            Ok(updated) => updated,
            Err(e) => {
                self.warnings = crate::write::failure_warnings(&mut self.conn, &model, &e).await;
                return Err(e.into());
            }
        };
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
        if delete.returning.is_some() {
            return Err(Error::Unsupported(
                "DELETE … RETURNING is not supported on model tables: SELECT the rows first"
                    .to_string(),
            )
            .into());
        }
        let (table, alias) = self.single_model(&single.relation)?;
        let catalog = self.catalog(tenant).await?;
        let model = self.model_in(&catalog, &table)?;
        let by_id = crate::rewrite::by_id::by_id(delete.selection.as_ref(), &alias);
        let selection = selection(
            &single.relation,
            &alias,
            &["id".to_string()],
            delete.selection.as_ref(),
            &delete.order_by,
            delete.limit.as_ref(),
        )?;
        let selection = self.rewrite_selection(selection, &catalog, by_id)?;
        let selection = crate::write::Selection {
            text: &selection,
            by_id,
        };
        let deleted =
            crate::write::delete(&mut self.conn, &model, tenant, selection, self.status).await;
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

    /// A SELECT of model tables. When each statement commits on its own and the tenant's catalog is cached, the
    /// registry version check rides in the statement's own round trip: the statement is rewritten against the
    /// cached catalog and sent behind the version read ([`Session::read_at`]); the plan is then cached under the
    /// client's `text`. If the version moved meanwhile, the statement is rewritten against the fresh catalog; so
    /// is a statement the cached catalog refuses.
    async fn read(
        &mut self,
        statement: &Statement,
        text: Option<&str>,
    ) -> Result<(), crate::Error> {
        let tenant = self.required_tenant()?;
        let cached = self
            .state
            .registry
            .cached(tenant)
            .filter(|_| self.autocommitting());
        // A refusal by the cached catalog (no such table, unindexed field) may be stale too: checked below.
        if let Some((cached, rewritten)) = cached.and_then(|cached| {
            let rewritten = self.rewrite_with(statement.clone(), &cached).ok()?;
            Some((cached, rewritten))
        }) {
            let Rewritten {
                text: backend,
                overrides,
                settled,
                sources,
            } = rewritten;
            let overrides = self
                .described(statement, &cached, overrides, settled, Probe::Query)
                .await
                .executed;
            if self.read_at(cached.version, &backend, &overrides).await? {
                if let (Some(text), Some(scope), true) = (text, self.plan_scope(), settled) {
                    let plan = Plan {
                        version: cached.version,
                        text: backend,
                        sources,
                    };
                    self.state.plans.insert(text, scope, plan);
                }
                return Ok(());
            }
        }
        let (text, described) = self.rewrite_read(statement, Some(Probe::Query)).await?;
        self.forward_with(text.as_bytes(), &described.executed)
            .await
    }

    /// A read the plan cache knows (`rewrite/plans.rs`), sent without parsing, checking or rewriting it again:
    /// `false` (nothing written) when there is none, or when the catalog moved since the plan was made.
    pub(super) async fn planned_read(&mut self, text: &str) -> Result<bool, crate::Error> {
        let Some(plan) = self
            .plan_scope()
            .and_then(|scope| self.state.plans.get(text, scope))
        else {
            return Ok(false);
        };
        let home = self.home();
        let overrides: Vec<Option<Column>> = plan
            .sources
            .iter()
            .map(|source| source.as_ref().and_then(|s| native_column(s, &home)))
            .collect();
        let served = self.read_at(plan.version, &plan.text, &overrides).await?;
        if served {
            self.state.plans.hit();
        }
        Ok(served)
    }

    /// Where this session's reads are cached: a chosen tenant, outside a transaction (inside one, the version is
    /// read on another connection).
    fn plan_scope(&self) -> Option<Scope> {
        let tenant = self.tenant()?;
        self.autocommitting().then_some(Scope {
            tenant,
            admin: matches!(self.user.role(), crate::config::Role::Admin),
            allow_scan: self.allow_scan,
        })
    }

    /// Sends `VERSION_QUERY; sql` as one batch and streams `sql`'s result when the registry is still at `version`.
    /// If not (a DDL on any instance moved it), that result — rows or error — is drained unread: `false`.
    async fn read_at(
        &mut self,
        version: u64,
        sql: &str,
        overrides: &[Option<Column>],
    ) -> Result<bool, crate::Error> {
        let batch = format!("{}; {sql}", crate::registry::VERSION_QUERY);
        let mut result = self.conn.query_iter(batch).await?;
        let current: Option<u64> = result.next().await?.and_then(|row| row.get(0));
        // Ends the version's result set; the statement's own error, if any, surfaces here.
        let opened = result.next().await;
        if current == Some(version) {
            opened?;
            let last = super::relay::stream(
                &mut self.wire,
                result,
                super::relay::Encoding::Text,
                self.status,
                overrides,
            )
            .await?;
            self.status = super::relay::finish(&mut self.wire, &self.conn, last).await?;
            return Ok(true);
        }
        if opened.is_ok() {
            while let Ok(Some(_)) = result.next().await {}
        }
        Ok(false)
    }

    /// Keeps a write's warnings for the `SHOW WARNINGS` that may follow: the backend session's own diagnostics
    /// describe the last of the write's statements, not the shadow table's coercions.
    fn keep_warnings(&mut self, warnings: crate::write::Warnings) {
        self.warnings = (!warnings.rows.is_empty()).then_some(warnings);
    }

    /// A read of model tables as backend SQL, with the native metadata of its result columns where the backend's
    /// would differ (learnt from the twins with `probe`; without it, only model columns are described).
    pub(super) async fn rewrite_read(
        &mut self,
        statement: &Statement,
        probe: Option<Probe>,
    ) -> Result<(String, Described), crate::Error> {
        let tenant = self.required_tenant()?;
        let catalog = self.catalog(tenant).await?;
        let Rewritten {
            text,
            overrides,
            settled,
            ..
        } = self.rewrite_with(statement.clone(), &catalog)?;
        let described = match probe {
            Some(probe) => {
                self.described(statement, &catalog, overrides, settled, probe)
                    .await
            }
            None => Described::same(overrides),
        };
        Ok((text, described))
    }

    /// The rows an UPDATE or DELETE changes, as backend SQL; rows named by primary key are read by it.
    fn rewrite_selection(
        &self,
        mut selection: Statement,
        catalog: &crate::catalog::TenantCatalog,
        by_id: bool,
    ) -> Result<String, crate::Error> {
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
        Ok(selection.to_string())
    }

    fn rewrite_with(
        &self,
        mut statement: Statement,
        catalog: &crate::catalog::TenantCatalog,
    ) -> Result<Rewritten, crate::Error> {
        let home = self.home();
        let scope = crate::rewrite::select::Scope {
            catalog,
            home: &home,
            allow_scan: self.allow_scan,
        };
        let sources = crate::rewrite::select::rewrite(&mut statement, scope)?;
        let overrides = sources
            .iter()
            .map(|source| source.as_ref().and_then(|s| native_column(s, &home)))
            .collect();
        Ok(Rewritten {
            text: crate::rewrite::share_lock::print(&statement),
            overrides,
            settled: !sources.is_empty() && sources.iter().all(Option::is_some),
            sources,
        })
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
        let catalog = self.catalog(tenant).await?;
        let model = self.model_in(&catalog, &table)?;
        // INSERT … SELECT: the source query is read like any other (model tables substituted, index rules).
        let select = match insert.source.as_ref() {
            Some(source) if !matches!(source.body.as_ref(), sqlparser::ast::SetExpr::Values(_)) => {
                Some(
                    self.rewrite_with(Statement::Query(source.clone()), &catalog)?
                        .text,
                )
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
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                self.warnings = crate::write::failure_warnings(&mut self.conn, &model, &e).await;
                return Err(e.into());
            }
        };
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
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// `INSERT … RETURNING` (MariaDB's, which SQLAlchemy uses to learn new ids): the rows just written, read back
    /// by id in the order they were inserted, through the same rewrite as any SELECT (so with native metadata).
    async fn returning(
        &mut self,
        table: &str,
        items: &[sqlparser::ast::SelectItem],
        ids: &[u64],
    ) -> Result<(), crate::Error> {
        use sqlparser::ast::{Expr, SetExpr, Value};
        let mut statement = selection(
            &sqlparser::ast::TableFactor::Table {
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
            },
            table,
            &["id".to_string()],
            None,
            &[],
            None,
        )?;
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

/// The SELECT of `columns` of the rows an UPDATE or DELETE touches: the user's WHERE, ORDER BY and LIMIT over
/// the table as the statement names it, to go through the same rewrite (and the same index rules) as any read.
fn selection(
    relation: &sqlparser::ast::TableFactor,
    alias: &str,
    columns: &[String],
    selection: Option<&sqlparser::ast::Expr>,
    order_by: &[sqlparser::ast::OrderByExpr],
    limit: Option<&sqlparser::ast::Expr>,
) -> Result<Statement, crate::Error> {
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

/// A read rewritten into backend SQL.
struct Rewritten {
    text: String,
    /// Per result column, the native metadata of a model column.
    overrides: Vec<Option<Column>>,
    /// Every result column's metadata is known without the twins.
    settled: bool,
    /// Each result column's source, for the plan cache.
    sources: Vec<Option<crate::rewrite::select::Source>>,
}
