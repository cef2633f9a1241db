//! `stardust import`: reads NDJSON, CSV or a JSON array (a file or stdin) into a durable artifact with progress
//! shown, then submits an import job that a running `serve` (its Reconciler) loads; `--wait` follows it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stardust::artifact::{self, Durable};
use stardust::backend::Backend;
use stardust::jobs::import::{self, Submitted};
use stardust::jobs::payload::{self, Format};

use super::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// The TOML configuration file: its backend_url and [jobs] artifact_dir.
    #[arg(long, short)]
    config: PathBuf,
    /// The tenant whose model receives the rows.
    #[arg(long)]
    tenant: u64,
    /// The model (the table `model_NAME`; with or without the prefix).
    #[arg(long)]
    model: String,
    /// The input's format; by default from its extension (.csv, .json, else NDJSON).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Submitting the same key again (for this tenant) imports nothing and names the first job.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Wait for the job to finish, showing its progress; exit 1 if it fails.
    #[arg(long)]
    wait: bool,
    /// The input file, or `-` for stdin.
    input: String,
}

pub async fn run(args: Args) -> Result<(), String> {
    let config = super::load_config(&args.config, None, None)?;
    if args.tenant == 0 {
        return Err("--tenant: tenant ids start at 1".to_string());
    }
    if let Some(key) = &args.idempotency_key {
        if key.is_empty() || key.len() > 128 {
            return Err("--idempotency-key must be 1 to 128 characters".to_string());
        }
    }
    let backend = Backend::connect(&config.backend_url, 2)
        .await
        .map_err(|e| e.to_string())?;
    let result = import(&backend, &config.jobs.artifact_dir, &args).await;
    backend.close().await;
    result
}

async fn import(backend: &Backend, dir: &Path, args: &Args) -> Result<(), String> {
    let mut conn = backend.conn(false).await.map_err(|e| e.to_string())?;
    let model = super::jobs::model(&mut conn, args.tenant, &args.model).await?;
    if let Some(key) = &args.idempotency_key {
        let found = import::existing(&mut conn, args.tenant, key)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(id) = found {
            eprintln!(
                "import job {id} was already submitted with this idempotency key; nothing imported"
            );
            return finish(&mut conn, args, Submitted::Existing(id)).await;
        }
    }
    let format = args.format.unwrap_or_else(|| format_of(&args.input));
    let durable = write_artifact(dir, args, format).await?;
    if durable.rows == 0 {
        let _ = artifact::remove(dir, &durable.name);
        return Err("the input holds no rows; nothing was submitted".to_string());
    }
    let submitted = import::submit(
        &mut conn,
        dir,
        args.tenant,
        &model,
        &durable,
        args.idempotency_key.as_deref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    if let Submitted::Existing(id) = submitted {
        eprintln!(
            "import job {id} was already submitted with this idempotency key; nothing imported"
        );
    }
    finish(&mut conn, args, submitted).await
}

async fn finish(
    conn: &mut mysql_async::Conn,
    args: &Args,
    submitted: Submitted,
) -> Result<(), String> {
    let id = submitted.id();
    if args.wait {
        return super::jobs::wait(conn, args.tenant, id).await;
    }
    println!(
        "{}",
        serde_json::json!({ "job": id, "submitted": matches!(submitted, Submitted::New(_)) })
    );
    Ok(())
}

fn format_of(input: &str) -> Format {
    let lower = input.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Format::Csv
    } else if lower.ends_with(".json") {
        Format::Json
    } else {
        Format::Ndjson
    }
}

/// Streams the input into the artifact (one line per row), showing progress; the file is durable when this
/// returns. If the input breaks off, nothing is left behind and nothing is submitted.
async fn write_artifact(dir: &Path, args: &Args, format: Format) -> Result<Durable, String> {
    let (input, total): (Box<dyn Read + Send>, Option<u64>) = if args.input == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(&args.input)
            .map_err(|e| format!("cannot open {}: {e}", args.input))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let dir = dir.to_path_buf();
    let name = import::artifact_name(args.tenant);
    tokio::task::spawn_blocking(move || {
        let read = Arc::new(AtomicU64::new(0));
        let input = Counting {
            inner: input,
            read: read.clone(),
        };
        let mut writer = artifact::Writer::create(&dir, &name, None).map_err(|e| e.to_string())?;
        let mut progress = Progress::new("import: reading", total);
        let outcome = payload::read(input, format, |row| {
            let mut line = payload::line(&row);
            line.push('\n');
            writer
                .write_row(line.as_bytes())
                .map_err(|e| e.to_string())?;
            let rows = writer.rows();
            if rows % 1024 == 0 {
                progress.update(rows, read.load(Ordering::Relaxed));
            }
            Ok(())
        });
        let rows = writer.rows();
        progress.update(rows, read.load(Ordering::Relaxed));
        if let Err(e) = outcome {
            progress.finish("stopped");
            return Err(format!(
                "the input broke off after {rows} rows ({e}); nothing was submitted"
            ));
        }
        let durable = writer.finish().map_err(|e| e.to_string())?;
        progress.finish("written");
        Ok(durable)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Counts the bytes read, for the progress bar's position and ETA.
struct Counting {
    inner: Box<dyn Read + Send>,
    read: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
