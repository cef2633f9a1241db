//! Admin passthrough: reads, writes and DDL reach the backend; results, counts, types and errors come back as
//! the backend sent them; large results stream.

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::support::{code, server_error, Proxy};

#[tokio::test]
async fn admin_creates_fills_and_queries_an_ordinary_table() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    conn.query_drop("CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, score DECIMAL(10,3), born DATE, note TEXT, data BLOB, meta JSON)")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO people (name, score, born, note, data, meta) VALUES ('ada', 12.5, '1815-12-10', 'x', X'00FF', '{\"a\": 1}'), ('bob', NULL, NULL, NULL, NULL, NULL)")
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 2);
    assert_eq!(
        conn.last_insert_id(),
        Some(1),
        "first id of a multi-row insert"
    );
    assert!(
        conn.info().contains("Records: 2"),
        "info text relayed: {:?}",
        conn.info()
    );
    conn.query_drop("INSERT INTO people (name) VALUES ('cy')")
        .await
        .unwrap();
    assert_eq!(conn.last_insert_id(), Some(3));
    conn.query_drop("UPDATE people SET score = 1 WHERE name IN ('bob', 'cy')")
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 2);
    conn.query_drop("UPDATE people SET score = 1 WHERE name = 'bob'")
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 0, "unchanged rows are not counted");
    conn.query_drop("DELETE FROM people WHERE name = 'cy'")
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 1);
    conn.query_drop("ALTER TABLE people ADD COLUMN extra INT NULL")
        .await
        .unwrap();

    let through: Vec<Row> = conn
        .query("SELECT * FROM people ORDER BY id")
        .await
        .unwrap();
    let mut direct = proxy.direct().await;
    let expected: Vec<Row> = direct
        .query("SELECT * FROM people ORDER BY id")
        .await
        .unwrap();
    assert_eq!(through.len(), 2);
    for (a, b) in through.iter().zip(&expected) {
        assert_eq!(a.clone().unwrap(), b.clone().unwrap(), "same values");
        for (ca, cb) in a.columns_ref().iter().zip(b.columns_ref()) {
            assert_eq!(ca.column_type(), cb.column_type(), "{}", ca.name_str());
            assert_eq!(ca.character_set(), cb.character_set(), "{}", ca.name_str());
            assert_eq!(ca.decimals(), cb.decimals(), "{}", ca.name_str());
            assert_eq!(ca.column_length(), cb.column_length(), "{}", ca.name_str());
            assert_eq!(ca.flags(), cb.flags(), "{}", ca.name_str());
            assert_eq!(ca.org_table_str(), cb.org_table_str());
        }
    }
    let score = &through[0].columns_ref()[2];
    assert_eq!(score.column_type(), ColumnType::MYSQL_TYPE_NEWDECIMAL);
    assert_eq!(score.decimals(), 3);
    assert_eq!(
        through[0].columns_ref()[5].character_set(),
        63,
        "BLOB stays binary"
    );
    assert!(through[0].columns_ref()[0]
        .flags()
        .contains(ColumnFlags::PRI_KEY_FLAG));
    conn.query_drop("DROP TABLE people").await.unwrap();
    assert_eq!(code(conn.query_drop("SELECT * FROM people").await), 1146);
}

#[tokio::test]
async fn backend_errors_keep_their_code_state_and_message() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    conn.query_drop("CREATE TABLE u (id INT PRIMARY KEY)")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO u VALUES (1)").await.unwrap();
    let duplicate = server_error(conn.query_drop("INSERT INTO u VALUES (1)").await);
    assert_eq!((duplicate.code, duplicate.state.as_str()), (1062, "23000"));
    assert!(
        duplicate.message.contains("Duplicate entry '1'"),
        "{}",
        duplicate.message
    );
    let syntax = server_error(conn.query_drop("SELEKT nothing").await);
    assert_eq!(
        (syntax.code, syntax.state.as_str()),
        (1064, "42000"),
        "the backend's own syntax error"
    );
    let unknown_column = server_error(conn.query_drop("SELECT nope FROM u").await);
    assert_eq!(unknown_column.code, 1054);
    let mut direct = proxy.direct().await;
    let native = server_error(direct.query_drop("SELECT nope FROM u").await);
    assert_eq!(unknown_column.message, native.message);
    // A code beyond MySQL 5.7's range (MariaDB 4025, MySQL 3819: a CHECK constraint) is relayed as it is.
    conn.query_drop("CREATE TABLE checked (a INT, CONSTRAINT positive CHECK (a > 0))")
        .await
        .unwrap();
    let high = server_error(conn.query_drop("INSERT INTO checked VALUES (-1)").await);
    let native_high = server_error(direct.query_drop("INSERT INTO checked VALUES (-1)").await);
    assert!(high.code > 1885, "{}", high.code);
    assert_eq!(
        (high.code, high.state.clone(), high.message.clone()),
        (native_high.code, native_high.state, native_high.message)
    );
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 7").await.unwrap(),
        Some(7),
        "the session goes on"
    );
}

#[tokio::test]
async fn multi_statements_return_every_result() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    let mut result = conn
        .query_iter("SELECT 1 AS a; CREATE TABLE m (x INT); SELECT 2 AS b, 3 AS c")
        .await
        .unwrap();
    let first: Vec<i64> = result.collect().await.unwrap();
    assert_eq!(first, vec![1]);
    let second: Vec<Row> = result.collect().await.unwrap();
    assert!(second.is_empty());
    let third: Vec<(i64, i64)> = result.collect().await.unwrap();
    assert_eq!(third, vec![(2, 3)]);
    assert!(result.is_empty());
    drop(result);
    let error = code(
        conn.query_drop("SELECT 1; SELECT * FROM missing_table")
            .await,
    );
    assert_eq!(error, 1146);
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 4").await.unwrap(),
        Some(4)
    );
}

#[tokio::test]
async fn transactions_commit_and_roll_back_on_the_backend_session() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    conn.query_drop("CREATE TABLE tx (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await
        .unwrap();
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("INSERT INTO tx VALUES (1)").await.unwrap();
    conn.query_drop("ROLLBACK").await.unwrap();
    conn.query_drop("START TRANSACTION").await.unwrap();
    conn.query_drop("INSERT INTO tx VALUES (2)").await.unwrap();
    conn.query_drop("COMMIT").await.unwrap();
    conn.query_drop("SET autocommit = 0").await.unwrap();
    conn.query_drop("INSERT INTO tx VALUES (3)").await.unwrap();
    drop(conn); // disconnect with the transaction open: its work is lost

    let mut direct = proxy.direct().await;
    let ids: Vec<i64> = direct.query("SELECT id FROM tx ORDER BY id").await.unwrap();
    assert_eq!(
        ids,
        vec![2],
        "the rolled-back and the uncommitted rows are not there"
    );
    // The abandoned transaction still holds id 3 until the backend session is reset or closed; this insert waits
    // for that and succeeds only if the row was rolled back, never committed.
    direct
        .query_drop("SET SESSION innodb_lock_wait_timeout = 30")
        .await
        .unwrap();
    direct
        .query_drop("INSERT INTO tx VALUES (3)")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_large_result_streams_through_whole() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    conn.query_drop("CREATE TABLE digits (d INT)")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")
        .await
        .unwrap();
    let sql = "SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d AS n, REPEAT('x', 100) AS pad \
               FROM digits a, digits b, digits c, digits e, digits f";
    let mut result = conn.query_iter(sql).await.unwrap();
    let (mut count, mut sum) = (0u64, 0u64);
    while let Some(row) = result.next().await.unwrap() {
        let n: u64 = row.get(0).unwrap();
        let pad: String = row.get(1).unwrap();
        assert_eq!(pad.len(), 100);
        count += 1;
        sum += n;
    }
    assert_eq!(count, 100_000);
    assert_eq!(sum, (0..100_000u64).sum::<u64>());
}

#[tokio::test]
async fn found_rows_follows_the_client() {
    let proxy = Proxy::start().await;
    let mut plain = proxy.admin().await;
    plain
        .query_drop("CREATE TABLE fr (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    plain
        .query_drop("INSERT INTO fr VALUES (1, 1), (2, 1)")
        .await
        .unwrap();
    plain.query_drop("UPDATE fr SET v = 1").await.unwrap();
    assert_eq!(
        plain.affected_rows(),
        0,
        "without CLIENT_FOUND_ROWS: rows changed"
    );
    let opts = mysql_async::OptsBuilder::from_opts(proxy.opts(crate::support::ADMIN))
        .client_found_rows(true);
    let mut found = mysql_async::Conn::new(opts).await.unwrap();
    found.query_drop("UPDATE fr SET v = 1").await.unwrap();
    assert_eq!(
        found.affected_rows(),
        2,
        "with CLIENT_FOUND_ROWS: rows matched"
    );
}

/// The backend session's own count of the statements it was sent.
async fn questions(conn: &mut mysql_async::Conn) -> u64 {
    let row: Option<(String, u64)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Questions'")
        .await
        .unwrap();
    row.unwrap().1
}

#[tokio::test]
async fn a_passthrough_statement_costs_the_backend_one_statement_and_nothing_else() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    conn.query_drop("CREATE TABLE points (id INT PRIMARY KEY, c VARCHAR(20))")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO points VALUES (1, 'one'), (2, 'two')")
        .await
        .unwrap();
    let statement = conn
        .prep("SELECT c FROM points WHERE id = ?")
        .await
        .unwrap();
    // What reading the count itself costs, so that only the statements between two reads are counted.
    let first = questions(&mut conn).await;
    let reading = questions(&mut conn).await - first;
    let before = questions(&mut conn).await;
    for id in 1..=10 {
        let _: Option<String> = conn
            .query_first(format!("SELECT c FROM points WHERE id = {}", id % 2 + 1))
            .await
            .unwrap();
        let _: Option<String> = conn.exec_first(&statement, (id % 2 + 1,)).await.unwrap();
    }
    let sent = questions(&mut conn).await - before - reading;
    assert_eq!(
        sent, 20,
        "ten text statements and ten executions reached the backend as twenty statements"
    );
}
