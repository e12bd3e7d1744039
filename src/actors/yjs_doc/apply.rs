//! Pure update handling for a Yjs document, with no actix in it: applying a
//! client's update (yrs can panic on crafted input, so every call into it is
//! caught here and a panic becomes a refusal), encoding the state, and the
//! document's size budget (`yjs.max_document_bytes`).

use std::panic::AssertUnwindSafe;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update, WriteTxn};

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

/// Why `update` cannot be integrated at once into a document whose state
/// vector is `known`, or None when it can: for some client its structs
/// start past the document's clock for that client, or leave a hole.
///
/// yrs would keep such structs "pending" until the missing clocks arrive,
/// and yrs 0.28 can crash the process (SIGSEGV, not a panic, in
/// `TransactionMut::integrate_item`) when a later update brings a different
/// struct at a clock a pending struct already claims. A y-websocket client
/// never sends such an update (its own changes follow the state it has,
/// and its sync step 2 is everything the server lacks), so it is refused
/// before yrs sees it.
pub fn gap_in(update: &Update, known: &StateVector) -> Option<String> {
    for (client, clock) in update.state_vector_lower().iter() {
        let have = known.get(client);
        if *clock > have {
            return Some(format!(
                "update out of order: client {client} starts at clock {clock}, the document is at {have}"
            ));
        }
    }
    for (client, ranges) in update.insertions(true).iter() {
        if ranges.len() > 1 {
            return Some(format!(
                "update out of order: client {client}'s clocks have a hole"
            ));
        }
    }
    None
}

/// Applies one update to `doc`, catching a panic. An update that would
/// leave structs pending ([`gap_in`]) is refused unapplied; whatever yrs
/// still could not integrate (structs or deletions that refer to changes
/// the document does not have) is dropped, and the update counts as
/// refused after a partial change, so the document never keeps pending
/// structs from one update to the next.
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
        if let Some(error) = gap_in(&update, &txn.state_vector()) {
            return Applied::Refused {
                error,
                partial: None,
            };
        }
        let result = txn.apply_update(update);
        let dropped = txn.prune_pending().is_some();
        let change = txn.has_changes().then(|| txn.encode_update_v1());
        match result {
            Ok(()) if !dropped => Applied::Accepted(change),
            Ok(()) => Applied::Refused {
                error: "the update refers to changes the document does not have".into(),
                partial: change,
            },
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

/// What [`apply_rows`] did.
#[derive(Debug, Default)]
pub struct RowsApplied {
    /// Indexes of the rows applied (the document now holds them).
    pub applied: Vec<usize>,
    /// Rows refused, with yrs's error.
    pub refused: Vec<(usize, String)>,
    /// What the applied rows changed, each encoded as an update (nothing
    /// for rows the document already held).
    pub changes: Vec<Vec<u8>>,
    /// yrs panicked: the document is not to be trusted.
    pub panicked: bool,
}

/// Applies stored rows in order. The rows of several nodes can be stored
/// out of causal order with a snapshot (a node's snapshot replaces its own
/// rows, written after another node's row that depends on them), so a row
/// refused for a missing predecessor is tried again after every pass that
/// applied something.
pub fn apply_rows(doc: &Doc, payloads: &[&[u8]]) -> RowsApplied {
    let mut out = RowsApplied::default();
    let mut waiting: Vec<usize> = (0..payloads.len()).collect();
    loop {
        let mut refused = Vec::new();
        let before = out.applied.len();
        for i in waiting {
            let applied = match Update::decode_v1(payloads[i]) {
                Ok(update) => apply_update(doc, update),
                Err(e) => Applied::Refused {
                    error: e.to_string(),
                    partial: None,
                },
            };
            match applied {
                Applied::Accepted(change) => {
                    out.applied.push(i);
                    out.changes.extend(change);
                }
                Applied::Refused { error, partial } => {
                    out.changes.extend(partial);
                    refused.push((i, error));
                }
                Applied::Panicked => {
                    out.panicked = true;
                    return out;
                }
            }
        }
        if refused.is_empty() || out.applied.len() == before {
            out.refused = refused;
            out.applied.sort_unstable();
            return out;
        }
        waiting = refused.into_iter().map(|(i, _)| i).collect();
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use yrs::{GetString, Text};

    #[test]
    fn rows_stored_before_their_predecessors_are_applied_on_a_second_pass() {
        // Node A writes "a", node B builds "b" on it; A's snapshot of "a"
        // replaces A's row and lands after B's row.
        let a = Doc::with_client_id(1);
        let text = a.get_or_insert_text("content");
        text.insert(&mut a.transact_mut(), 0, "a");
        let snapshot_a = encode_state(&a).unwrap();
        let b = Doc::with_client_id(2);
        b.transact_mut()
            .apply_update(Update::decode_v1(&snapshot_a).unwrap())
            .unwrap();
        let sv = b.transact().state_vector();
        let text_b = b.get_or_insert_text("content");
        text_b.insert(&mut b.transact_mut(), 1, "b");
        let row_b = b.transact().encode_state_as_update_v1(&sv);

        let doc = Doc::new();
        let out = apply_rows(&doc, &[&row_b, &snapshot_a, b"not an update"]);
        assert!(!out.panicked);
        assert_eq!(out.applied, vec![0, 1]);
        assert_eq!(out.refused.len(), 1, "{:?}", out.refused);
        assert_eq!(out.refused[0].0, 2);
        assert_eq!(out.changes.len(), 2);
        let text = doc.get_or_insert_text("content");
        assert_eq!(text.get_string(&doc.transact()), "ab");

        // Applied again, nothing changes.
        let again = apply_rows(&doc, &[&snapshot_a, &row_b]);
        assert_eq!(again.applied, vec![0, 1]);
        assert!(again.changes.is_empty());
    }

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

    /// Three updates (minimised from `TANDEM_FUZZ_SEED=1796428958049550532`
    /// in tests/yjs_fuzz.rs) that crashed yrs 0.28 with SIGSEGV: the first
    /// puts client 3's struct at clock 16 in a map while clocks 0..16 are
    /// missing (yrs keeps it pending), the third brings client 3's clocks
    /// 0..24 with a different struct at clock 16, and integrating the pending
    /// struct then dereferences a dangling pointer. The first is now refused
    /// before yrs sees it. Before the fix this test binary died.
    #[test]
    fn an_update_that_would_leave_structs_pending_is_refused() {
        let pending: &[u8] = &[
            1, 1, 3, 16, 40, 1, 4, 109, 101, 116, 97, 2, 107, 51, 1, 125, 11, 1, 3, 2, 0, 1, 2, 1,
        ];
        let other_client: &[u8] = &[
            1, 12, 2, 0, 4, 1, 7, 99, 111, 110, 116, 101, 110, 116, 7, 120, 121, 122, 104, 101,
            108, 108, 132, 2, 6, 5, 111, 44, 32, 111, 107, 196, 2, 6, 2, 7, 3, 104, 101, 108, 193,
            2, 14, 2, 7, 1, 196, 2, 15, 2, 7, 3, 111, 44, 32, 193, 2, 18, 2, 7, 1, 196, 2, 19, 2,
            7, 1, 107, 132, 2, 11, 6, 120, 121, 122, 120, 121, 122, 8, 1, 4, 108, 105, 115, 112, 1,
            119, 6, 105, 116, 101, 109, 32, 55, 132, 2, 26, 3, 120, 121, 122, 196, 2, 20, 2, 7, 9,
            104, 101, 108, 108, 111, 44, 32, 111, 107, 136, 2, 27, 2, 119, 7, 105, 116, 101, 109,
            32, 49, 48, 119, 7, 105, 116, 101, 109, 32, 49, 49, 1, 2, 2, 15, 1, 19, 1,
        ];
        let overlapping: &[u8] = &[
            1, 6, 3, 0, 33, 1, 4, 109, 101, 116, 97, 2, 107, 48, 1, 40, 1, 4, 109, 101, 116, 97, 2,
            107, 49, 1, 125, 1, 1, 1, 7, 99, 111, 110, 116, 101, 110, 116, 1, 132, 3, 2, 2, 121,
            122, 168, 3, 0, 1, 125, 4, 132, 3, 4, 18, 120, 121, 122, 120, 121, 122, 120, 121, 122,
            120, 121, 123, 120, 121, 122, 120, 121, 122, 1, 3, 2, 0, 1, 2, 1,
        ];
        let doc = Doc::new();
        let decode = |bytes: &[u8]| Update::decode_v1(bytes).unwrap();
        assert!(matches!(
            apply_update(&doc, decode(pending)),
            Applied::Refused { partial: None, ref error } if error.contains("out of order")
        ));
        assert!(!doc.transact().has_missing_updates());
        assert!(matches!(
            apply_update(&doc, decode(other_client)),
            Applied::Accepted(Some(_))
        ));
        assert!(matches!(
            apply_update(&doc, decode(overlapping)),
            Applied::Accepted(Some(_))
        ));
        assert!(encode_state(&doc).is_some());
        // Sent again now that clocks 0..24 are there, it is a duplicate.
        assert!(matches!(
            apply_update(&doc, decode(pending)),
            Applied::Accepted(None)
        ));
    }

    #[test]
    fn a_hole_in_a_clients_clocks_is_refused() {
        let source = Doc::with_client_id(5);
        let text = source.get_or_insert_text("t");
        let mut updates = Vec::new();
        for word in ["a", "b", "c"] {
            let before = source.transact().state_vector();
            text.push(&mut source.transact_mut(), word);
            updates.push(source.transact().encode_state_as_update_v1(&before));
        }
        let merged = yrs::merge_updates_v1([&updates[0], &updates[2]]).unwrap();
        let doc = Doc::new();
        let known = doc.transact().state_vector();
        assert!(gap_in(&Update::decode_v1(&updates[1]).unwrap(), &known).is_some());
        assert!(gap_in(&Update::decode_v1(&merged).unwrap(), &known).is_some());
        assert!(gap_in(&Update::decode_v1(&updates[0]).unwrap(), &known).is_none());
    }

    #[test]
    fn the_budget_never_overflows() {
        let mut budget = SizeBudget::new(usize::MAX - 1, usize::MAX - 1);
        budget.grew(usize::MAX);
        assert!(!budget.admits(usize::MAX, || None));
    }
}
