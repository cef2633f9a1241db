//! Property-based fuzzing of the SQL layers on the stable toolchain: statement classification (the lexer-level
//! scan against the parser), the tenant policy, and the rewriter — over SQL generated from a small grammar of
//! what reaches the proxy, the same with random mutations, and arbitrary text. Nothing may panic; the scan may
//! call a statement plain only when the parser would forward it; a tenant's forwarded statement names no table;
//! every rewrite names its tenant's id and no other. `PROPTEST_CASES` sets the cases per property (`scripts/fuzz`
//! runs a million each); the wire layer's decoders are fuzzed in `src/protocol/fuzz.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use stardust::catalog::{ColumnShape, Family, Field, Model, Slot, SlotStatus, TenantCatalog};
use stardust::config::Role;
use stardust::rewrite::select::{rewrite, Scope};
use stardust::sql::names::{tables_and_ctes, Table};
use stardust::sql::{classify, scan, Context, Route};

const ADMIN: Context<'static> = Context {
    user: "ops",
    role: Role::Admin,
    home: "app",
};
const TENANT: Context<'static> = Context {
    user: "acme",
    role: Role::Tenant(7),
    home: "app",
};

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(items).prop_map(str::to_string)
}

fn table() -> impl Strategy<Value = String> {
    pick(&[
        "model_company",
        "`model_company`",
        "app.model_company",
        "model_person",
        "entry_data",
        "stardust_models",
        "entry_slots_page_1",
        "information_schema.TABLES",
        "information_schema.PROCESSLIST",
        "stardust.models",
        "stardust.processlist",
        "mysql.user",
        "other.t",
        "t",
        "model_",
        "`model_x``y`",
    ])
}

fn column() -> impl Strategy<Value = String> {
    pick(&[
        "id",
        "name",
        "employees",
        "revenue",
        "profile",
        "created_at",
        "x",
        "`name`",
        "c.name",
        "*",
    ])
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-zA-Z0-9 %_'\\\\]{0,12}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
        pick(&[
            "NULL",
            "TRUE",
            "1.5e3",
            "X'FF'",
            "_utf8mb4'é'",
            "?",
            "@v",
            "@@version"
        ]),
    ]
}

fn predicate() -> impl Strategy<Value = String> {
    let leaf = (
        column(),
        pick(&["=", "<>", "<", ">=", "LIKE", "IS", "IN"]),
        literal(),
    )
        .prop_map(|(c, op, v)| match op.as_str() {
            "IN" => format!("{c} IN ({v}, {v})"),
            "IS" => format!("{c} IS NOT NULL"),
            _ => format!("{c} {op} {v}"),
        });
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
            inner.clone().prop_map(|a| format!("NOT ({a})")),
            (table(), inner).prop_map(|(t, a)| format!("EXISTS (SELECT 1 FROM {t} WHERE {a})")),
        ]
    })
}

/// A statement from the grammar of what clients send.
fn statement() -> impl Strategy<Value = String> {
    prop_oneof![
        (column(), table(), predicate())
            .prop_map(|(c, t, p)| format!("SELECT {c} FROM {t} WHERE {p}")),
        (table(), table(), predicate()).prop_map(|(a, b, p)| {
            format!("SELECT a.id FROM {a} a JOIN {b} b ON a.id = b.id WHERE {p} ORDER BY 1 LIMIT 5")
        }),
        (table(), table())
            .prop_map(|(a, b)| format!("SELECT id FROM {a} UNION SELECT id FROM {b}")),
        (table(), predicate())
            .prop_map(|(t, p)| format!("WITH c AS (SELECT * FROM {t} WHERE {p}) SELECT * FROM c")),
        (table(), predicate()).prop_map(|(t, p)| format!(
            "SELECT COUNT(*), MAX(name) FROM {t} WHERE {p} GROUP BY name HAVING COUNT(*) > 1"
        )),
        (table(), literal()).prop_map(|(t, v)| format!(
            "INSERT INTO {t} (name, employees) VALUES ({v}, 1), ('b', {v})"
        )),
        (table(), literal(), predicate())
            .prop_map(|(t, v, p)| format!("UPDATE {t} SET name = {v} WHERE {p}")),
        (table(), predicate()).prop_map(|(t, p)| format!("DELETE FROM {t} WHERE {p}")),
        table().prop_map(|t| format!("CREATE TABLE {t} (a INT, b VARCHAR(10), INDEX (a))")),
        table().prop_map(|t| format!("ALTER TABLE {t} ADD COLUMN c INT")),
        table().prop_map(|t| format!("SHOW CREATE TABLE {t}")),
        pick(&[
            "SET NAMES utf8mb4",
            "SET stardust_tenant = 2",
            "SET max_statement_time = 1",
            "SET GLOBAL max_connections = 1",
            "SHOW PROCESSLIST",
            "SHOW TABLES",
            "KILL QUERY 1",
            "USE mysql",
            "BEGIN",
            "SELECT 1",
            "SELECT @@version_comment LIMIT 1",
            "SELECT LOAD_FILE('/etc/passwd')",
            "CALL stardust.replay_dlq(1)",
            "SELECT 1 INTO @x",
            "/*!50000 SELECT * FROM entry_data */",
            "SELECT 1; SELECT * FROM mysql.user",
        ]),
    ]
}

/// A statement with random characters inserted, replaced or removed.
fn mutant() -> impl Strategy<Value = String> {
    (
        statement(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0..3u8), 1..6),
    )
        .prop_map(|(sql, edits)| {
            let mut chars: Vec<char> = sql.chars().collect();
            for (at, c, how) in edits {
                let at = at.index(chars.len() + 1);
                match how {
                    0 if at < chars.len() => chars[at] = c,
                    1 => chars.insert(at, c),
                    _ if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => {}
                }
            }
            chars.into_iter().collect()
        })
}

fn any_sql() -> impl Strategy<Value = String> {
    prop_oneof![statement(), mutant(), any::<String>()]
}

fn field(id: i64, name: &str, family: Option<Family>, slot: Option<(&str, SlotStatus)>) -> Field {
    Field {
        id,
        name: name.to_string(),
        family,
        filterable: slot.is_some(),
        index_name: slot.map(|_| name.to_string()),
        ordinal: id as u32,
        shape: ColumnShape {
            column_type: "varchar(20)".to_string(),
            declared_sql: "VARCHAR(20)".to_string(),
            nullable: true,
            ..ColumnShape::default()
        },
        slot: slot.map(|(column, status)| Slot {
            page: 1,
            table: "entry_slots_page_1".to_string(),
            column: column.to_string(),
            status,
            indexed: true,
            collation: Some("utf8mb4_general_ci".to_string()),
        }),
    }
}

fn catalog() -> TenantCatalog {
    let model = |id: i64, name: &str, fields: Vec<Field>| {
        Arc::new(Model {
            id,
            tenant: 7,
            name: name.to_string(),
            created_at: "2024-01-01 00:00:00".to_string(),
            fields,
            derived: Default::default(),
        })
    };
    let mut models = BTreeMap::new();
    models.insert(
        "company".to_string(),
        model(
            3,
            "company",
            vec![
                field(
                    10,
                    "name",
                    Some(Family::Str),
                    Some(("i_str_01", SlotStatus::Ready)),
                ),
                field(
                    11,
                    "employees",
                    Some(Family::Int),
                    Some(("i_int_01", SlotStatus::Assigned)),
                ),
                field(12, "revenue", Some(Family::Num), None),
                field(13, "profile", None, None),
            ],
        ),
    );
    models.insert(
        "person".to_string(),
        model(
            4,
            "person",
            vec![field(
                20,
                "name",
                Some(Family::Str),
                Some(("i_str_02", SlotStatus::Backfilling)),
            )],
        ),
    );
    TenantCatalog {
        tenant: 7,
        version: 1,
        models,
    }
}

/// The numbers a text compares with `tenant_id`.
fn tenant_ids(sql: &str) -> Vec<String> {
    sql.split("tenant_id = ")
        .skip(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Classification answers every text, for both kinds of login, with a route or an error.
    #[test]
    fn classification_never_panics(sql in any_sql()) {
        let _ = classify(&sql, &ADMIN);
        let _ = classify(&sql, &TENANT);
    }

    /// The scan errs only toward parsing: a text it calls plain is one the parser forwards unchanged.
    #[test]
    fn the_scan_calls_plain_only_what_the_parser_forwards(sql in any_sql()) {
        if scan::plain(&sql) {
            let route = classify(&sql, &ADMIN);
            prop_assert!(matches!(route, Ok(Route::Forward)), "{sql:?} is plain but routes {route:?}");
        }
    }

    /// A tenant's statement that goes to the backend unchanged names no table of any kind.
    #[test]
    fn a_tenants_forwarded_statement_names_no_table(sql in any_sql()) {
        if let Ok(Route::Forward) = classify(&sql, &TENANT) {
            let statements = Parser::parse_sql(&MySqlDialect {}, &sql).unwrap_or_default();
            for statement in &statements {
                let (tables, _) = tables_and_ctes(statement, "app");
                prop_assert!(
                    tables.iter().all(|t| !matches!(t, Table::Backend(_) | Table::InformationSchema(_))),
                    "{sql:?} forwarded for a tenant names {tables:?}"
                );
            }
        }
    }

    /// Every rewrite of a tenant's read of model tables (as classified for it) is valid SQL, reads `entry_data`
    /// only under its tenant's id, and names no other tenant.
    #[test]
    fn rewrites_are_valid_and_scoped_to_their_tenant(sql in prop_oneof![statement(), mutant()], allow_scan in any::<bool>()) {
        let catalog = catalog();
        let Ok(Route::Virtual(mut statement)) = classify(&sql, &TENANT) else {
            return Ok(());
        };
        if !matches!(*statement, sqlparser::ast::Statement::Query(_)) {
            return Ok(());
        }
        let scope = Scope { catalog: &catalog, home: "app", allow_scan };
        if rewrite(&mut statement, scope).is_err() {
            return Ok(());
        }
        let printed = statement.to_string();
        prop_assert!(
            Parser::parse_sql(&MySqlDialect {}, &printed).is_ok(),
            "{sql:?} rewrote to unparseable {printed}"
        );
        if printed.contains("entry_data AS e") {
            prop_assert!(printed.contains("e.tenant_id = 7"), "{sql:?} -> {printed}");
        }
        if !sql.contains("tenant_id") {
            let ids = tenant_ids(&printed);
            prop_assert!(ids.iter().all(|id| id == "7"), "{sql:?} -> {printed}");
        }
    }
}

/// The rewrite property above is reached: a read of a model table classifies, rewrites and names tenant 7.
#[test]
fn the_rewrite_property_is_exercised() {
    let catalog = catalog();
    for sql in [
        "SELECT name FROM model_company WHERE employees = 3 OR name = 'a'",
        "SELECT COUNT(*) FROM model_company WHERE name = 'a'",
    ] {
        let Ok(Route::Virtual(mut statement)) = classify(sql, &TENANT) else {
            panic!("{sql} is a model read");
        };
        let scope = Scope {
            catalog: &catalog,
            home: "app",
            allow_scan: false,
        };
        rewrite(&mut statement, scope).unwrap();
        let printed = statement.to_string();
        assert!(!tenant_ids(&printed).is_empty(), "{printed}");
        assert!(tenant_ids(&printed).iter().all(|id| id == "7"), "{printed}");
    }
}
