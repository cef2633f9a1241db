//! A throwaway backend started from the machine's own server binaries, for `stardust dev` and the test harness.
//!
//! The server runs under a small `sh` guard that holds a pipe from this process: when this process exits, however
//! it exits, the pipe closes and the guard stops the server and deletes its directory. Nothing is left behind.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Where server binaries are looked for, after `PATH`.
const EXTRA_DIRS: [&str; 4] = [
    "/usr/sbin",
    "/usr/local/sbin",
    "/usr/local/mysql/bin",
    "/usr/libexec",
];
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no MariaDB or MySQL server found (looked for mariadbd and mysqld in PATH and {}): \
         install one, e.g. `sudo apt-get install -y mariadb-server mariadb-client`",
        EXTRA_DIRS.join(", ")
    )]
    NoServer,
    #[error("found {0} but no way to initialise a data directory: install mariadb-install-db (package mariadb-server)")]
    NoInstaller(String),
    #[error("{what} failed: {detail}")]
    Failed { what: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Which binaries start the backend.
#[derive(Debug, Clone)]
enum Server {
    MariaDb { server: PathBuf, installer: PathBuf },
    MySql { server: PathBuf },
}

/// A running throwaway backend. Dropping it stops the server and removes its data.
pub struct Embedded {
    port: u16,
    dir: PathBuf,
    guard: Child,
    pipe: Option<ChildStdin>,
}

impl Embedded {
    /// Initialises a data directory in a fresh temporary directory and starts a server on a free port.
    pub fn start() -> Result<Embedded, Error> {
        let server = find_server()?;
        let dir = tempfile::Builder::new()
            .prefix("stardust-backend-")
            .tempdir()?
            .keep();
        let data = dir.join("data");
        initialise(&server, &data, &dir)?;
        // Its own directory for temporary files, not the machine's /tmp, which other programs sweep.
        let scratch = dir.join("tmp");
        std::fs::create_dir_all(&scratch)?;
        let port = free_port()?;
        let log = dir.join("server.log");
        let mut args = server_options(&dir, port);
        let binary = match &server {
            Server::MariaDb { server, .. } => server,
            Server::MySql { server } => {
                args.push("--mysqlx=OFF".to_string());
                server
            }
        };
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(r#"dir="$1"; shift; "$@" >"$dir/server.log" 2>&1 & pid=$!; cat >/dev/null; kill "$pid" 2>/dev/null; wait "$pid"; rm -rf "$dir""#)
            .arg("stardust-backend-guard")
            .arg(&dir)
            .arg(binary)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A process group of its own: Ctrl-C at the terminal reaches this process, which then stops the
            // server in order, but not the guard, which must outlive it to clean up.
            .process_group(0)
            .spawn()?;
        let pipe = guard.stdin.take();
        let mut embedded = Embedded {
            port,
            dir,
            guard,
            pipe,
        };
        embedded.wait_ready(&log)?;
        Ok(embedded)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the passwordless root account, without a database.
    pub fn root_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub fn directory(&self) -> &Path {
        &self.dir
    }

    /// Waits for the server's "ready for connections" line, failing early if it exits.
    fn wait_ready(&mut self, log: &Path) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("ready for connections")
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return Ok(());
            }
            if self.guard.try_wait()?.is_some() || Instant::now() > deadline {
                return Err(Error::Failed {
                    what: "starting the backend server".to_string(),
                    detail: tail(&text),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server, waits for it, and removes its directory.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            drop(pipe);
            let _ = self.guard.wait();
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.shut();
    }
}

fn find_server() -> Result<Server, Error> {
    let find = |name: &str| -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(EXTRA_DIRS.iter().map(PathBuf::from))
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    };
    if let Some(server) = find("mariadbd") {
        let installer = find("mariadb-install-db")
            .or_else(|| find("mysql_install_db"))
            .ok_or_else(|| Error::NoInstaller(server.display().to_string()))?;
        return Ok(Server::MariaDb { server, installer });
    }
    let server = find("mysqld").ok_or(Error::NoServer)?;
    let version = Command::new(&server).arg("--version").output()?;
    if String::from_utf8_lossy(&version.stdout).contains("MariaDB") {
        let installer = find("mysql_install_db")
            .ok_or_else(|| Error::NoInstaller(server.display().to_string()))?;
        return Ok(Server::MariaDb { server, installer });
    }
    Ok(Server::MySql { server })
}

fn initialise(server: &Server, data: &Path, dir: &Path) -> Result<(), Error> {
    let mut command = match server {
        Server::MariaDb { installer, .. } => {
            let mut command = Command::new(installer);
            command.args([
                "--no-defaults",
                &format!("--datadir={}", data.display()),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ]);
            command
        }
        Server::MySql { server } => {
            let mut command = Command::new(server);
            command.args([
                "--no-defaults",
                "--initialize-insecure",
                &format!("--datadir={}", data.display()),
                "--user=root",
            ]);
            command
        }
    };
    let output = command.current_dir(dir).stdin(Stdio::null()).output()?;
    if !output.status.success() {
        let mut detail = String::from_utf8_lossy(&output.stdout).into_owned();
        detail.push_str(&String::from_utf8_lossy(&output.stderr));
        let _ = std::fs::remove_dir_all(dir);
        return Err(Error::Failed {
            what: "initialising the data directory".to_string(),
            detail: tail(&detail),
        });
    }
    Ok(())
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// The options a throwaway server in `dir` runs with (its data in `dir/data`, temporary files in `dir/tmp`), on
/// `port`: the same when it is started again on the same directory.
pub fn server_options(dir: &std::path::Path, port: u16) -> Vec<String> {
    vec![
        "--no-defaults".to_string(),
        format!("--datadir={}", dir.join("data").display()),
        format!("--port={port}"),
        "--bind-address=127.0.0.1".to_string(),
        format!("--socket={}", dir.join("sock").display()),
        format!("--tmpdir={}", dir.join("tmp").display()),
        format!("--pid-file={}", dir.join("pid").display()),
        "--user=root".to_string(),
        "--skip-name-resolve".to_string(),
        "--character-set-server=utf8mb4".to_string(),
        "--max-connections=1000".to_string(),
        "--max-allowed-packet=64M".to_string(),
        "--innodb-flush-log-at-trx-commit=2".to_string(),
    ]
}
