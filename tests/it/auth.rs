//! Logging in: native password, wrong passwords and unknown users, connection ids.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::raw::{connection_id_of, RawClient};
use crate::support::{code, server_error, Proxy, ADMIN, TENANT_1};

#[tokio::test]
async fn admin_and_tenant_logins_work() {
    let proxy = Proxy::start().await;
    for login in [ADMIN, TENANT_1] {
        let mut conn = proxy.connect(login).await;
        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
        let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(
            db.as_deref(),
            Some(proxy.database.as_str()),
            "sessions start in the home database"
        );
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_1045() {
    let proxy = Proxy::start().await;
    for login in [
        ("ops", "nope"),
        ("nobody", "ops-pw"),
        ("acme", ""),
        ("ops", "OPS-PW"),
    ] {
        let error = server_error(Conn::new(proxy.opts(login)).await);
        assert_eq!(error.code, 1045, "{login:?}");
        assert_eq!(error.state, "28000");
        assert!(error.message.contains(login.0), "{}", error.message);
        assert!(
            !error.message.contains("ops-pw"),
            "the password never appears"
        );
    }
    let empty = server_error(Conn::new(proxy.opts(("acme", ""))).await);
    assert!(
        empty.message.contains("using password: NO"),
        "{}",
        empty.message
    );
    // The proxy still serves after failed logins.
    let mut conn = proxy.admin().await;
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 2").await.unwrap(),
        Some(2)
    );
}

#[tokio::test]
async fn connection_ids_are_unique_and_match_connection_id() {
    let proxy = Proxy::start().await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        let mut conn = proxy.admin().await;
        let from_sql: Option<u32> = conn.query_first("SELECT CONNECTION_ID()").await.unwrap();
        assert_eq!(
            from_sql,
            Some(conn.id()),
            "CONNECTION_ID() is the proxy's id from the greeting"
        );
        assert!(ids.insert(conn.id()), "ids differ");
    }
    let (_, greeting_a) = RawClient::connect(proxy.address).await;
    let (_, greeting_b) = RawClient::connect(proxy.address).await;
    assert_ne!(connection_id_of(&greeting_a), connection_id_of(&greeting_b));
}

#[tokio::test]
async fn greeting_announces_the_backend_version() {
    let proxy = Proxy::start().await;
    let (_, greeting) = RawClient::connect(proxy.address).await;
    assert_eq!(greeting[0], 10, "protocol version 10");
    let end = greeting[1..].iter().position(|b| *b == 0).unwrap() + 1;
    let announced = String::from_utf8_lossy(&greeting[1..end]).into_owned();
    let mut direct = proxy.direct().await;
    let version: String = direct
        .query_first("SELECT VERSION()")
        .await
        .unwrap()
        .unwrap();
    assert!(
        announced.ends_with(&version),
        "{announced} carries {version}"
    );
}

#[tokio::test]
async fn caching_sha2_clients_pass_fast_auth_and_others_are_switched_to_native_password() {
    let proxy = Proxy::start().await;
    let mut raw =
        RawClient::login_as_plugin(proxy.address, TENANT_1, "caching_sha2_password").await;
    assert!(matches!(
        raw.query(b"SELECT 1").await,
        crate::raw::Reply::Other(_)
    ));
    let mut raw = RawClient::login_as_plugin(proxy.address, ADMIN, "client_ed25519").await;
    assert!(matches!(
        raw.query(b"SELECT 1").await,
        crate::raw::Reply::Other(_)
    ));
    assert_eq!(code(Conn::new(proxy.opts(("ops", "x"))).await), 1045);
}
