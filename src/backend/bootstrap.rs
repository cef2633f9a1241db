//! Idempotent, non-destructive creation of StarDust's eleven fixed tables, plus the ensure steps that upgrade older schemas.
//!
//! The layout is StarDust 0.3's (see `shared/reference/stardust-digest.md` §1) with these deliberate changes:
//! - "one live slot per field" is a stored generated column `live_field_id` with a unique index, which works on
//!   MySQL 8.0.13+ and MariaDB 10.6+ alike (StarDust used a functional index, which MariaDB lacks);
//! - `stardust_sync_queue.entry_id` is unique, so a write that misses a slot twice queues its entry once
//!   (digest §8.3 item 16);
//! - tables take the server's default utf8mb4 collation instead of naming MySQL-only `utf8mb4_0900_ai_ci`, so that
//!   string slots compare exactly as a native table in the same database does.

use mysql_async::prelude::Queryable;

use super::Error;

const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 ROW_FORMAT=DYNAMIC";

/// The fixed tables, in creation order, with their column and key definitions.
pub const TABLES: [(&str, &str); 11] = [
    (
        "entry_data",
        "id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
         tenant_id BIGINT NOT NULL,
         model_id INT NOT NULL,
         created_at DATETIME NOT NULL,
         updated_at DATETIME NOT NULL,
         deleted_at DATETIME NULL,
         fields JSON NOT NULL,
         KEY ix_entry_data_tenant_model (tenant_id, model_id),
         KEY ix_entry_data_tenant_lifecycle (tenant_id, deleted_at, created_at)",
    ),
    (
        "stardust_sync_queue",
        "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         entry_id BIGINT UNSIGNED NOT NULL,
         created_at DATETIME NOT NULL,
         UNIQUE KEY ux_sync_queue_entry (entry_id)",
    ),
    (
        "stardust_models",
        "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         tenant_id BIGINT NOT NULL,
         name VARCHAR(128) NOT NULL,
         created_at DATETIME NOT NULL,
         UNIQUE KEY ux_models_tenant_name (tenant_id, name)",
    ),
    (
        "stardust_fields",
        "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         model_id INT NOT NULL,
         name VARCHAR(128) NOT NULL,
         declared_type ENUM('string','int','numeric','datetime','json') NOT NULL,
         is_filterable BOOLEAN NOT NULL DEFAULT FALSE,
         created_at DATETIME NOT NULL,
         updated_at DATETIME NOT NULL,
         ordinal INT NOT NULL DEFAULT 0,
         declared_sql TEXT NULL,
         column_type VARCHAR(255) NULL,
         is_nullable BOOLEAN NOT NULL DEFAULT TRUE,
         default_value TEXT NULL,
         collation_name VARCHAR(64) NULL,
         column_comment VARCHAR(1024) NULL,
         wire_meta VARCHAR(64) NULL,
         index_name VARCHAR(64) NULL,
         UNIQUE KEY ux_fields_model_name (model_id, name),
         CONSTRAINT fk_fields_model FOREIGN KEY (model_id) REFERENCES stardust_models (id) ON DELETE CASCADE",
    ),
    (
        "stardust_pages",
        "id INT NOT NULL PRIMARY KEY,
         table_name VARCHAR(64) NOT NULL,
         provisioned_at DATETIME NOT NULL,
         provisioned_by VARCHAR(128) NOT NULL,
         UNIQUE KEY ux_pages_table_name (table_name)",
    ),
    (
        "stardust_slot_assignments",
        "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         page_id INT NOT NULL,
         slot_column VARCHAR(16) NOT NULL,
         slot_type ENUM('str','int','num','dt') NOT NULL,
         field_id BIGINT NULL,
         status ENUM('free','assigned','tombstoned','backfilling','ready') NOT NULL DEFAULT 'free',
         sweep_cursor_id BIGINT NULL,
         tombstoned_at DATETIME NULL,
         updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
         sweep_gap_count INT NOT NULL DEFAULT 0,
         is_indexed BOOLEAN NOT NULL DEFAULT FALSE,
         live_field_id BIGINT GENERATED ALWAYS AS
             (CASE WHEN status IN ('assigned','backfilling','ready') THEN field_id END) STORED,
         UNIQUE KEY ux_slot_assignments_page_column (page_id, slot_column),
         UNIQUE KEY ux_slot_assignments_field_live (live_field_id),
         KEY ix_slot_assignments_status_type (status, slot_type),
         KEY ix_slot_assignments_page_status (page_id, status),
         CONSTRAINT fk_slot_assignments_page FOREIGN KEY (page_id) REFERENCES stardust_pages (id),
         CONSTRAINT fk_slot_assignments_field FOREIGN KEY (field_id) REFERENCES stardust_fields (id)",
    ),
    (
        "stardust_schema_version",
        "id TINYINT NOT NULL PRIMARY KEY,
         version BIGINT UNSIGNED NOT NULL DEFAULT 0,
         updated_at DATETIME NOT NULL,
         page_invariant_at DATETIME NULL,
         CONSTRAINT ck_schema_version_singleton CHECK (id = 1)",
    ),
    (
        "stardust_export_jobs",
        "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         tenant_id BIGINT NOT NULL,
         status ENUM('pending','processing','completed','failed') NOT NULL DEFAULT 'pending',
         filter JSON NOT NULL,
         format ENUM('csv','json') NOT NULL,
         last_cursor BIGINT NULL,
         artifact_path VARCHAR(512) NULL,
         failed_reason VARCHAR(64) NULL,
         skip_count INT UNSIGNED NOT NULL DEFAULT 0,
         worker_identity VARCHAR(128) NULL,
         claimed_at DATETIME NULL,
         heartbeat_at DATETIME NULL,
         created_at DATETIME NOT NULL,
         completed_at DATETIME NULL,
         KEY ix_export_jobs_status_created (status, created_at),
         KEY ix_export_jobs_tenant_status (tenant_id, status),
         KEY ix_export_jobs_status_heartbeat (status, heartbeat_at),
         KEY ix_export_jobs_completed (completed_at)",
    ),
    (
        "stardust_import_jobs",
        "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         tenant_id BIGINT NOT NULL,
         status ENUM('pending','processing','completed','failed') NOT NULL DEFAULT 'pending',
         idempotency_key VARCHAR(128) NULL,
         artifact_path VARCHAR(512) NOT NULL,
         entry_count INT UNSIGNED NOT NULL,
         manifest JSON NULL,
         failed_reason VARCHAR(64) NULL,
         worker_identity VARCHAR(128) NULL,
         claimed_at DATETIME NULL,
         heartbeat_at DATETIME NULL,
         created_at DATETIME NOT NULL,
         completed_at DATETIME NULL,
         UNIQUE KEY ux_import_jobs_tenant_idempotency (tenant_id, idempotency_key),
         KEY ix_import_jobs_status_created (status, created_at),
         KEY ix_import_jobs_tenant_status (tenant_id, status),
         KEY ix_import_jobs_status_heartbeat (status, heartbeat_at)",
    ),
    (
        "stardust_reconciler_dlq",
        "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         source ENUM('sync_queue','bulk_import') NOT NULL,
         entry_id BIGINT UNSIGNED NULL,
         tenant_id BIGINT NOT NULL,
         model_id INT NOT NULL,
         reason ENUM('malformed_json','missing_entry_data','schema_incompatibility','other') NOT NULL,
         error_message TEXT NULL,
         failed_at DATETIME NOT NULL,
         retry_count INT NOT NULL DEFAULT 0,
         chunk_correlation_id VARCHAR(36) NOT NULL,
         KEY ix_dlq_source_failed_at (source, failed_at),
         KEY ix_dlq_entry (entry_id)",
    ),
    (
        "backfill_checkpoints",
        "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         job_name VARCHAR(128) NOT NULL,
         last_processed_id BIGINT NOT NULL DEFAULT 0,
         status ENUM('running','paused','completed','failed') NOT NULL DEFAULT 'running',
         started_at DATETIME NOT NULL,
         updated_at DATETIME NOT NULL,
         completed_at DATETIME NULL,
         last_error VARCHAR(512) NULL,
         source_declared_type VARCHAR(16) NULL,
         UNIQUE KEY ux_backfill_job_name (job_name),
         KEY ix_backfill_status_updated (status, updated_at)",
    ),
];

/// Columns that StarDust 0.3 added after its first release, or that we added: added when missing.
/// Ours: the declared SQL shape of each field (so introspection prints what the user wrote), the field's
/// position and index name, whether a slot column was indexed when its page was created (StarDust derived
/// that from information_schema.STATISTICS on every reservation), and when the database was brought to the
/// page invariant (`verify::invariant::establish`).
const ENSURE_COLUMNS: [(&str, &str, &str); 18] = [
    ("stardust_fields", "ordinal", "INT NOT NULL DEFAULT 0"),
    ("stardust_fields", "declared_sql", "TEXT NULL"),
    ("stardust_fields", "column_type", "VARCHAR(255) NULL"),
    (
        "stardust_fields",
        "is_nullable",
        "BOOLEAN NOT NULL DEFAULT TRUE",
    ),
    ("stardust_fields", "default_value", "TEXT NULL"),
    ("stardust_fields", "collation_name", "VARCHAR(64) NULL"),
    ("stardust_fields", "column_comment", "VARCHAR(1024) NULL"),
    ("stardust_fields", "wire_meta", "VARCHAR(64) NULL"),
    ("stardust_fields", "index_name", "VARCHAR(64) NULL"),
    (
        "stardust_slot_assignments",
        "is_indexed",
        "BOOLEAN NOT NULL DEFAULT FALSE",
    ),
    (
        "stardust_slot_assignments",
        "sweep_gap_count",
        "INT NOT NULL DEFAULT 0",
    ),
    (
        "stardust_slot_assignments",
        "live_field_id",
        "BIGINT GENERATED ALWAYS AS \
         (CASE WHEN status IN ('assigned','backfilling','ready') THEN field_id END) STORED",
    ),
    (
        "backfill_checkpoints",
        "source_declared_type",
        "VARCHAR(16) NULL",
    ),
    (
        "stardust_schema_version",
        "page_invariant_at",
        "DATETIME NULL",
    ),
    // An export's resumable partial file and what of it is durable; at completion, the published file's.
    ("stardust_export_jobs", "partial_path", "VARCHAR(512) NULL"),
    (
        "stardust_export_jobs",
        "artifact_bytes",
        "BIGINT UNSIGNED NULL",
    ),
    ("stardust_export_jobs", "artifact_sha256", "CHAR(64) NULL"),
    ("stardust_export_jobs", "row_count", "BIGINT UNSIGNED NULL"),
];

/// Indexes added when missing (a schema made by StarDust 0.3 on MySQL lacks the portable live-slot index).
const ENSURE_INDEXES: [(&str, &str, &str); 1] = [(
    "stardust_slot_assignments",
    "ux_slot_assignments_field_live",
    "UNIQUE KEY ux_slot_assignments_field_live (live_field_id)",
)];

/// MySQL errno for "duplicate column name" and "duplicate key name": a racing bootstrap got there first.
const ER_DUP_FIELDNAME: u16 = 1060;
const ER_DUP_KEYNAME: u16 = 1061;

/// Creates whatever is missing and changes nothing that exists. Safe to run any number of times, concurrently.
pub async fn run(conn: &mut mysql_async::Conn) -> Result<(), Error> {
    for (name, body) in TABLES {
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS `{name}` ({body}) {TABLE_OPTIONS}"
        ))
        .await?;
    }
    for (table, column, definition) in ENSURE_COLUMNS {
        if !column_exists(conn, table, column).await? {
            tolerate(
                conn.query_drop(format!(
                    "ALTER TABLE `{table}` ADD COLUMN `{column}` {definition}"
                ))
                .await,
                ER_DUP_FIELDNAME,
            )?;
        }
    }
    for (table, index, definition) in ENSURE_INDEXES {
        if !index_exists(conn, table, index).await? {
            tolerate(
                conn.query_drop(format!("ALTER TABLE `{table}` ADD {definition}"))
                    .await,
                ER_DUP_KEYNAME,
            )?;
        }
    }
    ensure_json_declared_type(conn).await?;
    conn.query_drop(
        "INSERT INTO stardust_schema_version (id, version, updated_at) \
         VALUES (1, 0, UTC_TIMESTAMP()) ON DUPLICATE KEY UPDATE id = id",
    )
    .await?;
    Ok(())
}

/// StarDust 0.3's `declared_type` lacks `json` (JSON-only fields); widen the ENUM where it does. Adding a value
/// at the end of an ENUM changes no stored row.
async fn ensure_json_declared_type(conn: &mut mysql_async::Conn) -> Result<(), Error> {
    let current: Option<String> = conn
        .query_first(
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'stardust_fields' AND COLUMN_NAME = 'declared_type'",
        )
        .await?;
    if current.is_some_and(|t| !t.contains("'json'")) {
        conn.query_drop(
            "ALTER TABLE stardust_fields MODIFY declared_type \
             ENUM('string','int','numeric','datetime','json') NOT NULL",
        )
        .await?;
    }
    Ok(())
}

fn tolerate(result: mysql_async::Result<()>, code: u16) -> Result<(), Error> {
    match result {
        Err(mysql_async::Error::Server(e)) if e.code == code => Ok(()),
        other => Ok(other?),
    }
}

async fn column_exists(
    conn: &mut mysql_async::Conn,
    table: &str,
    column: &str,
) -> Result<bool, Error> {
    let found: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            (table, column),
        )
        .await?;
    Ok(found.is_some())
}

async fn index_exists(
    conn: &mut mysql_async::Conn,
    table: &str,
    index: &str,
) -> Result<bool, Error> {
    let found: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1",
            (table, index),
        )
        .await?;
    Ok(found.is_some())
}
