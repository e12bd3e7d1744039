//! Stored cursors and how an applied text op moves them (pure, no actix).
//!
//! A cursor's coordinates are those of the text its connection saw when it
//! moved: every op the room had relayed to it, plus the connection's own
//! edits sent so far (a client applies its own edit before sending it). The
//! room moves a stored cursor through each op it relays, exactly once:
//! - an op by another connection (or an undo/redo, which its author applies
//!   only when it arrives) is relayed to the cursor's connection at the same
//!   moment, so a cursor stored before the relay lacks it and is moved, and
//!   one stored after it has it;
//! - an `edit` by the cursor's own connection is already in every cursor that
//!   connection sent after the edit, even one that reaches the room before
//!   the stored op is relayed: [`StoredCursor::sent_edits`] tells them apart.

use crate::collab::ot::TextOperation;
use crate::ids::ConnectionId;
use crate::protocol::server::CursorView;

/// Selection keys whose integer values are moved like the position.
const SELECTION_KEYS: [&str; 4] = ["start", "end", "anchor", "head"];

/// A text op the document session applied and stored, as the room relays it.
#[derive(Debug, Clone)]
pub struct AppliedOp {
    /// The field the op changed.
    pub field: String,
    /// The op, as applied (transformed past concurrent ops).
    pub op: TextOperation,
    /// For a `doc:edit`: its connection and the number of `doc:edit`
    /// requests that connection had sent, this one included. `None` for
    /// undo/redo, which every member (the author too) applies on arrival.
    pub author: Option<(ConnectionId, u64)>,
}

/// A member's cursor as the room stores it.
#[derive(Debug, Clone)]
pub struct StoredCursor {
    /// What others see.
    pub view: CursorView,
    /// How many `doc:edit` requests the connection had sent when it moved
    /// this cursor.
    pub sent_edits: u64,
}

impl StoredCursor {
    /// True when the cursor's coordinates already include `op` (its own
    /// connection's edit, sent before the cursor moved).
    pub fn includes(&self, owner: ConnectionId, op: &AppliedOp) -> bool {
        matches!(op.author, Some((author, n)) if author == owner && self.sent_edits >= n)
    }

    /// Moves the cursor through `op` unless it already includes it or is in
    /// another field. Only integer positions (code point indexes) move;
    /// app-defined objects are left as they are. True when it was moved.
    pub fn apply(&mut self, owner: ConnectionId, op: &AppliedOp) -> bool {
        if self.view.field.as_deref() != Some(op.field.as_str()) || self.includes(owner, op) {
            return false;
        }
        let shift = |v: &mut serde_json::Value| {
            if let Some(i) = v.as_u64() {
                let i = usize::try_from(i).unwrap_or(usize::MAX);
                *v = serde_json::Value::from(op.op.transform_index(i) as u64);
            }
        };
        shift(&mut self.view.position);
        if let Some(sel) = self.view.selection.as_mut().and_then(|s| s.as_object_mut()) {
            for key in SELECTION_KEYS {
                if let Some(v) = sel.get_mut(key) {
                    shift(v);
                }
            }
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cursor(position: usize, sent_edits: u64) -> StoredCursor {
        StoredCursor {
            view: CursorView {
                user_id: "ann".into(),
                connection_id: "c1".into(),
                name: "Ann".into(),
                color: "#000".into(),
                position: serde_json::Value::from(position as u64),
                selection: Some(serde_json::json!({"start": position, "end": position})),
                field: Some("body".into()),
            },
            sent_edits,
        }
    }

    fn position(c: &StoredCursor) -> usize {
        c.view.position.as_u64().unwrap() as usize
    }

    /// An insert of `s` at `at` into a text of `len` code points.
    fn insert(len: usize, at: usize, s: &str) -> TextOperation {
        let mut op = TextOperation::new();
        op.retain(at).insert(s).retain(len - at);
        op
    }

    /// A delete of `n` code points at `at` from a text of `len` code points.
    fn delete(len: usize, at: usize, n: usize) -> TextOperation {
        let mut op = TextOperation::new();
        op.retain(at).delete(n).retain(len - at - n);
        op
    }

    const ME: ConnectionId = ConnectionId(1);
    const OTHER: ConnectionId = ConnectionId(2);

    #[test]
    fn own_edit_sent_before_the_move_is_not_applied_twice() {
        let op = AppliedOp {
            field: "body".into(),
            op: insert(5, 0, "XX"),
            author: Some((ME, 1)),
        };
        // Moved after sending edit 1: already in post-edit coordinates.
        let mut c = cursor(7, 1);
        assert!(!c.apply(ME, &op));
        assert_eq!(position(&c), 7);
        // Moved before sending it: moved once.
        let mut c = cursor(5, 0);
        assert!(c.apply(ME, &op));
        assert_eq!(position(&c), 7);
        assert_eq!(
            c.view.selection,
            Some(serde_json::json!({"start": 7, "end": 7}))
        );
    }

    #[test]
    fn other_connections_ops_undo_and_other_fields() {
        let op = AppliedOp {
            field: "body".into(),
            op: insert(5, 0, "XX"),
            author: Some((OTHER, 9)),
        };
        let mut c = cursor(3, 9);
        assert!(
            c.apply(ME, &op),
            "another connection's edit moves the cursor"
        );
        assert_eq!(position(&c), 5);
        let undo = AppliedOp {
            author: None,
            ..op.clone()
        };
        let mut c = cursor(3, 9);
        assert!(
            c.apply(ME, &undo),
            "an undo is applied on arrival, even by its author"
        );
        let mut c = cursor(3, 0);
        c.view.field = Some("title".into());
        assert!(!c.apply(ME, &op));
        assert_eq!(position(&c), 3);
        let mut c = cursor(3, 0);
        c.view.position = serde_json::json!({"line": 1, "column": 3});
        c.apply(ME, &op);
        assert_eq!(c.view.position, serde_json::json!({"line": 1, "column": 3}));
    }

    /// One step of a client that edits its text and moves its cursor.
    #[derive(Debug, Clone)]
    enum Step {
        /// Insert this many `x` at a fraction of the text.
        Insert(f64, usize),
        /// Delete up to this many code points at a fraction of the text.
        Delete(f64, usize),
        /// Move the cursor to a fraction of the text.
        Move(f64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0.0..=1.0f64, 1..4usize).prop_map(|(at, n)| Step::Insert(at, n)),
            (0.0..=1.0f64, 1..4usize).prop_map(|(at, n)| Step::Delete(at, n)),
            (0.0..=1.0f64).prop_map(Step::Move),
        ]
    }

    fn at(fraction: f64, len: usize) -> usize {
        ((fraction * len as f64) as usize).min(len)
    }

    proptest! {
        /// A lone client edits and moves its cursor; the room receives each
        /// move as soon as it is sent and relays each stored edit at any
        /// later point (in order). Once everything is relayed, the stored
        /// cursor is where the client's own cursor is: every edit moved it
        /// exactly once, whichever came first at the room.
        #[test]
        fn the_stored_cursor_follows_the_client_whatever_the_relay_timing(
            steps in prop::collection::vec(step(), 1..30),
            delays in prop::collection::vec(0..4usize, 30),
        ) {
            let mut len = 10usize;
            let mut local: Option<usize> = None;
            let mut sent_edits = 0u64;
            // Edits sent but not yet relayed by the room, in order.
            let mut unrelayed: std::collections::VecDeque<AppliedOp> = Default::default();
            let mut stored: Option<StoredCursor> = None;
            let relay = |stored: &mut Option<StoredCursor>, op: &AppliedOp| {
                if let Some(c) = stored.as_mut() {
                    c.apply(ME, op);
                }
            };
            for (i, s) in steps.iter().enumerate() {
                match *s {
                    Step::Move(f) => {
                        let p = at(f, len);
                        local = Some(p);
                        stored = Some(cursor(p, sent_edits));
                    }
                    Step::Insert(f, n) => {
                        let op = insert(len, at(f, len), &"x".repeat(n));
                        len += n;
                        sent_edits += 1;
                        local = local.map(|p| op.transform_index(p));
                        unrelayed.push_back(AppliedOp { field: "body".into(), op, author: Some((ME, sent_edits)) });
                    }
                    Step::Delete(f, n) => {
                        let start = at(f, len);
                        let n = n.min(len - start);
                        if n == 0 { continue; }
                        let op = delete(len, start, n);
                        len -= n;
                        sent_edits += 1;
                        local = local.map(|p| op.transform_index(p));
                        unrelayed.push_back(AppliedOp { field: "body".into(), op, author: Some((ME, sent_edits)) });
                    }
                }
                // The room relays some of the stored edits now.
                for _ in 0..delays[i % delays.len()] {
                    if let Some(op) = unrelayed.pop_front() {
                        relay(&mut stored, &op);
                    }
                }
            }
            while let Some(op) = unrelayed.pop_front() {
                relay(&mut stored, &op);
            }
            prop_assert_eq!(stored.as_ref().map(position), local);
        }

        /// Another connection's op keeps a stored integer cursor on the same
        /// character when that character survives.
        #[test]
        fn others_inserts_keep_the_cursor_on_its_character(
            len in 1..40usize, cursor_at in 0..40usize, insert_at in 0..40usize, n in 1..5usize,
        ) {
            let cursor_at = cursor_at % len;
            let insert_at = insert_at % (len + 1);
            let text: Vec<char> = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let op = insert(len, insert_at, &"#".repeat(n));
            let after: Vec<char> = op.apply(&text.iter().collect::<String>()).unwrap().chars().collect();
            let mut c = cursor(cursor_at, 0);
            c.apply(ME, &AppliedOp { field: "body".into(), op, author: Some((OTHER, 1)) });
            prop_assert_eq!(after[position(&c)], text[cursor_at]);
        }
    }
}
