//! Bootstrap creates StarDust's eleven tables, changes nothing on a second run, and enforces one live slot per field.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use stardust::backend::bootstrap::TABLES;
use stardust::backend::Backend;

use crate::support::{backend, code, fresh_database};

async fn schema(conn: &mut Conn) -> Vec<(String, String)> {
    let mut tables = Vec::new();
    for (name, _) in TABLES {
        let row: Option<(String, String)> = conn
            .query_first(format!("SHOW CREATE TABLE `{name}`"))
            .await
            .unwrap();
        let (table, create) = row.unwrap_or_else(|| panic!("{name} exists"));
        // The AUTO_INCREMENT counter moves with rows; the definition is what must not change.
        let create: Vec<&str> = create
            .split(' ')
            .filter(|word| !word.starts_with("AUTO_INCREMENT="))
            .collect();
        tables.push((table, create.join(" ")));
    }
    tables
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_non_destructive() {
    let database = fresh_database().await;
    let url = format!("{}/{database}", backend().root_url);
    let first = Backend::connect(&url, 4).await.unwrap();
    first.bootstrap().await.unwrap();
    let mut conn = first.conn(false).await.unwrap();
    let before = schema(&mut conn).await;
    assert_eq!(before.len(), 11);
    conn.query_drop("INSERT INTO stardust_models (tenant_id, name, created_at) VALUES (1, 'company', UTC_TIMESTAMP())")
        .await
        .unwrap();
    conn.query_drop("UPDATE stardust_schema_version SET version = 7")
        .await
        .unwrap();

    let second = Backend::connect(&url, 4).await.unwrap();
    second.bootstrap().await.unwrap();
    second.bootstrap().await.unwrap();
    assert_eq!(
        schema(&mut conn).await,
        before,
        "a second bootstrap changes no table"
    );
    let models: Vec<String> = conn
        .query("SELECT name FROM stardust_models")
        .await
        .unwrap();
    assert_eq!(models, vec!["company"], "rows survive");
    let version: Option<u64> = conn
        .query_first("SELECT version FROM stardust_schema_version WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        version,
        Some(7),
        "the version singleton is seeded once, never reset"
    );
    let singletons: Option<u64> = conn
        .query_first("SELECT COUNT(*) FROM stardust_schema_version")
        .await
        .unwrap();
    assert_eq!(singletons, Some(1));
}

#[tokio::test]
async fn one_live_slot_per_field_is_enforced_by_the_database() {
    let database = fresh_database().await;
    let url = format!("{}/{database}", backend().root_url);
    let backend = Backend::connect(&url, 4).await.unwrap();
    backend.bootstrap().await.unwrap();
    let mut conn = backend.conn(false).await.unwrap();
    for statement in [
        "INSERT INTO stardust_models (id, tenant_id, name, created_at) VALUES (1, 1, 'm', UTC_TIMESTAMP())",
        "INSERT INTO stardust_fields (id, model_id, name, declared_type, is_filterable, created_at, updated_at) \
         VALUES (10, 1, 'f', 'int', TRUE, UTC_TIMESTAMP(), UTC_TIMESTAMP())",
        "INSERT INTO stardust_pages (id, table_name, provisioned_at, provisioned_by) VALUES (1, 'entry_slots_page_1', UTC_TIMESTAMP(), 'test')",
        "INSERT INTO stardust_slot_assignments (page_id, slot_column, slot_type, field_id, status) VALUES (1, 'i_int_01', 'int', 10, 'ready')",
        "INSERT INTO stardust_slot_assignments (page_id, slot_column, slot_type, field_id, status) VALUES (1, 'i_int_02', 'int', NULL, 'free')",
        "INSERT INTO stardust_slot_assignments (page_id, slot_column, slot_type, field_id, status) VALUES (1, 'i_int_03', 'int', NULL, 'tombstoned')",
    ] {
        conn.query_drop(statement).await.unwrap();
    }
    for status in ["assigned", "backfilling", "ready"] {
        let second_live = conn
            .query_drop(format!("UPDATE stardust_slot_assignments SET field_id = 10, status = '{status}' WHERE slot_column = 'i_int_02'"))
            .await;
        assert_eq!(
            code(second_live),
            1062,
            "a second {status} slot for one field is refused"
        );
    }
    conn.query_drop(
        "UPDATE stardust_slot_assignments SET status = 'tombstoned' WHERE slot_column = 'i_int_01'",
    )
    .await
    .unwrap();
    conn.query_drop("UPDATE stardust_slot_assignments SET field_id = 10, status = 'backfilling' WHERE slot_column = 'i_int_02'")
        .await
        .unwrap();
    assert_eq!(
        code(conn.query_drop("INSERT INTO stardust_slot_assignments (page_id, slot_column, slot_type) VALUES (1, 'i_int_02', 'int')").await),
        1062,
        "one row per page column"
    );
}

#[tokio::test]
async fn bootstrap_upgrades_a_schema_missing_the_portable_live_slot_index() {
    let database = fresh_database().await;
    let url = format!("{}/{database}", backend().root_url);
    let backend = Backend::connect(&url, 4).await.unwrap();
    backend.bootstrap().await.unwrap();
    let mut conn = backend.conn(false).await.unwrap();
    conn.query_drop("ALTER TABLE stardust_slot_assignments DROP INDEX ux_slot_assignments_field_live, DROP COLUMN live_field_id, DROP COLUMN sweep_gap_count")
        .await
        .unwrap();
    backend.bootstrap().await.unwrap();
    let columns: Vec<String> = conn
        .query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'stardust_slot_assignments' AND COLUMN_NAME IN ('live_field_id', 'sweep_gap_count') ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(columns, vec!["live_field_id", "sweep_gap_count"]);
    let index: Option<String> = conn
        .query_first("SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'stardust_slot_assignments' AND INDEX_NAME = 'ux_slot_assignments_field_live'")
        .await
        .unwrap();
    assert!(index.is_some());
}

#[tokio::test]
async fn the_backend_engine_is_detected() {
    let database = fresh_database().await;
    let url = format!("{}/{database}", backend().root_url);
    let backend = Backend::connect(&url, 2).await.unwrap();
    let mut conn = backend.conn(false).await.unwrap();
    let version: String = conn.query_first("SELECT VERSION()").await.unwrap().unwrap();
    assert_eq!(backend.engine().version_string, version);
    assert_eq!(backend.database(), database);
}
