//! Rewritten reads of model tables, cached per (tenant, kind of login, scan setting) for one catalog version under
//! the statement's text with its plain literals taken out (`sql::scan::literals`): `… WHERE id = 17` and
//! `… WHERE id = 18` share one plan, a template of the backend SQL into which each statement's own literals go.
//! A repeated SELECT shape (an ORM's lookup, a dashboard's refresh) is neither parsed, checked nor rewritten
//! again. Bounded by a number of entries; hits and misses are counted.
//!
//! A template is made by rewriting the statement with its literals replaced by placeholders (`?1`, `?2`, …), as
//! a prepared statement is; it is kept only when putting the statement's own literals into it gives, byte for
//! byte, the backend SQL the statement was rewritten into. The rewrite of a read looks at no literal's value
//! (the places that would — result column names, strings printed in hex, writes' `id = …` — are a literal in the
//! select list, which the check refuses, strings with backslashes or quotes, which stay in the key, and writes,
//! which are not cached), so what holds for one statement of a key holds for all.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlparser::ast::Statement;

use super::select::{self, Source};
use crate::sql::scan::{self, Literals};

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
    /// The backend SQL with the places of the literals; `None` for a key whose rewrite is no template of its
    /// literals, so that its statements are rewritten afresh without trying again until the catalog changes.
    pub template: Option<Template>,
    /// Each top-level result column's source (every one known: only such plans are cached).
    pub sources: Vec<Option<Source>>,
}

/// Backend SQL with holes for a client statement's literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    /// Where in `text` a literal goes, in order, and which of the statement's literals (a literal may go in
    /// twice, or in another order than the client wrote them).
    holes: Vec<(usize, usize)>,
}

impl Template {
    /// Backend SQL of a statement without literals.
    pub fn plain(text: String) -> Template {
        Template {
            text,
            holes: Vec::new(),
        }
    }

    /// The template in backend SQL printed from a statement [`Literals::marked`] with `count` literals.
    pub fn of(marked: &str, count: usize) -> Option<Template> {
        let placeholders = scan::placeholders(marked, count)?;
        let mut text = String::with_capacity(marked.len());
        let mut holes = Vec::with_capacity(placeholders.len());
        let mut copied = 0;
        for (range, literal) in placeholders {
            text.push_str(&marked[copied..range.start]);
            holes.push((text.len(), literal));
            copied = range.end;
        }
        text.push_str(&marked[copied..]);
        Some(Template { text, holes })
    }

    /// The backend SQL of the statement `sql`, whose literals are at `slots` (as the key's statements have).
    pub fn render(&self, sql: &str, slots: &[Range<usize>]) -> String {
        let literals: usize = self.holes.iter().map(|&(_, n)| slots[n].len()).sum();
        let mut out = String::with_capacity(self.text.len() + literals);
        let mut copied = 0;
        for &(at, n) in &self.holes {
            out.push_str(&self.text[copied..at]);
            out.push_str(&sql[slots[n].clone()]);
            copied = at;
        }
        out.push_str(&self.text[copied..]);
        out
    }
}

/// A read of model tables as the backend SQL the session sends, with each top-level result column's source.
pub fn rewrite(
    mut statement: Statement,
    scope: select::Scope<'_>,
) -> Result<(String, Vec<Option<Source>>), super::Error> {
    let sources = select::rewrite(&mut statement, scope)?;
    Ok((super::share_lock::print(&statement), sources))
}

/// The template of `sql` (its literals `literals`), which was rewritten into `backend` with `sources`.
/// `rewrite` does to a text what was done to `sql` — classify it, then [`rewrite`] it — and is given `sql` with
/// its literals marked. `None` when the marked statement is refused, rewritten to other result columns, or to
/// SQL that does not give `backend` back with `sql`'s literals in it.
pub fn template(
    sql: &str,
    literals: &Literals,
    backend: &str,
    sources: &[Option<Source>],
    rewrite: impl FnOnce(&str) -> Option<(String, Vec<Option<Source>>)>,
) -> Option<Template> {
    if literals.slots.is_empty() {
        return Some(Template::plain(backend.to_string()));
    }
    let (marked, marked_sources) = rewrite(&literals.marked(sql))?;
    if marked_sources != sources {
        return None;
    }
    let template = Template::of(&marked, literals.slots.len())?;
    (template.render(sql, &literals.slots) == backend).then_some(template)
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

    /// Keeps `plan` for `text` in `scope`, replacing an older one.
    pub fn insert(&self, text: &str, scope: Scope, plan: Plan) {
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

    /// Counts a read that could have been served from the cache but was rewritten afresh.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
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
            template: Some(Template::plain(format!("SELECT {version}"))),
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
        plans.hit();
        plans.miss();
        plans.miss();
        assert_eq!(plans.counts(), (1, 2));
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

#[cfg(test)]
mod template_tests {
    use super::*;

    #[test]
    fn a_template_takes_each_statements_own_literals_where_they_were_marked() {
        let template = Template::of("SELECT b FROM t WHERE a = ?2 OR c = ?1 OR d = ?2", 2).unwrap();
        let sql = ".. 'x' .. 42 ..";
        let slots = [3..6, 10..12];
        assert_eq!(
            template.render(sql, &slots),
            "SELECT b FROM t WHERE a = 42 OR c = 'x' OR d = 42"
        );
        assert_eq!(
            Template::plain("SELECT 1".into()).render("whatever", &[]),
            "SELECT 1"
        );
    }

    #[test]
    fn a_template_is_kept_only_when_it_gives_the_statements_own_rewrite_back() {
        let sql = "SELECT a FROM model_x WHERE b = 5";
        let literals = scan::literals(sql).unwrap();
        let backend = "SELECT a FROM (…) AS model_x WHERE b = 5";
        let rewrite = |marked: &str| {
            assert_eq!(marked, "SELECT a FROM model_x WHERE b = ?1");
            Some((
                "SELECT a FROM (…) AS model_x WHERE b = ?1".to_string(),
                Vec::new(),
            ))
        };
        assert!(template(sql, &literals, backend, &[], rewrite).is_some());
        // A rewrite that looked at the value (here: dropped it) is no template.
        let looked = |_: &str| {
            Some((
                "SELECT a FROM (…) AS model_x WHERE b = 5".to_string(),
                Vec::new(),
            ))
        };
        assert!(template(sql, &literals, backend, &[], looked).is_none());
        let other = |_: &str| {
            Some((
                "SELECT a FROM (…) AS model_x WHERE b > ?1".to_string(),
                Vec::new(),
            ))
        };
        assert!(template(sql, &literals, backend, &[], other).is_none());
        assert!(template(sql, &literals, backend, &[], |_| None).is_none());
        let labelled = |_: &str| {
            Some((
                "SELECT a AS `?1` FROM (…) AS model_x WHERE b = ?1".to_string(),
                Vec::new(),
            ))
        };
        assert!(template(sql, &literals, backend, &[], labelled).is_none());
    }
}
