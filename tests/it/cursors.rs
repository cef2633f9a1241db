//! A COM_STMT_EXECUTE asking for a read-only cursor is answered as a server that chose not to open one: the rows
//! follow at once and no terminator carries SERVER_STATUS_CURSOR_EXISTS, which is how clients (libmariadb,
//! Connector/J, mysql-connector-python) tell that they must read the rows rather than fetch them. COM_STMT_FETCH
//! itself answers 1235, and the session goes on.

use crate::raw::{RawClient, Reply};
use crate::support::{Proxy, ADMIN};

const CURSOR_EXISTS: u16 = 0x0040;

#[tokio::test]
async fn a_cursor_request_gets_the_rows_at_once_and_fetch_is_refused() {
    let proxy = Proxy::start().await;
    let mut raw = RawClient::login(proxy.address, ADMIN).await;
    raw.command(b"\x16SELECT 1 UNION ALL SELECT 2").await;
    let prepare_ok = raw.read().await.unwrap();
    assert_eq!(prepare_ok[0], 0x00);
    let id = u32::from_le_bytes([prepare_ok[1], prepare_ok[2], prepare_ok[3], prepare_ok[4]]);
    // One column definition; the raw client asked for DEPRECATE_EOF, so no EOF after it.
    assert_eq!(&raw.read().await.unwrap()[..4], b"\x03def");

    // Execute with CURSOR_TYPE_READ_ONLY (flags = 1), iteration count 1, no parameters.
    let mut execute = vec![0x17];
    execute.extend_from_slice(&id.to_le_bytes());
    execute.extend_from_slice(&[0x01, 1, 0, 0, 0]);
    raw.command(&execute).await;
    assert_eq!(raw.read().await.unwrap(), [1], "one column");
    assert_eq!(&raw.read().await.unwrap()[..4], b"\x03def");
    let mut rows = 0;
    let terminator = loop {
        let packet = raw.read().await.unwrap();
        match packet[0] {
            0x00 => rows += 1,
            0xFE => break packet,
            other => panic!("unexpected packet {other:#x}"),
        }
    };
    assert_eq!(rows, 2, "both rows follow the definitions");
    // OK-style terminator: 0xFE, affected rows (0), last insert id (0), status flags.
    let status = u16::from_le_bytes([terminator[3], terminator[4]]);
    assert_eq!(status & CURSOR_EXISTS, 0, "no cursor is announced");

    let mut fetch = vec![0x1C];
    fetch.extend_from_slice(&id.to_le_bytes());
    fetch.extend_from_slice(&10u32.to_le_bytes());
    raw.command(&fetch).await;
    assert!(matches!(raw.reply().await, Reply::Err(1235, _)));
    assert!(matches!(raw.query(b"SELECT 1").await, Reply::Other(_)));
}
