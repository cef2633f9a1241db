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
}

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
        })
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
        if self.file.take().is_some() {
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

/// Removes temp files whose writer is gone (its pid no longer runs here, or untouched for `grace`) and published
/// files that no job refers to (`referenced` says no) untouched for `grace`. Call it holding the [`lock`].
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
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_finished_artifact_is_published_with_its_size_rows_and_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Writer::create(dir.path(), "export_1.csv", None).unwrap();
        writer.write(b"a,b\r\n").unwrap();
        writer.write_row(b"1,2\r\n").unwrap();
        writer.write_row(b"3,4\r\n").unwrap();
        assert_eq!(names(dir.path()).len(), 1);
        assert!(
            names(dir.path())[0].starts_with(".export_1.csv."),
            "only a temp file while writing"
        );
        let durable = writer.finish().unwrap();
        assert_eq!(names(dir.path()), vec!["export_1.csv".to_string()]);
        assert_eq!(durable.bytes, 15);
        assert_eq!(durable.rows, 2);
        assert_eq!(
            durable.sha256,
            hex(&Sha256::digest(b"a,b\r\n1,2\r\n3,4\r\n"))
        );
        assert_eq!(
            std::fs::read(&durable.path).unwrap(),
            b"a,b\r\n1,2\r\n3,4\r\n"
        );
        assert_eq!(
            check(dir.path(), "export_1.csv", 15, &durable.sha256).unwrap(),
            Check::Intact
        );
    }

    #[test]
    fn an_abandoned_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Writer::create(dir.path(), "import_1.ndjson", None).unwrap();
        writer.write_row(b"{}\n").unwrap();
        drop(writer);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn the_size_cap_stops_a_write_before_it_passes_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Writer::create(dir.path(), "big.json", Some(10)).unwrap();
        writer.write_row(b"[1,2,3,4,").unwrap();
        let error = writer.write_row(b"5,6]").unwrap_err();
        assert!(matches!(error, Error::TooLarge { cap: 10, .. }), "{error}");
        drop(writer);
        assert!(names(dir.path()).is_empty(), "no partial file is left");
    }

    #[test]
    fn checks_find_missing_truncated_and_altered_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Writer::create(dir.path(), "a.csv", None).unwrap();
        writer.write_row(b"x\r\n").unwrap();
        let durable = writer.finish().unwrap();
        assert_eq!(
            check(dir.path(), "gone.csv", 3, &durable.sha256).unwrap(),
            Check::Missing
        );
        std::fs::write(&durable.path, b"x\r").unwrap();
        assert!(matches!(
            check(dir.path(), "a.csv", 3, &durable.sha256).unwrap(),
            Check::Corrupt(_)
        ));
        std::fs::write(&durable.path, b"y\r\n").unwrap();
        assert!(matches!(
            check(dir.path(), "a.csv", 3, &durable.sha256).unwrap(),
            Check::Corrupt(_)
        ));
    }

    #[test]
    fn names_with_directories_or_leading_dots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x.csv", "a/b.csv", ".hidden", ""] {
            assert!(matches!(
                Writer::create(dir.path(), bad, None),
                Err(Error::Name(_))
            ));
        }
    }

    #[test]
    fn the_sweep_removes_dead_writers_temp_files_and_old_orphans_only() {
        let dir = tempfile::tempdir().unwrap();
        // A temp file of a process that cannot exist (pid above the kernel's maximum), one of this process, a
        // published file a job refers to, and one nobody refers to.
        std::fs::write(dir.path().join(".x.csv.4294967295.abc.tmp"), b"partial").unwrap();
        let mine = Writer::create(dir.path(), "mine.csv", None).unwrap();
        std::fs::write(dir.path().join("kept.csv"), b"k").unwrap();
        std::fs::write(dir.path().join("orphan.csv"), b"o").unwrap();
        let _lock = lock(dir.path()).unwrap();
        let swept = sweep(dir.path(), Duration::from_secs(3600), |n| n == "kept.csv").unwrap();
        assert_eq!(swept.temps, vec![".x.csv.4294967295.abc.tmp".to_string()]);
        assert!(
            swept.orphans.is_empty(),
            "orphans wait for the grace period"
        );
        let swept = sweep(dir.path(), Duration::ZERO, |n| n == "kept.csv").unwrap();
        assert_eq!(swept.orphans, vec!["orphan.csv".to_string()]);
        assert_eq!(
            swept.temps.len(),
            1,
            "past the grace period, every temp file goes"
        );
        drop(mine);
        let left = names(dir.path());
        assert!(left.contains(&"kept.csv".to_string()), "{left:?}");
        assert!(!left.contains(&"orphan.csv".to_string()), "{left:?}");
    }
}
