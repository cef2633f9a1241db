//! Real clients and the binary itself: the mariadb CLI, sysbench, `stardust serve --check-config`, and `serve`
//! running its daemons with NDJSON logs.

use std::path::Path;
use std::process::Output;

use tokio::process::Command;

use stardust::config::Config;

use crate::support::{Proxy, ADMIN, TENANT_1};

async fn mariadb(proxy: &Proxy, (user, password): (&str, &str), sql: &str) -> Output {
    let client = ["mariadb", "mysql"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok()
        })
        .expect("the mariadb client is installed (scripts/setup installs it)");
    Command::new(client)
        .args([
            "--protocol=TCP",
            "-h127.0.0.1",
            &format!("-P{}", proxy.address.port()),
            &format!("-u{user}"),
            &format!("-p{password}"),
            "--batch",
            "-e",
            sql,
        ])
        .output()
        .await
        .expect("run the mariadb client")
}

#[tokio::test]
async fn the_mariadb_cli_works_through_the_proxy() {
    let proxy = Proxy::start().await;
    let output = mariadb(
        &proxy,
        ADMIN,
        "CREATE TABLE cli_t (id INT PRIMARY KEY, name VARCHAR(20)); \
         INSERT INTO cli_t VALUES (1, 'one'), (2, NULL); \
         SELECT id, name FROM cli_t ORDER BY id; SELECT COUNT(*) AS n FROM cli_t",
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout, "id\tname\n1\tone\n2\tNULL\nn\n2\n");

    let output = mariadb(&proxy, TENANT_1, "SELECT 1 AS x").await;
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "x\n1\n");
    let output = mariadb(&proxy, TENANT_1, "SELECT * FROM entry_data").await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ERROR 1142 (42000)"), "{stderr}");
    let output = mariadb(&proxy, ("acme", "wrong"), "SELECT 1").await;
    assert!(String::from_utf8_lossy(&output.stderr).contains("ERROR 1045 (28000)"));
}

#[tokio::test]
async fn sysbench_point_select_runs_through_the_proxy() {
    let proxy = Proxy::start().await;
    let common = [
        "oltp_point_select".to_string(),
        "--mysql-host=127.0.0.1".to_string(),
        format!("--mysql-port={}", proxy.address.port()),
        format!("--mysql-user={}", ADMIN.0),
        format!("--mysql-password={}", ADMIN.1),
        format!("--mysql-db={}", proxy.database),
        "--tables=1".to_string(),
        "--table-size=500".to_string(),
    ];
    let prepare = Command::new("sysbench")
        .args(&common)
        .arg("prepare")
        .output()
        .await;
    let prepare = prepare.expect("sysbench is installed (scripts/setup installs it)");
    assert!(
        prepare.status.success(),
        "{}",
        String::from_utf8_lossy(&prepare.stderr)
    );
    let run = Command::new("sysbench")
        .args(&common)
        .args(["--events=2000", "--time=0", "--threads=2", "run"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("queries:                             2000"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ignored errors:                      0"),
        "{stdout}"
    );
}

#[test]
fn the_example_configuration_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stardust.example.toml");
    let config = Config::load(&path).expect("the example is valid");
    assert_eq!(config.listen, "127.0.0.1:3307");
    assert_eq!(config.database(), "app");
    assert_eq!(config.users.len(), 2);
    assert_eq!(config.users[0].role(), stardust::config::Role::Tenant(1));
    assert_eq!(config.users[1].role(), stardust::config::Role::Admin);
    assert_eq!(config.watcher.idle_max_secs, 30);
    assert_eq!(config.liberator.idle_max_secs, 10);
    assert_eq!(config.liberator.chunk_size, 1000);
    assert!(
        config.reconciler.enabled,
        "an absent [reconciler] keeps its defaults"
    );
    assert_eq!(config.reconciler.idle_max_secs, 5);
    assert_eq!(config.reconciler.chunk_size, 500);
    assert_eq!(
        config.chronicler.chunk_size, 5000,
        "a [chronicler] table without chunk_size keeps the Chronicler's own default"
    );
    assert_eq!(
        config.jobs.artifact_dir,
        Path::new("/var/lib/stardust/artifacts")
    );
    assert_eq!(config.metrics_listen.as_deref(), Some("127.0.0.1:9104"));
    assert_eq!(config.statement_timeout_ms, 0);
    let docker = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stardust.docker.toml");
    Config::load(&docker).expect("the docker-compose configuration is valid");
}

/// `stardust serve --check-config --config <path>`.
fn check_config(path: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["serve", "--check-config", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn check_config_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "listen = 'nowhere'\nmetrics_listen = 'localhost'\nbackend_url = 'mysql://u:p@127.0.0.1:3306'\n[[users]]\nname = 'a'\npassword = 'p'\n\
         [[users]]\nname = 'a'\npassword = 'p'\ntenant = 1\nadmin = true\n\
         [liberator]\nidle_max_secs = 0\n",
    )
    .unwrap();
    let output = check_config(&bad);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "listen",
        "names no database",
        "either tenant",
        "used twice",
        "tenant = N",
        "[liberator] idle_max_secs = 0",
        "metrics_listen = \"localhost\"",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    let unknown = dir.path().join("unknown.toml");
    for (text, complaint) in [
        (
            "backend_url = 'mysql://u:p@h/app'\nlisten_port = 5\n",
            "unknown field `listen_port`",
        ),
        (
            "backend_url = 'mysql://u:p@h/app'\n[watcher]\nenable = false\n",
            "unknown field `enable`",
        ),
    ] {
        std::fs::write(&unknown, text).unwrap();
        let output = check_config(&unknown);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains(complaint), "{stderr}");
    }

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stardust.example.toml");
    let output = check_config(&example);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));
}

#[test]
fn version_and_help() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("stardust "));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "dev", "bootstrap"] {
        assert!(help.contains(command), "{help}");
    }
}

#[tokio::test]
async fn serve_runs_the_daemons_and_logs_ndjson_events() {
    use mysql_async::prelude::Queryable;
    use tokio::io::{AsyncBufReadExt, BufReader};
    // A dropped indexed column leaves a tombstoned slot for the served Liberator to sweep.
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_n (n INT, INDEX (n))")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_n (n) VALUES (1), (2), (3)")
        .await
        .unwrap();
    acme.query_drop("ALTER TABLE model_n DROP COLUMN n")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stardust.toml");
    let url = proxy.backend_url();
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend_url = \"{url}\"\n\n[[users]]\nname = \"ops\"\npassword = \"pw\"\nadmin = true\n"
        ),
    )
    .unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env("STARDUST_LOG_FORMAT", "json")
        .env("STARDUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // A bound on a hang, not a synchronisation: the loop ends at the event or when the process exits.
    let bound = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while let Some(line) = tokio::time::timeout_at(bound, lines.next_line())
        .await
        .expect("no sweep_complete event within two minutes")
        .unwrap()
    {
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            event["level"].is_string() && event["timestamp"].is_string(),
            "{line}"
        );
        if let Some(name) = event["event"].as_str() {
            seen.push(name.to_string());
            if name == "sweep_complete" {
                break;
            }
        }
    }
    serve.kill().await.unwrap();
    assert!(
        seen.iter().any(|e| e == "sweep_complete"),
        "the Liberator swept the slot: {seen:?}"
    );
    let mut registry = proxy.direct().await;
    let tombstoned: Option<u64> = crate::support::tombstoned(&mut registry).await;
    assert_eq!(tombstoned, Some(0));
}
