//! The MySQL wire protocol, server side: framing, handshake and auth, the command loop, driver chatter, and
//! the mapping of error kinds to MySQL codes. The only layer that knows wire types and error codes.
//!
//! Built on `mysql_common`'s packet types rather than opensrv-mysql 0.7: that crate closes the connection on
//! non-UTF-8 queries and unknown statement ids instead of answering with an error, panics on error codes above
//! 1885 and on malformed parameters, answers unknown commands (COM_CHANGE_USER among them) with OK, and cannot
//! relay the backend's column definitions or status flags. See `docs/architecture.md`.

mod auth;
mod change_user;
mod chatter;
mod connection;
mod cursors;
mod errors;
mod field_list;
#[cfg(test)]
mod fuzz;
mod jobs;
mod login;
mod models;
mod operations;
mod packet;
mod prepared;
mod relay;
mod rows;
mod session;
mod tls;
mod twins;
mod wire;
mod writes;

pub use connection::{refuse_over_limit, serve};
pub use tls::{acceptor as tls_acceptor, Error as TlsError};

/// The protocol layer's own failures: what the client sent, or who it is. They live beside the crate error so
/// that `error` need not import `protocol`; here they are simply `Error`.
pub(crate) use crate::error::Client as Error;

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
