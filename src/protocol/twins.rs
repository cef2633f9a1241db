//! The session's side of the twins (`rewrite/twin.rs`): making them on the backend connection, running a SELECT's
//! probe there, and the column definitions that describe the real result as a native table would.

use mysql_async::prelude::Queryable;
use mysql_async::Column;
use sqlparser::ast::Statement;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::Session;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// The metadata a native table would give `statement`'s result columns. `overrides` describe its model
    /// columns from the catalog (`settled`: every column is described so, or typed alike on any table); when other columns are computed from model columns, the statement runs once on the models'
    /// empty twins and the backend types them there. If the twins cannot be used (say, in a read-only
    /// transaction that refuses temporary tables), the backend's own metadata stands for those columns.
    pub(super) async fn described(
        &mut self,
        statement: &Statement,
        catalog: &crate::catalog::TenantCatalog,
        overrides: Vec<Option<Column>>,
        settled: bool,
        probe: Probe,
    ) -> Described {
        if settled {
            return Described::same(overrides);
        }
        let home = self.home();
        let scope = crate::rewrite::select::Scope {
            catalog,
            home: &home,
            allow_scan: true,
        };
        let Some(twin) = crate::rewrite::twin::probe(statement, scope) else {
            return Described::same(overrides);
        };
        let native = |columns: Vec<Column>| -> Vec<Option<Column>> {
            columns
                .iter()
                .map(|c| Some(untwinned(c, &twin.models)))
                .collect()
        };
        // The same statement (a dashboard's refresh) is typed once per catalog version.
        let key = (
            twin.statement.to_string(),
            catalog.version,
            matches!(probe, Probe::Prepare),
        );
        if let Some((prepared, executed)) = self.twins.typed.get(&key) {
            return Described {
                prepared: native(prepared.clone()),
                executed: native(executed.clone()),
            };
        }
        match self.twin_columns(&twin, probe).await {
            Ok((prepared, executed)) => {
                let described = Described {
                    prepared: native(prepared.clone()),
                    executed: native(executed.clone()),
                };
                self.twins.remember(key, (prepared, executed));
                described
            }
            Err(e) => {
                tracing::debug!(error = %e, "typing computed columns on the twins failed; the backend's metadata stands");
                // A twin dropped behind the proxy's back is made again next time.
                if matches!(&e, mysql_async::Error::Server(s) if s.code == 1146) {
                    twin.models.iter().for_each(|m| self.twins.forget(m.id));
                }
                Described::same(overrides)
            }
        }
    }

    /// The twins' columns as a prepare describes them and as an execution does (MariaDB may differ, e.g. in a
    /// string's decimals). A text query is only executed; a prepared one is prepared, then executed with every
    /// parameter NULL.
    async fn twin_columns(
        &mut self,
        twin: &crate::rewrite::twin::Probe,
        probe: Probe,
    ) -> Result<(Vec<Column>, Vec<Column>), mysql_async::Error> {
        for model in &twin.models {
            self.twins.ensure(&mut self.conn, model).await?;
        }
        let text = twin.statement.to_string();
        match probe {
            Probe::Query => {
                let result = self.conn.query_iter(text).await?;
                let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
                result.drop_result().await?;
                Ok((columns.clone(), columns))
            }
            Probe::Prepare => {
                let prepared = self.conn.prep(text).await?;
                let described = prepared.columns().to_vec();
                let nulls = vec![mysql_async::Value::NULL; prepared.num_params() as usize];
                let params = if nulls.is_empty() {
                    mysql_async::Params::Empty
                } else {
                    mysql_async::Params::Positional(nulls)
                };
                let executed = match self.conn.exec_iter(&prepared, params).await {
                    Ok(result) => {
                        let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
                        result.drop_result().await?;
                        columns
                    }
                    // NULL where a value is required (`LIMIT ?`): the prepare's description stands.
                    Err(mysql_async::Error::Server(_)) => described.clone(),
                    Err(e) => return Err(e),
                };
                self.conn.close(prepared).await?;
                Ok((described, executed))
            }
        }
    }
}

/// How a statement's twin is typed: run (text queries), or prepared and executed (prepared statements, whose
/// `?` only a prepare accepts).
#[derive(Debug, Clone, Copy)]
pub(super) enum Probe {
    Query,
    Prepare,
}

/// The native metadata of a read's result columns (`None`: the backend's own stands), as a prepare describes them
/// and as an execution does.
pub(super) struct Described {
    pub prepared: Vec<Option<Column>>,
    pub executed: Vec<Option<Column>>,
}

impl Described {
    pub fn none() -> Described {
        Described::same(Vec::new())
    }

    pub fn same(overrides: Vec<Option<Column>>) -> Described {
        Described {
            prepared: overrides.clone(),
            executed: overrides,
        }
    }
}

/// A column of the twins' answer as the client should see it: a twin's own column names the model's table as its
/// original table; everything else is as the backend described it on the twin.
fn untwinned(column: &Column, models: &[std::sync::Arc<crate::catalog::Model>]) -> Column {
    let org_table = column.org_table_str();
    match models
        .iter()
        .find(|m| crate::rewrite::twin::table_name(m) == org_table)
    {
        Some(model) => column.clone().with_org_table(model.table_name().as_bytes()),
        None => column.clone(),
    }
}

/// Which twins exist on the session's backend connection, and for which shape of their model; which shapes the
/// backend would not make a twin of, so a SELECT does not ask again in vain; and the column definitions learnt
/// for recent statements.
#[derive(Debug, Default)]
pub(super) struct Twins {
    made: crate::backend::temporary::Temporaries,
    /// By model, the shape (`Model::columns_signature`) the backend refused a twin for.
    refused: std::collections::HashMap<i64, String>,
    /// By the probe's text, the catalog version and whether it was prepared: the twins' columns as prepared
    /// and as executed. They depend on the session's character set too, so any statement that could change it
    /// clears them (`forget_types`).
    typed: std::collections::HashMap<Key, Typed>,
}

/// A probe's text, the catalog version it was typed against, and whether it was prepared.
type Key = (String, u64, bool);

/// The twins' columns as prepared and as executed.
type Typed = (Vec<Column>, Vec<Column>);

/// How many statements' column definitions a session keeps.
const TYPED: usize = 256;

impl Twins {
    /// Forget every twin (the backend connection was reset, dropping its temporary tables).
    pub fn clear(&mut self) {
        self.made.clear();
        self.refused.clear();
        self.typed.clear();
    }

    /// Forget the column definitions learnt so far (a statement may have changed the session's character set).
    pub fn forget_types(&mut self) {
        self.typed.clear();
    }

    fn remember(&mut self, key: Key, columns: Typed) {
        if self.typed.len() >= TYPED {
            self.typed.clear();
        }
        self.typed.insert(key, columns);
    }

    fn forget(&mut self, model: i64) {
        self.made.forget(model);
        self.typed.clear();
    }

    async fn ensure(
        &mut self,
        conn: &mut mysql_async::Conn,
        model: &crate::catalog::Model,
    ) -> Result<(), mysql_async::Error> {
        let signature = model.columns_signature();
        if self.refused.get(&model.id) == Some(&signature) {
            return Err(mysql_async::Error::Other(
                "the backend would not make this model's twin".into(),
            ));
        }
        let name = crate::rewrite::twin::table_name(model);
        let made = self
            .made
            .ensure(conn, model, &name, || crate::rewrite::twin::ddl(model))
            .await;
        match &made {
            // Refused for now, not for good: a read-only transaction (1792) takes no temporary table.
            Err(mysql_async::Error::Server(e)) if e.code == 1792 => {}
            Err(_) => {
                self.refused.insert(model.id, signature);
            }
            Ok(()) => {}
        }
        made
    }
}
