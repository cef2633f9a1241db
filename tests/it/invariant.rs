//! The page invariant — a slot holds a value only for a live entry of the model whose field owns it — kept by
//! every write path, reported by `verify`, restored by `repair` and at start-up.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use stardust::daemons::liberator::Liberator;
use stardust::daemons::{reconciler, Tick};
use stardust::verify;

use crate::support::Proxy;

/// The page and column of a field's live slot.
async fn slot_of(direct: &mut Conn, field: &str) -> (String, String) {
    direct
        .exec_first(
            "SELECT p.table_name, a.slot_column FROM stardust_slot_assignments a JOIN stardust_pages p ON p.id = a.page_id \
             JOIN stardust_fields f ON f.id = a.live_field_id WHERE f.name = ?",
            (field,),
        )
        .await
        .unwrap()
        .unwrap()
}

async fn violations(proxy: &Proxy) -> u64 {
    verify::verify(&proxy.state.backend, &Default::default())
        .await
        .unwrap()
        .violations
}

/// Page rows whose entry is soft-deleted.
async fn rows_of_deleted(direct: &mut Conn, table: &str) -> u64 {
    direct
        .query_first::<u64, _>(format!(
            "SELECT COUNT(*) FROM `{table}` p JOIN entry_data e ON e.id = p.entry_id WHERE e.deleted_at IS NOT NULL"
        ))
        .await
        .unwrap()
        .unwrap()
}

async fn loaded(proxy: &Proxy) -> Conn {
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(
        "CREATE TABLE model_inv (name VARCHAR(20), qty INT, note JSON, INDEX (name), INDEX (qty))",
    )
    .await
    .unwrap();
    let rows: Vec<String> = (0..300)
        .map(|i| format!("('n{i}', {}, '{{}}')", i % 10))
        .collect();
    acme.query_drop(format!(
        "INSERT INTO model_inv (name, qty, note) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    acme
}

#[tokio::test]
async fn a_soft_delete_clears_the_entries_page_rows_in_its_transaction() {
    let proxy = Proxy::start().await;
    let mut acme = loaded(&proxy).await;
    let mut direct = proxy.direct().await;
    let (table, _) = slot_of(&mut direct, "qty").await;
    // Inside a client transaction that is rolled back, nothing changes.
    acme.query_drop("BEGIN").await.unwrap();
    acme.query_drop("DELETE FROM model_inv WHERE qty = 3")
        .await
        .unwrap();
    acme.query_drop("ROLLBACK").await.unwrap();
    let kept: Option<u64> = direct
        .query_first(format!("SELECT COUNT(*) FROM `{table}`"))
        .await
        .unwrap();
    assert_eq!(kept, Some(300));
    acme.query_drop("DELETE FROM model_inv WHERE qty = 3")
        .await
        .unwrap();
    assert_eq!(acme.affected_rows(), 30);
    assert_eq!(rows_of_deleted(&mut direct, &table).await, 0);
    let left: Option<u64> = direct
        .query_first(format!("SELECT COUNT(*) FROM `{table}`"))
        .await
        .unwrap();
    assert_eq!(left, Some(270), "only the deleted entries' rows went");
    assert_eq!(violations(&proxy).await, 0);
    let counted: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_inv WHERE qty >= 0")
        .await
        .unwrap();
    assert_eq!(counted, Some(270));
}

#[tokio::test]
async fn verify_reports_violations_and_repair_and_start_up_clear_them() {
    let proxy = Proxy::start().await;
    let mut acme = loaded(&proxy).await;
    let mut direct = proxy.direct().await;
    let (table, column) = slot_of(&mut direct, "qty").await;
    // As the code before the invariant left it: soft-deleted entries keep their page rows …
    direct
        .query_drop(format!(
            "UPDATE entry_data e JOIN `{table}` p ON p.entry_id = e.id SET e.deleted_at = UTC_TIMESTAMP() \
             WHERE p.{column} = 4"
        ))
        .await
        .unwrap();
    // … a free slot holds a value, and an entry of another model holds a value in this model's slot.
    let free: String = direct
        .exec_first(
            "SELECT a.slot_column FROM stardust_slot_assignments a JOIN stardust_pages p ON p.id = a.page_id \
             WHERE p.table_name = ? AND a.status = 'free' AND a.slot_type = 'int' ORDER BY a.slot_column LIMIT 1",
            (&table,),
        )
        .await
        .unwrap()
        .unwrap();
    direct
        .query_drop(format!(
            "UPDATE `{table}` SET {free} = 7 ORDER BY entry_id DESC LIMIT 5"
        ))
        .await
        .unwrap();
    acme.query_drop("CREATE TABLE model_other (k INT, INDEX (k))")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_other (k) VALUES (1), (2)")
        .await
        .unwrap();
    let other: Vec<u64> = direct
        .query("SELECT e.id FROM entry_data e JOIN stardust_models m ON m.id = e.model_id WHERE m.name = 'other'")
        .await
        .unwrap();
    direct
        .query_drop(format!(
            "INSERT INTO `{table}` (entry_id, tenant_id, {column}) VALUES ({}, 1, 4) \
             ON DUPLICATE KEY UPDATE {column} = 4",
            other[0]
        ))
        .await
        .unwrap();
    let report = verify::verify(&proxy.state.backend, &Default::default())
        .await
        .unwrap();
    let page = report.pages.iter().find(|p| p.page == table).unwrap();
    assert_eq!(page.deleted, 30, "{report:?}");
    assert_eq!(page.foreign, 5 + 1, "{report:?}");
    assert_eq!(report.violations, 36);
    // Start-up does nothing once the database is marked as keeping the invariant …
    verify::invariant::establish(&proxy.state.backend)
        .await
        .unwrap();
    assert_eq!(violations(&proxy).await, 36);
    // … and brings it to the invariant when it is not (a database from before), twice without harm.
    direct
        .query_drop("UPDATE stardust_schema_version SET page_invariant_at = NULL")
        .await
        .unwrap();
    for _ in 0..2 {
        verify::invariant::establish(&proxy.state.backend)
            .await
            .unwrap();
        assert_eq!(violations(&proxy).await, 0);
    }
    assert_eq!(rows_of_deleted(&mut direct, &table).await, 0);
    // The owner's own values are untouched; repair finds nothing more to do.
    let kept: Option<u64> = direct
        .query_first(format!(
            "SELECT COUNT(*) FROM `{table}` WHERE {column} IS NOT NULL"
        ))
        .await
        .unwrap();
    assert_eq!(kept, Some(270));
    assert_eq!(
        verify::invariant::repair(&proxy.state.backend)
            .await
            .unwrap(),
        0
    );
    crate::support::no_drift(&proxy.state.backend).await;
}

#[tokio::test]
async fn a_sweep_nulls_a_value_written_behind_its_cursor_before_freeing_the_slot() {
    let proxy = Proxy::start().await;
    let mut acme = loaded(&proxy).await;
    let mut direct = proxy.direct().await;
    let (table, column) = slot_of(&mut direct, "qty").await;
    acme.query_drop("ALTER TABLE model_inv DROP COLUMN qty")
        .await
        .unwrap();
    let liberator = Liberator::with_chunk(proxy.state.backend.clone(), 100);
    while liberator.tick().await.unwrap() == Tick::Worked {
        let cursor: Option<Option<u64>> = direct
            .query_first(
                "SELECT sweep_cursor_id FROM stardust_slot_assignments WHERE status = 'tombstoned'",
            )
            .await
            .unwrap();
        // Once the cursor has passed the first rows, a stale writer puts a value behind it.
        if let Some(Some(cursor)) = cursor {
            if cursor > 150 {
                direct
                    .query_drop(format!(
                        "UPDATE `{table}` SET {column} = 99 ORDER BY entry_id LIMIT 1"
                    ))
                    .await
                    .unwrap();
                break;
            }
        }
    }
    while liberator.tick().await.unwrap() == Tick::Worked {}
    let left: Option<u64> = direct
        .query_first(format!(
            "SELECT COUNT(*) FROM `{table}` WHERE {column} IS NOT NULL"
        ))
        .await
        .unwrap();
    assert_eq!(left, Some(0), "the slot is NULL in every row once freed");
    assert_eq!(crate::support::tombstoned(&mut direct).await, Some(0));
}

#[tokio::test]
async fn a_backfill_projects_no_value_of_a_soft_deleted_entry() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_bf (name VARCHAR(20), qty INT)")
        .await
        .unwrap();
    let rows: Vec<String> = (0..200).map(|i| format!("('n{i}', {})", i % 10)).collect();
    acme.query_drop(format!(
        "INSERT INTO model_bf (name, qty) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    acme.query_drop("SET stardust_allow_scan = 1")
        .await
        .unwrap();
    acme.query_drop("DELETE FROM model_bf WHERE qty < 5")
        .await
        .unwrap();
    acme.query_drop("ALTER TABLE model_bf ADD INDEX (qty)")
        .await
        .unwrap();
    let mut direct = proxy.direct().await;
    while reconciler::tick(&proxy.state.backend).await.unwrap() == Tick::Worked {}
    let (table, column) = slot_of(&mut direct, "qty").await;
    let projected: Option<u64> = direct
        .query_first(format!(
            "SELECT COUNT(*) FROM `{table}` WHERE {column} IS NOT NULL"
        ))
        .await
        .unwrap();
    assert_eq!(projected, Some(100), "live entries only");
    assert_eq!(violations(&proxy).await, 0);
    let counted: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_bf WHERE qty < 100")
        .await
        .unwrap();
    assert_eq!(counted, Some(100));
}
