//! Prepared statements pass through: parameters of every type in, binary rows of every type out.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use crate::support::{code, Proxy};

const TABLE: &str = "CREATE TABLE kinds (
    id BIGINT UNSIGNED PRIMARY KEY, t TINYINT, s SMALLINT, m MEDIUMINT, i INT, y YEAR, f FLOAT, d DOUBLE,
    n DECIMAL(20,6), c CHAR(3), v VARCHAR(50), x TEXT, b BLOB, dt DATE, ts DATETIME(6), tm TIME(3), j JSON, bit1 BIT(8))";

#[tokio::test]
async fn every_type_round_trips_through_prepared_statements() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    conn.query_drop(TABLE).await.unwrap();
    let insert = "INSERT INTO kinds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let rows: Vec<Vec<Value>> = vec![
        vec![
            Value::UInt(u64::MAX),
            Value::Int(-128),
            Value::Int(-32768),
            Value::Int(8_388_607),
            Value::Int(-2_147_483_648),
            Value::Int(2024),
            Value::Float(1.5),
            Value::Double(-2.25),
            Value::Bytes(b"12345678901234.123456".to_vec()),
            Value::Bytes(b"abc".to_vec()),
            Value::Bytes("héllo ✓".as_bytes().to_vec()),
            Value::Bytes(b"long text".to_vec()),
            Value::Bytes(vec![0, 255, 1, 254]),
            Value::Date(2024, 2, 29, 0, 0, 0, 0),
            Value::Date(1999, 12, 31, 23, 59, 58, 123_456),
            Value::Time(true, 1, 2, 3, 4, 500_000),
            Value::Bytes(b"{\"k\": [1, 2]}".to_vec()),
            Value::Bytes(vec![0b1010_0101]),
        ],
        (0..18)
            .map(|i| if i == 0 { Value::UInt(1) } else { Value::NULL })
            .collect(),
    ];
    for row in &rows {
        conn.exec_drop(insert, row.clone()).await.unwrap();
        assert_eq!(conn.affected_rows(), 1);
    }
    let select = "SELECT * FROM kinds WHERE id >= ? ORDER BY id";
    let through: Vec<Row> = conn.exec(select, (0,)).await.unwrap();
    let mut direct = proxy.direct().await;
    let expected: Vec<Row> = direct.exec(select, (0,)).await.unwrap();
    assert_eq!(through.len(), 2);
    for (a, b) in through.into_iter().zip(expected) {
        let columns: Vec<String> = a
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        let types_a: Vec<_> = a.columns_ref().iter().map(|c| c.column_type()).collect();
        let types_b: Vec<_> = b.columns_ref().iter().map(|c| c.column_type()).collect();
        assert_eq!(types_a, types_b);
        for ((name, va), vb) in columns.iter().zip(a.unwrap()).zip(b.unwrap()) {
            assert_eq!(va, vb, "column {name}");
        }
    }
    // Text protocol sees the same stored values.
    let text: Vec<Row> = conn.query("SELECT * FROM kinds ORDER BY id").await.unwrap();
    let text_direct: Vec<Row> = direct
        .query("SELECT * FROM kinds ORDER BY id")
        .await
        .unwrap();
    for (a, b) in text.into_iter().zip(text_direct) {
        assert_eq!(a.unwrap(), b.unwrap());
    }
}

#[tokio::test]
async fn statements_prepare_execute_close_and_fail_like_the_backend() {
    let proxy = Proxy::start().await;
    let mut conn = proxy.admin().await;
    conn.query_drop("CREATE TABLE p (id INT PRIMARY KEY, name VARCHAR(10))")
        .await
        .unwrap();
    let statement = conn.prep("INSERT INTO p VALUES (?, ?)").await.unwrap();
    assert_eq!(statement.num_params(), 2);
    for i in 0..5 {
        conn.exec_drop(&statement, (i, format!("n{i}")))
            .await
            .unwrap();
    }
    assert_eq!(code(conn.exec_drop(&statement, (1, "dup")).await), 1062);
    conn.close(statement).await.unwrap();
    let query = conn
        .prep("SELECT name FROM p WHERE id BETWEEN ? AND ? ORDER BY id")
        .await
        .unwrap();
    assert_eq!(query.num_columns(), 1);
    let names: Vec<String> = conn.exec(&query, (1, 3)).await.unwrap();
    assert_eq!(names, vec!["n1", "n2", "n3"]);
    let none: Vec<String> = conn.exec(&query, (100, 200)).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(
        code(conn.prep("SELECT * FROM no_such_table WHERE id = ?").await),
        1146
    );
    assert_eq!(code(conn.prep("SELEKT ?").await), 1064);
    let names: Vec<String> = conn.exec(&query, (4, 4)).await.unwrap();
    assert_eq!(names, vec!["n4"], "the session survives failed prepares");
}

#[tokio::test]
async fn a_prepared_use_switches_the_database_as_a_plain_one_does() {
    let proxy = Proxy::start().await;
    let other = crate::support::fresh_database().await;
    let mut admin = proxy.admin().await;
    admin.exec_drop(format!("USE `{other}`"), ()).await.unwrap();
    let current: Option<String> = admin.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(current.as_deref(), Some(other.as_str()));
    let mut tenant = proxy.tenant(1).await;
    let refused = tenant.exec_drop(format!("USE `{other}`"), ()).await;
    assert_eq!(code(refused), 1044, "a tenant stays in its database");
    let current: Option<String> = tenant.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(current.as_deref(), Some(proxy.database.as_str()));
}
