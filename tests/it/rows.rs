//! Rows of model tables: INSERT and SELECT through the proxy against the same statements on a native twin table
//! directly on the backend — same rows, same NULLs, same types, same errors.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::support::{code, described, direct, fresh_database, server_error, texts, types, Proxy};

const MODEL: &str = "CREATE TABLE model_item (name VARCHAR(40) NOT NULL, qty INT, price DECIMAL(10,2), \
                     ratio DOUBLE, added DATE, seen DATETIME, note TEXT, tags JSON, \
                     INDEX (name), INDEX (qty), INDEX (price), INDEX (ratio), INDEX (added), INDEX (seen))";
const NATIVE: &str = "CREATE TABLE model_item (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                      name VARCHAR(40) NOT NULL, qty INT, price DECIMAL(10,2), ratio DOUBLE, added DATE, seen DATETIME, \
                      note TEXT, tags JSON, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, \
                      INDEX (name), INDEX (qty), INDEX (price), INDEX (ratio), INDEX (added), INDEX (seen)) \
                      DEFAULT CHARSET=utf8mb4";

const ROWS: &str = "INSERT INTO model_item (name, qty, price, ratio, added, seen, note, tags, created_at, updated_at) VALUES \
    ('apple', 10, 1.50, 0.5, '2024-01-02', '2024-01-02 10:00:00', 'red', '[\"fruit\"]', '2024-01-01 00:00:00', '2024-01-01 00:00:00'), \
    ('banana', NULL, 0.25, NULL, NULL, NULL, NULL, NULL, '2024-01-01 00:00:01', '2024-01-01 00:00:01'), \
    ('cherry', 200, 12.00, 2.25, '2023-12-31', '2023-12-31 23:59:59', 'it''s \\\"sweet\\\"', '{\"a\": 1}', '2024-01-01 00:00:02', '2024-01-01 00:00:02'), \
    ('Apple', -5, NULL, -1.0, '2024-02-29', NULL, '', '[]', '2024-01-01 00:00:03', '2024-01-01 00:00:03'), \
    ('date', 0, 99999999.99, 1e10, '1000-01-01', '9999-12-31 23:59:59', 'x', 'null', '2024-01-01 00:00:04', '2024-01-01 00:00:04')";

/// The flags of each column of `SELECT * FROM model_item`.
async fn flags(conn: &mut Conn) -> Vec<u16> {
    let result = conn
        .query_iter("SELECT * FROM model_item LIMIT 0")
        .await
        .unwrap();
    let flags = result
        .columns_ref()
        .iter()
        .map(|c| c.flags().bits())
        .collect();
    result.drop_result().await.unwrap();
    flags
}

async fn twins() -> (Proxy, Conn, Conn) {
    let proxy = Proxy::start().await;
    let mut virtual_side = proxy.tenant(1).await;
    virtual_side.query_drop(MODEL).await.unwrap();
    virtual_side.query_drop(ROWS).await.unwrap();
    let native_db = fresh_database().await;
    let mut native = direct(Some(&native_db)).await;
    native.query_drop(NATIVE).await.unwrap();
    native.query_drop(ROWS).await.unwrap();
    (proxy, virtual_side, native)
}

#[tokio::test]
async fn selects_match_the_native_twin() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let queries = [
        "SELECT * FROM model_item ORDER BY id",
        "SELECT name, qty FROM model_item WHERE qty > 5 ORDER BY name, qty",
        "SELECT name FROM model_item WHERE qty = 10 OR price < 1 ORDER BY name, qty",
        "SELECT name FROM model_item WHERE NOT (qty > 1) ORDER BY name, qty",
        "SELECT name FROM model_item WHERE qty IS NULL",
        "SELECT name FROM model_item WHERE qty IS NOT NULL AND ratio >= 0.5 ORDER BY 1, qty",
        "SELECT name FROM model_item WHERE qty BETWEEN -5 AND 10 ORDER BY name, qty",
        "SELECT name FROM model_item WHERE qty NOT BETWEEN -5 AND 10 ORDER BY name, qty",
        "SELECT name FROM model_item WHERE name IN ('apple', 'date') ORDER BY name, qty",
        "SELECT name FROM model_item WHERE name NOT IN ('apple', 'date') ORDER BY name, qty",
        "SELECT name FROM model_item WHERE name LIKE 'a%' ORDER BY name, qty",
        "SELECT name FROM model_item WHERE name = 'APPLE' ORDER BY name, qty",
        "SELECT name, price FROM model_item WHERE price = 12 ORDER BY name, qty",
        "SELECT name FROM model_item WHERE added >= '2024-01-01' ORDER BY added",
        "SELECT name FROM model_item WHERE seen < '2024-01-02 10:00:00' ORDER BY name, qty",
        "SELECT price, ratio, added, seen, note, tags FROM model_item ORDER BY id",
        "SELECT COUNT(*), COUNT(qty), SUM(qty), AVG(qty), MIN(price), MAX(price), SUM(price) FROM model_item",
        "SELECT qty > 0 AS positive, COUNT(*) AS n FROM model_item GROUP BY positive HAVING n > 0 ORDER BY positive",
        "SELECT DISTINCT LOWER(name) FROM model_item ORDER BY 1",
        "SELECT name FROM model_item ORDER BY qty DESC, name LIMIT 2 OFFSET 1",
        "SELECT i.name AS n, i.qty * 2 AS double_qty FROM model_item AS i WHERE i.qty < 100 ORDER BY n, double_qty",
        "SELECT name FROM model_item WHERE qty = (SELECT MAX(qty) FROM model_item)",
        // Typed as the column, as MySQL types MAX and MIN (the slots are BIGINT and TEXT).
        "SELECT MAX(qty), MIN(name), MAX(seen), MIN(added), MAX(id), MIN(note), MAX(i.ratio) AS top FROM model_item AS i",
        "SELECT name FROM model_item WHERE qty > 100 UNION SELECT name FROM model_item WHERE price < 1 ORDER BY BINARY name",
        "SELECT a.name, b.name FROM model_item a JOIN model_item b ON a.qty = b.qty AND a.name <> b.name ORDER BY 1, 2",
        "SELECT * FROM model_item WHERE name = 'nothing'",
        "SELECT * FROM model_item LIMIT 0",
        // Computed columns are typed as on the native table, though the backend reads slots and JSON.
        "SELECT LOWER(name), qty + 1, price * 2, CONCAT(name, '-', note), DATE(seen), added + INTERVAL 1 DAY, \
         COALESCE(qty, 0), IF(qty > 1, name, note), ratio / 3, tags, JSON_LENGTH(tags) FROM model_item ORDER BY id",
        "SELECT SUM(qty), AVG(ratio), SUM(price), AVG(price), GROUP_CONCAT(name ORDER BY name), \
         (SELECT MAX(qty) FROM model_item) + 0 AS top FROM model_item",
        "SELECT t.n, t.q FROM (SELECT LOWER(name) AS n, qty AS q FROM model_item) AS t ORDER BY 1, 2",
        "SELECT a.*, b.name FROM model_item a JOIN model_item b ON a.id = b.id ORDER BY a.id",
        "SELECT name FROM model_item UNION ALL SELECT note FROM model_item ORDER BY BINARY name",
        "SELECT qty, 1 AS one, 'x' AS letter, COUNT(*) FROM model_item GROUP BY qty ORDER BY qty",
        "WITH t AS (SELECT LOWER(name) AS n, qty FROM model_item) SELECT n, qty * 2 FROM t ORDER BY n, qty",
        "SELECT * FROM (SELECT name, price * 2 AS p2 FROM model_item) AS t ORDER BY BINARY name",
        "SELECT name, ROW_NUMBER() OVER (ORDER BY BINARY name) AS rn, SUM(qty) OVER () AS total FROM model_item \
         ORDER BY rn",
        "SELECT CASE WHEN qty > 5 THEN name ELSE note END AS c, CAST(qty AS CHAR) AS q, JSON_EXTRACT(tags, '$[0]') \
         AS t0, YEAR(added) AS y, price + ratio AS mix FROM model_item ORDER BY id",
        "SELECT UPPER(name) FROM model_item WHERE qty IN (SELECT qty FROM model_item WHERE qty > 0) ORDER BY 1",
    ];
    // A model's own columns carry the native column's flags too (key parts, NOT NULL, UNSIGNED, …).
    assert_eq!(flags(&mut ours).await, flags(&mut theirs).await);
    for sql in queries {
        let a = texts(
            ours.query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        );
        let b = texts(theirs.query(sql).await.unwrap());
        assert_eq!(a, b, "{sql}");
        assert_eq!(
            types(&mut ours, sql).await,
            types(&mut theirs, sql).await,
            "metadata of {sql}"
        );
    }
}

#[tokio::test]
async fn prepared_reads_match_too() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let sql = "SELECT id, name, qty, price, added, seen FROM model_item WHERE qty >= ? ORDER BY id";
    let a: Vec<Row> = ours.exec(sql, (0,)).await.unwrap();
    let b: Vec<Row> = theirs.exec(sql, (0,)).await.unwrap();
    assert_eq!(a.len(), 3);
    for (x, y) in a.into_iter().zip(b) {
        assert_eq!(x.unwrap(), y.unwrap());
    }
    // Computed columns are described as on the native table, when prepared and when executed.
    let sql = "SELECT LOWER(name) AS n, SUM(qty), MAX(price), AVG(ratio) FROM model_item WHERE qty >= ? GROUP BY name \
               ORDER BY n";
    let (mine, native) = (
        ours.prep(sql).await.unwrap(),
        theirs.prep(sql).await.unwrap(),
    );
    assert_eq!(described(&mine.columns()), described(&native.columns()));
    let a = ours.exec_iter(&mine, (0,)).await.unwrap();
    let ours_described = described(a.columns_ref());
    let a: Vec<Row> = a.collect_and_drop().await.unwrap();
    let b = theirs.exec_iter(&native, (0,)).await.unwrap();
    assert_eq!(ours_described, described(b.columns_ref()));
    let b: Vec<Row> = b.collect_and_drop().await.unwrap();
    assert_eq!(texts(a), texts(b));
}

#[tokio::test]
async fn inserts_report_and_fail_like_the_native_twin() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let insert = "INSERT INTO model_item (name, qty, created_at, updated_at) VALUES ('e', 1, NOW(), NOW()), ('f', 2, NOW(), NOW())";
    ours.query_drop(insert).await.unwrap();
    theirs.query_drop(insert).await.unwrap();
    assert_eq!(ours.affected_rows(), theirs.affected_rows());
    assert_eq!(
        ours.last_insert_id(),
        theirs.last_insert_id(),
        "first id of the batch"
    );
    // Past the first backend chunk of 500 rows, the error still names the statement's row.
    let long: Vec<String> = (1..=600)
        .map(|n| {
            let name = if n == 550 {
                "x".repeat(41)
            } else {
                format!("r{n}")
            };
            format!("('{name}', {n}, NOW(), NOW())")
        })
        .collect();
    let long = format!(
        "INSERT INTO model_item (name, qty, created_at, updated_at) VALUES {}",
        long.join(", ")
    );
    let failures = [
        long.as_str(),
        "INSERT INTO model_item (name, qty, created_at, updated_at) VALUES ('g', 'lots', NOW(), NOW())",
        "INSERT INTO model_item (name, created_at, updated_at) VALUES (NULL, NOW(), NOW())",
        "INSERT INTO model_item (name, created_at, updated_at) VALUES (REPEAT('x', 41), NOW(), NOW())",
        "INSERT INTO model_item (name, price, created_at, updated_at) VALUES ('h', 123456789012, NOW(), NOW())",
        "INSERT INTO model_item (name, added, created_at, updated_at) VALUES ('i', '2024-02-30', NOW(), NOW())",
        "INSERT INTO model_item (nope) VALUES (1)",
        "INSERT INTO model_item (name, name) VALUES ('a', 'b')",
        "INSERT INTO model_item (name, qty) VALUES ('a')",
    ];
    for sql in failures {
        let a = server_error(ours.query_drop(sql).await);
        let b = server_error(theirs.query_drop(sql).await);
        assert_eq!(a.code, b.code, "{sql}: {} / {}", a.message, b.message);
        // The same message, but for the database each table lives in.
        let unqualified = |m: &str| {
            m.split('`')
                .filter(|part| !part.starts_with("t_"))
                .collect::<Vec<_>>()
                .join("`")
        };
        assert_eq!(unqualified(&a.message), unqualified(&b.message), "{sql}");
    }
    let count_ours: Option<u64> = ours
        .query_first("SELECT COUNT(*) FROM model_item")
        .await
        .unwrap();
    let count_theirs: Option<u64> = theirs
        .query_first("SELECT COUNT(*) FROM model_item")
        .await
        .unwrap();
    assert_eq!(count_ours, count_theirs, "failed inserts wrote nothing");
    // Inside a transaction, a failed statement undoes only itself; ROLLBACK undoes the rest.
    ours.query_drop("BEGIN").await.unwrap();
    ours.query_drop(
        "INSERT INTO model_item (name, created_at, updated_at) VALUES ('t1', NOW(), NOW())",
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            ours.query_drop("INSERT INTO model_item (name, qty) VALUES ('t2', 'bad')")
                .await
        ),
        1366
    );
    let inside: Option<u64> = ours
        .query_first("SELECT COUNT(*) FROM model_item WHERE name = 't1'")
        .await
        .unwrap();
    assert_eq!(inside, Some(1));
    ours.query_drop("ROLLBACK").await.unwrap();
    let after: Option<u64> = ours
        .query_first("SELECT COUNT(*) FROM model_item WHERE name LIKE 't%'")
        .await
        .unwrap();
    assert_eq!(after, Some(0));
}

#[tokio::test]
async fn unindexed_filters_are_refused_unless_scans_are_allowed() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let sql = "SELECT name FROM model_item WHERE note = 'red'";
    let refused = server_error(ours.query_drop(sql).await);
    assert_eq!(refused.code, 1235);
    assert!(
        refused.message.contains("note") && refused.message.contains("ADD INDEX (note)"),
        "{}",
        refused.message
    );
    ours.query_drop("SET stardust_allow_scan = 1")
        .await
        .unwrap();
    let a = texts(ours.query(sql).await.unwrap());
    let b = texts(theirs.query(sql).await.unwrap());
    assert_eq!(a, b);
    ours.query_drop("SET stardust_allow_scan = 0")
        .await
        .unwrap();
    assert_eq!(code(ours.query_drop(sql).await), 1235);
    let projected: Vec<Option<String>> = ours
        .query("SELECT note FROM model_item ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        projected.len(),
        5,
        "projecting an unindexed field always works"
    );
    // A JSON column takes no index: the message offers only what works.
    let json = server_error(
        ours.query_drop("SELECT name FROM model_item WHERE tags IS NOT NULL")
            .await,
    );
    assert_eq!(json.code, 1235);
    assert!(
        json.message.contains("JSON") && !json.message.contains("ADD INDEX"),
        "{}",
        json.message
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_rows() {
    let (proxy, mut acme, _) = twins().await;
    let mut globex = proxy.tenant(2).await;
    globex.query_drop(MODEL).await.unwrap();
    let none: Vec<Row> = globex.query("SELECT * FROM model_item").await.unwrap();
    assert!(
        none.is_empty(),
        "the other tenant's model of the same name is empty"
    );
    globex
        .query_drop("INSERT INTO model_item (name, qty, created_at, updated_at) VALUES ('mine', 10, NOW(), NOW())")
        .await
        .unwrap();
    for sql in [
        "SELECT COUNT(*) FROM model_item",
        "SELECT COUNT(*) FROM model_item WHERE qty = 10",
        "SELECT COUNT(*) FROM model_item WHERE name = 'apple' OR 1 = 1",
        "SELECT COUNT(*) FROM model_item WHERE id IN (SELECT id FROM model_item)",
        "SELECT COUNT(*) FROM model_item /* tenant_id = 1 */ WHERE qty IS NULL OR qty IS NOT NULL",
        "WITH t AS (SELECT * FROM model_item) SELECT COUNT(*) FROM t",
        "WITH RECURSIVE r AS (SELECT id FROM model_item UNION SELECT r.id FROM r JOIN model_item m ON m.id = r.id) \
         SELECT COUNT(*) FROM r",
    ] {
        let theirs: Option<u64> = globex.query_first(sql).await.unwrap();
        assert_eq!(theirs, Some(1), "{sql}");
    }
    let ours: Option<u64> = acme
        .query_first("SELECT COUNT(*) FROM model_item")
        .await
        .unwrap();
    assert_eq!(ours, Some(5));
    // A CTE named like a backend table shadows it only in its scope: everywhere else the name is the table.
    for sql in [
        "WITH entry_data AS (SELECT * FROM entry_data) SELECT COUNT(*) FROM entry_data",
        "SELECT COUNT(*) FROM entry_data WHERE EXISTS (WITH entry_data AS (SELECT 1) SELECT * FROM entry_data)",
        "WITH a AS (SELECT * FROM entry_data), entry_data AS (SELECT 1) SELECT COUNT(*) FROM a",
    ] {
        assert_eq!(code(globex.query_drop(sql).await), 1142, "{sql}");
    }
    // Computed columns make the session build empty native twins of its models; they are backend tables, out of
    // every tenant's reach, and hold nothing.
    let lowered: Vec<String> = globex
        .query("SELECT LOWER(name) FROM model_item")
        .await
        .unwrap();
    assert_eq!(lowered, ["mine"]);
    let mut twins: Vec<String> = proxy
        .direct()
        .await
        .query("SELECT DISTINCT CONCAT('stardust_twin_', id) FROM stardust_models")
        .await
        .unwrap();
    twins.push("stardust_shadow_1".to_string());
    for twin in twins {
        for sql in [
            format!("SELECT * FROM {twin}"),
            format!("INSERT INTO {twin} (name) VALUES ('x')"),
            format!("SELECT name FROM model_item WHERE id IN (SELECT id FROM {twin})"),
        ] {
            assert_eq!(code(globex.query_drop(&sql).await), 1142, "{sql}");
        }
    }
}

#[tokio::test]
async fn updates_and_deletes_match_the_native_twin() {
    let (proxy, mut ours, mut theirs) = twins().await;
    let statements = [
        "UPDATE model_item SET qty = qty + 1 WHERE qty > 0",
        "UPDATE model_item SET price = price * 2, note = CONCAT(name, '!') WHERE name LIKE 'a%'",
        "UPDATE model_item SET qty = 10 WHERE qty = 11",
        "UPDATE model_item SET qty = 10 WHERE qty = 11",
        "UPDATE model_item i SET i.ratio = 0.75 WHERE i.name = 'banana'",
        "UPDATE model_item SET added = '2020-01-01' ORDER BY qty DESC LIMIT 1",
        "UPDATE model_item SET tags = JSON_ARRAY(name, qty) WHERE qty IS NOT NULL",
        "DELETE FROM model_item WHERE qty = 10",
        "DELETE FROM model_item WHERE name = 'nothing'",
        "UPDATE model_item SET qty = NULL WHERE name = 'Apple'",
        "DELETE FROM model_item ORDER BY name DESC LIMIT 1",
    ];
    for sql in statements {
        ours.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        theirs.query_drop(sql).await.unwrap();
        assert_eq!(
            ours.affected_rows(),
            theirs.affected_rows(),
            "affected rows of {sql}"
        );
        assert_eq!(ours.info(), theirs.info(), "info of {sql}");
    }
    let contents = "SELECT id, name, qty, price, ratio, added, seen, note, tags, created_at FROM model_item ORDER BY id";
    let a = texts(ours.query(contents).await.unwrap());
    let b = texts(theirs.query(contents).await.unwrap());
    assert_eq!(a, b);
    // Errors come from the backend's own evaluation, and change nothing.
    let bad = "UPDATE model_item SET qty = 'many' WHERE name = 'cherry'";
    assert_eq!(
        code(ours.query_drop(bad).await),
        code(theirs.query_drop(bad).await)
    );
    assert_eq!(
        code(ours.query_drop("UPDATE model_item SET nope = 1").await),
        1054
    );
    assert_eq!(texts(ours.query(contents).await.unwrap()), b);
    // Deleted entries stay in entry_data, marked, and are gone from every read.
    let mut direct = proxy.direct().await;
    let marked: Option<u64> = direct
        .query_first("SELECT COUNT(*) FROM entry_data WHERE deleted_at IS NOT NULL")
        .await
        .unwrap();
    assert!(marked.unwrap_or(0) >= 2);
}

#[tokio::test]
async fn prepared_writes_are_emulated_and_match_the_native_twin() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let insert = "INSERT INTO model_item (name, qty, price, added, created_at, updated_at) VALUES (?, ?, ?, ?, NOW(), NOW())";
    let update = "UPDATE model_item SET qty = qty + ? WHERE name = ?";
    let delete = "DELETE FROM model_item WHERE qty < ?";
    for conn in [&mut ours, &mut theirs] {
        let statement = conn.prep(insert).await.unwrap();
        assert_eq!(statement.num_params(), 4);
        conn.exec_drop(&statement, ("prepared", 7, "3.25", "2024-03-01"))
            .await
            .unwrap();
        conn.exec_drop(&statement, ("nulls", Value::NULL, Value::NULL, Value::NULL))
            .await
            .unwrap();
        conn.exec_drop(update, (5, "prepared")).await.unwrap();
        assert_eq!(conn.affected_rows(), 1);
        conn.exec_drop(delete, (0,)).await.unwrap();
    }
    let contents = "SELECT id, name, qty, price, added FROM model_item ORDER BY id";
    assert_eq!(
        texts(ours.query(contents).await.unwrap()),
        texts(theirs.query(contents).await.unwrap())
    );
    let bad = ours.prep(insert).await.unwrap();
    assert_eq!(
        code(ours.exec_drop(&bad, ("x", "lots", 1, "2024-01-01")).await),
        1366
    );
}

#[tokio::test]
async fn one_client_transaction_covers_model_and_backend_tables() {
    let (proxy, _, _) = twins().await;
    let mut admin = proxy.admin().await;
    admin
        .query_drop("CREATE TABLE audit (what VARCHAR(20))")
        .await
        .unwrap();
    admin.query_drop("SET stardust_tenant = 1").await.unwrap();
    for (finish, expected) in [("ROLLBACK", 0u64), ("COMMIT", 1u64)] {
        admin.query_drop("START TRANSACTION").await.unwrap();
        admin
            .query_drop("INSERT INTO audit VALUES ('x')")
            .await
            .unwrap();
        admin
            .query_drop(
                "INSERT INTO model_item (name, created_at, updated_at) VALUES ('tx', NOW(), NOW())",
            )
            .await
            .unwrap();
        admin
            .query_drop("UPDATE model_item SET qty = 1 WHERE name = 'tx'")
            .await
            .unwrap();
        admin.query_drop(finish).await.unwrap();
        let audit: Option<u64> = admin
            .query_first("SELECT COUNT(*) FROM audit")
            .await
            .unwrap();
        let items: Option<u64> = admin
            .query_first("SELECT COUNT(*) FROM model_item WHERE name = 'tx'")
            .await
            .unwrap();
        assert_eq!(
            (audit, items),
            (Some(expected), Some(expected)),
            "after {finish}"
        );
    }
}

#[tokio::test]
async fn verify_finds_no_drift_after_a_workload_and_repair_mends_drift() {
    let (proxy, mut ours, _) = twins().await;
    ours.query_drop("UPDATE model_item SET qty = qty * 3, seen = NOW() WHERE qty > 0")
        .await
        .unwrap();
    ours.query_drop("DELETE FROM model_item WHERE name = 'banana'")
        .await
        .unwrap();
    let url = proxy.backend_url();
    let binary = env!("CARGO_BIN_EXE_stardust");
    let run = |command: &'static str| {
        let url = url.clone();
        async move {
            tokio::process::Command::new(binary)
                .args([command, "--backend-url", &url])
                .env("STARDUST_LOG", "warn")
                .output()
                .await
                .unwrap()
        }
    };
    let clean = run("verify").await;
    let report = String::from_utf8_lossy(&clean.stdout);
    assert!(
        clean.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(
        report.contains("\"drift\": 0") && report.contains("\"model\": \"item\""),
        "{report}"
    );
    // Corrupt one slot behind StarDust's back: verify sees it, repair mends it.
    let mut direct = proxy.direct().await;
    let (table, column): (String, String) = direct
        .query_first(
            "SELECT p.table_name, a.slot_column FROM stardust_slot_assignments a JOIN stardust_pages p ON p.id = a.page_id \
             JOIN stardust_fields f ON f.id = a.live_field_id WHERE f.name = 'qty'",
        )
        .await
        .unwrap()
        .unwrap();
    direct
        .query_drop(format!(
            "UPDATE `{table}` SET {column} = {column} + 1000 LIMIT 1"
        ))
        .await
        .unwrap();
    let drifted = run("verify").await;
    assert!(!drifted.status.success());
    assert!(String::from_utf8_lossy(&drifted.stdout).contains("\"drift\": 1"));
    assert!(run("repair").await.status.success());
    assert!(
        run("verify").await.status.success(),
        "no drift after repair"
    );
}

#[tokio::test]
async fn insert_select_copies_rows_like_the_native_twin() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let copy = "INSERT INTO model_item (name, qty, price, created_at, updated_at) \
                SELECT CONCAT(name, '-copy'), qty * 2, price, created_at, updated_at FROM model_item WHERE qty > 0";
    ours.query_drop(copy).await.unwrap();
    theirs.query_drop(copy).await.unwrap();
    assert_eq!(ours.affected_rows(), theirs.affected_rows());
    assert_eq!(ours.affected_rows(), 2);
    let contents = "SELECT name, qty, price FROM model_item ORDER BY name, qty";
    assert_eq!(
        texts(ours.query(contents).await.unwrap()),
        texts(theirs.query(contents).await.unwrap())
    );
    let refused = ours
        .query_drop("INSERT INTO model_item (id, name) SELECT id, name FROM model_item")
        .await;
    assert_eq!(code(refused), 1235);
}

#[tokio::test]
async fn a_field_without_a_live_slot_is_written_to_json_and_queued() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_q (code VARCHAR(10), n INT, INDEX (n))")
        .await
        .unwrap();
    let mut direct = proxy.direct().await;
    crate::support::take_live_slots(&mut direct).await;
    acme.query_drop("INSERT INTO model_q (code, n) VALUES ('a', 1), ('b', 2)")
        .await
        .unwrap();
    assert_eq!(
        acme.affected_rows(),
        2,
        "a write never fails for lack of a slot"
    );
    let queued: Option<u64> = direct
        .query_first("SELECT COUNT(*) FROM stardust_sync_queue")
        .await
        .unwrap();
    assert_eq!(queued, Some(2));
    let values: Vec<(String, i64)> = acme
        .query("SELECT code, n FROM model_q ORDER BY code")
        .await
        .unwrap();
    assert_eq!(
        values,
        vec![("a".to_string(), 1), ("b".to_string(), 2)],
        "read from the JSON meanwhile"
    );
    assert_eq!(
        code(
            acme.query_drop("SELECT code FROM model_q WHERE n = 1")
                .await
        ),
        1235
    );
    acme.query_drop("SET stardust_allow_scan = 1")
        .await
        .unwrap();
    let found: Vec<String> = acme
        .query("SELECT code FROM model_q WHERE n = 1")
        .await
        .unwrap();
    assert_eq!(found, vec!["a"]);
    // No free indexed slot is left, so the Reconciler waits; the Watcher provisions a page indexed for the
    // waiting field; then the Reconciler reserves a slot on it and projects the queued entries.
    let backend = proxy.state.backend.clone();
    use stardust::daemons::{sync_queue, Tick};
    assert_eq!(sync_queue::tick(&backend).await.unwrap(), Tick::Idle);
    let watcher = stardust::daemons::watcher::Watcher::new(backend.clone());
    assert_eq!(watcher.tick().await.unwrap(), Tick::Worked);
    assert_eq!(sync_queue::tick(&backend).await.unwrap(), Tick::Worked);
    assert_eq!(sync_queue::tick(&backend).await.unwrap(), Tick::Idle);
    let queued: Option<u64> = direct
        .query_first("SELECT COUNT(*) FROM stardust_sync_queue")
        .await
        .unwrap();
    assert_eq!(queued, Some(0));
    acme.query_drop("SET stardust_allow_scan = 0")
        .await
        .unwrap();
    let found: Vec<String> = acme
        .query("SELECT code FROM model_q WHERE n = 2")
        .await
        .unwrap();
    assert_eq!(found, vec!["b"], "filterable again, from the slot");
    crate::support::no_drift(&backend).await;
}

#[tokio::test]
async fn a_client_leaving_mid_transaction_loses_only_its_uncommitted_writes() {
    let (proxy, mut ours, _) = twins().await;
    ours.query_drop(
        "INSERT INTO model_item (name, created_at, updated_at) VALUES ('kept', NOW(), NOW())",
    )
    .await
    .unwrap();
    ours.query_drop("BEGIN").await.unwrap();
    ours.query_drop(
        "INSERT INTO model_item (name, created_at, updated_at) VALUES ('lost', NOW(), NOW())",
    )
    .await
    .unwrap();
    ours.query_drop("UPDATE model_item SET qty = 999 WHERE name = 'apple'")
        .await
        .unwrap();
    drop(ours);
    let mut other = proxy.tenant(1).await;
    let names: Vec<String> = other
        .query("SELECT name FROM model_item WHERE name IN ('kept', 'lost') ORDER BY name")
        .await
        .unwrap();
    assert_eq!(names, vec!["kept"]);
    // The abandoned transaction holds its row locks until the backend session is reset; this update waits for
    // that, and then sees the old value, never the uncommitted one.
    other
        .query_drop("SET SESSION innodb_lock_wait_timeout = 30")
        .await
        .unwrap();
    other
        .query_drop("UPDATE model_item SET qty = qty WHERE name = 'apple'")
        .await
        .unwrap();
    let qty: Option<i64> = other
        .query_first("SELECT qty FROM model_item WHERE name = 'apple'")
        .await
        .unwrap();
    assert_eq!(qty, Some(10));
}

#[tokio::test]
async fn a_login_may_start_with_scans_allowed_and_admins_join_model_and_backend_tables() {
    let database = fresh_database().await;
    let mut config = crate::support::config_for(&database);
    config.users[1].allow_scan = true;
    let proxy = Proxy::start_with(config).await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_c (name VARCHAR(20), note TEXT, INDEX (name))")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_c (name, note) VALUES ('a', 'x'), ('b', 'y')")
        .await
        .unwrap();
    let scanned: Vec<String> = acme
        .query("SELECT name FROM model_c WHERE note = 'y'")
        .await
        .unwrap();
    assert_eq!(
        scanned,
        vec!["b"],
        "this login's sessions start with scans allowed"
    );
    let mut globex = proxy.tenant(2).await;
    globex
        .query_drop("CREATE TABLE model_c (note TEXT)")
        .await
        .unwrap();
    assert_eq!(
        code(
            globex
                .query_drop("SELECT note FROM model_c WHERE note = 'y'")
                .await
        ),
        1235
    );

    let mut admin = proxy.admin().await;
    admin
        .query_drop("CREATE TABLE orders (company VARCHAR(20), total INT)")
        .await
        .unwrap();
    admin
        .query_drop("INSERT INTO orders VALUES ('a', 10), ('b', 20), ('z', 30)")
        .await
        .unwrap();
    admin.query_drop("SET stardust_tenant = 1").await.unwrap();
    let joined: Vec<(String, i64)> = admin
        .query("SELECT c.name, o.total FROM model_c c JOIN orders o ON o.company = c.name ORDER BY c.name")
        .await
        .unwrap();
    assert_eq!(joined, vec![("a".to_string(), 10), ("b".to_string(), 20)]);
}

/// A read checks the registry version in its own round trip. When another proxy instance changed the model
/// since this one cached it, the stale answer — rows or an error — is discarded and the read redone.
#[tokio::test]
async fn reads_see_a_change_made_through_another_instance() {
    let (_first, _second, mut here, mut there) = crate::support::two_instances().await;
    here.query_drop("INSERT INTO model_p (name) VALUES ('a'), ('b')")
        .await
        .unwrap();
    let names: Vec<String> = here
        .query("SELECT name FROM model_p ORDER BY name")
        .await
        .unwrap();
    assert_eq!(names, ["a", "b"]);

    // A column added elsewhere: the first instance's cached catalog lacks it, the read must not.
    there
        .query_drop("ALTER TABLE model_p ADD COLUMN qty INT")
        .await
        .unwrap();
    there
        .query_drop("UPDATE model_p SET qty = 7 WHERE name = 'b'")
        .await
        .unwrap();
    let rows: Vec<(String, Option<i64>)> = here
        .query("SELECT name, qty FROM model_p ORDER BY name")
        .await
        .unwrap();
    assert_eq!(rows, [("a".to_string(), None), ("b".to_string(), Some(7))]);

    // A column dropped elsewhere: the stale rewrite would still read it; the fresh one reports it unknown.
    there
        .query_drop("ALTER TABLE model_p DROP COLUMN qty")
        .await
        .unwrap();
    assert_eq!(code(here.query_drop("SELECT qty FROM model_p").await), 1054);
    let width = here
        .query_iter("SELECT * FROM model_p")
        .await
        .unwrap()
        .columns_ref()
        .len();
    assert_eq!(width, 4, "id, name, created_at, updated_at");

    // The discarded answers left nothing behind on the session: it reads on as before.
    let count: Option<i64> = here
        .query_first("SELECT COUNT(*) FROM model_p")
        .await
        .unwrap();
    assert_eq!(count, Some(2));
}

/// `REPLACE`, `INSERT … SET` and `ON DUPLICATE KEY UPDATE` insert as on the native twin (whose only unique
/// key is its AUTO_INCREMENT id): same counts, same info, same rows.
#[tokio::test]
async fn replace_set_and_on_duplicate_key_insert_like_the_native_twin() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    for sql in [
        "REPLACE INTO model_item (name, qty, created_at, updated_at) VALUES ('fig', 3, '2024-05-01 00:00:00', '2024-05-01 00:00:00'), ('grape', NULL, '2024-05-01 00:00:00', '2024-05-01 00:00:00')",
        "INSERT INTO model_item SET name = 'kiwi', qty = 9, price = 2.5, created_at = '2024-05-02 00:00:00', updated_at = '2024-05-02 00:00:00'",
        "REPLACE model_item SET name = 'lime', added = '2024-03-01', created_at = '2024-05-03 00:00:00', updated_at = '2024-05-03 00:00:00'",
        "INSERT INTO model_item (name, qty, created_at, updated_at) VALUES ('mango', 1, '2024-05-04 00:00:00', '2024-05-04 00:00:00') \
         ON DUPLICATE KEY UPDATE qty = qty + 1",
        "INSERT INTO model_item (id, name, created_at, updated_at) VALUES (NULL, 'nut', '2024-05-05 00:00:00', '2024-05-05 00:00:00') \
         ON DUPLICATE KEY UPDATE name = VALUES(name)",
    ] {
        ours.query_drop(sql).await.unwrap();
        theirs.query_drop(sql).await.unwrap();
        assert_eq!(ours.affected_rows(), theirs.affected_rows(), "{sql}");
        assert_eq!(ours.info(), theirs.info(), "{sql}");
    }
    let all = "SELECT name, qty, price, added, created_at FROM model_item ORDER BY id";
    assert_eq!(
        texts(ours.query(all).await.unwrap()),
        texts(theirs.query(all).await.unwrap())
    );
    assert_eq!(
        code(ours.query_drop("INSERT INTO model_item SET nope = 1").await),
        code(
            theirs
                .query_drop("INSERT INTO model_item SET nope = 1")
                .await
        ),
        "an unknown column fails alike"
    );
}

/// The backend connection killed in the middle of a multi-row INSERT — entries written, page rows not yet —
/// leaves nothing behind: the backend rolls the statement's transaction back. The client gets an error naming
/// the lost backend connection.
#[tokio::test]
async fn a_backend_connection_killed_mid_insert_leaves_no_half_written_entry() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_k (n INT, INDEX (n))")
        .await
        .unwrap();
    acme.query_drop("INSERT INTO model_k (n) VALUES (0)")
        .await
        .unwrap();
    // Hold the gap above every page row: the INSERT's entries go in, then its page rows wait here.
    let mut holder = proxy.direct().await;
    holder.query_drop("START TRANSACTION").await.unwrap();
    holder
        .query_drop("SELECT entry_id FROM entry_slots_page_1 WHERE entry_id > 0 FOR UPDATE")
        .await
        .unwrap();
    let rows: Vec<String> = (1..=1000).map(|i| format!("({i})")).collect();
    let mut writer = proxy.tenant(1).await;
    let insert = tokio::spawn(async move {
        let result = writer
            .query_drop(format!(
                "INSERT INTO model_k (n) VALUES {}",
                rows.join(", ")
            ))
            .await;
        (writer, result)
    });
    let mut killer = proxy.direct().await;
    let waiting = running(&mut killer, "INSERT INTO `entry_slots_page_1`%").await;
    killer
        .query_drop(format!("KILL CONNECTION {waiting}"))
        .await
        .unwrap();
    holder.query_drop("ROLLBACK").await.unwrap();
    let (mut writer, result) = insert.await.unwrap();
    let error = crate::support::server_error(result);
    assert!(error.message.contains("backend connection"), "{error:?}");

    let entries: Option<u64> = killer
        .query_first("SELECT COUNT(*) FROM entry_data")
        .await
        .unwrap();
    assert_eq!(entries, Some(1), "only the first row's entry exists");
    let page_rows: Option<u64> = killer
        .query_first("SELECT COUNT(*) FROM entry_slots_page_1")
        .await
        .unwrap();
    assert_eq!(page_rows, Some(1));
    crate::support::no_drift(&proxy.state.backend).await;
    // Like a killed MySQL connection, the session ends (its transaction and temporary state are gone with
    // the backend connection); a new connection reads on.
    assert!(writer.query_drop("SELECT 1").await.is_err());
    let mut again = proxy.tenant(1).await;
    let count: Option<u64> = again
        .query_first("SELECT COUNT(*) FROM model_k")
        .await
        .unwrap();
    assert_eq!(count, Some(1));
}

/// UPDATE reads the rows it changes with a locking read, as a native UPDATE does: a second session's
/// `n = n + 1` waits for the first's transaction and then adds to its result — no lost update.
#[tokio::test]
async fn concurrent_updates_of_one_entry_do_not_lose_either() {
    let proxy = Proxy::start().await;
    let mut first = proxy.tenant(1).await;
    first
        .query_drop("CREATE TABLE model_c (name VARCHAR(10), n INT, INDEX (name))")
        .await
        .unwrap();
    first
        .query_drop("INSERT INTO model_c (name, n) VALUES ('a', 1)")
        .await
        .unwrap();
    first.query_drop("START TRANSACTION").await.unwrap();
    first
        .query_drop("UPDATE model_c SET n = n + 1 WHERE name = 'a'")
        .await
        .unwrap();
    let mut second = proxy.tenant(1).await;
    // Under READ COMMITTED a plain INSERT … SELECT reads a snapshot without locks (under REPEATABLE READ it
    // takes shared locks anyway): only the explicit locking read makes this session wait.
    second
        .query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .unwrap();
    let racing = tokio::spawn(async move {
        second
            .query_drop("UPDATE model_c SET n = n + 1 WHERE name = 'a'")
            .await
            .map(|()| second.affected_rows())
    });
    // The second UPDATE's locking read is waiting on the first's locks before the first commits.
    let mut watch = proxy.direct().await;
    running(&mut watch, "INSERT INTO `stardust_locked`%").await;
    assert!(!racing.is_finished(), "the second UPDATE waits");
    first.query_drop("COMMIT").await.unwrap();
    assert_eq!(racing.await.unwrap().unwrap(), 1);
    let n: Option<i64> = first
        .query_first("SELECT n FROM model_c WHERE name = 'a'")
        .await
        .unwrap();
    assert_eq!(n, Some(3), "both increments count");
    crate::support::no_drift(&proxy.state.backend).await;
}

/// The backend thread running a statement that starts like `pattern` (a LIKE pattern) in this connection's
/// database (tests share the server), once it is there.
async fn running(conn: &mut Conn, pattern: &str) -> u64 {
    // Polls the server's own process list; the bound only turns a hang into a failure.
    for _ in 0..6000 {
        let id: Option<u64> = conn
            .exec_first(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID() \
                 AND DB = DATABASE()",
                (pattern,),
            )
            .await
            .unwrap();
        if let Some(id) = id {
            return id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no statement like {pattern} ran within a minute");
}

#[tokio::test]
async fn literals_are_stored_as_the_native_twin_stores_them() {
    // Most literals are coerced by the proxy itself (no shadow-table round trip); the rest by the backend.
    // Either way each must land exactly as in a native table, and each refusal must be the backend's own.
    let columns = "s VARCHAR(5), c CHAR(3), t TEXT, i INT, u TINYINT UNSIGNED, b BIGINT UNSIGNED, \
                   d DECIMAL(6,2), dt DATE, ts DATETIME, j JSON";
    let proxy = Proxy::start().await;
    let (mut ours, mut theirs) = crate::support::model_and_twin(
        &proxy,
        "model_lit",
        columns,
        ", INDEX (s), INDEX (i), INDEX (d), INDEX (ts)",
    )
    .await;
    // (s, t, i, u, b, d, dt, ts, j): every value of the first four rows is one the proxy coerces itself.
    let stored = [
        "('héllo', 'x', 007, 255, 18446744073709551615, 12.5, '2024-02-29', '2024-01-02', '{\"a\": 1}')",
        "('ab  ', '', -2147483648, 0, 0, -0012.340, '1000-01-01', '2024-01-02 23:59:59', NULL)",
        "('it''s', 'a\\nb\\tc\\\\d\\%e', 2147483647, NULL, NULL, .5, NULL, NULL, NULL)",
        "('q\"\\'x', 'ünï😀', 0, 1, 1, 1234.56, '9999-12-31', '9999-12-31 23:59:59', NULL)",
        // Values only the backend can coerce: rounding, numbers as strings, functions, JSON.
        "('r', 'y', '42', '7', 3.7, 1.125, '2024-1-2', '2024-01-02T03:04:05', '[1, 2.5, null]')",
        "(CONCAT('a', 'b'), NULL, 1.5, TRUE, 2e3, -0.0, 20240102, '2024-01-02 03:04', '\"x\"')",
    ];
    let columns = "s, t, i, u, b, d, dt, ts, j";
    for row in stored {
        let sql = format!("INSERT INTO model_lit ({columns}) VALUES {row}");
        ours.query_drop(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        theirs.query_drop(&sql).await.unwrap();
    }
    let all = stored.join(", ");
    let sql = format!("INSERT INTO model_lit ({columns}) VALUES {all}");
    ours.query_drop(&sql).await.unwrap();
    theirs.query_drop(&sql).await.unwrap();
    assert_eq!(ours.affected_rows(), theirs.affected_rows());
    // CHAR drops trailing spaces: the backend decides.
    let sql = "INSERT INTO model_lit (s, c) VALUES ('c1', 'ab '), ('c2', 'a  '), ('c3', NULL)";
    ours.query_drop(sql).await.unwrap();
    theirs.query_drop(sql).await.unwrap();
    let refused = [
        "('toolong', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "(NULL, NULL, 2147483648, NULL, NULL, NULL, NULL, NULL, NULL)",
        "(NULL, NULL, NULL, 256, NULL, NULL, NULL, NULL, NULL)",
        "(NULL, NULL, NULL, -1, NULL, NULL, NULL, NULL, NULL)",
        "(NULL, NULL, NULL, NULL, NULL, 10000, NULL, NULL, NULL)",
        "(NULL, NULL, NULL, NULL, NULL, NULL, '2023-02-29', NULL, NULL)",
        "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-02 24:00:00', NULL)",
        "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{bad')",
    ];
    for row in refused {
        let sql = format!("INSERT INTO model_lit ({columns}) VALUES ('ok', NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL), {row}");
        let a = server_error(ours.query_drop(&sql).await);
        let b = server_error(theirs.query_drop(&sql).await);
        assert_eq!(a.code, b.code, "{sql}: {} / {}", a.message, b.message);
    }
    crate::support::same_answers(
        &mut ours,
        &mut theirs,
        &[
            "SELECT id, s, c, t, i, u, b, d, dt, ts, j FROM model_lit ORDER BY id",
            "SELECT HEX(s), HEX(t), LENGTH(c) FROM model_lit ORDER BY id",
            "SELECT COUNT(*) FROM model_lit WHERE s = 'ab' AND d > 0",
            // Backslashes and doubled quotes reach the backend as the client wrote them.
            r#"SELECT id FROM model_lit WHERE s IN ('it''s', 'q"\'x', 'a\\b') ORDER BY id"#,
            r#"SELECT id, CONCAT(s, '\\', '''') FROM model_lit WHERE s LIKE 'q%' ORDER BY id"#,
        ],
    )
    .await;
    // Omitted timestamps are the statement's UTC time; given ones are kept.
    ours.query_drop(
        "INSERT INTO model_lit (s, created_at) VALUES ('stamp', '2020-05-06 07:08:09')",
    )
    .await
    .unwrap();
    let stamps: Option<(String, i64)> = ours
        .query_first(
            "SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s'), ABS(TIMESTAMPDIFF(SECOND, updated_at, UTC_TIMESTAMP())) \
             FROM model_lit WHERE s = 'stamp'",
        )
        .await
        .unwrap();
    let (created, drift) = stamps.unwrap();
    assert_eq!(created, "2020-05-06 07:08:09");
    assert!(drift < 60, "updated_at is now, in UTC: {drift} s away");
    // NOW() is the session's time, in its time zone; an omitted timestamp is UTC.
    ours.query_drop("SET time_zone = '+05:00'").await.unwrap();
    ours.query_drop("INSERT INTO model_lit (s, created_at) VALUES ('zone', NOW())")
        .await
        .unwrap();
    let hours: Option<i64> = ours
        .query_first("SELECT ROUND(TIMESTAMPDIFF(SECOND, updated_at, created_at) / 3600) FROM model_lit WHERE s = 'zone'")
        .await
        .unwrap();
    assert_eq!(hours, Some(5));
    crate::support::no_drift(&proxy.state.backend).await;
}

#[tokio::test]
async fn strings_compare_and_sort_in_their_declared_collation() {
    // Slots are utf8mb4 in the backend's default collation and JSON strings are binary; each field must
    // still compare and sort as its declared column does.
    let columns = "a VARCHAR(20), b VARCHAR(20) COLLATE utf8mb4_bin, c VARCHAR(20), \
                   d VARCHAR(20) COLLATE utf8mb4_unicode_ci";
    let proxy = Proxy::start().await;
    let (mut ours, mut theirs) =
        crate::support::model_and_twin(&proxy, "model_co", columns, ", INDEX (a), INDEX (b)").await;
    let rows = "INSERT INTO model_co (a, b, c, d) VALUES ('abc', 'abc', 'abc', 'abc'), ('ABC', 'ABC', 'ABC', 'ABC'), \
                ('Abd', 'Abd', 'Abd', 'Abd'), ('äbc', 'äbc', 'äbc', 'äbc'), ('b', 'b', 'b', 'b')";
    ours.query_drop(rows).await.unwrap();
    theirs.query_drop(rows).await.unwrap();
    ours.query_drop("SET stardust_allow_scan = 1")
        .await
        .unwrap();
    crate::support::same_answers(
        &mut ours,
        &mut theirs,
        &[
            "SELECT id FROM model_co WHERE a = 'ABC' ORDER BY id",
            "SELECT id FROM model_co WHERE b = 'ABC' ORDER BY id",
            "SELECT id FROM model_co WHERE c = 'ABC' ORDER BY id",
            "SELECT id FROM model_co WHERE d = 'abc' ORDER BY id",
            "SELECT id FROM model_co WHERE c > 'abc' ORDER BY id",
            "SELECT b FROM model_co ORDER BY b, id",
            "SELECT c FROM model_co ORDER BY c, id",
            "SELECT c, COUNT(*) FROM model_co GROUP BY c ORDER BY c",
            "SELECT COLLATION(a), COLLATION(b), COLLATION(c), COLLATION(d) FROM model_co LIMIT 1",
        ],
    )
    .await;
}

#[tokio::test]
async fn explain_shows_the_backend_plan_of_the_rewritten_select() {
    let (proxy, mut ours, _) = twins().await;
    let plan = ours
        .query_iter("EXPLAIN SELECT name FROM model_item WHERE qty = 10 AND name LIKE 'a%'")
        .await
        .unwrap();
    let names: Vec<String> = plan
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let rows: Vec<Row> = plan.collect_and_drop().await.unwrap();
    let column = |row: &Row, name: &str| -> String {
        let i = names.iter().position(|n| n == name).unwrap();
        row.get::<Option<String>, _>(i)
            .flatten()
            .unwrap_or_default()
    };
    let tables: Vec<String> = rows.iter().map(|r| column(r, "table")).collect();
    assert!(
        !tables.contains(&"e".to_string()),
        "the page alone answers a conjunction on slots: {tables:?}"
    );
    let page = rows
        .iter()
        .find(|r| column(r, "table").starts_with('p'))
        .unwrap_or_else(|| panic!("a slot page is joined: {tables:?}"));
    let keys = column(page, "possible_keys");
    assert!(
        keys.contains("_i_int_") && keys.contains("_i_str_"),
        "the page offers the slot indexes of qty and name: {keys}"
    );

    // The plan in JSON holds the injected tenant predicate, like every statement sent for a model table.
    let json: Option<String> = ours
        .query_first("EXPLAIN FORMAT=JSON SELECT COUNT(*) FROM model_item WHERE qty > 0")
        .await
        .unwrap();
    let json = json.unwrap();
    assert!(json.contains("tenant_id = 1"), "{json}");
    let json: Option<String> = ours
        .query_first(
            "EXPLAIN FORMAT=JSON SELECT COUNT(*) FROM model_item WHERE qty > 0 OR qty IS NULL",
        )
        .await
        .unwrap();
    let json = json.unwrap();
    assert!(json.contains("tenant_id = 1"), "{json}");
    assert!(json.contains("deleted_at is null"), "{json}");

    // What SELECT refuses, EXPLAIN refuses alike; writes cannot be explained; backend tables stay hidden.
    let unindexed = "SELECT name FROM model_item WHERE note = 'red'";
    let refused = server_error(ours.query_drop(format!("EXPLAIN {unindexed}")).await);
    assert_eq!((refused.code, refused.message), {
        let e = server_error(ours.query_drop(unindexed).await);
        (e.code, e.message)
    });
    let write = server_error(
        ours.query_drop("EXPLAIN UPDATE model_item SET qty = 1")
            .await,
    );
    assert_eq!(write.code, 1235);
    assert!(
        write.message.contains("EXPLAIN a SELECT"),
        "{}",
        write.message
    );
    for sql in [
        "EXPLAIN SELECT * FROM entry_data",
        "EXPLAIN SELECT * FROM model_item WHERE id IN (SELECT id FROM entry_data)",
    ] {
        assert_eq!(code(ours.query_drop(sql).await), 1142, "{sql}");
    }
    let mut globex = proxy.tenant(2).await;
    assert_eq!(
        code(globex.query_drop("EXPLAIN SELECT * FROM model_item").await),
        1146,
        "another tenant's model does not exist for globex"
    );
}

#[tokio::test]
async fn computed_columns_are_answered_where_no_twin_can_be_made() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let sql = "SELECT LOWER(name), SUM(qty) FROM model_item GROUP BY name ORDER BY name";
    // A read-only transaction refuses temporary tables (MariaDB 1792): the rows still come, typed by the backend.
    ours.query_drop("START TRANSACTION READ ONLY")
        .await
        .unwrap();
    let a = texts(ours.query(sql).await.unwrap());
    assert_eq!(a, texts(theirs.query(sql).await.unwrap()));
    ours.query_drop("COMMIT").await.unwrap();
    // Outside it, the twins are made and the metadata is the native table's again.
    assert_eq!(types(&mut ours, sql).await, types(&mut theirs, sql).await);
}

#[tokio::test]
async fn columns_qualified_with_database_and_table_work_as_bi_tools_write_them() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let ours_db: Option<String> = ours.query_first("SELECT DATABASE()").await.unwrap();
    let theirs_db: Option<String> = theirs.query_first("SELECT DATABASE()").await.unwrap();
    // As Metabase and others send them: every column qualified with its database and table.
    let sql = "SELECT `DB`.`model_item`.`name` AS `name`, `DB`.`model_item`.`qty` + 1 AS `next`, `DB`.`model_item`.* \
               FROM `DB`.`model_item` WHERE `DB`.`model_item`.`qty` > 0 ORDER BY `DB`.`model_item`.`name` ASC";
    let a = ours
        .query::<Row, _>(sql.replace("DB", ours_db.as_deref().unwrap()))
        .await
        .unwrap();
    let native = sql.replace("DB", theirs_db.as_deref().unwrap());
    let b = theirs.query::<Row, _>(native.as_str()).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(texts(a), texts(b));
}

#[tokio::test]
async fn computed_columns_of_long_indexed_strings_are_typed_natively_too() {
    let proxy = Proxy::start().await;
    // An index on VARCHAR(1000) in utf8mb4 exceeds InnoDB's key limit; the twin indexes a prefix, as the slot does.
    let (mut ours, mut theirs) = crate::support::model_and_twin(
        &proxy,
        "model_long",
        "title VARCHAR(1000), body VARCHAR(300) NOT NULL",
        ", INDEX (title), INDEX (body)",
    )
    .await;
    theirs
        .query_drop("ALTER TABLE model_long ADD INDEX (title(768)), ADD INDEX (body)")
        .await
        .unwrap();
    let rows = "INSERT INTO model_long (title, body, created_at, updated_at) VALUES \
                ('Alpha', 'x', '2024-01-01 00:00:00', '2024-01-01 00:00:00'), \
                ('beta', 'y', '2024-01-01 00:00:00', '2024-01-01 00:00:00')";
    ours.query_drop(rows).await.unwrap();
    theirs.query_drop(rows).await.unwrap();
    for sql in [
        "SELECT LOWER(title), CONCAT(body, '!'), LENGTH(title) FROM model_long ORDER BY id",
        "SELECT UPPER(title) AS t, COUNT(*) FROM model_long GROUP BY t ORDER BY t",
    ] {
        assert_eq!(
            texts(ours.query(sql).await.unwrap()),
            texts(theirs.query(sql).await.unwrap()),
            "{sql}"
        );
        assert_eq!(
            types(&mut ours, sql).await,
            types(&mut theirs, sql).await,
            "{sql}"
        );
    }
}

/// What a write reports besides its rows: affected rows, warning count and info in the OK, then `SHOW WARNINGS`,
/// `SHOW COUNT(*) WARNINGS` and `@@warning_count`.
async fn reported(
    conn: &mut Conn,
    sql: &str,
) -> (
    u64,
    u16,
    String,
    Vec<Vec<Option<String>>>,
    Option<u64>,
    Option<u64>,
) {
    // Messages name `database`.`table`: the two sides' databases differ.
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    let db = db.unwrap();
    conn.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let ok = (
        conn.affected_rows(),
        conn.get_warnings(),
        conn.info().into_owned(),
    );
    let listed = texts(conn.query("SHOW WARNINGS").await.unwrap())
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.map(|v| v.replace(&db, "DB")))
                .collect()
        })
        .collect();
    let count: Option<u64> = conn.query_first("SHOW COUNT(*) WARNINGS").await.unwrap();
    let variable: Option<u64> = conn.query_first("SELECT @@warning_count").await.unwrap();
    (ok.0, ok.1, ok.2, listed, count, variable)
}

#[tokio::test]
async fn insert_ignore_and_lenient_sql_modes_warn_like_the_native_twin() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let statements = [
        // Strict mode: IGNORE turns what would fail into adjusted values and warnings.
        "INSERT IGNORE INTO model_item (name, qty, price, added, created_at, updated_at) VALUES \
         ('a name far longer than the forty characters allowed', 'x12', 123456789012.5, '2024-02-30', \
          '2024-01-01 00:00:00', '2024-01-01 00:00:00'), \
         (NULL, 99999999999, 1.005, '2024-03-01', '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
        "INSERT IGNORE INTO model_item (name, qty, created_at, updated_at) VALUES ('ok', 1, '2024-01-01 00:00:00', \
         '2024-01-01 00:00:00')",
        "INSERT INTO model_item (name, qty, created_at, updated_at) SELECT CONCAT(name, '!'), qty, created_at, \
         updated_at FROM model_item WHERE qty = 1",
        // A lenient session: the same values warn without IGNORE, on INSERT and UPDATE alike.
        "SET SESSION sql_mode = ''",
        "INSERT INTO model_item (name, qty, created_at, updated_at) VALUES ('lenient', '7 apples', \
         '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
        "UPDATE model_item SET qty = 'many', price = 1234567890123 WHERE name = 'lenient'",
        // Statements that read no table keep the list; one that reads a table starts a new one.
        "SELECT 1",
        "SET @x = 1",
        "SELECT COUNT(*) FROM model_item",
    ];
    for sql in statements {
        assert_eq!(
            reported(&mut ours, sql).await,
            reported(&mut theirs, sql).await,
            "{sql}"
        );
    }
    let all = "SELECT id, name, qty, price, added FROM model_item ORDER BY id";
    assert_eq!(
        texts(ours.query(all).await.unwrap()),
        texts(theirs.query(all).await.unwrap())
    );
    // A write that fails leaves its error in SHOW WARNINGS, naming the model's table, as on the native table.
    for sql in [
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES'",
        "INSERT INTO model_item (name, qty, created_at, updated_at) VALUES ('a', 1, NOW(), NOW()), ('b', 'x', NOW(), NOW())",
        "UPDATE model_item SET qty = 'y' WHERE name = 'apple'",
    ] {
        let mut outcomes = Vec::new();
        for conn in [&mut ours, &mut theirs] {
            let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
            let code = match conn.query_drop(sql).await {
                Err(mysql_async::Error::Server(e)) => Some(e.code),
                other => other.map(|_| None).unwrap(),
            };
            let listed: Vec<Vec<Option<String>>> = texts(conn.query("SHOW WARNINGS").await.unwrap())
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|v| v.map(|v| v.replace(db.as_deref().unwrap(), "DB")))
                        .collect()
                })
                .collect();
            outcomes.push((code, listed));
        }
        assert_eq!(outcomes[0], outcomes[1], "{sql}");
    }
}

#[tokio::test]
async fn computed_column_types_follow_the_session_character_set() {
    let (_proxy, mut ours, mut theirs) = twins().await;
    let sql = "SELECT LOWER(name), CONCAT(name, note) FROM model_item ORDER BY id";
    assert_eq!(types(&mut ours, sql).await, types(&mut theirs, sql).await);
    // The types learnt for the statement are not reused under another character set.
    for conn in [&mut ours, &mut theirs] {
        conn.query_drop("SET NAMES latin1").await.unwrap();
    }
    let (a, b) = (types(&mut ours, sql).await, types(&mut theirs, sql).await);
    assert_eq!(a, b);
    assert_eq!(a[0].2, 8, "latin1 results: {a:?}");
}
