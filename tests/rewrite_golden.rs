//! Rewrite goldens: every `fixtures/rewrite/<name>.sql` rewritten against a fixed catalog must equal
//! `<name>.expected`. Set `STARDUST_BLESS=1` to regenerate the expected files, then review them as a diff.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use stardust::catalog::{ColumnShape, Family, Field, Model, Slot, SlotStatus, TenantCatalog};
use stardust::rewrite::select::{rewrite, Scope};

fn field(
    id: i64,
    name: &str,
    family: Option<Family>,
    column_type: &str,
    slot: Option<(u32, &str, SlotStatus)>,
) -> Field {
    Field {
        id,
        name: name.to_string(),
        family,
        filterable: slot.is_some(),
        index_name: slot.map(|_| name.to_string()),
        ordinal: id as u32,
        shape: ColumnShape {
            column_type: column_type.to_string(),
            declared_sql: column_type.to_ascii_uppercase(),
            nullable: true,
            ..ColumnShape::default()
        },
        slot: slot.map(|(page, column, status)| Slot {
            page,
            table: format!("entry_slots_page_{page}"),
            column: column.to_string(),
            status,
            indexed: true,
            collation: Some("utf8mb4_general_ci".to_string()),
        }),
    }
}

fn catalog() -> TenantCatalog {
    let company = Model {
        id: 3,
        tenant: 7,
        name: "company".to_string(),
        created_at: "2024-01-01 00:00:00".to_string(),
        fields: vec![
            field(
                10,
                "name",
                Some(Family::Str),
                "varchar(200)",
                Some((1, "i_str_01", SlotStatus::Ready)),
            ),
            field(
                11,
                "employees",
                Some(Family::Int),
                "int(11)",
                Some((1, "i_int_01", SlotStatus::Assigned)),
            ),
            field(
                12,
                "city",
                Some(Family::Str),
                "varchar(64)",
                Some((2, "i_str_04", SlotStatus::Ready)),
            ),
            field(13, "founded", Some(Family::Dt), "date", None),
            field(
                14,
                "revenue",
                Some(Family::Num),
                "decimal(14,2)",
                Some((1, "i_num_01", SlotStatus::Ready)),
            ),
            field(15, "profile", None, "json", None),
        ],
        derived: Default::default(),
    };
    let person = Model {
        id: 4,
        tenant: 7,
        name: "person".to_string(),
        created_at: "2024-01-01 00:00:00".to_string(),
        fields: vec![
            field(20, "title", Some(Family::Str), "varchar(100)", None),
            field(
                21,
                "employer",
                Some(Family::Str),
                "varchar(200)",
                Some((2, "i_str_05", SlotStatus::Backfilling)),
            ),
        ],
        derived: Default::default(),
    };
    let mut models = BTreeMap::new();
    models.insert("company".to_string(), Arc::new(company));
    models.insert("person".to_string(), Arc::new(person));
    TenantCatalog {
        tenant: 7,
        version: 1,
        models,
    }
}

fn rewritten(sql: &str, catalog: &TenantCatalog) -> String {
    rewritten_with(sql, catalog, false)
}

fn rewritten_with(sql: &str, catalog: &TenantCatalog, allow_scan: bool) -> String {
    let mut statement = Parser::parse_sql(&MySqlDialect {}, sql)
        .expect("fixture parses")
        .remove(0);
    let scope = Scope {
        catalog,
        home: "app",
        allow_scan,
    };
    match rewrite(&mut statement, scope) {
        Ok(_) => format!("{statement}\n"),
        Err(e) => format!("-- error: {e}\n"),
    }
}

#[test]
fn every_rewrite_fixture_matches_its_expected_sql() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rewrite");
    let bless = std::env::var("STARDUST_BLESS").is_ok_and(|v| v == "1");
    let catalog = catalog();
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 8);
    let mut mismatches = Vec::new();
    for input in inputs {
        let sql = std::fs::read_to_string(&input).unwrap();
        let output = rewritten(sql.trim(), &catalog);
        let expected_path = input.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &output).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if output != expected {
            mismatches.push(format!(
                "{}:\n  got      {output}  expected {expected}",
                input.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "rewrite goldens differ (STARDUST_BLESS=1 regenerates):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_model_reference_carries_the_tenant_predicate() {
    let catalog = catalog();
    for sql in [
        "SELECT * FROM model_company",
        "SELECT * FROM model_company c JOIN model_person p ON p.employer = c.name",
        "SELECT (SELECT COUNT(*) FROM model_person) FROM model_company WHERE name = 'x'",
        "SELECT name FROM model_company UNION ALL SELECT title FROM model_person",
        "SELECT * FROM model_company WHERE name IN (SELECT employer FROM model_person WHERE employer = 'x')",
    ] {
        let out = rewritten_with(sql, &catalog, true);
        let references = sql.matches("model_").count();
        // Each derived table reads from entry_data or from a page (the page-driven shape) …
        let driven = out.matches("FROM entry_data AS e").count() + out.matches("FROM `entry_slots_page_").count();
        assert_eq!(driven, references, "{sql}\n{out}");
        // … and every table it reads carries the tenant predicate.
        let entries = out.matches("entry_data AS e").count();
        assert_eq!(out.matches("e.tenant_id = 7 AND e.model_id = ").count(), entries, "{sql}\n{out}");
        let pages = out.matches("`entry_slots_page_").count();
        let page_tenant = out.matches(".tenant_id = 7").count() - out.matches("e.tenant_id = 7").count();
        assert_eq!(page_tenant, pages, "{sql}\n{out}");
        // A model table survives only as the alias of its derived table, never as a table the backend reads.
        assert!(!out.contains("FROM model_") && !out.contains("JOIN model_"), "{out}");
    }
}

fn probed(sql: &str, catalog: &TenantCatalog) -> Option<String> {
    let statement = Parser::parse_sql(&MySqlDialect {}, sql)
        .expect("parses")
        .remove(0);
    let scope = Scope {
        catalog,
        home: "app",
        allow_scan: false,
    };
    stardust::rewrite::twin::probe(&statement, scope).map(|p| p.statement.to_string())
}

#[test]
fn the_twin_probe_reads_only_the_twins_and_runs_nothing() {
    let catalog = catalog();
    assert_eq!(
        probed(
            "SELECT LOWER(c.name), SUM(revenue) FROM model_company c JOIN model_person ON title = c.name \
             WHERE founded > '2020-01-01' GROUP BY 1",
            &catalog
        )
        .as_deref(),
        Some(
            "SELECT LOWER(c.name), SUM(revenue) FROM `stardust_twin_3` c JOIN `stardust_twin_4` AS model_person \
             ON title = c.name WHERE founded > '2020-01-01' GROUP BY 1"
        )
    );
    assert_eq!(
        probed("SELECT name FROM model_company UNION SELECT title FROM app.model_person", &catalog).as_deref(),
        Some(
            "SELECT name FROM `stardust_twin_3` AS model_company UNION SELECT title FROM `stardust_twin_4` AS \
             model_person"
        )
    );
    // Anything that would read a real table, store a value, act or wait is not probed.
    for sql in [
        "SELECT LOWER(name) FROM model_company JOIN entry_data ON 1 = 1",
        "SELECT LOWER(name), (SELECT COUNT(*) FROM information_schema.TABLES) FROM model_company",
        "SELECT SUM(employees) INTO @s FROM model_company",
        "SELECT @s := SUM(employees) FROM model_company",
        "SELECT SUM(employees) + SLEEP(1) FROM model_company",
        "SELECT NEXTVAL(s), SUM(employees) FROM model_company",
        "SELECT LOWER(name) FROM model_unknown",
        "SELECT 1",
    ] {
        assert_eq!(probed(sql, &catalog), None, "{sql}");
    }
}
