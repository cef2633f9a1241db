//! The plan cache: a repeated read of model tables is served from its cached rewrite, never across a catalog
//! change (made by this session or through another instance), and never for a login it was not made for.

use mysql_async::prelude::Queryable;

use stardust::rewrite::plans;
use stardust::sql::scan;

use crate::support::{code, texts, types, Proxy, Random};

#[tokio::test]
async fn repeated_reads_are_served_from_the_plan_cache_with_the_same_answers() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop("CREATE TABLE model_p (name VARCHAR(20), qty INT, INDEX (name))")
        .await
        .unwrap();
    tenant
        .query_drop("INSERT INTO model_p (name, qty) VALUES ('a', 1), ('b', 2)")
        .await
        .unwrap();
    let read = "SELECT name, qty FROM model_p WHERE name = 'b'";
    let (hits, _) = proxy.state.plans.counts();
    let mut answers = Vec::new();
    for _ in 0..4 {
        let rows: Vec<(String, i64)> = tenant.query(read).await.unwrap();
        answers.push(rows);
    }
    assert!(
        answers.iter().all(|a| *a == [("b".to_string(), 2)]),
        "{answers:?}"
    );
    let (after, _) = proxy.state.plans.counts();
    assert!(after - hits >= 2, "hits {hits} → {after}");
}

/// The number of columns of `SELECT * FROM model_p`.
async fn width(conn: &mut mysql_async::Conn) -> usize {
    let result = conn.query_iter("SELECT * FROM model_p").await.unwrap();
    let width = result.columns_ref().len();
    result.drop_result().await.unwrap();
    width
}

#[tokio::test]
async fn a_cached_plan_never_outlives_a_catalog_change() {
    let (first, _second, mut here, mut there) = crate::support::two_instances().await;
    here.query_drop("INSERT INTO model_p (name) VALUES ('a')")
        .await
        .unwrap();
    let (hits, _) = first.state.plans.counts();
    for _ in 0..3 {
        assert_eq!(
            width(&mut here).await,
            4,
            "id, name, created_at, updated_at"
        );
    }
    assert!(first.state.plans.counts().0 > hits, "served from the cache");
    // Through another instance: the next read here sees the new column.
    there
        .query_drop("ALTER TABLE model_p ADD COLUMN qty INT")
        .await
        .unwrap();
    assert_eq!(width(&mut here).await, 5);
    assert_eq!(width(&mut here).await, 5);
    // By this session itself: its very next statement sees the change.
    here.query_drop("ALTER TABLE model_p DROP COLUMN qty")
        .await
        .unwrap();
    assert_eq!(width(&mut here).await, 4);
    assert_eq!(code(here.query_drop("SELECT qty FROM model_p").await), 1054);
}

#[tokio::test]
async fn an_administrators_plan_is_never_a_tenants() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop("CREATE TABLE model_p (name VARCHAR(20), INDEX (name))")
        .await
        .unwrap();
    tenant
        .query_drop("INSERT INTO model_p (name) VALUES ('a')")
        .await
        .unwrap();
    let mut admin = proxy.admin().await;
    admin
        .query_drop("CREATE TABLE secrets (name VARCHAR(20), secret VARCHAR(20))")
        .await
        .unwrap();
    admin
        .query_drop("INSERT INTO secrets VALUES ('a', 'hidden')")
        .await
        .unwrap();
    admin.query_drop("SET stardust_tenant = 1").await.unwrap();
    let join = "SELECT s.secret FROM model_p m JOIN secrets s ON s.name = m.name";
    for _ in 0..3 {
        let secrets: Vec<String> = admin.query(join).await.unwrap();
        assert_eq!(secrets, ["hidden"]);
    }
    assert_eq!(code(tenant.query_drop(join).await), 1142);
}

/// A prepared read of a model table is rewritten and prepared again when this instance changes the model, as
/// MySQL re-prepares a statement whose table changed: a renamed column answers under its new name, and a
/// dropped one is an unknown column.
#[tokio::test]
async fn a_prepared_read_is_prepared_again_after_a_model_change() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    let mut other = proxy.tenant(1).await;
    tenant
        .query_drop(
            "CREATE TABLE model_q (name VARCHAR(20), qty INT, note VARCHAR(10), INDEX (name))",
        )
        .await
        .unwrap();
    tenant
        .query_drop("INSERT INTO model_q (name, qty, note) VALUES ('a', 1, 'x'), ('b', 2, 'y')")
        .await
        .unwrap();
    let statement = tenant
        .prep("SELECT * FROM model_q WHERE name = ?")
        .await
        .unwrap();
    let before: Vec<mysql_async::Row> = tenant.exec(&statement, ("b",)).await.unwrap();
    assert_eq!(
        before[0].columns_ref().len(),
        6,
        "id, name, qty, note and the timestamps"
    );
    other
        .query_drop("ALTER TABLE model_q DROP COLUMN note")
        .await
        .unwrap();
    let after: Vec<mysql_async::Row> = tenant.exec(&statement, ("b",)).await.unwrap();
    let names: Vec<String> = after[0]
        .columns_ref()
        .iter()
        .map(|c| c.name_str().to_string())
        .collect();
    assert_eq!(names, ["id", "name", "qty", "created_at", "updated_at"]);
    let narrow = tenant
        .prep("SELECT qty FROM model_q WHERE name = ?")
        .await
        .unwrap();
    let qty: Option<i64> = tenant.exec_first(&narrow, ("a",)).await.unwrap();
    assert_eq!(qty, Some(1));
    other
        .query_drop("ALTER TABLE model_q DROP COLUMN qty")
        .await
        .unwrap();
    let gone = tenant
        .exec_first::<Option<i64>, _, _>(&narrow, ("a",))
        .await;
    assert_eq!(
        code(gone),
        1054,
        "a dropped column is unknown, as after MySQL re-prepares"
    );
}

const MODEL_V: &str = "CREATE TABLE model_v (name VARCHAR(40), qty INT, price DECIMAL(8,2), ratio DOUBLE, added DATE, \
                       seen DATETIME, INDEX (name), INDEX (qty), INDEX (price), INDEX (ratio), INDEX (added), INDEX (seen))";

const NAMES: [&str; 10] = [
    "'ant'",
    "'Bee'",
    "'bee'",
    "'cat dog'",
    "''",
    "'ünï'",
    "'x\"y'",
    "'it''s'",
    "'back\\\\slash'",
    "'%'",
];

/// A literal of a kind: `n` a whole number, `d` a decimal, `s` a name, `t` a date, `p` a LIKE pattern.
fn value(random: &mut Random, kind: char) -> String {
    match kind {
        'n' => random.below(30).to_string(),
        'd' => format!("{}.{:02}", random.below(20), random.below(4) * 25),
        't' => format!("'2024-01-{:02}'", 1 + random.below(5)),
        'p' => format!("'{}%'", random.pick(&["a", "b", "B", "c", ""])),
        _ => random.pick(&NAMES).to_string(),
    }
}

/// Statement shapes whose `{n}`, `{d}`, `{s}`, `{t}` and `{p}` take random literals: point lookups, IN lists of
/// several lengths, ranges, LIMIT and OFFSET, LIKE, literals in the select list and in comments, quoted strings
/// that stay in the key, numbers in forms that do, subqueries, grouping, unions.
const SHAPES: &[&str] = &[
    "SELECT id, name, qty FROM model_v WHERE name = {s}",
    "SELECT id, name FROM model_v WHERE qty = {n}",
    "SELECT * FROM model_v WHERE id = {n}",
    "SELECT id FROM model_v WHERE qty IN ({n}, {n}, {n}) ORDER BY id",
    "SELECT id FROM model_v WHERE qty IN ({n}) ORDER BY id",
    "SELECT id, price FROM model_v WHERE price BETWEEN {d} AND {d} ORDER BY id LIMIT {n}",
    "SELECT id, name FROM model_v WHERE qty >= {n} ORDER BY 1 LIMIT {n} OFFSET {n}",
    "SELECT id FROM model_v WHERE name LIKE {p} ORDER BY id",
    "SELECT COUNT(*) FROM model_v WHERE qty > -{n}",
    "SELECT id, qty + {n} FROM model_v WHERE qty < {n} ORDER BY id",
    "SELECT {s}, id FROM model_v WHERE id = {n}",
    "SELECT id FROM model_v WHERE added = {t} ORDER BY id",
    "SELECT id FROM model_v /* note {n} */ WHERE qty >= {n} -- {n}\n ORDER BY id",
    "SELECT id FROM model_v WHERE ratio > {d} ORDER BY id",
    "SELECT m.id, m.name FROM model_v m WHERE m.qty = {n} AND m.name <> {s} ORDER BY m.id",
    "SELECT id FROM model_v WHERE CAST(qty AS CHAR(10)) = {s} ORDER BY id",
    "SELECT id FROM model_v WHERE seen < DATE_ADD({t}, INTERVAL {n} DAY) ORDER BY id",
    "SELECT id FROM model_v WHERE qty = (SELECT MAX(qty) FROM model_v WHERE name = {s}) ORDER BY id",
    "SELECT name, COUNT(*) FROM model_v WHERE qty > {n} GROUP BY name HAVING COUNT(*) > {n} ORDER BY name",
    "SELECT id FROM model_v WHERE name IN ({s}, {s}) AND qty NOT BETWEEN {n} AND {n} ORDER BY id",
    "SELECT id FROM model_v WHERE qty = 1e1 OR qty = {n} ORDER BY id",
    "SELECT id FROM model_v WHERE name = _utf8mb4 {s} OR name = X'616e74' ORDER BY id",
    "SELECT id FROM model_v WHERE name = \"bee\" OR qty = {n} ORDER BY id",
    "SELECT id FROM model_v WHERE qty = {n} UNION SELECT id FROM model_v WHERE qty = {n}",
    "SELECT id, name FROM model_v WHERE qty = {n} AND price = {d} AND name = {s} AND added <= {t}",
];

fn statement(random: &mut Random, shape: &str) -> String {
    let mut out = String::new();
    let mut rest = shape;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let kind = rest[at + 1..].chars().next().unwrap();
        out.push_str(&value(random, kind));
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

/// A statement through the session's path, uncached: classified as the tenant, then rewritten.
fn rewritten(
    sql: &str,
    ctx: &stardust::sql::Context<'_>,
    scope: stardust::rewrite::select::Scope<'_>,
) -> Option<(String, Vec<Option<stardust::rewrite::select::Source>>)> {
    match stardust::sql::classify(sql, ctx) {
        Ok(stardust::sql::Route::Virtual(statement)) => {
            stardust::rewrite::plans::rewrite(*statement, scope).ok()
        }
        _ => None,
    }
}

/// The differential test of the plan cache's templates: random literals in every shape, each statement's backend
/// SQL from the template made for the first statement of its key against its own rewrite — byte for byte.
#[tokio::test]
async fn a_template_gives_every_statement_of_its_key_the_backend_sql_of_its_own_rewrite() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant.query_drop(MODEL_V).await.unwrap();
    tenant
        .query_drop("SELECT id FROM model_v WHERE qty = 1")
        .await
        .unwrap();
    let catalog = proxy
        .state
        .registry
        .cached(1)
        .expect("the tenant's catalog");
    let home = proxy.state.backend.database().to_string();
    let ctx = stardust::sql::Context {
        user: "acme",
        role: stardust::config::Role::Tenant(1),
        home: &home,
    };
    let scope = stardust::rewrite::select::Scope {
        catalog: &catalog,
        home: &home,
        allow_scan: false,
    };
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut templates = std::collections::HashMap::new();
    let (mut compared, mut refused) = (0, 0);
    for n in 0..3000 {
        let sql = statement(&mut random, SHAPES[n % SHAPES.len()]);
        let (backend, sources) =
            rewritten(&sql, &ctx, scope).unwrap_or_else(|| panic!("{sql} is rewritten"));
        let literals = scan::literals(&sql).unwrap_or_else(|| panic!("{sql} has a key"));
        let template = templates.entry(literals.key.clone()).or_insert_with(|| {
            plans::template(&sql, &literals, &backend, &sources, |marked| {
                rewritten(marked, &ctx, scope)
            })
        });
        match template {
            Some(template) => {
                assert_eq!(
                    template.render(&sql, &literals.slots),
                    backend,
                    "statement {n}: {sql}"
                );
                compared += 1;
            }
            None => refused += 1,
        }
    }
    // Most shapes make a template; those with a literal in the select list (a column named by its text) do not.
    assert!(compared > 2000, "{compared} compared, {refused} refused");
    for must in [0, 1, 3, 5, 6, 7, 16, 17, 24] {
        let sql = statement(&mut random, SHAPES[must]);
        let key = scan::literals(&sql).unwrap().key;
        assert!(matches!(templates.get(&key), Some(Some(_))), "{sql}");
    }
    let labelled = statement(&mut random, SHAPES[9]);
    let key = scan::literals(&labelled).unwrap().key;
    assert!(matches!(templates.get(&key), Some(None)), "{labelled}");
}

/// The same random statements through a proxy with the plan cache and through one without, on one database: the
/// same rows and the same column metadata, and most of the cached proxy's reads served from its templates.
#[tokio::test]
async fn reads_with_varying_literals_answer_alike_with_and_without_the_plan_cache() {
    let cached = Proxy::start().await;
    let mut config = crate::support::config_for(&cached.database);
    config.plan_cache_entries = 0;
    let uncached = Proxy::start_with(config).await;
    let mut ours = cached.tenant(1).await;
    let mut theirs = uncached.tenant(1).await;
    ours.query_drop(MODEL_V).await.unwrap();
    let mut random = Random(0x5EED_CAFE_F00D);
    let rows: Vec<String> = (0..60)
        .map(|_| {
            format!(
                "({}, {}, {}, {}, {}, '2024-01-0{} 10:00:00')",
                value(&mut random, 's'),
                value(&mut random, 'n'),
                value(&mut random, 'd'),
                value(&mut random, 'd'),
                value(&mut random, 't'),
                1 + random.below(5)
            )
        })
        .collect();
    ours.query_drop(format!(
        "INSERT INTO model_v (name, qty, price, ratio, added, seen) VALUES {}",
        rows.join(", ")
    ))
    .await
    .unwrap();
    let (hits, _) = cached.state.plans.counts();
    for n in 0..1000 {
        let sql = statement(&mut random, SHAPES[n % SHAPES.len()]);
        // An error (the uncached rewrite's own, e.g. of a prefixed string) must be the same error.
        let a = ours.query(&sql).await.map(texts).map_err(|e| e.to_string());
        let b = theirs
            .query(&sql)
            .await
            .map(texts)
            .map_err(|e| e.to_string());
        assert_eq!(a, b, "statement {n}: {sql}");
        if n % 7 == 0 && a.is_ok() {
            assert_eq!(
                types(&mut ours, &sql).await,
                types(&mut theirs, &sql).await,
                "statement {n}: metadata of {sql}"
            );
        }
    }
    let (after, _) = cached.state.plans.counts();
    assert!(after - hits > 600, "hits {hits} → {after}");
    assert_eq!(uncached.state.plans.counts().0, 0);
}
