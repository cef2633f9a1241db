//! Load: many concurrent clients — two tenants' model reads and writes, an administrator's passthrough — against
//! one proxy, with zero errors allowed, no acknowledged write lost, and `stardust verify` clean afterwards.
//!
//! The suite runs a short version (`STARDUST_LOAD_CLIENTS`, default 60 clients, for
//! `STARDUST_LOAD_STATEMENTS` statements each, default 30). `scripts/load` runs the long one (500 clients for 60
//! seconds, `STARDUST_LOAD_SECS`) optimised and prints latency percentiles, throughput and memory for
//! `docs/benchmarks.md`.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::support::{
    config_for, fresh_database, no_drift, Patience, Proxy, ADMIN, TENANT_1, TENANT_2,
};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one client did.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: Vec<String>,
    /// Rows this client inserted and was told were written.
    inserted: u64,
}

/// One client's loop: a mix of point reads, filtered counts, inserts and updates on its tenant's model, or the
/// administrator's passthrough reads and writes on a native table.
async fn client(mut conn: Conn, n: u64, admin: bool, until: Until) -> Tally {
    let mut tally = Tally::default();
    let mut i = 0u64;
    while until.more(i) {
        let k = (n * 7919 + i) % 50;
        let sql = match (admin, i % 5) {
            (true, 0) => format!("INSERT INTO plain (client, k) VALUES ({n}, {k})"),
            (true, _) => format!("SELECT COUNT(*) FROM plain WHERE k = {k}"),
            (false, 0) => format!("INSERT INTO model_load (name, n) VALUES ('c{n}-{i}', {k})"),
            (false, 1) => format!("UPDATE model_load SET n = n + 1 WHERE name = 'c{n}-0'"),
            (false, 2) => format!("SELECT COUNT(*) FROM model_load WHERE n = {k}"),
            (false, _) => format!("SELECT id, name, n FROM model_load WHERE name = 'seed{k}'"),
        };
        let started = Instant::now();
        match conn.query_drop(&sql).await {
            Ok(()) => {
                tally.latencies.push(started.elapsed());
                if sql.starts_with("INSERT") {
                    tally.inserted += 1;
                }
            }
            Err(e) => tally.errors.push(format!("{sql}: {e}")),
        }
        i += 1;
    }
    let _ = conn.disconnect().await;
    tally
}

/// A client stops after a number of statements (the suite's run) or at a deadline (the long run).
#[derive(Clone, Copy)]
enum Until {
    Statements(u64),
    Deadline(Instant),
}

impl Until {
    fn more(self, done: u64) -> bool {
        match self {
            Until::Statements(n) => done < n,
            Until::Deadline(at) => Instant::now() < at,
        }
    }
}

/// Resident memory of this process (proxy and clients together), in MiB.
fn rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_mixed_load_without_errors_or_lost_writes() {
    let clients = setting("STARDUST_LOAD_CLIENTS", 60);
    let until = match setting("STARDUST_LOAD_SECS", 0) {
        0 => Until::Statements(setting("STARDUST_LOAD_STATEMENTS", 30)),
        secs => Until::Deadline(Instant::now() + Duration::from_secs(secs)),
    };
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.max_connections = clients as usize + 16;
    let proxy = Proxy::start_with(config).await;
    let mut admin = proxy.admin().await;
    admin
        .query_drop(
            "CREATE TABLE plain (id BIGINT AUTO_INCREMENT PRIMARY KEY, client INT, k INT, KEY (k))",
        )
        .await
        .unwrap();
    for tenant in [1, 2] {
        let mut conn = proxy.tenant(tenant).await;
        conn.query_drop(
            "CREATE TABLE model_load (name VARCHAR(40), n INT, INDEX (name), INDEX (n))",
        )
        .await
        .unwrap();
        let seeds: Vec<String> = (0..50).map(|k| format!("('seed{k}', {k})")).collect();
        conn.query_drop(format!(
            "INSERT INTO model_load (name, n) VALUES {}",
            seeds.join(", ")
        ))
        .await
        .unwrap();
    }
    let rss_before = rss_mib();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..clients {
        let login = match n % 4 {
            0 => ADMIN,
            1 | 3 => TENANT_1,
            _ => TENANT_2,
        };
        let conn = Conn::new(proxy.opts(login)).await.unwrap();
        tasks.push(tokio::spawn(client(conn, n, login == ADMIN, until)));
    }
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let rss_after = rss_mib();

    let errors: Vec<&String> = tallies.iter().flat_map(|t| &t.errors).collect();
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    // Every acknowledged insert is there: the model rows of both tenants and the native table's.
    let inserted = |tenant_clients: &[u64]| -> u64 {
        tenant_clients
            .iter()
            .map(|&n| tallies[n as usize].inserted)
            .sum()
    };
    let of = |rest: u64| (0..clients).filter(|n| n % 4 == rest).collect::<Vec<_>>();
    let tenant_1: Vec<u64> = (0..clients).filter(|n| n % 2 == 1).collect();
    for (tenant, expected) in [(1, 50 + inserted(&tenant_1)), (2, 50 + inserted(&of(2)))] {
        let mut conn = proxy.tenant(tenant).await;
        let rows: Option<u64> = conn
            .query_first("SELECT COUNT(*) FROM model_load")
            .await
            .unwrap();
        assert_eq!(rows, Some(expected), "tenant {tenant}'s rows");
    }
    let plain: Option<u64> = admin
        .query_first("SELECT COUNT(*) FROM plain")
        .await
        .unwrap();
    assert_eq!(plain, Some(inserted(&of(0))));
    no_drift(&proxy.state.backend).await;

    let mut latencies: Vec<Duration> = tallies.into_iter().flat_map(|t| t.latencies).collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    eprintln!(
        "load: {clients} clients, {} statements in {:.1} s ({:.0}/s), 0 errors; latency p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; process RSS {:?} MiB before, {:?} MiB after",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        rss_before,
        rss_after,
    );
}

/// The backend refusing connections (here its per-account limit) reaches the client as the backend's own error at
/// login, and the proxy serves again as soon as a backend connection frees.
#[tokio::test]
async fn a_backend_out_of_connections_refuses_logins_clearly_and_recovers() {
    let database = fresh_database().await;
    let account = format!("lim{}", &database[2..14]);
    let mut root = crate::support::direct(None).await;
    root.query_drop(format!(
        "CREATE USER '{account}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 3"
    ))
    .await
    .unwrap();
    root.query_drop(format!("GRANT ALL ON `{database}`.* TO '{account}'@'%'"))
        .await
        .unwrap();
    let root_url = crate::support::backend().root_url.clone();
    let host = root_url.rsplit('@').next().unwrap();
    let mut config = config_for(&database);
    config.backend_url = format!("mysql://{account}:pw@{host}/{database}");
    let proxy = Proxy::start_with(config).await;

    let mut held = Vec::new();
    let refused = loop {
        match Conn::new(proxy.opts(TENANT_1)).await {
            Ok(conn) => held.push(conn),
            Err(e) => break e,
        }
        // The account's limit is 3, counted by the backend (MariaDB 10.11 let a fourth in here); never unbounded.
        assert!(
            held.len() <= 5,
            "the backend limits this account's connections"
        );
    };
    let refused = match refused {
        mysql_async::Error::Server(e) => e,
        other => panic!("a server error, not {other:?}"),
    };
    assert_eq!(refused.code, 1226, "{refused:?}");
    assert!(
        refused.message.contains("max_user_connections"),
        "{}",
        refused.message
    );

    // A freed backend connection serves the next login.
    held.pop().unwrap().disconnect().await.unwrap();
    let mut again = None;
    for _ in 0..500 {
        if let Ok(conn) = Conn::new(proxy.opts(TENANT_1)).await {
            again = Some(conn);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut again = again.expect("a login once a backend connection is free");
    assert_eq!(
        again.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1)
    );
    drop(held);
    drop(again);
    proxy.stop().await.unwrap();
    root.query_drop(format!("DROP USER '{account}'@'%'"))
        .await
        .unwrap();
}

/// A client that sends a large SELECT and stops reading: the proxy streams, so it holds only what fits its
/// buffers (the backend query waits, still running, and the proxy's memory stays flat); other clients are
/// served meanwhile; after `net_write_timeout_secs` the proxy closes that connection and kills its backend
/// query.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed_after_the_write_timeout_and_its_query_killed() {
    let mut config = config_for(&fresh_database().await);
    config.net_write_timeout_secs = 3;
    let proxy = Proxy::start_with(config).await;
    let mut slow = proxy.admin().await;
    let id: Option<u64> = slow.query_first("SELECT CONNECTION_ID()").await.unwrap();
    let id = id.unwrap();
    let before = rss_mib().unwrap();
    // About 600 MB of rows (640,000 of 1 KB; a cross join, as both engines stop a recursion at 1,000 by
    // default); the marker finds the query in the backend's processlist.
    let big = "WITH RECURSIVE d (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < 799) \
               SELECT a.i, b.i, REPEAT('slow-client-marker', 55) FROM d AS a, d AS b";
    let result = slow.query_iter(big).await.unwrap();
    // Not read: the client's receive window fills, then the proxy's writes block.

    let mut direct = proxy.direct().await;
    // The administrator's session has no default database: the marker alone finds its query.
    let running = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%slow-client-marker%' \
                   AND INFO NOT LIKE '%PROCESSLIST%'";
    let running_now = direct.query_first::<u64, _>(running).await.unwrap();
    assert_eq!(
        running_now,
        Some(1),
        "the backend query waits for the proxy to read on"
    );
    let mut during = rss_mib().unwrap();
    let mut other = proxy.tenant(1).await;
    let one: Option<u64> = other.query_first("SELECT 1").await.unwrap();
    assert_eq!(
        one,
        Some(1),
        "other clients are served while one is stalled"
    );
    let mut admin = proxy.admin().await;
    let listed = format!("SELECT COUNT(*) FROM stardust.processlist WHERE id = {id}");
    assert_eq!(admin.query_first::<u64, _>(&listed).await.unwrap(), Some(1));

    let patience = Patience::new(Duration::from_secs(60), "the stalled session to be closed");
    while admin.query_first::<u64, _>(&listed).await.unwrap() != Some(0) {
        during = during.max(rss_mib().unwrap());
        patience.wait().await;
    }
    let patience = Patience::new(
        Duration::from_secs(60),
        "the stalled session's backend query to end",
    );
    while direct.query_first::<u64, _>(running).await.unwrap() != Some(0) {
        patience.wait().await;
    }
    eprintln!("slow client: RSS {before} MiB before, at most {during} MiB while stalled");
    assert!(
        during < before + 150,
        "the proxy buffered the result: RSS {before} → {during} MiB"
    );
    // The client finds its connection closed once it reads again.
    assert!(result.collect_and_drop::<mysql_async::Row>().await.is_err());
    let one: Option<u64> = other.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}
