//! The read-only `stardust` schema: operational state queryable with SQL, tenant-scoped for tenant logins.

use mysql_async::prelude::Queryable;

use crate::support::{code, Proxy};

#[tokio::test]
async fn the_system_schema_shows_each_tenant_its_own_state() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    let mut globex = proxy.tenant(2).await;
    acme.query_drop("CREATE TABLE model_company (name VARCHAR(20), n INT, INDEX (name))")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_company (name, n) VALUES ('a', 1), ('b', 2)")
        .await
        .unwrap();
    globex
        .query_drop("CREATE TABLE model_secret (x INT, INDEX (x))")
        .await
        .unwrap();

    let models: Vec<(String, u64, u64)> = acme
        .query("SELECT table_name, fields, entries FROM stardust.models ORDER BY name")
        .await
        .unwrap();
    assert_eq!(models, vec![("model_company".to_string(), 2, 2)]);
    let fields: Vec<(String, Option<String>)> = acme
        .query("SELECT name, slot_status FROM stardust.fields WHERE table_name = 'model_company' ORDER BY ordinal")
        .await
        .unwrap();
    assert_eq!(
        fields,
        vec![
            ("name".to_string(), Some("assigned".to_string())),
            ("n".to_string(), None)
        ]
    );
    let slots: Vec<String> = acme
        .query("SELECT field FROM stardust.slots WHERE status <> 'free'")
        .await
        .unwrap();
    assert_eq!(slots, vec!["name"], "only this tenant's slots");
    let pages: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM stardust.pages")
        .await
        .unwrap();
    assert_eq!(pages, Some(1));
    let mine: Vec<String> = acme
        .query("SELECT user FROM stardust.processlist")
        .await
        .unwrap();
    assert!(
        mine.iter().all(|u| u == "acme") && !mine.is_empty(),
        "{mine:?}"
    );
    let jobs: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM stardust.jobs")
        .await
        .unwrap();
    assert_eq!(jobs, Some(0));
    let dlq: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM stardust.dlq")
        .await
        .unwrap();
    assert_eq!(dlq, Some(0));
    let hidden: Vec<String> = acme
        .query("SELECT table_name FROM stardust.models WHERE tenant_id = 2")
        .await
        .unwrap();
    assert!(hidden.is_empty(), "another tenant's models never show");

    let mut admin = proxy.admin().await;
    let all: Vec<String> = admin
        .query("SELECT table_name FROM stardust.models ORDER BY table_name")
        .await
        .unwrap();
    assert_eq!(
        all,
        vec!["model_company", "model_secret"],
        "admins see every tenant"
    );
    assert_eq!(
        code(acme.query_drop("DELETE FROM stardust.models").await),
        1227,
        "not a tenant's to change"
    );
    assert_eq!(
        code(admin.query_drop("DELETE FROM stardust.models").await),
        1235,
        "read-only for everyone"
    );
}
