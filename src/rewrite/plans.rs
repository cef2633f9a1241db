//! Rewritten reads of model tables, cached by statement text per (tenant, kind of login, scan setting) for one
//! catalog version: a repeated SELECT (a dashboard's refresh, an ORM's lookup) is neither parsed, checked nor
//! rewritten again. Bounded by a number of entries; hits and misses are counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::select::Source;

/// Texts longer than this are not cached: bulk statements do not repeat, and hashing them costs.
pub const MAX_TEXT: usize = 8 * 1024;

/// Who a plan was made for, besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub tenant: u64,
    /// An administrator's statements skip the tenant policy, so a tenant login never uses their plans.
    pub admin: bool,
    /// `stardust_allow_scan`: a filter on an unindexed field is refused without it.
    pub allow_scan: bool,
}

/// One rewritten read.
#[derive(Debug)]
pub struct Plan {
    /// The catalog version the rewrite read; the plan stands only while the registry is at that version.
    pub version: u64,
    /// The backend SQL.
    pub text: String,
    /// Each top-level result column's source (every one known: only such plans are cached).
    pub sources: Vec<Option<Source>>,
}

type Generation = HashMap<String, Vec<(Scope, Arc<Plan>)>>;

/// The cache: two generations of at most half the capacity each. A text used in the old generation moves to the
/// new one; when the new one is full it becomes the old one and the old one is dropped — an LRU's effect at the
/// cost of a map swap.
pub struct Plans {
    capacity: usize,
    generations: Mutex<(Generation, Generation)>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Plans {
    /// At most `capacity` texts; 0 turns the cache off.
    pub fn new(capacity: usize) -> Plans {
        Plans {
            capacity,
            generations: Mutex::new((HashMap::new(), HashMap::new())),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The plan made for `text` in `scope`, if any (its version is the caller's to check). Not counted: see
    /// [`Plans::hit`].
    pub fn get(&self, text: &str, scope: Scope) -> Option<Arc<Plan>> {
        if self.capacity == 0 || text.len() > MAX_TEXT {
            return None;
        }
        let mut generations = self.lock();
        let (new, old) = &mut *generations;
        if let Some(plans) = new.get(text) {
            return find(plans, scope);
        }
        let plans = old.remove(text)?;
        let found = find(&plans, scope);
        Self::put(new, old, self.capacity, text.to_string(), plans);
        found
    }

    /// Keeps `plan` for `text` in `scope`, replacing an older one; counted as a miss (a read rewritten afresh).
    pub fn insert(&self, text: &str, scope: Scope, plan: Plan) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        if self.capacity == 0 || text.len() > MAX_TEXT {
            return;
        }
        let mut generations = self.lock();
        let (new, old) = &mut *generations;
        let mut plans = new
            .remove(text)
            .or_else(|| old.remove(text))
            .unwrap_or_default();
        plans.retain(|(s, _)| *s != scope);
        plans.push((scope, Arc::new(plan)));
        Self::put(new, old, self.capacity, text.to_string(), plans);
    }

    /// Counts a read served by a cached plan.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads served by a cached plan, and reads rewritten afresh, since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Texts cached now.
    pub fn len(&self) -> usize {
        let generations = self.lock();
        generations.0.len() + generations.1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(
        new: &mut Generation,
        old: &mut Generation,
        capacity: usize,
        text: String,
        plans: Vec<(Scope, Arc<Plan>)>,
    ) {
        if new.len() >= capacity.div_ceil(2) {
            *old = std::mem::take(new);
        }
        new.insert(text, plans);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Generation, Generation)> {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn find(plans: &[(Scope, Arc<Plan>)], scope: Scope) -> Option<Arc<Plan>> {
    plans
        .iter()
        .find(|(s, _)| *s == scope)
        .map(|(_, plan)| plan.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: Scope = Scope {
        tenant: 1,
        admin: false,
        allow_scan: false,
    };

    fn plan(version: u64) -> Plan {
        Plan {
            version,
            text: format!("SELECT {version}"),
            sources: Vec::new(),
        }
    }

    #[test]
    fn a_plan_is_found_only_in_the_scope_it_was_made_for() {
        let plans = Plans::new(8);
        plans.insert("SELECT a FROM model_x", TENANT, plan(3));
        assert_eq!(
            plans
                .get("SELECT a FROM model_x", TENANT)
                .map(|p| p.version),
            Some(3)
        );
        for other in [
            Scope {
                tenant: 2,
                ..TENANT
            },
            Scope {
                admin: true,
                ..TENANT
            },
            Scope {
                allow_scan: true,
                ..TENANT
            },
        ] {
            assert!(
                plans.get("SELECT a FROM model_x", other).is_none(),
                "{other:?}"
            );
        }
        assert!(plans.get("SELECT a FROM model_x ", TENANT).is_none());
        plans.insert("SELECT a FROM model_x", TENANT, plan(4));
        assert_eq!(
            plans
                .get("SELECT a FROM model_x", TENANT)
                .map(|p| p.version),
            Some(4)
        );
        assert_eq!(plans.counts(), (0, 2));
    }

    #[test]
    fn the_cache_stays_within_its_capacity_and_keeps_what_is_used() {
        let plans = Plans::new(4);
        plans.insert("kept", TENANT, plan(1));
        for i in 0..100 {
            plans.insert(&format!("SELECT {i}"), TENANT, plan(1));
            assert!(plans.get("kept", TENANT).is_some(), "after {i} others");
            assert!(plans.len() <= 4);
        }
        assert!(plans.get("SELECT 0", TENANT).is_none());
    }

    #[test]
    fn nothing_is_kept_when_off_or_for_long_texts() {
        let off = Plans::new(0);
        off.insert("SELECT 1", TENANT, plan(1));
        assert!(off.get("SELECT 1", TENANT).is_none());
        let plans = Plans::new(4);
        let long = "x".repeat(MAX_TEXT + 1);
        plans.insert(&long, TENANT, plan(1));
        assert!(plans.get(&long, TENANT).is_none());
        assert!(plans.is_empty());
    }
}
