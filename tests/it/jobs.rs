//! Import jobs end to end: `stardust import` writes the artifact and submits the job; the Reconciler's importer
//! (in-process, or a served binary killed with SIGKILL mid-way) loads it through the INSERT write path.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::process::Command;

use stardust::daemons::importer::Importer;
use stardust::daemons::Tick;

use crate::support::{no_drift, texts, Proxy};

/// A configuration file for the binary: this proxy's database, an admin login, `artifact_dir`, and `extra`.
fn config_file(proxy: &Proxy, dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("stardust.toml");
    let artifacts = dir.join("artifacts");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend_url = \"{}\"\n{extra}\n[[users]]\nname = \"ops\"\npassword = \"pw\"\n\
             admin = true\n\n[jobs]\nartifact_dir = \"{}\"\nlease_secs = 1\n",
            proxy.backend_url(),
            artifacts.display()
        ),
    )
    .unwrap();
    path
}

async fn stardust(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stardust"))
        .args(args)
        .env("STARDUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

/// `stardust import --config … --tenant 1 --model NAME [more] FILE`, which must succeed; its stdout.
async fn import(config: &Path, model: &str, file: &Path, more: &[&str]) -> serde_json::Value {
    let config = config.to_string_lossy();
    let file = file.to_string_lossy();
    let mut args = vec![
        "import", "--config", &config, "--tenant", "1", "--model", model,
    ];
    args.extend_from_slice(more);
    args.push(&file);
    let output = stardust(&args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs the importer until it finds no job.
async fn drain(proxy: &Proxy, dir: &Path) {
    let importer = Importer::new(proxy.state.backend.clone(), &dir.join("artifacts"), 30, 500);
    while importer.tick().await.unwrap() == Tick::Worked {}
}

const MODEL: &str =
    "CREATE TABLE model_p (name VARCHAR(20), n INT, price DECIMAL(8,2), at DATETIME, \
                     INDEX (n), INDEX (name))";

#[tokio::test]
async fn an_import_loads_good_rows_like_insert_and_dead_letters_bad_ones_with_their_row_numbers() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    acme.query_drop(MODEL.replace("model_p", "model_q"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&proxy, dir.path(), "");
    let input = dir.path().join("rows.ndjson");
    std::fs::write(
        &input,
        "{\"name\":\"a\",\"n\":1,\"price\":\"1.50\",\"at\":\"2024-01-02 03:04:05\"}\n\
         {\"name\":\"b\",\"n\":\"2\",\"price\":2.25,\"at\":null}\n\
         not json\n\
         {\"name\":\"c\",\"n\":\"abc\"}\n\
         \n\
         {\"name\":\"d\",\"nope\":1}\n\
         {\"name\":\"e\",\"n\":5}\n",
    )
    .unwrap();
    let output = stardust(&[
        "import",
        "--config",
        &config.to_string_lossy(),
        "--tenant",
        "1",
        "--model",
        "p",
        &input.to_string_lossy(),
    ])
    .await;
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("import: reading: 6 rows"),
        "a plain progress line where stderr is not a terminal: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let submitted: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let job = submitted["job"].as_i64().unwrap();
    assert_eq!(submitted["submitted"], true);
    let mut direct = proxy.direct().await;
    let pending: Option<(String, u64)> = direct
        .exec_first(
            "SELECT status, entry_count FROM stardust_import_jobs WHERE id = ?",
            (job,),
        )
        .await
        .unwrap();
    assert_eq!(pending, Some(("pending".to_string(), 6)));
    drain(&proxy, dir.path()).await;

    // The same rows as a client's multi-row INSERT: the same coercion, the same stored values.
    acme.query_drop(
        "INSERT INTO model_q (name, n, price, at) VALUES ('a', 1, '1.50', '2024-01-02 03:04:05'), ('b', '2', 2.25, NULL)",
    )
    .await
    .unwrap();
    acme.query_drop("INSERT INTO model_q (name, n) VALUES ('e', 5)")
        .await
        .unwrap();
    let select = "SELECT name, n, price, at FROM {} ORDER BY id";
    let loaded = texts(acme.query(select.replace("{}", "model_p")).await.unwrap());
    let inserted = texts(acme.query(select.replace("{}", "model_q")).await.unwrap());
    assert_eq!(loaded.len(), 3);
    assert_eq!(loaded, inserted);
    // Filters read the slots the import wrote.
    let found: Option<String> = acme
        .query_first("SELECT name FROM model_p WHERE n = 2")
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("b"));

    let dead: Vec<(String, String)> = direct
        .query(
            "SELECT reason, error_message FROM stardust_reconciler_dlq WHERE source = 'bulk_import' ORDER BY id",
        )
        .await
        .unwrap();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(dead[0].0, "malformed_json");
    assert!(
        dead[0].1.contains(&format!("import job {job} row 3:")),
        "{dead:?}"
    );
    assert_eq!(dead[1].0, "schema_incompatibility");
    assert!(
        dead[1].1.contains("row 4:") && dead[1].1.contains("Incorrect integer value"),
        "{dead:?}"
    );
    assert!(
        !dead[1].1.contains("stardust_shadow"),
        "the model's name, not the shadow's: {dead:?}"
    );
    assert!(
        dead[2].1.contains("row 5:") && dead[2].1.contains("nope"),
        "{dead:?}"
    );

    let list = stardust(&[
        "jobs",
        "--config",
        &config.to_string_lossy(),
        "--tenant",
        "1",
    ])
    .await;
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success());
    assert!(
        listed.contains(&format!("{job}\timport\tcompleted\t6\t6\t3\t-")),
        "{listed}"
    );
    let other = stardust(&[
        "jobs",
        "--config",
        &config.to_string_lossy(),
        "--tenant",
        "2",
    ])
    .await;
    assert!(
        !String::from_utf8_lossy(&other.stdout).contains("import"),
        "tenant 2 sees none of tenant 1's jobs"
    );
    let waited = stardust(&[
        "jobs",
        "--config",
        &config.to_string_lossy(),
        "--tenant",
        "2",
        "--wait",
        &job.to_string(),
    ])
    .await;
    assert!(!waited.status.success());
    assert!(String::from_utf8_lossy(&waited.stderr).contains("tenant 2 has no import job"));
    assert!(
        std::fs::read_dir(dir.path().join("artifacts"))
            .unwrap()
            .all(|e| e.unwrap().file_name().to_string_lossy().starts_with('.')),
        "a finished import's artifact is removed"
    );
    no_drift(&proxy.state.backend).await;
}

#[tokio::test]
async fn csv_and_json_arrays_load_the_same_rows_as_ndjson() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    for model in ["model_p", "model_c", "model_j"] {
        acme.query_drop(MODEL.replace("model_p", model))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&proxy, dir.path(), "");
    let ndjson = dir.path().join("rows.ndjson");
    std::fs::write(
        &ndjson,
        "{\"name\":\"x, \\\"y\\\"\",\"n\":\"7\",\"price\":\"3.10\",\"at\":\"2020-02-29 00:00:00\"}\n\
         {\"name\":\"z\",\"n\":null,\"price\":null,\"at\":null}\n",
    )
    .unwrap();
    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        "name,n,price,at\r\n\"x, \"\"y\"\"\",7,3.10,2020-02-29 00:00:00\r\nz,,,\r\n",
    )
    .unwrap();
    let json = dir.path().join("rows.json");
    std::fs::write(
        &json,
        "[{\"name\":\"x, \\\"y\\\"\",\"n\":7,\"price\":3.1,\"at\":\"2020-02-29 00:00:00\"},\n {\"name\":\"z\"}]",
    )
    .unwrap();
    import(&config, "p", &ndjson, &[]).await;
    import(&config, "model_c", &csv, &[]).await;
    import(&config, "j", &json, &["--format", "json"]).await;
    drain(&proxy, dir.path()).await;
    let select = "SELECT name, n, price, at FROM {} ORDER BY id";
    let expected = texts(acme.query(select.replace("{}", "model_p")).await.unwrap());
    assert_eq!(expected.len(), 2);
    assert_eq!(expected[0][0].as_deref(), Some("x, \"y\""));
    for model in ["model_c", "model_j"] {
        assert_eq!(
            texts(acme.query(select.replace("{}", model)).await.unwrap()),
            expected,
            "{model}"
        );
    }
}

#[tokio::test]
async fn the_same_idempotency_key_imports_once_and_bad_commands_fail_clearly() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&proxy, dir.path(), "");
    let input = dir.path().join("rows.ndjson");
    std::fs::write(&input, "{\"name\":\"a\"}\n{\"name\":\"b\"}\n").unwrap();
    let key = ["--idempotency-key", "nightly-2024-01-02"];
    let first = import(&config, "p", &input, &key).await;
    drain(&proxy, dir.path()).await;
    let again = import(&config, "p", &input, &key).await;
    assert_eq!(again["job"], first["job"]);
    assert_eq!(again["submitted"], false);
    drain(&proxy, dir.path()).await;
    let count: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_p")
        .await
        .unwrap();
    assert_eq!(count, Some(2), "imported once");
    let jobs: Option<u64> = proxy
        .direct()
        .await
        .query_first("SELECT COUNT(*) FROM stardust_import_jobs")
        .await
        .unwrap();
    assert_eq!(jobs, Some(1));

    let config = config.to_string_lossy();
    let input = input.to_string_lossy();
    let base = ["import", "--config", &config, "--tenant", "1"];
    for (more, complaint) in [
        (
            vec!["--model", "nothing", &input],
            "tenant 1 has no model `nothing`",
        ),
        (
            vec!["--model", "p", "/no/such/file.ndjson"],
            "cannot open /no/such/file.ndjson",
        ),
        (
            vec!["--model", "p", "--format", "xml", &input],
            "invalid value 'xml'",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(more);
        let output = stardust(&args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(complaint), "{complaint} in {stderr}");
    }
    // Cancelling: only the tenant's own unfinished job, once.
    let pending = import(Path::new(&*config), "p", Path::new(&*input), &[]).await["job"]
        .as_i64()
        .unwrap()
        .to_string();
    let cancel = |tenant: &'static str| {
        let (config, pending) = (config.to_string(), pending.clone());
        async move {
            stardust(&[
                "jobs", "--config", &config, "--tenant", tenant, "--cancel", &pending,
            ])
            .await
        }
    };
    let other = cancel("2").await;
    assert!(
        !other.status.success(),
        "tenant 2 cannot cancel tenant 1's job"
    );
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("tenant 2 has no unfinished import job")
    );
    assert!(cancel("1").await.status.success());
    assert!(
        !cancel("1").await.status.success(),
        "a finished job cannot be cancelled"
    );
    drain(&proxy, dir.path()).await;
    let state: Option<(String, String)> = proxy
        .direct()
        .await
        .query_first(
            "SELECT status, failed_reason FROM stardust_import_jobs ORDER BY id DESC LIMIT 1",
        )
        .await
        .unwrap();
    assert_eq!(state, Some(("failed".to_string(), "cancelled".to_string())));
    let count: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_p")
        .await
        .unwrap();
    assert_eq!(count, Some(2), "a cancelled import loads nothing");
    assert!(
        std::fs::read_dir(dir.path().join("artifacts"))
            .unwrap()
            .all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("import_")),
        "its payload is removed"
    );

    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "\n").unwrap();
    let mut args = base.to_vec();
    let empty = empty.to_string_lossy();
    args.extend(["--model", "p", &empty]);
    let output = stardust(&args).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds no rows"));
}

#[tokio::test]
async fn two_workers_share_the_queue_and_load_every_job_once() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&proxy, dir.path(), "");
    for job in 0..4 {
        let input = dir.path().join(format!("rows{job}.ndjson"));
        let rows: String = (0..300)
            .map(|i| format!("{{\"n\":{}}}\n", job * 1000 + i))
            .collect();
        std::fs::write(&input, rows).unwrap();
        import(&config, "p", &input, &[]).await;
    }
    let second = Proxy::start_with(crate::support::config_for(&proxy.database)).await;
    let artifacts = dir.path().join("artifacts");
    let here = Importer::new(proxy.state.backend.clone(), &artifacts, 30, 100);
    let there = Importer::new(second.state.backend.clone(), &artifacts, 30, 100);
    let (a, b) = tokio::join!(here.tick(), there.tick());
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        (Tick::Worked, Tick::Worked),
        "each claimed a job"
    );
    loop {
        let (a, b) = tokio::join!(here.tick(), there.tick());
        if (a.unwrap(), b.unwrap()) == (Tick::Idle, Tick::Idle) {
            break;
        }
    }
    let (count, distinct): (u64, u64) = acme
        .query_first("SELECT COUNT(*), COUNT(DISTINCT n) FROM model_p")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((count, distinct), (1200, 1200));
    let done: Vec<(String, u64)> = proxy
        .direct()
        .await
        .query("SELECT status, CAST(JSON_EXTRACT(manifest, '$.chunks') AS UNSIGNED) FROM stardust_import_jobs ORDER BY id")
        .await
        .unwrap();
    assert_eq!(done, vec![("completed".to_string(), 3); 4]);
}

#[tokio::test]
async fn start_up_repair_fails_jobs_whose_artifacts_are_gone_and_sweeps_dead_temp_files() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&proxy, dir.path(), "");
    let input = dir.path().join("rows.ndjson");
    std::fs::write(&input, "{\"n\":1}\n").unwrap();
    let gone = import(&config, "p", &input, &[]).await["job"]
        .as_i64()
        .unwrap();
    let altered = import(&config, "p", &input, &[]).await["job"]
        .as_i64()
        .unwrap();
    let kept = import(&config, "p", &input, &[]).await["job"]
        .as_i64()
        .unwrap();
    let artifacts = dir.path().join("artifacts");
    let mut direct = proxy.direct().await;
    std::fs::remove_file(artifacts.join(artifact_of(&mut direct, gone).await)).unwrap();
    std::fs::write(
        artifacts.join(artifact_of(&mut direct, altered).await),
        "{\"n\":2}\n",
    )
    .unwrap();
    // A temp file whose writer (pid 4294967295 cannot exist) is gone.
    let temp = artifacts.join(".import_1_x.ndjson.4294967295.abc.tmp");
    std::fs::write(&temp, "{\"n\":").unwrap();

    let verify = stardust(&["verify", "--config", &config.to_string_lossy()]).await;
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        !verify.status.success(),
        "verify reports broken artifacts: {report}"
    );
    assert!(
        report.contains("artifact_missing") && report.contains("artifact_corrupt"),
        "{report}"
    );

    let (report, swept) = stardust::jobs::repair::repair(&proxy.state.backend, &artifacts)
        .await
        .unwrap();
    assert_eq!(report.problems.len(), 2, "{report:?}");
    assert_eq!(swept.temps.len(), 1);
    assert!(!temp.exists());
    let states: Vec<(i64, String, Option<String>)> = direct
        .query("SELECT id, status, failed_reason FROM stardust_import_jobs ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![
            (
                gone,
                "failed".to_string(),
                Some("artifact_missing".to_string())
            ),
            (
                altered,
                "failed".to_string(),
                Some("artifact_corrupt".to_string())
            ),
            (kept, "pending".to_string(), None),
        ]
    );
    drain(&proxy, dir.path()).await;
    let count: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_p")
        .await
        .unwrap();
    assert_eq!(count, Some(1), "only the intact job loads");
}

async fn artifact_of(direct: &mut Conn, job: i64) -> String {
    let name: Option<String> = direct
        .exec_first(
            "SELECT artifact_path FROM stardust_import_jobs WHERE id = ?",
            (job,),
        )
        .await
        .unwrap();
    name.unwrap()
}

/// A served binary, killed with SIGKILL in the middle of an import, restarted: every row is loaded exactly once.
#[tokio::test]
async fn an_import_killed_mid_way_completes_exactly_once_after_a_restart() {
    const ROWS: u64 = 20_000;
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_big (seq INT, name VARCHAR(20), INDEX (seq))")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        &proxy,
        dir.path(),
        "[reconciler]\nchunk_size = 100\nidle_max_secs = 1\n",
    );
    let input = dir.path().join("big.ndjson");
    let rows: String = (1..=ROWS)
        .map(|i| format!("{{\"seq\":{i},\"name\":\"n{i}\"}}\n"))
        .collect();
    std::fs::write(&input, rows).unwrap();
    let job = import(&config, "big", &input, &[]).await["job"]
        .as_i64()
        .unwrap();

    let mut direct = proxy.direct().await;
    let mut first = serve(&config);
    // Poll the job row until some chunks are in, then kill the process mid-way.
    let bound = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, written) = progress(&mut direct, job).await;
        if written >= 500 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < bound,
            "the import never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().await.unwrap();
    let (status, at_kill) = progress(&mut direct, job).await;
    assert_eq!(status, "processing");
    assert!(
        at_kill > 0 && at_kill < ROWS,
        "killed mid-way, at {at_kill}"
    );
    let loaded: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_big")
        .await
        .unwrap();
    assert_eq!(
        loaded,
        Some(at_kill),
        "the checkpoint and the rows commit together"
    );

    let mut restarted = serve(&config);
    // `stardust jobs --wait` follows the resumed job to its end (plain progress lines: stderr is not a terminal).
    let waited = tokio::time::timeout(
        Duration::from_secs(300),
        stardust(&[
            "jobs",
            "--config",
            &config.to_string_lossy(),
            "--tenant",
            "1",
            "--wait",
            &job.to_string(),
        ]),
    )
    .await
    .expect("the import never completed");
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let finished: serde_json::Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(finished["status"], "completed");
    assert_eq!(finished["done"], ROWS);
    assert!(
        String::from_utf8_lossy(&waited.stderr).contains(&format!("import: loading: {ROWS} rows")),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    assert_eq!(progress(&mut direct, job).await.0, "completed");
    restarted.kill().await.unwrap();
    let (count, distinct, min, max): (u64, u64, u64, u64) = acme
        .query_first("SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM model_big")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((count, distinct, min, max), (ROWS, ROWS, 1, ROWS));
    no_drift(&proxy.state.backend).await;
}

async fn progress(direct: &mut Conn, job: i64) -> (String, u64) {
    direct
        .exec_first(
            "SELECT status, CAST(COALESCE(JSON_EXTRACT(manifest, '$.entries_written'), 0) AS UNSIGNED) \
             FROM stardust_import_jobs WHERE id = ?",
            (job,),
        )
        .await
        .unwrap()
        .unwrap()
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

#[tokio::test]
async fn a_tenant_cancels_its_own_jobs_in_sql_and_sees_why_in_stardust_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::support::fresh_database().await;
    let mut served = crate::support::config_for(&database);
    served.jobs.artifact_dir = dir.path().join("artifacts");
    let proxy = Proxy::start_with(served).await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(MODEL).await.unwrap();
    let mut globex = proxy.tenant(2).await;
    let config = config_file(&proxy, dir.path(), "");
    let input = dir.path().join("rows.ndjson");
    std::fs::write(&input, "{\"name\":\"a\"}\n{\"name\":\"b\"}\n").unwrap();
    let job = import(&config, "p", &input, &[]).await["job"]
        .as_i64()
        .unwrap();
    let payloads = || {
        std::fs::read_dir(dir.path().join("artifacts"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("import_")
            })
            .count()
    };
    assert_eq!(payloads(), 1);

    // Another tenant's job, a kind that is not one, and a malformed call: precise errors, the session goes on.
    let other = crate::support::server_error(
        globex
            .query_drop(format!("CALL stardust.cancel_job({job})"))
            .await,
    );
    assert_eq!(other.code, 1210);
    assert!(
        other
            .message
            .contains(&format!("tenant 2 has no unfinished import job {job}")),
        "{}",
        other.message
    );
    let kind = crate::support::server_error(
        acme.query_drop(format!("CALL stardust.cancel_job({job}, 'backfill')"))
            .await,
    );
    assert_eq!(kind.code, 1210);
    assert!(
        kind.message.contains("'import' or an 'export'"),
        "{}",
        kind.message
    );
    assert_eq!(
        crate::support::code(acme.query_drop("CALL stardust.cancel_job('x')").await),
        1235
    );

    acme.query_drop(format!("CALL stardust.cancel_job({job})"))
        .await
        .unwrap();
    assert_eq!(acme.affected_rows(), 1);
    assert_eq!(payloads(), 0, "the cancelled import's payload is removed");
    let again = crate::support::server_error(
        acme.query_drop(format!("CALL stardust.cancel_job({job}, 'import')"))
            .await,
    );
    assert_eq!(again.code, 1210, "a finished job cannot be cancelled");

    // An export, cancelled by its kind; both show their reason in stardust.jobs, to their tenant only.
    acme.query_drop("CALL stardust.export('SELECT name FROM model_p', 'csv')")
        .await
        .unwrap();
    let export = acme.last_insert_id().unwrap();
    acme.query_drop(format!("CALL stardust.cancel_job({export}, 'EXPORT')"))
        .await
        .unwrap();
    drain(&proxy, dir.path()).await;
    let seen: Vec<(String, i64, String, Option<String>)> = acme
        .query("SELECT kind, id, status, failed_reason FROM stardust.jobs WHERE kind <> 'backfill' ORDER BY kind")
        .await
        .unwrap();
    assert_eq!(
        seen,
        vec![
            (
                "export".to_string(),
                export as i64,
                "failed".to_string(),
                Some("cancelled".to_string())
            ),
            (
                "import".to_string(),
                job,
                "failed".to_string(),
                Some("cancelled".to_string())
            ),
        ]
    );
    let count: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_p")
        .await
        .unwrap();
    assert_eq!(count, Some(0), "a cancelled import loads nothing");
    let theirs: Vec<(String, Option<String>)> = globex
        .query("SELECT kind, failed_reason FROM stardust.jobs")
        .await
        .unwrap();
    assert!(theirs.is_empty(), "{theirs:?}");
}
