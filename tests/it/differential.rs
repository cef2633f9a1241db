//! Random filters — AND/OR/NOT trees over every comparison, on every slot family, with NULLs in the data — run
//! on a model table through the proxy and on its native twin directly: the answers must be identical. Random
//! INSERTs of literals at and past every column's limits: stored or refused alike.

use mysql_async::prelude::Queryable;

use crate::support::{direct, fresh_database, texts, types, Proxy, Random};

const MODEL: &str = "CREATE TABLE model_r (name VARCHAR(20), qty INT, price DECIMAL(8,2), ratio DOUBLE, added DATE, \
                     seen DATETIME, INDEX (name), INDEX (qty), INDEX (price), INDEX (ratio), INDEX (added), INDEX (seen))";
const NATIVE: &str = "CREATE TABLE model_r (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), \
                      qty INT, price DECIMAL(8,2), ratio DOUBLE, added DATE, seen DATETIME, created_at DATETIME NOT NULL, \
                      updated_at DATETIME NOT NULL, INDEX (name), INDEX (qty), INDEX (price), INDEX (ratio), \
                      INDEX (added), INDEX (seen)) DEFAULT CHARSET=utf8mb4";

const NAMES: [&str; 6] = ["'ant'", "'Bee'", "'bee'", "'cat'", "'dog'", "''"];

fn literal(random: &mut Random, field: &str) -> String {
    match field {
        "name" => random.pick(&NAMES).to_string(),
        "qty" => (random.below(21) as i64 - 10).to_string(),
        "price" => format!("{}.{:02}", random.below(20), random.below(4) * 25),
        "ratio" => format!("{}", (random.below(9) as f64 - 4.0) / 2.0),
        "added" => format!("'2024-01-{:02}'", 1 + random.below(5)),
        _ => format!("'2024-01-01 {:02}:00:00'", random.below(5)),
    }
}

fn row(random: &mut Random) -> String {
    let mut values = Vec::new();
    for field in ["name", "qty", "price", "ratio", "added", "seen"] {
        values.push(if random.below(5) == 0 {
            "NULL".to_string()
        } else {
            literal(random, field)
        });
    }
    format!(
        "({}, '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
        values.join(", ")
    )
}

fn predicate(random: &mut Random) -> String {
    let field = *random.pick(&["name", "qty", "price", "ratio", "added", "seen"]);
    let value = literal(random, field);
    match random.below(10) {
        0 => format!("{field} IS NULL"),
        1 => format!("{field} IS NOT NULL"),
        2 => format!("{field} IN ({value}, {})", literal(random, field)),
        3 => format!("{field} NOT IN ({value}, {})", literal(random, field)),
        4 => format!("{field} BETWEEN {value} AND {}", literal(random, field)),
        5 => format!("{field} NOT BETWEEN {value} AND {}", literal(random, field)),
        6 if field == "name" => format!("name LIKE '{}%'", *random.pick(&["a", "b", "B", "c", ""])),
        _ => format!(
            "{field} {} {value}",
            random.pick(&["=", "<>", "!=", "<", "<=", ">", ">="])
        ),
    }
}

fn filter(random: &mut Random, depth: u32) -> String {
    if depth == 0 || random.below(3) == 0 {
        return predicate(random);
    }
    match random.below(3) {
        0 => format!(
            "({} AND {})",
            filter(random, depth - 1),
            filter(random, depth - 1)
        ),
        1 => format!(
            "({} OR {})",
            filter(random, depth - 1),
            filter(random, depth - 1)
        ),
        _ => format!("NOT ({})", filter(random, depth - 1)),
    }
}

/// A random expression over the model's columns, as BI tools and reports project them.
fn computed(random: &mut Random) -> String {
    let field = *random.pick(&["name", "qty", "price", "ratio", "added", "seen"]);
    let other = *random.pick(&["name", "qty", "price", "ratio", "added", "seen"]);
    // Arithmetic on numbers only: a DATETIME times a DATE overflows BIGINT, on a native table too.
    let number = *random.pick(&["qty", "price", "ratio"]);
    match random.below(12) {
        0 => format!("LOWER({field})"),
        1 => format!("CONCAT({field}, '-', {other})"),
        2 => format!("{field} + 1"),
        3 => format!("{number} * {}", random.pick(&["qty", "price", "ratio"])),
        4 => format!("COALESCE({field}, {other})"),
        5 => format!("IF({field} IS NULL, {other}, {field})"),
        6 => format!(
            "CASE WHEN {field} > {} THEN {other} END",
            literal(random, field)
        ),
        7 => format!("LENGTH({field})"),
        8 => format!("ROUND({number}, 1)"),
        9 => format!("{number} / 3"),
        10 => format!("GREATEST({field}, {})", literal(random, field)),
        _ => format!("DATE({field})"),
    }
}

/// A random aggregate of a column.
fn aggregate(random: &mut Random) -> String {
    let field = *random.pick(&["name", "qty", "price", "ratio", "added", "seen"]);
    match random.below(6) {
        0 => format!("SUM({field})"),
        1 => format!("AVG({field})"),
        // MIN/MAX of names may pick 'Bee' or 'bee' (equal in the collation), whichever is read first.
        2 => format!(
            "MIN({})",
            random.pick(&["qty", "price", "ratio", "added", "seen", "LOWER(name)"])
        ),
        3 => format!(
            "MAX({})",
            random.pick(&["qty", "price", "ratio", "added", "seen", "BINARY name"])
        ),
        4 => format!("COUNT(DISTINCT {field})"),
        _ => format!("GROUP_CONCAT({field} ORDER BY id)"),
    }
}

#[tokio::test]
async fn random_filters_answer_as_on_a_native_table() {
    let proxy = Proxy::start().await;
    let mut ours = proxy.tenant(1).await;
    ours.query_drop(MODEL).await.unwrap();
    let native_db = fresh_database().await;
    let mut theirs = direct(Some(&native_db)).await;
    theirs.query_drop(NATIVE).await.unwrap();

    let mut random = Random(0x5EED_CAFE_F00D);
    let rows: Vec<String> = (0..80).map(|_| row(&mut random)).collect();
    let insert = format!(
        "INSERT INTO model_r (name, qty, price, ratio, added, seen, created_at, updated_at) VALUES {}",
        rows.join(", ")
    );
    ours.query_drop(&insert).await.unwrap();
    theirs.query_drop(&insert).await.unwrap();

    let queries = 2000;
    for n in 0..queries {
        let condition = filter(&mut random, 3);
        let sql = match n % 4 {
            0 => format!("SELECT id, name, qty, price, ratio, added, seen FROM model_r WHERE {condition} ORDER BY id"),
            1 => format!("SELECT COUNT(*), SUM(qty), MIN(price), MAX(seen) FROM model_r WHERE {condition}"),
            2 => format!("SELECT id FROM model_r WHERE {condition} ORDER BY qty DESC, id LIMIT 5"),
            // Computed columns: the values, and the result metadata, are the native table's.
            _ => format!(
                "SELECT id, {}, {} FROM model_r WHERE {condition} ORDER BY id",
                computed(&mut random),
                computed(&mut random)
            ),
        };
        let a = texts(
            ours.query(&sql)
                .await
                .unwrap_or_else(|e| panic!("query {n}: {sql}: {e}")),
        );
        let b = texts(theirs.query(&sql).await.unwrap());
        assert_eq!(a, b, "query {n} differs: {sql}");
        if n % 4 == 3 {
            assert_eq!(
                types(&mut ours, &sql).await,
                types(&mut theirs, &sql).await,
                "query {n}: metadata of {sql}"
            );
        }
    }
    // Aggregates, grouped by a column, typed and valued alike.
    for n in 0..300 {
        // A case-insensitive group of 'Bee' and 'bee' may show either: group names by their lower case.
        let group = *random.pick(&["LOWER(name)", "qty", "added"]);
        let sql = format!(
            "SELECT {group}, {}, {} FROM model_r WHERE {} GROUP BY {group} ORDER BY {group}",
            aggregate(&mut random),
            aggregate(&mut random),
            filter(&mut random, 2)
        );
        let a = texts(
            ours.query(&sql)
                .await
                .unwrap_or_else(|e| panic!("aggregate {n}: {sql}: {e}")),
        );
        assert_eq!(
            a,
            texts(theirs.query(&sql).await.unwrap()),
            "aggregate {n}: {sql}"
        );
        assert_eq!(
            types(&mut ours, &sql).await,
            types(&mut theirs, &sql).await,
            "aggregate {n}: metadata of {sql}"
        );
    }
}

/// A random literal for column `column` of `model_w`: usually one the column holds as written, often one at or
/// past its limits, sometimes one only the backend can coerce.
fn written(random: &mut Random, column: &str) -> String {
    if random.below(8) == 0 {
        return "NULL".to_string();
    }
    let text = |random: &mut Random, max: u64| {
        const PIECES: [&str; 12] = [
            "a", "Z", " ", "''", "\\'", "\\\\", "é", "😀", "\"", "%", "\\n", "\\%",
        ];
        let n = random.below(max + 1);
        (0..n).map(|_| *random.pick(&PIECES)).collect::<String>()
    };
    match column {
        "s" => format!("'{}'", text(random, 8)),
        "t" => match random.below(6) {
            0..=3 => format!("'{}'", text(random, 20)),
            // 'é' is two bytes: around TINYTEXT's 255.
            _ => format!("'{}'", "é".repeat(120 + random.below(20) as usize)),
        },
        "i" => match random.below(12) {
            0 => format!("{}", 2147483640 + random.below(16)),
            1 => format!("-{}", 2147483640 + random.below(16)),
            2 => format!("00{}", random.below(100)),
            3 => format!("'{}'", random.below(100)),
            4 => format!("{}.{}", random.below(100), random.below(10)),
            _ => format!("{}", random.below(1000) as i64 - 500),
        },
        "u" => match random.below(12) {
            0 => format!("{}", 65530 + random.below(10)),
            1 => "-1".to_string(),
            _ => format!("{}", random.below(66000)),
        },
        "d" => {
            let sign = if random.below(3) == 0 { "-" } else { "" };
            let whole = if random.below(10) == 0 {
                random.below(10_000)
            } else {
                random.below(1_000)
            };
            match random.below(5) {
                0 => format!("{sign}{whole}"),
                1 => format!("{sign}.{}", random.below(100)),
                2 => format!("{sign}{whole}.{:03}", random.below(1000)),
                3 => format!("{sign}0{}.{:02}", whole % 1000, random.below(100)),
                _ => format!("{sign}{}.{}", whole % 1000, random.below(10)),
            }
        }
        "dt" if random.below(6) == 0 => format!(
            "'{}-{:02}-{:02}'",
            *random.pick(&["2023", "2024", "1000", "9999", "0999"]),
            random.below(14),
            random.below(32)
        ),
        "dt" => format!(
            "'{}-{:02}-{:02}'",
            *random.pick(&["2023", "2024", "1000", "9999"]),
            1 + random.below(12),
            1 + random.below(28)
        ),
        _ => match random.below(8) {
            0 => format!("'2024-02-{:02}'", 27 + random.below(4)),
            1 => format!(
                "'2024-06-01 {:02}:{:02}:{:02}'",
                random.below(26),
                random.below(61),
                random.below(61)
            ),
            _ => format!(
                "'2024-06-01 {:02}:{:02}:{:02}'",
                random.below(24),
                random.below(60),
                random.below(60)
            ),
        },
    }
}

#[tokio::test]
async fn random_literals_are_stored_and_refused_as_on_a_native_table() {
    // Exercises the proxy's own literal coercion against the backend's: every statement must succeed or fail
    // alike (same error code), and the stored rows must read back the same.
    let columns = "s VARCHAR(6), t TINYTEXT, i INT, u SMALLINT UNSIGNED, d DECIMAL(5,2), dt DATE, ts DATETIME";
    let proxy = Proxy::start().await;
    let (mut ours, mut theirs) = crate::support::model_and_twin(
        &proxy,
        "model_w",
        columns,
        ", INDEX (s), INDEX (i), INDEX (d), INDEX (ts)",
    )
    .await;
    let mut random = Random(0x117E_4A15);
    let (mut stored, mut refused) = (0, 0);
    for n in 0..1000 {
        let rows: Vec<String> = (0..1 + random.below(3))
            .map(|_| {
                let values: Vec<String> = ["s", "t", "i", "u", "d", "dt", "ts"]
                    .iter()
                    .map(|c| written(&mut random, c))
                    .collect();
                format!("({})", values.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO model_w (s, t, i, u, d, dt, ts) VALUES {}",
            rows.join(", ")
        );
        let a = ours.query_drop(&sql).await.map(|_| ours.affected_rows());
        let b = theirs
            .query_drop(&sql)
            .await
            .map(|_| theirs.affected_rows());
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "statement {n}: {sql}");
                stored += a;
            }
            (Err(mysql_async::Error::Server(a)), Err(mysql_async::Error::Server(b))) => {
                assert_eq!(
                    a.code, b.code,
                    "statement {n}: {sql}: {} / {}",
                    a.message, b.message
                );
                refused += 1;
            }
            (a, b) => panic!("statement {n} differs: {sql}: {a:?} / {b:?}"),
        }
    }
    assert!(
        stored > 250 && refused > 100,
        "a mix of both: {stored} rows stored, {refused} statements refused"
    );
    let read = "SELECT s, HEX(s), t, i, u, d, dt, ts FROM model_w ORDER BY id";
    assert_eq!(
        texts(ours.query(read).await.unwrap()),
        texts(theirs.query(read).await.unwrap())
    );
    crate::support::no_drift(&proxy.state.backend).await;
}
