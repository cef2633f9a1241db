//! Every grammar fixture (`fixtures/grammar/**/*.sql`) runs through the proxy as a tenant login: each statement
//! succeeds, or fails with the code on the `-- error NNNN` line before it.

use std::path::Path;

use mysql_async::prelude::Queryable;

use crate::support::Proxy;

/// Statements of a fixture with the error code each expects (`None`: success).
fn statements(text: &str) -> Vec<(Option<u16>, String)> {
    let mut expected = None;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(code) = line.strip_prefix("-- error ") {
            expected = Some(code.trim().parse().expect("an error code"));
            continue;
        }
        out.push((expected.take(), line.trim_end_matches(';').to_string()));
    }
    out
}

#[tokio::test]
async fn every_ddl_fixture_behaves_as_written() {
    run_fixtures("fixtures/grammar/ddl", 10).await;
}

#[tokio::test]
async fn every_dml_fixture_behaves_as_written() {
    run_fixtures("fixtures/grammar/dml", 6).await;
}

async fn run_fixtures(folder: &str, at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= at_least, "a fixture per production");
    for file in files {
        let proxy = Proxy::start().await;
        let mut conn = proxy.tenant(1).await;
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("app_placeholder", &proxy.database);
        for (expected, sql) in statements(&text) {
            let result = conn.query_drop(&sql).await;
            match (expected, result) {
                (None, Ok(())) => {}
                (Some(code), Err(mysql_async::Error::Server(e))) if e.code == code => {}
                (expected, result) => panic!(
                    "{}: {sql}: expected {expected:?}, got {result:?}",
                    file.display()
                ),
            }
        }
    }
}
