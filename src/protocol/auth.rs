//! The connection handshake: greeting, reading the client's response, plugin switch, password check.

use mysql_async::consts::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakeResponse;
use mysql_common::proto::MyDeserialize;

use crate::config::{Config, User};

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// caching_sha2_password's "fast authentication succeeded" (an AuthMoreData packet).
pub const FAST_AUTH_SUCCESS: [u8; 2] = [0x01, 0x03];

/// What the proxy offers, TLS aside (`greeting` adds CLIENT_SSL when it is configured). No compression, LOCAL
/// INFILE or session tracking.
pub fn server_capabilities() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_FOUND_ROWS
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
}

/// A fresh 20-byte scramble: printable, never NUL or `$`, as servers send.
pub fn new_salt() -> [u8; 20] {
    let mut salt = [0u8; 20];
    let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    let bytes = random.iter().flat_map(|u| u.as_bytes().iter().copied());
    for (slot, byte) in salt.iter_mut().zip(bytes) {
        let mut b = 0x21 + byte % 0x5E;
        if b == b'$' {
            b += 1;
        }
        *slot = b;
    }
    salt
}

/// The initial handshake packet (protocol version 10).
pub fn greeting(
    version: &str,
    connection_id: u32,
    salt: &[u8; 20],
    collation: u8,
    tls: bool,
) -> Vec<u8> {
    let mut caps = server_capabilities().bits();
    if tls {
        caps |= CapabilityFlags::CLIENT_SSL.bits();
    }
    let mut buf = Vec::with_capacity(96);
    buf.push(10);
    buf.extend_from_slice(version.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&connection_id.to_le_bytes());
    buf.extend_from_slice(&salt[..8]);
    buf.push(0);
    buf.extend_from_slice(&(caps as u16).to_le_bytes());
    buf.push(collation);
    buf.extend_from_slice(&StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits().to_le_bytes());
    buf.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    buf.push(21);
    buf.extend_from_slice(&[0; 10]);
    buf.extend_from_slice(&salt[8..]);
    buf.push(0);
    buf.extend_from_slice(NATIVE_PASSWORD.as_bytes());
    buf.push(0);
    buf
}

/// The parts of the client's handshake response the proxy uses.
#[derive(Debug, Clone)]
pub struct ClientHello {
    pub capabilities: CapabilityFlags,
    pub collation: u8,
    pub user: String,
    pub database: Option<String>,
    pub plugin: Option<String>,
    pub auth_response: Vec<u8>,
}

/// Whether a handshake response (or SSL request) sets CLIENT_SSL.
pub fn asks_for_tls(payload: &[u8]) -> bool {
    payload
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .is_some_and(|caps| caps & CapabilityFlags::CLIENT_SSL.bits() != 0)
}

/// Parses a handshake response; `None` if it is malformed or is an SSL request.
pub fn parse_hello(payload: &[u8]) -> Option<ClientHello> {
    if payload.len() < 32 {
        return None;
    }
    let response = HandshakeResponse::deserialize((), &mut ParseBuf(payload)).ok()?;
    Some(ClientHello {
        capabilities: response.capabilities(),
        collation: response.collation(),
        user: String::from_utf8_lossy(response.user()).into_owned(),
        database: response
            .db_name()
            .filter(|db| !db.is_empty())
            .map(|db| String::from_utf8_lossy(db).into_owned()),
        plugin: response
            .auth_plugin()
            .map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned()),
        auth_response: response.scramble_buf().to_vec(),
    })
}

/// The AuthSwitchRequest asking the client to answer with mysql_native_password.
pub fn switch_request(salt: &[u8; 20]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(48);
    buf.push(0xFE);
    buf.extend_from_slice(NATIVE_PASSWORD.as_bytes());
    buf.push(0);
    buf.extend_from_slice(salt);
    buf.push(0);
    buf
}

/// Checks a mysql_native_password response against the configured users; unknown users fail like wrong passwords.
pub fn verify<'c>(
    config: &'c Config,
    user: &str,
    salt: &[u8; 20],
    response: &[u8],
) -> Option<&'c User> {
    let candidate = config.user(user)?;
    let expected = mysql_common::scramble::scramble_native(salt, candidate.password.as_bytes());
    let matches = match expected {
        None => response.is_empty(),
        Some(expected) => constant_time_eq(&expected, response),
    };
    matches.then_some(candidate)
}

/// Checks a caching_sha2_password response. The proxy knows every password, so the client's SHA-256 scramble is
/// always checked directly: the "fast" path, with no full authentication (and so no TLS or RSA) needed.
pub fn verify_sha256<'c>(
    config: &'c Config,
    user: &str,
    salt: &[u8; 20],
    response: &[u8],
) -> Option<&'c User> {
    let candidate = config.user(user)?;
    let matches = match mysql_common::scramble::scramble_sha256(salt, candidate.password.as_bytes())
    {
        None => response.is_empty(),
        Some(expected) => constant_time_eq(&expected, response),
    };
    matches.then_some(candidate)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            "backend_url = 'mysql://u:p@127.0.0.1:3306/app'\n\
             [[users]]\nname = 'acme'\npassword = 'secret'\ntenant = 1\n\
             [[users]]\nname = 'open'\npassword = ''\nadmin = true\n",
        )
        .unwrap()
    }

    #[test]
    fn native_password_is_verified() {
        let config = config();
        let salt = new_salt();
        let good = mysql_common::scramble::scramble_native(&salt, b"secret").unwrap();
        assert_eq!(verify(&config, "acme", &salt, &good).unwrap().name, "acme");
        let bad = mysql_common::scramble::scramble_native(&salt, b"wrong").unwrap();
        assert!(verify(&config, "acme", &salt, &bad).is_none());
        assert!(verify(&config, "acme", &salt, &[]).is_none());
        assert!(verify(&config, "nobody", &salt, &good).is_none());
        assert!(verify(&config, "open", &salt, &[]).is_some());
        assert!(verify(&config, "open", &salt, &good).is_none());
    }

    #[test]
    fn caching_sha2_fast_auth_is_verified() {
        let config = config();
        let salt = new_salt();
        let good = mysql_common::scramble::scramble_sha256(&salt, b"secret").unwrap();
        assert!(verify_sha256(&config, "acme", &salt, &good).is_some());
        let bad = mysql_common::scramble::scramble_sha256(&salt, b"wrong").unwrap();
        assert!(verify_sha256(&config, "acme", &salt, &bad).is_none());
        assert!(verify_sha256(&config, "open", &salt, &[]).is_some());
    }

    #[test]
    fn salts_are_printable_and_differ() {
        let (a, b) = (new_salt(), new_salt());
        assert_ne!(a, b);
        assert!(a.iter().all(|c| c.is_ascii_graphic() && *c != b'$'));
    }
}
