//! The registry snapshot: a tenant's models, their fields and slots, as immutable data. No I/O here.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Prefix that turns a model name into its virtual table name.
pub const TABLE_PREFIX: &str = "model_";

/// The slot family a declared type maps to; `None` on a field means JSON-only (never filterable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Str,
    Int,
    Num,
    Dt,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Str, Family::Int, Family::Num, Family::Dt];

    /// `stardust_fields.declared_type`.
    pub fn declared(self) -> &'static str {
        match self {
            Family::Str => "string",
            Family::Int => "int",
            Family::Num => "numeric",
            Family::Dt => "datetime",
        }
    }

    /// `stardust_slot_assignments.slot_type`, also the infix of slot column names.
    pub fn slot_type(self) -> &'static str {
        match self {
            Family::Str => "str",
            Family::Int => "int",
            Family::Num => "num",
            Family::Dt => "dt",
        }
    }

    /// Slots of this family on every page.
    pub fn slots_per_page(self) -> u32 {
        match self {
            Family::Str => 25,
            Family::Int => 15,
            Family::Num => 10,
            Family::Dt => 10,
        }
    }

    /// The SQL type of this family's slot columns.
    pub fn column_type(self) -> &'static str {
        match self {
            Family::Str => "TEXT",
            Family::Int => "BIGINT",
            Family::Num => "DOUBLE",
            Family::Dt => "DATETIME",
        }
    }

    /// The slot column name, e.g. `i_str_07`.
    pub fn column(self, n: u32) -> String {
        format!("i_{}_{n:02}", self.slot_type())
    }

    pub fn from_declared(text: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.declared() == text)
    }

    pub fn from_slot_type(text: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.slot_type() == text)
    }
}

/// A slot's lifecycle state (`stardust_slot_assignments.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotStatus {
    Free,
    Assigned,
    Backfilling,
    Ready,
    Tombstoned,
}

impl SlotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Free => "free",
            SlotStatus::Assigned => "assigned",
            SlotStatus::Backfilling => "backfilling",
            SlotStatus::Ready => "ready",
            SlotStatus::Tombstoned => "tombstoned",
        }
    }

    pub fn parse(text: &str) -> Option<SlotStatus> {
        [
            SlotStatus::Free,
            SlotStatus::Assigned,
            SlotStatus::Backfilling,
            SlotStatus::Ready,
            SlotStatus::Tombstoned,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether reads may take the field's value from the slot instead of the JSON.
    pub fn readable(self) -> bool {
        matches!(self, SlotStatus::Assigned | SlotStatus::Ready)
    }
}

/// The live slot that mirrors a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub page: u32,
    /// `entry_slots_page_N`.
    pub table: String,
    /// `i_str_01` … `i_dt_10`.
    pub column: String,
    pub status: SlotStatus,
    /// Whether the page has the `(tenant_id, slot)` index `ix_<table>_<column>`.
    pub indexed: bool,
    /// The slot column's collation: the backend's default for utf8mb4, which pages are created with.
    pub collation: Option<String>,
}

/// How the backend itself describes the declared column: printed type, nullability, default, and the column
/// definition a native table with this column would send, so introspection and result metadata match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnShape {
    /// As `SHOW COLUMNS` prints it: `varchar(200)`, `int(11)`, `decimal(10,2)`.
    pub column_type: String,
    /// The user's own words for the column after its name — type and options, as sqlparser prints them:
    /// `VARCHAR(200) NOT NULL DEFAULT 'x'`. Writes coerce values through a temporary table declared with it.
    pub declared_sql: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub collation: Option<String>,
    pub comment: String,
    pub wire: Wire,
}

/// The column-definition fields a client reads from result metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wire {
    pub column_type: u8,
    pub flags: u16,
    pub length: u32,
    pub decimals: u8,
    pub charset: u16,
}

impl Wire {
    /// `type,flags,length,decimals,charset`, as stored in `stardust_fields.wire_meta`.
    pub fn encode(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.column_type, self.flags, self.length, self.decimals, self.charset
        )
    }

    pub fn decode(text: &str) -> Option<Wire> {
        let mut parts = text.split(',').map(str::trim);
        let wire = Wire {
            column_type: parts.next()?.parse().ok()?,
            flags: parts.next()?.parse().ok()?,
            length: parts.next()?.parse().ok()?,
            decimals: parts.next()?.parse().ok()?,
            charset: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(wire)
    }
}

/// A user-defined field of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub id: i64,
    pub name: String,
    /// `None` for JSON-only types (JSON), which are never filterable.
    pub family: Option<Family>,
    /// Declared with an index: mirrored into a slot so filters read an index.
    pub filterable: bool,
    /// The index name the user gave or MySQL would have chosen (the column name).
    pub index_name: Option<String>,
    pub ordinal: u32,
    pub shape: ColumnShape,
    /// The live slot (`assigned`, `backfilling` or `ready`), if it has one.
    pub slot: Option<Slot>,
}

/// A tenant's model: the virtual table `model_<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub id: i64,
    pub tenant: u64,
    pub name: String,
    pub created_at: String,
    /// In declaration order.
    pub fields: Vec<Field>,
    /// The derived table standing in for this model's table in reads, built once per snapshot by the rewriter
    /// (a snapshot never changes, so neither does it).
    pub derived: OnceLock<sqlparser::ast::Query>,
}

impl Model {
    pub fn table_name(&self) -> String {
        format!("{TABLE_PREFIX}{}", self.name)
    }

    /// What a session's temporary tables declared with the model's columns (shadows, twins) depend on: when it
    /// changes, they are made again.
    pub fn columns_signature(&self) -> String {
        self.fields
            .iter()
            .map(|f| format!("{}:{}:{}", f.id, f.name, f.shape.declared_sql))
            .collect::<Vec<_>>()
            .join("|")
    }

    /// Column names are case-insensitive, as in MySQL.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Indexed fields by index name.
    pub fn index(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| {
            f.index_name
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(name))
        })
    }
}

/// One tenant's models at one registry version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantCatalog {
    pub tenant: u64,
    pub version: u64,
    /// By model name (lower case, without the `model_` prefix).
    pub models: BTreeMap<String, Arc<Model>>,
}

impl TenantCatalog {
    /// The model behind a table name such as `model_company` (case-insensitive).
    pub fn model_for_table(&self, table: &str) -> Option<&Arc<Model>> {
        let name = model_name(table)?;
        self.models.get(&name)
    }
}

/// `model_company` → `company`; `None` for names that are not virtual tables.
pub fn model_name(table: &str) -> Option<String> {
    let lower = table.to_ascii_lowercase();
    lower
        .strip_prefix(TABLE_PREFIX)
        .filter(|rest| !rest.is_empty())
        .map(str::to_string)
}

/// Whether a table name is in the virtual namespace (`model_…`).
pub fn is_virtual(table: &str) -> bool {
    model_name(table).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_families() {
        assert_eq!(model_name("model_Company").as_deref(), Some("company"));
        assert_eq!(model_name("model_"), None);
        assert_eq!(model_name("entry_data"), None);
        assert_eq!(Family::Str.column(7), "i_str_07");
        assert_eq!(Family::from_declared("numeric"), Some(Family::Num));
        let per_page: u32 = Family::ALL.iter().map(|f| f.slots_per_page()).sum();
        assert_eq!(per_page, 60);
    }

    #[test]
    fn wire_meta_round_trips() {
        let wire = Wire {
            column_type: 246,
            flags: 0,
            length: 12,
            decimals: 2,
            charset: 63,
        };
        assert_eq!(Wire::decode(&wire.encode()), Some(wire));
        assert_eq!(Wire::decode("1,2,3"), None);
    }
}
