//! Property-based fuzzing of the wire layer's decoders on the stable toolchain: packet framing, the handshake
//! response, COM_STMT_EXECUTE parameters and statement ids, over arbitrary bytes and over valid packets with
//! mutations. None may panic, whatever a client sends. `PROPTEST_CASES` sets the number of cases (`scripts/fuzz`
//! runs a million).

use proptest::prelude::*;

use super::auth::{asks_for_tls, parse_hello};
use super::packet::PacketReader;
use super::prepared::{statement_id, Backing, Statements};

/// A well-formed HandshakeResponse41 for `user` with a 20-byte auth response, a database and a plugin.
fn hello(user: &str, database: &str) -> Vec<u8> {
    let capabilities: u32 = 0x0000_0200 | 0x0000_8000 | 0x0000_0008 | 0x0008_0000;
    let mut packet = Vec::new();
    packet.extend_from_slice(&capabilities.to_le_bytes());
    packet.extend_from_slice(&(16u32 << 20).to_le_bytes());
    packet.push(45);
    packet.extend_from_slice(&[0; 23]);
    packet.extend_from_slice(user.as_bytes());
    packet.push(0);
    packet.push(20);
    packet.extend_from_slice(&[7; 20]);
    packet.extend_from_slice(database.as_bytes());
    packet.push(0);
    packet.extend_from_slice(b"mysql_native_password\0");
    packet
}

/// A valid packet with some bytes replaced, inserted or removed, and possibly cut short.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        prop::collection::vec((0..len + 1, any::<u8>(), 0..3u8), 0..6),
        0..len + 1,
    )
        .prop_map(move |(edits, cut)| {
            let mut bytes = valid.clone();
            for (at, byte, how) in edits {
                let at = at.min(bytes.len());
                match how {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            if cut < len / 2 {
                bytes.truncate(len - cut);
            }
            bytes
        })
}

fn runtime() -> Result<tokio::runtime::Runtime, TestCaseError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any byte stream is framed into packets no larger than the limit, or refused; reading ends.
    #[test]
    fn packet_framing_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600), limit in 1usize..300) {
        runtime()?.block_on(async {
            let mut reader = PacketReader::new(bytes.as_slice(), limit);
            let mut read = 0;
            while let Ok(Some((_, payload))) = reader.next().await {
                prop_assert!(payload.len() <= limit);
                read += payload.len() + 4;
                prop_assert!(read <= bytes.len() + 4);
            }
            Ok(())
        })?;
    }

    /// A handshake response is parsed or refused, never a panic; an unmutated one is parsed as written.
    #[test]
    fn handshake_responses_are_parsed_or_refused(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            mutated(hello("acme", "app")),
        ],
        user in "[a-z]{1,12}",
    ) {
        let _ = asks_for_tls(&bytes);
        let _ = parse_hello(&bytes);
        let Some(valid) = parse_hello(&hello(&user, "app")) else {
            return Err(TestCaseError::fail("a valid response does not parse"));
        };
        prop_assert_eq!(valid.user, user);
        prop_assert_eq!(valid.database.as_deref(), Some("app"));
    }

    /// COM_STMT_EXECUTE bodies of any shape decode to the statement's parameters or to error 1210.
    #[test]
    fn execute_parameters_are_decoded_or_refused(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..120),
            // id, flags, iteration count, NULL bitmap, new-params flag, types, then values.
            mutated(vec![1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 8, 0, 253, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, b'x']),
        ],
        params in 0usize..4,
    ) {
        let _ = statement_id(&body, "fuzz");
        let sql = format!("SELECT 1{}", ", ?".repeat(params));
        let parsed = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &sql)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .remove(0);
        let mut statements = Statements::default();
        let id = statements.add(
            Backing::Emulated { statement: Box::new(parsed), params: params as u16 },
            Vec::new(),
        );
        let prepared = statements
            .get_mut(id, "fuzz")
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Ok(values) = prepared.decode_params(&body) {
            prop_assert_eq!(values.len(), params);
        }
    }
}
