//! Watching and stopping the proxy as an operator does: the Prometheus endpoint scraped over HTTP, SHOW
//! PROCESSLIST and `stardust.processlist`, KILL with its permissions, and the statement timeout.

use std::net::SocketAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{code, config_for, fresh_database, no_drift, server_error, Proxy};

/// A real HTTP/1.1 GET; the status line, the headers and the body.
async fn get(address: SocketAddr, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(address)
        .await
        .expect("connect to metrics");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/plain\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the endpoint answers and closes")
    .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

/// The value of the sample `name` whose labels include every one of `labels` (`key="value"`).
fn sample(body: &str, name: &str, labels: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            let (series, _) = line.rsplit_once(' ').unwrap_or((line, ""));
            let bare = series.split('{').next() == Some(name);
            bare && labels.iter().all(|label| series.contains(label))
        })
        .and_then(|line| line.rsplit_once(' ')?.1.parse().ok())
}

async fn metrics_proxy(timeout_ms: u64) -> Proxy {
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.metrics_listen = Some("127.0.0.1:0".to_string());
    config.statement_timeout_ms = timeout_ms;
    Proxy::start_with(config).await
}

#[tokio::test]
async fn the_metrics_endpoint_serves_prometheus_text() {
    let proxy = metrics_proxy(0).await;
    let address = proxy.metrics.expect("metrics_listen is set");
    let mut acme = proxy.tenant(1).await;
    let mut admin = proxy.admin().await;
    acme.query_drop("CREATE TABLE model_company (name VARCHAR(20), n INT, INDEX (name))")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_company (name, n) VALUES ('a', 1), ('b', 2)")
        .await
        .unwrap();
    for _ in 0..3 {
        let rows: Vec<Row> = acme
            .query("SELECT n FROM model_company WHERE name = 'a'")
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
    admin.query_drop("SELECT 1").await.unwrap();
    assert_eq!(
        code(acme.query_drop("SELECT * FROM entry_data").await),
        1142
    );
    assert_eq!(
        code(admin.query_drop("SELECT * FROM no_such_table").await),
        1146
    );

    let (status, headers, body) = get(address, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    let statements = |class: &str, outcome: &str| {
        sample(
            &body,
            "stardust_statements_total",
            &[
                &format!("class=\"{class}\""),
                &format!("outcome=\"{outcome}\""),
            ],
        )
        .unwrap_or_else(|| panic!("no statements_total for {class}/{outcome} in\n{body}"))
    };
    assert_eq!(statements("model_ddl", "ok"), 1.0);
    assert_eq!(statements("model_write", "ok"), 1.0);
    assert_eq!(statements("model_read", "ok"), 3.0);
    assert!(statements("passthrough", "ok") >= 1.0);
    assert_eq!(
        statements("passthrough", "refused"),
        1.0,
        "the tenant's denied read"
    );
    assert_eq!(
        statements("passthrough", "backend_error"),
        1.0,
        "the unknown table"
    );
    assert_eq!(statements("model_read", "timeout"), 0.0);
    let reads = sample(
        &body,
        "stardust_statement_duration_seconds_count",
        &["class=\"model_read\""],
    );
    assert_eq!(reads, Some(3.0), "{body}");
    assert_eq!(
        sample(
            &body,
            "stardust_statement_duration_seconds_bucket",
            &["class=\"model_read\"", "le=\"+Inf\""]
        ),
        Some(3.0)
    );
    // Three identical reads: rewritten once, then served from the plan cache.
    assert_eq!(
        sample(&body, "stardust_plan_cache_misses_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, "stardust_plan_cache_hits_total", &[]),
        Some(2.0)
    );
    assert_eq!(sample(&body, "stardust_connections", &[]), Some(2.0));
    // Sessions open backend connections of their own; the pools serve the daemons, the registry and KILL.
    for state in ["in_use", "idle"] {
        let label = format!("state=\"{state}\"");
        let pooled = sample(&body, "stardust_backend_pool_connections", &[&label]);
        assert!(pooled.is_some_and(|n| n >= 0.0), "{state}: {body}");
    }
    assert_eq!(sample(&body, "stardust_backend_up", &[]), Some(1.0));
    assert_eq!(
        sample(&body, "stardust_queue_depth", &["queue=\"sync\""]),
        Some(0.0)
    );
    assert_eq!(
        sample(&body, "stardust_queue_depth", &["queue=\"dlq\""]),
        Some(0.0)
    );
    assert_eq!(
        sample(&body, "stardust_sync_queue_oldest_seconds", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &body,
            "stardust_jobs",
            &["kind=\"backfill\"", "status=\"running\""]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&body, "stardust_slots", &["status=\"assigned\""]),
        Some(1.0)
    );
    assert!(body.contains("# HELP stardust_statements_total"), "{body}");
    assert!(
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.starts_with("stardust_")),
        "every metric is prefixed stardust_"
    );
    // Values never reach the endpoint: no label carries statement text.
    assert!(!body.contains("model_company"), "{body}");

    let (status, _, _) = get(address, "/").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    // Garbage instead of a request is answered and closed; the endpoint keeps serving.
    let mut garbage = TcpStream::connect(address).await.unwrap();
    garbage
        .write_all(b"\x00\x01\x02 nonsense\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    garbage.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    let (status, _, _) = get(address, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
}

/// Polls until `sql` on `conn` returns at least one row; the rows.
async fn until_rows(conn: &mut Conn, sql: &str) -> Vec<Row> {
    for _ in 0..2000 {
        let rows: Vec<Row> = conn.query(sql).await.unwrap();
        if !rows.is_empty() {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no rows for {sql}");
}

#[tokio::test]
async fn show_processlist_lists_each_login_its_own_sessions_with_their_kill_ids() {
    let proxy = Proxy::start().await;
    let mut admin = proxy.admin().await;
    let mut acme = proxy.tenant(1).await;
    let mut acme2 = proxy.tenant(1).await;
    let globex = proxy.tenant(2).await;
    let columns_of = |rows: &[Row]| -> Vec<String> {
        rows[0]
            .columns_ref()
            .iter()
            .map(|c| c.name_str().to_string())
            .collect()
    };

    let mine: Vec<Row> = acme.query("SHOW PROCESSLIST").await.unwrap();
    assert_eq!(
        columns_of(&mine),
        ["Id", "User", "Host", "db", "Command", "Time", "State", "Info"]
    );
    let mut ids: Vec<u32> = mine.iter().map(|r| r.get::<u32, _>(0).unwrap()).collect();
    ids.sort();
    let mut expected = vec![acme.id(), acme2.id()];
    expected.sort();
    assert_eq!(
        ids, expected,
        "a tenant sees its own sessions, by the ids of their handshakes"
    );
    assert!(mine
        .iter()
        .all(|r| r.get::<String, _>(1).unwrap() == "acme"));
    let own = mine
        .iter()
        .find(|r| r.get::<u32, _>(0) == Some(acme.id()))
        .unwrap();
    assert_eq!(own.get::<String, _>(4).unwrap(), "Query");
    assert_eq!(own.get::<String, _>(7).unwrap(), "SHOW PROCESSLIST");
    assert_eq!(own.get::<String, _>(3).unwrap(), proxy.database);

    let all: Vec<Row> = admin.query("SHOW FULL PROCESSLIST").await.unwrap();
    let mut ids: Vec<u32> = all.iter().map(|r| r.get::<u32, _>(0).unwrap()).collect();
    ids.sort();
    let mut expected = vec![admin.id(), acme.id(), acme2.id(), globex.id()];
    expected.sort();
    assert_eq!(
        ids, expected,
        "an administrator sees every proxy session, and no backend thread"
    );

    // A running statement shows, whole with FULL and cut to 100 characters without.
    let long = format!("SELECT SLEEP(60), '{}'", "x".repeat(120));
    let sleeper_id = acme2.id();
    let sleeping = long.clone();
    let sleeper = tokio::spawn(async move {
        let done: Result<Vec<Row>, _> = acme2.query(sleeping).await;
        (acme2, done)
    });
    let running = until_rows(
        &mut admin,
        &format!("SELECT command, info, tenant_id, backend_thread FROM stardust.processlist WHERE id = {sleeper_id} AND command = 'Query'"),
    )
    .await;
    assert_eq!(running[0].get::<String, _>(1).unwrap(), long);
    assert_eq!(running[0].get::<u64, _>(2).unwrap(), 1);
    assert!(
        running[0].get::<Option<u32>, _>(3).unwrap().is_some(),
        "administrators see backend threads"
    );
    let short: Vec<Row> = acme.query("SHOW PROCESSLIST").await.unwrap();
    let info = short
        .iter()
        .find(|r| r.get::<u32, _>(0) == Some(sleeper_id))
        .and_then(|r| r.get::<String, _>(7))
        .unwrap();
    assert_eq!(info.chars().count(), 100);
    let tenant_view: Vec<(u32, Option<u32>)> = acme
        .query("SELECT id, backend_thread FROM stardust.processlist ORDER BY id")
        .await
        .unwrap();
    assert_eq!(tenant_view.len(), 2);
    assert!(
        tenant_view.iter().all(|(_, thread)| thread.is_none()),
        "a tenant sees no backend internals: {tenant_view:?}"
    );

    // The same user may stop its own statement, as the mysql CLI's Ctrl-C does.
    acme.query_drop(format!("KILL QUERY {sleeper_id}"))
        .await
        .unwrap();
    let (mut acme2, done) = tokio::time::timeout(Duration::from_secs(50), sleeper)
        .await
        .expect("the sleep was interrupted")
        .unwrap();
    match done {
        Ok(rows) => assert_eq!(rows[0].get::<i64, _>(0), Some(1)),
        Err(e) => assert_eq!(code::<()>(Err(e)), 1317),
    }
    assert_eq!(
        acme2.query_first::<i64, _>("SELECT 5").await.unwrap(),
        Some(5)
    );
}

#[tokio::test]
async fn kill_is_refused_for_other_users_sessions_with_1095() {
    let proxy = Proxy::start().await;
    let mut admin = proxy.admin().await;
    let mut acme = proxy.tenant(1).await;
    let mut globex = proxy.tenant(2).await;
    let victim = proxy.tenant(2).await;
    let refused = server_error(acme.query_drop(format!("KILL {}", victim.id())).await);
    assert_eq!(refused.code, 1095);
    assert_eq!(
        refused.message,
        format!("You are not owner of thread {}", victim.id())
    );
    assert_eq!(
        code(acme.query_drop(format!("KILL QUERY {}", admin.id())).await),
        1095
    );
    assert_eq!(code(acme.query_drop("KILL 4000000000").await), 1094);
    // The refusal leaves both sessions working.
    assert_eq!(
        acme.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1)
    );
    // Its own user may end it; an administrator may end anyone's.
    globex
        .query_drop(format!("KILL QUERY {}", victim.id()))
        .await
        .unwrap();
    admin
        .query_drop(format!("KILL CONNECTION {}", victim.id()))
        .await
        .unwrap();
    let gone = until_rows(
        &mut admin,
        &format!("SELECT 1 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM stardust.processlist WHERE id = {})", victim.id()),
    )
    .await;
    assert_eq!(gone.len(), 1, "the killed session left the processlist");
    let mut victim = victim;
    assert!(victim.query_drop("SELECT 1").await.is_err());
}

/// Locks `entry_data` (every row of it) on a direct backend connection until the returned connection rolls back.
async fn hold_rows(proxy: &Proxy, table: &str) -> Conn {
    let mut holder = proxy.direct().await;
    holder.query_drop("BEGIN").await.unwrap();
    holder
        .query_drop(format!("SELECT * FROM {table} FOR UPDATE"))
        .await
        .unwrap();
    holder
}

#[tokio::test]
async fn a_statement_past_its_timeout_is_cancelled_on_the_backend_with_3024() {
    let proxy = metrics_proxy(0).await;
    let mut admin = proxy.admin().await;
    admin
        .query_drop("CREATE TABLE plain (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    admin
        .query_drop("INSERT INTO plain VALUES (1, 1)")
        .await
        .unwrap();
    let mut holder = hold_rows(&proxy, "plain").await;

    // MariaDB's variable, in seconds.
    admin
        .query_drop("SET max_statement_time = 0.3")
        .await
        .unwrap();
    let timed_out = server_error(
        admin
            .query_drop("UPDATE plain SET v = 2 WHERE id = 1")
            .await,
    );
    assert_eq!(timed_out.code, 3024);
    assert_eq!(
        timed_out.message,
        "Query execution was interrupted, maximum statement execution time exceeded"
    );
    assert_eq!(timed_out.state, "HY000");
    // The backend query was cancelled, not left waiting for its lock (which it would for 50 s): the backend
    // clears the thread's statement as it finishes the command, so the check polls for that.
    let mut direct = proxy.direct().await;
    let mut waiting = None;
    for _ in 0..1000 {
        waiting = direct
            .query_first::<i64, _>(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE plain%'",
            )
            .await
            .unwrap();
        if waiting == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(waiting, Some(0));
    assert_eq!(
        admin.query_first::<i64, _>("SELECT 7").await.unwrap(),
        Some(7)
    );

    // MySQL's, in milliseconds, through the @@ spelling; prepared statements are bounded too.
    admin
        .query_drop("SET @@session.max_execution_time = 300")
        .await
        .unwrap();
    let update = admin
        .prep("UPDATE plain SET v = ? WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(code(admin.exec_drop(&update, (3,)).await), 3024);
    // 0 lifts the limit: the statement waits for the lock and runs once it is released.
    admin
        .query_drop("SET max_execution_time = 0")
        .await
        .unwrap();
    let unlimited = tokio::spawn(async move {
        let done = admin
            .query_drop("UPDATE plain SET v = 4 WHERE id = 1")
            .await;
        (admin, done)
    });
    until_rows(
        &mut direct,
        "SELECT 1 FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE plain%'",
    )
    .await;
    holder.query_drop("ROLLBACK").await.unwrap();
    let (mut admin, done) = unlimited.await.unwrap();
    done.unwrap();
    assert_eq!(
        admin
            .query_first::<i64, _>("SELECT v FROM plain")
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        code(admin.query_drop("SET max_statement_time = 'soon'").await),
        1231
    );
    assert_eq!(
        code(admin.query_drop("SET max_execution_time = -5").await),
        1231
    );

    let (_, _, body) = get(proxy.metrics.unwrap(), "/metrics").await;
    assert_eq!(
        sample(&body, "stardust_statement_timeouts_total", &[]),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "stardust_statements_total",
            &["class=\"prepared\"", "outcome=\"timeout\""]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_configured_timeout_cancels_a_model_write_and_nothing_of_it_stays() {
    let proxy = metrics_proxy(300).await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_account (name VARCHAR(20), n INT, INDEX (n))")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_account (name, n) VALUES ('a', 1), ('b', 2)")
        .await
        .unwrap();
    let mut holder = hold_rows(&proxy, "entry_data").await;
    let timed_out = acme.query_drop("UPDATE model_account SET n = n + 10").await;
    assert_eq!(code(timed_out), 3024);
    holder.query_drop("ROLLBACK").await.unwrap();
    let rows: Vec<(String, i64)> = acme
        .query("SELECT name, n FROM model_account ORDER BY name")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![("a".to_string(), 1), ("b".to_string(), 2)],
        "no half-applied update"
    );
    no_drift(&proxy.state.backend).await;

    // DEFAULT returns to the configured timeout after a session lifted it.
    acme.query_drop("SET SESSION max_statement_time = 0")
        .await
        .unwrap();
    acme.query_drop("SET max_statement_time = DEFAULT")
        .await
        .unwrap();
    let mut holder = hold_rows(&proxy, "entry_data").await;
    assert_eq!(
        code(
            acme.query_drop("DELETE FROM model_account WHERE n = 1")
                .await
        ),
        3024
    );
    holder.query_drop("ROLLBACK").await.unwrap();
    let count: Option<i64> = acme
        .query_first("SELECT COUNT(*) FROM model_account")
        .await
        .unwrap();
    assert_eq!(count, Some(2));
    no_drift(&proxy.state.backend).await;
}

/// The next line of a child's stderr, bounded so a hang fails the test instead of stalling it.
async fn next_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    bound: tokio::time::Instant,
) -> Option<String> {
    tokio::time::timeout_at(bound, lines.next_line())
        .await
        .expect("the log line within two minutes")
        .unwrap()
}

#[tokio::test]
async fn ndjson_logs_carry_connection_id_and_digest_never_values() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stardust.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend_url = \"{}\"\ndaemons = false\n\n[[users]]\nname = \"ops\"\n\
             password = \"pw-not-logged\"\nadmin = true\n",
            proxy.backend_url()
        ),
    )
    .unwrap();
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("STARDUST_LOG_FORMAT", "json")
        .env("STARDUST_LOG", "stardust=debug")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Bounds on a hang, not synchronisation: each loop ends at the line it waits for.
    let bound = tokio::time::Instant::now() + Duration::from_secs(120);
    let address = loop {
        let line = next_line(&mut lines, bound)
            .await
            .expect("serve logs its address");
        seen.push(line.clone());
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "serving MySQL clients" {
            break event["address"].as_str().unwrap().to_string();
        }
    };
    let address: SocketAddr = address.parse().unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(address.ip().to_string())
        .tcp_port(address.port())
        .user(Some("ops"))
        .pass(Some("pw-not-logged"))
        .prefer_socket(false);
    let mut conn = Conn::new(opts).await.unwrap();
    let secret = "SELECT 'hunter2-value' AS v";
    let value: Option<String> = conn.query_first(secret).await.unwrap();
    assert_eq!(value.as_deref(), Some("hunter2-value"));
    let expected = stardust::sql::digest::digest(secret);
    let done = loop {
        let line = next_line(&mut lines, bound)
            .await
            .expect("a statement line");
        seen.push(line.clone());
        if line.contains(&expected) && line.contains("statement done") {
            break serde_json::from_str::<serde_json::Value>(&line).unwrap();
        }
    };
    let spans = done["spans"].as_array().expect("the span list");
    let connection = spans.iter().find(|s| s["name"] == "connection").unwrap();
    assert_eq!(
        connection["id"].as_u64(),
        Some(u64::from(conn.id())),
        "{done}"
    );
    assert_eq!(done["outcome"], "ok", "{done}");
    drop(conn);
    serve.kill().await.unwrap();
    while let Some(line) = next_line(&mut lines, bound).await {
        seen.push(line);
    }
    for line in &seen {
        assert!(!line.contains("hunter2"), "a value reached the log: {line}");
        assert!(
            !line.contains("pw-not-logged"),
            "a password reached the log: {line}"
        );
    }
}
