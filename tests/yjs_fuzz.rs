//! Structure-aware fuzzing of the update path a document actor uses: real
//! updates made by `yrs` are mutated (bytes flipped, truncated, two updates
//! spliced, varints rewritten, segments repeated), wrapped in a y-websocket
//! frame, decoded by the socket's `decode_frame` and applied with
//! [`apply::apply_update`]. It runs for a fixed time budget under
//! `cargo test`, with a fixed seed and at most 1500 updates (see
//! [`DEFAULT_SEED`]); `TANDEM_FUZZ_SEED=<seed>` (or `random`) explores for the
//! whole budget. The seed is printed first and in every failure, so
//! `TANDEM_FUZZ_SEED=<seed> cargo test --test yjs_fuzz` replays a failure (add `TANDEM_FUZZ_TRACE=1` to print every update
//! before it is applied, for crashes that are not panics).
//!
//! Asserted for every mutated update: no panic escapes; an update that is
//! refused (undecodable, or refused by yrs before it integrated anything)
//! leaves the document's state unchanged; and everything the actor stores
//! and relays (accepted changes, and the part of a refused update yrs
//! integrated before failing) reloads, in order, into a document that
//! encodes. yrs 0.28 does not give more: a caught panic can leave part of
//! the update in the document, and (before updates that leave structs
//! pending were refused, see below) an accepted update could leave pending
//! structs that make the whole state fail to encode. The actor therefore
//! reloads the document from what it stored in both cases, and so does this
//! test before going on.
//!
//! A finding, fixed: yrs 0.28 (the newest release) crashed with SIGSEGV
//! (not a panic) with `TANDEM_FUZZ_SEED=1796428958049550532` at run 2233:
//! a wild `ItemPtr` dereferenced in `TransactionMut::integrate_item` (yrs
//! src/block.rs:1009, cloning the left neighbour's `parent_sub`). Minimised
//! to three updates (the unit test in `yjs_doc/apply.rs`): a struct that
//! yrs keeps pending because its client's earlier clocks are missing, and a
//! later update bringing a different struct at the clock the pending one
//! claims. `apply::apply_update` now refuses an update with a hole in a
//! client's clocks before yrs sees it and drops whatever yrs still leaves
//! pending, so no pending struct outlives its update;
//! [`the_seed_that_crashed_yrs_no_longer_does`] replays that seed. A signal
//! cannot be caught per update, so a crash in yrs takes the process down:
//! these tests run in their own binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};
use tandem::actors::yjs_connection::decode_frame;
use tandem::actors::yjs_doc::apply::{self, Applied};
use tandem::actors::yjs_doc::Incoming;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Array, Doc, GetString, Map, ReadTxn, Snapshot, StateVector, Text, Transact};

/// How long the fuzz loop runs (the time budget, not an assertion).
const BUDGET: Duration = Duration::from_secs(2);

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// The seed `cargo test` uses, and how many updates it tries at most.
/// Because of the yrs SIGSEGV above, a seed from the clock would make the
/// suite crash about once in 50 runs; the fixed seed keeps `cargo test`
/// repeatable (the same updates, up to this many, within the budget).
const DEFAULT_SEED: u64 = 0x7A4D_E3F0_5EED_0001;
const DEFAULT_RUNS: u64 = 1500;

/// The seed and the most updates to try: `TANDEM_FUZZ_SEED=<n>` (or
/// `random` for one from the clock) explores for the whole budget.
fn seed() -> (u64, u64) {
    match std::env::var("TANDEM_FUZZ_SEED")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        None => (DEFAULT_SEED, DEFAULT_RUNS),
        Some("random") => (
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x5EED),
            u64::MAX,
        ),
        Some(n) => (n.parse().unwrap_or(DEFAULT_SEED), u64::MAX),
    }
}

/// Real updates: each step of a few editing sessions (text, map, array,
/// deletions, two clients), as the incremental update and as full states.
fn corpus(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for client in 1..=3u64 {
        let doc = Doc::with_client_id(client);
        let text = doc.get_or_insert_text("content");
        let map = doc.get_or_insert_map("meta");
        let array = doc.get_or_insert_array("list");
        for step in 0..12u32 {
            let before = doc.transact().state_vector();
            {
                let mut txn = doc.transact_mut();
                let len = text.get_string(&txn).len() as u32;
                match rng.below(5) {
                    0 => text.insert(&mut txn, rng.below(len as usize + 1) as u32, "hello, ok"),
                    1 if len > 2 => {
                        text.remove_range(&mut txn, rng.below(len as usize - 1) as u32, 1)
                    }
                    2 => {
                        map.insert(&mut txn, format!("k{}", step % 4), step as i64);
                    }
                    3 => {
                        array.push_back(&mut txn, format!("item {step}"));
                    }
                    _ => text.push(&mut txn, "xyz"),
                }
            }
            let txn = doc.transact();
            out.push(txn.encode_state_as_update_v1(&before));
            out.push(txn.encode_state_as_update_v1(&StateVector::default()));
        }
    }
    out
}

/// Writes a y-lib varint.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// One to three random mutations of a corpus entry.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)];
            }
            2 => bytes.truncate(at),
            3 => {
                // Splice: our prefix, another update's suffix.
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                bytes.truncate(at);
                bytes.extend_from_slice(&other[from..]);
            }
            4 => {
                // A varint (client id, clock, length, count) replaced by a
                // boundary value.
                let value = [0, 1, 127, 128, u32::MAX as u64, u64::MAX >> 1][rng.below(6)];
                let mut v = Vec::new();
                varint(value, &mut v);
                let end = (at + 1 + rng.below(4)).min(bytes.len());
                bytes.splice(at..end.max(at), v);
            }
            5 if !bytes.is_empty() => {
                // Repeat a segment.
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                let seg = bytes[at.min(end)..end].to_vec();
                bytes.splice(at.min(end)..at.min(end), seg);
            }
            _ => {
                if at < bytes.len() {
                    bytes.remove(at);
                }
            }
        }
    }
    bytes
}

/// The document's state, compared before and after a refusal: its
/// snapshot (state vector and delete set), the content of its root types,
/// and the size of its encoding (which includes pending structs; their
/// encoded order is not stable, so the bytes themselves are not compared).
/// None when yrs cannot encode it.
fn state(doc: &Doc) -> Option<(Snapshot, String, usize)> {
    let encoded = apply::encode_state(doc)?;
    let txn = doc.transact();
    let mut roots: Vec<String> = txn
        .root_refs()
        .map(|(name, value)| format!("{name}={}", value.to_string(&txn)))
        .collect();
    roots.sort();
    Some((txn.snapshot(), roots.join(";"), encoded.len()))
}

/// A fresh document holding `stored`'s state, as the actor's reload builds it.
fn reload(stored: &Doc, seed: u64, runs: u64) -> Doc {
    let doc = Doc::new();
    let state = apply::encode_state(stored);
    assert!(
        state.is_some(),
        "seed {seed}, run {runs}: the stored state does not encode"
    );
    if let Some(state) = state {
        assert!(
            matches!(apply::apply_stored(&doc, &state), Applied::Accepted(_)),
            "seed {seed}, run {runs}: the stored state does not reload"
        );
    }
    doc
}

#[test]
fn mutated_updates_never_escape_and_what_is_stored_always_reloads() {
    let (seed, max_runs) = seed();
    fuzz(seed, max_runs, BUDGET);
}

/// The seed that made yrs 0.28 crash with SIGSEGV at run 2233 (see the
/// module doc): replayed past that run, the process must survive. Bounded
/// by the run count (about 0.1 s), not the time budget, so a slow machine
/// still reaches it.
#[test]
fn the_seed_that_crashed_yrs_no_longer_does() {
    fuzz(1796428958049550532, 2300, Duration::from_secs(600));
}

/// Runs the fuzz loop for `seed`: at most `max_runs` updates within `budget`.
fn fuzz(seed: u64, max_runs: u64, budget: Duration) {
    // Printed first: a crash that is not a panic (a signal) must still show it.
    eprintln!("yjs fuzz: TANDEM_FUZZ_SEED={seed}");
    let trace = std::env::var_os("TANDEM_FUZZ_TRACE").is_some();
    let mut rng = Rng(seed);
    let corpus = corpus(&mut rng);
    let started = Instant::now();
    let mut doc = Doc::new();
    // What the database would hold: every change the actor stored, applied
    // in order.
    let mut stored_doc = Doc::new();
    let (mut runs, mut accepted, mut refused, mut partially, mut panicked, mut unencodable) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    while started.elapsed() < budget && runs < max_runs {
        runs += 1;
        // A fresh document now and then, so mutations meet empty and rich states.
        if runs % 64 == 0 {
            doc = Doc::new();
            stored_doc = Doc::new();
        }
        let payload = mutate(&mut rng, &corpus);
        if trace {
            // A crash that is not a panic (a signal in yrs's unsafe code)
            // leaves this as the last line: the update to report.
            eprintln!("run {runs}: {payload:?}");
        }
        let frame = Message::Sync(SyncMessage::Update(payload.clone())).encode_v1();
        let before = state(&doc);
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                match decode_frame(&frame) {
                    Ok(messages) => messages
                        .into_iter()
                        .map(|m| match m {
                            Incoming::Update(update) => apply::apply_update(&doc, update),
                            other => Applied::Refused {
                                error: format!("decoded as {other:?}"),
                                partial: None,
                            },
                        })
                        .collect(),
                    Err(e) => vec![Applied::Refused {
                        error: e.to_string(),
                        partial: None,
                    }],
                }
            }));
        let Ok(results) = result else {
            panic!("seed {seed}, run {runs}: a panic escaped for update {payload:?}");
        };
        for applied in results {
            let after = state(&doc);
            let stored = match applied {
                Applied::Accepted(change) => {
                    accepted += 1;
                    change
                }
                Applied::Refused {
                    partial: Some(partial),
                    ..
                } => {
                    partially += 1;
                    Some(partial)
                }
                Applied::Refused { partial: None, .. } => {
                    refused += 1;
                    assert_eq!(
                        before, after,
                        "seed {seed}, run {runs}: a refused update changed the document: {payload:?}"
                    );
                    None
                }
                Applied::Panicked => {
                    // The actor no longer trusts the document: it reloads it
                    // from what it stored.
                    panicked += 1;
                    doc = reload(&stored_doc, seed, runs);
                    None
                }
            };
            if let Some(change) = stored {
                // What the actor relays and stores must always reload into a
                // document that encodes.
                assert!(
                    !matches!(apply::apply_stored(&stored_doc, &change), Applied::Panicked),
                    "seed {seed}, run {runs}: a stored change panics on reload: {payload:?}"
                );
                assert!(
                    apply::encode_state(&stored_doc).is_some(),
                    "seed {seed}, run {runs}: the stored changes no longer encode after {payload:?}"
                );
            }
            if after.is_none() {
                // The actor notices at its next encode and reloads.
                unencodable += 1;
                doc = reload(&stored_doc, seed, runs);
            }
        }
    }
    eprintln!(
        "yjs fuzz seed {seed}: {runs} updates, {accepted} accepted, {refused} refused, {partially} refused after a partial change, {panicked} panics caught, {unencodable} reloads"
    );
    assert!(
        runs > 0 && accepted > 0 && refused > 0,
        "seed {seed}: the corpus and mutations must reach both outcomes"
    );
}
