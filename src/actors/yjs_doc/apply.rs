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
    /// yrs refused it with an error.
    Refused(String),
    /// yrs panicked on it; the document may have been left half-changed.
    Panicked,
}

/// Applies one update to `doc`, catching a panic.
pub fn apply_update(doc: &Doc, update: Update) -> Applied {
    let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut txn = doc.try_transact_mut().map_err(|e| e.to_string())?;
        txn.apply_update(update).map_err(|e| e.to_string())?;
        Ok::<_, String>(txn.has_changes().then(|| txn.encode_update_v1()))
    }));
    match applied {
        Ok(Ok(change)) => Applied::Accepted(change),
        Ok(Err(e)) => Applied::Refused(e),
        Err(_) => Applied::Panicked,
    }
}

/// Decodes and applies one stored row, catching a panic (like [`apply_update`]).
pub fn apply_stored(doc: &Doc, payload: &[u8]) -> Applied {
    match Update::decode_v1(payload) {
        Ok(update) => match apply_update(doc, update) {
            Applied::Accepted(_) => Applied::Accepted(None),
            other => other,
        },
        Err(e) => Applied::Refused(e.to_string()),
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
