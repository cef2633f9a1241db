//! Page provisioning: `entry_slots_page_N` with 60 typed slot columns, its indexes chosen once, at creation.
//! Runs under one named lock (`GET_LOCK`) shared by every proxy instance and, later, the Watcher.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::backend::{self, Backend};
use crate::catalog::Family;

/// The lock every page provisioning takes, on any proxy instance.
pub const PROVISION_LOCK: &str = "stardust_page_provision";
const LOCK_WAIT_SECS: u32 = 30;

/// How many indexed slots of each family are wanted on the next page.
pub type Demand = HashMap<Family, u32>;

/// The name of page `n`.
pub fn table_name(n: u32) -> String {
    format!("entry_slots_page_{n}")
}

/// The columns indexed on a new page: for each family the first `demand` slots, and no more. As in StarDust,
/// nothing is indexed speculatively: every row of a page pays for every index on it (InnoDB indexes NULLs too),
/// whichever model the row belongs to, so a page carries only the indexes fields asked for.
pub fn indexed_columns(demand: &Demand) -> Vec<String> {
    let mut columns = Vec::new();
    for family in Family::ALL {
        let wanted = demand.get(&family).copied().unwrap_or(0);
        for n in 1..=wanted.min(family.slots_per_page()) {
            columns.push(family.column(n));
        }
    }
    columns
}

/// The page's DDL. String slots get a 766-character prefix index: 766 × 4 bytes + the 8-byte tenant id is
/// InnoDB's 3072-byte key limit under ROW_FORMAT=DYNAMIC.
pub fn page_ddl(n: u32, indexed: &[String]) -> String {
    let table = table_name(n);
    let mut lines = vec![
        "entry_id BIGINT UNSIGNED NOT NULL".to_string(),
        "tenant_id BIGINT NOT NULL".to_string(),
    ];
    for family in Family::ALL {
        for i in 1..=family.slots_per_page() {
            lines.push(format!(
                "{} {} NULL",
                family.column(i),
                family.column_type()
            ));
        }
    }
    lines.push("PRIMARY KEY (entry_id)".to_string());
    lines.push(format!("KEY ix_{table}_tenant (tenant_id)"));
    for column in indexed {
        let part = if column.starts_with("i_str_") {
            format!("{column}(766)")
        } else {
            column.clone()
        };
        lines.push(format!("KEY ix_{table}_{column} (tenant_id, {part})"));
    }
    lines.push(format!(
        "CONSTRAINT fk_{table}_entry FOREIGN KEY (entry_id) REFERENCES entry_data (id) ON DELETE CASCADE"
    ));
    format!(
        "CREATE TABLE IF NOT EXISTS `{table}` (\n  {}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC",
        lines.join(",\n  ")
    )
}

/// The slots' capacity now, and the fields waiting for a slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capacity {
    pub total: u32,
    pub free: u32,
    /// Free indexed slots per family.
    pub indexed_free: Demand,
    /// Filterable fields with no live slot (their entries wait on the sync queue), per family.
    pub waiting: Demand,
}

impl Capacity {
    pub fn indexed_free(&self, family: Family) -> u32 {
        self.indexed_free.get(&family).copied().unwrap_or(0)
    }
}

/// Reads the capacity from the registry: one aggregate over the slots, one over the waiting fields.
pub async fn capacity(backend: &Backend) -> Result<Capacity, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let slots: Vec<(String, u32, u32, u32)> = conn
        .query(
            "SELECT slot_type, COUNT(*), SUM(status = 'free'), SUM(status = 'free' AND is_indexed = TRUE) \
             FROM stardust_slot_assignments GROUP BY slot_type",
        )
        .await?;
    let waiting: Vec<(String, u32)> = conn
        .query(
            "SELECT f.declared_type, COUNT(*) FROM stardust_fields f WHERE f.is_filterable = TRUE \
             AND NOT EXISTS (SELECT 1 FROM stardust_slot_assignments a WHERE a.live_field_id = f.id) \
             GROUP BY f.declared_type",
        )
        .await?;
    let mut capacity = Capacity::default();
    for (slot_type, total, free, indexed_free) in slots {
        capacity.total += total;
        capacity.free += free;
        if let Some(family) = Family::from_slot_type(&slot_type) {
            capacity.indexed_free.insert(family, indexed_free);
        }
    }
    for (declared, count) in waiting {
        if let Some(family) = Family::from_declared(&declared) {
            *capacity.waiting.entry(family).or_default() += count;
        }
    }
    Ok(capacity)
}

/// Makes sure at least `demand` free indexed slots exist per family, provisioning one page if not.
pub async fn ensure_capacity(
    backend: &Backend,
    demand: &Demand,
    by: &str,
) -> Result<(), backend::Error> {
    if demand.values().all(|n| *n == 0) {
        return Ok(());
    }
    let capacity = capacity(backend).await?;
    let short: Demand = demand
        .iter()
        .filter(|(family, wanted)| capacity.indexed_free(**family) < **wanted)
        .map(|(family, wanted)| (*family, *wanted))
        .collect();
    if !short.is_empty() {
        provision(backend, &short, by).await?;
    }
    Ok(())
}

/// Provisions a page with room for twice `demand`: called after a reservation found every indexed slot of a
/// family taken by concurrent DDL, so that the next attempt does not race for the same few slots.
pub async fn provision_more(
    backend: &Backend,
    demand: &Demand,
    by: &str,
) -> Result<(), backend::Error> {
    let doubled: Demand = demand.iter().map(|(f, n)| (*f, n * 2)).collect();
    provision(backend, &doubled, by).await.map(|_| ())
}

/// Creates the next page with indexes for `demand` and registers its 60 free slots, under the provisioning
/// lock. Returns the page number.
pub async fn provision(
    backend: &Backend,
    demand: &Demand,
    by: &str,
) -> Result<u32, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let lock = backend.lock_name(PROVISION_LOCK);
    let locked: Option<Option<i64>> = conn
        .exec_first("SELECT GET_LOCK(?, ?)", (&lock, LOCK_WAIT_SECS))
        .await?;
    if locked.flatten() != Some(1) {
        return Err(backend::Error::Busy(format!(
            "another instance held the page provisioning lock for {LOCK_WAIT_SECS} seconds; try again"
        )));
    }
    let result = provision_locked(&mut conn, demand, by).await;
    let _ = conn.exec_drop("DO RELEASE_LOCK(?)", (&lock,)).await;
    result
}

async fn provision_locked(
    conn: &mut Conn,
    demand: &Demand,
    by: &str,
) -> Result<u32, backend::Error> {
    let next: Option<u32> = conn
        .query_first("SELECT COALESCE(MAX(id), 0) + 1 FROM stardust_pages")
        .await?;
    let n = next.unwrap_or(1);
    let table = table_name(n);
    // A crash between CREATE TABLE and the registry commit leaves an unregistered, empty page, possibly with
    // other indexes than this demand needs: drop it rather than reuse it. A page with rows is never dropped.
    // Counted rather than selected: a scalar subquery over the empty table is a NULL that the driver would not
    // convert (a panic, found by the crash matrix killing a provisioning mid-way).
    let orphan_rows: Option<u64> = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM `{table}` LIMIT 1) AS page"
        ))
        .await
        .ok()
        .flatten();
    if orphan_rows == Some(0) {
        conn.query_drop(format!("DROP TABLE IF EXISTS `{table}`"))
            .await?;
    }
    let indexed = indexed_columns(demand);
    conn.query_drop(page_ddl(n, &indexed)).await?;

    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    tx.exec_drop(
        "INSERT INTO stardust_pages (id, table_name, provisioned_at, provisioned_by) VALUES (?, ?, UTC_TIMESTAMP(), ?)",
        (n, &table, by),
    )
    .await?;
    let mut rows = Vec::with_capacity(60);
    for family in Family::ALL {
        for i in 1..=family.slots_per_page() {
            let column = family.column(i);
            let is_indexed = indexed.contains(&column);
            rows.push((n, column, family.slot_type(), is_indexed));
        }
    }
    tx.exec_batch(
        "INSERT INTO stardust_slot_assignments (page_id, slot_column, slot_type, status, is_indexed) \
         VALUES (?, ?, ?, 'free', ?)",
        rows,
    )
    .await?;
    super::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(
        event = "page_provisioned",
        page = n,
        indexed = indexed.len(),
        "page provisioned"
    );
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_indexes_what_was_demanded_and_nothing_more() {
        let mut demand = Demand::new();
        demand.insert(Family::Int, 9);
        demand.insert(Family::Str, 2);
        let columns = indexed_columns(&demand);
        assert_eq!(columns.len(), 11);
        assert!(columns.contains(&"i_int_09".to_string()));
        assert!(!columns.contains(&"i_int_10".to_string()));
        assert!(columns.contains(&"i_str_02".to_string()));
        assert!(!columns.contains(&"i_str_03".to_string()));
        assert!(indexed_columns(&Demand::new()).is_empty());
        demand.insert(Family::Dt, 99);
        assert_eq!(
            indexed_columns(&demand)
                .iter()
                .filter(|c| c.starts_with("i_dt_"))
                .count(),
            10
        );
    }

    #[test]
    fn page_ddl_has_sixty_slots_and_prefix_indexes() {
        let ddl = page_ddl(3, &["i_str_01".to_string(), "i_int_02".to_string()]);
        let slots = ddl
            .lines()
            .filter(|l| l.trim_start().starts_with("i_"))
            .count();
        assert_eq!(slots, 60);
        assert!(ddl.contains("KEY ix_entry_slots_page_3_i_str_01 (tenant_id, i_str_01(766))"));
        assert!(ddl.contains("KEY ix_entry_slots_page_3_i_int_02 (tenant_id, i_int_02)"));
        assert!(ddl.contains("ROW_FORMAT=DYNAMIC"));
    }
}
