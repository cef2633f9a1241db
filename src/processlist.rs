//! What each client session is doing, for `SHOW PROCESSLIST` and `stardust.processlist`: its command, since when,
//! and the statement it runs — and who may see which sessions (an administrator all, a login its own).

use std::sync::Mutex;
use std::time::Instant;

use crate::state::Sessions;

/// The most bytes of a statement's text kept for the processlist; a longer text is cut at a character boundary.
pub const MAX_INFO: usize = 4096;

/// `SHOW PROCESSLIST` without `FULL` shows this many characters of a statement, as MySQL does.
pub const SHORT_INFO: usize = 100;

/// A session's current activity, updated by the session at each statement's start and end.
pub struct Activity {
    inner: Mutex<Doing>,
}

/// A snapshot of a session's activity.
#[derive(Debug, Clone)]
pub struct Doing {
    /// `Sleep` between statements, else the command (`Query`, `Execute`, `Prepare`).
    pub command: &'static str,
    pub since: Instant,
    /// The statement's text (at most [`MAX_INFO`] bytes), while one runs.
    pub statement: Option<String>,
    /// The tenant the session acts for: a tenant login's own, or the one an administrator chose.
    pub tenant: Option<u64>,
    pub database: Option<String>,
}

impl Activity {
    pub fn new(tenant: Option<u64>) -> Activity {
        Activity {
            inner: Mutex::new(Doing {
                command: "Sleep",
                since: Instant::now(),
                statement: None,
                tenant,
                database: None,
            }),
        }
    }

    /// A command starts; `statement` is its text, as the client sent it.
    pub fn begin(&self, command: &'static str, statement: Option<&[u8]>) {
        let statement = statement.map(|text| {
            let text = String::from_utf8_lossy(&text[..text.len().min(MAX_INFO)]);
            text.into_owned()
        });
        let mut doing = self.lock();
        doing.command = command;
        doing.since = Instant::now();
        doing.statement = statement;
    }

    /// The command ended; the session waits for the next.
    pub fn idle(&self) {
        let mut doing = self.lock();
        doing.command = "Sleep";
        doing.since = Instant::now();
        doing.statement = None;
    }

    pub fn set_tenant(&self, tenant: Option<u64>) {
        self.lock().tenant = tenant;
    }

    pub fn set_database(&self, database: &str) {
        self.lock().database = Some(database.to_string());
    }

    pub fn snapshot(&self) -> Doing {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Doing> {
        // Plain assignments cannot leave the value half-written, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One row of the processlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The proxy connection id: the one the client saw in its handshake and `KILL` takes.
    pub id: u32,
    pub user: String,
    /// The client's address.
    pub host: String,
    pub tenant: Option<u64>,
    pub database: Option<String>,
    pub command: String,
    /// Whole seconds in the current command (or idle).
    pub time: u64,
    /// `executing` while a command runs, else empty.
    pub state: String,
    /// The statement running, if any.
    pub info: Option<String>,
    /// The backend's thread id of the session's connection: shown to administrators only.
    pub backend_thread: Option<u32>,
}

/// Who asks: an administrator sees every session; any other login its own sessions only.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    Admin,
    User(&'a str),
}

/// The sessions `viewer` may see, by id.
pub fn list(sessions: &Sessions, viewer: Viewer<'_>) -> Vec<Process> {
    sessions
        .list()
        .into_iter()
        .filter(|(_, handle)| match viewer {
            Viewer::Admin => true,
            Viewer::User(name) => handle.user == name,
        })
        .map(|(id, handle)| {
            let doing = handle.activity.snapshot();
            Process {
                id,
                user: handle.user,
                host: handle.host,
                tenant: doing.tenant,
                database: doing.database,
                command: doing.command.to_string(),
                time: doing.since.elapsed().as_secs(),
                state: if doing.command == "Sleep" {
                    String::new()
                } else {
                    "executing".to_string()
                },
                info: doing.statement,
                backend_thread: matches!(viewer, Viewer::Admin).then_some(handle.backend_thread),
            }
        })
        .collect()
}

/// The first `SHORT_INFO` characters of a statement, for `SHOW PROCESSLIST` without `FULL`.
pub fn short(info: &str) -> &str {
    match info.char_indices().nth(SHORT_INFO) {
        Some((at, _)) => &info[..at],
        None => info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_kept_cut_at_a_character_boundary() {
        let activity = Activity::new(Some(1));
        let long = "é".repeat(MAX_INFO);
        activity.begin("Query", Some(long.as_bytes()));
        let doing = activity.snapshot();
        assert_eq!(doing.command, "Query");
        let kept = doing.statement.unwrap();
        assert!(kept.len() <= MAX_INFO + 3, "{}", kept.len());
        assert!(kept.starts_with("éé"));
        activity.idle();
        assert_eq!(activity.snapshot().command, "Sleep");
        assert_eq!(activity.snapshot().statement, None);
    }

    #[test]
    fn short_info_is_a_hundred_characters() {
        assert_eq!(short(&"x".repeat(150)).len(), 100);
        assert_eq!(short("SELECT 1"), "SELECT 1");
        assert_eq!(short(&"é".repeat(150)).chars().count(), 100);
    }
}
