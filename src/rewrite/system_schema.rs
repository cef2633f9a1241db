//! The `stardust` system schema: read-only tables of StarDust's operational state — `stardust.models`,
//! `fields`, `slots`, `pages`, `jobs`, `dlq`, `processlist` — each a derived table over the registry, restricted
//! to the tenant for tenant logins, so any client can SELECT, filter, join and sort them.

use std::ops::ControlFlow;

use sqlparser::ast::{Statement, TableFactor, VisitMut, VisitorMut};

use super::Error;

/// The system tables, by name.
pub const TABLES: [&str; 7] = [
    "models",
    "fields",
    "slots",
    "pages",
    "jobs",
    "dlq",
    "processlist",
];

pub use crate::processlist::Process;

/// Whether `name` (a two-part name's parts) is a system table; returns its table name.
pub fn system_table(parts: &[String]) -> Option<&'static str> {
    match parts {
        [schema, table] if schema.eq_ignore_ascii_case("stardust") => TABLES
            .iter()
            .copied()
            .find(|t| t.eq_ignore_ascii_case(table)),
        _ => None,
    }
}

/// Replaces every `stardust.<table>` reference; `tenant` restricts the rows (None: an admin sees all).
pub fn substitute(
    statement: &mut Statement,
    tenant: Option<u64>,
    processes: &[Process],
) -> Result<(), Error> {
    let mut visitor = Substitute { tenant, processes };
    match statement.visit(&mut visitor) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Substitute<'a> {
    tenant: Option<u64>,
    processes: &'a [Process],
}

impl VisitorMut for Substitute<'_> {
    type Break = Error;

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        let TableFactor::Table { name, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
            .collect();
        let Some(table) = system_table(&parts) else {
            return ControlFlow::Continue(());
        };
        match super::parse_query(&source(table, self.tenant, self.processes)) {
            Ok(query) => {
                super::replace_with_derived(factor, query, table);
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// The SQL behind a system table, composed from constants and the numeric tenant id only.
fn source(table: &str, tenant: Option<u64>, processes: &[Process]) -> String {
    let only = |column: &str| {
        tenant
            .map(|t| format!(" WHERE {column} = {t}"))
            .unwrap_or_default()
    };
    match table {
        "models" => format!(
            "SELECT m.id, m.tenant_id, m.name, CONCAT('model_', m.name) AS table_name, m.created_at, \
             (SELECT COUNT(*) FROM stardust_fields f WHERE f.model_id = m.id) AS fields, \
             (SELECT COUNT(*) FROM entry_data e WHERE e.tenant_id = m.tenant_id AND e.model_id = m.id \
              AND e.deleted_at IS NULL) AS entries FROM stardust_models m{}",
            only("m.tenant_id")
        ),
        "fields" => format!(
            "SELECT f.id, m.tenant_id, CONCAT('model_', m.name) AS table_name, f.name, f.ordinal, f.declared_type, \
             f.column_type, f.is_filterable, f.index_name, a.status AS slot_status, \
             CONCAT(p.table_name, '.', a.slot_column) AS slot FROM stardust_fields f \
             JOIN stardust_models m ON m.id = f.model_id \
             LEFT JOIN stardust_slot_assignments a ON a.live_field_id = f.id \
             LEFT JOIN stardust_pages p ON p.id = a.page_id{}",
            only("m.tenant_id")
        ),
        "slots" => format!(
            "SELECT a.id, p.table_name AS page, a.slot_column, a.slot_type, a.status, a.is_indexed, \
             m.tenant_id, CONCAT('model_', m.name) AS table_name, f.name AS field, a.sweep_cursor_id, a.updated_at \
             FROM stardust_slot_assignments a JOIN stardust_pages p ON p.id = a.page_id \
             LEFT JOIN stardust_fields f ON f.id = a.live_field_id \
             LEFT JOIN stardust_models m ON m.id = f.model_id{}",
            only("m.tenant_id")
        ),
        "pages" => {
            let mine = tenant
                .map(|t| {
                    format!(
                        " WHERE EXISTS (SELECT 1 FROM stardust_slot_assignments x JOIN stardust_fields f \
                         ON f.id = x.live_field_id JOIN stardust_models m ON m.id = f.model_id \
                         WHERE x.page_id = p.id AND m.tenant_id = {t})"
                    )
                })
                .unwrap_or_default();
            format!(
                "SELECT p.id, p.table_name, p.provisioned_at, p.provisioned_by, \
                 (SELECT COUNT(*) FROM stardust_slot_assignments a WHERE a.page_id = p.id AND a.status = 'free') \
                 AS free_slots, (SELECT COUNT(*) FROM stardust_slot_assignments a WHERE a.page_id = p.id \
                 AND a.status = 'free' AND a.is_indexed) AS free_indexed_slots FROM stardust_pages p{mine}"
            )
        }
        "jobs" => format!(
            "SELECT * FROM (SELECT c.id, 'backfill' AS kind, m.tenant_id, c.job_name, c.status, \
             c.last_processed_id AS progress, c.started_at, c.updated_at, c.completed_at, \
             CAST(NULL AS CHAR(64)) AS failed_reason FROM backfill_checkpoints c \
             LEFT JOIN stardust_fields f ON f.id = CAST(SUBSTRING_INDEX(c.job_name, '_', -1) AS UNSIGNED) \
             LEFT JOIN stardust_models m ON m.id = f.model_id \
             UNION ALL SELECT j.id, 'import', j.tenant_id, CONCAT('import_', j.id), j.status, \
             JSON_UNQUOTE(JSON_EXTRACT(j.manifest, '$.entries_written')), j.created_at, j.heartbeat_at, j.completed_at, \
             j.failed_reason FROM stardust_import_jobs j \
             UNION ALL SELECT x.id, 'export', x.tenant_id, CONCAT('export_', x.id), x.status, x.last_cursor, \
             x.created_at, x.heartbeat_at, x.completed_at, x.failed_reason FROM stardust_export_jobs x) AS all_jobs{}",
            only("tenant_id")
        ),
        "dlq" => format!(
            "SELECT id, source, entry_id, tenant_id, model_id, reason, error_message, failed_at, retry_count \
             FROM stardust_reconciler_dlq{}",
            only("tenant_id")
        ),
        _ => processlist(processes),
    }
}

/// The processlist as a derived table: one row of literals per session (texts as hex, never spliced).
fn processlist(processes: &[Process]) -> String {
    let text = |value: Option<&str>| match value {
        Some(value) => format!(
            "CONVERT(X'{}' USING utf8mb4)",
            crate::sql::hex(value.as_bytes())
        ),
        None => "NULL".to_string(),
    };
    let number = |value: Option<u64>| value.map_or("NULL".to_string(), |n| n.to_string());
    let rows: Vec<String> = processes
        .iter()
        .map(|p| {
            format!(
                "SELECT {} AS id, {} AS user, {} AS host, {} AS tenant_id, {} AS db, {} AS command, {} AS time, \
                 {} AS state, {} AS info, {} AS backend_thread",
                p.id,
                text(Some(&p.user)),
                text(Some(&p.host)),
                number(p.tenant),
                text(p.database.as_deref()),
                text(Some(&p.command)),
                p.time,
                text(Some(&p.state)),
                text(p.info.as_deref()),
                number(p.backend_thread.map(u64::from)),
            )
        })
        .collect();
    if rows.is_empty() {
        "SELECT 0 AS id, '' AS user, '' AS host, 0 AS tenant_id, '' AS db, '' AS command, 0 AS time, '' AS state, \
         '' AS info, 0 AS backend_thread FROM DUAL WHERE 1 = 0"
            .to_string()
    } else {
        rows.join(" UNION ALL ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn rewritten(sql: &str, tenant: Option<u64>) -> String {
        let mut statement = Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0);
        let processes = [Process {
            id: 3,
            user: "acme".to_string(),
            host: "127.0.0.1:5000".to_string(),
            tenant: Some(1),
            database: Some("app".to_string()),
            command: "Query".to_string(),
            time: 0,
            state: "executing".to_string(),
            info: Some("SELECT 'it''s'".to_string()),
            backend_thread: None,
        }];
        substitute(&mut statement, tenant, &processes).unwrap();
        statement.to_string()
    }

    #[test]
    fn every_system_table_becomes_a_tenant_scoped_derived_table() {
        for table in TABLES {
            let sql = rewritten(&format!("SELECT * FROM stardust.{table}"), Some(7));
            assert!(!sql.contains(&format!("stardust.{table}")), "{sql}");
            if table != "processlist" {
                assert!(sql.contains("= 7"), "{table}: {sql}");
            }
            assert!(!rewritten(&format!("SELECT * FROM stardust.{table}"), None).contains("= 7"));
        }
        assert!(rewritten("SELECT user FROM stardust.processlist", None).contains("X'61636D65'"));
    }
}
