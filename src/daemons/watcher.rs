//! The Watcher: keeps indexed slot capacity ahead of demand, so that DDL rarely has to provision a page itself.
//! Each tick reads the capacity (free and free indexed slots per family) and the waiting fields (filterable,
//! with no live slot: their entries sit on the sync queue), and [`plan`] decides, as StarDust's Watcher does:
//! a family with waiters and no free indexed slot (`unsatisfiable_demand`) or a global free ratio under
//! [`FREE_RATIO_THRESHOLD`] (`low_capacity`) provisions one page under the lock DDL uses: indexed for the
//! waiters, or with no slot index at all for plain capacity — indexes are never speculative, since every row of
//! a page pays for each one. A singleton across instances. Once a day (first at a random point of the first
//! day, so instances started together do not sample together) it samples the advisories (see `advisories`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{advisories, Singleton, Tick};
use crate::backend::{self, Backend};
use crate::catalog::Family;
use crate::registry::pages::{self, Capacity, Demand};

pub const LOCK: &str = "stardust_watcher";
/// Free slots over all slots below which a page is provisioned (StarDust's `watcherCapacityThreshold`).
pub const FREE_RATIO_THRESHOLD: f64 = 0.20;

/// Whether to provision, why, and the indexed slots per family the new page should have.
pub fn plan(capacity: &Capacity) -> Option<(&'static str, Demand)> {
    let free = |family: Family| capacity.indexed_free(family);
    let starved: Demand = capacity
        .waiting
        .iter()
        .filter(|(family, waiters)| **waiters > 0 && free(**family) == 0)
        .map(|(family, waiters)| (*family, *waiters))
        .collect();
    if !starved.is_empty() {
        return Some(("unsatisfiable_demand", starved));
    }
    let ratio = if capacity.total == 0 {
        0.0
    } else {
        f64::from(capacity.free) / f64::from(capacity.total)
    };
    (ratio < FREE_RATIO_THRESHOLD).then(|| ("low_capacity", Demand::new()))
}

#[derive(Clone)]
pub struct Watcher {
    backend: Backend,
    singleton: Singleton,
    next_advisory: Arc<Mutex<Option<Instant>>>,
}

/// How often the Watcher samples the advisories.
pub const ADVISORY_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

impl Watcher {
    pub fn new(backend: Backend) -> Watcher {
        Watcher {
            singleton: Singleton::new(backend.clone(), LOCK),
            backend,
            next_advisory: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether the advisories are due; the first call only schedules them.
    fn advisories_due(&self) -> bool {
        let mut next = self.next_advisory.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match *next {
            None => {
                let offset = uuid::Uuid::new_v4().as_u128() % ADVISORY_INTERVAL.as_millis();
                *next = Some(now + Duration::from_millis(offset as u64));
                false
            }
            Some(due) if due <= now => {
                *next = Some(now + ADVISORY_INTERVAL);
                true
            }
            Some(_) => false,
        }
    }

    /// Provisions one page if some family runs low, when this instance holds the lock.
    pub async fn tick(&self) -> Result<Tick, backend::Error> {
        if !self.singleton.hold().await? {
            return Ok(Tick::Idle);
        }
        if self.advisories_due() {
            advisories::cardinality(&self.backend, None, "periodic").await?;
            advisories::spread(&self.backend, None, "periodic").await?;
        }
        let capacity = pages::capacity(&self.backend).await?;
        let Some((trigger, demand)) = plan(&capacity) else {
            tracing::debug!(
                event = "poll_complete",
                action = "no_action",
                total_slots = capacity.total,
                free_slots = capacity.free,
                "capacity is ahead of demand"
            );
            return Ok(Tick::Idle);
        };
        tracing::info!(
            event = "provision_started",
            trigger,
            pending_demand = ?capacity.waiting,
            "provisioning a page"
        );
        let page = pages::provision(&self.backend, &demand, "watcher").await?;
        tracing::info!(
            event = "provision_complete",
            page,
            trigger,
            "page provisioned ahead of demand"
        );
        tracing::debug!(
            event = "poll_complete",
            action = "provisioned",
            trigger,
            "capacity restored"
        );
        Ok(Tick::Worked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(n: u32) -> Demand {
        Family::ALL.into_iter().map(|f| (f, n)).collect()
    }

    #[test]
    fn waiting_fields_without_a_free_indexed_slot_come_first() {
        let mut capacity = Capacity {
            total: 60,
            free: 50,
            indexed_free: all(3),
            waiting: Demand::from([(Family::Int, 4)]),
        };
        assert_eq!(
            plan(&capacity),
            None,
            "waiters that a free slot can serve need no page"
        );
        capacity.indexed_free.insert(Family::Int, 0);
        assert_eq!(
            plan(&capacity),
            Some(("unsatisfiable_demand", Demand::from([(Family::Int, 4)])))
        );
    }

    #[test]
    fn only_waiters_and_a_low_free_ratio_provision() {
        let mut capacity = Capacity {
            total: 60,
            free: 50,
            indexed_free: all(3),
            waiting: Demand::new(),
        };
        capacity.indexed_free.insert(Family::Dt, 0);
        assert_eq!(
            plan(&capacity),
            None,
            "no free indexed slot but nobody waiting: no speculative index"
        );
        capacity.free = 11;
        assert_eq!(
            plan(&capacity),
            Some(("low_capacity", Demand::new())),
            "11/60 < 0.20"
        );
        capacity.free = 12;
        assert_eq!(plan(&capacity), None, "12/60 = 0.20");
        assert_eq!(
            plan(&Capacity::default()),
            Some(("low_capacity", Demand::new())),
            "no slots at all: a page without slot indexes"
        );
    }
}
