//! Multi-statement texts through the proxy: every result reaches the client, the final OK of a batch included,
//! with the counts the backend gave each, as a direct connection sees them.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::support::Proxy;

/// Each result of a batch as (column count, affected rows, rows).
async fn results(conn: &mut Conn, sql: &str) -> Vec<(usize, u64, usize)> {
    let mut result = conn.query_iter(sql).await.unwrap();
    let mut seen = Vec::new();
    while let Some(columns) = result.columns() {
        let affected = result.affected_rows();
        let rows: Vec<mysql_async::Row> = result.collect().await.unwrap();
        seen.push((columns.len(), affected, rows.len()));
    }
    seen
}

#[tokio::test]
async fn every_result_of_a_batch_reaches_the_client_the_last_ok_included() {
    let proxy = Proxy::start().await;
    let batches = [
        "CREATE TABLE batch (i INT); INSERT INTO batch VALUES (1), (2), (3); SELECT * FROM batch WHERE i > 1; \
         DROP TABLE batch",
        "CREATE TABLE batch (i INT); INSERT INTO batch VALUES (1); DELETE FROM batch; DROP TABLE batch",
        "SELECT 1; SELECT 2, 3",
        "DROP TABLE IF EXISTS batch",
    ];
    for batch in batches {
        let through = results(&mut proxy.admin().await, batch).await;
        let direct = results(&mut proxy.direct().await, batch).await;
        assert_eq!(through, direct, "{batch}");
    }
    let four = results(&mut proxy.admin().await, batches[0]).await;
    assert_eq!(four.len(), 4, "CREATE, INSERT, SELECT and DROP: {four:?}");
    assert_eq!((four[1].1, four[2].2, four[3].0), (3, 2, 0));
}
