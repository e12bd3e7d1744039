//! Pure update handling for a Yjs document, with no actix in it: applying a
//! client's update (yrs can panic on crafted input, so every call into it is
//! caught here and a panic becomes a refusal), encoding the state, and the
//! document's size budget (`yjs.max_document_bytes`).

use std::panic::AssertUnwindSafe;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

/// Keeps a document's encoded size within `yjs.max_document_bytes` without
/// encoding the whole state on every update: it knows the size measured last
/// (at load and at each snapshot) plus the size of every change applied
/// since, an estimate that is exact or above the real size in practice (yrs
/// merges adjacent blocks, so a change rarely adds more than its own
/// encoding). Only when an update does not fit the estimate is the state
/// encoded again to measure it.
#[derive(Debug, Clone)]
pub struct SizeBudget {
    limit: usize,
    measured: usize,
    added: usize,
}

impl SizeBudget {
    /// A budget of `limit` bytes for a document measured at `measured`.
    pub fn new(limit: usize, measured: usize) -> Self {
        SizeBudget {
            limit,
            measured,
            added: 0,
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The estimated encoded size.
    pub fn estimate(&self) -> usize {
        self.measured.saturating_add(self.added)
    }

    /// The state was just encoded at `size` bytes.
    pub fn measured(&mut self, size: usize) {
        self.measured = size;
        self.added = 0;
    }

    /// A change of `len` encoded bytes was applied.
    pub fn grew(&mut self, len: usize) {
        self.added = self.added.saturating_add(len);
    }

    /// Whether an update of `len` bytes may be applied. `measure` encodes the
    /// state; it is called only when the estimate refuses the update and
    /// changes were applied since the last measure (None: it could not be
    /// measured, the estimate stands).
    pub fn admits(&mut self, len: usize, measure: impl FnOnce() -> Option<usize>) -> bool {
        if self.estimate().saturating_add(len) <= self.limit {
            return true;
        }
        if self.added > 0 {
            if let Some(size) = measure() {
                self.measured(size);
            }
        }
        self.estimate().saturating_add(len) <= self.limit
    }
}

/// What applying one update did.
#[derive(Debug)]
pub enum Applied {
    /// yrs integrated it; the bytes are what it changed, encoded as an update
    /// (to relay and store). None for duplicates and for changes still waiting
    /// for missing predecessors.
    Accepted(Option<Vec<u8>>),
    /// yrs refused it with an error. yrs integrates an update block by
    /// block and commits what it integrated before the failing block, so a
    /// refused update can still have changed the document: `partial` is that
    /// change, encoded as an update. The caller must relay and store it like
    /// an accepted change, so every replica and the database keep the state
    /// the document has in memory.
    Refused {
        /// yrs's error.
        error: String,
        /// What was integrated before the error, if anything.
        partial: Option<Vec<u8>>,
    },
    /// yrs panicked on it; the document may have been left half-changed.
    Panicked,
}

/// Applies one update to `doc`, catching a panic.
pub fn apply_update(doc: &Doc, update: Update) -> Applied {
    let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut txn = match doc.try_transact_mut() {
            Ok(txn) => txn,
            Err(e) => {
                return Applied::Refused {
                    error: e.to_string(),
                    partial: None,
                }
            }
        };
        let result = txn.apply_update(update);
        let change = txn.has_changes().then(|| txn.encode_update_v1());
        match result {
            Ok(()) => Applied::Accepted(change),
            Err(e) => Applied::Refused {
                error: e.to_string(),
                partial: change,
            },
        }
    }));
    applied.unwrap_or(Applied::Panicked)
}

/// Decodes and applies one stored row, catching a panic (like [`apply_update`]).
pub fn apply_stored(doc: &Doc, payload: &[u8]) -> Applied {
    match Update::decode_v1(payload) {
        Ok(update) => match apply_update(doc, update) {
            Applied::Accepted(_) => Applied::Accepted(None),
            other => other,
        },
        Err(e) => Applied::Refused {
            error: e.to_string(),
            partial: None,
        },
    }
}

/// The whole state as one v1 update, or None when yrs panics encoding it
/// (pending structs a client sent can make it).
pub fn encode_state(doc: &Doc) -> Option<Vec<u8>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }))
    .ok()
}

/// What the document is missing relative to `sv`, and its own state vector,
/// or None when yrs panics.
pub fn encode_diff(doc: &Doc, sv: &StateVector) -> Option<(Vec<u8>, StateVector)> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let txn = doc.transact();
        (txn.encode_state_as_update_v1(sv), txn.state_vector())
    }))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_admits_by_estimate_and_measures_only_when_it_must() {
        let mut budget = SizeBudget::new(100, 40);
        let mut measures = 0;
        assert!(budget.admits(60, || {
            measures += 1;
            Some(0)
        }));
        budget.grew(30);
        assert_eq!(budget.estimate(), 70);
        // 70 + 40 > 100 by estimate; the real state is smaller (merged).
        assert!(budget.admits(40, || {
            measures += 1;
            Some(50)
        }));
        assert_eq!(measures, 1);
        assert_eq!(budget.estimate(), 50);
        // Nothing applied since the measure: refused without encoding again.
        assert!(!budget.admits(51, || {
            measures += 1;
            Some(0)
        }));
        assert_eq!(measures, 1);
        // Unmeasurable state: the estimate stands.
        budget.grew(10);
        assert!(!budget.admits(41, || None));
        assert!(budget.admits(40, || None));
    }

    #[test]
    fn the_budget_never_overflows() {
        let mut budget = SizeBudget::new(usize::MAX - 1, usize::MAX - 1);
        budget.grew(usize::MAX);
        assert!(!budget.admits(usize::MAX, || None));
    }
}
