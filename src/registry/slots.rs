//! Slot reservation and release: the lowest free indexed slot of a family, on a page the model already uses
//! when there is one; claimed with `FOR UPDATE SKIP LOCKED` so concurrent reservations, on any number of
//! proxy instances, never share a slot.

use mysql_async::prelude::Queryable;
use mysql_async::Transaction;

use crate::backend;
use crate::catalog::{Family, SlotStatus};

/// A claimed slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub page: u32,
    pub column: String,
}

const CANDIDATE: &str = "SELECT id, page_id, slot_column FROM stardust_slot_assignments \
    WHERE status = 'free' AND slot_type = ? AND is_indexed = TRUE";

/// Claims a free indexed slot of `family` for `field`, in the caller's transaction, with `status` (`assigned`
/// for a field with no values yet, `backfilling` for one whose existing values must be copied in). `None` when
/// every indexed slot of the family is taken: the caller provisions a page and tries again.
pub async fn reserve(
    tx: &mut Transaction<'_>,
    model: i64,
    field: i64,
    family: Family,
    status: SlotStatus,
) -> Result<Option<Claimed>, backend::Error> {
    // Affinity: pages the model already has live slots on, read without locks, tried first.
    let pages: Vec<u32> = tx
        .exec(
            "SELECT DISTINCT a.page_id FROM stardust_slot_assignments a \
             JOIN stardust_fields f ON f.id = a.live_field_id WHERE f.model_id = ?",
            (model,),
        )
        .await?;
    let mut found: Option<(i64, u32, String)> = None;
    if !pages.is_empty() {
        let list: Vec<String> = pages.iter().map(u32::to_string).collect();
        found = tx
            .exec_first(
                format!(
                    "{CANDIDATE} AND page_id IN ({}) ORDER BY page_id, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    list.join(",")
                ),
                (family.slot_type(),),
            )
            .await?;
    }
    if found.is_none() {
        found = tx
            .exec_first(
                format!("{CANDIDATE} ORDER BY page_id, id LIMIT 1 FOR UPDATE SKIP LOCKED"),
                (family.slot_type(),),
            )
            .await?;
    }
    let Some((id, page, column)) = found else {
        return Ok(None);
    };
    // A reused slot starts clean: its old sweep cursor and tombstone time must not carry over (digest §8.3.1).
    tx.exec_drop(
        "UPDATE stardust_slot_assignments SET status = ?, field_id = ?, sweep_cursor_id = NULL, \
         tombstoned_at = NULL, sweep_gap_count = 0 WHERE id = ? AND status = 'free'",
        (status.as_str(), field, id),
    )
    .await?;
    if tx.affected_rows() != 1 {
        return Ok(None);
    }
    Ok(Some(Claimed { page, column }))
}

/// Tombstones the field's live slot, if any, in the caller's transaction: its values wait for the Liberator,
/// and it no longer counts as the field's slot.
pub async fn tombstone(tx: &mut Transaction<'_>, field: i64) -> Result<bool, backend::Error> {
    let live: Option<i64> = tx
        .exec_first(
            "SELECT id FROM stardust_slot_assignments WHERE live_field_id = ? FOR UPDATE",
            (field,),
        )
        .await?;
    let Some(id) = live else {
        return Ok(false);
    };
    tx.exec_drop(
        "UPDATE stardust_slot_assignments SET field_id = NULL, status = 'tombstoned', \
         tombstoned_at = UTC_TIMESTAMP(), sweep_cursor_id = NULL, sweep_gap_count = 0 WHERE id = ?",
        (id,),
    )
    .await?;
    Ok(true)
}
