//! Backend round trips per client statement, counted in the backend's general log: a model INSERT sends the
//! registry version check, its entry, its page rows and its commit in one multi-statement batch.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::support::{direct, Proxy};

/// The round trips the backend received on `client`'s session while `work` ran: the general log's entries
/// between two marker statements, on the thread that logged the first marker.
async fn round_trips<F>(client: &mut Conn, work: F) -> u64
where
    F: for<'c> FnOnce(
        &'c mut Conn,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'c>>,
{
    let _log = crate::support::GENERAL_LOG.lock().await;
    let mut backend = direct(None).await;
    backend
        .query_drop("SET GLOBAL log_output = 'TABLE', GLOBAL general_log = 1")
        .await
        .unwrap();
    let marker = uuid::Uuid::new_v4().simple().to_string();
    client
        .query_drop(format!("SELECT 'before-{marker}'"))
        .await
        .unwrap();
    work(client).await;
    client
        .query_drop(format!("SELECT 'after-{marker}'"))
        .await
        .unwrap();
    let count: Option<u64> = backend
        .exec_first(
            "SELECT COUNT(*) FROM mysql.general_log AS g \
             JOIN mysql.general_log AS b ON b.argument = CONCAT('SELECT ''before-', ?, '''') \
             JOIN mysql.general_log AS a ON a.argument = CONCAT('SELECT ''after-', ?, '''') \
             WHERE g.thread_id = b.thread_id AND g.command_type = 'Query' \
             AND g.event_time BETWEEN b.event_time AND a.event_time \
             AND g.argument NOT LIKE CONCAT('%', ?, '%')",
            (&marker, &marker, &marker),
        )
        .await
        .unwrap();
    count.unwrap()
}

#[tokio::test]
async fn model_writes_cost_one_batch_per_step() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop(
            "CREATE TABLE model_trip (name VARCHAR(20), qty INT, score DOUBLE, INDEX (name), INDEX (qty))",
        )
        .await
        .unwrap();
    // The first write loads the new catalog; the counts below are the steady state.
    tenant
        .query_drop("INSERT INTO model_trip (name, qty) VALUES ('one', 1)")
        .await
        .unwrap();

    let single = round_trips(&mut tenant, |c| {
        Box::pin(async move {
            c.query_drop("INSERT INTO model_trip (name, qty) VALUES ('one', 1)")
                .await
                .unwrap();
        })
    })
    .await;
    assert_eq!(
        single, 1,
        "an autocommit single-row INSERT: one batch, the version check in it"
    );

    let many = round_trips(&mut tenant, |c| {
        Box::pin(async move {
            c.query_drop(
                "INSERT INTO model_trip (name, qty) VALUES ('a', 1), ('b', 2), ('c', NULL)",
            )
            .await
            .unwrap();
        })
    })
    .await;
    assert_eq!(many, 1, "a multi-row INSERT of literals: one batch");

    // The session's first UPDATE also makes its shadow table.
    tenant
        .query_drop("UPDATE model_trip SET qty = qty WHERE name = 'b'")
        .await
        .unwrap();
    let update = round_trips(&mut tenant, |c| {
        Box::pin(async move {
            c.query_drop("UPDATE model_trip SET qty = qty + 10 WHERE name = 'b'")
                .await
                .unwrap();
        })
    })
    .await;
    assert_eq!(
        update, 2,
        "an UPDATE: lock and assign, then the backend writes entries and pages from the shadow, with the commit"
    );
    // A DOUBLE prints rounded to its precision, so its payload is built from the printed text in the proxy.
    let printed = round_trips(&mut tenant, |c| {
        Box::pin(async move {
            c.query_drop("UPDATE model_trip SET score = 0.1 + 0.2 WHERE name = 'b'")
                .await
                .unwrap();
        })
    })
    .await;
    assert_eq!(
        printed, 3,
        "an UPDATE of a DOUBLE: lock and assign, read the shadow back, write entries and pages with the commit"
    );
    let delete = round_trips(&mut tenant, |c| {
        Box::pin(async move {
            c.query_drop("DELETE FROM model_trip WHERE name = 'c'")
                .await
                .unwrap();
        })
    })
    .await;
    assert_eq!(delete, 2, "a DELETE: lock, then delete with the commit");

    tenant.query_drop("BEGIN").await.unwrap();
    let inside = round_trips(&mut tenant, |c| {
        Box::pin(async move {
            c.query_drop("INSERT INTO model_trip (name, qty) VALUES ('t', 7)")
                .await
                .unwrap();
        })
    })
    .await;
    tenant.query_drop("ROLLBACK").await.unwrap();
    assert!(
        inside == 1,
        "inside a transaction: one batch under a savepoint (the version is read on another connection), got {inside}"
    );

    // The batch wrote what a native table would hold, and the rolled-back row is gone.
    let rows: Vec<(u64, Option<String>, Option<i64>)> = tenant
        .query("SELECT id, name, qty FROM model_trip ORDER BY id")
        .await
        .unwrap();
    let names: Vec<Option<String>> = rows.iter().map(|r| r.1.clone()).collect();
    assert_eq!(
        names,
        ["one", "one", "a", "b"]
            .map(|n| Some(n.to_string()))
            .to_vec()
    );
    let by_qty: Vec<u64> = tenant
        .query("SELECT id FROM model_trip WHERE qty >= 1 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        by_qty,
        vec![rows[0].0, rows[1].0, rows[2].0, rows[3].0],
        "page rows carry the generated ids"
    );
    let updated: Vec<String> = tenant
        .query("SELECT name FROM model_trip WHERE qty = 12")
        .await
        .unwrap();
    assert_eq!(updated, ["b"], "the UPDATE's slot was written");
    let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    crate::support::no_drift(&proxy.state.backend).await;
}

/// A write planned on a cached catalog that another instance has since changed is planned again on the fresh
/// one before anything is written: a dropped field's freed slot gets no value, and a new field takes its value.
#[tokio::test]
async fn a_write_planned_on_a_moved_catalog_is_planned_again() {
    let (first, _second, mut here, mut there) = crate::support::two_instances().await;
    here.query_drop("ALTER TABLE model_p ADD COLUMN qty INT, ADD INDEX (qty)")
        .await
        .unwrap();
    here.query_drop("INSERT INTO model_p (name, qty) VALUES ('a', 1)")
        .await
        .unwrap();
    // `here`'s instance has the catalog cached; `there` drops the indexed field, then adds another.
    there
        .query_drop("ALTER TABLE model_p DROP COLUMN qty")
        .await
        .unwrap();
    here.query_drop("INSERT INTO model_p (name) VALUES ('b')")
        .await
        .unwrap();
    there
        .query_drop("ALTER TABLE model_p ADD COLUMN size INT, ADD INDEX (size)")
        .await
        .unwrap();
    here.query_drop("INSERT INTO model_p (name, size) VALUES ('c', 3)")
        .await
        .unwrap();
    here.query_drop("UPDATE model_p SET size = 4 WHERE name = 'a'")
        .await
        .unwrap();
    let rows: Vec<(String, Option<i64>)> = there
        .query("SELECT name, size FROM model_p ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("a".to_string(), Some(4)),
            ("b".to_string(), None),
            ("c".to_string(), Some(3))
        ]
    );
    let by_size: Vec<String> = there
        .query("SELECT name FROM model_p WHERE size > 2 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(by_size, ["a", "c"]);
    crate::support::no_drift(&first.state.backend).await;
}
