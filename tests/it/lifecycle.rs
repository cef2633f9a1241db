//! Connection limits, KILL, and graceful shutdown.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::support::{code, config_for, fresh_database, Proxy, ADMIN};

#[tokio::test]
async fn connections_over_the_limit_get_1040() {
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.max_connections = 2;
    let proxy = Proxy::start_with(config).await;
    let first = proxy.admin().await;
    let mut second = proxy.admin().await;
    assert_eq!(code(Conn::new(proxy.opts(ADMIN)).await), 1040);
    first.disconnect().await.unwrap();
    // The freed place becomes available once the first session's task ends; retrying until then is the client's
    // normal behaviour, bounded here by the number of attempts.
    let mut third = None;
    for _ in 0..500 {
        match Conn::new(proxy.opts(ADMIN)).await {
            Ok(conn) => {
                third = Some(conn);
                break;
            }
            Err(e) => assert_eq!(code::<()>(Err(e)), 1040),
        }
        tokio::task::yield_now().await;
    }
    let mut third = third.expect("a place frees up when a session ends");
    assert_eq!(
        third.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1)
    );
    assert_eq!(
        second.query_first::<i64, _>("SELECT 2").await.unwrap(),
        Some(2)
    );
}

#[tokio::test]
async fn kill_query_and_kill_connection_use_proxy_ids() {
    let proxy = Proxy::start().await;
    let mut victim = proxy.admin().await;
    let victim_id = victim.id();
    let mut killer = proxy.admin().await;
    let sleeper = tokio::spawn(async move {
        let slept: Result<Option<i64>, _> = victim.query_first("SELECT SLEEP(60)").await;
        (victim, slept)
    });
    // Wait until the sleep is running on the backend, observed through the processlist.
    let mut direct = proxy.direct().await;
    for _ in 0..1000 {
        let running: Option<i64> = direct
            .query_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'")
            .await
            .unwrap();
        if running == Some(1) {
            break;
        }
        tokio::task::yield_now().await;
    }
    let started = std::time::Instant::now();
    killer
        .query_drop(format!("KILL QUERY {victim_id}"))
        .await
        .unwrap();
    let (mut victim, slept) = tokio::time::timeout(Duration::from_secs(30), sleeper)
        .await
        .unwrap()
        .unwrap();
    // An interrupted SLEEP returns 1 on MariaDB and MySQL, or the query fails with 1317.
    match slept {
        Ok(value) => assert_eq!(value, Some(1)),
        Err(e) => assert_eq!(code::<()>(Err(e)), 1317),
    }
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the query was interrupted, not finished"
    );
    assert_eq!(
        victim.query_first::<i64, _>("SELECT 3").await.unwrap(),
        Some(3),
        "KILL QUERY keeps the session"
    );

    killer
        .query_drop(format!("KILL CONNECTION {victim_id}"))
        .await
        .unwrap();
    assert!(
        victim.query_drop("SELECT 4").await.is_err(),
        "KILL CONNECTION ends the session"
    );
    assert_eq!(code(killer.query_drop("KILL 999999").await), 1094);
}

#[tokio::test]
async fn shutdown_stops_accepting_and_closes_idle_sessions() {
    let proxy = Proxy::start().await;
    let address = proxy.address;
    let state = proxy.state.clone();
    let mut idle = proxy.admin().await;
    assert_eq!(
        idle.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1)
    );
    assert_eq!(state.sessions.len(), 1);
    proxy.stop().await.unwrap();
    assert!(
        state.sessions.is_empty(),
        "every session ended within the grace period"
    );
    assert!(
        idle.query_drop("SELECT 2").await.is_err(),
        "the idle session was closed"
    );
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "nothing listens any more"
    );
}
