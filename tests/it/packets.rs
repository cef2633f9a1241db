//! Hostile and broken input gets an error packet and the connection (or at least the proxy) survives.

use mysql_async::prelude::Queryable;

use crate::raw::{RawClient, Reply};
use crate::support::{config_for, fresh_database, Proxy, ADMIN, TENANT_1};

fn assert_err(reply: Reply, code: u16) -> String {
    match reply {
        Reply::Err(got, message) if got == code => message,
        other => panic!("expected error {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_commands_get_error_packets_and_the_session_goes_on() {
    let proxy = Proxy::start().await;
    let mut raw = RawClient::login(proxy.address, ADMIN).await;
    raw.command(&[]).await;
    assert_err(raw.reply().await, 1210);
    raw.command(&[0x99, 1, 2, 3]).await;
    let message = assert_err(raw.reply().await, 1047);
    assert!(message.contains("0x99"), "{message}");
    raw.command(&[0x17, 0x2A, 0, 0, 0, 0, 1, 0, 0, 0]).await;
    assert_err(raw.reply().await, 1243); // execute of an unknown statement id
    raw.command(&[0x17, 0x01]).await;
    assert_err(raw.reply().await, 1210); // too short to hold a statement id
    raw.command(&[0x11, b'x', 0]).await;
    assert_err(raw.reply().await, 1210); // a COM_CHANGE_USER too short to hold a password
    raw.command(&[0x1C, 1, 0, 0, 0, 1, 0, 0, 0]).await;
    assert_err(raw.reply().await, 1243); // COM_STMT_FETCH of a statement never prepared

    // A prepared statement, then executes with broken parameter blocks.
    raw.command(b"\x16SELECT ? + ?").await;
    let prepare_ok = raw.read().await.unwrap();
    assert_eq!(prepare_ok[0], 0x00);
    let id = u32::from_le_bytes([prepare_ok[1], prepare_ok[2], prepare_ok[3], prepare_ok[4]]);
    let params = u16::from_le_bytes([prepare_ok[7], prepare_ok[8]]);
    let columns = u16::from_le_bytes([prepare_ok[5], prepare_ok[6]]);
    assert_eq!((params, columns), (2, 1));
    for _ in 0..3 {
        let definition = raw.read().await.unwrap();
        assert_eq!(&definition[..4], b"\x03def", "a column definition");
    }
    let mut execute = vec![0x17];
    execute.extend_from_slice(&id.to_le_bytes());
    execute.extend_from_slice(&[0, 1, 0, 0, 0]);
    raw.command(&execute).await;
    assert_err(raw.reply().await, 1210); // parameters missing
    let mut bad_type = execute.clone();
    bad_type.extend_from_slice(&[0x00, 0x01, 0x77, 0x00, 0x77, 0x00]);
    raw.command(&bad_type).await;
    assert_err(raw.reply().await, 1210); // unknown parameter type 0x77
    for internal in [0x11u8, 0x12, 0x13, 0x14, 0xF2, 0xF3] {
        // Types only the server uses internally: refused, never decoded.
        let mut typed = execute.clone();
        typed.extend_from_slice(&[
            0x00, 0x01, internal, 0x00, internal, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        raw.command(&typed).await;
        assert_err(raw.reply().await, 1210);
    }
    let mut truncated = execute.clone();
    truncated.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 0x08, 0x00, 1, 0, 0]);
    raw.command(&truncated).await;
    assert_err(raw.reply().await, 1210); // a BIGINT value cut short
    let mut good = execute.clone();
    good.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 0x08, 0x00]);
    good.extend_from_slice(&40i64.to_le_bytes());
    good.extend_from_slice(&2i64.to_le_bytes());
    raw.command(&good).await;
    assert!(
        matches!(raw.reply().await, Reply::Other(_)),
        "a well-formed execute still works"
    );
    while let Some(packet) = raw.read().await {
        if packet.first() == Some(&0xFE) && packet.len() < 9 {
            break;
        }
    }
    assert!(
        matches!(raw.query(b"SELECT 1").await, Reply::Other(_)),
        "the session survived all of it"
    );
}

#[tokio::test]
async fn an_oversized_packet_is_refused_and_the_proxy_survives() {
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.max_allowed_packet = 4096;
    let proxy = Proxy::start_with(config).await;
    let mut raw = RawClient::login(proxy.address, TENANT_1).await;
    let mut big = b"\x03SELECT '".to_vec();
    big.resize(10_000, b'a');
    big.push(b'\'');
    raw.command(&big).await;
    let message = assert_err(raw.reply().await, 1153);
    assert!(message.contains("max_allowed_packet"), "{message}");
    assert!(
        raw.closed().await,
        "the connection closes after 1153, as MySQL does"
    );
    let mut conn = proxy.admin().await;
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn a_garbage_handshake_gets_1043() {
    let proxy = Proxy::start().await;
    let (mut raw, _) = RawClient::connect(proxy.address).await;
    raw.write(1, b"garbage").await;
    assert_err(raw.reply().await, 1043);
    let (mut tls, _) = RawClient::connect(proxy.address).await;
    // An SSL request: capabilities with CLIENT_SSL and nothing else, 32 bytes.
    let mut ssl = Vec::new();
    ssl.extend_from_slice(&(0x0000_0200u32 | 0x0000_0800 | 0x0000_8000).to_le_bytes());
    ssl.extend_from_slice(&(1u32 << 24).to_le_bytes());
    ssl.push(45);
    ssl.extend_from_slice(&[0; 23]);
    tls.write(1, &ssl).await;
    let message = assert_err(tls.reply().await, 1043);
    assert!(message.contains("TLS"), "{message}");
    let mut conn = proxy.admin().await;
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 1").await.unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn clients_hanging_up_mid_result_do_not_hurt_the_proxy() {
    let proxy = Proxy::start().await;
    for _ in 0..3 {
        let mut raw = RawClient::login(proxy.address, ADMIN).await;
        let mut query = vec![0x03];
        query.extend_from_slice(b"SELECT REPEAT('x', 1000) FROM information_schema.COLUMNS a, information_schema.COLUMNS b");
        raw.command(&query).await;
        let _ = raw.read().await;
        drop(raw);
    }
    let mut conn = proxy.admin().await;
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 5").await.unwrap(),
        Some(5)
    );
}
