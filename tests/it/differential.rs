//! Random filters — AND/OR/NOT trees over every comparison, on every slot family, with NULLs in the data — run
//! on a model table through the proxy and on its native twin directly: the answers must be identical.

use mysql_async::prelude::Queryable;

use crate::support::{direct, fresh_database, texts, Proxy};

const MODEL: &str = "CREATE TABLE model_r (name VARCHAR(20), qty INT, price DECIMAL(8,2), ratio DOUBLE, added DATE, \
                     seen DATETIME, INDEX (name), INDEX (qty), INDEX (price), INDEX (ratio), INDEX (added), INDEX (seen))";
const NATIVE: &str = "CREATE TABLE model_r (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), \
                      qty INT, price DECIMAL(8,2), ratio DOUBLE, added DATE, seen DATETIME, created_at DATETIME NOT NULL, \
                      updated_at DATETIME NOT NULL, INDEX (name), INDEX (qty), INDEX (price), INDEX (ratio), \
                      INDEX (added), INDEX (seen)) DEFAULT CHARSET=utf8mb4";

/// A small deterministic generator (xorshift), so a failing filter can be reproduced from the seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

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

    let queries = 1500;
    for n in 0..queries {
        let condition = filter(&mut random, 3);
        let sql = match n % 3 {
            0 => format!("SELECT id, name, qty, price, ratio, added, seen FROM model_r WHERE {condition} ORDER BY id"),
            1 => format!("SELECT COUNT(*), SUM(qty), MIN(price), MAX(seen) FROM model_r WHERE {condition}"),
            _ => format!("SELECT id FROM model_r WHERE {condition} ORDER BY qty DESC, id LIMIT 5"),
        };
        let a = texts(
            ours.query(&sql)
                .await
                .unwrap_or_else(|e| panic!("query {n}: {sql}: {e}")),
        );
        let b = texts(theirs.query(&sql).await.unwrap());
        assert_eq!(a, b, "query {n} differs: {sql}");
    }
}
