//! The daemons' ticks against a real backend: backfills make promoted and retyped fields filterable; sweeps
//! clear and free the slots of dropped fields; the Liberator runs on one instance at a time.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use stardust::daemons::liberator::{self, Liberator};
use stardust::daemons::{reconciler, Tick};

use crate::support::{code, direct, fresh_database, texts, Proxy};

async fn until_idle<F, Fut>(mut tick: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Tick, stardust::backend::Error>>,
{
    for n in 0..10_000 {
        if tick().await.unwrap() == Tick::Idle {
            return n;
        }
    }
    panic!("the daemon never went idle");
}

async fn pages(conn: &mut Conn) -> Option<u64> {
    conn.query_first("SELECT COUNT(*) FROM stardust_pages")
        .await
        .unwrap()
}

async fn status_of(conn: &mut Conn, field: &str) -> Option<String> {
    conn.exec_first(
        "SELECT a.status FROM stardust_slot_assignments a JOIN stardust_fields f ON f.id = a.live_field_id \
         WHERE f.name = ?",
        (field,),
    )
    .await
    .unwrap()
}

/// `model_p (name, qty, price)` through the proxy as tenant 1 and a native twin, both loaded with the same
/// `entries` rows; with `indexed`, `qty` is indexed in both.
async fn loaded_twins(proxy: &Proxy, entries: u64, indexed: bool) -> (Conn, Conn) {
    let index = if indexed { ", INDEX (qty)" } else { "" };
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(format!(
        "CREATE TABLE model_p (name VARCHAR(20), qty INT, price DECIMAL(8,2){index})"
    ))
    .await
    .unwrap();
    let native_db = fresh_database().await;
    let mut native = direct(Some(&native_db)).await;
    native
        .query_drop(format!("CREATE TABLE model_p (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), qty INT, price DECIMAL(8,2){index})"))
        .await
        .unwrap();
    let rows: Vec<String> = (0..entries)
        .map(|i| format!("('n{i}', {}, {}.{:02})", i % 97, i % 50, i % 100))
        .collect();
    let insert = format!(
        "INSERT INTO model_p (name, qty, price) VALUES {}",
        rows.join(", ")
    );
    acme.query_drop(&insert).await.unwrap();
    native.query_drop(&insert).await.unwrap();
    (acme, native)
}

#[tokio::test]
async fn a_promoted_field_is_backfilled_and_then_filters_like_a_native_index() {
    let proxy = Proxy::start().await;
    let (mut acme, mut native) = loaded_twins(&proxy, 2500, false).await;

    acme.query_drop("ALTER TABLE model_p ADD INDEX (qty)")
        .await
        .unwrap();
    let mut registry = proxy.direct().await;
    assert_eq!(
        status_of(&mut registry, "qty").await.as_deref(),
        Some("backfilling")
    );
    let refused = crate::support::server_error(
        acme.query_drop("SELECT name FROM model_p WHERE qty = 5")
            .await,
    );
    assert!(
        refused.message.contains("still being indexed")
            && refused.message.contains("slot_status 'ready'")
            && !refused.message.contains("ADD INDEX"),
        "{}",
        refused.message
    );

    let backend = proxy.state.backend.clone();
    let chunks = until_idle(|| reconciler::tick(&backend)).await;
    assert_eq!(
        chunks as u64,
        2500u64.div_ceil(reconciler::CHUNK) + 1,
        "2500 entries take their chunks and a final tick"
    );
    assert_eq!(
        status_of(&mut registry, "qty").await.as_deref(),
        Some("ready")
    );

    let sql =
        "SELECT name, qty, price FROM model_p WHERE qty BETWEEN 5 AND 7 OR qty = 90 ORDER BY name";
    assert_eq!(
        texts(acme.query(sql).await.unwrap()),
        texts(native.query(sql).await.unwrap())
    );
    // A retype across families: backfilled again, from the JSON, into a string slot.
    acme.query_drop("ALTER TABLE model_p MODIFY COLUMN qty VARCHAR(10)")
        .await
        .unwrap();
    native
        .query_drop("ALTER TABLE model_p MODIFY COLUMN qty VARCHAR(10)")
        .await
        .unwrap();
    until_idle(|| reconciler::tick(&backend)).await;
    let sql = "SELECT name FROM model_p WHERE qty = '42' ORDER BY name";
    assert_eq!(
        texts(acme.query(sql).await.unwrap()),
        texts(native.query(sql).await.unwrap())
    );
    crate::support::no_drift(&backend).await;
}

#[tokio::test]
async fn a_dropped_fields_slot_is_swept_and_freed_by_one_liberator() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_l (code VARCHAR(10), n INT, INDEX (n))")
        .await
        .unwrap();
    let rows: Vec<String> = (0..2300).map(|i| format!("('c{i}', {i})")).collect();
    acme.query_drop(format!(
        "INSERT INTO model_l (code, n) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    let mut registry = proxy.direct().await;
    let (table, column): (String, String) = registry
        .query_first(
            "SELECT p.table_name, a.slot_column FROM stardust_slot_assignments a \
             JOIN stardust_pages p ON p.id = a.page_id JOIN stardust_fields f ON f.id = a.live_field_id WHERE f.name = 'n'",
        )
        .await
        .unwrap()
        .unwrap();
    acme.query_drop("ALTER TABLE model_l DROP COLUMN n")
        .await
        .unwrap();
    let tombstoned: Option<u64> = crate::support::tombstoned(&mut registry).await;
    assert_eq!(tombstoned, Some(1));

    let backend = proxy.state.backend.clone();
    let first = Liberator::new(backend.clone());
    let second = Liberator::new(backend.clone());
    assert_eq!(
        first.tick().await.unwrap(),
        Tick::Worked,
        "the first takes the lock and sweeps"
    );
    assert_eq!(
        second.tick().await.unwrap(),
        Tick::Idle,
        "the second finds the lock taken"
    );
    until_idle(|| first.tick()).await;
    let left: Option<u64> = registry
        .query_first(format!(
            "SELECT COUNT(*) FROM `{table}` WHERE {column} IS NOT NULL"
        ))
        .await
        .unwrap();
    assert_eq!(left, Some(0), "no old value survives in the slot");
    let states: Vec<(String, Option<i64>)> = registry
        .query(format!(
            "SELECT status, sweep_cursor_id FROM stardust_slot_assignments a JOIN stardust_pages p ON p.id = a.page_id \
             WHERE p.table_name = '{table}' AND a.slot_column = '{column}'"
        ))
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![("free".to_string(), None)],
        "freed with a clean cursor"
    );
    // The freed slot is reused by the next field that needs one, empty.
    acme.query_drop("ALTER TABLE model_l ADD COLUMN m INT, ADD INDEX (m)")
        .await
        .unwrap();
    let none: Vec<String> = acme
        .query("SELECT code FROM model_l WHERE m IS NOT NULL")
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(code(acme.query_drop("SELECT n FROM model_l").await), 1054);
    let _ = liberator::LOCK;
}

#[tokio::test]
async fn the_watcher_keeps_capacity_ahead_of_demand_on_one_instance() {
    let proxy = Proxy::start().await;
    let backend = proxy.state.backend.clone();
    let mut registry = proxy.direct().await;
    assert_eq!(pages(&mut registry).await, Some(0));
    let watcher = stardust::daemons::watcher::Watcher::new(backend.clone());
    let other = stardust::daemons::watcher::Watcher::new(backend.clone());
    assert_eq!(
        watcher.tick().await.unwrap(),
        Tick::Worked,
        "no capacity: a page is provisioned"
    );
    assert_eq!(
        other.tick().await.unwrap(),
        Tick::Idle,
        "the other instance does not hold the lock"
    );
    assert_eq!(
        watcher.tick().await.unwrap(),
        Tick::Idle,
        "the free ratio is above the threshold"
    );
    assert_eq!(pages(&mut registry).await, Some(1));
}

#[tokio::test]
async fn a_backfill_resumes_from_its_checkpoint_after_a_restart() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_r (n INT)")
        .await
        .unwrap();
    let rows: Vec<String> = (0..3500).map(|i| format!("({i})")).collect();
    acme.query_drop(format!(
        "INSERT INTO model_r (n) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    acme.query_drop("ALTER TABLE model_r ADD INDEX (n)")
        .await
        .unwrap();
    let url = proxy.backend_url();
    // One chunk, then the "process" goes away; a new one picks up at the checkpoint.
    let first = stardust::backend::Backend::connect(&url, 2).await.unwrap();
    assert_eq!(reconciler::tick(&first).await.unwrap(), Tick::Worked);
    first.close().await;
    let mut registry = proxy.direct().await;
    let cursor: Option<u64> = registry
        .query_first("SELECT last_processed_id FROM backfill_checkpoints WHERE status = 'running'")
        .await
        .unwrap();
    assert!(
        cursor.unwrap_or(0) > 0,
        "the first chunk's progress is durable"
    );
    let second = stardust::backend::Backend::connect(&url, 2).await.unwrap();
    let chunks = until_idle(|| reconciler::tick(&second)).await;
    assert_eq!(
        chunks as u64,
        (3500 - reconciler::CHUNK).div_ceil(reconciler::CHUNK) + 1,
        "the remaining chunks and the final tick, none repeated"
    );
    let found: Vec<i64> = acme
        .query("SELECT n FROM model_r WHERE n BETWEEN 998 AND 1002 ORDER BY n")
        .await
        .unwrap();
    assert_eq!(found, vec![998, 999, 1000, 1001, 1002]);
    crate::support::no_drift(&second).await;
}

#[tokio::test]
async fn a_sweep_resumes_on_another_instance_after_the_first_goes_away() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_s (n INT, INDEX (n))")
        .await
        .unwrap();
    let rows: Vec<String> = (0..2600).map(|i| format!("({i})")).collect();
    acme.query_drop(format!(
        "INSERT INTO model_s (n) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    acme.query_drop("ALTER TABLE model_s DROP INDEX n")
        .await
        .unwrap();
    let url = proxy.backend_url();
    let first_backend = stardust::backend::Backend::connect(&url, 2).await.unwrap();
    let first = Liberator::new(first_backend.clone());
    assert_eq!(first.tick().await.unwrap(), Tick::Worked);
    let second_backend = stardust::backend::Backend::connect(&url, 2).await.unwrap();
    let second = Liberator::new(second_backend.clone());
    assert_eq!(
        second.tick().await.unwrap(),
        Tick::Idle,
        "the first still holds the lock"
    );
    drop(first);
    first_backend.close().await;
    // The server frees a vanished connection's named lock once it notices the disconnect.
    let lock = second_backend.lock_name(liberator::LOCK);
    let mut registry = proxy.direct().await;
    for _ in 0..6000 {
        let free: Option<Option<i64>> = registry
            .exec_first("SELECT IS_FREE_LOCK(?)", (&lock,))
            .await
            .unwrap();
        if free.flatten() == Some(1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let chunks = until_idle(|| second.tick()).await;
    assert_eq!(
        chunks as u64,
        (2600 - liberator::CHUNK).div_ceil(liberator::CHUNK) + 1,
        "the chunks left after the cursor, then the release"
    );
    let tombstoned: Option<u64> = crate::support::tombstoned(&mut registry).await;
    assert_eq!(tombstoned, Some(0));
}

#[tokio::test]
async fn a_model_with_more_indexed_fields_than_a_page_holds_is_fully_filterable() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    let columns: Vec<String> = (0..40).map(|i| format!("c{i} INT, INDEX (c{i})")).collect();
    acme.query_drop(format!("CREATE TABLE model_wide ({})", columns.join(", ")))
        .await
        .unwrap();
    let names: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    let rows: Vec<String> = (0..50)
        .map(|r| {
            format!(
                "({})",
                (0..40)
                    .map(|c| ((r * 7 + c) % 13).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    acme.query_drop(format!(
        "INSERT INTO model_wide ({}) VALUES {}",
        names.join(", "),
        rows.join(", ")
    ))
    .await
    .unwrap();
    let mut registry = proxy.direct().await;
    let pages: Option<u64> = registry
        .query_first(
            "SELECT COUNT(DISTINCT a.page_id) FROM stardust_slot_assignments a JOIN stardust_fields f \
             ON f.id = a.live_field_id",
        )
        .await
        .unwrap();
    assert!(
        pages.unwrap_or(0) >= 3,
        "40 INT slots span at least three pages of 15: {pages:?}"
    );
    for c in [0, 17, 39] {
        let expected = (0..50).filter(|r| (r * 7 + c) % 13 == 5).count() as u64;
        let found: Option<u64> = acme
            .query_first(format!("SELECT COUNT(*) FROM model_wide WHERE c{c} = 5"))
            .await
            .unwrap();
        assert_eq!(found, Some(expected), "c{c}");
    }
    let backend = proxy.state.backend.clone();
    crate::support::no_drift(&backend).await;
}

/// The writes of [`write_during`] while `qty` exists: inserts, updates of `qty` and `price`, deletes.
fn qty_write(i: u64, target: u64) -> String {
    match i % 4 {
        0 => format!(
            "INSERT INTO model_p (name, qty, price) VALUES ('w{i}', {}, 1.50)",
            i % 97
        ),
        1 => format!("UPDATE model_p SET qty = qty + 1, price = price * 2 WHERE id = {target}"),
        2 => format!("DELETE FROM model_p WHERE id = {}", target + 7),
        _ => format!("UPDATE model_p SET qty = NULL WHERE id = {target}"),
    }
}

/// Runs 240 writes (`write(i, target)`) against both the model table and its native twin, reading each touched
/// row's `columns` back from both after every write, while `tick` works. Each tick waits for five more writes, so
/// writes land between chunks, ahead of and behind the cursor, whatever the speed of either side. Returns how
/// many ticks worked.
async fn write_during<F, Fut>(
    mut tick: F,
    acme: &mut Conn,
    native: &mut Conn,
    start: u64,
    write: fn(u64, u64) -> String,
    columns: &str,
) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Tick, stardust::backend::Error>>,
{
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let done = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let daemon = async {
        let mut worked = 0;
        loop {
            while writes.load(Ordering::SeqCst) < 5 * worked && !done.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            match tick().await.unwrap() {
                Tick::Worked => worked += 1,
                _ if done.load(Ordering::SeqCst) => return worked,
                _ => tokio::task::yield_now().await,
            }
        }
    };
    let writer = async {
        for i in start..start + 240 {
            let target = (i * 37) % 3000 + 1;
            let sql = write(i, target);
            let ours = acme.query_drop(&sql).await.map(|_| acme.affected_rows());
            let theirs = native
                .query_drop(&sql)
                .await
                .map(|_| native.affected_rows());
            assert_eq!(ours.unwrap(), theirs.unwrap(), "{sql}");
            let read = format!("SELECT {columns} FROM model_p WHERE id = {target}");
            assert_eq!(
                texts(acme.query(&read).await.unwrap()),
                texts(native.query(&read).await.unwrap()),
                "{read} after {sql}"
            );
            writes.fetch_add(1, Ordering::SeqCst);
        }
        done.store(true, Ordering::SeqCst);
    };
    tokio::join!(daemon, writer).0
}

#[tokio::test]
async fn promotion_and_retype_complete_under_concurrent_writes_and_match_a_native_table() {
    let proxy = Proxy::start().await;
    let (mut acme, mut native) = loaded_twins(&proxy, 3000, false).await;

    // Promotion under load.
    acme.query_drop("ALTER TABLE model_p ADD INDEX (qty)")
        .await
        .unwrap();
    native
        .query_drop("ALTER TABLE model_p ADD INDEX (qty)")
        .await
        .unwrap();
    let backend = proxy.state.backend.clone();
    let worked = write_during(
        || reconciler::tick(&backend),
        &mut acme,
        &mut native,
        0,
        qty_write,
        "name, qty, price",
    )
    .await;
    assert!(
        worked > 3000 / reconciler::CHUNK,
        "every chunk and the promotion ran between the writes: {worked}"
    );
    let mut registry = proxy.direct().await;
    promoted_and_matching(
        &mut registry,
        "qty",
        &mut acme,
        &mut native,
        &[
            "SELECT id, name, qty, price FROM model_p WHERE qty BETWEEN 5 AND 9 ORDER BY id",
            "SELECT id, name FROM model_p WHERE qty IS NULL ORDER BY id",
            "SELECT qty, COUNT(*) FROM model_p WHERE qty > 90 GROUP BY qty ORDER BY qty",
            "SELECT COUNT(*), SUM(price) FROM model_p",
        ],
    )
    .await;

    // A retype across families under load: the string slot is backfilled from the JSON.
    acme.query_drop("ALTER TABLE model_p MODIFY COLUMN qty VARCHAR(10)")
        .await
        .unwrap();
    native
        .query_drop("ALTER TABLE model_p MODIFY COLUMN qty VARCHAR(10)")
        .await
        .unwrap();
    let backend = proxy.state.backend.clone();
    let worked = write_during(
        || reconciler::tick(&backend),
        &mut acme,
        &mut native,
        1000,
        qty_write,
        "name, qty, price",
    )
    .await;
    assert!(
        worked > 3000 / reconciler::CHUNK,
        "every chunk and the promotion ran between the writes: {worked}"
    );
    promoted_and_matching(
        &mut registry,
        "qty",
        &mut acme,
        &mut native,
        &[
            "SELECT id, name, qty FROM model_p WHERE qty = '42' OR qty = '7' ORDER BY id",
            "SELECT id FROM model_p WHERE qty IS NULL ORDER BY id",
            "SELECT id, qty, price FROM model_p ORDER BY id",
        ],
    )
    .await;
    crate::support::no_drift(&proxy.state.backend).await;
}

#[tokio::test]
async fn a_dropped_column_is_swept_under_concurrent_writes_and_its_slot_reused_empty() {
    let proxy = Proxy::start().await;
    let (mut acme, mut native) = loaded_twins(&proxy, 3000, true).await;

    acme.query_drop("ALTER TABLE model_p DROP COLUMN qty")
        .await
        .unwrap();
    native
        .query_drop("ALTER TABLE model_p DROP COLUMN qty")
        .await
        .unwrap();
    fn without_qty(i: u64, target: u64) -> String {
        match i % 4 {
            0 => format!("INSERT INTO model_p (name, price) VALUES ('w{i}', 1.50)"),
            1 => format!("UPDATE model_p SET name = CONCAT(name, 'x'), price = price * 2 WHERE id = {target}"),
            2 => format!("DELETE FROM model_p WHERE id = {}", target + 7),
            _ => format!("UPDATE model_p SET price = NULL WHERE id = {target}"),
        }
    }
    let liberator = Liberator::new(proxy.state.backend.clone());
    let worked = write_during(
        || liberator.tick(),
        &mut acme,
        &mut native,
        0,
        without_qty,
        "id, name, price",
    )
    .await;
    assert!(
        worked > 3000 / liberator::CHUNK,
        "every chunk and the release ran between the writes: {worked}"
    );
    let mut registry = proxy.direct().await;
    let tombstoned: Option<u64> = crate::support::tombstoned(&mut registry).await;
    assert_eq!(tombstoned, Some(0));

    // A new indexed INT column takes a free slot (perhaps the swept one) and starts empty, like the native one.
    acme.query_drop("ALTER TABLE model_p ADD COLUMN qty INT, ADD INDEX (qty)")
        .await
        .unwrap();
    native
        .query_drop("ALTER TABLE model_p ADD COLUMN qty INT, ADD INDEX (qty)")
        .await
        .unwrap();
    crate::support::same_answers(
        &mut acme,
        &mut native,
        &[
            "SELECT COUNT(*) FROM model_p WHERE qty IS NOT NULL",
            "SELECT id, name, qty, price FROM model_p ORDER BY id",
            "SELECT COUNT(*), SUM(price) FROM model_p WHERE qty IS NULL",
        ],
    )
    .await;
    crate::support::no_drift(&proxy.state.backend).await;
}

#[tokio::test]
async fn deployments_in_different_databases_keep_their_own_singletons() {
    use stardust::daemons::Singleton;
    let (a, b) = (Proxy::start().await, Proxy::start().await);
    let ours = Singleton::new(a.state.backend.clone(), liberator::LOCK);
    let theirs = Singleton::new(b.state.backend.clone(), liberator::LOCK);
    assert!(ours.hold().await.unwrap());
    assert!(
        theirs.hold().await.unwrap(),
        "another database's Liberator is not ours"
    );
    let second = Singleton::new(a.state.backend.clone(), liberator::LOCK);
    assert!(!second.hold().await.unwrap(), "one per database");
}

/// A value the new slot type cannot hold (a date that does not exist) does not stall a retype: that entry gets
/// NULL in the slot — as the coercion matrix says, JSON untouched — and every other entry its value.
#[tokio::test]
async fn a_retype_with_values_the_slot_cannot_hold_completes_with_nulls() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_v (code VARCHAR(10), note VARCHAR(30), INDEX (note))")
        .await
        .unwrap();
    acme.query_drop(
        "INSERT INTO model_v (code, note) VALUES ('good', '2024-01-05 10:00:00'), ('bad', '2024-02-30 00:00:00'), \
         ('word', 'hello'), ('none', NULL)",
    )
    .await
    .unwrap();
    acme.query_drop("ALTER TABLE model_v MODIFY COLUMN note DATETIME")
        .await
        .unwrap();
    let backend = proxy.state.backend.clone();
    until_idle(|| reconciler::tick(&backend)).await;
    let mut registry = proxy.direct().await;
    assert_eq!(
        status_of(&mut registry, "note").await.as_deref(),
        Some("ready")
    );
    let found: Vec<String> = acme
        .query("SELECT code FROM model_v WHERE note = '2024-01-05 10:00:00'")
        .await
        .unwrap();
    assert_eq!(found, ["good"]);
    let nulls: Vec<String> = acme
        .query("SELECT code FROM model_v WHERE note IS NULL ORDER BY code")
        .await
        .unwrap();
    assert_eq!(nulls, ["bad", "none", "word"]);
    let kept: Option<String> = registry
        .query_first("SELECT JSON_UNQUOTE(JSON_EXTRACT(e.fields, CONCAT('$.\"', f.id, '\"'))) FROM entry_data e \
                      JOIN stardust_fields f ON f.model_id = e.model_id AND f.name = 'note' \
                      WHERE JSON_EXTRACT(e.fields, CONCAT('$.\"', f.id, '\"')) LIKE '%02-30%'")
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("2024-02-30 00:00:00"),
        "the JSON keeps the value"
    );
    crate::support::no_drift(&backend).await;
}

/// Queued entries that cannot be projected go to the dead-letter queue instead of blocking the queue; once
/// fixed, `CALL stardust.replay_dlq(id)` queues them again and the drain projects them.
#[tokio::test]
async fn poison_entries_go_to_the_dlq_and_replay_after_a_fix() {
    use stardust::daemons::sync_queue;
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_q (code VARCHAR(10), seen DATETIME, INDEX (seen))")
        .await
        .unwrap();
    let mut direct = proxy.direct().await;
    crate::support::take_live_slots(&mut direct).await;
    acme.query_drop(
        "INSERT INTO model_q (code, seen) VALUES ('ok', '2024-01-01 00:00:00'), ('poison', '2024-01-02 00:00:00'), \
         ('gone', '2024-01-03 00:00:00')",
    )
    .await
    .unwrap();
    // Corrupt one payload behind the proxy's back, and remove another entry outright.
    let path = "CONCAT('$.\"', (SELECT id FROM stardust_fields WHERE name = 'seen'), '\"')";
    direct
        .query_drop(format!(
            "UPDATE entry_data SET fields = JSON_SET(fields, {path}, '2024-02-30 00:00:00') \
             WHERE JSON_UNQUOTE(JSON_EXTRACT(fields, {path})) = '2024-01-02 00:00:00'"
        ))
        .await
        .unwrap();
    direct
        .query_drop(format!(
            "DELETE FROM entry_data WHERE JSON_UNQUOTE(JSON_EXTRACT(fields, {path})) = '2024-01-03 00:00:00'"
        ))
        .await
        .unwrap();

    let backend = proxy.state.backend.clone();
    // The Watcher provisions a page indexed for the waiting field before the Reconciler can project it.
    stardust::daemons::watcher::Watcher::new(backend.clone())
        .tick()
        .await
        .unwrap();
    until_idle(|| sync_queue::tick(&backend)).await;
    let queued: Option<u64> = direct
        .query_first("SELECT COUNT(*) FROM stardust_sync_queue")
        .await
        .unwrap();
    assert_eq!(queued, Some(0), "nothing is left blocking the queue");
    let all: Vec<(String, u64)> = direct
        .query("SELECT reason, tenant_id FROM stardust_reconciler_dlq ORDER BY reason")
        .await
        .unwrap();
    assert_eq!(
        all,
        [
            ("missing_entry_data".to_string(), 0),
            ("schema_incompatibility".to_string(), 1)
        ],
        "a vanished entry's tenant is unknown (0)"
    );
    let letters: Vec<(i64, String)> = acme
        .query("SELECT id, reason FROM stardust.dlq")
        .await
        .unwrap();
    assert_eq!(
        letters.len(),
        1,
        "the tenant sees its own dead letter: {letters:?}"
    );
    let found: Vec<String> = acme
        .query("SELECT code FROM model_q WHERE seen = '2024-01-01 00:00:00'")
        .await
        .unwrap();
    assert_eq!(found, ["ok"], "the healthy entry was projected");

    let poison = letters[0].0;
    let mut globex = proxy.tenant(2).await;
    assert_eq!(
        code(
            globex
                .query_drop(format!("CALL stardust.replay_dlq({poison})"))
                .await
        ),
        1210,
        "another tenant's dead letter is not theirs to replay"
    );
    assert_eq!(
        code(acme.query_drop("CALL stardust.replay_dlq(999999)").await),
        1210
    );
    direct
        .query_drop(format!(
            "UPDATE entry_data SET fields = JSON_SET(fields, {path}, '2024-02-28 00:00:00') \
             WHERE JSON_UNQUOTE(JSON_EXTRACT(fields, {path})) = '2024-02-30 00:00:00'"
        ))
        .await
        .unwrap();
    acme.query_drop(format!("CALL stardust.replay_dlq({poison})"))
        .await
        .unwrap();
    assert_eq!(acme.affected_rows(), 1);
    until_idle(|| sync_queue::tick(&backend)).await;
    let found: Vec<String> = acme
        .query("SELECT code FROM model_q WHERE seen = '2024-02-28 00:00:00'")
        .await
        .unwrap();
    assert_eq!(found, ["poison"], "replayed and projected");
    let left: Vec<String> = direct
        .query("SELECT reason FROM stardust_reconciler_dlq")
        .await
        .unwrap();
    assert_eq!(left, ["missing_entry_data"]);

    // The operator's way: `stardust dlq replay --reason …` re-queues the rest; a second run finds nothing.
    let replay = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_stardust"))
            .args([
                "dlq",
                "replay",
                "--reason",
                "missing_entry_data",
                "--backend-url",
            ])
            .arg(proxy.backend_url())
            .output()
            .unwrap()
    };
    let first = replay();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("requeued_entries"),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    let queued: Option<u64> = direct
        .query_first("SELECT COUNT(*) FROM stardust_sync_queue")
        .await
        .unwrap();
    assert_eq!(queued, Some(1));
    let second = replay();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("no dead letter matched"));
}

/// Asserts that `field`'s slot is `ready` and that each statement answers as on the native twin.
async fn promoted_and_matching(
    registry: &mut Conn,
    field: &str,
    acme: &mut Conn,
    native: &mut Conn,
    statements: &[&str],
) {
    assert_eq!(status_of(registry, field).await.as_deref(), Some("ready"));
    crate::support::same_answers(acme, native, statements).await;
}

/// Starts `stardust serve` on the proxy's backend with NDJSON logs at debug level; returns the process and its
/// log lines.
fn serve(
    proxy: &Proxy,
    dir: &std::path::Path,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) {
    use tokio::io::AsyncBufReadExt;
    let path = dir.join("stardust.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend_url = \"{}\"\n\n[[users]]\nname = \"ops\"\npassword = \"pw\"\nadmin = true\n",
            proxy.backend_url()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("STARDUST_LOG_FORMAT", "json")
        .env("STARDUST_LOG", "stardust=debug,info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    (child, lines)
}

/// Runs `stardust serve` until it logs an event satisfying `wanted`, then kills it (SIGKILL) and waits for it.
async fn serve_until_killed(
    proxy: &Proxy,
    dir: &std::path::Path,
    wanted: impl Fn(&serde_json::Value) -> bool,
) {
    let (mut process, mut lines) = serve(proxy, dir);
    until_event(&mut lines, wanted).await;
    process.start_kill().unwrap();
    process.wait().await.unwrap();
}

/// Reads log lines until one whose `event` satisfies `wanted`; panics if the process ends first.
async fn until_event(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    wanted: impl Fn(&serde_json::Value) -> bool,
) {
    // A bound on a hang, not a synchronisation: the loop ends at the event or when the process exits.
    let bound = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while let Some(line) = tokio::time::timeout_at(bound, lines.next_line())
        .await
        .expect("the event did not come within two minutes")
        .unwrap()
    {
        if serde_json::from_str(&line).is_ok_and(|event| wanted(&event)) {
            return;
        }
    }
    panic!("stardust serve exited before the event");
}

/// The whole process killed (SIGKILL) in the middle of a backfill: the chunk in flight rolls back with the
/// process's connections, and a new process resumes from the checkpoint and completes, nothing lost.
#[tokio::test]
async fn a_backfill_completes_after_the_serving_process_is_killed_mid_way() {
    let proxy = Proxy::start().await;
    let (mut acme, mut native) = loaded_twins(&proxy, 20_000, false).await;
    acme.query_drop("ALTER TABLE model_p ADD INDEX (qty)")
        .await
        .unwrap();
    native
        .query_drop("ALTER TABLE model_p ADD INDEX (qty)")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    serve_until_killed(&proxy, dir.path(), |e| {
        e["event"] == "chunk_complete" && e["queue"] == "retype_backfill"
    })
    .await;

    let mut registry = proxy.direct().await;
    let cursor: Option<u64> = registry
        .query_first(
            "SELECT MAX(last_processed_id) FROM backfill_checkpoints WHERE status = 'running'",
        )
        .await
        .unwrap();
    let last: Option<u64> = registry
        .query_first("SELECT MAX(id) FROM entry_data")
        .await
        .unwrap();
    assert!(
        cursor.is_some_and(|c| c > 0 && Some(c) < last),
        "killed mid-way: checkpoint {cursor:?} of {last:?}"
    );
    assert_eq!(
        status_of(&mut registry, "qty").await.as_deref(),
        Some("backfilling")
    );

    serve_until_killed(&proxy, dir.path(), |e| e["event"] == "promote_to_ready").await;
    promoted_and_matching(
        &mut registry,
        "qty",
        &mut acme,
        &mut native,
        &[
            "SELECT name, qty, price FROM model_p WHERE qty BETWEEN 10 AND 12 ORDER BY name",
            "SELECT qty, COUNT(*) FROM model_p WHERE qty > 90 GROUP BY qty ORDER BY qty",
        ],
    )
    .await;
    crate::support::no_drift(&proxy.state.backend).await;
}

/// The same for a sweep: killed after its first chunk, finished by the next process, the slot freed empty.
#[tokio::test]
async fn a_sweep_completes_after_the_serving_process_is_killed_mid_way() {
    let proxy = Proxy::start().await;
    let (mut acme, _native) = loaded_twins(&proxy, 20_000, true).await;
    acme.query_drop("ALTER TABLE model_p DROP COLUMN qty")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    serve_until_killed(&proxy, dir.path(), |e| e["event"] == "sweep_chunk").await;

    let mut registry = proxy.direct().await;
    let (slot, column, cursor): (i64, String, Option<u64>) = registry
        .query_first("SELECT id, slot_column, sweep_cursor_id FROM stardust_slot_assignments WHERE status = 'tombstoned'")
        .await
        .unwrap()
        .expect("still tombstoned after the kill");
    assert!(cursor.is_some_and(|c| c > 0), "swept part-way: {cursor:?}");
    let left = format!("SELECT COUNT(*) FROM entry_slots_page_1 WHERE {column} IS NOT NULL");
    let remaining: Option<u64> = registry.query_first(&left).await.unwrap();
    assert!(
        remaining.is_some_and(|n| n > 0 && n < 20_000),
        "{remaining:?}"
    );

    serve_until_killed(&proxy, dir.path(), |e| e["event"] == "sweep_complete").await;
    let status: Option<String> = registry
        .exec_first(
            "SELECT status FROM stardust_slot_assignments WHERE id = ?",
            (slot,),
        )
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("free"));
    let remaining: Option<u64> = registry.query_first(&left).await.unwrap();
    assert_eq!(remaining, Some(0), "every old value is gone");
}

/// The advisories read the data and the registry and say which indexes barely narrow a search and which
/// models sit on more pages than their fields need.
#[tokio::test]
async fn advisories_flag_low_cardinality_indexes_and_count_a_models_pages() {
    use stardust::daemons::advisories;
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(
        "CREATE TABLE model_a (flag INT, code VARCHAR(20), INDEX (flag), INDEX (code))",
    )
    .await
    .unwrap();
    let rows: Vec<String> = (0..200).map(|i| format!("({}, 'c{i}')", i % 2)).collect();
    acme.query_drop(format!(
        "INSERT INTO model_a (flag, code) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    let mut registry = proxy.direct().await;
    let field =
        |name: &'static str| format!("SELECT id FROM stardust_fields WHERE name = '{name}'");
    let flag: Option<i64> = registry.query_first(field("flag")).await.unwrap();
    let code: Option<i64> = registry.query_first(field("code")).await.unwrap();
    let backend = proxy.state.backend.clone();
    let samples = advisories::cardinality(&backend, None, "periodic")
        .await
        .unwrap();
    let of = |id: Option<i64>| {
        samples
            .iter()
            .find(|s| Some(s.field_id) == id)
            .unwrap()
            .clone()
    };
    let (flag, code) = (of(flag), of(code));
    assert_eq!((flag.rows, flag.distinct), (200, 2));
    assert_eq!(flag.violated, ["distinct_floor"]);
    assert_eq!((code.rows, code.distinct), (200, 200));
    assert!(code.violated.is_empty(), "{code:?}");

    let columns: Vec<String> = (1..=20)
        .map(|i| format!("n{i} INT, INDEX (n{i})"))
        .collect();
    acme.query_drop(format!("CREATE TABLE model_wide ({})", columns.join(", ")))
        .await
        .unwrap();
    let spreads = advisories::spread(&backend, None, "on_demand")
        .await
        .unwrap();
    let small = spreads.iter().find(|s| s.live_slots == 2).expect("model_a");
    assert_eq!(
        (
            small.pages_occupied,
            small.theoretical_min_pages,
            small.excess_pages
        ),
        (1, 1, 0)
    );
    assert!(!small.high);
    let wide = spreads
        .iter()
        .find(|s| s.live_slots == 20)
        .expect("model_wide");
    let occupied: Option<u64> = registry
        .exec_first(
            "SELECT COUNT(DISTINCT a.page_id) FROM stardust_slot_assignments a \
             JOIN stardust_fields f ON f.id = a.live_field_id WHERE f.model_id = ?",
            (wide.model_id,),
        )
        .await
        .unwrap();
    assert_eq!(wide.theoretical_min_pages, 2, "20 int slots, 15 a page");
    assert_eq!(Some(wide.pages_occupied), occupied);
    assert_eq!(wide.excess_pages, wide.pages_occupied - 2);
    assert_eq!(wide.high, wide.excess_pages >= 2);
}

/// Reconcilers on several instances work disjointly: a slot another worker has claimed (its row locked by
/// that worker's chunk transaction) is skipped, and this one takes the next.
#[tokio::test]
async fn a_reconciler_skips_the_slot_another_worker_holds() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_w (a INT, b INT)")
        .await
        .unwrap();
    let rows: Vec<String> = (0..1200).map(|i| format!("({i}, {})", i % 7)).collect();
    acme.query_drop(format!(
        "INSERT INTO model_w (a, b) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    acme.query_drop("ALTER TABLE model_w ADD INDEX (a), ADD INDEX (b)")
        .await
        .unwrap();
    // Another worker in the middle of a chunk: it claimed a slot exactly as a Reconciler does.
    let mut other = proxy.direct().await;
    other.query_drop("START TRANSACTION").await.unwrap();
    let held: Option<i64> = other.query_first(reconciler::CLAIM).await.unwrap();
    let held = held.expect("two slots are backfilling");
    let backend = proxy.state.backend.clone();
    assert_eq!(reconciler::tick(&backend).await.unwrap(), Tick::Worked);
    let mut registry = proxy.direct().await;
    let jobs: Vec<String> = registry
        .query("SELECT job_name FROM backfill_checkpoints")
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(
        !jobs[0].starts_with(&format!("backfill_slot_{held}_")),
        "the held slot was skipped: {jobs:?}"
    );
    other.query_drop("ROLLBACK").await.unwrap();
    until_idle(|| reconciler::tick(&backend)).await;
    let ready: Option<u64> = registry
        .query_first("SELECT COUNT(*) FROM stardust_slot_assignments WHERE status = 'ready'")
        .await
        .unwrap();
    assert_eq!(ready, Some(2));
    crate::support::no_drift(&backend).await;
}
