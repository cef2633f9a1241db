//! Server-side cursors: COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY answers the column definitions and a terminator
//! carrying SERVER_STATUS_CURSOR_EXISTS, and each COM_STMT_FETCH sends the next rows, then CURSOR_EXISTS while rows
//! remain or LAST_ROW_SENT when they are all sent. Other commands work while a cursor is open; a cursor whose
//! unread rows outgrow `cursor_buffer_bytes` when another command needs the backend connection is closed with 1114.
//! Checked with the raw protocol, on a passthrough statement and on a model table, and with libmariadb's own
//! cursor tests (`mariadb-client-test`).

use mysql_async::prelude::Queryable;

use crate::raw::{RawClient, Reply};
use crate::support::{backend, config_for, fresh_database, Proxy, ADMIN, TENANT_1};

const CURSOR_EXISTS: u16 = 0x0040;
const LAST_ROW_SENT: u16 = 0x0080;

/// Prepares `sql` and returns the statement id, reading the column definitions (the raw client asked for
/// DEPRECATE_EOF, so no EOF follows them).
async fn prepare(raw: &mut RawClient, sql: &str, columns: usize) -> u32 {
    let mut command = vec![0x16];
    command.extend_from_slice(sql.as_bytes());
    raw.command(&command).await;
    let prepare_ok = raw.read().await.unwrap();
    assert_eq!(prepare_ok[0], 0x00, "{prepare_ok:?}");
    for _ in 0..columns {
        assert_eq!(&raw.read().await.unwrap()[..4], b"\x03def");
    }
    u32::from_le_bytes([prepare_ok[1], prepare_ok[2], prepare_ok[3], prepare_ok[4]])
}

/// Executes statement `id` (no parameters) with a read-only cursor; returns the terminator's status flags.
async fn open(raw: &mut RawClient, id: u32, columns: u8) -> u16 {
    let mut execute = vec![0x17];
    execute.extend_from_slice(&id.to_le_bytes());
    execute.extend_from_slice(&[0x01, 1, 0, 0, 0]);
    raw.command(&execute).await;
    assert_eq!(raw.read().await.unwrap(), [columns], "the column count");
    for _ in 0..columns {
        assert_eq!(&raw.read().await.unwrap()[..4], b"\x03def");
    }
    let terminator = raw.read().await.unwrap();
    assert_eq!(terminator[0], 0xFE, "a terminator, no rows: {terminator:?}");
    status_of(&terminator)
}

/// The status flags of an OK-style terminator: 0xFE, affected rows (0), last insert id (0), status.
fn status_of(terminator: &[u8]) -> u16 {
    u16::from_le_bytes([terminator[3], terminator[4]])
}

/// COM_STMT_FETCH of `rows`; returns the first string column of each binary row, and the terminator's status.
async fn fetch(raw: &mut RawClient, id: u32, rows: u32) -> (Vec<String>, u16) {
    let mut command = vec![0x1C];
    command.extend_from_slice(&id.to_le_bytes());
    command.extend_from_slice(&rows.to_le_bytes());
    raw.command(&command).await;
    let mut values = Vec::new();
    loop {
        let packet = raw.read().await.unwrap();
        match packet[0] {
            // Binary row: header, a NULL bitmap of one byte (one or two columns), a length-encoded string.
            0x00 => {
                let len = usize::from(packet[2]);
                values.push(String::from_utf8(packet[3..3 + len].to_vec()).unwrap());
            }
            0xFE => return (values, status_of(&packet)),
            0xFF => panic!(
                "error {}: {}",
                u16::from_le_bytes([packet[1], packet[2]]),
                String::from_utf8_lossy(&packet[9..])
            ),
            other => panic!("unexpected packet {other:#x}"),
        }
    }
}

async fn fetch_refused(raw: &mut RawClient, id: u32) -> u16 {
    let mut command = vec![0x1C];
    command.extend_from_slice(&id.to_le_bytes());
    command.extend_from_slice(&10u32.to_le_bytes());
    raw.command(&command).await;
    match raw.reply().await {
        Reply::Err(code, _) => code,
        other => panic!("an error, not {other:?}"),
    }
}

const FIVE: &str =
    "SELECT 'a' AS v UNION ALL SELECT 'b' UNION ALL SELECT 'c' UNION ALL SELECT 'd' \
                    UNION ALL SELECT 'e'";

#[tokio::test]
async fn a_passthrough_cursor_is_fetched_in_steps_and_survives_other_commands() {
    let proxy = Proxy::start().await;
    let mut raw = RawClient::login(proxy.address, ADMIN).await;
    let id = prepare(&mut raw, FIVE, 1).await;
    assert_eq!(fetch_refused(&mut raw, id).await, 1421, "no cursor yet");

    let status = open(&mut raw, id, 1).await;
    assert_ne!(status & CURSOR_EXISTS, 0, "the cursor is announced");
    let (rows, status) = fetch(&mut raw, id, 2).await;
    assert_eq!(rows, ["a", "b"]);
    assert_ne!(status & CURSOR_EXISTS, 0);
    assert_eq!(status & LAST_ROW_SENT, 0);

    // Another command needs the backend connection: the cursor's rest is kept, the command answered.
    assert!(matches!(raw.query(b"SELECT 42").await, Reply::Other(_)));
    let (rows, status) = fetch(&mut raw, id, 2).await;
    assert_eq!(rows, ["c", "d"]);
    assert_ne!(status & CURSOR_EXISTS, 0);
    let (rows, status) = fetch(&mut raw, id, 10).await;
    assert_eq!(rows, ["e"]);
    assert_ne!(status & LAST_ROW_SENT, 0, "the last fetch says so");
    assert_eq!(status & CURSOR_EXISTS, 0);
    assert_eq!(fetch_refused(&mut raw, id).await, 1421, "the cursor closed");

    // Fetching exactly the rows left says LAST_ROW_SENT at once; a new execute closes an open cursor.
    open(&mut raw, id, 1).await;
    let (rows, status) = fetch(&mut raw, id, 5).await;
    assert_eq!(rows.len(), 5);
    assert_ne!(status & LAST_ROW_SENT, 0);
    open(&mut raw, id, 1).await;
    fetch(&mut raw, id, 1).await;
    open(&mut raw, id, 1).await;
    let (rows, _) = fetch(&mut raw, id, 10).await;
    assert_eq!(
        rows,
        ["a", "b", "c", "d", "e"],
        "the new execute starts over"
    );

    // COM_STMT_RESET closes the cursor; so does COM_STMT_CLOSE, after which the session goes on.
    open(&mut raw, id, 1).await;
    let mut reset = vec![0x1A];
    reset.extend_from_slice(&id.to_le_bytes());
    raw.command(&reset).await;
    assert_eq!(raw.reply().await, Reply::Ok);
    assert_eq!(fetch_refused(&mut raw, id).await, 1421);
    open(&mut raw, id, 1).await;
    let mut close = vec![0x19];
    close.extend_from_slice(&id.to_le_bytes());
    raw.command(&close).await;
    assert_eq!(
        fetch_refused(&mut raw, id).await,
        1243,
        "the statement is gone"
    );
    assert!(matches!(raw.query(b"SELECT 1").await, Reply::Other(_)));
}

#[tokio::test]
async fn two_cursors_are_open_at_once() {
    let proxy = Proxy::start().await;
    let mut raw = RawClient::login(proxy.address, ADMIN).await;
    let first = prepare(&mut raw, FIVE, 1).await;
    let second = prepare(&mut raw, "SELECT 'x' UNION ALL SELECT 'y'", 1).await;
    open(&mut raw, first, 1).await;
    assert_eq!(fetch(&mut raw, first, 1).await.0, ["a"]);
    // Executing the second keeps the first's rest.
    open(&mut raw, second, 1).await;
    assert_eq!(fetch(&mut raw, first, 2).await.0, ["b", "c"]);
    let (rows, status) = fetch(&mut raw, second, 5).await;
    assert_eq!(rows, ["x", "y"]);
    assert_ne!(status & LAST_ROW_SENT, 0);
    let (rows, status) = fetch(&mut raw, first, 5).await;
    assert_eq!(rows, ["d", "e"]);
    assert_ne!(status & LAST_ROW_SENT, 0);
}

#[tokio::test]
async fn a_cursor_on_a_model_table_streams_its_rows() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop("CREATE TABLE model_city (name VARCHAR(40) NOT NULL, pop INT, INDEX (pop))")
        .await
        .unwrap();
    for (i, name) in ["Oslo", "Lima", "Baku", "Rome", "Kyiv", "Doha", "Riga"]
        .iter()
        .enumerate()
    {
        tenant
            .exec_drop(
                "INSERT INTO model_city (name, pop) VALUES (?, ?)",
                (name, i as i64),
            )
            .await
            .unwrap();
    }
    let mut raw = RawClient::login(proxy.address, TENANT_1).await;
    let id = prepare(
        &mut raw,
        "SELECT name, pop FROM model_city WHERE pop >= 1 ORDER BY pop",
        2,
    )
    .await;
    let status = open(&mut raw, id, 2).await;
    assert_ne!(status & CURSOR_EXISTS, 0);
    let mut seen = Vec::new();
    loop {
        let (rows, status) = fetch(&mut raw, id, 4).await;
        assert!(rows.len() <= 4);
        seen.extend(rows);
        if status & LAST_ROW_SENT != 0 {
            break;
        }
        assert_ne!(status & CURSOR_EXISTS, 0);
    }
    assert_eq!(seen, ["Lima", "Baku", "Rome", "Kyiv", "Doha", "Riga"]);
    // The tenant's session goes on, with its own model.
    assert!(matches!(
        raw.query(b"SELECT COUNT(*) FROM model_city").await,
        Reply::Other(_)
    ));
}

#[tokio::test]
async fn a_cursor_whose_rest_outgrows_the_buffer_is_closed_with_1114() {
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.cursor_buffer_bytes = 4096;
    let proxy = Proxy::start_with(config).await;
    let mut raw = RawClient::login(proxy.address, ADMIN).await;
    // 100 rows of 100 bytes: more than the 4 KiB bound.
    let sql = "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
               SELECT REPEAT('x', 100) FROM n";
    let id = prepare(&mut raw, sql, 1).await;
    open(&mut raw, id, 1).await;
    let (rows, _) = fetch(&mut raw, id, 2).await;
    assert_eq!(rows.len(), 2);
    assert!(matches!(raw.query(b"SELECT 42").await, Reply::Other(_)));
    let mut command = vec![0x1C];
    command.extend_from_slice(&id.to_le_bytes());
    command.extend_from_slice(&10u32.to_le_bytes());
    raw.command(&command).await;
    match raw.reply().await {
        Reply::Err(1114, message) => assert!(message.contains("cursor_buffer_bytes"), "{message}"),
        other => panic!("1114, not {other:?}"),
    }
    assert_eq!(
        fetch_refused(&mut raw, id).await,
        1421,
        "the cursor is closed"
    );
    // Fetched to its end without interruption, the same result streams through whatever its size.
    open(&mut raw, id, 1).await;
    let mut total = 0;
    loop {
        let (rows, status) = fetch(&mut raw, id, 7).await;
        total += rows.len();
        if status & LAST_ROW_SENT != 0 {
            break;
        }
    }
    assert_eq!(total, 100);
    assert!(matches!(raw.query(b"SELECT 1").await, Reply::Other(_)));
}

/// libmariadb's own cursor tests, from Debian's `mariadb-test` package, through the proxy as an admin.
#[tokio::test]
async fn mariadb_client_test_cursor_cases_pass_through_the_proxy() {
    let proxy = Proxy::start().await;
    let _ = backend();
    let output = tokio::process::Command::new("mariadb-client-test")
        .args([
            "-h127.0.0.1",
            &format!("-P{}", proxy.address.port()),
            &format!("-u{}", ADMIN.0),
            &format!("-p{}", ADMIN.1),
            &format!("-D{}", proxy.database),
            "--silent",
            "test_basic_cursors",
            "test_cursors_with_union",
        ])
        .output()
        .await
        .expect(
            "mariadb-client-test is installed (Debian's mariadb-test; scripts/setup installs it)",
        );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
}

#[tokio::test]
async fn the_last_fetch_reports_the_statements_warnings() {
    let proxy = Proxy::start().await;
    let mut raw = RawClient::login(proxy.address, ADMIN).await;
    let id = prepare(&mut raw, "SELECT CAST(1 - 2 AS UNSIGNED) AS v", 1).await;
    open(&mut raw, id, 1).await;
    let mut command = vec![0x1C];
    command.extend_from_slice(&id.to_le_bytes());
    command.extend_from_slice(&10u32.to_le_bytes());
    raw.command(&command).await;
    assert_eq!(raw.read().await.unwrap()[0], 0x00, "the row");
    let terminator = raw.read().await.unwrap();
    assert_eq!(terminator[0], 0xFE);
    assert_ne!(status_of(&terminator) & LAST_ROW_SENT, 0);
    // OK-style terminator: header, affected rows, last insert id, status (2 bytes), then the warning count.
    let warnings = u16::from_le_bytes([terminator[5], terminator[6]]);
    assert_eq!(warnings, 1, "the cast's note");
}
