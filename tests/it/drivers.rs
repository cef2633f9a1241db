//! Real drivers against a model table through the proxy, compared with the same driver against the native twin:
//! Node's mysql2 and MariaDB Connector/J (JDBC `DatabaseMetaData`, as DBeaver and Metabase read it); and each of
//! PyMySQL, mysql-connector-python, SQLAlchemy's ORM, mysql2 and JDBC running one transaction scenario (rollback,
//! commit, a failed statement, savepoints, a rolled-back delete) on a model table and on a native one; and
//! mysql-connector-python fetching a server-side cursor on each; pandas and Django; the metadata queries BI tools
//! (Metabase, Grafana, Superset, DBeaver) send, replayed; and Sequelize.

use std::path::Path;

use mysql_async::prelude::Queryable;

use crate::support::{backend, direct, fresh_database, Proxy, TENANT_1};

const MODEL: &str =
    "CREATE TABLE model_company (name VARCHAR(200) NOT NULL, employees INT, score DECIMAL(10,2), \
                     founded DATE, INDEX (name), KEY emp (employees))";
const NATIVE: &str = "CREATE TABLE model_company (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                      name VARCHAR(200) NOT NULL, employees INT, score DECIMAL(10,2), founded DATE, \
                      created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, INDEX (name), KEY emp (employees)) \
                      DEFAULT CHARSET=utf8mb4";

/// Debian's MariaDB Connector/J (`libmariadb-java`).
const CONNECTOR_J: &str = "/usr/share/java/mariadb-java-client.jar";

fn clients() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

async fn setup() -> (Proxy, String) {
    let proxy = Proxy::start().await;
    proxy.tenant(1).await.query_drop(MODEL).await.unwrap();
    let native = fresh_database().await;
    direct(Some(&native))
        .await
        .query_drop(NATIVE)
        .await
        .unwrap();
    (proxy, native)
}

fn backend_port() -> u16 {
    let url = &backend().root_url;
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port in the backend URL")
}

async fn run(program: &str, args: &[String], cwd: &Path) -> String {
    let output = tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs (scripts/setup installs it): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn node_mysql2_sees_a_model_table_as_its_native_twin() {
    let (proxy, native) = setup().await;
    let script = clients().join("mysql2_session.js").display().to_string();
    let (through, twin) = both_ways(&proxy, native, "node", &[script]).await;
    let expected_query = format!(r#""query":{{"two":2,"db":"{}"}}"#, proxy.database);
    assert!(through.contains(&expected_query), "{through}");
    assert!(
        through.contains(r#""prepared":{"doubled":42,"text":"héllo"}"#),
        "{through}"
    );
    assert!(through.contains(r#""refused":1142"#), "{through}");
    assert!(
        through.contains(r#""tables":["model_company"]"#),
        "{through}"
    );
    let part = |text: &str, key: &str| -> String {
        let start = text.find(key).unwrap_or_else(|| panic!("{key} in {text}"));
        let rest = &text[start..];
        rest[..rest.find(']').unwrap_or(rest.len()) + 1].to_string()
    };
    for key in [r#""columns":"#, r#""fields":"#] {
        assert_eq!(part(&through, key), part(&twin, key), "{key}");
    }
}

#[tokio::test]
async fn jdbc_metadata_of_a_model_table_matches_its_native_twin() {
    let (proxy, native) = setup().await;
    let classes = tempfile::tempdir().unwrap();
    let source = clients().join("JdbcMetadata.java").display().to_string();
    run(
        "javac",
        &["-d".into(), classes.path().display().to_string(), source],
        clients(),
    )
    .await;
    assert!(
        Path::new(CONNECTOR_J).exists(),
        "MariaDB Connector/J (Debian's libmariadb-java; scripts/setup installs it)"
    );
    let classpath = format!("{CONNECTOR_J}:{}", classes.path().display());
    let java = |url: String, user: &str, password: &str| {
        let args = vec![
            "-cp".to_string(),
            classpath.clone(),
            "JdbcMetadata".to_string(),
            url,
            user.to_string(),
            password.to_string(),
        ];
        async move { run("java", &args, clients()).await }
    };
    let through = java(
        format!(
            "jdbc:mariadb://127.0.0.1:{}/{}",
            proxy.address.port(),
            proxy.database
        ),
        TENANT_1.0,
        TENANT_1.1,
    )
    .await;
    let twin = java(
        format!("jdbc:mariadb://127.0.0.1:{}/{native}", backend_port()),
        "root",
        "",
    )
    .await;
    assert!(through.contains("table model_company"), "{through}");
    assert!(through.contains("pk id"), "{through}");
    assert_eq!(
        through, twin,
        "DatabaseMetaData through the proxy equals the native table's"
    );
}

const TX_MODEL: &str = "CREATE TABLE model_tx (tag VARCHAR(20) NOT NULL, n INT, INDEX (tag))";
const TX_NATIVE: &str = "CREATE TABLE model_tx (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                         tag VARCHAR(20) NOT NULL, n INT, created_at DATETIME, updated_at DATETIME, INDEX (tag)) \
                         DEFAULT CHARSET=utf8mb4";

/// One driver's transaction scenario (tests/clients/*transactions*), through the proxy on a fresh model table and
/// directly on a fresh native one: `command` gets host, port, user, password and database appended.
async fn transactions_alike(proxy: &Proxy, program: &str, command: &[String]) -> String {
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop("DROP TABLE IF EXISTS model_tx")
        .await
        .unwrap();
    tenant.query_drop(TX_MODEL).await.unwrap();
    let native = fresh_database().await;
    direct(Some(&native))
        .await
        .query_drop(TX_NATIVE)
        .await
        .unwrap();
    let (through, twin) = both_ways(proxy, native, program, command).await;
    assert_eq!(
        through, twin,
        "{program} {command:?}: through the proxy vs native"
    );
    crate::support::no_drift(&proxy.state.backend).await;
    through
}

/// `command` run twice with host, port, user, password and database appended: as tenant 1 through the proxy,
/// and as root directly on the backend's `native` database. Returns both outputs.
async fn both_ways(
    proxy: &Proxy,
    native: String,
    program: &str,
    command: &[String],
) -> (String, String) {
    let with = |host: [String; 5]| {
        let mut args = command.to_vec();
        args.extend(host);
        args
    };
    let through = run(
        program,
        &with([
            "127.0.0.1".into(),
            proxy.address.port().to_string(),
            TENANT_1.0.into(),
            TENANT_1.1.into(),
            proxy.database.clone(),
        ]),
        clients(),
    )
    .await;
    let twin = run(
        program,
        &with([
            "127.0.0.1".into(),
            backend_port().to_string(),
            "root".into(),
            String::new(),
            native,
        ]),
        clients(),
    )
    .await;
    (through, twin)
}

#[tokio::test]
async fn python_drivers_roll_back_model_writes_as_on_a_native_table() {
    let proxy = Proxy::start().await;
    let script = clients().join("transactions.py").display().to_string();
    for driver in ["pymysql", "connector-pure"] {
        let out = transactions_alike(&proxy, "python3", &[script.clone(), driver.into()]).await;
        assert!(
            out.contains(r#"["after rollback"]"#)
                && out.contains(r#"["update rolled back", ["c", 3]]"#),
            "{driver}: {out}"
        );
        assert!(out.contains(r#""errors": [1048]"#), "{driver}: {out}");
    }
    // The C extension, in the venv scripts/setup makes for it, writing through server-side prepared statements.
    let cext = clients()
        .join(".venv-cext/bin/python")
        .display()
        .to_string();
    let out = transactions_alike(&proxy, &cext, &[script.clone(), "connector-c".into()]).await;
    assert!(
        out.contains(r#"["update rolled back", ["c", 3]]"#) && !out.contains(r#""errors": []"#),
        "connector-c (its prepared cursor reports the NOT NULL failure without an errno, on both sides): {out}"
    );
    let out = transactions_alike(&proxy, "python3", &[script, "sqlalchemy-orm".into()]).await;
    assert!(
        out.contains(r#"["failed unit of work", ["c", 3]]"#) && out.contains(r#""count": 2"#),
        "{out}"
    );
}

#[tokio::test]
async fn node_mysql2_rolls_back_model_writes_as_on_a_native_table() {
    let proxy = Proxy::start().await;
    let script = clients()
        .join("mysql2_transactions.js")
        .display()
        .to_string();
    let out = transactions_alike(&proxy, "node", &[script]).await;
    assert!(out.contains(r#"["after rollback"]"#), "{out}");
    assert!(
        out.contains(r#"["delete rolled back",["c",3],["d",4]]"#),
        "{out}"
    );
}

#[tokio::test]
async fn jdbc_rolls_back_model_writes_as_on_a_native_table() {
    let proxy = Proxy::start().await;
    let classes = tempfile::tempdir().unwrap();
    let source = clients()
        .join("JdbcTransactions.java")
        .display()
        .to_string();
    run(
        "javac",
        &["-d".into(), classes.path().display().to_string(), source],
        clients(),
    )
    .await;
    let classpath = format!("{CONNECTOR_J}:{}", classes.path().display());
    // The JDBC program takes a URL: a small shell turns host, port, user, password, database into one.
    let launcher = format!(
        r#"exec java -cp "{classpath}" JdbcTransactions "jdbc:mariadb://$1:$2/$5" "$3" "$4""#
    );
    let out = transactions_alike(&proxy, "sh", &["-c".into(), launcher, "jdbc".into()]).await;
    assert!(out.contains("after rollback:\n"), "{out}");
    assert!(out.contains("error 1048"), "{out}");
    assert!(out.contains("update rolled back: c=3\n"), "{out}");
}

#[tokio::test]
async fn mysql_connector_python_fetches_a_model_cursor_as_a_native_one() {
    let (proxy, native) = setup().await;
    let names = ["Acme", "Bolt", "Cog", "Dyn", "Eon", "Flux", "Gear", "Hub"];
    let mut model = proxy.tenant(1).await;
    let mut twin = direct(Some(&native)).await;
    for (i, name) in names.iter().enumerate() {
        let employees = i as i64 * 10;
        model
            .exec_drop(
                "INSERT INTO model_company (name, employees) VALUES (?, ?)",
                (name, employees),
            )
            .await
            .unwrap();
        twin.exec_drop(
            "INSERT INTO model_company (name, employees, created_at, updated_at) \
             VALUES (?, ?, NOW(), NOW())",
            (name, employees),
        )
        .await
        .unwrap();
    }
    let script = clients().join("cursors.py").display().to_string();
    let (through, twin) = both_ways(&proxy, native, "python3", &[script]).await;
    assert!(through.contains(r#""opened": true"#), "{through}");
    assert!(
        through.contains(
            r#"{"rows": [["Bolt", 10], ["Cog", 20], ["Dyn", 30]], "more": true, "last": false}"#
        ),
        "{through}"
    );
    assert!(through.contains(r#"{"count": 8}"#), "{through}");
    assert!(through.contains(r#""last": true"#), "{through}");
    assert!(through.contains(r#"{"error": 1421}"#), "{through}");
    assert_eq!(through, twin, "through the proxy vs native");
}

/// pandas (`to_sql`, `read_sql`, `read_sql_table`) and then Django (`inspectdb`, the ORM's create, bulk create,
/// update, delete, filters and aggregates) on a model table through the proxy and on its native twin: the same
/// answers, and no drift after their writes.
#[tokio::test]
async fn pandas_and_django_use_a_model_table_as_a_native_one() {
    let proxy = Proxy::start().await;
    let columns =
        "name VARCHAR(40) NOT NULL, qty INT, price DOUBLE, day DATE, INDEX (name), INDEX (qty), INDEX (price)";
    proxy
        .tenant(1)
        .await
        .query_drop(format!("CREATE TABLE model_frame ({columns})"))
        .await
        .unwrap();
    let native = fresh_database().await;
    direct(Some(&native))
        .await
        .query_drop(format!(
            "CREATE TABLE model_frame (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, {columns}, \
             created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP) DEFAULT CHARSET=utf8mb4"
        ))
        .await
        .unwrap();
    let script = clients().join("frames.py").display().to_string();
    for library in ["pandas", "django"] {
        let (through, twin) = both_ways(
            &proxy,
            native.clone(),
            "python3",
            &[script.clone(), library.into()],
        )
        .await;
        assert_eq!(through, twin, "{library}: through the proxy vs native");
        assert!(through.lines().count() >= 3, "{library} printed: {through}");
    }
    crate::support::no_drift(&proxy.state.backend).await;
}

const BI_COLUMNS: &str =
    "name VARCHAR(40) NOT NULL, region VARCHAR(10), sales DECIMAL(10,2), day DATE, INDEX (name), \
     KEY by_region (region), INDEX (sales), INDEX (day)";

/// A model table through the proxy and its native twin directly, for the BI replay and Sequelize: the twin has the
/// columns every model has (`id`, `created_at`, `updated_at`) as the proxy shows them. Every column the tools
/// filter on is indexed: the proxy refuses a filter on an unindexed model column unless scans are allowed.
async fn bi_setup(table: &str) -> (Proxy, String) {
    let proxy = Proxy::start().await;
    proxy
        .tenant(1)
        .await
        .query_drop(format!("CREATE TABLE {table} ({BI_COLUMNS})"))
        .await
        .unwrap();
    let native = fresh_database().await;
    direct(Some(&native))
        .await
        .query_drop(format!(
            "CREATE TABLE {table} (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, {BI_COLUMNS}, \
             created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL) DEFAULT CHARSET=utf8mb4"
        ))
        .await
        .unwrap();
    (proxy, native)
}

/// The metadata queries Metabase, Grafana, Superset (SQLAlchemy) and DBeaver send on connect and while browsing a
/// table, with a preview, a count and the GROUP BYs they build (`tests/clients/bi_replay.py`, sources named there):
/// the same answers from a model table through the proxy as from its native twin.
#[tokio::test]
async fn bi_tool_metadata_queries_answer_for_a_model_table_as_for_a_native_one() {
    let (proxy, native) = bi_setup("model_bi").await;
    // Rows for the previews, counts and groupings (a BI tool reads a table someone else filled).
    let rows = [
        ("Acme", Some("north"), Some("10.50"), Some("2024-01-02")),
        ("Bolt", Some("south"), Some("3.25"), Some("2024-01-02")),
        ("Cog", Some("north"), None, Some("2024-02-03")),
        ("Dyn", None, Some("7.00"), None),
        ("Eon", Some("south"), Some("1.00"), Some("2024-02-03")),
    ];
    let mut model = proxy.tenant(1).await;
    let mut twin = direct(Some(&native)).await;
    for row in rows {
        model
            .exec_drop(
                "INSERT INTO model_bi (name, region, sales, day) VALUES (?, ?, ?, ?)",
                row,
            )
            .await
            .unwrap();
        twin.exec_drop(
            "INSERT INTO model_bi (name, region, sales, day, created_at, updated_at) \
             VALUES (?, ?, ?, ?, NOW(), NOW())",
            row,
        )
        .await
        .unwrap();
    }
    let script = clients().join("bi_replay.py").display().to_string();
    let (through, twin) = both_ways(&proxy, native, "python3", &[script]).await;
    for tool in ["superset/sqlalchemy", "metabase", "grafana", "dbeaver"] {
        assert!(
            through.contains(&format!(r#""tool": "{tool}""#)),
            "{tool} in {through}"
        );
    }
    assert!(
        through.contains(r#"["model_bi", "BASE TABLE"]"#),
        "{through}"
    );
    assert!(through.contains(r#""rows": [[5]]"#), "{through}");
    same_lines(&through, &twin);
    crate::support::no_drift(&proxy.state.backend).await;
}

/// Sequelize 6 (`tests/clients/sequelize.js`): a model defined over the existing table, `sync()` without alter or
/// force, create, bulkCreate, findAll with where/order/limit, update, destroy, count, a raw query and
/// `queryInterface.describeTable`; the same answers on a model table through the proxy as on its native twin.
#[tokio::test]
async fn sequelize_uses_a_model_table_as_a_native_one() {
    let (proxy, native) = bi_setup("model_sq").await;
    let script = clients().join("sequelize.js").display().to_string();
    let (through, twin) = both_ways(&proxy, native, "node", &[script]).await;
    assert!(through.contains(r#""synced":true"#), "{through}");
    assert!(through.contains(r#""count":"#), "{through}");
    assert!(through.contains(r#""describe":"#), "{through}");
    same_lines(&through, &twin);
    crate::support::no_drift(&proxy.state.backend).await;
}

/// Every line of `through` (the proxy's answers) equals the same line of `twin` (the native table's); a failure lists
/// every line that differs, not just the first.
fn same_lines(through: &str, twin: &str) {
    let differing: Vec<String> = through
        .lines()
        .zip(twin.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("through: {a}\nnative:  {b}"))
        .collect();
    assert!(
        differing.is_empty(),
        "through the proxy vs native:\n{}",
        differing.join("\n")
    );
    assert_eq!(
        through.lines().count(),
        twin.lines().count(),
        "{through}\n---\n{twin}"
    );
}
