//! Tenant logins reach no backend table, however they ask; their session statements still work.

use mysql_async::prelude::Queryable;

use crate::raw::{RawClient, Reply};
use crate::support::{code, server_error, Proxy, TENANT_1};

#[tokio::test]
async fn tenants_are_refused_every_backend_table_with_1142() {
    let proxy = Proxy::start().await;
    let mut admin = proxy.admin().await;
    admin
        .query_drop("CREATE TABLE orders (id INT PRIMARY KEY, secret VARCHAR(20))")
        .await
        .unwrap();
    admin
        .query_drop("INSERT INTO orders VALUES (1, 'hidden')")
        .await
        .unwrap();
    let mut tenant = proxy.tenant(1).await;
    let attempts = [
        "SELECT * FROM entry_data".to_string(),
        "select * from stardust_models".to_string(),
        "SELECT * FROM orders".to_string(),
        format!("SELECT * FROM `{}`.orders", proxy.database),
        "SELECT (SELECT secret FROM orders LIMIT 1)".to_string(),
        "SELECT 1 UNION ALL SELECT id FROM orders".to_string(),
        "SELECT 1 FROM dual WHERE EXISTS (SELECT * FROM orders)".to_string(),
        "WITH o AS (SELECT * FROM orders) SELECT * FROM o".to_string(),
        "SELECT * FROM information_schema.PROCESSLIST".to_string(),
        "SELECT * FROM mysql.user".to_string(),
        "INSERT INTO orders VALUES (2, 'x')".to_string(),
        "UPDATE orders SET secret = 'y'".to_string(),
        "DELETE FROM orders".to_string(),
        "DROP TABLE orders".to_string(),
        "SELECT * FROM /* comment */ orders".to_string(),
        "SELECT 1; SELECT * FROM orders".to_string(),
        "SET autocommit = 1, @y = (SELECT COUNT(*) FROM entry_data)".to_string(),
        "SHOW CREATE TABLE orders".to_string(),
    ];
    for sql in &attempts {
        let error = server_error(tenant.query_drop(sql.as_str()).await);
        assert_eq!(error.code, 1142, "{sql}: {}", error.message);
        assert_eq!(error.state, "42000");
        assert!(
            error.message.contains("tenant"),
            "the message says why: {}",
            error.message
        );
    }
    assert_eq!(
        code(tenant.prep("SELECT * FROM orders WHERE id = ?").await),
        1142,
        "prepared too"
    );
    // sqlparser cannot read SET NAMES followed by more assignments; what it cannot read, a tenant cannot send.
    let smuggled = tenant
        .query_drop("SET NAMES utf8mb4, @x = (SELECT secret FROM orders LIMIT 1)")
        .await;
    assert_eq!(code(smuggled), 1064);
    let mut direct = proxy.direct().await;
    let rows: Vec<(i64, String)> = direct.query("SELECT id, secret FROM orders").await.unwrap();
    assert_eq!(rows, vec![(1, "hidden".to_string())], "nothing was changed");
    assert_eq!(
        tenant.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1),
        "the session survives"
    );
}

#[tokio::test]
async fn tenants_keep_harmless_session_statements() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    assert_eq!(
        tenant.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1)
    );
    tenant.query_drop("SET NAMES utf8mb4").await.unwrap();
    tenant
        .query_drop("SET SESSION sql_mode = 'STRICT_TRANS_TABLES'")
        .await
        .unwrap();
    tenant.query_drop("SET @mine = 42").await.unwrap();
    assert_eq!(
        tenant.query_first::<i64, _>("SELECT @mine").await.unwrap(),
        Some(42)
    );
    tenant.query_drop("BEGIN").await.unwrap();
    tenant.query_drop("COMMIT").await.unwrap();
    tenant.query_drop("START TRANSACTION").await.unwrap();
    tenant.query_drop("ROLLBACK").await.unwrap();
    let prepared = tenant
        .exec_first::<i64, _, _>("SELECT ? + 1", (41,))
        .await
        .unwrap();
    assert_eq!(prepared, Some(42), "table-less prepared statements work");
    let databases: Vec<String> = tenant.query("SHOW DATABASES").await.unwrap();
    assert_eq!(
        databases,
        vec![proxy.database.clone()],
        "a tenant sees only its database"
    );
    let tables: Vec<String> = tenant.query("SHOW TABLES").await.unwrap();
    assert!(
        tables.is_empty(),
        "no backend table is listed to a tenant: {tables:?}"
    );
    tenant
        .query_drop(format!("USE `{}`", proxy.database))
        .await
        .unwrap();
    tenant.query_drop("SET stardust_tenant = 1").await.unwrap();
}

#[tokio::test]
async fn tenants_cannot_escalate() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    assert_eq!(code(tenant.query_drop("USE mysql").await), 1044);
    assert_eq!(
        code(tenant.query_drop("SET GLOBAL max_connections = 5").await),
        1227
    );
    assert_eq!(
        code(
            tenant
                .query_drop("SELECT GET_LOCK('stardust_watcher', 0)")
                .await
        ),
        1227
    );
    assert_eq!(
        code(tenant.query_drop("SELECT LOAD_FILE('/etc/passwd')").await),
        1227
    );
    assert_eq!(
        code(tenant.query_drop("CREATE DATABASE elsewhere").await),
        1227
    );
    assert_eq!(
        code(tenant.query_drop("SET stardust_tenant = 2").await),
        1227
    );
    assert_eq!(code(tenant.query_drop("SELEC 1").await), 1064);
    for show in [
        "SHOW INDEX FROM entry_data",
        "SHOW ENGINE INNODB STATUS",
        "SHOW GRANTS",
    ] {
        assert_eq!(code(tenant.query_drop(show).await), 1227, "{show}");
    }
    let mut direct = proxy.direct().await;
    let max: Option<i64> = direct
        .query_first("SELECT @@GLOBAL.max_connections")
        .await
        .unwrap();
    assert_ne!(max, Some(5));
    let admin_id = proxy.admin().await.id();
    assert_eq!(
        code(tenant.query_drop(format!("KILL {admin_id}")).await),
        1095,
        "not its session"
    );
    assert_eq!(
        tenant.query_first::<i64, _>("SELECT 2").await.unwrap(),
        Some(2)
    );
}

#[tokio::test]
async fn non_utf8_text_is_refused_for_tenants_and_forwarded_for_admins() {
    let proxy = Proxy::start().await;
    let mut tenant = RawClient::login(proxy.address, TENANT_1).await;
    match tenant.query(b"SELECT '\xff\xfe'").await {
        Reply::Err(1300, _) => {}
        other => panic!("tenant non-UTF-8: {other:?}"),
    }
    assert!(
        matches!(tenant.query(b"SELECT 1").await, Reply::Other(_)),
        "the session survives"
    );
    let mut admin = RawClient::login(proxy.address, crate::support::ADMIN).await;
    assert!(
        matches!(
            admin.query(b"SELECT _binary'\xff\xfe'").await,
            Reply::Other(_)
        ),
        "admins' bytes reach the backend"
    );
}

#[tokio::test]
async fn show_warnings_lists_the_proxys_own_refusal() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    let refused = server_error(tenant.query_drop("SELECT * FROM entry_data").await);
    assert_eq!(refused.code, 1142);
    // As a server lists the error of the statement it refused — also after a statement that reads no table.
    for _ in 0..2 {
        let listed: Vec<(String, u16, String)> = tenant.query("SHOW WARNINGS").await.unwrap();
        assert_eq!(
            listed,
            [("Error".to_string(), 1142, refused.message.clone())]
        );
        let count: Option<u64> = tenant.query_first("SHOW COUNT(*) WARNINGS").await.unwrap();
        assert_eq!(count, Some(1));
        tenant.query_drop("SELECT 1").await.unwrap();
    }
    // A statement that reads a table starts a new, empty list.
    tenant
        .query_drop("CREATE TABLE model_w (a INT, INDEX (a))")
        .await
        .unwrap();
    tenant.query_drop("SELECT a FROM model_w").await.unwrap();
    let listed: Vec<(String, u16, String)> = tenant.query("SHOW WARNINGS").await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}
