//! COM_CHANGE_USER and COM_RESET_CONNECTION as connection pools use them: a fresh session each time, on the same
//! connection, for the same or another user, and only the new user's tenant visible afterwards.

use mysql_async::prelude::Queryable;
use mysql_async::{ChangeUserOpts, Conn};

use crate::raw::{RawClient, Reply};
use crate::support::{code, server_error, Proxy, ADMIN, TENANT_1, TENANT_2};

fn as_user((user, password): (&str, &str)) -> ChangeUserOpts {
    ChangeUserOpts::default()
        .with_user(Some(user.to_string()))
        .with_pass(Some(password.to_string()))
}

async fn tables(conn: &mut Conn) -> Vec<String> {
    conn.query("SHOW TABLES").await.unwrap()
}

/// Tenant 1 and tenant 2 each with a model of their own and one row in it.
async fn two_tenants(proxy: &Proxy) {
    for (tenant, model) in [(1, "model_one"), (2, "model_two")] {
        let mut conn = proxy.tenant(tenant).await;
        conn.query_drop(format!(
            "CREATE TABLE {model} (tag VARCHAR(20), INDEX (tag))"
        ))
        .await
        .unwrap();
        conn.query_drop(format!("INSERT INTO {model} (tag) VALUES ('{model}')"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn change_user_switches_tenant_and_starts_a_fresh_session() {
    let proxy = Proxy::start().await;
    two_tenants(&proxy).await;
    let mut conn = proxy.tenant(1).await;
    assert_eq!(tables(&mut conn).await, ["model_one"]);
    conn.query_drop("SET @kept = 'tenant one'").await.unwrap();
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("INSERT INTO model_one (tag) VALUES ('uncommitted')")
        .await
        .unwrap();
    let thread: Option<u32> = conn.query_first("SELECT CONNECTION_ID()").await.unwrap();

    conn.change_user(as_user(TENANT_2)).await.unwrap();

    assert_eq!(
        tables(&mut conn).await,
        ["model_two"],
        "only the new tenant's models"
    );
    assert_eq!(code(conn.query_drop("SELECT * FROM model_one").await), 1146);
    let tags: Vec<String> = conn.query("SELECT tag FROM model_two").await.unwrap();
    assert_eq!(tags, ["model_two"]);
    let kept: Option<Option<String>> = conn.query_first("SELECT @kept").await.unwrap();
    assert_eq!(kept, Some(None), "user variables do not survive");
    assert_eq!(
        conn.query_first::<u32, _>("SELECT CONNECTION_ID()")
            .await
            .unwrap(),
        thread,
        "the same connection"
    );
    // The open transaction was rolled back with the old session.
    let mut one = proxy.tenant(1).await;
    let count: Option<i64> = one
        .query_first("SELECT COUNT(*) FROM model_one")
        .await
        .unwrap();
    assert_eq!(count, Some(1));
    // A tenant reaches no backend table, whoever the connection belonged to before.
    let mut admin = proxy.admin().await;
    admin.change_user(as_user(TENANT_2)).await.unwrap();
    assert_eq!(
        code(admin.query_drop("SELECT * FROM entry_data").await),
        1142
    );
    assert_eq!(tables(&mut admin).await, ["model_two"]);
}

#[tokio::test]
async fn change_user_to_an_admin_forgets_the_tenant_and_honours_the_database() {
    let proxy = Proxy::start().await;
    two_tenants(&proxy).await;
    let mut conn = proxy.admin().await;
    conn.query_drop("SET stardust_tenant = 1").await.unwrap();
    conn.query_drop("SELECT * FROM model_one").await.unwrap();
    conn.query_drop("CREATE TEMPORARY TABLE scratch (n INT)")
        .await
        .unwrap();

    conn.change_user(as_user(ADMIN).with_db_name(Some("mysql".to_string())))
        .await
        .unwrap();
    let database: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(database.as_deref(), Some("mysql"));
    conn.query_drop(format!("USE {}", proxy.database))
        .await
        .unwrap();
    let error = server_error(conn.query_drop("SELECT * FROM model_one").await);
    assert!(
        error.message.contains("stardust_tenant"),
        "{}",
        error.message
    );
    assert_eq!(code(conn.query_drop("SELECT * FROM scratch").await), 1146);

    // A tenant may not name another database: refused, and the session stays as it was.
    let mut tenant = proxy.tenant(1).await;
    let refused = tenant
        .change_user(as_user(TENANT_2).with_db_name(Some("mysql".to_string())))
        .await;
    assert_eq!(code(refused), 1044);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_session_goes_on_as_before() {
    let proxy = Proxy::start().await;
    two_tenants(&proxy).await;
    let mut raw = RawClient::login(proxy.address, TENANT_1).await;
    raw.query(b"SET @kept = 7").await;
    let mut change = vec![0x11];
    change.extend_from_slice(b"bob\0");
    change.push(20);
    change.extend_from_slice(&[0x41; 20]);
    change.extend_from_slice(b"\0");
    change.extend_from_slice(&45u16.to_le_bytes());
    change.extend_from_slice(b"mysql_native_password\0");
    raw.command(&change).await;
    match raw.reply().await {
        Reply::Err(1045, message) => assert!(message.contains("'bob'"), "{message}"),
        other => panic!("expected 1045, got {other:?}"),
    }
    // Still tenant 1, with its session.
    assert_eq!(
        raw.query(b"SELECT * FROM model_one").await,
        Reply::Other(vec![4])
    );
    assert!(matches!(
        raw.query(b"SELECT * FROM model_two").await,
        Reply::Err(1146, _)
    ));
    raw.command(&[0x11, b'x', 0]).await;
    assert!(
        matches!(raw.reply().await, Reply::Err(1210, _)),
        "a truncated request"
    );
}

#[tokio::test]
async fn change_user_with_an_unknown_plugin_is_switched_to_native_password() {
    let proxy = Proxy::start().await;
    two_tenants(&proxy).await;
    let mut raw = RawClient::login(proxy.address, ADMIN).await;
    let mut change = vec![0x11];
    change.extend_from_slice(b"acme\0");
    change.push(4);
    change.extend_from_slice(b"junk");
    change.extend_from_slice(b"\0");
    change.extend_from_slice(&45u16.to_le_bytes());
    change.extend_from_slice(b"client_ed25519\0");
    raw.command(&change).await;
    let switch = raw.read().await.expect("an auth switch request");
    assert_eq!(switch[0], 0xFE);
    assert_eq!(&switch[1..23], b"mysql_native_password\0");
    let salt = &switch[23..43];
    let (user, password) = TENANT_1;
    assert_eq!(user, "acme");
    let answer = mysql_common::scramble::scramble_native(salt, password.as_bytes()).unwrap();
    raw.write(2, &answer).await;
    assert_eq!(raw.reply().await, Reply::Ok);
    assert_eq!(
        raw.query(b"SELECT * FROM model_one").await,
        Reply::Other(vec![4])
    );
    assert!(matches!(
        raw.query(b"SELECT * FROM entry_data").await,
        Reply::Err(1142, _)
    ));
}

#[tokio::test]
async fn reset_connection_clears_the_session_but_keeps_user_and_database() {
    let proxy = Proxy::start().await;
    two_tenants(&proxy).await;
    let mut conn = proxy.admin().await;
    conn.query_drop("SET stardust_tenant = 2").await.unwrap();
    conn.query_drop("SET @kept = 1").await.unwrap();
    conn.query_drop("CREATE TEMPORARY TABLE scratch (n INT)")
        .await
        .unwrap();
    let statement = conn.prep("SELECT tag FROM model_two").await.unwrap();
    conn.query_drop("USE mysql").await.unwrap();

    assert!(
        conn.reset().await.unwrap(),
        "COM_RESET_CONNECTION is supported"
    );

    let database: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(database.as_deref(), Some("mysql"), "the database stays");
    let kept: Option<Option<i64>> = conn.query_first("SELECT @kept").await.unwrap();
    assert_eq!(kept, Some(None));
    assert_eq!(code(conn.query_drop("SELECT * FROM scratch").await), 1146);
    assert_eq!(code(conn.exec_drop(&statement, ()).await), 1243);
    conn.query_drop(format!("USE {}", proxy.database))
        .await
        .unwrap();
    let error = server_error(conn.query_drop("SELECT * FROM model_two").await);
    assert!(
        error.message.contains("stardust_tenant"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_pool_resets_and_changes_users_with_mysql_connector_python() {
    let proxy = Proxy::start().await;
    two_tenants(&proxy).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/change_user.py");
    // mysql-connector-python's C extension does not load on this machine (mysql.connector.HAVE_CEXT is false), so
    // the pure-Python protocol is what runs.
    let output = tokio::process::Command::new("python3")
        .args([
            script,
            "connector-pure",
            "127.0.0.1",
            &proxy.address.port().to_string(),
            &proxy.database,
        ])
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = r#"{"first": ["model_one"], "changed": ["model_two"], "rows": ["model_two"], "refused": 1146, "wrong_password": 1045, "after_reset": null, "pooled": ["model_one"]}"#;
    assert_eq!(stdout.trim(), expected);
}
