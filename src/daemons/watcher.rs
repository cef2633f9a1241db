//! The Watcher: keeps indexed slot capacity ahead of demand, so that DDL rarely has to provision a page itself.
//! When a family's free indexed slots fall below [`LOW_WATER`], it provisions a page under the same lock DDL
//! uses. A singleton across instances. Once a day (first at a random point of the first day, so instances
//! started together do not sample together) it samples the advisories (see `advisories`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{advisories, Singleton, Tick};
use crate::backend::{self, Backend};
use crate::catalog::Family;
use crate::registry::pages::{self, Demand};

pub const LOCK: &str = "stardust_watcher";
/// Free indexed slots per family below which a page is provisioned.
pub const LOW_WATER: u32 = 2;

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
        let free = pages::free_indexed(&self.backend).await?;
        let low: Demand = Family::ALL
            .into_iter()
            .filter(|f| free(*f) < LOW_WATER)
            .map(|f| (f, LOW_WATER))
            .collect();
        if low.is_empty() {
            tracing::debug!(
                event = "poll_complete",
                action = "no_action",
                "capacity is ahead of demand"
            );
            return Ok(Tick::Idle);
        }
        tracing::info!(
            event = "provision_started",
            trigger = "low_capacity",
            "provisioning a page"
        );
        let page = pages::provision(&self.backend, &low, "watcher").await?;
        tracing::info!(
            event = "provision_complete",
            page,
            "page provisioned ahead of demand"
        );
        tracing::debug!(
            event = "poll_complete",
            action = "provisioned",
            "capacity restored"
        );
        Ok(Tick::Worked)
    }
}
