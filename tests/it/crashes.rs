//! The crash matrix, part one: `stardust serve` killed with SIGKILL in the middle of a multi-row INSERT and of an
//! UPDATE of many rows. After each: every acknowledged write is there, the statement in flight is all there or
//! not at all, `stardust verify` finds no drift, and a new process serves on. (Kills mid backfill and mid sweep
//! are in `daemons.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use tokio::io::AsyncBufReadExt;

use crate::support::{no_drift, Proxy};

/// A `stardust serve` process on the proxy's database with a tenant-1 login, and the address it serves on.
async fn serve(proxy: &Proxy, dir: &std::path::Path) -> (tokio::process::Child, SocketAddr) {
    let path = dir.join("stardust.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend_url = \"{}\"\n\n[[users]]\nname = \"acme\"\npassword = \"pw\"\n\
             tenant = 1\n",
            proxy.backend_url()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("STARDUST_LOG_FORMAT", "json")
        .env("STARDUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    // A bound on a hang, not a synchronisation: the loop ends at the line or when the process exits.
    let bound = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Some(line) = tokio::time::timeout_at(bound, lines.next_line())
        .await
        .expect("serve starts within two minutes")
        .unwrap()
    {
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["message"] == "serving MySQL clients" {
            let address = event["address"].as_str().unwrap().parse().unwrap();
            // Keep draining the log so the process never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, address);
        }
    }
    panic!("stardust serve exited before serving");
}

async fn tenant(address: SocketAddr) -> Conn {
    let opts = OptsBuilder::default()
        .ip_or_hostname(address.ip().to_string())
        .tcp_port(address.port())
        .user(Some("acme"))
        .pass(Some("pw"))
        .prefer_socket(false);
    Conn::new(opts).await.unwrap()
}

/// Waits until the backend runs a statement starting with `prefix` for the proxy's database, then kills the
/// serving process with SIGKILL.
async fn kill_while_running(
    proxy: &Proxy,
    child: &mut tokio::process::Child,
    prefix: &str,
) -> bool {
    let mut direct = proxy.direct().await;
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{}' AND INFO LIKE '{prefix}%'",
        proxy.database
    );
    let mut seen = false;
    for _ in 0..20_000 {
        let running: Option<u64> = direct.query_first(&sql).await.unwrap();
        if running.unwrap_or(0) > 0 {
            seen = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    seen
}

#[tokio::test]
async fn a_kill_mid_multi_row_insert_loses_no_acknowledged_row_and_applies_none_of_the_rest() {
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = serve(&proxy, dir.path()).await;
    let mut acme = tenant(address).await;
    acme.query_drop("CREATE TABLE model_bulk (name VARCHAR(40), n INT, INDEX (name), INDEX (n))")
        .await
        .unwrap();
    for i in 0..20 {
        acme.query_drop(format!(
            "INSERT INTO model_bulk (name, n) VALUES ('acked{i}', {i})"
        ))
        .await
        .unwrap();
    }
    const ROWS: u64 = 40_000;
    let values: Vec<String> = (0..ROWS).map(|i| format!("('bulk{i}', {i})")).collect();
    let bulk = format!(
        "INSERT INTO model_bulk (name, n) VALUES {}",
        values.join(", ")
    );
    let insert = tokio::spawn(async move { acme.query_drop(bulk).await });
    let seen = kill_while_running(&proxy, &mut child, "INSERT INTO entry_data").await;
    let acknowledged = insert.await.unwrap().is_ok();
    assert!(
        seen,
        "the INSERT was running on the backend when the proxy was killed"
    );

    let (mut child, address) = serve(&proxy, dir.path()).await;
    let mut acme = tenant(address).await;
    let acked: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_bulk WHERE name LIKE 'acked%'")
        .await
        .unwrap();
    assert_eq!(acked, Some(20), "every acknowledged row survived");
    let bulk: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_bulk WHERE name LIKE 'bulk%'")
        .await
        .unwrap();
    eprintln!(
        "crash mid INSERT: acknowledged {acknowledged}, {bulk:?} of {ROWS} rows after restart"
    );
    let expected = if acknowledged { ROWS } else { 0 };
    assert!(
        bulk == Some(expected) || (!acknowledged && bulk == Some(ROWS)),
        "the statement is all there or not at all: {bulk:?} of {ROWS} (acknowledged: {acknowledged})"
    );
    no_drift(&proxy.state.backend).await;
    acme.query_drop("INSERT INTO model_bulk (name, n) VALUES ('after', 1)")
        .await
        .unwrap();
    child.start_kill().unwrap();
}

#[tokio::test]
async fn a_kill_mid_update_applies_it_to_every_row_or_to_none() {
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = serve(&proxy, dir.path()).await;
    let mut acme = tenant(address).await;
    acme.query_drop("CREATE TABLE model_acct (name VARCHAR(40), n INT, INDEX (n))")
        .await
        .unwrap();
    const ROWS: i64 = 30_000;
    for chunk in 0..(ROWS / 5_000) {
        let values: Vec<String> = (0..5_000)
            .map(|i| format!("('r{}', 0)", chunk * 5_000 + i))
            .collect();
        acme.query_drop(format!(
            "INSERT INTO model_acct (name, n) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    }
    let update =
        tokio::spawn(async move { acme.query_drop("UPDATE model_acct SET n = n + 1").await });
    let seen = kill_while_running(&proxy, &mut child, "UPDATE").await;
    let acknowledged = update.await.unwrap().is_ok();
    assert!(
        seen,
        "the UPDATE was running on the backend when the proxy was killed"
    );

    let (mut child, address) = serve(&proxy, dir.path()).await;
    let mut acme = tenant(address).await;
    let (rows, sum): (i64, i64) = acme
        .query_first("SELECT COUNT(*), SUM(n) FROM model_acct")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows, ROWS);
    eprintln!(
        "crash mid UPDATE: acknowledged {acknowledged}, sum {sum} over {ROWS} rows after restart"
    );
    assert!(
        sum == ROWS || (!acknowledged && sum == 0),
        "the UPDATE is whole or absent: sum {sum} of {ROWS} rows (acknowledged: {acknowledged})"
    );
    // The slots agree with the JSON, and a filter read from the slot index sees the same.
    no_drift(&proxy.state.backend).await;
    let by_slot: Option<i64> = acme
        .query_first(format!(
            "SELECT COUNT(*) FROM model_acct WHERE n = {}",
            sum / ROWS
        ))
        .await
        .unwrap();
    assert_eq!(by_slot, Some(ROWS));
    child.start_kill().unwrap();
}
