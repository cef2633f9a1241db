//! The command line: `serve`, `dev`, `bootstrap`, and their options. The only place that prints to stdout.
#![allow(clippy::print_stdout)]

mod dev;
mod export;
mod import;
mod jobs;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use stardust::backend::Backend;
use stardust::config::Config;
use stardust::state::State;
use stardust::{server, shutdown};

#[derive(Parser)]
#[command(
    name = "stardust",
    version,
    about = "A MySQL proxy that gives multi-tenant apps user-defined fields at native index speed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MySQL clients from a configured backend (bootstraps the schema first).
    Serve {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Overrides `listen` (and STARDUST_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// Overrides `backend_url` (and STARDUST_BACKEND_URL).
        #[arg(long)]
        backend_url: Option<String>,
        /// Validate the configuration, report every problem, and exit.
        #[arg(long)]
        check_config: bool,
    },
    /// Start a throwaway local backend, bootstrap it, serve on 127.0.0.1:3307 and open a client prompt.
    Dev {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:3307")]
        listen: String,
        /// Serve only; do not start the `mariadb`/`mysql` client.
        #[arg(long)]
        no_client: bool,
    },
    /// Check every live slot against the JSON payload (read-only); prints a JSON report, exits 1 on drift.
    Verify {
        #[command(flatten)]
        target: Target,
    },
    /// Re-project every live slot from the JSON payload (what `verify` checks).
    Repair {
        #[command(flatten)]
        target: Target,
    },
    /// The Reconciler's dead-letter queue (`stardust.dlq`).
    Dlq {
        #[command(subcommand)]
        action: Dlq,
    },
    /// Load rows from NDJSON, CSV or a JSON array into a model, as a background job a running `serve` does.
    Import(import::Args),
    /// Export a tenant's `SELECT … FROM model_x [WHERE …]` as CSV or JSON, as a background job a running `serve` does.
    Export(export::Args),
    /// A tenant's import and export jobs, or one followed to its end (`--wait ID`).
    Jobs(jobs::Args),
    /// Create StarDust's tables in a backend database where missing; changes nothing that exists.
    Bootstrap {
        /// The TOML configuration file (its backend_url is used).
        #[arg(long, short, required_unless_present = "backend_url")]
        config: Option<PathBuf>,
        /// A backend URL instead of a configuration file.
        #[arg(long)]
        backend_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum Dlq {
    /// Put dead-lettered entries back on the sync queue (after fixing their cause); exits 1 if none matched.
    Replay {
        #[command(flatten)]
        target: Target,
        /// The dead letter's id (stardust.dlq.id).
        #[arg(long, required_unless_present = "reason", conflicts_with = "reason")]
        id: Option<i64>,
        /// Every dead letter with this reason: missing_entry_data, schema_incompatibility, malformed_json, other.
        #[arg(long)]
        reason: Option<String>,
    },
}

/// The backend and the models a maintenance command works on.
#[derive(clap::Args)]
struct Target {
    /// The TOML configuration file (its backend_url is used).
    #[arg(long, short, required_unless_present = "backend_url")]
    config: Option<PathBuf>,
    /// A backend URL instead of a configuration file.
    #[arg(long)]
    backend_url: Option<String>,
    /// Only this tenant's models.
    #[arg(long)]
    tenant: Option<u64>,
    /// Only the model of this name (without `model_`).
    #[arg(long)]
    model: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `dev` shares its terminal with the client prompt: only warnings and errors by default.
    init_tracing(if matches!(cli.command, Command::Dev { .. }) {
        "warn"
    } else {
        "info"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                config,
                listen,
                backend_url,
                check_config,
            } => serve(config, listen, backend_url, check_config).await,
            Command::Dev { listen, no_client } => dev::run(&listen, no_client).await,
            Command::Bootstrap {
                config,
                backend_url,
            } => bootstrap(config, backend_url).await,
            Command::Verify { target } => verify(target).await,
            Command::Import(args) => import::run(args).await,
            Command::Export(args) => export::run(args).await,
            Command::Jobs(args) => jobs::run(args).await,
            Command::Repair { target } => repair(target).await,
            Command::Dlq {
                action: Dlq::Replay { target, id, reason },
            } => replay(target, id, reason).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("stardust: {message}");
    ExitCode::FAILURE
}

fn init_tracing(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("STARDUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // STARDUST_LOG_FORMAT=json: one JSON object per line (NDJSON), StarDust's event names in the `event` field.
    if std::env::var("STARDUST_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(
    path: PathBuf,
    listen: Option<String>,
    backend_url: Option<String>,
    check_only: bool,
) -> Result<(), String> {
    let config = load_config(&path, listen, backend_url)?;
    // The certificate and key are read now, so a bad file fails the check (and start-up) with its name.
    stardust::protocol::tls_acceptor(&config).map_err(|e| e.to_string())?;
    if check_only {
        println!(
            "{}: valid ({} users, listening on {}, backend database '{}')",
            path.display(),
            config.users.len(),
            config.listen,
            config.database()
        );
        return Ok(());
    }
    let shutdown = shutdown::on_signal();
    start(config, shutdown).await
}

fn load_config(
    path: &Path,
    listen: Option<String>,
    backend_url: Option<String>,
) -> Result<Config, String> {
    let mut config = Config::read(path).map_err(|e| e.to_string())?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(url) = backend_url {
        config.backend_url = url;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Connects and bootstraps the backend, binds the listener and serves until `shutdown`.
async fn start(config: Config, shutdown: CancellationToken) -> Result<(), String> {
    let (listener, state) = prepare(config).await?;
    serve_on(listener, state, shutdown).await
}

/// Binds the listener, then connects and bootstraps the backend: once this returns, clients can connect.
pub async fn prepare(config: Config) -> Result<(TcpListener, Arc<State>), String> {
    let listener = bind(&config.listen).await?;
    let state = connect(config).await?;
    Ok((listener, state))
}

async fn bind(listen: &str) -> Result<TcpListener, String> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))
}

async fn connect(config: Config) -> Result<Arc<State>, String> {
    let tls = stardust::protocol::tls_acceptor(&config).map_err(|e| e.to_string())?;
    let backend = Backend::connect(&config.backend_url, config.max_connections + 8)
        .await
        .map_err(|e| e.to_string())?;
    backend
        .bootstrap()
        .await
        .map_err(|e| format!("bootstrap failed: {e}"))?;
    // Reads drive filters from page indexes alone, which is right only once the page invariant holds.
    stardust::verify::invariant::establish(&backend)
        .await
        .map_err(|e| format!("bringing pages to the page invariant failed: {e}"))?;
    // A crash may have left temp files, orphans, or jobs whose files are gone: settle that before serving.
    stardust::jobs::repair::repair(&backend, &config.jobs.artifact_dir)
        .await
        .map_err(|e| format!("repairing the artifact directory failed: {e}"))?;
    tracing::info!(engine = %backend.engine(), database = backend.database(), "backend ready");
    Ok(Arc::new(State::new(config, backend).with_tls(tls)))
}

pub async fn serve_on(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%address, "serving MySQL clients");
    if let Some(metrics) = &state.config.metrics_listen {
        let listener = bind(metrics).await?;
        tracing::info!(address = metrics.as_str(), "serving GET /metrics");
        tokio::spawn(stardust::metrics::serve(
            listener,
            state.clone(),
            shutdown.clone(),
        ));
    }
    let backend = state.backend.clone();
    let daemons = tokio_util::task::TaskTracker::new();
    stardust::daemons::spawn(&backend, &state.config, &shutdown, &daemons);
    daemons.close();
    server::run(listener, state, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    // Every daemon loop stops at the cancellation; a tick in flight finishes its transaction.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), daemons.wait()).await;
    // Sessions still busy after the grace period hold pool connections; do not wait for them forever.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), backend.close()).await;
    Ok(())
}

fn backend_url(path: Option<PathBuf>, backend_url: Option<String>) -> Result<String, String> {
    match (backend_url, path) {
        (Some(url), _) => Ok(url),
        (None, Some(path)) => Ok(load_config(&path, None, None)?.backend_url),
        (None, None) => Err("give --config FILE or --backend-url URL".to_string()),
    }
}

async fn maintenance(target: &mut Target) -> Result<(Backend, stardust::verify::Filter), String> {
    let url = backend_url(target.config.take(), target.backend_url.take())?;
    let backend = Backend::connect(&url, 2).await.map_err(|e| e.to_string())?;
    let filter = stardust::verify::Filter {
        tenant: target.tenant,
        model: target.model.clone(),
    };
    Ok((backend, filter))
}

async fn verify(mut target: Target) -> Result<(), String> {
    let dir = match &target.config {
        Some(path) => load_config(path, None, None)?.jobs.artifact_dir,
        None => stardust::config::Jobs::default().artifact_dir,
    };
    let (backend, filter) = maintenance(&mut target).await?;
    let report = stardust::verify::verify(&backend, &filter)
        .await
        .map_err(|e| e.to_string())?;
    let artifacts = stardust::jobs::repair::inspect(&backend, &dir)
        .await
        .map_err(|e| e.to_string())?;
    backend.close().await;
    let mut printed = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    printed["artifacts"] = serde_json::to_value(&artifacts).map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&printed).map_err(|e| e.to_string())?
    );
    if !artifacts.problems.is_empty() {
        return Err(format!(
            "{} jobs' artifacts are missing or corrupt (see \"artifacts\"); `stardust serve` marks those jobs failed at start-up",
            artifacts.problems.len()
        ));
    }
    if report.drift > 0 {
        return Err(format!(
            "{} slot values differ from the JSON; `stardust repair` re-projects them",
            report.drift
        ));
    }
    if report.violations > 0 {
        return Err(format!(
            "{} slot values break the page invariant (soft-deleted entries, other models); `stardust repair` \
             clears them",
            report.violations
        ));
    }
    Ok(())
}

async fn repair(mut target: Target) -> Result<(), String> {
    let (backend, filter) = maintenance(&mut target).await?;
    let written = stardust::verify::repair(&backend, &filter)
        .await
        .map_err(|e| e.to_string())?;
    backend.close().await;
    println!("re-projected slots from the JSON ({written} page rows written)");
    Ok(())
}

async fn replay(mut target: Target, id: Option<i64>, reason: Option<String>) -> Result<(), String> {
    use stardust::daemons::sync_queue::{self, Replay};
    let (backend, _) = maintenance(&mut target).await?;
    let selector = match (&id, &reason) {
        (Some(id), _) => Replay::Id(*id),
        (None, Some(reason)) => Replay::Reason(reason),
        (None, None) => return Err("give --id or --reason".to_string()),
    };
    let replayed = sync_queue::replay(&backend, selector, target.tenant)
        .await
        .map_err(|e| e.to_string())?;
    backend.close().await;
    let entries = replayed
        .ok_or_else(|| "no dead letter matched (see SELECT * FROM stardust.dlq)".to_string())?;
    println!("{}", serde_json::json!({ "requeued_entries": entries }));
    Ok(())
}

async fn bootstrap(path: Option<PathBuf>, backend_url: Option<String>) -> Result<(), String> {
    let url = self::backend_url(path, backend_url)?;
    let backend = Backend::connect(&url, 2).await.map_err(|e| e.to_string())?;
    backend
        .bootstrap()
        .await
        .map_err(|e| format!("bootstrap failed: {e}"))?;
    println!(
        "bootstrapped database '{}' on {}",
        backend.database(),
        backend.engine()
    );
    backend.close().await;
    Ok(())
}
