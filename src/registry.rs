//! The registry on the backend (`stardust_models`, `_fields`, `_pages`, `_slot_assignments`, `_schema_version`):
//! loading a tenant's catalog snapshot, caching it by schema version, and the writes that change it.

pub mod fields;
pub mod models;
pub mod pages;
pub mod slots;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::backend::{self, Backend};
use crate::catalog::{ColumnShape, Family, Field, Model, Slot, SlotStatus, TenantCatalog, Wire};

/// How long a registry version this instance read stays good enough for a prepared read to run on without reading
/// it again (see [`Registry::recent`]). A model change made through another instance reaches prepared reads here
/// within this long; text statements and writes check the version exactly, in their own round trip.
pub const PREPARED_STALENESS: std::time::Duration = std::time::Duration::from_secs(1);

/// Catalog snapshots per tenant, reloaded when `stardust_schema_version` moves.
pub struct Registry {
    backend: Backend,
    cache: Mutex<HashMap<u64, Arc<TenantCatalog>>>,
    /// The newest registry version a statement of this instance read, and when.
    seen: Mutex<Option<(u64, std::time::Instant)>>,
}

impl Registry {
    pub fn new(backend: Backend) -> Registry {
        Registry {
            backend,
            cache: Mutex::new(HashMap::new()),
            seen: Mutex::new(None),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The tenant's catalog as of now: one primary-key read of the version, and a reload only when it moved
    /// (a DDL on this or another proxy instance).
    pub async fn snapshot(&self, tenant: u64) -> Result<Arc<TenantCatalog>, backend::Error> {
        let mut conn = self.backend.conn(false).await?;
        self.snapshot_on(&mut conn, tenant).await
    }

    /// As [`Registry::snapshot`], reading the version on a connection the caller already holds (a session's own,
    /// outside a transaction, saves a pool round trip per statement).
    pub async fn snapshot_on(
        &self,
        conn: &mut mysql_async::Conn,
        tenant: u64,
    ) -> Result<Arc<TenantCatalog>, backend::Error> {
        let current = version(conn).await?;
        self.saw(current);
        if let Some(cached) = self.cached(tenant) {
            if cached.version == current {
                return Ok(cached);
            }
        }
        tracing::debug!(
            event = "cache_miss",
            tenant,
            version = current,
            "catalog reloaded"
        );
        let loaded = Arc::new(load(conn, tenant, current).await?);
        self.lock().insert(tenant, loaded.clone());
        Ok(loaded)
    }

    /// The tenant's last loaded catalog, unchecked: the caller checks its version (see `VERSION_QUERY`).
    pub fn cached(&self, tenant: u64) -> Option<Arc<TenantCatalog>> {
        self.lock().get(&tenant).cloned()
    }

    /// Records a registry version a statement just read.
    pub fn saw(&self, version: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_none_or(|(known, _)| version >= known) {
            *seen = Some((version, std::time::Instant::now()));
        }
    }

    /// The registry version read within [`PREPARED_STALENESS`], if any.
    pub fn recent(&self) -> Option<u64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.filter(|(_, at)| at.elapsed() < PREPARED_STALENESS)
            .map(|(version, _)| version)
    }

    /// Forgets the recent version: this instance just changed the registry, so the next prepared read checks.
    pub fn moved(&self) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<TenantCatalog>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads the registry version (one primary-key row).
pub const VERSION_QUERY: &str = "SELECT version FROM stardust_schema_version WHERE id = 1";

/// The registry version: every change that matters to readers bumps it.
pub async fn version<Q: Queryable>(conn: &mut Q) -> Result<u64, backend::Error> {
    let version: Option<u64> = conn.query_first(VERSION_QUERY).await?;
    Ok(version.unwrap_or(0))
}

/// Bumps the registry version, inside the caller's transaction.
pub async fn bump<Q: Queryable>(conn: &mut Q) -> Result<(), backend::Error> {
    conn.query_drop(
        "UPDATE stardust_schema_version SET version = version + 1, updated_at = UTC_TIMESTAMP() WHERE id = 1",
    )
    .await?;
    Ok(())
}

const LOAD: &str = "SELECT m.id, m.name, DATE_FORMAT(m.created_at, '%Y-%m-%d %H:%i:%s'), \
    f.id, f.name, f.declared_type, f.is_filterable, f.ordinal, f.declared_sql, f.column_type, f.is_nullable, \
    f.default_value, f.collation_name, f.column_comment, f.wire_meta, f.index_name, \
    a.page_id, a.slot_column, a.status, p.table_name, a.is_indexed, COLLATION(CONVERT('' USING utf8mb4)) \
    FROM stardust_models m \
    LEFT JOIN stardust_fields f ON f.model_id = m.id \
    LEFT JOIN stardust_slot_assignments a ON a.live_field_id = f.id \
    LEFT JOIN stardust_pages p ON p.id = a.page_id \
    WHERE m.tenant_id = ? \
    ORDER BY m.id, f.ordinal, f.id";

/// Reads one tenant's models, fields and live slots.
pub async fn load<Q: Queryable>(
    conn: &mut Q,
    tenant: u64,
    version: u64,
) -> Result<TenantCatalog, backend::Error> {
    let rows: Vec<Row> = conn.exec(LOAD, (tenant,)).await?;
    let mut models: BTreeMap<String, Model> = BTreeMap::new();
    for row in rows {
        let name: String = row.get(1).unwrap_or_default();
        let model = models.entry(name.clone()).or_insert_with(|| Model {
            id: row.get(0).unwrap_or_default(),
            tenant,
            name,
            created_at: row.get(2).unwrap_or_default(),
            fields: Vec::new(),
            derived: Default::default(),
        });
        if let Some(field) = field_of(&row) {
            model.fields.push(field);
        }
    }
    Ok(TenantCatalog {
        tenant,
        version,
        models: models.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
    })
}

fn field_of(row: &Row) -> Option<Field> {
    let id: i64 = row.get::<Option<i64>, _>(3).flatten()?;
    let declared: String = row.get(5).unwrap_or_default();
    let opt = |i: usize| row.get::<Option<String>, _>(i).flatten();
    let slot = match (
        row.get::<Option<u32>, _>(16).flatten(),
        opt(17),
        opt(18),
        opt(19),
    ) {
        (Some(page), Some(column), Some(status), Some(table)) => Some(Slot {
            page,
            table,
            column,
            status: SlotStatus::parse(&status)?,
            indexed: row.get::<Option<bool>, _>(20).flatten().unwrap_or(false),
            collation: opt(21),
        }),
        _ => None,
    };
    Some(Field {
        id,
        name: row.get(4).unwrap_or_default(),
        family: Family::from_declared(&declared),
        filterable: row.get::<Option<bool>, _>(6).flatten().unwrap_or(false),
        ordinal: row.get::<Option<u32>, _>(7).flatten().unwrap_or(0),
        shape: ColumnShape {
            declared_sql: opt(8).unwrap_or_default(),
            column_type: opt(9).unwrap_or_default(),
            nullable: row.get::<Option<bool>, _>(10).flatten().unwrap_or(true),
            default: opt(11),
            collation: opt(12),
            comment: opt(13).unwrap_or_default(),
            wire: opt(14)
                .as_deref()
                .and_then(Wire::decode)
                .unwrap_or_default(),
        },
        index_name: opt(15),
        slot,
    })
}
