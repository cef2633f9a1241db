//! A client connection from accept to its session: the greeting, TLS if the client asks for it, the login, and
//! the backend connection the session runs on.

use std::sync::Arc;

use mysql_async::consts::{CapabilityFlags, StatusFlags};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{debug, info_span, Instrument};

use super::auth;
use super::login;
use super::packet::{PacketReader, PacketWriter, WriteTimeout};
use super::prepared::Statements;
use super::session::Session;
use super::wire::Wire;
use super::{write_error, Error};
use crate::config::Role;
use crate::metrics::Class;
use crate::processlist::Activity;
use crate::state::{SessionHandle, State};

/// Serves one client connection until it quits, is killed, or the proxy shuts down.
pub async fn serve(stream: TcpStream, state: Arc<State>, shutdown: CancellationToken) {
    let id = state.next_connection_id();
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let span = info_span!("connection", id, %peer, user = Empty);
    async move {
        let mut stream = stream;
        let _ = stream.set_nodelay(true);
        let salt = auth::new_salt();
        let first = match login::greet(&mut stream, &state, id, &salt).await {
            Ok(first) => first,
            Err(e) => return refuse(&mut Wire::new(PacketWriter::new(stream)), &e).await,
        };
        let limit = state.config.max_allowed_packet;
        let stall = state.config.net_write_timeout_secs;
        let stall = (stall > 0).then(|| std::time::Duration::from_secs(stall));
        let Some(acceptor) = state.tls.clone().filter(|_| auth::asks_for_tls(&first.1)) else {
            let (read, write) = stream.into_split();
            let (reader, wire) = (
                PacketReader::new(read, limit),
                Wire::new(PacketWriter::new(WriteTimeout::new(write, stall))),
            );
            return open(
                reader,
                wire,
                (state, id, salt, peer),
                first,
                false,
                shutdown,
            )
            .await;
        };
        // An SSL request: the rest of the conversation, login included, runs over TLS on the same socket.
        // Bounded like the rest of the login, so a client that stalls here does not hold its connection slot.
        let tls = match tokio::time::timeout(login::LOGIN_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return debug!(error = %e, "TLS handshake failed"),
            Err(_) => return debug!("no TLS handshake within the login timeout"),
        };
        let (read, write) = tokio::io::split(tls);
        let mut reader = PacketReader::new(read, limit);
        let wire = Wire::new(PacketWriter::new(WriteTimeout::new(write, stall)));
        let response = match login::read(&mut reader).await {
            Ok(response) => response,
            Err(e) => return debug!(error = %e, "no handshake response over TLS"),
        };
        open(
            reader,
            wire,
            (state, id, salt, peer),
            response,
            true,
            shutdown,
        )
        .await
    }
    .instrument(span)
    .await
}

/// Logs the client in from its handshake response, opens its backend session and serves it. `secure`: over TLS.
async fn open<R, W>(
    mut reader: PacketReader<R>,
    mut wire: Wire<W>,
    (state, id, salt, peer): (Arc<State>, u32, [u8; 20], String),
    response: (u8, Vec<u8>),
    secure: bool,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let opened = async {
        let login =
            login::authenticate(&mut reader, &mut wire, &state, &salt, response, secure).await?;
        let found_rows = login
            .hello
            .capabilities
            .contains(CapabilityFlags::CLIENT_FOUND_ROWS);
        let conn = state.backend.session_conn(found_rows).await?;
        Ok::<_, crate::Error>((login, conn))
    }
    .await;
    let (login, conn) = match opened {
        Ok(opened) => opened,
        Err(e) => return refuse(&mut wire, &e).await,
    };
    tracing::Span::current().record("user", login.user.name.as_str());
    let tenant = match login.user.role() {
        Role::Tenant(tenant) => Some(tenant),
        Role::Admin => None,
    };
    let timeout = state.config.statement_timeout_ms;
    let mut session = Session {
        id,
        state: state.clone(),
        user: login.user,
        conn,
        reader,
        wire,
        statements: Statements::default(),
        database: None,
        tenant: None,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        cancel: CancellationToken::new(),
        shadows: crate::write::Shadows::default(),
        twins: super::twins::Twins::default(),
        warnings: None,
        allow_scan: false,
        salt: login.salt,
        collation: login.hello.collation,
        activity: Arc::new(Activity::new(tenant)),
        class: Class::Command,
        timeout: (timeout > 0).then(|| std::time::Duration::from_millis(timeout)),
    };
    session.allow_scan = session.user.allow_scan;
    if let Err(e) = session.start(login.hello.database.as_deref()).await {
        return refuse(&mut session.wire, &e).await;
    }
    let _registered = state.sessions.register(
        id,
        SessionHandle {
            user: session.user.name.clone(),
            host: peer,
            activity: session.activity.clone(),
            backend_thread: session.conn.id(),
            cancel: session.cancel.clone(),
        },
    );
    session.run(shutdown).await;
}

/// Answers a connection over the limit with ER_CON_COUNT_ERROR instead of a greeting, as MySQL does.
pub async fn refuse_over_limit(stream: TcpStream, max: usize) {
    let (_, write) = stream.into_split();
    let mut wire = Wire::new(PacketWriter::new(write));
    refuse(&mut wire, &Error::TooManyConnections(max).into()).await;
}

/// Reports a failed login or session start and lets the connection close.
async fn refuse<W: AsyncWrite + Unpin>(wire: &mut Wire<W>, error: &crate::Error) {
    debug!(error = %error, "connection refused");
    if !matches!(error, crate::Error::Client(Error::ClientGone(_))) {
        let _ = write_error(wire, error).await;
        let _ = wire.flush().await;
    }
}
