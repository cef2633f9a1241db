//! Export jobs: the user's `SELECT … FROM model_x [WHERE …]`, checked at submission and, at every chunk, turned
//! into the next chunk's backend SQL by the read rewriter (the filter and projection as written, plus the entry
//! id as a cursor: `AND id > cursor ORDER BY id LIMIT n`); submission under the per-tenant active-job cap.

use mysql_async::prelude::Queryable;
use mysql_async::TxOpts;
use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, Query, SelectItem, SetExpr, Statement, TableFactor,
    Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::Error;
use crate::catalog::TenantCatalog;

/// The export file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// RFC 4180: a header row of the result's column names, CRLF line ends, quotes where needed.
    Csv,
    /// One JSON array of objects keyed by the result's column names.
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    pub fn parse(text: &str) -> Option<Format> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The label of the cursor column every chunk query puts last.
pub const CURSOR: &str = "stardust_export_cursor";

/// The user's query, checked: one SELECT from one of the tenant's model tables.
#[derive(Debug, Clone)]
pub struct Export {
    query: Query,
    /// How the query names the table (its alias, or the table name), to qualify `id`.
    table: String,
    pub model_id: i64,
}

fn refuse(what: &str) -> Error {
    Error::Input(format!(
        "an export takes one SELECT … FROM model_x [WHERE …] on one model table, without {what}"
    ))
}

/// Parses and checks the query against the tenant's catalog.
pub fn parse(sql: &str, catalog: &TenantCatalog) -> Result<Export, Error> {
    let mut statements = Parser::parse_sql(&MySqlDialect {}, sql)
        .map_err(|e| Error::Input(format!("the export query does not parse: {e}")))?;
    let query = match (statements.pop(), statements.is_empty()) {
        (Some(Statement::Query(query)), true) => *query,
        _ => return Err(refuse("other statements")),
    };
    if query.with.is_some() {
        return Err(refuse("WITH"));
    }
    if query.order_by.is_some() || query.limit_clause.is_some() || !query.locks.is_empty() {
        return Err(refuse(
            "ORDER BY, LIMIT or locking clauses (rows come in id order)",
        ));
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(refuse("UNION or VALUES"));
    };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.distinct.is_some()
        || grouped
        || select.having.is_some()
        || !select.named_window.is_empty()
    {
        return Err(refuse("DISTINCT, GROUP BY, HAVING or windows"));
    }
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return Err(refuse("joins"));
    }
    let TableFactor::Table { name, alias, .. } = &select.from[0].relation else {
        return Err(refuse("derived tables"));
    };
    let table_name = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default();
    let Some(bare) = crate::catalog::model_name(&table_name) else {
        return Err(Error::Input(format!(
            "exports read model tables (model_…), not {table_name}"
        )));
    };
    let model = catalog
        .model_for_table(&table_name)
        .ok_or_else(|| Error::NoSuchModel {
            tenant: catalog.tenant,
            model: bare,
        })?;
    if sql_has_subquery(&query) {
        return Err(refuse("subqueries"));
    }
    let table = alias
        .as_ref()
        .map(|a| a.name.value.clone())
        .unwrap_or(table_name);
    Ok(Export {
        model_id: model.id,
        table,
        query,
    })
}

fn sql_has_subquery(query: &Query) -> bool {
    use sqlparser::ast::{Visit, Visitor};
    struct Finder(usize);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> std::ops::ControlFlow<()> {
            self.0 += 1;
            if self.0 > 1 {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        }
    }
    query.visit(&mut Finder(0)).is_break()
}

/// A cursor value no query holds: a chunk query planned with it in place of the cursor is a template.
const SENTINEL: &str = "18446744073709551557";

/// An export's chunk SQL planned once for a catalog: the rewritten query with the cursor's place marked, so a
/// chunk costs a string substitution instead of a parse and a rewrite.
///
/// The first chunk is read as the optimizer likes (a selective filter reads its slot index and sorts the few
/// rows it finds); the chunks after it walk the pages' primary key from the cursor (`FORCE INDEX (PRIMARY)`),
/// so each reads about a chunk's rows. Left to itself the optimizer reads a filter's index from the start and
/// sorts every row left after the cursor for every chunk: quadratic in the rows exported.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The rewritten SQL split where the cursor goes (one piece more than the cursor's places), the first
    /// chunk's and the later chunks'; empty if the user's own query holds the marker, which then is planned
    /// chunk by chunk.
    first: Vec<String>,
    pieces: Vec<String>,
    export: Export,
    home: String,
    limit: u64,
}

impl Plan {
    /// The SQL of the chunk after `cursor`.
    pub fn sql(&self, catalog: &TenantCatalog, cursor: u64) -> Result<String, Error> {
        if self.pieces.is_empty() {
            let mut statement = self.export.chunk_statement(
                catalog,
                &self.home,
                &cursor.to_string(),
                self.limit,
            )?;
            if cursor > 0 {
                in_id_order(&mut statement);
            }
            return Ok(statement.to_string());
        }
        let pieces = if cursor == 0 {
            &self.first
        } else {
            &self.pieces
        };
        Ok(pieces.join(&cursor.to_string()))
    }
}

impl Export {
    /// Plans the chunks of at most `limit` rows against `catalog` (re-plan when the catalog changes).
    pub fn plan(&self, catalog: &TenantCatalog, home: &str, limit: u64) -> Result<Plan, Error> {
        let mut statement = self.chunk_statement(catalog, home, SENTINEL, limit)?;
        let first = statement.to_string();
        in_id_order(&mut statement);
        let later = statement.to_string();
        let mine = self.query.to_string().contains(SENTINEL);
        let split = |sql: &str| -> Vec<String> {
            if mine {
                Vec::new()
            } else {
                sql.split(SENTINEL).map(str::to_string).collect()
            }
        };
        Ok(Plan {
            first: split(&first),
            pieces: split(&later),
            export: self.clone(),
            home: home.to_string(),
            limit,
        })
    }

    /// The next chunk's backend SQL: the user's columns, then the cursor column, rows after `cursor` in id
    /// order, at most `limit`; rewritten like any client read of the tenant's model tables.
    pub fn chunk_sql(
        &self,
        catalog: &TenantCatalog,
        home: &str,
        cursor: u64,
        limit: u64,
    ) -> Result<String, Error> {
        Ok(self
            .chunk_statement(catalog, home, &cursor.to_string(), limit)?
            .to_string())
    }

    fn chunk_statement(
        &self,
        catalog: &TenantCatalog,
        home: &str,
        cursor: &str,
        limit: u64,
    ) -> Result<Statement, Error> {
        let mut query = self.query.clone();
        let id = Expr::CompoundIdentifier(vec![Ident::new(&self.table), Ident::new("id")]);
        let SetExpr::Select(select) = query.body.as_mut() else {
            return Err(refuse("UNION or VALUES"));
        };
        // Last: MySQL takes `SELECT *, x` but not `SELECT x, *`.
        select.projection.push(SelectItem::ExprWithAlias {
            expr: id.clone(),
            alias: Ident::new(CURSOR),
        });
        let after = Expr::BinaryOp {
            left: Box::new(id.clone()),
            op: BinaryOperator::Gt,
            right: Box::new(Expr::value(Value::Number(cursor.to_string(), false))),
        };
        select.selection = Some(match select.selection.take() {
            Some(filter) => Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(filter))),
                op: BinaryOperator::And,
                right: Box::new(after),
            },
            None => after,
        });
        // `ORDER BY <table>.id LIMIT n`, as the parser builds it.
        let tail = format!(
            "SELECT 1 ORDER BY {}.`id` LIMIT {limit}",
            crate::sql::quote_identifier(&self.table)
        );
        let Some(Statement::Query(template)) = Parser::parse_sql(&MySqlDialect {}, &tail)
            .map_err(|e| Error::Input(e.to_string()))?
            .pop()
        else {
            return Err(refuse("a table name the parser takes back"));
        };
        query.order_by = template.order_by;
        query.limit_clause = template.limit_clause;
        let mut statement = Statement::Query(Box::new(query));
        let scope = crate::rewrite::select::Scope {
            catalog,
            home,
            // A background export may read the JSON where no index serves its filter: it goes chunk by chunk.
            allow_scan: true,
        };
        crate::rewrite::select::rewrite(&mut statement, scope)
            .map_err(|e| Error::Input(format!("the export query cannot be read: {e}")))?;
        Ok(statement)
    }
}

/// Every slot page the rewritten chunk reads through a choice of indexes (`USE INDEX (PRIMARY, …)`) is read
/// through its primary key, the entry id: in the chunks' order, from the cursor on.
fn in_id_order(statement: &mut Statement) {
    use sqlparser::ast::{TableIndexHintType, VisitMut, VisitorMut};
    use std::ops::ControlFlow;
    struct Primary;
    impl VisitorMut for Primary {
        type Break = ();
        fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { index_hints, .. } = factor {
                for hint in index_hints.iter_mut() {
                    let primary = hint
                        .index_names
                        .first()
                        .is_some_and(|name| name.value.eq_ignore_ascii_case("PRIMARY"));
                    if primary && hint.hint_type == TableIndexHintType::Use {
                        hint.hint_type = TableIndexHintType::Force;
                        hint.index_names.truncate(1);
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Primary);
}

/// A tenant's active exports, locked for the submission's transaction (with the gap on the index), so two
/// submissions cannot both pass the cap.
const ACTIVE: &str = "SELECT id FROM stardust_export_jobs WHERE tenant_id = ? AND status IN ('pending', 'processing') \
    FOR UPDATE";

/// Records a pending export job, unless the tenant already has `cap` pending or running.
pub async fn submit(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    sql: &str,
    export: &Export,
    format: Format,
    cap: u64,
) -> Result<i64, Error> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let active: Vec<i64> = tx.exec(ACTIVE, (tenant,)).await?;
    if active.len() as u64 >= cap {
        return Err(Error::Input(format!(
            "tenant {tenant} has {} export jobs pending or running, the most allowed ([jobs] active_per_tenant = {cap}); \
             wait for one to finish",
            active.len()
        )));
    }
    let filter = serde_json::json!({ "model_id": export.model_id, "query": sql }).to_string();
    tx.exec_drop(
        "INSERT INTO stardust_export_jobs (tenant_id, status, filter, format, created_at) \
         VALUES (?, 'pending', ?, ?, UTC_TIMESTAMP())",
        (tenant, filter, format.as_str()),
    )
    .await?;
    let id = tx.last_insert_id().unwrap_or(0) as i64;
    tx.commit().await?;
    tracing::info!(
        event = "export_accepted",
        job_id = id,
        tenant,
        format = format.as_str(),
        "export job submitted"
    );
    Ok(id)
}

/// The tenant's catalog, read now.
pub async fn catalog(conn: &mut mysql_async::Conn, tenant: u64) -> Result<TenantCatalog, Error> {
    let version = crate::registry::version(conn).await?;
    Ok(crate::registry::load(conn, tenant, version).await?)
}
