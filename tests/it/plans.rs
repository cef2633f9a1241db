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
