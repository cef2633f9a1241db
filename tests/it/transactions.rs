//! Transactions on model tables, differential: random sequences of `BEGIN`, `SET autocommit`, writes that succeed
//! and writes that fail, savepoints, `COMMIT`, `ROLLBACK` and model DDL on two connections, run on a model table
//! through the proxy and on its native twin directly. After every step each connection must see the same rows on
//! both sides (so what B sees of A's uncommitted work is compared too), every statement must end alike (affected
//! rows or error code), and at the end of each sequence the committed state must be equal.
//!
//! `STARDUST_TX_SEED` and `STARDUST_TX_SEQUENCES` replay a failure; the failure message names both.
//!
//! Locking footprints are not compared: the model's rows live in `entry_data` and a page, with other index records
//! than the native table's, so a statement that would wait on one side may not wait on the other. Each connection
//! therefore writes only rows it owns (tags `a…` or `b…`) and updates and deletes them by primary key, which
//! locks no gap on either side; `innodb_lock_wait_timeout` is short so that any wait shows as a mismatch instead
//! of a hang.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::support::{direct, fresh_database, texts, Proxy, Random};

const COLUMNS: &str = "tag VARCHAR(16) NOT NULL, n INT, s VARCHAR(8)";

/// One side of the comparison: connections A and B, and the rows each saw last (tag → id, for addressing rows
/// by primary key: ids differ between the sides).
struct Side {
    conns: [Conn; 2],
    ids: [HashMap<String, u64>; 2],
}

/// How a statement ended: affected rows, or the error code.
type Ended = Result<u64, u16>;

impl Side {
    async fn run(&mut self, c: usize, sql: &str) -> Ended {
        match self.conns[c].query_drop(sql).await {
            Ok(()) => Ok(self.conns[c].affected_rows()),
            Err(mysql_async::Error::Server(e)) => Err(e.code),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// What connection `c` sees now, by tag; remembers the ids.
    async fn visible(&mut self, c: usize) -> Vec<Vec<Option<String>>> {
        let rows = texts(
            self.conns[c]
                .query("SELECT id, tag, n, s FROM model_t ORDER BY tag")
                .await
                .unwrap_or_else(|e| panic!("the state read on {}: {e}", ["A", "B"][c])),
        );
        self.ids[c] = rows
            .iter()
            .map(|row| {
                let id = row[0].as_deref().and_then(|id| id.parse().ok());
                (row[1].clone().unwrap_or_default(), id.unwrap_or(0))
            })
            .collect();
        rows.into_iter().map(|row| row[1..].to_vec()).collect()
    }
}

/// A statement for both sides: the same text but for the ids of the rows it addresses.
enum Step {
    Same(String),
    /// `{}` stands for the comma-separated ids of `tags` on each side.
    ByIds {
        template: String,
        tags: Vec<String>,
    },
}

/// The generator's state: which tags each connection created, a counter for new ones.
struct Script {
    random: Random,
    next_tag: u64,
}

impl Script {
    fn value(&mut self) -> String {
        match self.random.below(10) {
            0 => "NULL".to_string(),
            _ => (self.random.below(20) as i64 - 5).to_string(),
        }
    }

    fn text(&mut self) -> String {
        self.random
            .pick(&["NULL", "'x'", "'yy'", "'zzz'", "'Ä'"])
            .to_string()
    }

    /// A row for connection `c`; one time in twelve, a value the column cannot hold (1048, 1366, 1406).
    fn row(&mut self, c: usize) -> String {
        self.next_tag += 1;
        let tag = format!("'{}{:05}'", ["a", "b"][c], self.next_tag);
        let (n, s) = (self.value(), self.text());
        match self.random.below(12) {
            0 => format!("(NULL, {n}, {s})"),
            1 => format!("({tag}, 'many', {s})"),
            2 => format!("({tag}, {n}, 'far too long')"),
            _ => format!("({tag}, {n}, {s})"),
        }
    }

    /// Tags of rows `c` owns and sees, for an UPDATE or DELETE by primary key.
    fn own(&mut self, c: usize, seen: &HashMap<String, u64>) -> Vec<String> {
        let prefix = ["a", "b"][c];
        let mut owned: Vec<&String> = seen.keys().filter(|t| t.starts_with(prefix)).collect();
        owned.sort();
        let mut tags = Vec::new();
        for _ in 0..1 + self.random.below(2) {
            if !owned.is_empty() {
                let tag = owned.remove(self.random.below(owned.len() as u64) as usize);
                tags.push(tag.clone());
            }
        }
        tags
    }

    fn one_of(&mut self, statements: &[&str]) -> Step {
        Step::Same(self.random.pick(statements).to_string())
    }

    fn step(&mut self, c: usize, seen: &HashMap<String, u64>) -> Step {
        fn same(sql: &str) -> Step {
            Step::Same(sql.to_string())
        }
        match self.random.below(100) {
            0..=7 => self.one_of(&["BEGIN", "START TRANSACTION", "BEGIN WORK"]),
            8..=15 => self.one_of(&[
                "SET autocommit = 0",
                "SET SESSION autocommit = 0",
                "SET @@autocommit = 0",
                "SET @@session.autocommit = OFF",
            ]),
            16..=20 => self.one_of(&[
                "SET autocommit = 1",
                "SET @@autocommit = ON",
                "SET SESSION autocommit = 1",
            ]),
            21..=44 => {
                let rows: Vec<String> =
                    (0..1 + self.random.below(3)).map(|_| self.row(c)).collect();
                Step::Same(format!(
                    "INSERT INTO model_t (tag, n, s) VALUES {}",
                    rows.join(", ")
                ))
            }
            45..=59 => {
                let tags = self.own(c, seen);
                if tags.is_empty() {
                    return same("SELECT 1");
                }
                let assignment = match self.random.below(8) {
                    0 => "s = 'much too long'".to_string(),
                    1 => "n = 'not a number'".to_string(),
                    _ => format!("n = n + 1, s = {}", self.text()),
                };
                Step::ByIds {
                    template: format!("UPDATE model_t SET {assignment} WHERE id IN ({{}})"),
                    tags,
                }
            }
            60..=67 => {
                let tags = self.own(c, seen);
                if tags.is_empty() {
                    return same("SELECT 1");
                }
                Step::ByIds {
                    template: "DELETE FROM model_t WHERE id IN ({})".to_string(),
                    tags,
                }
            }
            68..=73 => Step::Same(format!("SAVEPOINT sp{}", 1 + self.random.below(2))),
            74..=78 => Step::Same(format!(
                "ROLLBACK TO SAVEPOINT sp{}",
                1 + self.random.below(2)
            )),
            79..=80 => Step::Same(format!("RELEASE SAVEPOINT sp{}", 1 + self.random.below(2))),
            81..=87 => same("COMMIT"),
            88..=94 => same("ROLLBACK"),
            95 => same("SELEC 1"),
            // Model DDL commits the open transaction, as DDL does, and does so before it fails.
            _ => {
                let k = 1 + self.random.below(2);
                Step::Same(match self.random.below(3) {
                    0 => format!("CREATE TABLE model_side{k} (x INT)"),
                    1 => format!(
                        "ALTER TABLE model_side{k} ADD COLUMN y{} INT",
                        self.next_tag
                    ),
                    _ => format!("DROP TABLE model_side{k}"),
                })
            }
        }
    }
}

fn resolved(step: &Step, ids: &HashMap<String, u64>) -> String {
    match step {
        Step::Same(sql) => sql.clone(),
        Step::ByIds { template, tags } => {
            let ids: Vec<String> = tags.iter().map(|t| ids[t].to_string()).collect();
            template.replace("{}", &ids.join(", "))
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn sides(proxy: &Proxy) -> (Side, Side) {
    let native = fresh_database().await;
    let mut setup = direct(Some(&native)).await;
    setup
        .query_drop(format!(
            "CREATE TABLE model_t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, {COLUMNS}, \
             created_at DATETIME, updated_at DATETIME, INDEX (tag), INDEX (n)) DEFAULT CHARSET=utf8mb4"
        ))
        .await
        .unwrap();
    proxy
        .tenant(1)
        .await
        .query_drop(format!(
            "CREATE TABLE model_t ({COLUMNS}, INDEX (tag), INDEX (n))"
        ))
        .await
        .unwrap();
    let mut ours = [proxy.tenant(1).await, proxy.tenant(1).await];
    let mut theirs = [direct(Some(&native)).await, direct(Some(&native)).await];
    for conn in ours.iter_mut().chain(theirs.iter_mut()) {
        conn.query_drop("SET SESSION innodb_lock_wait_timeout = 2")
            .await
            .unwrap();
    }
    let side = |conns| Side {
        conns,
        ids: [HashMap::new(), HashMap::new()],
    };
    (side(ours), side(theirs))
}

#[tokio::test]
async fn random_transactions_on_two_connections_match_a_native_table() {
    let seed = env_number("STARDUST_TX_SEED", 0x5eed_7a11);
    let sequences = env_number("STARDUST_TX_SEQUENCES", 2000);
    let proxy = Proxy::start().await;
    let (mut ours, mut theirs) = sides(&proxy).await;
    let mut script = Script {
        random: Random(seed),
        next_tag: 0,
    };
    let mut statements = 0;
    for sequence in 0..sequences {
        let mut log: Vec<String> = Vec::new();
        // Each sequence starts from committed state, with autocommit on; the table is emptied now and then.
        // Each connection reads at the backend's default isolation level (REPEATABLE READ), or now and then at
        // READ COMMITTED.
        let mut opening = vec!["ROLLBACK", "SET autocommit = 1"];
        if ours.ids[0].len() > 40 {
            opening.push("DELETE FROM model_t");
        }
        for c in 0..2 {
            let level = if script.random.chance(25) {
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
            } else {
                "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"
            };
            for sql in opening.iter().copied().chain([level]) {
                let mine = ours.run(c, sql).await;
                assert_eq!(mine, theirs.run(c, sql).await, "seed {seed}: {sql}");
            }
        }
        for step in 0..2 + script.random.below(12) {
            let c = script.random.below(2) as usize;
            let planned = script.step(c, &theirs.ids[c]);
            let (mine, native) = (
                resolved(&planned, &ours.ids[c]),
                resolved(&planned, &theirs.ids[c]),
            );
            log.push(format!("{}: {native}", ["A", "B"][c]));
            let ended = ours.run(c, &mine).await;
            let expected = theirs.run(c, &native).await;
            statements += 1;
            let context = || {
                format!(
                    "seed {seed}, sequence {sequence}, step {step} (replay with STARDUST_TX_SEED={seed} \
                     STARDUST_TX_SEQUENCES={}):\n{}",
                    sequence + 1,
                    log.join("\n")
                )
            };
            assert_eq!(ended, expected, "how the statement ended; {}", context());
            // Mostly both connections look; sometimes only the other one, so that when a transaction's snapshot
            // is taken (at its first read, not at a write) shows in a later step.
            let readers = if script.random.chance(80) {
                0..2
            } else {
                1 - c..2 - c
            };
            for reader in readers {
                let seen = ours.visible(reader).await;
                let native_seen = theirs.visible(reader).await;
                assert_eq!(
                    seen,
                    native_seen,
                    "what {} sees; {}",
                    ["A", "B"][reader],
                    context()
                );
            }
        }
        // The end of a sequence: each connection commits or rolls back; then the committed state must agree.
        for c in 0..2 {
            let end = *script.random.pick(&["COMMIT", "ROLLBACK"]);
            assert_eq!(ours.run(c, end).await, theirs.run(c, end).await);
            assert_eq!(ours.run(c, "SET autocommit = 1").await, Ok(0));
            theirs.run(c, "SET autocommit = 1").await.unwrap();
        }
        assert_eq!(
            ours.visible(0).await,
            theirs.visible(0).await,
            "committed state after sequence {sequence} (seed {seed})"
        );
    }
    assert!(statements > sequences * 2, "{statements} statements ran");
    crate::support::no_drift(&proxy.state.backend).await;
}

async fn count(conn: &mut Conn) -> Option<u64> {
    conn.query_first("SELECT COUNT(*) FROM model_t")
        .await
        .unwrap()
}

/// A connection whose init sets `autocommit = 0` (as a pool's init command does) has its writes rolled back when it
/// closes without a commit; `COM_RESET_CONNECTION` rolls back the open transaction and turns autocommit back on.
#[tokio::test]
async fn init_commands_and_connection_resets_decide_what_commits() {
    let proxy = Proxy::start().await;
    let mut reader = proxy.tenant(1).await;
    reader
        .query_drop(format!("CREATE TABLE model_t ({COLUMNS}, INDEX (tag))"))
        .await
        .unwrap();
    let opts = proxy
        .opts(crate::support::TENANT_1)
        .init(vec!["SET autocommit = 0"]);
    let mut pooled = Conn::new(opts.clone()).await.unwrap();
    pooled
        .query_drop("INSERT INTO model_t (tag) VALUES ('uncommitted')")
        .await
        .unwrap();
    assert_eq!(count(&mut pooled).await, Some(1), "its own write");
    assert_eq!(count(&mut reader).await, Some(0), "not committed");
    pooled.disconnect().await.unwrap();
    assert_eq!(count(&mut reader).await, Some(0), "closed without a commit");

    let mut pooled = Conn::new(opts).await.unwrap();
    pooled
        .query_drop("INSERT INTO model_t (tag) VALUES ('reset')")
        .await
        .unwrap();
    pooled.reset().await.unwrap();
    assert_eq!(
        count(&mut reader).await,
        Some(0),
        "the reset rolled it back"
    );
    pooled
        .query_drop("INSERT INTO model_t (tag) VALUES ('autocommit')")
        .await
        .unwrap();
    assert_eq!(
        count(&mut reader).await,
        Some(1),
        "autocommit is on after a reset"
    );
    crate::support::no_drift(&proxy.state.backend).await;
}

/// When the backend picks a transaction as a deadlock's victim it rolls all of it back; the client is told 1213
/// (not that the statement's savepoint is gone), and none of the victim's writes stay, as on a native table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_victim_loses_its_whole_transaction() {
    let proxy = Proxy::start().await;
    let mut setup = proxy.tenant(1).await;
    setup
        .query_drop(format!("CREATE TABLE model_t ({COLUMNS}, INDEX (tag))"))
        .await
        .unwrap();
    setup
        .query_drop("INSERT INTO model_t (tag, n) VALUES ('one', 1), ('two', 2)")
        .await
        .unwrap();
    // Rows enough for the backend to read a model by its indexes, not by scanning (and locking) whole tables.
    let filler: Vec<String> = (0..300).map(|i| format!("('z{i:03}', {i})")).collect();
    setup
        .query_drop(format!(
            "INSERT INTO model_t (tag, n) VALUES {}",
            filler.join(", ")
        ))
        .await
        .unwrap();
    let (mut a, mut b) = (proxy.tenant(1).await, proxy.tenant(1).await);
    for conn in [&mut a, &mut b] {
        conn.query_drop("BEGIN").await.unwrap();
    }
    a.query_drop("INSERT INTO model_t (tag, n) VALUES ('a wrote this', 3)")
        .await
        .unwrap();
    a.query_drop("UPDATE model_t SET n = 10 WHERE id = 1")
        .await
        .unwrap();
    b.query_drop("UPDATE model_t SET n = 20 WHERE id = 2")
        .await
        .unwrap();
    // A asks for B's row while B asks for A's, concurrently: whichever asks second closes the cycle, and the
    // backend picks a victim.
    let waiting = tokio::spawn(async move {
        let ended = a.query_drop("UPDATE model_t SET n = 11 WHERE id = 2").await;
        (a, ended)
    });
    let b_ended = b.query_drop("UPDATE model_t SET n = 21 WHERE id = 1").await;
    let (mut a, a_ended) = waiting.await.unwrap();
    let codes: Vec<Option<u16>> = [&a_ended, &b_ended]
        .iter()
        .map(|ended| match ended {
            Ok(()) => None,
            Err(mysql_async::Error::Server(e)) => Some(e.code),
            Err(e) => panic!("{e}"),
        })
        .collect();
    assert!(
        codes.contains(&Some(1213)) && codes.contains(&None),
        "one victim, told 1213: {codes:?}"
    );
    for conn in [&mut a, &mut b] {
        conn.query_drop("COMMIT").await.unwrap();
    }
    let rows: Vec<(String, i64)> = setup
        .query("SELECT tag, n FROM model_t WHERE tag < 'z' ORDER BY tag")
        .await
        .unwrap();
    let expected = if codes[0] == Some(1213) {
        // A lost everything, its INSERT too; B's two updates stand.
        vec![("one".to_string(), 21), ("two".to_string(), 20)]
    } else {
        vec![
            ("a wrote this".to_string(), 3),
            ("one".to_string(), 10),
            ("two".to_string(), 11),
        ]
    };
    assert_eq!(rows, expected);
    crate::support::no_drift(&proxy.state.backend).await;
}
