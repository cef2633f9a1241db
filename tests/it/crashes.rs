//! The crash matrix: `stardust serve` killed with SIGKILL in the middle of a multi-row INSERT, of an UPDATE of
//! many rows and of each kind of model DDL; the backend killed and restarted (a private one per test,
//! `support::PrivateBackend`) mid statement and mid transaction. After each: every acknowledged write is there,
//! the statement or transaction in flight is all there or not at all, `stardust verify` finds no drift, and the
//! proxy serves on. (Kills mid backfill and mid sweep, with the daemons resuming, are in `daemons.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use tokio::io::AsyncBufReadExt;

use crate::support::{no_drift, Patience, PrivateBackend, Proxy};

/// A `stardust serve` process on the proxy's database with a tenant-1 login, and the address it serves on.
async fn serve(proxy: &Proxy, dir: &std::path::Path) -> (tokio::process::Child, SocketAddr) {
    serve_with(proxy, dir, "").await
}

/// The same with more configuration lines (`extra`, before the users).
async fn serve_with(
    proxy: &Proxy,
    dir: &std::path::Path,
    extra: &str,
) -> (tokio::process::Child, SocketAddr) {
    let path = dir.join("stardust.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend_url = \"{}\"\n{extra}\n[[users]]\nname = \"acme\"\npassword = \"pw\"\n\
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
            tokio::spawn(async move {
                while let Ok(Some(l)) = lines.next_line().await {
                    if l.contains("panicked") {
                        eprintln!("SERVE {l}");
                    }
                }
            });
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
    let acme = tenant(address).await;
    let insert = acked_then_bulk(acme).await;
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
    acme.query_drop("CREATE TABLE model_acct (name VARCHAR(40), n INT, INDEX (name), INDEX (n))")
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

/// Polls the backend's processlist (through `direct`) until a statement starting with `prefix` runs in
/// `database`.
async fn until_running(direct: &mut Conn, database: &str, prefix: &str) {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{database}' AND INFO LIKE '{prefix}%'"
    );
    let patience = Patience::new(
        Duration::from_secs(60),
        &format!("`{prefix}…` to run on the backend"),
    );
    while direct.query_first::<u64, _>(&sql).await.unwrap() == Some(0) {
        patience.wait().await;
    }
}

/// What a client sees when the backend goes away under its statement: MySQL's "Lost connection … during query"
/// (2013, SQLSTATE 08S01, a communication-link failure that connectors retry on a new connection), after which
/// the proxy closes the connection, as the server's own end would have closed.
fn assert_lost(result: Result<(), mysql_async::Error>) {
    let error = crate::support::server_error(result);
    assert_eq!(
        (error.code, error.state.as_str()),
        (2013, "08S01"),
        "{error:?}"
    );
    assert!(error.message.contains("reconnect"), "{}", error.message);
}

/// The backend killed (SIGKILL) in the middle of a model INSERT of many rows and started again: the client gets
/// 2013, the proxy serves new connections once the backend is back, every acknowledged row is there and none of
/// the interrupted statement's, `verify` finds no drift, and writes go on.
#[tokio::test]
async fn a_backend_restarted_mid_statement_gives_a_clear_error_and_the_proxy_serves_on() {
    let mut backend = PrivateBackend::start().await;
    let proxy = backend.proxy().await;
    let acme = proxy.tenant(1).await;
    let insert = acked_then_bulk(acme).await;
    let mut direct = backend.direct(None).await;
    until_running(&mut direct, &proxy.database, "INSERT INTO entry_data").await;
    backend.crash().await;
    assert_lost(insert.await.unwrap());
    backend.restart().await;

    let mut acme = proxy.tenant(1).await;
    let acked: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_bulk WHERE name LIKE 'acked%'")
        .await
        .unwrap();
    assert_eq!(acked, Some(20), "every acknowledged row survived");
    let bulk: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_bulk WHERE name LIKE 'bulk%'")
        .await
        .unwrap();
    assert_eq!(
        bulk,
        Some(0),
        "nothing of the unacknowledged statement is visible"
    );
    no_drift(&proxy.state.backend).await;
    acme.query_drop("INSERT INTO model_bulk (name, n) VALUES ('after', 1)")
        .await
        .unwrap();
    let by_slot: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_bulk WHERE n = 1")
        .await
        .unwrap();
    assert_eq!(
        by_slot,
        Some(2),
        "acked1 and the row written after the restart"
    );
    let mut admin = proxy.admin().await;
    let version: Option<String> = admin.query_first("SELECT VERSION()").await.unwrap();
    assert!(version.is_some(), "passthrough works again");
}

/// The backend killed and restarted while a client's transaction holds uncommitted model writes: the client's
/// next statement (its COMMIT) gets 2013 rather than a success, and none of the transaction is there after
/// the restart; what was committed before is.
#[tokio::test]
async fn a_transaction_interrupted_by_a_backend_restart_is_not_half_committed() {
    let mut backend = PrivateBackend::start().await;
    let proxy = backend.proxy().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_acct (name VARCHAR(40), n INT, INDEX (name), INDEX (n))")
        .await
        .unwrap();
    let values: Vec<String> = (0..100).map(|i| format!("('r{i}', 0)")).collect();
    acme.query_drop(format!(
        "INSERT INTO model_acct (name, n) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    acme.query_drop("BEGIN").await.unwrap();
    acme.query_drop("UPDATE model_acct SET n = n + 1 WHERE name LIKE 'r1%'")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_acct (name, n) VALUES ('in-tx', 7)")
        .await
        .unwrap();
    acme.query_drop("DELETE FROM model_acct WHERE name = 'r0'")
        .await
        .unwrap();
    backend.crash().await;
    backend.restart().await;
    assert_lost(acme.query_drop("COMMIT").await);

    let mut acme = proxy.tenant(1).await;
    let (rows, sum): (u64, Option<i64>) = acme
        .query_first("SELECT COUNT(*), SUM(n) FROM model_acct")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rows, sum),
        (100, Some(0)),
        "the committed rows, untouched by the lost transaction"
    );
    let in_tx: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_acct WHERE name = 'in-tx' OR n = 7")
        .await
        .unwrap();
    assert_eq!(in_tx, Some(0));
    no_drift(&proxy.state.backend).await;
    acme.query_drop("UPDATE model_acct SET n = 2 WHERE name = 'r0'")
        .await
        .unwrap();
    let by_slot: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_acct WHERE n = 2")
        .await
        .unwrap();
    assert_eq!(by_slot, Some(1));
}

/// What the registry holds: models, fields, slots by state, and the schema version.
async fn registry(direct: &mut Conn) -> (u64, u64, Option<String>, u64) {
    direct
        .query_first(
            "SELECT (SELECT COUNT(*) FROM stardust_models), (SELECT COUNT(*) FROM stardust_fields), \
             (SELECT GROUP_CONCAT(CONCAT(id, ':', status, ':', COALESCE(field_id, '-')) ORDER BY id) \
              FROM stardust_slot_assignments WHERE status <> 'free'), \
             (SELECT version FROM stardust_schema_version WHERE id = 1)",
        )
        .await
        .unwrap()
        .unwrap()
}

/// `stardust serve` killed (SIGKILL) in the middle of each kind of model DDL: CREATE, ALTER (a new indexed
/// column) and DROP TABLE. Each runs in one registry transaction that ends by bumping the schema version (as
/// does the page provisioning a DDL needing a new page runs first, its page table already created); a direct
/// connection holds that row, so the transaction stops there with its registry rows written, and the process is
/// killed while it waits. After each restart the DDL is wholly absent: the registry is as before, the table or
/// column is not there, the data is intact; then the same DDL, run again, is wholly there.
#[tokio::test]
async fn a_kill_mid_model_ddl_leaves_it_wholly_absent_and_it_can_be_run_again() {
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    // No daemons: the DDL is then the only writer of the schema version.
    let (mut child, address) = serve_with(&proxy, dir.path(), "daemons = false").await;
    let mut acme = tenant(address).await;
    acme.query_drop("CREATE TABLE model_keep (name VARCHAR(40), n INT, INDEX (n))")
        .await
        .unwrap();
    let values: Vec<String> = (0..100).map(|i| format!("('k{i}', {})", i % 10)).collect();
    acme.query_drop(format!(
        "INSERT INTO model_keep (name, n) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    let mut direct = proxy.direct().await;
    let before = registry(&mut direct).await;
    let statements = [
        "CREATE TABLE model_new (a VARCHAR(10), b INT, INDEX (b))",
        "ALTER TABLE model_keep ADD COLUMN extra INT, ADD INDEX (extra)",
        "DROP TABLE model_keep",
    ];
    // The backend threads of this test's database running the version bump: the backend is shared with other
    // tests. Only a registry transaction's last statement, the bump, locks the row the blocker holds.
    let bumping = format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' \
         AND INFO LIKE 'UPDATE stardust_schema_version%'",
        proxy.database
    );
    for ddl in statements {
        let mut blocker = proxy.direct().await;
        blocker.query_drop("BEGIN").await.unwrap();
        blocker
            .query_drop("SELECT version FROM stardust_schema_version WHERE id = 1 FOR UPDATE")
            .await
            .unwrap();
        let running = tokio::spawn(async move { acme.query_drop(ddl).await });
        // The DDL's transaction has written its registry rows and waits for the version row.
        let patience = Patience::new(Duration::from_secs(60), ddl);
        let thread = loop {
            if let Some(thread) = direct.query_first::<u64, _>(&bumping).await.unwrap() {
                break thread;
            }
            if running.is_finished() {
                panic!("{ddl} ended before the kill: {:?}", running.await.unwrap());
            }
            patience.wait().await;
        };
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        assert!(running.await.unwrap().is_err(), "{ddl}: not acknowledged");
        blocker.query_drop("ROLLBACK").await.unwrap();
        // The backend ends the dead process's transaction (and thread) once its statement no longer waits.
        let patience = Patience::new(Duration::from_secs(60), "the killed DDL to roll back");
        let alive =
            format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {thread}");
        while direct.query_first::<u64, _>(&alive).await.unwrap() != Some(0) {
            patience.wait().await;
        }
        assert_eq!(
            registry(&mut direct).await,
            before,
            "{ddl}: the registry is as before"
        );
        (child, acme) = {
            let (child, address) = serve_with(&proxy, dir.path(), "daemons = false").await;
            (child, tenant(address).await)
        };
        let tables: Vec<String> = acme.query("SHOW TABLES").await.unwrap();
        assert_eq!(tables, vec!["model_keep".to_string()], "{ddl}");
        let columns: Vec<String> = acme
            .query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_NAME = 'model_keep' ORDER BY ORDINAL_POSITION")
            .await
            .unwrap();
        assert!(
            !columns.contains(&"extra".to_string()),
            "{ddl}: {columns:?}"
        );
        let kept: Option<u64> = acme
            .query_first("SELECT COUNT(*) FROM model_keep WHERE n = 3")
            .await
            .unwrap();
        assert_eq!(kept, Some(10), "{ddl}: the data is intact and filterable");
    }
    no_drift(&proxy.state.backend).await;
    // Run again, each is wholly there.
    acme.query_drop(statements[0]).await.unwrap();
    acme.query_drop("INSERT INTO model_new (a, b) VALUES ('x', 1)")
        .await
        .unwrap();
    acme.query_drop(statements[1]).await.unwrap();
    acme.query_drop("UPDATE model_keep SET extra = n * 2")
        .await
        .unwrap();
    let extra: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_keep WHERE extra = 6")
        .await
        .unwrap();
    assert_eq!(extra, Some(10));
    acme.query_drop(statements[2]).await.unwrap();
    let tables: Vec<String> = acme.query("SHOW TABLES").await.unwrap();
    assert_eq!(tables, vec!["model_new".to_string()]);
    no_drift(&proxy.state.backend).await;
    child.start_kill().unwrap();
}

/// Rows of the bulk INSERT [`acked_then_bulk`] starts.
const ROWS: u64 = 40_000;

/// Makes `model_bulk`, writes 20 acknowledged rows to it, then starts one INSERT of [`ROWS`] more, for a crash to
/// interrupt.
async fn acked_then_bulk(
    mut acme: mysql_async::Conn,
) -> tokio::task::JoinHandle<Result<(), mysql_async::Error>> {
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
    let values: Vec<String> = (0..ROWS).map(|i| format!("('bulk{i}', {i})")).collect();
    let bulk = format!(
        "INSERT INTO model_bulk (name, n) VALUES {}",
        values.join(", ")
    );
    tokio::spawn(async move { acme.query_drop(bulk).await })
}
