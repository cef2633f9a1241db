//! The login exchange on a new connection: greeting, handshake response (after a TLS handshake if the client asks
//! for one), optional plugin switch, password check.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

use super::auth::{self, ClientHello};
use super::packet::{PacketReader, PacketWriter};
use super::relay::gone;
use super::wire::Wire;
use super::Error;
use crate::config::User;
use crate::state::State;

/// How long a client may take to complete the login exchange.
pub(super) const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest first packet accepted: a handshake response (connection attributes included) is far smaller.
const FIRST_PACKET_LIMIT: usize = 64 * 1024;

/// A client that proved who it is.
pub struct Login {
    pub user: User,
    pub hello: ClientHello,
    /// The greeting's scramble: COM_CHANGE_USER answers against it, as servers do.
    pub salt: [u8; 20],
}

/// Sends the greeting and reads the client's first answer: its handshake response, or an SSL request.
pub async fn greet(
    stream: &mut TcpStream,
    state: &State,
    connection_id: u32,
    salt: &[u8; 20],
) -> Result<(u8, Vec<u8>), crate::Error> {
    let engine = state.backend.engine();
    let greeting = auth::greeting(
        &engine.greeting_version(),
        connection_id,
        salt,
        engine.default_collation_id(),
        state.tls.is_some(),
    );
    let mut wire = Wire::new(PacketWriter::new(&mut *stream));
    wire.set_seq(0);
    wire.raw(&greeting).await.map_err(gone)?;
    wire.flush().await.map_err(gone)?;
    match tokio::time::timeout(LOGIN_TIMEOUT, first_packet(stream)).await {
        Ok(first) => Ok(first?),
        Err(_) => Err(no_response().into()),
    }
}

/// The client's first packet, read without a buffer: a client starts its TLS handshake right after its SSL
/// request, without waiting, and those bytes must stay in the socket for the TLS acceptor.
async fn first_packet(stream: &mut TcpStream) -> Result<(u8, Vec<u8>), Error> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len >= FIRST_PACKET_LIMIT {
        return Err(Error::BadHandshake(format!(
            "a handshake response of {len} bytes is too large"
        )));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok((header[3], payload))
}

fn no_response() -> Error {
    Error::BadHandshake(format!(
        "no handshake response within {} seconds",
        LOGIN_TIMEOUT.as_secs()
    ))
}

/// Authenticates the client from its handshake response `(seq, payload)`. `secure`: the connection is TLS. On
/// failure the caller writes the error; the sequence id is set.
pub async fn authenticate<R, W>(
    reader: &mut PacketReader<R>,
    wire: &mut Wire<W>,
    state: &State,
    salt: &[u8; 20],
    (seq, payload): (u8, Vec<u8>),
    secure: bool,
) -> Result<Login, crate::Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    wire.set_seq(seq.wrapping_add(1));
    if !secure && auth::asks_for_tls(&payload) {
        return Err(Error::BadHandshake(
            "TLS is not offered by this proxy (no tls_cert and tls_key configured): connect without TLS \
             (e.g. --skip-ssl or ssl-mode=DISABLED)"
                .to_string(),
        )
        .into());
    }
    let hello = auth::parse_hello(&payload)
        .ok_or_else(|| Error::BadHandshake("the handshake response is malformed".to_string()))?;
    wire.set_capabilities(hello.capabilities & auth::server_capabilities());

    let denied = |response: &[u8]| Error::AccessDenied {
        user: hello.user.clone(),
        using_password: !response.is_empty(),
    };
    let user = match hello.plugin.as_deref() {
        None | Some(auth::NATIVE_PASSWORD) => {
            auth::verify(&state.config, &hello.user, salt, &hello.auth_response)
                .ok_or_else(|| denied(&hello.auth_response))?
        }
        Some(auth::CACHING_SHA2_PASSWORD) => {
            // MySQL 8.4/9 clients answer with caching_sha2_password whatever the greeting names.
            let user = auth::verify_sha256(&state.config, &hello.user, salt, &hello.auth_response)
                .filter(|user| secure || !user.require_tls)
                .ok_or_else(|| denied(&hello.auth_response))?;
            wire.raw(&auth::FAST_AUTH_SUCCESS).await.map_err(gone)?;
            user
        }
        Some(_) => {
            // The client started with another plugin's answer; ask for mysql_native_password instead.
            wire.raw(&auth::switch_request(salt)).await.map_err(gone)?;
            wire.flush().await.map_err(gone)?;
            let (seq, response) = read(reader).await?;
            wire.set_seq(seq.wrapping_add(1));
            auth::verify(&state.config, &hello.user, salt, &response)
                .ok_or_else(|| denied(&response))?
        }
    }
    .clone();
    // A login that requires TLS is refused without it as a wrong password would be, as MySQL refuses a
    // `REQUIRE SSL` account.
    if user.require_tls && !secure {
        return Err(denied(&hello.auth_response).into());
    }
    Ok(Login {
        user,
        hello,
        salt: *salt,
    })
}

pub(super) async fn read<R: AsyncRead + Unpin>(
    reader: &mut PacketReader<R>,
) -> Result<(u8, Vec<u8>), Error> {
    let lost = || Error::ClientGone(std::io::ErrorKind::UnexpectedEof.into());
    match tokio::time::timeout(LOGIN_TIMEOUT, reader.next()).await {
        Err(_) => Err(no_response()),
        Ok(Ok(Some(packet))) => Ok(packet),
        Ok(Ok(None)) => Err(lost()),
        Ok(Err(super::packet::ReadError::Io(e))) => Err(Error::ClientGone(e)),
        Ok(Err(super::packet::ReadError::TooLarge { .. })) => Err(Error::BadHandshake(
            "the handshake response is larger than max_allowed_packet".to_string(),
        )),
    }
}
