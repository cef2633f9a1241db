//! A deliberately bare MySQL client over TCP, for sending packets no driver would: malformed, oversized, unknown.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RawClient {
    stream: TcpStream,
}

/// A server reply: OK, ERR (code and message), EOF, or anything else.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Err(u16, String),
    Other(Vec<u8>),
}

impl RawClient {
    /// Connects and logs in with mysql_native_password.
    pub async fn login(address: SocketAddr, login: (&str, &str)) -> RawClient {
        RawClient::login_as_plugin(address, login, "mysql_native_password").await
    }

    /// Logs in claiming `plugin` first; if the server switches to mysql_native_password, answers that.
    pub async fn login_as_plugin(
        address: SocketAddr,
        (user, password): (&str, &str),
        plugin: &str,
    ) -> RawClient {
        let mut client = RawClient {
            stream: TcpStream::connect(address).await.expect("connect"),
        };
        let greeting = client.read().await.expect("greeting");
        let salt = salt_of(&greeting);
        let scramble =
            mysql_common::scramble::scramble_native(&salt, password.as_bytes()).unwrap_or([0; 20]);
        // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | DEPRECATE_EOF
        let caps: u32 = 0x0000_0200 | 0x0000_8000 | 0x0008_0000 | 0x0000_0001 | 0x0100_0000;
        let mut response = Vec::new();
        response.extend_from_slice(&caps.to_le_bytes());
        response.extend_from_slice(&(16u32 << 20).to_le_bytes());
        response.push(45);
        response.extend_from_slice(&[0; 23]);
        response.extend_from_slice(user.as_bytes());
        response.push(0);
        let native = plugin == "mysql_native_password";
        let first: Vec<u8> = match plugin {
            "mysql_native_password" => scramble.to_vec(),
            "caching_sha2_password" => {
                mysql_common::scramble::scramble_sha256(&salt, password.as_bytes())
                    .map(|s| s.to_vec())
                    .unwrap_or_default()
            }
            _ => vec![0x5A; 32],
        };
        response.push(first.len() as u8);
        response.extend_from_slice(&first);
        response.extend_from_slice(plugin.as_bytes());
        response.push(0);
        client.write(1, &response).await;
        let mut reply = client.read().await.expect("a reply to the handshake");
        if reply == [0x01, 0x03] {
            // caching_sha2_password: fast authentication succeeded; the OK follows.
            reply = client
                .read()
                .await
                .expect("the OK after fast authentication");
        }
        if reply.first() == Some(&0xFE) && !native {
            let name_end = reply[1..]
                .iter()
                .position(|b| *b == 0)
                .expect("plugin name")
                + 1;
            assert_eq!(&reply[1..name_end], b"mysql_native_password");
            let new_salt = &reply[name_end + 1..name_end + 21];
            let answer = mysql_common::scramble::scramble_native(new_salt, password.as_bytes())
                .unwrap_or([0; 20]);
            client.write(3, &answer).await;
            reply = client.read().await.expect("a reply to the switch");
        }
        match classify(reply) {
            Reply::Ok => client,
            other => panic!("login failed: {other:?}"),
        }
    }

    /// Connects and returns the raw greeting without logging in.
    pub async fn connect(address: SocketAddr) -> (RawClient, Vec<u8>) {
        let mut client = RawClient {
            stream: TcpStream::connect(address).await.expect("connect"),
        };
        let greeting = client.read().await.expect("greeting");
        (client, greeting)
    }

    pub async fn write(&mut self, seq: u8, payload: &[u8]) {
        let len = payload.len();
        let header = [len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
        self.stream.write_all(&header).await.expect("write header");
        self.stream.write_all(payload).await.expect("write payload");
    }

    /// Sends bytes as they are, without a packet header.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends a command packet (sequence 0).
    pub async fn command(&mut self, payload: &[u8]) {
        self.write(0, payload).await;
    }

    /// One packet's payload, or `None` when the server closed the connection.
    pub async fn read(&mut self) -> Option<Vec<u8>> {
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header).await.ok()?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some(payload)
    }

    pub async fn reply(&mut self) -> Reply {
        let payload = self.read().await.expect("a reply, not a closed connection");
        classify(payload)
    }

    /// Sends COM_QUERY and reads the whole answer, returning the first packet classified.
    pub async fn query(&mut self, sql: &[u8]) -> Reply {
        let mut payload = vec![0x03];
        payload.extend_from_slice(sql);
        self.command(&payload).await;
        let first = self.reply().await;
        if let Reply::Other(_) = first {
            // A result set: skip to its terminator (0xFE with a short payload).
            while let Some(packet) = self.read().await {
                if packet.first() == Some(&0xFE) && packet.len() < 0xFF_FFFF {
                    break;
                }
            }
        }
        first
    }

    /// Whether the server closed the connection (reading gets end of stream).
    pub async fn closed(&mut self) -> bool {
        self.read().await.is_none()
    }
}

fn classify(payload: Vec<u8>) -> Reply {
    match payload.first() {
        Some(0x00) => Reply::Ok,
        Some(0xFF) => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            let message = String::from_utf8_lossy(&payload[9..]).into_owned();
            Reply::Err(code, message)
        }
        _ => Reply::Other(payload),
    }
}

/// The 20-byte scramble inside a protocol-10 greeting.
pub fn salt_of(greeting: &[u8]) -> Vec<u8> {
    let version_end = greeting[1..].iter().position(|b| *b == 0).expect("version") + 1;
    let mut at = version_end + 1 + 4;
    let mut salt = greeting[at..at + 8].to_vec();
    at += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
    salt.extend_from_slice(&greeting[at..at + 12]);
    salt
}

/// The connection id inside a greeting.
pub fn connection_id_of(greeting: &[u8]) -> u32 {
    let version_end = greeting[1..].iter().position(|b| *b == 0).expect("version") + 1;
    let at = version_end + 1;
    u32::from_le_bytes([
        greeting[at],
        greeting[at + 1],
        greeting[at + 2],
        greeting[at + 3],
    ])
}
