//! The Watcher: keeps indexed slot capacity ahead of demand, so that DDL rarely has to provision a page itself.
//! When a family's free indexed slots fall below [`LOW_WATER`], it provisions a page under the same lock DDL
//! uses. A singleton across instances.

use super::{Singleton, Tick};
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
}

impl Watcher {
    pub fn new(backend: Backend) -> Watcher {
        Watcher {
            singleton: Singleton::new(backend.clone(), LOCK),
            backend,
        }
    }

    /// Provisions one page if some family runs low, when this instance holds the lock.
    pub async fn tick(&self) -> Result<Tick, backend::Error> {
        if !self.singleton.hold().await? {
            return Ok(Tick::Idle);
        }
        let free = pages::free_indexed(&self.backend).await?;
        let low: Demand = Family::ALL
            .into_iter()
            .filter(|f| free(*f) < LOW_WATER)
            .map(|f| (f, LOW_WATER))
            .collect();
        if low.is_empty() {
            return Ok(Tick::Idle);
        }
        let page = pages::provision(&self.backend, &low, "watcher").await?;
        tracing::info!(
            event = "provision_complete",
            page,
            "page provisioned ahead of demand"
        );
        Ok(Tick::Worked)
    }
}
