//! Export jobs end to end: `CALL stardust.export` and `stardust export` submit; the Chronicler (in-process, or a
//! served binary killed with SIGKILL mid-way) writes the file; its rows are the SELECT's, byte for byte on resume.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::process::Command;

use stardust::config::Jobs;
use stardust::daemons::chronicler::Chronicler;
use stardust::daemons::Tick;

use crate::support::{code, config_for, fresh_database, server_error, texts, Proxy};

const MODEL: &str =
    "CREATE TABLE model_p (name VARCHAR(40), n INT, price DECIMAL(8,2), doc JSON, INDEX (n))";

/// Rows with commas, quotes, newlines, unicode, NULLs and JSON, through the proxy.
async fn fill(acme: &mut Conn, table: &str, rows: u64) {
    let values: Vec<String> = (1..=rows)
        .map(|i| {
            let name = match i % 5 {
                0 => format!("'a, \"quoted\" {i}'"),
                1 => format!("'line\\nbreak {i}'"),
                2 => format!("'ünïcødé {i}'"),
                3 => "NULL".to_string(),
                _ => format!("'plain {i}'"),
            };
            let doc = if i % 7 == 0 {
                "NULL".to_string()
            } else {
                format!("'{{\"i\": {i}, \"tags\": [\"x\"]}}'")
            };
            format!("({name}, {}, {}.{:02}, {doc})", i % 300, i, i % 100)
        })
        .collect();
    for chunk in values.chunks(500) {
        acme.query_drop(format!(
            "INSERT INTO {table} (name, n, price, doc) VALUES {}",
            chunk.join(", ")
        ))
        .await
        .unwrap();
    }
}

fn jobs(dir: &Path) -> Jobs {
    Jobs {
        artifact_dir: dir.join("artifacts"),
        lease_secs: 1,
        ..Jobs::default()
    }
}

/// Runs the Chronicler until it finds nothing to do.
async fn drain(proxy: &Proxy, jobs: &Jobs, page: u64) {
    let chronicler = Chronicler::new(proxy.state.backend.clone(), jobs, page);
    while chronicler.tick().await.unwrap() == Tick::Worked {}
}

async fn job_state(direct: &mut Conn, id: u64) -> (String, Option<String>, Option<String>) {
    direct
        .exec_first(
            "SELECT status, failed_reason, artifact_path FROM stardust_export_jobs WHERE id = ?",
            (id,),
        )
        .await
        .unwrap()
        .unwrap()
}

/// The values of a SELECT through the proxy, as text (NULL as None).
async fn expected(acme: &mut Conn, select: &str) -> Vec<Vec<Option<String>>> {
    texts(acme.query(select).await.unwrap())
}

fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .map(|cell| (!cell.is_empty()).then(|| cell.to_string()))
                .collect()
        })
        .collect();
    (header, rows)
}

/// JSON values against the SELECT's text: numbers compared as numbers, JSON documents as documents.
fn same_json(value: &serde_json::Value, text: &Option<String>) -> bool {
    match (value, text) {
        (serde_json::Value::Null, None) => true,
        (serde_json::Value::String(s), Some(t)) => s == t,
        (serde_json::Value::Number(n), Some(t)) => n.as_f64() == t.parse::<f64>().ok(),
        (other, Some(t)) => {
            serde_json::from_str::<serde_json::Value>(t).ok().as_ref() == Some(other)
        }
        _ => false,
    }
}

#[tokio::test]
async fn csv_and_json_exports_of_a_filtered_model_equal_the_same_select() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.jobs = jobs(dir.path());
    let proxy = Proxy::start_with(config.clone()).await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    fill(&mut acme, "model_p", 1200).await;
    let query =
        "SELECT name, price, doc, n * 2 AS twice FROM model_p WHERE n >= 100 AND name IS NOT NULL";
    acme.query_drop(format!("CALL stardust.export('{query}', 'csv')"))
        .await
        .unwrap();
    let csv_job = acme.last_insert_id().unwrap();
    acme.query_drop(format!("CALL stardust.export(\"{query}\", 'JSON')"))
        .await
        .unwrap();
    let json_job = acme.last_insert_id().unwrap();
    assert!(json_job > csv_job);
    drain(&proxy, &config.jobs, 97).await;

    acme.query_drop("SET stardust_allow_scan = 1")
        .await
        .unwrap();
    let want = expected(&mut acme, &format!("{query} ORDER BY id")).await;
    assert!(want.len() > 500, "several chunks: {}", want.len());
    let mut direct = proxy.direct().await;
    let (status, _, csv_file) = job_state(&mut direct, csv_job).await;
    assert_eq!(status, "completed");
    let bytes = std::fs::read(config.jobs.artifact_dir.join(csv_file.unwrap())).unwrap();
    let (header, rows) = csv_rows(&bytes);
    assert_eq!(header, ["name", "price", "doc", "twice"]);
    assert_eq!(rows, want);
    assert!(bytes.windows(2).any(|w| w == b"\r\n"), "CRLF line ends");

    let (status, _, json_file) = job_state(&mut direct, json_job).await;
    assert_eq!(status, "completed");
    let text = std::fs::read_to_string(config.jobs.artifact_dir.join(json_file.unwrap())).unwrap();
    let objects: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&text).unwrap();
    assert_eq!(objects.len(), want.len());
    for (object, row) in objects.iter().zip(&want) {
        let keys: Vec<&String> = object.keys().collect();
        assert_eq!(keys.len(), 4);
        for (name, value) in ["name", "price", "doc", "twice"].iter().zip(row) {
            assert!(
                same_json(&object[*name], value),
                "{name}: {:?} vs {value:?}",
                object[*name]
            );
        }
    }
    assert!(
        text.contains("\"price\":100.00"),
        "DECIMAL as the backend printed it"
    );
    let (rows, sha): (u64, String) = direct
        .exec_first(
            "SELECT row_count, artifact_sha256 FROM stardust_export_jobs WHERE id = ?",
            (json_job,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows, want.len() as u64);
    assert_eq!(sha.len(), 64);
}

#[tokio::test]
async fn export_requests_are_checked_capped_and_kept_to_their_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.jobs = Jobs {
        active_per_tenant: 2,
        ..jobs(dir.path())
    };
    let proxy = Proxy::start_with(config).await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    acme.query_drop("CREATE TABLE model_q (x INT)")
        .await
        .unwrap();
    let mut globex = proxy.tenant(2).await;
    let call = |sql: &str, format: &str| format!("CALL stardust.export('{sql}', '{format}')");
    assert_eq!(
        code(
            globex
                .query_drop(call("SELECT * FROM model_p", "csv"))
                .await
        ),
        1146,
        "tenant 2 has no model_p"
    );
    for (sql, format) in [
        ("SELECT * FROM model_p JOIN model_q", "csv"),
        ("SELECT * FROM entry_data", "csv"),
        (
            "SELECT n FROM model_p WHERE n IN (SELECT x FROM model_q)",
            "csv",
        ),
        ("SELECT n FROM model_p ORDER BY n", "csv"),
        ("SELECT COUNT(*) FROM model_p GROUP BY n", "csv"),
        ("SELECT * FROM model_p", "xml"),
    ] {
        let error = server_error(acme.query_drop(call(sql, format)).await);
        assert_eq!(error.code, 1210, "{sql}: {}", error.message);
    }
    assert_eq!(
        code(
            acme.query_drop("CALL stardust.export('SELECT * FROM model_p')")
                .await
        ),
        1235
    );
    acme.query_drop(call("SELECT * FROM model_p", "csv"))
        .await
        .unwrap();
    acme.query_drop(call("SELECT * FROM model_p", "json"))
        .await
        .unwrap();
    let capped = server_error(acme.query_drop(call("SELECT * FROM model_p", "csv")).await);
    assert_eq!(capped.code, 1210);
    assert!(
        capped.message.contains("active_per_tenant = 2"),
        "{}",
        capped.message
    );
    // Tenant 2's own cap is untouched by tenant 1's jobs.
    globex
        .query_drop("CREATE TABLE model_p (n INT)")
        .await
        .unwrap();
    globex
        .query_drop(call("SELECT * FROM model_p", "csv"))
        .await
        .unwrap();
    let seen: Vec<(u64, String)> = globex
        .query("SELECT tenant_id, kind FROM stardust.jobs WHERE kind = 'export'")
        .await
        .unwrap();
    assert_eq!(
        seen,
        vec![(2, "export".to_string())],
        "a tenant sees only its own jobs"
    );
}

/// A small file system of its own (tmpfs), to fill up: mounted for the test, unmounted after.
struct Tiny(PathBuf);

impl Tiny {
    fn mount(at: &Path, kib: u64) -> Tiny {
        std::fs::create_dir_all(at).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount");
        assert!(
            status.success(),
            "the disk-full test mounts a small tmpfs (it runs as root, as CI does)"
        );
        Tiny(at.to_path_buf())
    }
}

impl Drop for Tiny {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".stardust.lock")
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn size_cap_disk_full_low_disk_and_ttl_end_in_their_documented_states() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    fill(&mut acme, "model_p", 3000).await;
    let mut direct = proxy.direct().await;
    let submit = async |acme: &mut Conn| {
        acme.query_drop("CALL stardust.export('SELECT * FROM model_p', 'csv')")
            .await
            .unwrap();
        acme.last_insert_id().unwrap()
    };

    // The size cap: the job fails, and neither a partial nor a final file is left.
    let capped = Jobs {
        artifact_max_bytes: 10_000,
        ..jobs(dir.path())
    };
    let job = submit(&mut acme).await;
    drain(&proxy, &capped, 500).await;
    assert_eq!(
        job_state(&mut direct, job).await,
        (
            "failed".to_string(),
            Some("artifact_size_exceeded".to_string()),
            None
        )
    );
    assert_eq!(files(&capped.artifact_dir), Vec::<String>::new());

    // A full disk: the same.
    let tiny = Tiny::mount(&dir.path().join("tiny"), 64);
    let full = Jobs {
        artifact_dir: tiny.0.clone(),
        ..jobs(dir.path())
    };
    let job = submit(&mut acme).await;
    drain(&proxy, &full, 500).await;
    assert_eq!(
        job_state(&mut direct, job).await,
        ("failed".to_string(), Some("disk_full".to_string()), None)
    );
    assert_eq!(files(&full.artifact_dir), Vec::<String>::new());
    drop(tiny);

    // Below the free-disk threshold nothing starts (100% can never be free).
    let low = Jobs {
        low_disk_percent: 100,
        ..jobs(dir.path())
    };
    let job = submit(&mut acme).await;
    let chronicler = Chronicler::new(proxy.state.backend.clone(), &low, 500);
    assert_eq!(chronicler.tick().await.unwrap(), Tick::Idle);
    assert_eq!(job_state(&mut direct, job).await.0, "pending");

    // Past its TTL a finished file is removed and the row forgets it.
    let ttl = Jobs {
        artifact_ttl_secs: 0,
        ..jobs(dir.path())
    };
    drain(&proxy, &ttl, 500).await;
    let (status, _, file) = job_state(&mut direct, job).await;
    assert_eq!(status, "completed");
    let file = ttl.artifact_dir.join(file.unwrap());
    assert!(file.exists());
    let chronicler = Chronicler::new(proxy.state.backend.clone(), &ttl, 500);
    let bound = tokio::time::Instant::now() + Duration::from_secs(30);
    while job_state(&mut direct, job).await.2.is_some() {
        assert!(
            tokio::time::Instant::now() < bound,
            "the expired file was never collected"
        );
        assert_eq!(chronicler.tick().await.unwrap(), Tick::Idle);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!file.exists());
}

#[tokio::test]
async fn two_workers_share_the_queue_and_tenants_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(dir.path());
    let proxy = Proxy::start().await;
    let second = Proxy::start_with(config_for(&proxy.database)).await;
    let mut acme = proxy.tenant(1).await;
    let mut globex = proxy.tenant(2).await;
    for conn in [&mut acme, &mut globex] {
        conn.query_drop(MODEL).await.unwrap();
        fill(conn, "model_p", 700).await;
    }
    let mut ids = Vec::new();
    for tenant in [1, 1, 1, 2] {
        let conn = if tenant == 1 { &mut acme } else { &mut globex };
        conn.query_drop("CALL stardust.export('SELECT name, n FROM model_p WHERE n < 150', 'csv')")
            .await
            .unwrap();
        ids.push(conn.last_insert_id().unwrap());
    }
    let mut direct = proxy.direct().await;
    // One worker: tenant 2's job comes second, before tenant 1's other two.
    let here = Chronicler::new(proxy.state.backend.clone(), &jobs, 100);
    assert_eq!(here.tick().await.unwrap(), Tick::Worked);
    assert_eq!(here.tick().await.unwrap(), Tick::Worked);
    let done: Vec<u64> = direct
        .query("SELECT id FROM stardust_export_jobs WHERE status = 'completed' ORDER BY id")
        .await
        .unwrap();
    assert_eq!(done, vec![ids[0], ids[3]]);
    // Two workers on two instances: each takes one of the two left.
    let there = Chronicler::new(second.state.backend.clone(), &jobs, 100);
    let (a, b) = tokio::join!(here.tick(), there.tick());
    assert_eq!((a.unwrap(), b.unwrap()), (Tick::Worked, Tick::Worked));
    let want = expected(
        &mut acme,
        "SELECT name, n FROM model_p WHERE n < 150 ORDER BY id",
    )
    .await;
    for id in &ids[..3] {
        let (status, _, file) = job_state(&mut direct, *id).await;
        assert_eq!(status, "completed");
        let (_, rows) = csv_rows(&std::fs::read(jobs.artifact_dir.join(file.unwrap())).unwrap());
        assert_eq!(rows, want, "job {id}");
    }
    let claimed: Vec<String> = direct
        .query("SELECT DISTINCT worker_identity FROM stardust_export_jobs")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4, "one claim per job");
}

fn config_file(proxy: &Proxy, dir: &Path) -> PathBuf {
    let path = dir.join("stardust.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend_url = \"{}\"\n\n[[users]]\nname = \"ops\"\npassword = \"pw\"\nadmin = true\n\n\
             [chronicler]\nchunk_size = 200\nidle_max_secs = 1\n\n[jobs]\nartifact_dir = \"{}\"\nlease_secs = 1\n",
            proxy.backend_url(),
            dir.join("artifacts").display()
        ),
    )
    .unwrap();
    path
}

fn serve(config: &Path) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("STARDUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn cursor(direct: &mut Conn, id: u64) -> (String, u64) {
    direct
        .exec_first(
            "SELECT status, COALESCE(last_cursor, 0) FROM stardust_export_jobs WHERE id = ?",
            (id,),
        )
        .await
        .unwrap()
        .unwrap()
}

/// A served binary killed with SIGKILL mid-export, restarted: the file is byte-identical to an uninterrupted
/// export of the same query, and `stardust export --wait --output` hands it over.
#[tokio::test]
async fn an_export_killed_mid_way_resumes_to_a_byte_identical_file() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    fill(&mut acme, "model_p", 20_000).await;
    let config = config_file(&proxy, dir.path());
    let query = "SELECT name, price, doc FROM model_p WHERE n >= 10";
    let submitted = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["export", "--config"])
        .arg(&config)
        .args(["--tenant", "1", "--format", "json", query])
        .output()
        .await
        .unwrap();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let job: serde_json::Value = serde_json::from_slice(&submitted.stdout).unwrap();
    let job = job["job"].as_u64().unwrap();

    let mut direct = proxy.direct().await;
    let mut first = serve(&config);
    let bound = tokio::time::Instant::now() + Duration::from_secs(120);
    while cursor(&mut direct, job).await.1 < 2_000 {
        assert!(
            tokio::time::Instant::now() < bound,
            "the export never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().await.unwrap();
    let (status, at_kill) = cursor(&mut direct, job).await;
    assert_eq!(status, "processing");
    assert!(at_kill < 20_000, "killed mid-way, at {at_kill}");
    let artifacts = dir.path().join("artifacts");
    assert!(
        files(&artifacts).iter().any(|f| f.ends_with(".partial")),
        "the killed claim left its partial file to resume from: {:?}",
        files(&artifacts)
    );
    assert!(
        files(&artifacts).iter().all(|f| f.starts_with('.')),
        "no file under a final name yet: {:?}",
        files(&artifacts)
    );

    let output = dir.path().join("out.json");
    let _restarted = serve(&config);
    let waited = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(["export", "--config"])
        .arg(&config)
        .args(["--tenant", "1", "--format", "json", "--wait", "--output"])
        .arg(&output)
        .arg(query)
        .output()
        .await
        .unwrap();
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let bound = tokio::time::Instant::now() + Duration::from_secs(300);
    while cursor(&mut direct, job).await.0 != "completed" {
        assert!(
            tokio::time::Instant::now() < bound,
            "the resumed export never completed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(_restarted);
    let (_, _, resumed) = job_state(&mut direct, job).await;
    let resumed = std::fs::read(artifacts.join(resumed.unwrap())).unwrap();
    let uninterrupted = std::fs::read(&output).unwrap();
    assert_eq!(resumed.len(), uninterrupted.len());
    assert!(
        resumed == uninterrupted,
        "byte-identical to an export that was never interrupted"
    );
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&resumed).unwrap();
    let want = expected(&mut acme, &format!("{query} ORDER BY id")).await;
    assert_eq!(objects.len(), want.len());
}

/// A finished export whose file was altered or lost is reported by `verify` and failed by start-up repair:
/// it is never served.
#[tokio::test]
async fn a_finished_export_whose_file_is_not_intact_is_failed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(dir.path());
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    fill(&mut acme, "model_p", 50).await;
    acme.query_drop("CALL stardust.export('SELECT n FROM model_p', 'csv')")
        .await
        .unwrap();
    let job = acme.last_insert_id().unwrap();
    drain(&proxy, &jobs, 500).await;
    let mut direct = proxy.direct().await;
    let (status, _, file) = job_state(&mut direct, job).await;
    assert_eq!(status, "completed");
    let path = jobs.artifact_dir.join(file.unwrap());
    let mut text = std::fs::read(&path).unwrap();
    text[10] ^= 1;
    std::fs::write(&path, text).unwrap();
    let report = stardust::jobs::repair::inspect(&proxy.state.backend, &jobs.artifact_dir)
        .await
        .unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(
        (report.problems[0].kind, report.problems[0].reason),
        ("export", "artifact_corrupt")
    );
    stardust::jobs::repair::repair(&proxy.state.backend, &jobs.artifact_dir)
        .await
        .unwrap();
    assert_eq!(
        job_state(&mut direct, job).await,
        (
            "failed".to_string(),
            Some("artifact_corrupt".to_string()),
            None
        )
    );
}
