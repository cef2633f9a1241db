//! Packets at the 16 MiB boundary both ways: a payload of 0xFFFFFF bytes or more is split into several packets,
//! and one of exactly a multiple of 0xFFFFFF ends with an empty packet. Queries of those sizes reach the backend
//! whole, and rows of those sizes reach the client whole.

use mysql_async::prelude::Queryable;

use crate::support::Proxy;

const MAX: usize = 0xFF_FFFF;

#[tokio::test]
async fn queries_and_rows_at_the_16_mib_boundaries_pass_whole() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    for size in [MAX - 1, MAX, MAX + 1, 2 * MAX] {
        // A COM_QUERY payload of exactly `size` bytes: the command byte and the text.
        let (prefix, suffix) = ("SELECT LENGTH('", "')");
        let filler = size - 1 - prefix.len() - suffix.len();
        let sql = format!("{prefix}{}{suffix}", "x".repeat(filler));
        let length: Option<usize> = conn.query_first(sql).await.unwrap();
        assert_eq!(length, Some(filler), "a query of {size} bytes");

        // A text row of exactly `size` bytes: the value and its length prefix (4 bytes below 2^24, 9 above).
        let prefix = if size - 4 < 1 << 24 { 4 } else { 9 };
        let value: Option<Vec<u8>> = conn
            .query_first(format!("SELECT REPEAT('a', {})", size - prefix))
            .await
            .unwrap();
        assert_eq!(
            value.map(|v| v.len()),
            Some(size - prefix),
            "a row of {size} bytes"
        );
    }
    // The session goes on.
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 7").await.unwrap(),
        Some(7)
    );
}
