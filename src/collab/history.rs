//! Server-authoritative revision log for one collaboratively edited text.
//!
//! Longer than 500 lines because of its tests: about 304 lines of code and
//! 418 lines of unit and property tests.
//!
//! The server owns the canonical text and a revision counter. Each client
//! operation names the revision it was made against (`base_revision`); the
//! log transforms it against every operation applied since then (the
//! server's operations count as "earlier", i.e. they are the first argument of
//! [`TextOperation::transform`] and win insert ties), applies it, and bumps the
//! revision. Only the last `max_history` operations are kept: a client whose
//! base revision is older than that must resynchronise from the full text.
//!
//! Revision numbering: an entry's `revision` is the document revision *after*
//! it was applied, so the operations needed to bring a client from revision
//! `r` to the current one are the entries with `revision > r`.
//!
//! Resends are idempotent: the log remembers the last sequence number (and
//! the revision it produced) per client id, and a resent `(client_id, seq)`
//! is reported as a duplicate instead of being applied again.
//!
//! All positions are in Unicode code points, as in [`super::ot`].

use std::collections::{HashMap, VecDeque};

use super::ot::{OtError, TextOperation};

/// Errors from [`RevisionLog`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HistoryError {
    /// The client claims a revision the server has not reached yet.
    #[error("base revision {base} is ahead of the current revision {current}")]
    RevisionAhead {
        /// Revision named by the client.
        base: u64,
        /// Server's current revision.
        current: u64,
    },
    /// The client's base revision predates the kept history; it must resync.
    #[error(
        "base revision {base} is older than the oldest revision still in history ({oldest}); \
         client must resynchronise"
    )]
    RevisionTooOld {
        /// Revision named by the client.
        base: u64,
        /// Oldest base revision the log can still transform from.
        oldest: u64,
    },
    /// A resend of an operation older than the client's last one, whose
    /// outcome is no longer known.
    #[error(
        "sequence number {seq} from client {client_id} is older than its last applied \
         sequence number {last_seq} and no longer in history"
    )]
    StaleSequence {
        /// Client id that sent the operation.
        client_id: String,
        /// Sequence number received.
        seq: u64,
        /// Last sequence number applied for that client.
        last_seq: u64,
    },
    /// The revision counter would overflow `u64`.
    #[error("revision counter overflow")]
    RevisionOverflow,
    /// The operation could not be transformed or applied.
    #[error(transparent)]
    Ot(#[from] OtError),
}

/// One applied operation as stored in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Document revision after this operation was applied.
    pub revision: u64,
    /// The operation as applied (already transformed to the server's history).
    pub op: TextOperation,
    /// User id of the author.
    pub author: String,
    /// Client (connection/session) id that sent the operation.
    pub client_id: String,
    /// The client's sequence number for this operation.
    pub client_seq: u64,
}

/// Outcome of [`RevisionLog::apply_client_op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Revision the operation produced (for a duplicate: the one it produced
    /// originally).
    pub revision: u64,
    /// The operation as applied, to broadcast to other clients. For a
    /// duplicate it is the original applied operation if still in history,
    /// otherwise an empty operation; duplicates must not be broadcast again.
    pub op: TextOperation,
    /// True when this `(client_id, seq)` had already been applied and nothing
    /// changed now.
    pub duplicate: bool,
    /// The operation that undoes this one on the text it produced (empty for
    /// a duplicate). Taken from the text before the operation is applied in
    /// place, so the document is not copied on every edit.
    pub inverse: TextOperation,
}

/// Last sequence number seen from a client and the revision it produced.
/// Kept in snapshots, so a resend after a reload is still recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientRecord {
    /// The client's last applied sequence number.
    pub last_seq: u64,
    /// The revision that operation produced.
    pub revision: u64,
}

/// Client records a log keeps: past this, the records of the clients that
/// edited least recently are dropped (amortised, down to half). A client
/// that resends an operation after this many other clients have edited
/// since is no longer recognised; 4096 distinct editors of one field
/// between a send and its resend is far beyond any reconnect.
pub const MAX_CLIENT_RECORDS: usize = 4096;

/// Server-authoritative text, revision counter and bounded operation history.
#[derive(Debug, Clone)]
pub struct RevisionLog {
    text: String,
    revision: u64,
    max_history: usize,
    history: VecDeque<HistoryEntry>,
    clients: HashMap<String, ClientRecord>,
}

impl RevisionLog {
    /// Creates a log for `text` at `revision`, keeping at most `max_history`
    /// applied operations.
    #[must_use]
    pub fn new(text: impl Into<String>, revision: u64, max_history: usize) -> Self {
        Self {
            text: text.into(),
            revision,
            max_history,
            history: VecDeque::new(),
            clients: HashMap::new(),
        }
    }

    /// The current text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The current revision.
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Maximum number of operations kept in history.
    #[must_use]
    pub fn max_history(&self) -> usize {
        self.max_history
    }

    /// Oldest base revision that operations can still be transformed from.
    #[must_use]
    pub fn oldest_revision(&self) -> u64 {
        let kept = u64::try_from(self.history.len()).unwrap_or(u64::MAX);
        self.revision.saturating_sub(kept)
    }

    /// Index into `history` of the first entry after `base_revision`, after
    /// checking that the revision is neither ahead nor too old.
    fn start_index(&self, base_revision: u64) -> Result<usize, HistoryError> {
        if base_revision > self.revision {
            return Err(HistoryError::RevisionAhead {
                base: base_revision,
                current: self.revision,
            });
        }
        let oldest = self.oldest_revision();
        if base_revision < oldest {
            return Err(HistoryError::RevisionTooOld {
                base: base_revision,
                oldest,
            });
        }
        Ok(usize::try_from(base_revision - oldest).unwrap_or(usize::MAX))
    }

    /// The operations applied after `revision`, oldest first.
    ///
    /// # Errors
    ///
    /// [`HistoryError::RevisionAhead`] / [`HistoryError::RevisionTooOld`] when
    /// `revision` is outside the kept range.
    pub fn ops_since(&self, revision: u64) -> Result<Vec<HistoryEntry>, HistoryError> {
        let start = self.start_index(revision)?;
        Ok(self.history.iter().skip(start).cloned().collect())
    }

    /// Moves a cursor position (code points) in the text at `base_revision`
    /// through every operation applied since, giving the position in the
    /// current text.
    ///
    /// # Errors
    ///
    /// [`HistoryError::RevisionAhead`] / [`HistoryError::RevisionTooOld`] when
    /// `base_revision` is outside the kept range.
    pub fn transform_index_since(
        &self,
        base_revision: u64,
        index: usize,
    ) -> Result<usize, HistoryError> {
        let start = self.start_index(base_revision)?;
        Ok(self
            .history
            .iter()
            .skip(start)
            .fold(index, |i, e| e.op.transform_index(i)))
    }

    /// Finds the history entry for a client's sequence number.
    fn find_entry(&self, client_id: &str, seq: u64) -> Option<&HistoryEntry> {
        self.history
            .iter()
            .rev()
            .find(|e| e.client_seq == seq && e.client_id == client_id)
    }

    /// Applies a client operation made against `base_revision`.
    ///
    /// A resend of an already applied `(client_id, client_seq)` returns
    /// `duplicate: true` with its original revision and changes nothing.
    /// Otherwise the operation is transformed against every operation since
    /// `base_revision` (those go first on insert ties), applied, stored, and
    /// the new revision is returned with the transformed operation. On error
    /// the log is unchanged.
    ///
    /// # Errors
    ///
    /// [`HistoryError::RevisionAhead`], [`HistoryError::RevisionTooOld`] (the
    /// client must resync), [`HistoryError::StaleSequence`],
    /// [`HistoryError::RevisionOverflow`], or [`HistoryError::Ot`] when the
    /// operation does not fit the text (e.g. wrong base length).
    pub fn apply_client_op(
        &mut self,
        base_revision: u64,
        op: TextOperation,
        author: &str,
        client_id: &str,
        client_seq: u64,
    ) -> Result<Applied, HistoryError> {
        if let Some(rec) = self.clients.get(client_id).copied() {
            if client_seq <= rec.last_seq {
                let entry = self.find_entry(client_id, client_seq);
                let revision = match entry {
                    Some(e) => e.revision,
                    None if client_seq == rec.last_seq => rec.revision,
                    None => {
                        return Err(HistoryError::StaleSequence {
                            client_id: client_id.to_owned(),
                            seq: client_seq,
                            last_seq: rec.last_seq,
                        })
                    }
                };
                return Ok(Applied {
                    revision,
                    op: entry.map(|e| e.op.clone()).unwrap_or_default(),
                    duplicate: true,
                    inverse: TextOperation::new(),
                });
            }
        }

        let start = self.start_index(base_revision)?;
        let mut op = op;
        for entry in self.history.iter().skip(start) {
            op = TextOperation::transform(&entry.op, &op)?.1;
        }
        let revision = self
            .revision
            .checked_add(1)
            .ok_or(HistoryError::RevisionOverflow)?;
        let inverse = op.invert(&self.text)?;
        op.apply_in_place(&mut self.text)?;
        self.revision = revision;
        self.clients.insert(
            client_id.to_owned(),
            ClientRecord {
                last_seq: client_seq,
                revision,
            },
        );
        self.bound_clients();
        if self.max_history > 0 {
            self.history.push_back(HistoryEntry {
                revision,
                op: op.clone(),
                author: author.to_owned(),
                client_id: client_id.to_owned(),
                client_seq,
            });
        }
        while self.history.len() > self.max_history {
            self.history.pop_front();
        }
        Ok(Applied {
            revision,
            op,
            duplicate: false,
            inverse,
        })
    }

    /// The clients' sequence-number records (for snapshots).
    pub fn client_records(&self) -> impl Iterator<Item = (&str, ClientRecord)> {
        self.clients.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Restores a client's record from a snapshot.
    pub fn restore_client(&mut self, client_id: &str, record: ClientRecord) {
        self.clients.insert(client_id.to_owned(), record);
        self.bound_clients();
    }

    /// Keeps the client map bounded (see [`MAX_CLIENT_RECORDS`]).
    fn bound_clients(&mut self) {
        if self.clients.len() <= MAX_CLIENT_RECORDS {
            return;
        }
        let mut revisions: Vec<u64> = self.clients.values().map(|r| r.revision).collect();
        revisions.sort_unstable();
        let cut = revisions[revisions.len() - MAX_CLIENT_RECORDS / 2];
        self.clients.retain(|_, r| r.revision >= cut);
    }

    /// Forgets the sequence-number record of a client id (e.g. when its
    /// session ends for good), so the per-client map does not grow forever.
    pub fn forget_client(&mut self, client_id: &str) {
        self.clients.remove(client_id);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::ot::Component;
    use super::*;
    use proptest::prelude::*;

    const CHARS: &[char] = &[
        'a', 'b', 'x', ' ', 'é', 'ñ', 'Ж', '中', '😀', '👍', '\u{301}',
    ];

    fn arb_string(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(CHARS), 0..max)
            .prop_map(|v| v.into_iter().collect())
    }

    type Plan = Vec<(u8, usize, String)>;

    fn arb_plan() -> impl Strategy<Value = Plan> {
        prop::collection::vec((0u8..3, 1usize..5, arb_string(3)), 0..5)
    }

    /// Builds an operation valid for a text of `len` code points.
    fn op_from_plan(plan: &Plan, len: usize) -> TextOperation {
        let mut op = TextOperation::new();
        let mut remaining = len;
        for (kind, n, s) in plan {
            match kind {
                0 => {
                    let k = (*n).min(remaining);
                    op.retain(k);
                    remaining -= k;
                }
                1 => {
                    let k = (*n).min(remaining);
                    op.delete(k);
                    remaining -= k;
                }
                _ => {
                    op.insert(s);
                }
            }
        }
        op.retain(remaining);
        op
    }

    fn ins(at: usize, s: &str, len: usize) -> TextOperation {
        let mut op = TextOperation::new();
        op.retain(at).insert(s).retain(len - at);
        op
    }

    #[test]
    fn applies_at_current_revision() {
        let mut log = RevisionLog::new("héllo", 7, 10);
        let a = log
            .apply_client_op(7, ins(5, " wörld", 5), "u1", "c1", 1)
            .unwrap();
        assert_eq!(a.revision, 8);
        assert!(!a.duplicate);
        assert_eq!(log.text(), "héllo wörld");
        assert_eq!(log.revision(), 8);
        assert_eq!(log.ops_since(7).unwrap().len(), 1);
        assert_eq!(log.ops_since(8).unwrap().len(), 0);
    }

    #[test]
    fn transforms_concurrent_ops() {
        let mut log = RevisionLog::new("abc", 0, 10);
        log.apply_client_op(0, ins(0, "X", 3), "u1", "c1", 1)
            .unwrap();
        // Client 2 also edits revision 0: insert at the same position goes after X.
        let a = log
            .apply_client_op(0, ins(0, "Y", 3), "u2", "c2", 1)
            .unwrap();
        assert_eq!(log.text(), "XYabc");
        assert_eq!(a.revision, 2);
        assert_eq!(
            a.op.components(),
            &[
                Component::Retain(1),
                Component::Insert("Y".into()),
                Component::Retain(3)
            ]
        );
        let entries = log.ops_since(0).unwrap();
        assert_eq!(entries[0].author, "u1");
        assert_eq!(entries[1].client_id, "c2");
        assert_eq!(entries[1].client_seq, 1);
        assert_eq!(entries[1].revision, 2);
    }

    #[test]
    fn duplicate_resend_is_applied_once() {
        let mut log = RevisionLog::new("😀", 0, 10);
        let first = log
            .apply_client_op(0, ins(1, "!", 1), "u1", "c1", 5)
            .unwrap();
        log.apply_client_op(1, ins(0, "Z", 2), "u2", "c2", 1)
            .unwrap();
        let again = log
            .apply_client_op(0, ins(1, "!", 1), "u1", "c1", 5)
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.revision, first.revision);
        assert_eq!(again.op, first.op);
        assert_eq!(log.text(), "Z😀!");
        assert_eq!(log.revision(), 2);
    }

    #[test]
    fn duplicate_outside_history() {
        let mut log = RevisionLog::new("", 0, 0);
        log.apply_client_op(0, ins(0, "a", 0), "u", "c", 1).unwrap();
        log.apply_client_op(1, ins(1, "b", 1), "u", "c", 2).unwrap();
        let dup = log.apply_client_op(1, ins(1, "b", 1), "u", "c", 2).unwrap();
        assert!(dup.duplicate);
        assert_eq!(dup.revision, 2);
        assert!(dup.op.is_noop());
        assert_eq!(
            log.apply_client_op(0, ins(0, "a", 0), "u", "c", 1),
            Err(HistoryError::StaleSequence {
                client_id: "c".into(),
                seq: 1,
                last_seq: 2
            })
        );
        log.forget_client("c");
        // After forgetting, the same seq is a new operation.
        let again = log.apply_client_op(2, ins(0, "z", 2), "u", "c", 1).unwrap();
        assert!(!again.duplicate);
        assert_eq!(log.text(), "zab");
    }

    #[test]
    fn revision_ahead_and_too_old() {
        let mut log = RevisionLog::new("", 0, 2);
        assert_eq!(
            log.apply_client_op(1, TextOperation::new(), "u", "c", 1),
            Err(HistoryError::RevisionAhead {
                base: 1,
                current: 0
            })
        );
        for i in 0..4u64 {
            let len = log.text().chars().count();
            log.apply_client_op(i, ins(len, "é", len), "u", "c", i + 1)
                .unwrap();
        }
        assert_eq!(log.revision(), 4);
        assert_eq!(log.oldest_revision(), 2);
        assert!(log.ops_since(2).is_ok());
        assert_eq!(
            log.apply_client_op(1, ins(0, "x", 1), "u", "d", 1),
            Err(HistoryError::RevisionTooOld { base: 1, oldest: 2 })
        );
        assert!(matches!(
            log.ops_since(1),
            Err(HistoryError::RevisionTooOld { .. })
        ));
        assert!(matches!(
            log.transform_index_since(5, 0),
            Err(HistoryError::RevisionAhead { .. })
        ));
        // Transformed against ops since revision 2 (two appended é's), then applied.
        let a = log.apply_client_op(2, ins(1, "x", 2), "u", "d", 1).unwrap();
        assert_eq!(a.revision, 5);
        assert_eq!(log.text(), "éxééé");
    }

    #[test]
    fn bad_op_is_rejected_without_changes() {
        let mut log = RevisionLog::new("abc", 3, 4);
        let err = log
            .apply_client_op(3, ins(0, "x", 2), "u", "c", 1)
            .unwrap_err();
        assert!(matches!(
            err,
            HistoryError::Ot(OtError::BaseLengthMismatch { .. })
        ));
        assert!(err.to_string().contains("base length"));
        assert_eq!(log.text(), "abc");
        assert_eq!(log.revision(), 3);
        // The failed seq was not recorded.
        assert!(log.apply_client_op(3, ins(0, "x", 3), "u", "c", 1).is_ok());
    }

    #[test]
    fn transform_index_since_moves_cursor() {
        let mut log = RevisionLog::new("ab😀cd", 0, 10);
        log.apply_client_op(0, ins(0, "ñ", 5), "u", "c", 1).unwrap();
        let mut del = TextOperation::new();
        del.retain(2).delete(2).retain(2);
        log.apply_client_op(1, del, "u", "c", 2).unwrap();
        assert_eq!(log.text(), "ñacd");
        assert_eq!(log.transform_index_since(0, 0).unwrap(), 1);
        assert_eq!(log.transform_index_since(0, 2).unwrap(), 2); // inside the deletion
        assert_eq!(log.transform_index_since(0, 3).unwrap(), 2);
        assert_eq!(log.transform_index_since(0, 4).unwrap(), 3);
        assert_eq!(log.transform_index_since(0, 5).unwrap(), 4);
        assert_eq!(log.transform_index_since(1, 2).unwrap(), 2);
        assert_eq!(log.transform_index_since(2, 3).unwrap(), 3);
    }

    // ---- Multi-client convergence simulation (ot.js client state machine) ----

    #[derive(Debug, Clone)]
    enum ClientState {
        Synchronized,
        AwaitingConfirm(TextOperation),
        AwaitingWithBuffer(TextOperation, TextOperation),
    }

    #[derive(Debug, Clone)]
    struct ClientMsg {
        base_revision: u64,
        op: TextOperation,
        seq: u64,
    }

    #[derive(Debug, Clone)]
    enum ServerMsg {
        Ack { revision: u64 },
        Op { revision: u64, op: TextOperation },
    }

    #[derive(Debug)]
    struct SimClient {
        id: String,
        text: String,
        revision: u64,
        state: ClientState,
        next_seq: u64,
        up: VecDeque<ClientMsg>,
        down: VecDeque<ServerMsg>,
    }

    impl SimClient {
        fn send(&mut self, op: TextOperation) {
            self.next_seq += 1;
            self.up.push_back(ClientMsg {
                base_revision: self.revision,
                op,
                seq: self.next_seq,
            });
        }

        fn local_edit(&mut self, op: TextOperation) {
            self.text = op.apply(&self.text).unwrap();
            self.state = match std::mem::replace(&mut self.state, ClientState::Synchronized) {
                ClientState::Synchronized => {
                    self.send(op.clone());
                    ClientState::AwaitingConfirm(op)
                }
                ClientState::AwaitingConfirm(o) => ClientState::AwaitingWithBuffer(o, op),
                ClientState::AwaitingWithBuffer(o, b) => {
                    ClientState::AwaitingWithBuffer(o, b.compose(&op).unwrap())
                }
            };
        }

        fn receive(&mut self, msg: ServerMsg) {
            match msg {
                ServerMsg::Ack { revision } => {
                    assert_eq!(revision, self.revision + 1);
                    self.revision = revision;
                    self.state = match std::mem::replace(&mut self.state, ClientState::Synchronized)
                    {
                        ClientState::Synchronized => panic!("ack while synchronized"),
                        ClientState::AwaitingConfirm(_) => ClientState::Synchronized,
                        ClientState::AwaitingWithBuffer(_, b) => {
                            self.send(b.clone());
                            ClientState::AwaitingConfirm(b)
                        }
                    };
                }
                ServerMsg::Op { revision, op } => {
                    assert_eq!(revision, self.revision + 1);
                    self.revision = revision;
                    // The server's op is "earlier": it is transform's first argument.
                    let (to_apply, state) =
                        match std::mem::replace(&mut self.state, ClientState::Synchronized) {
                            ClientState::Synchronized => (op, ClientState::Synchronized),
                            ClientState::AwaitingConfirm(o) => {
                                let (op2, o2) = TextOperation::transform(&op, &o).unwrap();
                                (op2, ClientState::AwaitingConfirm(o2))
                            }
                            ClientState::AwaitingWithBuffer(o, b) => {
                                let (op2, o2) = TextOperation::transform(&op, &o).unwrap();
                                let (op3, b2) = TextOperation::transform(&op2, &b).unwrap();
                                (op3, ClientState::AwaitingWithBuffer(o2, b2))
                            }
                        };
                    self.text = to_apply.apply(&self.text).unwrap();
                    self.state = state;
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Action {
        Edit(usize, Plan),
        DeliverUp(usize),
        DeliverDown(usize),
        /// The network duplicates the client's next message in flight.
        DuplicateUp(usize),
    }

    fn arb_action() -> impl Strategy<Value = Action> {
        prop_oneof![
            3 => (0usize..4, arb_plan()).prop_map(|(c, p)| Action::Edit(c, p)),
            3 => (0usize..4).prop_map(Action::DeliverUp),
            3 => (0usize..4).prop_map(Action::DeliverDown),
            1 => (0usize..4).prop_map(Action::DuplicateUp),
        ]
    }

    fn server_deliver(log: &mut RevisionLog, clients: &mut [SimClient], from: usize) {
        let Some(msg) = clients[from].up.pop_front() else {
            return;
        };
        let id = clients[from].id.clone();
        let author = format!("user-{from}");
        let applied = log
            .apply_client_op(msg.base_revision, msg.op, &author, &id, msg.seq)
            .unwrap();
        if applied.duplicate {
            return;
        }
        for (i, c) in clients.iter_mut().enumerate() {
            c.down.push_back(if i == from {
                ServerMsg::Ack {
                    revision: applied.revision,
                }
            } else {
                ServerMsg::Op {
                    revision: applied.revision,
                    op: applied.op.clone(),
                }
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn prop_clients_converge(
            initial in arb_string(8),
            n_clients in 3usize..=4,
            actions in prop::collection::vec(arb_action(), 0..80),
        ) {
            let mut log = RevisionLog::new(initial.clone(), 10, 1000);
            let mut clients: Vec<SimClient> = (0..n_clients)
                .map(|i| SimClient {
                    id: format!("client-{i}"),
                    text: initial.clone(),
                    revision: 10,
                    state: ClientState::Synchronized,
                    next_seq: 0,
                    up: VecDeque::new(),
                    down: VecDeque::new(),
                })
                .collect();

            for action in actions {
                match action {
                    Action::Edit(c, plan) => {
                        let client = &mut clients[c % n_clients];
                        let op = op_from_plan(&plan, client.text.chars().count());
                        client.local_edit(op);
                    }
                    Action::DeliverUp(c) => server_deliver(&mut log, &mut clients, c % n_clients),
                    Action::DeliverDown(c) => {
                        let client = &mut clients[c % n_clients];
                        if let Some(msg) = client.down.pop_front() {
                            client.receive(msg);
                        }
                    }
                    Action::DuplicateUp(c) => {
                        let client = &mut clients[c % n_clients];
                        if let Some(front) = client.up.front().cloned() {
                            client.up.insert(1, front);
                        }
                    }
                }
            }

            // Drain every channel until quiescent.
            loop {
                let mut progressed = false;
                for c in 0..n_clients {
                    if !clients[c].up.is_empty() {
                        server_deliver(&mut log, &mut clients, c);
                        progressed = true;
                    }
                    if let Some(msg) = clients[c].down.pop_front() {
                        clients[c].receive(msg);
                        progressed = true;
                    }
                }
                if !progressed {
                    break;
                }
            }

            for c in &clients {
                prop_assert!(matches!(c.state, ClientState::Synchronized), "{:?}", c.state);
                prop_assert_eq!(c.revision, log.revision());
                prop_assert_eq!(&c.text, log.text());
            }
        }
    }

    #[test]
    fn client_records_stay_bounded_and_keep_the_most_recent() {
        let mut log = RevisionLog::new("", 0, 10);
        let n = MAX_CLIENT_RECORDS + 10;
        for i in 0..n {
            let base = log.revision();
            let json = if base == 0 {
                r#"["x"]"#.to_owned()
            } else {
                format!("[{base}, \"x\"]")
            };
            let op: TextOperation = serde_json::from_str(&json).unwrap();
            log.apply_client_op(base, op, "u", &format!("c{i}"), 1)
                .unwrap();
        }
        assert!(log.client_records().count() <= MAX_CLIENT_RECORDS);
        // The latest editor is still recognised: its resend is a duplicate.
        let last = format!("c{}", n - 1);
        let op: TextOperation = serde_json::from_str(&format!("[{}, \"x\"]", n - 1)).unwrap();
        let again = log
            .apply_client_op(n as u64 - 1, op, "u", &last, 1)
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(log.revision(), n as u64);
    }
}
