//! `stardust jobs`: a tenant's import jobs, or one followed to its end with progress (`--wait ID`).

use std::path::PathBuf;
use std::time::Duration;

use stardust::backend::Backend;
use stardust::catalog::Model;
use stardust::jobs::status;

use super::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// The TOML configuration file (its backend_url is used).
    #[arg(long, short)]
    config: PathBuf,
    /// The tenant whose jobs are shown (a tenant sees only its own).
    #[arg(long)]
    tenant: u64,
    /// Follow this job until it finishes; exit 1 if it fails.
    #[arg(long, conflicts_with = "cancel")]
    wait: Option<i64>,
    /// Cancel this unfinished job (it ends `failed`, reason `cancelled`); exit 1 if the tenant has no such job.
    #[arg(long)]
    cancel: Option<i64>,
    /// Which kind of job `--wait` or `--cancel` names (imports and exports are numbered apart).
    #[arg(long, value_enum, default_value = "import")]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Import,
    Export,
}

/// How often `--wait` looks at the job row.
const POLL: Duration = Duration::from_millis(250);

pub async fn run(args: Args) -> Result<(), String> {
    let config = super::load_config(&args.config, None, None)?;
    let backend = Backend::connect(&config.backend_url, 2)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = backend.conn(false).await.map_err(|e| e.to_string())?;
    let result = match (args.wait, args.cancel) {
        (Some(id), _) => follow(&mut conn, args.tenant, id, args.kind).await,
        (None, Some(id)) => {
            cancel(
                &mut conn,
                &config.jobs.artifact_dir,
                args.tenant,
                id,
                args.kind,
            )
            .await
        }
        (None, None) => list(&mut conn, args.tenant).await,
    };
    drop(conn);
    backend.close().await;
    result
}

async fn list(conn: &mut mysql_async::Conn, tenant: u64) -> Result<(), String> {
    let jobs = status::list(conn, tenant)
        .await
        .map_err(|e| e.to_string())?;
    println!("id\tkind\tstatus\tdone\ttotal\trejected\tfailed_reason\tcreated_at\tcompleted_at");
    for job in jobs {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            job.id,
            job.kind,
            job.status,
            job.done,
            job.total.map_or("-".to_string(), |t| t.to_string()),
            job.rejected,
            job.failed_reason.as_deref().unwrap_or("-"),
            job.created_at,
            job.completed_at.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

async fn cancel(
    conn: &mut mysql_async::Conn,
    dir: &std::path::Path,
    tenant: u64,
    id: i64,
    kind: Kind,
) -> Result<(), String> {
    let name = if kind == Kind::Export {
        "export"
    } else {
        "import"
    };
    status::cancel_job(conn, dir, tenant, id, kind == Kind::Export)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({ "job": id, "kind": name, "status": "failed", "failed_reason": "cancelled" })
    );
    Ok(())
}

/// Follows an import job to its end with a progress bar; prints the finished job as JSON.
pub async fn wait(conn: &mut mysql_async::Conn, tenant: u64, id: i64) -> Result<(), String> {
    follow(conn, tenant, id, Kind::Import).await
}

async fn follow(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    id: i64,
    kind: Kind,
) -> Result<(), String> {
    let (name, label) = match kind {
        Kind::Import => ("import", "import: loading"),
        Kind::Export => ("export", "export: writing"),
    };
    let mut progress: Option<Progress> = None;
    loop {
        let job = match kind {
            Kind::Import => status::import_job(conn, tenant, id).await,
            Kind::Export => status::export_job(conn, tenant, id).await,
        }
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("tenant {tenant} has no {name} job {id}"))?;
        let bar = progress.get_or_insert_with(|| Progress::new(label, job.total));
        bar.update(job.done, job.done);
        if job.finished() {
            if let Some(bar) = progress.take() {
                bar.finish(&job.status);
            }
            println!(
                "{}",
                serde_json::to_string(&job).map_err(|e| e.to_string())?
            );
            if job.status == "failed" {
                return Err(format!(
                    "{name} job {id} failed: {}",
                    job.failed_reason.as_deref().unwrap_or("unknown")
                ));
            }
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The tenant's model named `name` (`x` or `model_x`).
pub async fn model(
    conn: &mut mysql_async::Conn,
    tenant: u64,
    name: &str,
) -> Result<std::sync::Arc<Model>, String> {
    let version = stardust::registry::version(conn)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = stardust::registry::load(conn, tenant, version)
        .await
        .map_err(|e| e.to_string())?;
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("model_").unwrap_or(&lower);
    catalog.models.get(bare).cloned().ok_or_else(|| {
        stardust::jobs::Error::NoSuchModel {
            tenant,
            model: bare.to_string(),
        }
        .to_string()
    })
}
