//! The login exchange on a new connection: greeting, handshake response, optional plugin switch, password check.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::auth::{self, ClientHello};
use super::packet::PacketReader;
use super::relay::gone;
use super::wire::Wire;
use super::Error;
use crate::config::User;
use crate::state::State;

/// How long a client may take to complete the login exchange.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A client that proved who it is.
pub struct Login {
    pub user: User,
    pub hello: ClientHello,
    /// The greeting's scramble: COM_CHANGE_USER answers against it, as servers do.
    pub salt: [u8; 20],
}

/// Greets the client and authenticates it. On failure the caller writes the error; the sequence id is set.
pub async fn login<R, W>(
    reader: &mut PacketReader<R>,
    wire: &mut Wire<W>,
    state: &State,
    connection_id: u32,
) -> Result<Login, crate::Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let salt = auth::new_salt();
    let engine = state.backend.engine();
    let greeting = auth::greeting(
        &engine.greeting_version(),
        connection_id,
        &salt,
        engine.default_collation_id(),
    );
    wire.set_seq(0);
    wire.raw(&greeting).await.map_err(gone)?;
    wire.flush().await.map_err(gone)?;

    let (seq, payload) = read(reader).await?;
    wire.set_seq(seq.wrapping_add(1));
    if auth::asks_for_tls(&payload) {
        return Err(Error::BadHandshake(
            "TLS is not offered by this proxy yet: connect without TLS (e.g. --skip-ssl or ssl-mode=DISABLED)"
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
            auth::verify(&state.config, &hello.user, &salt, &hello.auth_response)
                .ok_or_else(|| denied(&hello.auth_response))?
        }
        Some(auth::CACHING_SHA2_PASSWORD) => {
            // MySQL 8.4/9 clients answer with caching_sha2_password whatever the greeting names.
            let user = auth::verify_sha256(&state.config, &hello.user, &salt, &hello.auth_response)
                .ok_or_else(|| denied(&hello.auth_response))?;
            wire.raw(&auth::FAST_AUTH_SUCCESS).await.map_err(gone)?;
            user
        }
        Some(_) => {
            // The client started with another plugin's answer; ask for mysql_native_password instead.
            wire.raw(&auth::switch_request(&salt)).await.map_err(gone)?;
            wire.flush().await.map_err(gone)?;
            let (seq, response) = read(reader).await?;
            wire.set_seq(seq.wrapping_add(1));
            auth::verify(&state.config, &hello.user, &salt, &response)
                .ok_or_else(|| denied(&response))?
        }
    }
    .clone();
    Ok(Login { user, hello, salt })
}

pub(super) async fn read<R: AsyncRead + Unpin>(
    reader: &mut PacketReader<R>,
) -> Result<(u8, Vec<u8>), Error> {
    let lost = || Error::ClientGone(std::io::ErrorKind::UnexpectedEof.into());
    match tokio::time::timeout(LOGIN_TIMEOUT, reader.next()).await {
        Err(_) => Err(Error::BadHandshake(format!(
            "no handshake response within {} seconds",
            LOGIN_TIMEOUT.as_secs()
        ))),
        Ok(Ok(Some(packet))) => Ok(packet),
        Ok(Ok(None)) => Err(lost()),
        Ok(Err(super::packet::ReadError::Io(e))) => Err(Error::ClientGone(e)),
        Ok(Err(super::packet::ReadError::TooLarge { .. })) => Err(Error::BadHandshake(
            "the handshake response is larger than max_allowed_packet".to_string(),
        )),
    }
}
