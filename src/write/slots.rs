//! The slot rows a write puts on the model's pages: one multi-row statement per page, and the entries whose
//! filterable fields have no live slot yet queued for the Reconciler.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::insert::Coerced;
use crate::catalog::{Field, Model};
use crate::sql::quote_value;

/// Which slots a write puts values in.
#[derive(Debug, Clone, Copy)]
pub(super) enum Slots<'a> {
    /// Every live slot, inserted as new page rows (an INSERT).
    Insert,
    /// The live slots of these fields (all when `None`), replacing what the page rows hold (an UPDATE).
    Replace(Option<&'a [String]>),
}

/// The entries the rows belong to.
#[derive(Debug, Clone, Copy)]
pub(super) enum EntryIds<'a> {
    /// Ids known already (an UPDATE's).
    Known(&'a [u64]),
    /// The ids the entries' INSERT just before, in the same batch, generated for this many rows: consecutive
    /// from `LAST_INSERT_ID()`, which the page statements do not move (pages have no AUTO_INCREMENT).
    Generated(usize),
}

impl EntryIds<'_> {
    fn len(&self) -> usize {
        match self {
            EntryIds::Known(ids) => ids.len(),
            EntryIds::Generated(count) => *count,
        }
    }

    /// The `n`th entry's id as backend SQL.
    fn sql(&self, n: usize, out: &mut String) {
        let _ = match self {
            EntryIds::Known(ids) => write!(out, "{}", ids[n]),
            EntryIds::Generated(_) if n == 0 => write!(out, "LAST_INSERT_ID()"),
            EntryIds::Generated(_) => write!(out, "LAST_INSERT_ID() + {n}"),
        };
    }
}

/// The statements that write each live slot's value into its page, and queue entries whose filterable fields
/// have no live slot yet for the Reconciler (that one last: the queue's own ids would move `LAST_INSERT_ID()`).
pub(super) fn slot_statements(
    model: &Model,
    tenant: u64,
    ids: EntryIds<'_>,
    rows: &[Coerced],
    slots: Slots<'_>,
) -> Vec<String> {
    let (replace, only) = match slots {
        Slots::Insert => (false, None),
        Slots::Replace(only) => (true, only),
    };
    let mut pages: BTreeMap<&str, Vec<(usize, &Field)>> = BTreeMap::new();
    for (i, field) in model.fields.iter().enumerate() {
        let wanted =
            only.is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(&field.name)));
        if let Some(slot) = field.slot.as_ref().filter(|_| wanted) {
            pages
                .entry(slot.table.as_str())
                .or_default()
                .push((i, field));
        }
    }
    let count = ids.len().min(rows.len());
    let mut statements = Vec::with_capacity(pages.len() + 1);
    for (table, fields) in &pages {
        let columns: Vec<&str> = fields
            .iter()
            .filter_map(|(_, f)| f.slot.as_ref().map(|s| s.column.as_str()))
            .collect();
        let mut sql = format!(
            "INSERT INTO `{table}` (entry_id, tenant_id, {}) VALUES ",
            columns.join(", ")
        );
        for (n, row) in rows.iter().take(count).enumerate() {
            sql.push_str(if n > 0 { ", (" } else { "(" });
            ids.sql(n, &mut sql);
            let _ = write!(sql, ", {tenant}");
            for (i, _) in fields {
                sql.push_str(", ");
                sql.push_str(&quote_value(row.values[*i].as_deref()));
            }
            sql.push(')');
        }
        if replace {
            let updates: Vec<String> = columns
                .iter()
                .map(|c| format!("{c} = VALUES({c})"))
                .collect();
            sql.push_str(&format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", ")));
        }
        statements.push(sql);
    }
    if model
        .fields
        .iter()
        .any(|f| f.filterable && f.slot.is_none())
    {
        let mut sql =
            "INSERT IGNORE INTO stardust_sync_queue (entry_id, created_at) VALUES ".to_string();
        for n in 0..count {
            sql.push_str(if n > 0 { ", (" } else { "(" });
            ids.sql(n, &mut sql);
            sql.push_str(", UTC_TIMESTAMP())");
        }
        statements.push(sql);
    }
    statements
}
