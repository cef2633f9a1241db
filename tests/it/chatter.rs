//! What drivers send on their own: it works for every login, and answers as the backend would.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use crate::raw::{RawClient, Reply};
use crate::support::{code, Proxy, ADMIN, TENANT_1};

#[tokio::test]
async fn connect_time_statements_work_for_every_login() {
    let proxy = Proxy::start().await;
    let mut direct = proxy.direct().await;
    let expected_comment: Option<String> = direct
        .query_first("SELECT @@version_comment LIMIT 1")
        .await
        .unwrap();
    for login in [ADMIN, TENANT_1] {
        let mut conn = proxy.connect(login).await;
        let comment: Option<String> = conn
            .query_first("select @@version_comment limit 1")
            .await
            .unwrap();
        assert_eq!(comment, expected_comment, "{login:?}");
        conn.query_drop("SET NAMES utf8mb4").await.unwrap();
        conn.query_drop("SET character_set_results = NULL")
            .await
            .unwrap();
        conn.query_drop("SET autocommit = 0").await.unwrap();
        let autocommit: Option<i64> = conn.query_first("SELECT @@autocommit").await.unwrap();
        assert_eq!(autocommit, Some(0), "SET reaches the backend session");
        conn.query_drop("SET autocommit=1").await.unwrap();
        let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(db.as_deref(), Some(proxy.database.as_str()));
        let rows: Vec<(String, String)> = conn
            .query("SHOW VARIABLES LIKE 'max_allowed_packet'")
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, "max_allowed_packet");
        let rows: Vec<(String, String)> = conn
            .query("SHOW SESSION VARIABLES LIKE 'sql_mode'")
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        conn.ping().await.unwrap();
        conn.query_drop("SELECT 1/0").await.unwrap();
        let warnings: Vec<(String, u32, String)> = conn.query("SHOW WARNINGS").await.unwrap();
        assert_eq!(
            warnings.len(),
            1,
            "SHOW WARNINGS sees the same backend session"
        );
        assert_eq!(warnings[0].1, 1365);
        conn.query_drop("USE `".to_string() + &proxy.database + "`")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn connect_with_database_and_init_db() {
    let proxy = Proxy::start().await;
    let opts = OptsBuilder::from_opts(proxy.opts(ADMIN)).db_name(Some(proxy.database.clone()));
    let mut conn = Conn::new(opts).await.unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some(proxy.database.as_str()));
    conn.query_drop("USE information_schema").await.unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(
        db.as_deref(),
        Some("information_schema"),
        "admins may use any database"
    );

    let missing = OptsBuilder::from_opts(proxy.opts(ADMIN)).db_name(Some("no_such_db_here"));
    assert_eq!(
        code(Conn::new(missing).await),
        1049,
        "the backend's unknown-database error"
    );

    let mut raw = RawClient::login(proxy.address, TENANT_1).await;
    let mut init_db = vec![0x02];
    init_db.extend_from_slice(proxy.database.as_bytes());
    raw.command(&init_db).await;
    assert_eq!(
        raw.reply().await,
        Reply::Ok,
        "COM_INIT_DB of the home database"
    );
    raw.command(b"\x02mysql").await;
    match raw.reply().await {
        Reply::Err(1044, message) => assert!(message.contains("acme"), "{message}"),
        other => panic!("tenant COM_INIT_DB elsewhere: {other:?}"),
    }
    raw.command(b"\x0e").await;
    assert_eq!(
        raw.reply().await,
        Reply::Ok,
        "COM_PING; the session survived the refusal"
    );
}
