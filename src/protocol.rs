//! The MySQL wire protocol, server side: framing, handshake and auth, the command loop, driver chatter, and
//! the mapping of error kinds to MySQL codes. The only layer that knows wire types and error codes.
//!
//! Built on `mysql_common`'s packet types rather than opensrv-mysql 0.7: that crate closes the connection on
//! non-UTF-8 queries and unknown statement ids instead of answering with an error, panics on error codes above
//! 1885 and on malformed parameters, answers unknown commands (COM_CHANGE_USER among them) with OK, and cannot
//! relay the backend's column definitions or status flags. See `docs/architecture.md`.

mod auth;
mod chatter;
mod errors;
#[cfg(test)]
mod fuzz;
mod login;
mod models;
mod operations;
mod packet;
mod prepared;
mod relay;
mod rows;
mod session;
mod twins;
mod wire;

pub use session::{refuse_over_limit, serve};

use crate::error::Kind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client went away or its socket failed; nothing more can be sent.
    #[error("client connection lost: {0}")]
    ClientGone(#[from] std::io::Error),
    #[error("Bad handshake: {0}")]
    BadHandshake(String),
    #[error("Access denied for user '{user}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    AccessDenied { user: String, using_password: bool },
    #[error("Unknown command {0:#04x}: StarDust does not implement this protocol command")]
    UnknownCommand(u8),
    #[error("{0}")]
    Unsupported(String),
    #[error("Unknown prepared statement handler ({id}) given to {command}")]
    UnknownStatement { id: u32, command: &'static str },
    #[error("Incorrect arguments to {0}")]
    Malformed(&'static str),
    #[error("Incorrect arguments to replay_dlq: no dead-lettered entry with id {0} (SELECT id FROM stardust.dlq lists them)")]
    NoDeadLetter(i64),
    #[error("Unknown thread id: {0}")]
    NoSuchThread(u64),
    #[error("You are not owner of thread {0}")]
    NotOwner(u64),
    #[error("No tenant selected: an admin login chooses one with SET stardust_tenant = N before using model tables")]
    NoTenant,
    #[error("Too many connections: the proxy serves at most {0} at once (max_connections)")]
    TooManyConnections(usize),
    #[error("Query execution was interrupted, maximum statement execution time exceeded")]
    StatementTimeout,
    #[error("Got a packet bigger than 'max_allowed_packet' bytes ({0})")]
    PacketTooLarge(usize),
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::ClientGone(_) => Kind::Internal,
            Error::BadHandshake(_) => Kind::BadHandshake,
            Error::AccessDenied { .. } => Kind::AccessDenied,
            Error::UnknownCommand(_) => Kind::UnknownCommand,
            Error::Unsupported(_) => Kind::NotSupported,
            Error::UnknownStatement { .. } => Kind::UnknownStatement,
            Error::Malformed(_) | Error::NoDeadLetter(_) => Kind::WrongArguments,
            Error::NoSuchThread(_) => Kind::NoSuchThread,
            Error::NotOwner(_) => Kind::KillDenied,
            Error::TooManyConnections(_) => Kind::TooManyConnections,
            Error::NoTenant => Kind::NoTenant,
            Error::PacketTooLarge(_) => Kind::PacketTooLarge,
            Error::StatementTimeout => Kind::StatementTimeout,
        }
    }
}

/// Writes an error as a MySQL ERR packet: the kind decides code and SQLSTATE, the message is the error's text.
async fn write_error<W: tokio::io::AsyncWrite + Unpin>(
    wire: &mut wire::Wire<W>,
    error: &crate::Error,
) -> std::io::Result<()> {
    let (code, state, message) = error_packet(error);
    wire.error(code, state, &message).await
}

/// The code, SQLSTATE and message an error is sent with.
fn error_packet(error: &crate::Error) -> (u16, [u8; 5], String) {
    let (code, state) = errors::code_and_state(error.kind());
    let message = match error.server_error() {
        Some(server) => server.message.clone(),
        None => error.to_string(),
    };
    (code, state, message)
}

/// A statement's first word, upper case, for its tracing span; found only when the span is recorded, since
/// every statement passes there.
fn verb(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(16)])
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}
