//! The plan cache: a repeated read of model tables is served from its cached rewrite, never across a catalog
//! change (made by this session or through another instance), and never for a login it was not made for.

use mysql_async::prelude::Queryable;

use crate::support::{code, Proxy};

#[tokio::test]
async fn repeated_reads_are_served_from_the_plan_cache_with_the_same_answers() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop("CREATE TABLE model_p (name VARCHAR(20), qty INT, INDEX (name))")
        .await
        .unwrap();
    tenant
        .query_drop("INSERT INTO model_p (name, qty) VALUES ('a', 1), ('b', 2)")
        .await
        .unwrap();
    let read = "SELECT name, qty FROM model_p WHERE name = 'b'";
    let (hits, _) = proxy.state.plans.counts();
    let mut answers = Vec::new();
    for _ in 0..4 {
        let rows: Vec<(String, i64)> = tenant.query(read).await.unwrap();
        answers.push(rows);
    }
    assert!(
        answers.iter().all(|a| *a == [("b".to_string(), 2)]),
        "{answers:?}"
    );
    let (after, _) = proxy.state.plans.counts();
    assert!(after - hits >= 2, "hits {hits} → {after}");
}

/// The number of columns of `SELECT * FROM model_p`.
async fn width(conn: &mut mysql_async::Conn) -> usize {
    let result = conn.query_iter("SELECT * FROM model_p").await.unwrap();
    let width = result.columns_ref().len();
    result.drop_result().await.unwrap();
    width
}

#[tokio::test]
async fn a_cached_plan_never_outlives_a_catalog_change() {
    let (first, _second, mut here, mut there) = crate::support::two_instances().await;
    here.query_drop("INSERT INTO model_p (name) VALUES ('a')")
        .await
        .unwrap();
    let (hits, _) = first.state.plans.counts();
    for _ in 0..3 {
        assert_eq!(
            width(&mut here).await,
            4,
            "id, name, created_at, updated_at"
        );
    }
    assert!(first.state.plans.counts().0 > hits, "served from the cache");
    // Through another instance: the next read here sees the new column.
    there
        .query_drop("ALTER TABLE model_p ADD COLUMN qty INT")
        .await
        .unwrap();
    assert_eq!(width(&mut here).await, 5);
    assert_eq!(width(&mut here).await, 5);
    // By this session itself: its very next statement sees the change.
    here.query_drop("ALTER TABLE model_p DROP COLUMN qty")
        .await
        .unwrap();
    assert_eq!(width(&mut here).await, 4);
    assert_eq!(code(here.query_drop("SELECT qty FROM model_p").await), 1054);
}

#[tokio::test]
async fn an_administrators_plan_is_never_a_tenants() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop("CREATE TABLE model_p (name VARCHAR(20), INDEX (name))")
        .await
        .unwrap();
    tenant
        .query_drop("INSERT INTO model_p (name) VALUES ('a')")
        .await
        .unwrap();
    let mut admin = proxy.admin().await;
    admin
        .query_drop("CREATE TABLE secrets (name VARCHAR(20), secret VARCHAR(20))")
        .await
        .unwrap();
    admin
        .query_drop("INSERT INTO secrets VALUES ('a', 'hidden')")
        .await
        .unwrap();
    admin.query_drop("SET stardust_tenant = 1").await.unwrap();
    let join = "SELECT s.secret FROM model_p m JOIN secrets s ON s.name = m.name";
    for _ in 0..3 {
        let secrets: Vec<String> = admin.query(join).await.unwrap();
        assert_eq!(secrets, ["hidden"]);
    }
    assert_eq!(code(tenant.query_drop(join).await), 1142);
}

/// A prepared read of a model table is rewritten and prepared again when this instance changes the model, as
/// MySQL re-prepares a statement whose table changed: a renamed column answers under its new name, and a
/// dropped one is an unknown column.
#[tokio::test]
async fn a_prepared_read_is_prepared_again_after_a_model_change() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    let mut other = proxy.tenant(1).await;
    tenant
        .query_drop(
            "CREATE TABLE model_q (name VARCHAR(20), qty INT, note VARCHAR(10), INDEX (name))",
        )
        .await
        .unwrap();
    tenant
        .query_drop("INSERT INTO model_q (name, qty, note) VALUES ('a', 1, 'x'), ('b', 2, 'y')")
        .await
        .unwrap();
    let statement = tenant
        .prep("SELECT * FROM model_q WHERE name = ?")
        .await
        .unwrap();
    let before: Vec<mysql_async::Row> = tenant.exec(&statement, ("b",)).await.unwrap();
    assert_eq!(
        before[0].columns_ref().len(),
        6,
        "id, name, qty, note and the timestamps"
    );
    other
        .query_drop("ALTER TABLE model_q DROP COLUMN note")
        .await
        .unwrap();
    let after: Vec<mysql_async::Row> = tenant.exec(&statement, ("b",)).await.unwrap();
    let names: Vec<String> = after[0]
        .columns_ref()
        .iter()
        .map(|c| c.name_str().to_string())
        .collect();
    assert_eq!(names, ["id", "name", "qty", "created_at", "updated_at"]);
    let narrow = tenant
        .prep("SELECT qty FROM model_q WHERE name = ?")
        .await
        .unwrap();
    let qty: Option<i64> = tenant.exec_first(&narrow, ("a",)).await.unwrap();
    assert_eq!(qty, Some(1));
    other
        .query_drop("ALTER TABLE model_q DROP COLUMN qty")
        .await
        .unwrap();
    let gone = tenant
        .exec_first::<Option<i64>, _, _>(&narrow, ("a",))
        .await;
    assert_eq!(
        code(gone),
        1054,
        "a dropped column is unknown, as after MySQL re-prepares"
    );
}
