//! Interned user ids: what each interest-mode connection was shown and is
//! owed is kept as 4-byte numbers, and diffs by number let connections owed
//! the same changes share one frame.

use crate::small_map::SmallHashMap;
use std::sync::Arc;

/// A user id interned in this roster: what each interest-mode connection
/// was shown and has pending is kept as these (4 bytes) rather than as
/// strings, since a member of a room of m users keeps m of them.
pub(super) type Uid = u32;

/// User ids seen by this roster, each with its number: users who were
/// online or had a connection here (ids a client only names in a
/// subscription are not added). Ids are never dropped while the roster
/// lives (a tenant's roster actor is retired when its tenant has nobody
/// online), so the table holds each such user of the tenant once.
#[derive(Debug, Default)]
pub(super) struct Interner {
    pub(super) ids: SmallHashMap<Arc<str>, Uid>,
    pub(super) names: Vec<Arc<str>>,
}

impl Interner {
    pub(super) fn intern(&mut self, user: &str) -> Uid {
        if let Some(id) = self.ids.get(user) {
            return *id;
        }
        let id = Uid::try_from(self.names.len()).unwrap_or(Uid::MAX);
        let name: Arc<str> = Arc::from(user);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    pub(super) fn name(&self, id: Uid) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

/// A diff by interned ids, each list sorted by id: connections owed the
/// same changes have equal ones, and share one frame.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct IdDiff {
    pub(super) joined: Vec<Uid>,
    pub(super) updated: Vec<Uid>,
    pub(super) left: Vec<Uid>,
    pub(super) unwatched: Vec<Uid>,
}

impl IdDiff {
    pub(super) fn is_empty(&self) -> bool {
        self.joined.is_empty()
            && self.updated.is_empty()
            && self.left.is_empty()
            && self.unwatched.is_empty()
    }
}
