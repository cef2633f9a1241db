//! The session's side of model rows: which path a statement on model tables takes, and SELECT through the read
//! rewrite with the native metadata a client expects (writes are in `writes.rs`).

use mysql_async::prelude::Queryable;
use mysql_async::Column;
use sqlparser::ast::Statement;
use tokio::io::{AsyncRead, AsyncWrite};

use super::models::native_column;
use super::session::Session;
use super::twins::{Described, Probe};
use super::Error;
use crate::rewrite::plans::{Plan, Scope, MAX_TEXT};
use crate::sql::{self, scan, Route};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// A statement on model tables: a read through the rewriter, a write through the write path.
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
                let (text, _, _) = self.rewrite_read(statement, None).await?;
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

    /// A SELECT of model tables. When each statement commits on its own and the tenant's catalog is cached, the
    /// registry version check rides in the statement's own round trip: the statement is rewritten against the
    /// cached catalog and sent behind the version read ([`Session::read_at`]); the plan is then cached under the
    /// client's `text`. If the version moved meanwhile, the statement is rewritten against the fresh catalog; so
    /// is a statement the cached catalog refuses.
    pub(super) async fn read(
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
                    self.remember(text, scope, &cached, &backend, sources);
                }
                return Ok(());
            }
        }
        let (text, described, _) = self.rewrite_read(statement, Some(Probe::Query)).await?;
        self.forward_with(text.as_bytes(), &described.executed)
            .await
    }

    /// A read the plan cache knows (`rewrite/plans.rs`) by its text with the literals taken out, sent with its
    /// own literals put into the cached template, without parsing, checking or rewriting it again: `false`
    /// (nothing written) when there is none, or when the catalog moved since the plan was made.
    pub(super) async fn planned_read(&mut self, text: &str) -> Result<bool, crate::Error> {
        let Some(scope) = self.plan_scope() else {
            return Ok(false);
        };
        if text.len() > MAX_TEXT {
            return Ok(false);
        }
        let Some(literals) = scan::literals(text) else {
            return Ok(false);
        };
        let Some(plan) = self.state.plans.get(&literals.key, scope) else {
            return Ok(false);
        };
        let Some(template) = &plan.template else {
            return Ok(false);
        };
        let backend = template.render(text, &literals.slots);
        let home = self.home();
        let overrides: Vec<Option<Column>> = plan
            .sources
            .iter()
            .map(|source| source.as_ref().and_then(|s| native_column(s, &home)))
            .collect();
        let served = self.read_at(plan.version, &backend, &overrides).await?;
        if served {
            self.state.plans.hit();
        }
        Ok(served)
    }

    /// Caches the plan of a read just rewritten afresh against `catalog` into `backend`, under its text with the
    /// literals taken out: a template of the backend SQL when the rewrite is one (`plans::template`), or a note
    /// that it is not, so that the next statement of the key does not try again.
    fn remember(
        &self,
        text: &str,
        scope: Scope,
        catalog: &crate::catalog::TenantCatalog,
        backend: &str,
        sources: Vec<Option<crate::rewrite::select::Source>>,
    ) {
        self.state.plans.miss();
        let Some(literals) = scan::literals(text).filter(|_| text.len() <= MAX_TEXT) else {
            return;
        };
        let known = self.state.plans.get(&literals.key, scope);
        if known.is_some_and(|plan| plan.version == catalog.version && plan.template.is_none()) {
            return;
        }
        let template =
            crate::rewrite::plans::template(text, &literals, backend, &sources, |marked| {
                let Ok(Route::Virtual(statement)) = sql::classify(marked, &self.context()) else {
                    return None;
                };
                if !matches!(*statement, Statement::Query(_)) {
                    return None;
                }
                crate::rewrite::plans::rewrite(*statement, self.select_scope(catalog)).ok()
            });
        let plan = Plan {
            version: catalog.version,
            template,
            sources,
        };
        self.state.plans.insert(&literals.key, scope, plan);
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
        if let Some(current) = current {
            self.state.registry.saw(current);
        }
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

    /// A read of model tables as backend SQL, with the native metadata of its result columns where the backend's
    /// would differ (learnt from the twins with `probe`; without it, only model columns are described), and the
    /// registry version it was planned at.
    pub(super) async fn rewrite_read(
        &mut self,
        statement: &Statement,
        probe: Option<Probe>,
    ) -> Result<(String, Described, u64), crate::Error> {
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
        Ok((text, described, catalog.version))
    }

    pub(super) fn rewrite_with(
        &self,
        statement: Statement,
        catalog: &crate::catalog::TenantCatalog,
    ) -> Result<Rewritten, crate::Error> {
        let home = self.home();
        let (text, sources) =
            crate::rewrite::plans::rewrite(statement, self.select_scope(catalog))?;
        let overrides = sources
            .iter()
            .map(|source| source.as_ref().and_then(|s| native_column(s, &home)))
            .collect();
        Ok(Rewritten {
            text,
            overrides,
            settled: !sources.is_empty() && sources.iter().all(Option::is_some),
            sources,
        })
    }

    fn select_scope<'a>(
        &'a self,
        catalog: &'a crate::catalog::TenantCatalog,
    ) -> crate::rewrite::select::Scope<'a> {
        crate::rewrite::select::Scope {
            catalog,
            home: self.state.backend.database(),
            allow_scan: self.allow_scan,
        }
    }
}

/// A read rewritten into backend SQL.
pub(super) struct Rewritten {
    pub(super) text: String,
    /// Per result column, the native metadata of a model column.
    overrides: Vec<Option<Column>>,
    /// Every result column's metadata is known without the twins.
    settled: bool,
    /// Each result column's source, for the plan cache.
    sources: Vec<Option<crate::rewrite::select::Source>>,
}
