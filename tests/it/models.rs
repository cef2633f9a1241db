//! Model DDL and introspection: virtual tables look like native ones to every introspection shape, per tenant.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::support::{code, texts, Proxy};

const COMPANY: &str = "CREATE TABLE model_company (name VARCHAR(200), employees INT NOT NULL, city VARCHAR(64) DEFAULT 'Paris', \
                       founded DATE, score DECIMAL(10,2), meta JSON, INDEX (name), KEY emp (employees))";

/// The same table as a native InnoDB table, for differential checks.
const NATIVE: &str = "CREATE TABLE model_company (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                      name VARCHAR(200), employees INT NOT NULL, city VARCHAR(64) DEFAULT 'Paris', founded DATE, \
                      score DECIMAL(10,2), meta JSON, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, \
                      INDEX (name), KEY emp (employees)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/// A database with the native twin of `model_company`, reached directly.
async fn native_twin() -> (String, Conn) {
    let database = crate::support::fresh_database().await;
    let mut conn = crate::support::direct(Some(&database)).await;
    conn.query_drop(NATIVE).await.unwrap();
    (database, conn)
}

#[tokio::test]
async fn a_model_looks_like_its_native_twin() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(COMPANY).await.unwrap();
    let (native_db, mut native) = native_twin().await;

    let tables: Vec<String> = acme.query("SHOW TABLES").await.unwrap();
    assert_eq!(tables, vec!["model_company"]);
    let full: Vec<(String, String)> = acme.query("SHOW FULL TABLES").await.unwrap();
    assert_eq!(
        full,
        vec![("model_company".to_string(), "BASE TABLE".to_string())]
    );

    let described = texts(acme.query("DESCRIBE model_company").await.unwrap());
    let expected = texts(native.query("DESCRIBE model_company").await.unwrap());
    assert_eq!(described, expected, "DESCRIBE");
    let full_columns = texts(
        acme.query("SHOW FULL COLUMNS FROM model_company")
            .await
            .unwrap(),
    );
    let expected = texts(
        native
            .query("SHOW FULL COLUMNS FROM model_company")
            .await
            .unwrap(),
    );
    assert_eq!(full_columns, expected, "SHOW FULL COLUMNS");

    let pick = |rows: Vec<Row>| -> Vec<(String, String, String, String)> {
        rows.into_iter()
            .map(|r| {
                let t = |name: &str| -> String {
                    match r.get_opt::<Value, _>(name) {
                        Some(Ok(Value::Bytes(b))) => String::from_utf8_lossy(&b).into_owned(),
                        Some(Ok(v)) => v.as_sql(true).trim_matches('\'').to_string(),
                        _ => String::new(),
                    }
                };
                (
                    t("Key_name"),
                    t("Seq_in_index"),
                    t("Column_name"),
                    t("Non_unique"),
                )
            })
            .collect()
    };
    let index = pick(acme.query("SHOW INDEX FROM model_company").await.unwrap());
    let expected_index = pick(native.query("SHOW INDEX FROM model_company").await.unwrap());
    assert_eq!(index, expected_index, "SHOW INDEX");

    let (_, create): (String, String) = acme
        .query_first("SHOW CREATE TABLE model_company")
        .await
        .unwrap()
        .unwrap();
    for line in [
        "CREATE TABLE `model_company` (",
        "`name` varchar(200) DEFAULT NULL",
        "`employees` int(11) NOT NULL",
        "`city` varchar(64) DEFAULT 'Paris'",
        "PRIMARY KEY (`id`)",
        "KEY `name` (`name`)",
        "KEY `emp` (`employees`)",
    ] {
        assert!(create.contains(line), "{line} in {create}");
    }

    let is_query = |db: &str| {
        format!(
            "SELECT COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, EXTRA \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'model_company' \
             ORDER BY ORDINAL_POSITION"
        )
    };
    let columns = texts(acme.query(is_query(&proxy.database)).await.unwrap());
    let expected = texts(native.query(is_query(&native_db)).await.unwrap());
    assert_eq!(columns, expected, "information_schema.COLUMNS");
    let statistics = "SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS \
                      WHERE TABLE_NAME = 'model_company' ORDER BY INDEX_NAME, SEQ_IN_INDEX";
    let ours = texts(acme.query(statistics).await.unwrap());
    let theirs = texts(
        native
            .query(statistics.replace("WHERE", &format!("WHERE TABLE_SCHEMA = '{native_db}' AND")))
            .await
            .unwrap(),
    );
    assert_eq!(ours, theirs, "information_schema.STATISTICS");
    let tables: Vec<String> = acme
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(
        tables,
        vec!["model_company"],
        "a tenant sees only its virtual tables"
    );

    // SELECT … LIMIT 0: the column names and types a native table sends.
    let result = acme
        .query_iter("SELECT * FROM model_company LIMIT 0")
        .await
        .unwrap();
    let ours: Vec<(String, u8)> = result
        .columns_ref()
        .iter()
        .map(|c| (c.name_str().into_owned(), c.column_type() as u8))
        .collect();
    drop(result);
    let result = native
        .query_iter("SELECT * FROM model_company LIMIT 0")
        .await
        .unwrap();
    let theirs: Vec<(String, u8)> = result
        .columns_ref()
        .iter()
        .map(|c| (c.name_str().into_owned(), c.column_type() as u8))
        .collect();
    drop(result);
    assert_eq!(ours, theirs, "result metadata");
}

#[tokio::test]
async fn tenants_have_their_own_models() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    let mut globex = proxy.tenant(2).await;
    acme.query_drop(COMPANY).await.unwrap();
    let theirs: Vec<String> = globex.query("SHOW TABLES").await.unwrap();
    assert!(
        theirs.is_empty(),
        "tenant 2 sees nothing of tenant 1: {theirs:?}"
    );
    assert_eq!(
        code(globex.query_drop("DESCRIBE model_company").await),
        1146
    );
    assert_eq!(
        code(
            globex
                .query_drop("SELECT * FROM model_company LIMIT 0")
                .await
        ),
        1146
    );
    let columns: Vec<String> = globex
        .query(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_NAME = 'model_company'",
        )
        .await
        .unwrap();
    assert!(columns.is_empty());
    globex
        .query_drop("CREATE TABLE model_company (vat VARCHAR(20), INDEX (vat))")
        .await
        .unwrap();
    let fields: Vec<String> = globex
        .query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_NAME = 'model_company' ORDER BY ORDINAL_POSITION")
        .await
        .unwrap();
    assert_eq!(fields, vec!["id", "vat", "created_at", "updated_at"]);
    let acme_fields: Vec<Row> = acme.query("DESCRIBE model_company").await.unwrap();
    assert_eq!(acme_fields.len(), 9, "tenant 1's model is unchanged");

    // An admin sees a tenant's models after choosing it, merged with the backend's own tables.
    let mut admin = proxy.admin().await;
    assert_eq!(
        code(admin.query_drop("CREATE TABLE model_x (a INT)").await),
        1046,
        "no tenant chosen"
    );
    admin.query_drop("SET stardust_tenant = 2").await.unwrap();
    let tables: Vec<String> = admin.query("SHOW TABLES").await.unwrap();
    assert!(
        tables.contains(&"model_company".to_string()) && tables.contains(&"entry_data".to_string()),
        "{tables:?}"
    );
    let vat: Vec<String> = admin.query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_NAME = 'model_company' AND COLUMN_NAME = 'vat'").await.unwrap();
    assert_eq!(vat, vec!["vat"]);
}

async fn describe(conn: &mut Conn, table: &str) -> Vec<(String, String, String, String)> {
    let rows: Vec<Row> = conn.query(format!("DESCRIBE {table}")).await.unwrap();
    texts(rows)
        .into_iter()
        .map(|r| {
            let cell = |i: usize| r[i].clone().unwrap_or_default();
            (cell(0), cell(1), cell(2), cell(3))
        })
        .collect()
}

#[tokio::test]
async fn every_alter_form_shows_at_once() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_item (sku VARCHAR(20), qty INT, INDEX (sku))")
        .await
        .unwrap();
    acme.query_drop("ALTER TABLE model_item ADD COLUMN price DECIMAL(8,2)")
        .await
        .unwrap();
    assert!(describe(&mut acme, "model_item")
        .await
        .iter()
        .any(|c| c.0 == "price" && c.1 == "decimal(8,2)"));
    acme.query_drop("ALTER TABLE model_item ADD INDEX (qty)")
        .await
        .unwrap();
    assert!(describe(&mut acme, "model_item")
        .await
        .iter()
        .any(|c| c.0 == "qty" && c.3 == "MUL"));
    acme.query_drop("ALTER TABLE model_item DROP INDEX sku")
        .await
        .unwrap();
    assert!(describe(&mut acme, "model_item")
        .await
        .iter()
        .any(|c| c.0 == "sku" && c.3.is_empty()));
    acme.query_drop("ALTER TABLE model_item MODIFY COLUMN qty BIGINT NOT NULL")
        .await
        .unwrap();
    assert!(describe(&mut acme, "model_item")
        .await
        .iter()
        .any(|c| c.0 == "qty" && c.1.starts_with("bigint") && c.2 == "NO"));
    acme.query_drop("ALTER TABLE model_item RENAME COLUMN price TO cost")
        .await
        .unwrap();
    let columns = describe(&mut acme, "model_item").await;
    assert!(columns.iter().any(|c| c.0 == "cost") && !columns.iter().any(|c| c.0 == "price"));
    acme.query_drop("ALTER TABLE model_item DROP COLUMN cost")
        .await
        .unwrap();
    assert!(!describe(&mut acme, "model_item")
        .await
        .iter()
        .any(|c| c.0 == "cost"));
    acme.query_drop("CREATE INDEX by_sku ON model_item (sku)")
        .await
        .unwrap();
    let index: Vec<Row> = acme.query("SHOW INDEX FROM model_item").await.unwrap();
    assert_eq!(index.len(), 3, "PRIMARY, qty and by_sku");
    acme.query_drop("DROP INDEX by_sku ON model_item")
        .await
        .unwrap();
    acme.query_drop("RENAME TABLE model_item TO model_article")
        .await
        .unwrap();
    let tables: Vec<String> = acme.query("SHOW TABLES").await.unwrap();
    assert_eq!(tables, vec!["model_article"]);
    acme.query_drop("ALTER TABLE model_article RENAME TO model_item")
        .await
        .unwrap();
    let columns = describe(&mut acme, "model_item").await;
    let names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, vec!["id", "sku", "qty", "created_at", "updated_at"]);
    acme.query_drop("DROP TABLE model_item").await.unwrap();
    let tables: Vec<String> = acme.query("SHOW TABLES").await.unwrap();
    assert!(tables.is_empty());
    acme.query_drop("DROP TABLE IF EXISTS model_item")
        .await
        .unwrap();

    // The registry agrees: no live slot is left for the dropped model, its slots wait for the Liberator.
    let mut direct = proxy.direct().await;
    let live: Option<u64> = direct
        .query_first("SELECT COUNT(*) FROM stardust_slot_assignments WHERE status IN ('assigned','backfilling','ready')")
        .await
        .unwrap();
    assert_eq!(live, Some(0));
    let tombstoned: Option<u64> = crate::support::tombstoned(&mut direct).await;
    assert!(tombstoned.unwrap_or(0) >= 2, "{tombstoned:?}");
}

#[tokio::test]
async fn ddl_mistakes_get_mysqls_errors() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop("CREATE TABLE model_t (a INT, b VARCHAR(10), INDEX (a))")
        .await
        .unwrap();
    let cases = [
        ("CREATE TABLE model_t (x INT)", 1050),
        ("CREATE TABLE IF NOT EXISTS model_t (x INT)", 0),
        ("DESCRIBE model_nope", 1146),
        ("ALTER TABLE model_nope ADD COLUMN c INT", 1146),
        ("DROP TABLE model_nope", 1051),
        ("ALTER TABLE model_t RENAME COLUMN nope TO c", 1054),
        ("ALTER TABLE model_t MODIFY COLUMN nope INT", 1054),
        ("ALTER TABLE model_t ADD COLUMN a INT", 1060),
        ("CREATE TABLE model_u (a INT, A INT)", 1060),
        ("CREATE TABLE model_u (id INT)", 1060),
        ("ALTER TABLE model_t ADD COLUMN created_at DATETIME", 1060),
        ("ALTER TABLE model_t ADD INDEX a (b)", 1061),
        ("ALTER TABLE model_t ADD INDEX (nope)", 1072),
        ("ALTER TABLE model_t DROP INDEX nope", 1091),
        ("ALTER TABLE model_t DROP COLUMN nope", 1091),
        (
            "CREATE TABLE model_u (a INT, FOREIGN KEY (a) REFERENCES model_t (id))",
            1235,
        ),
        ("CREATE TABLE model_u (a INT, b INT AS (a + 1))", 1235),
        (
            "CREATE TABLE model_u (a INT) PARTITION BY HASH (a) PARTITIONS 2",
            1235,
        ),
        ("CREATE TABLE model_u (a BLOB)", 1235),
        ("CREATE TABLE model_u (a INT, b INT, INDEX (a, b))", 1235),
        ("CREATE TABLE model_u (a INT PRIMARY KEY)", 1235),
        ("CREATE TABLE model_u (a JSON, INDEX (a))", 1235),
        ("CREATE TABLE `model_a-b` (a INT)", 1103),
        ("CREATE TABLE model_u (`a b` INT)", 1166),
        ("CREATE TABLE model_u (a VARCHAR(999999))", 1074),
    ];
    for (sql, expected) in cases {
        let result = acme.query_drop(sql).await;
        if expected == 0 {
            assert!(result.is_ok(), "{sql}: {result:?}");
        } else {
            assert_eq!(code(result), expected, "{sql}");
        }
    }
    let tables: Vec<String> = acme.query("SHOW TABLES").await.unwrap();
    assert_eq!(
        tables,
        vec!["model_t"],
        "no failed DDL left anything behind"
    );
}

#[tokio::test]
async fn two_proxies_reserve_disjoint_slots_and_see_each_others_ddl() {
    let first = Proxy::start().await;
    let second = Proxy::start_with(crate::support::config_for(&first.database)).await;
    let mut a = first.tenant(1).await;
    let mut b = second.tenant(1).await;
    // Warm both catalogs, then change the registry through the first proxy only.
    let _: Vec<String> = b.query("SHOW TABLES").await.unwrap();
    a.query_drop("CREATE TABLE model_seen (x INT)")
        .await
        .unwrap();
    let tables: Vec<String> = b.query("SHOW TABLES").await.unwrap();
    assert_eq!(
        tables,
        vec!["model_seen"],
        "the second proxy sees the first one's DDL before its next statement"
    );
    a.query_drop("ALTER TABLE model_seen ADD COLUMN y INT")
        .await
        .unwrap();
    assert_eq!(describe(&mut b, "model_seen").await.len(), 5);

    // Many indexed fields defined at once through both proxies: more than one page's worth of INT slots.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let proxy_address = if i % 2 == 0 { &first } else { &second };
        let mut conn = proxy_address.tenant(1).await;
        tasks.push(tokio::spawn(async move {
            let columns: Vec<String> = (0..5).map(|c| format!("c{c} INT, INDEX (c{c})")).collect();
            conn.query_drop(format!("CREATE TABLE model_m{i} ({})", columns.join(", ")))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut direct = first.direct().await;
    let (live, distinct): (u64, u64) = direct
        .query_first(
            "SELECT COUNT(*), COUNT(DISTINCT page_id, slot_column) FROM stardust_slot_assignments \
             WHERE status IN ('assigned','backfilling','ready')",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live, 40);
    assert_eq!(distinct, 40, "no slot is shared");
    let fields_without_slot: Option<u64> = direct
        .query_first(
            "SELECT COUNT(*) FROM stardust_fields f LEFT JOIN stardust_slot_assignments a ON a.live_field_id = f.id \
             WHERE f.is_filterable AND a.id IS NULL",
        )
        .await
        .unwrap();
    assert_eq!(
        fields_without_slot,
        Some(0),
        "every indexed field has its slot"
    );
    let pages: Option<u64> = direct
        .query_first("SELECT COUNT(*) FROM stardust_pages")
        .await
        .unwrap();
    assert!(
        pages.unwrap_or(0) >= 3,
        "40 INT slots need at least three pages of 15: {pages:?}"
    );
}

#[tokio::test]
async fn sqlalchemy_reflects_a_model_table_as_its_native_twin() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(COMPANY).await.unwrap();
    let (native_db, _native) = native_twin().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/sqlalchemy_inspect.py"
    );
    let inspect = |url: String| async move {
        let output = tokio::process::Command::new("python3")
            .args([script, &url, "model_company"])
            .output()
            .await
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let through_proxy = inspect(format!(
        "mysql+pymysql://{}:{}@127.0.0.1:{}/{}",
        crate::support::TENANT_1.0,
        crate::support::TENANT_1.1,
        proxy.address.port(),
        proxy.database
    ))
    .await;
    let root = crate::support::backend()
        .root_url
        .replace("mysql://", "mysql+pymysql://");
    let native = inspect(format!("{root}/{native_db}")).await;
    assert_eq!(
        through_proxy, native,
        "inspect() sees the model table as the native one"
    );
    assert!(
        through_proxy.contains(r#"{"name": "name", "type": "VARCHAR(200)", "nullable": true}"#),
        "{through_proxy}"
    );
    assert!(
        through_proxy.contains(r#"["emp", ["employees"]]"#),
        "{through_proxy}"
    );
}

async fn tombstones(conn: &mut Conn) -> u64 {
    let n: Option<u64> = crate::support::tombstoned(conn).await;
    n.unwrap_or(0)
}

async fn version(conn: &mut Conn) -> u64 {
    let v: Option<u64> = conn
        .query_first("SELECT version FROM stardust_schema_version")
        .await
        .unwrap();
    v.unwrap_or(0)
}

/// The slot of each field of `model`, as (field, status), from the registry directly.
async fn slot_states(conn: &mut Conn, model: &str) -> Vec<(String, String)> {
    conn.exec(
        "SELECT f.name, a.status FROM stardust_fields f JOIN stardust_models m ON m.id = f.model_id \
         LEFT JOIN stardust_slot_assignments a ON a.live_field_id = f.id WHERE m.name = ? ORDER BY f.ordinal",
        (model,),
    )
    .await
    .map(|rows: Vec<(String, Option<String>)>| {
        rows.into_iter().map(|(f, s)| (f, s.unwrap_or_else(|| "-".to_string()))).collect()
    })
    .unwrap()
}

#[tokio::test]
async fn ddl_moves_slots_through_their_states() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    let mut direct = proxy.direct().await;
    let before = version(&mut direct).await;
    acme.query_drop("CREATE TABLE model_s (a INT, b VARCHAR(10), c DOUBLE, INDEX (a))")
        .await
        .unwrap();
    assert!(
        version(&mut direct).await > before,
        "DDL bumps the schema version"
    );
    let s = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        slot_states(&mut direct, "s").await,
        s(&[("a", "assigned"), ("b", "-"), ("c", "-")])
    );
    // Promotion of an existing column: its values must be copied in first.
    acme.query_drop("ALTER TABLE model_s ADD INDEX (b)")
        .await
        .unwrap();
    assert_eq!(
        slot_states(&mut direct, "s").await,
        s(&[("a", "assigned"), ("b", "backfilling"), ("c", "-")])
    );
    // A new indexed column has no values yet: its slot is usable at once.
    acme.query_drop("ALTER TABLE model_s ADD COLUMN d DATETIME, ADD INDEX (d)")
        .await
        .unwrap();
    assert_eq!(
        slot_states(&mut direct, "s").await.last().unwrap(),
        &("d".to_string(), "assigned".to_string())
    );
    // Demotion tombstones the slot.
    assert_eq!(tombstones(&mut direct).await, 0);
    acme.query_drop("ALTER TABLE model_s DROP INDEX a")
        .await
        .unwrap();
    assert_eq!(
        slot_states(&mut direct, "s").await[0],
        ("a".to_string(), "-".to_string())
    );
    assert_eq!(tombstones(&mut direct).await, 1);
    // A retype across families tombstones the old slot and backfills a new one of the new family.
    acme.query_drop("ALTER TABLE model_s MODIFY COLUMN b BIGINT")
        .await
        .unwrap();
    assert_eq!(
        slot_states(&mut direct, "s").await[1],
        ("b".to_string(), "backfilling".to_string())
    );
    assert_eq!(tombstones(&mut direct).await, 2);
    let family: Option<String> = direct
        .query_first(
            "SELECT a.slot_type FROM stardust_slot_assignments a JOIN stardust_fields f ON f.id = a.live_field_id \
             WHERE f.name = 'b'",
        )
        .await
        .unwrap();
    assert_eq!(family.as_deref(), Some("int"));
    // A retype within the family keeps the slot.
    acme.query_drop("ALTER TABLE model_s MODIFY COLUMN b INT")
        .await
        .unwrap();
    assert_eq!(tombstones(&mut direct).await, 2);
    // Dropping the column tombstones its slot too.
    acme.query_drop("ALTER TABLE model_s DROP COLUMN d")
        .await
        .unwrap();
    assert_eq!(tombstones(&mut direct).await, 3);
    let reused: Option<u64> = direct
        .query_first(
            "SELECT COUNT(*) FROM stardust_slot_assignments WHERE status = 'tombstoned' \
             AND (field_id IS NOT NULL OR sweep_cursor_id IS NOT NULL OR tombstoned_at IS NULL)",
        )
        .await
        .unwrap();
    assert_eq!(
        reused,
        Some(0),
        "tombstones carry no field and a fresh sweep cursor"
    );
}

#[tokio::test]
async fn table_status_and_constraint_views_match_the_native_twin() {
    let proxy = Proxy::start().await;
    let mut acme = proxy.tenant(1).await;
    acme.query_drop(COMPANY).await.unwrap();
    let (native_db, mut native) = native_twin().await;
    let status: Vec<Row> = acme.query("SHOW TABLE STATUS").await.unwrap();
    assert_eq!(status.len(), 1);
    let native_status: Vec<Row> = native.query("SHOW TABLE STATUS").await.unwrap();
    let names = |rows: &[Row]| -> Vec<String> {
        rows[0]
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect()
    };
    assert_eq!(
        names(&status),
        names(&native_status),
        "SHOW TABLE STATUS columns"
    );
    let engine: Option<String> = status[0].get("Engine");
    assert_eq!(engine.as_deref(), Some("InnoDB"));
    let like: Vec<Row> = acme
        .query("SHOW TABLE STATUS LIKE 'nothing%'")
        .await
        .unwrap();
    assert!(like.is_empty());
    for (view, columns) in [
        (
            "KEY_COLUMN_USAGE",
            "CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION",
        ),
        ("TABLE_CONSTRAINTS", "CONSTRAINT_NAME, CONSTRAINT_TYPE"),
    ] {
        let query = |db: &str| {
            format!(
                "SELECT {columns} FROM information_schema.{view} WHERE TABLE_SCHEMA = '{db}' \
                 AND TABLE_NAME = 'model_company' ORDER BY 1, 2"
            )
        };
        let ours = texts(acme.query(query(&proxy.database)).await.unwrap());
        let theirs = texts(native.query(query(&native_db)).await.unwrap());
        assert_eq!(ours, theirs, "{view}");
    }
    let grafana = "SELECT DISTINCT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_TYPE != 'SYSTEM VIEW' ORDER BY TABLE_SCHEMA";
    let schemas: Vec<String> = acme.query(grafana).await.unwrap();
    assert_eq!(
        schemas,
        vec![proxy.database.clone()],
        "what Grafana asks for its schema list"
    );
}

#[tokio::test]
async fn an_admin_without_a_tenant_reaches_backend_tables_of_any_name() {
    let proxy = Proxy::start().await;
    let mut admin = proxy.admin().await;
    // Without a tenant chosen, names are the backend's: SHOW and DESCRIBE go to the backend.
    assert_eq!(code(admin.query_drop("DESCRIBE model_nothing").await), 1146);
    let tables: Vec<String> = admin.query("SHOW TABLES LIKE 'entry%'").await.unwrap();
    assert_eq!(tables, vec!["entry_data"]);
    assert_eq!(
        code(admin.query_drop("SELECT * FROM model_nothing").await),
        1046,
        "model rows need a tenant"
    );
}
