//! Pure update handling for a Yjs document, with no actix in it: applying a
//! client's update (yrs can panic on crafted input, so every call into it is
//! caught here and a panic becomes a refusal), encoding the state, and the
//! document's size budget (`yjs.max_document_bytes`).

use std::panic::AssertUnwindSafe;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

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
