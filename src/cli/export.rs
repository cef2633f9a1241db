//! `stardust export`: submits an export job for a tenant's `SELECT … FROM model_x [WHERE …]`; `--wait` follows
//! it with progress and copies the finished file to `--output` (durably: temp file, fsync, rename).

use std::path::{Path, PathBuf};
use std::time::Duration;

use stardust::backend::Backend;
use stardust::jobs::export::{self, Format};
use stardust::jobs::status;

use super::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// The TOML configuration file: its backend_url, [jobs] artifact_dir and active_per_tenant.
    #[arg(long, short)]
    config: PathBuf,
    /// The tenant whose model is read.
    #[arg(long)]
    tenant: u64,
    /// The file format.
    #[arg(long, value_enum)]
    format: Format,
    /// Wait for the job to finish, showing its progress; exit 1 if it fails.
    #[arg(long)]
    wait: bool,
    /// With --wait: where to write the finished file (default: print where it is).
    #[arg(long, requires = "wait")]
    output: Option<PathBuf>,
    /// `SELECT columns FROM model_x [WHERE filter]`: rows come in id order.
    query: String,
}

const POLL: Duration = Duration::from_millis(250);

pub async fn run(args: Args) -> Result<(), String> {
    let config = super::load_config(&args.config, None, None)?;
    if args.tenant == 0 {
        return Err("--tenant: tenant ids start at 1".to_string());
    }
    let backend = Backend::connect(&config.backend_url, 2)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = backend.conn(false).await.map_err(|e| e.to_string())?;
    let result = submit_and_wait(&mut conn, &config, &args).await;
    drop(conn);
    backend.close().await;
    result
}

async fn submit_and_wait(
    conn: &mut mysql_async::Conn,
    config: &stardust::config::Config,
    args: &Args,
) -> Result<(), String> {
    let catalog = export::catalog(conn, args.tenant)
        .await
        .map_err(|e| e.to_string())?;
    let parsed = export::parse(&args.query, &catalog).map_err(|e| e.to_string())?;
    // The query must rewrite now, not fail later in the Chronicler.
    parsed
        .chunk_sql(&catalog, &config.database(), 0, 1)
        .map_err(|e| e.to_string())?;
    let id = export::submit(
        conn,
        args.tenant,
        &args.query,
        &parsed,
        args.format,
        config.jobs.active_per_tenant,
    )
    .await
    .map_err(|e| e.to_string())?;
    if !args.wait {
        println!("{}", serde_json::json!({ "job": id }));
        return Ok(());
    }
    let mut progress = Progress::new("export", None);
    let job = loop {
        let job = status::export_job(conn, args.tenant, id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("tenant {} has no export job {id}", args.tenant))?;
        progress.update(job.done, job.done);
        if job.finished() {
            break job;
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish(&job.status);
    if job.status == "failed" {
        return Err(format!(
            "export job {id} failed: {}",
            job.failed_reason.as_deref().unwrap_or("unknown")
        ));
    }
    let name = job
        .artifact
        .clone()
        .ok_or_else(|| format!("export job {id} has no file any more (past its TTL)"))?;
    let source = config.jobs.artifact_dir.join(&name);
    match &args.output {
        Some(output) => copy_durably(&source, output)?,
        None => eprintln!("export job {id}: {}", source.display()),
    }
    println!(
        "{}",
        serde_json::to_string(&job).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// Copies the finished file to `output` through a temp file beside it, so `output` is never partial.
fn copy_durably(source: &Path, output: &Path) -> Result<(), String> {
    let dir = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let mut from = std::fs::File::open(source)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    std::io::copy(&mut from, temp.as_file_mut())
        .and_then(|_| temp.as_file().sync_all())
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    temp.persist(output)
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    stardust::artifact::sync_dir(&dir).map_err(|e| e.to_string())
}
