//! `stardust dev`: a throwaway backend, bootstrapped, served on 127.0.0.1:3307, with a client prompt.

use std::io::IsTerminal;

use mysql_async::prelude::Queryable;
use tokio_util::sync::CancellationToken;

use stardust::config::{Config, User};
use stardust::embedded::Embedded;
use stardust::shutdown;

/// The documented development logins.
pub const ADMIN: (&str, &str) = ("admin", "admin");
pub const TENANT: (&str, &str) = ("acme", "acme");
const DATABASE: &str = "stardust_dev";

pub async fn run(listen: &str, no_client: bool) -> Result<(), String> {
    eprintln!("stardust dev: starting a throwaway backend from this machine's server binaries …");
    let backend = tokio::task::spawn_blocking(Embedded::start)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let backend_url = provision(&backend).await?;
    let config = dev_config(listen, backend_url.clone());
    config.validate().map_err(|e| e.to_string())?;

    let shutdown = shutdown::on_signal();
    let (listener, state) = super::prepare(config).await?;
    sample_model(&state).await?;
    let proxy = tokio::spawn(super::serve_on(listener, state, shutdown.clone()));
    let client = client_command(listen);
    println!(
        "StarDust is serving on {listen}; the backend's data lives in {} until it stops.",
        backend.directory().display()
    );
    println!("Connect as the administrator:  {}", client.join(" "));
    println!(
        "Connect as tenant 1 (acme):    {}",
        client_for(listen, TENANT).join(" ")
    );
    println!("The backend itself (bypassing the proxy): {backend_url}");
    println!("Tenant 1 has a sample model: try `DESCRIBE model_company` as acme.");
    let interactive = !no_client && std::io::stdin().is_terminal() && find_client().is_some();
    if interactive {
        run_client(&client, &shutdown).await;
    } else {
        println!("Press Ctrl-C to stop; the backend and its data are removed.");
    }
    let result = proxy.await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || backend.stop())
        .await
        .map_err(|e| e.to_string())?;
    result
}

/// The sample model tenant 1 (`acme`) starts with.
const SAMPLE: &str = "CREATE TABLE model_company (name VARCHAR(200) NOT NULL, employees INT, city VARCHAR(64), \
                      founded DATE, revenue DECIMAL(14,2), profile JSON, INDEX (name), INDEX (employees), INDEX (city))";

async fn sample_model(state: &stardust::state::State) -> Result<(), String> {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;
    let statement = Parser::parse_sql(&MySqlDialect {}, SAMPLE)
        .map_err(|e| e.to_string())?
        .remove(0);
    let target = stardust::ddl::Target {
        tenant: 1,
        database: DATABASE,
        instance: &state.instance,
    };
    stardust::ddl::execute(&state.registry, target, &statement)
        .await
        .map_err(|e| format!("creating the sample model: {e}"))?;
    Ok(())
}

/// Creates the dev database and a service account the proxy uses; returns its backend URL.
async fn provision(backend: &Embedded) -> Result<String, String> {
    let password = uuid::Uuid::new_v4().simple().to_string();
    let mut conn = mysql_async::Conn::from_url(backend.root_url())
        .await
        .map_err(|e| format!("cannot reach the throwaway backend: {e}"))?;
    for statement in [
        format!("CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4"),
        format!("CREATE USER 'stardust'@'127.0.0.1' IDENTIFIED BY '{password}'"),
        format!("GRANT ALL ON `{DATABASE}`.* TO 'stardust'@'127.0.0.1'"),
    ] {
        conn.query_drop(statement)
            .await
            .map_err(|e| e.to_string())?;
    }
    let _ = conn.disconnect().await;
    Ok(format!(
        "mysql://stardust:{password}@127.0.0.1:{}/{DATABASE}",
        backend.port()
    ))
}

fn dev_config(listen: &str, backend_url: String) -> Config {
    let login = |(name, password): (&str, &str), tenant: Option<u64>| User {
        name: name.to_string(),
        password: password.to_string(),
        tenant,
        admin: tenant.is_none(),
        allow_scan: false,
        require_tls: false,
    };
    let mut config = Config::new(&backend_url);
    config.listen = listen.to_string();
    config.users = vec![login(ADMIN, None), login(TENANT, Some(1))];
    config
}

fn find_client() -> Option<&'static str> {
    ["mariadb", "mysql"].into_iter().find(|name| {
        std::process::Command::new(name)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    })
}

fn client_command(listen: &str) -> Vec<String> {
    client_for(listen, ADMIN)
}

fn client_for(listen: &str, (user, password): (&str, &str)) -> Vec<String> {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "3307"));
    let client = find_client().unwrap_or("mariadb");
    vec![
        client.to_string(),
        format!("-h{host}"),
        format!("-P{port}"),
        format!("-u{user}"),
        format!("-p{password}"),
        DATABASE.to_string(),
    ]
}

/// Runs the client at the user's terminal; when it exits, the proxy stops.
async fn run_client(command: &[String], shutdown: &CancellationToken) {
    let status = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .status();
    tokio::select! {
        _ = status => {}
        _ = shutdown.cancelled() => {}
    }
    shutdown.cancel();
}
