//! The passthrough scan against the full parser: no statement the scan lets an administrator pass unparsed is one
//! the parser routes anywhere but to the backend. The corpus: the grammar and rewrite fixtures, sysbench's
//! statements, ORM / driver / BI chatter, hostile spellings, and MariaDB's own mysql-test suite where
//! `mariadb-test` is installed (`scripts/setup` installs it).

use std::path::Path;

use stardust::config::Role;
use stardust::sql::{parse_and_route, scan, Context, Route};

const ADMIN: Context<'static> = Context {
    user: "ops",
    role: Role::Admin,
    home: "app",
};

/// MariaDB's own test statements: the main suite.
const MYSQL_TEST: &str = "/usr/share/mysql/mysql-test/main";

const SYSBENCH: &[&str] = &[
    "SELECT c FROM sbtest1 WHERE id=?",
    "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?",
    "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?",
    "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
    "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
    "UPDATE sbtest1 SET k=k+1 WHERE id=?",
    "UPDATE sbtest1 SET c=? WHERE id=?",
    "DELETE FROM sbtest1 WHERE id=?",
    "INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)",
    "CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, \
     c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */",
    "CREATE INDEX k_1 ON sbtest1(k)",
    "DROP TABLE IF EXISTS sbtest1",
    "BEGIN",
    "COMMIT",
    "SELECT c FROM sbtest1 WHERE id = 4213",
];

const CHATTER: &[&str] = &[
    "SET NAMES utf8mb4",
    "SET autocommit=0",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SELECT @@version_comment LIMIT 1",
    "SELECT @@session.transaction_isolation",
    "SELECT @@tx_isolation",
    "SELECT DATABASE()",
    "SELECT VERSION()",
    "SELECT CAST('test plain returns' AS CHAR(60)) AS anon_1",
    "SHOW VARIABLES LIKE 'sql_mode'",
    "SHOW VARIABLES LIKE 'lower_case_table_names'",
    "SHOW FULL TABLES FROM `app`",
    "SHOW CREATE TABLE `app`.`model_company`",
    "SHOW INDEX FROM `model_company` FROM `app`",
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app'",
    "SELECT * FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'model_company'",
    "/* mysql-connector-j-8.0 */SELECT @@session.auto_increment_increment AS auto_increment_increment",
    "/* ApplicationName=DBeaver 23.0 - Main */ SELECT DATABASE()",
    "/* ApplicationName=DBeaver 23.0 - Main */ SHOW TABLE STATUS FROM `app`",
    "select table_schema, table_name from information_schema.tables",
    "SELECT `model_company`.`name` FROM `model_company` LIMIT 1000",
    "SELECT COUNT(*) AS `count` FROM `app`.`model_company`",
    "USE `app`",
    "KILL QUERY 7",
    "SET stardust_tenant = 1",
    "CALL stardust.replay_dlq(3)",
    "SELECT * FROM stardust.jobs",
];

/// Spellings that try to slip a name or a verb past a scanner.
const HOSTILE: &[&str] = &[
    "SELECT * FROM `model_x`",
    "SELECT * FROM \"model_x\"",
    "SELECT * FROM app.model_x",
    "SELECT * FROM MODEL_X",
    "SELECT * FROM t1, model_x",
    "SELECT/**/*/**/FROM/**/model_x",
    "SELECT * FROM t WHERE a IN (SELECT b FROM model_x)",
    "WITH model_a AS (SELECT 1) SELECT * FROM model_a",
    "SELECT 1; SHOW TABLES",
    ";SHOW TABLE STATUS",
    "/* x */SHOW TABLES",
    "-- x\nSHOW TABLES",
    "--x\nSHOW TABLES",
    "# x\nUSE app",
    "\u{a0}SHOW TABLES",
    "/*!50001 SHOW TABLES */",
    "/*M!100000 KILL 1 */",
    "(SELECT 1)",
    "SELECT 'a\\'; SHOW TABLES; '",
    "SELECT \"a\"\"; SHOW TABLES",
    "SELECT 1 /* SHOW TABLES */",
    "SET @@stardust_tenant = 2",
    "SET SESSION stardust_allow_scan = ON",
    "DESCRIBE model_x",
    "EXPLAIN model_x",
    "EXPLAIN SELECT * FROM model_x",
    "SHOW COLUMNS FROM model_x",
    "CREATE TABLE model_new (a INT) PARTITION BY HASH(a)",
    "ALTER TABLE `model_x` ADD INDEX (a)",
    "RENAME TABLE t TO model_t",
    "INSERT INTO model_x (a) SELECT a FROM t",
    "DELETE FROM model_x",
    "SELECT * FROM information_schema . `TABLES`",
    "",
    " ",
    ";",
    "/* nothing */",
];

fn statements_of_fixtures(dir: &Path, into: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            statements_of_fixtures(&path, into);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            // Fixture files hold one statement per `;`-terminated paragraph; whole files count too.
            into.extend(text.split(";\n").map(str::to_string));
            into.push(text);
        }
    }
}

/// mysqltest files: SQL ends at the current delimiter; lines starting with `--` or `#` are the runner's.
fn statements_of_mysql_test(text: &str, into: &mut Vec<String>) {
    let mut delimiter = ";".to_string();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.starts_with("--") || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(new) = trimmed
            .strip_prefix("delimiter ")
            .or_else(|| trimmed.strip_prefix("DELIMITER "))
        {
            delimiter = new.trim_end_matches(delimiter.as_str()).trim().to_string();
            if delimiter.is_empty() {
                delimiter = ";".to_string();
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(delimiter.as_str()) {
            let statement = current.trim_end().trim_end_matches(delimiter.as_str());
            into.push(statement.to_string());
            current.clear();
        }
    }
}

fn corpus() -> (Vec<String>, usize) {
    let mut statements: Vec<String> = SYSBENCH
        .iter()
        .chain(CHATTER)
        .chain(HOSTILE)
        .map(|s| s.to_string())
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    statements_of_fixtures(&root.join("fixtures"), &mut statements);
    let before = statements.len();
    if let Ok(files) = std::fs::read_dir(MYSQL_TEST) {
        let mut files: Vec<_> = files.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "test"))
        {
            if let Ok(bytes) = std::fs::read(file) {
                statements_of_mysql_test(&String::from_utf8_lossy(&bytes), &mut statements);
            }
        }
    }
    let mysql_test = statements.len() - before;
    (statements, mysql_test)
}

#[test]
fn no_statement_passed_unparsed_is_one_the_parser_would_keep() {
    // sqlparser recurses deeply on mysql-test's nested expressions; a debug build needs room for it.
    let checked = std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(|| {
            let (statements, mysql_test) = corpus();
            let mut plain = 0;
            let mut wrong = Vec::new();
            for sql in &statements {
                if !scan::plain(sql) {
                    continue;
                }
                plain += 1;
                let parsed = parse_and_route(sql, &ADMIN);
                if parsed != Ok(Route::Forward) {
                    wrong.push(format!("{sql:?} → {parsed:?}"));
                }
            }
            (statements.len(), mysql_test, plain, wrong)
        })
        .unwrap()
        .join()
        .unwrap();
    let (total, mysql_test, plain, wrong) = checked;
    assert!(
        wrong.is_empty(),
        "{} of {total} statements were plain to the scan but not to the parser:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        plain > 0,
        "{total} statements, {mysql_test} of them from mysql-test"
    );
}

#[test]
fn the_scan_sends_whatever_it_cannot_rule_out_to_the_parser() {
    for sql in HOSTILE {
        assert!(!scan::plain(sql) || !sql.contains("model_"), "{sql:?}");
    }
    // It must not parse everything either: sysbench's statements all pass unparsed.
    for sql in SYSBENCH {
        assert!(scan::plain(sql), "{sql:?}");
    }
}
