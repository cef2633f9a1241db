//! TLS on the client side: the proxy offers it when `tls_cert` and `tls_key` are set, clients verify its
//! certificate, a `require_tls` login is refused without it, and everything else works over it as without.

use std::path::Path;

use crate::support::{config_for, fresh_database, Proxy};

/// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl command.
fn certificate(dir: &Path) -> (String, String) {
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            &key,
            "-out",
            &cert,
        ])
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// A proxy offering TLS, with one more tenant-1 login that requires it.
async fn tls_proxy(dir: &Path) -> (Proxy, String) {
    let (cert, key) = certificate(dir);
    let mut config = config_for(&fresh_database().await);
    config.tls_cert = Some(cert.clone());
    config.tls_key = Some(key);
    let mut secure = config.users[1].clone();
    secure.name = "careful".to_string();
    secure.require_tls = true;
    config.users.push(secure);
    config.validate().expect("a valid configuration");
    (Proxy::start_with(config).await, cert)
}

async fn mariadb(proxy: &Proxy, user: &str, tls: &[String], sql: &str) -> (bool, String, String) {
    let output = tokio::process::Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "--batch"])
        .arg(format!("-P{}", proxy.address.port()))
        .arg(format!("-u{user}"))
        .arg("-pacme-pw")
        .args(tls)
        .arg(&proxy.database)
        .args(["-e", sql])
        .output()
        .await
        .expect("the mariadb client runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[tokio::test]
async fn the_mariadb_cli_connects_over_tls_and_require_tls_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (proxy, cert) = tls_proxy(dir.path()).await;
    let verified = vec![
        "--ssl".to_string(),
        format!("--ssl-ca={cert}"),
        "--ssl-verify-server-cert".to_string(),
    ];
    let (ok, out, err) = mariadb(
        &proxy,
        "careful",
        &verified,
        "CREATE TABLE model_note (body VARCHAR(40), INDEX (body)); \
         INSERT INTO model_note (body) VALUES ('over tls'); SELECT body FROM model_note",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "body\nover tls\n");
    // Without TLS the login that requires it is refused as a wrong password is; others still connect.
    let plain = vec!["--skip-ssl".to_string()];
    let (ok, _, err) = mariadb(&proxy, "careful", &plain, "SELECT 1").await;
    assert!(!ok);
    assert!(err.contains("ERROR 1045 (28000)"), "{err}");
    let (ok, out, err) = mariadb(&proxy, "acme", &plain, "SELECT body FROM model_note").await;
    assert!(ok, "{err}");
    assert_eq!(out, "body\nover tls\n");
}

#[tokio::test]
async fn python_drivers_connect_over_tls_with_the_certificate_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (proxy, cert) = tls_proxy(dir.path()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/tls.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([
            "127.0.0.1",
            &proxy.address.port().to_string(),
            "careful",
            "acme-pw",
        ])
        .args([proxy.database.as_str(), cert.as_str()])
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(r#""pymysql": {"rows": ["a", "b"], "tls": "TLSv1.3"}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""connector": {"rows": ["b"], "tls": "TLSv1.3"}"#),
        "{stdout}"
    );
}

#[test]
fn a_missing_key_or_a_bad_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for("app");
    config.tls_cert = Some(dir.path().join("missing.pem").display().to_string());
    let problems = config.validate().unwrap_err().to_string();
    assert!(
        problems.contains("tls_cert is set without tls_key"),
        "{problems}"
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    config.tls_key = Some(garbage.display().to_string());
    config.tls_cert = Some(garbage.display().to_string());
    let Err(error) = stardust::protocol::tls_acceptor(&config) else {
        panic!("a file with no certificate is refused");
    };
    let error = error.to_string();
    assert!(
        error.starts_with("tls_cert ") && error.contains("garbage.pem"),
        "{error}"
    );
    let mut unoffered = config_for("app");
    unoffered.users[1].require_tls = true;
    let problems = unoffered.validate().unwrap_err().to_string();
    assert!(
        problems.contains("require_tls = true, but the proxy offers no TLS"),
        "{problems}"
    );
}
