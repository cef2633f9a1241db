//! The page invariant: a slot column holds a non-NULL value only for a live entry of the model whose field owns
//! the slot (and in that entry's tenant). Checked page by page (`verify`), restored in chunks (`repair`, and once
//! at start-up for a database written before the invariant was kept), so a page's `(tenant_id, slot)` index can
//! answer a filter without looking at `entry_data`.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts};
use serde::Serialize;

use crate::backend::{self, Backend};

/// Page rows per repair chunk, each chunk one transaction.
pub const CHUNK: u64 = 5000;

/// Values found where the invariant says NULL, per page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PageReport {
    pub page: String,
    /// Page rows whose entry is soft-deleted and which still hold a value.
    pub deleted: u64,
    /// Page rows of live entries with a value in a slot their model and tenant do not own (or in a free slot).
    pub foreign: u64,
}

/// Who may hold a value in a slot column.
enum Owner {
    /// A live slot (`assigned`, `backfilling`, `ready`) of a field of this model and tenant.
    Model { model: i64, tenant: u64 },
    /// A free slot: nobody.
    Nobody,
}

/// The page's slot columns and their owners, read from the registry (locked with `FOR UPDATE` when `lock`, so
/// no slot changes hands while a chunk is repaired). Tombstoned slots are the Liberator's: left out.
async fn owners(
    conn: &mut impl Queryable,
    page: i64,
    lock: bool,
) -> Result<Vec<(String, Owner)>, backend::Error> {
    let rows: Vec<(String, String, Option<i64>, Option<u64>)> = conn
        .exec(
            format!(
                "SELECT a.slot_column, a.status, f.model_id, m.tenant_id FROM stardust_slot_assignments a \
                 LEFT JOIN stardust_fields f ON f.id = a.live_field_id \
                 LEFT JOIN stardust_models m ON m.id = f.model_id \
                 WHERE a.page_id = ? ORDER BY a.slot_column{}",
                if lock { " FOR UPDATE" } else { "" }
            ),
            (page,),
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(column, status, model, tenant)| match (status.as_str(), model, tenant) {
                ("free", _, _) => Some((column, Owner::Nobody)),
                ("tombstoned", _, _) => None,
                (_, Some(model), Some(tenant)) => Some((column, Owner::Model { model, tenant })),
                _ => Some((column, Owner::Nobody)),
            },
        )
        .filter(|(column, _)| valid_column(column))
        .collect())
}

/// Slot names come from the registry; only `i_<family>_<nn>` is ever spliced into SQL.
fn valid_column(column: &str) -> bool {
    column.starts_with("i_")
        && column
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether the row (page `p`, its entry `e` left-joined) may hold a value in the column: never NULL itself.
fn owned(owner: &Owner) -> String {
    match owner {
        Owner::Model { model, tenant } => format!(
            "(e.id IS NOT NULL AND e.deleted_at IS NULL AND e.model_id = {model} AND e.tenant_id = {tenant} \
             AND p.tenant_id = {tenant})"
        ),
        Owner::Nobody => "FALSE".to_string(),
    }
}

async fn pages(conn: &mut Conn) -> Result<Vec<(i64, String)>, backend::Error> {
    let pages: Vec<(i64, String)> = conn
        .query("SELECT id, table_name FROM stardust_pages ORDER BY id")
        .await?;
    Ok(pages
        .into_iter()
        .filter(|(_, table)| valid_column_table(table))
        .collect())
}

fn valid_column_table(table: &str) -> bool {
    table.starts_with("entry_slots_page_")
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Counts the violations on every page. Read-only.
pub async fn check(backend: &Backend) -> Result<Vec<PageReport>, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let mut reports = Vec::new();
    for (page, table) in pages(&mut conn).await? {
        let owners = owners(&mut conn, page, false).await?;
        let any_value = any_value(&owners);
        let foreign = owners
            .iter()
            .map(|(column, owner)| format!("(p.{column} IS NOT NULL AND NOT {})", owned(owner)))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!(
            "SELECT COALESCE(SUM(e.deleted_at IS NOT NULL AND ({any_value})), 0), \
             COALESCE(SUM(e.deleted_at IS NULL AND ({})), 0) FROM `{table}` p LEFT JOIN entry_data e ON e.id = p.entry_id",
            if foreign.is_empty() { "FALSE".to_string() } else { foreign }
        );
        let counts: Option<(u64, u64)> = conn.query_first(sql).await?;
        let (deleted, foreign) = counts.unwrap_or_default();
        reports.push(PageReport {
            page: table,
            deleted,
            foreign,
        });
    }
    Ok(reports)
}

/// Whether a page row holds any value in the checked columns.
fn any_value(owners: &[(String, Owner)]) -> String {
    if owners.is_empty() {
        return "FALSE".to_string();
    }
    owners
        .iter()
        .map(|(column, _)| format!("p.{column} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Restores the invariant on every page, chunk by chunk (each its own transaction, so it can run beside
/// writers and be stopped and run again): deletes the page rows of soft-deleted entries, nulls every value a
/// row's entry does not own. Returns the page rows changed.
pub async fn repair(backend: &Backend) -> Result<u64, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let mut changed = 0;
    for (page, table) in pages(&mut conn).await? {
        let mut cursor = 0u64;
        loop {
            let last: Option<Option<u64>> = conn
                .exec_first(
                    format!(
                        "SELECT MAX(entry_id) FROM (SELECT entry_id FROM `{table}` WHERE entry_id > ? \
                         ORDER BY entry_id LIMIT {CHUNK}) AS chunk"
                    ),
                    (cursor,),
                )
                .await?;
            let Some(Some(last)) = last else {
                break;
            };
            changed += repair_chunk(&mut conn, page, &table, cursor, last).await?;
            cursor = last;
        }
    }
    Ok(changed)
}

async fn repair_chunk(
    conn: &mut Conn,
    page: i64,
    table: &str,
    from: u64,
    to: u64,
) -> Result<u64, backend::Error> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let owners = owners(&mut tx, page, true).await?;
    tx.exec_drop(
        format!(
            "DELETE p FROM `{table}` p JOIN entry_data e ON e.id = p.entry_id \
             WHERE p.entry_id > ? AND p.entry_id <= ? AND e.deleted_at IS NOT NULL"
        ),
        (from, to),
    )
    .await?;
    let mut changed = tx.affected_rows();
    if !owners.is_empty() {
        let sets: Vec<String> = owners
            .iter()
            .map(|(column, owner)| format!("p.{column} = IF({}, p.{column}, NULL)", owned(owner)))
            .collect();
        let wrong: Vec<String> = owners
            .iter()
            .map(|(column, owner)| format!("(p.{column} IS NOT NULL AND NOT {})", owned(owner)))
            .collect();
        tx.exec_drop(
            format!(
                "UPDATE `{table}` p LEFT JOIN entry_data e ON e.id = p.entry_id SET {} \
                 WHERE p.entry_id > ? AND p.entry_id <= ? AND ({})",
                sets.join(", "),
                wrong.join(" OR ")
            ),
            (from, to),
        )
        .await?;
        changed += tx.affected_rows();
    }
    tx.commit().await?;
    Ok(changed)
}

/// Brings a database written before the invariant was kept to it, once: skipped when the registry says it was
/// done (`stardust_schema_version.page_invariant_at`). Idempotent; if interrupted, the next start does it again.
pub async fn establish(backend: &Backend) -> Result<(), backend::Error> {
    let mut conn = backend.conn(false).await?;
    let done: Option<Option<String>> = conn
        .query_first("SELECT DATE_FORMAT(page_invariant_at, '%Y-%m-%d') FROM stardust_schema_version WHERE id = 1")
        .await?;
    if let Some(Some(_)) = done {
        return Ok(());
    }
    let changed = repair(backend).await?;
    conn.query_drop(
        "UPDATE stardust_schema_version SET page_invariant_at = UTC_TIMESTAMP() WHERE id = 1",
    )
    .await?;
    // Not one of StarDust's events (it had no page invariant): a plain message.
    tracing::info!(rows = changed, "page rows brought to the page invariant");
    Ok(())
}
