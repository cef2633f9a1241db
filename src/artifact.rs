//! Durable artifacts (import payloads, export files): written to a temp file in the target directory, streamed
//! through a hash, fsynced, renamed, and the directory fsynced — so a crash leaves a temp file, never a partial
//! file under a final name. Checked on read, swept at start-up under a directory lock (`storh-digest.md` §7).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Flush to the file about every MiB.
const BUFFER: usize = 1 << 20;

/// Temp files end with this; their names start with a dot and carry the writer's pid.
const TEMP_SUFFIX: &str = ".tmp";

/// The lock file that serialises start-up repairs of one directory.
const LOCK_FILE: &str = ".stardust.lock";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file system is full (ENOSPC or a short write).
    #[error("{path}: no space left on the device")]
    DiskFull { path: String },
    /// The artifact grew past its size cap.
    #[error("{path}: artifact larger than the cap of {cap} bytes")]
    TooLarge { path: String, cap: u64 },
    #[error("{0}: not a valid artifact file name")]
    Name(String),
}

impl Error {
    fn io(path: &Path, source: std::io::Error) -> Error {
        if source.kind() == ErrorKind::StorageFull {
            return Error::DiskFull {
                path: path.display().to_string(),
            };
        }
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// A finished, durable artifact: what the job row records once the file is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// The file name inside the artifact directory.
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub rows: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
}

/// An artifact being written. Dropped before [`Writer::finish`], it removes its temp file.
pub struct Writer {
    name: String,
    dir: PathBuf,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    bytes: u64,
    rows: u64,
    cap: Option<u64>,
    /// A resumable partial (an export's) stays on disk when the writer is dropped: the job resumes from it.
    keep: bool,
}

/// Resumable partial files end with this; their names start with a dot.
const PARTIAL_SUFFIX: &str = ".partial";

impl Writer {
    /// Starts `dir/name` as a temp file beside it (created exclusively, readable by the owner only).
    pub fn create(dir: &Path, name: &str, cap: Option<u64>) -> Result<Writer, Error> {
        check_name(name)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let temp = dir.join(format!(
            ".{name}.{}.{}{TEMP_SUFFIX}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        Writer::open(dir, temp, name, cap, false)
    }

    /// Creates `temp` exclusively, readable by the owner only, as the file a writer of `dir/name` fills.
    fn open(
        dir: &Path,
        temp: PathBuf,
        name: &str,
        cap: Option<u64>,
        keep: bool,
    ) -> Result<Writer, Error> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&temp).map_err(|e| Error::io(&temp, e))?;
        Ok(Writer {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            temp,
            file: Some(BufWriter::with_capacity(BUFFER, file)),
            hasher: Sha256::new(),
            bytes: 0,
            rows: 0,
            cap,
            keep,
        })
    }

    /// Starts a resumable partial `dir/partial` (a dot name ending `.partial`) that [`Writer::finish`] publishes
    /// as `dir/name`. With `prefix`, the first bytes of an earlier partial are copied in (and hashed) first: that
    /// much of it was durable and recorded, and the job goes on from there. The partial survives a drop; a crash
    /// leaves it for the next claim, [`Writer::abort`] removes it.
    pub fn partial(
        dir: &Path,
        partial: &str,
        name: &str,
        cap: Option<u64>,
        prefix: Option<(&Path, u64, u64)>,
    ) -> Result<Writer, Error> {
        check_name(name)?;
        if !partial.starts_with('.') || !partial.ends_with(PARTIAL_SUFFIX) || partial.contains('/')
        {
            return Err(Error::Name(partial.to_string()));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let temp = dir.join(partial);
        let mut writer = Writer::open(dir, temp, name, cap, true)?;
        if let Some((from, bytes, rows)) = prefix {
            let source = File::open(from).map_err(|e| Error::io(from, e))?;
            let mut limited = source.take(bytes);
            let mut buffer = vec![0u8; BUFFER];
            loop {
                let n = limited.read(&mut buffer).map_err(|e| Error::io(from, e))?;
                if n == 0 {
                    break;
                }
                writer.write(&buffer[..n])?;
            }
            if writer.bytes != bytes {
                return Err(Error::io(
                    from,
                    std::io::Error::new(
                        ErrorKind::UnexpectedEof,
                        format!("{} bytes, {bytes} recorded", writer.bytes),
                    ),
                ));
            }
            writer.rows = rows;
        }
        Ok(writer)
    }

    /// Makes what was written so far durable (a resumable partial's checkpoint); returns the bytes written.
    /// Hands what is buffered to the file, so a full disk shows now (an export's chunks between checkpoints).
    pub fn flush(&mut self) -> Result<(), Error> {
        let Some(file) = self.file.as_mut() else {
            return Err(Error::io(&self.temp, ErrorKind::BrokenPipe.into()));
        };
        file.flush().map_err(|e| Error::io(&self.temp, e))
    }

    pub fn sync(&mut self) -> Result<u64, Error> {
        let Some(file) = self.file.as_mut() else {
            return Err(Error::io(&self.temp, ErrorKind::BrokenPipe.into()));
        };
        file.flush().map_err(|e| Error::io(&self.temp, e))?;
        file.get_ref()
            .sync_data()
            .map_err(|e| Error::io(&self.temp, e))?;
        Ok(self.bytes)
    }

    /// Gives up: the file being written is removed, whatever kind it is.
    pub fn abort(mut self) {
        self.keep = false;
    }

    /// Appends bytes that are not a row (a header, a bracket).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(cap) = self.cap {
            if self.bytes + bytes.len() as u64 > cap {
                return Err(Error::TooLarge {
                    path: self.final_path().display().to_string(),
                    cap,
                });
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Err(Error::io(&self.temp, ErrorKind::BrokenPipe.into()));
        };
        file.write_all(bytes)
            .map_err(|e| Error::io(&self.temp, e))?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Appends one row's bytes and counts it.
    pub fn write_row(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.write(bytes)?;
        self.rows += 1;
        Ok(())
    }

    /// Appends the bytes of `rows` rows at once.
    pub fn write_rows(&mut self, bytes: &[u8], rows: u64) -> Result<(), Error> {
        self.write(bytes)?;
        self.rows += rows;
        Ok(())
    }

    /// The file name being written (a temp file or a resumable partial).
    pub fn temp_name(&self) -> String {
        self.temp
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn final_path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// Flushes, fsyncs, renames to the final name and fsyncs the directory: only then is the artifact durable.
    pub fn finish(mut self) -> Result<Durable, Error> {
        let Some(file) = self.file.take() else {
            return Err(Error::io(&self.temp, ErrorKind::BrokenPipe.into()));
        };
        let file = file
            .into_inner()
            .map_err(|e| Error::io(&self.temp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.temp, e))?;
        drop(file);
        let path = self.final_path();
        std::fs::rename(&self.temp, &path).map_err(|e| Error::io(&path, e))?;
        sync_dir(&self.dir)?;
        Ok(Durable {
            name: std::mem::take(&mut self.name),
            path,
            bytes: self.bytes,
            rows: self.rows,
            sha256: hex(&std::mem::take(&mut self.hasher).finalize()),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.file.take().is_some() && !self.keep {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// An artifact name is a plain file name: no directories, no leading dot (those are temp and lock files).
fn check_name(name: &str) -> Result<(), Error> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        Ok(())
    } else {
        Err(Error::Name(name.to_string()))
    }
}

/// fsyncs a directory, so a rename or unlink in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Removes a published artifact (a finished job's, or one its job no longer points at) and fsyncs the directory.
pub fn remove(dir: &Path, name: &str) -> Result<u64, Error> {
    check_name(name)?;
    let path = dir.join(name);
    let bytes = match std::fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&path, e)),
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&path, e)),
    }
    sync_dir(dir)?;
    Ok(bytes)
}

/// What reading an artifact back found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Intact,
    Missing,
    /// Present, but its size or checksum is not what the job recorded.
    Corrupt(String),
}

/// Compares `dir/name` with the size and checksum its job recorded.
pub fn check(dir: &Path, name: &str, bytes: u64, sha256: &str) -> Result<Check, Error> {
    check_name(name)?;
    let path = dir.join(name);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Check::Missing),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(&path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        read += n as u64;
    }
    if read != bytes {
        return Ok(Check::Corrupt(format!(
            "{read} bytes on disk, {bytes} recorded"
        )));
    }
    let found = hex(&hasher.finalize());
    if found != sha256 {
        return Ok(Check::Corrupt(format!(
            "checksum {found} on disk, {sha256} recorded"
        )));
    }
    Ok(Check::Intact)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An exclusive lock on a directory's lock file, held until dropped: one start-up repair at a time.
pub struct DirLock {
    _file: File,
}

/// Waits for the directory's lock (another instance's repair finishes first).
pub fn lock(dir: &Path) -> Result<DirLock, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.lock().map_err(|e| Error::io(&path, e))?;
    Ok(DirLock { _file: file })
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub temps: Vec<String>,
    pub orphans: Vec<String>,
}

/// Removes temp files whose writer is gone (its pid no longer runs here, or untouched for `grace`), and resumable
/// partials and published files that no job refers to (`referenced` says no) untouched for `grace`. Call it holding the [`lock`].
pub fn sweep(
    dir: &Path,
    grace: Duration,
    referenced: impl Fn(&str) -> bool,
) -> Result<Swept, Error> {
    let mut swept = Swept::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(swept),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let now = SystemTime::now();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || name == LOCK_FILE {
            continue;
        }
        let idle = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let stale = idle >= grace;
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
            if stale || !writer_alive(&name) {
                remove_quietly(&entry.path());
                swept.temps.push(name);
            }
        } else if name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX) {
            if stale && !referenced(&name) {
                remove_quietly(&entry.path());
                swept.temps.push(name);
            }
        } else if !name.starts_with('.') && stale && !referenced(&name) {
            remove_quietly(&entry.path());
            swept.orphans.push(name);
        }
    }
    if !swept.temps.is_empty() || !swept.orphans.is_empty() {
        sync_dir(dir)?;
    }
    Ok(swept)
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale artifact file");
    }
}

/// Whether the process that named a temp file (`.{name}.{pid}.{random}.tmp`) still runs on this machine. Where
/// that cannot be told (no `/proc`), it is assumed alive and the grace period decides.
fn writer_alive(temp: &str) -> bool {
    let pid = temp
        .trim_end_matches(TEMP_SUFFIX)
        .rsplit('.')
        .nth(1)
        .and_then(|p| p.parse::<u32>().ok());
    let proc = Path::new("/proc");
    match pid {
        Some(pid) if proc.is_dir() => {
            pid == std::process::id() || proc.join(pid.to_string()).exists()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests;
