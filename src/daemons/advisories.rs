//! Advisories: read-only samples that tell an operator when an index or a model's layout works against them.
//! Cardinality — a slot index with few distinct values barely narrows a search. Spread — a model whose live
//! slots sit on more pages than its fields need pays a join per extra page on every read. Both only log
//! (`cardinality_sampled`/`low_cardinality_index`, `spread_sampled`/`high_spread_model`) and never act.

use mysql_async::prelude::Queryable;

use crate::backend::{self, Backend};
use crate::catalog::Family;

/// `distinct / rows` below this, over at least [`SELECTIVITY_FLOOR_ROWS`] rows, is low.
pub const SELECTIVITY_THRESHOLD: f64 = 0.01;
pub const SELECTIVITY_FLOOR_ROWS: u64 = 10_000;
/// Fewer distinct values than this is low at any size.
pub const DISTINCT_FLOOR: u64 = 10;
/// Pages beyond the fewest a model's live slots could fit on, from which its spread is high.
pub const EXCESS_PAGES_THRESHOLD: u64 = 2;

/// One indexed slot's values, over its model's live entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Cardinality {
    pub slot: i64,
    pub field_id: i64,
    pub tenant: u64,
    pub model_id: i64,
    pub rows: u64,
    pub distinct: u64,
    pub selectivity: f64,
    /// Which thresholds it violates: `selectivity`, `distinct_floor`; empty when none.
    pub violated: Vec<&'static str>,
}

/// Samples every readable indexed slot (or only `slot`), logging each; `trigger` is `periodic` or
/// `post_backfill`.
pub async fn cardinality(
    backend: &Backend,
    slot: Option<i64>,
    trigger: &str,
) -> Result<Vec<Cardinality>, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let only = slot.map_or(String::new(), |id| format!(" AND a.id = {id}"));
    let slots: Vec<(i64, String, String, i64, u64, i64)> = conn
        .query(format!(
            "SELECT a.id, p.table_name, a.slot_column, f.id, m.tenant_id, m.id \
             FROM stardust_slot_assignments a \
             JOIN stardust_pages p ON p.id = a.page_id \
             JOIN stardust_fields f ON f.id = a.live_field_id \
             JOIN stardust_models m ON m.id = f.model_id \
             WHERE a.status IN ('assigned', 'ready') AND a.is_indexed = TRUE{only} ORDER BY a.id"
        ))
        .await?;
    let mut samples = Vec::with_capacity(slots.len());
    for (slot, table, column, field_id, tenant, model_id) in slots {
        // Only the model's live entries count (StarDust counted every page row of the tenant).
        let counts: Option<(u64, u64)> = conn
            .exec_first(
                format!(
                    "SELECT COUNT(p.{column}), COUNT(DISTINCT p.{column}) FROM `{table}` p \
                     JOIN entry_data e ON e.id = p.entry_id \
                     WHERE p.tenant_id = ? AND e.model_id = ? AND e.deleted_at IS NULL"
                ),
                (tenant, model_id),
            )
            .await?;
        let (rows, distinct) = counts.unwrap_or_default();
        let selectivity = if rows == 0 {
            1.0
        } else {
            (distinct as f64 / rows as f64 * 10_000.0).round() / 10_000.0
        };
        let mut violated = Vec::new();
        if selectivity < SELECTIVITY_THRESHOLD && rows >= SELECTIVITY_FLOOR_ROWS {
            violated.push("selectivity");
        }
        if rows > 0 && distinct < DISTINCT_FLOOR {
            violated.push("distinct_floor");
        }
        tracing::debug!(
            event = "cardinality_sampled",
            source = "registry",
            trigger,
            slot,
            field_id,
            tenant,
            row_count = rows,
            distinct_values = distinct,
            selectivity,
            "slot cardinality sampled"
        );
        if !violated.is_empty() {
            tracing::warn!(
                event = "low_cardinality_index",
                source = "registry",
                trigger,
                slot,
                field_id,
                tenant,
                row_count = rows,
                distinct_values = distinct,
                selectivity,
                threshold_violated = violated.join(",").as_str(),
                "an index with few distinct values barely narrows a search; consider dropping it"
            );
        }
        samples.push(Cardinality {
            slot,
            field_id,
            tenant,
            model_id,
            rows,
            distinct,
            selectivity,
            violated,
        });
    }
    Ok(samples)
}

/// How many pages one model's live filterable slots occupy, against the fewest they could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spread {
    pub tenant: u64,
    pub model_id: i64,
    pub live_slots: u64,
    pub pages_occupied: u64,
    pub theoretical_min_pages: u64,
    pub excess_pages: u64,
    pub high: bool,
}

/// Samples every model (or only `model`) from the registry alone, logging each; `trigger` is `periodic`,
/// `post_relocation` or `on_demand`.
pub async fn spread(
    backend: &Backend,
    model: Option<i64>,
    trigger: &str,
) -> Result<Vec<Spread>, backend::Error> {
    let mut conn = backend.conn(false).await?;
    let only = model.map_or(String::new(), |id| format!(" AND m.id = {id}"));
    let rows: Vec<(u64, i64, u32, String)> = conn
        .query(format!(
            "SELECT m.tenant_id, m.id, a.page_id, a.slot_type FROM stardust_slot_assignments a \
             JOIN stardust_fields f ON f.id = a.live_field_id \
             JOIN stardust_models m ON m.id = f.model_id \
             WHERE a.status IN ('assigned', 'ready') AND f.is_filterable = TRUE{only} \
             ORDER BY m.tenant_id, m.id"
        ))
        .await?;
    let mut samples: Vec<Spread> = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let (tenant, model_id) = (rows[start].0, rows[start].1);
        let end = rows[start..]
            .iter()
            .position(|r| (r.0, r.1) != (tenant, model_id))
            .map_or(rows.len(), |n| start + n);
        let group = &rows[start..end];
        let mut pages: Vec<u32> = group.iter().map(|r| r.2).collect();
        pages.sort_unstable();
        pages.dedup();
        let min = Family::ALL
            .into_iter()
            .map(|family| {
                let count = group.iter().filter(|r| r.3 == family.slot_type()).count() as u64;
                count.div_ceil(u64::from(family.slots_per_page()))
            })
            .max()
            .unwrap_or(0);
        let occupied = pages.len() as u64;
        let excess = occupied.saturating_sub(min);
        let sample = Spread {
            tenant,
            model_id,
            live_slots: group.len() as u64,
            pages_occupied: occupied,
            theoretical_min_pages: min,
            excess_pages: excess,
            high: occupied >= 2 && excess >= EXCESS_PAGES_THRESHOLD,
        };
        tracing::debug!(
            event = "spread_sampled",
            source = "registry",
            trigger,
            tenant,
            model_id,
            live_slot_count = sample.live_slots,
            pages_occupied = occupied,
            theoretical_min_pages = min,
            excess_pages = excess,
            "model spread sampled"
        );
        if sample.high {
            tracing::warn!(
                event = "high_spread_model",
                source = "registry",
                trigger,
                tenant,
                model_id,
                pages_occupied = occupied,
                theoretical_min_pages = min,
                excess_pages = excess,
                "the model's indexed fields sit on more pages than they need: each read joins every one"
            );
        }
        samples.push(sample);
        start = end;
    }
    Ok(samples)
}
