//! One document's state, with no actix in it: named text fields edited with
//! OT (each a [`RevisionLog`]), plain structured fields with per-field
//! versions and conflict detection, per-user undo/redo, and snapshots.
//!
//! Longer than 500 lines because of its tests: about 457 lines of code and
//! 109 lines of unit tests.
//!
//! The document `version` counts every applied change (edit, undo, redo,
//! set); it is what history and "the document as of version N" refer to.
//! Text revisions are per field and are what OT clients track.

use super::history::{ClientRecord, HistoryError, RevisionLog};
use super::ot::TextOperation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A structured (non-text) field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueField {
    /// Current value.
    pub value: serde_json::Value,
    /// Bumped on every change; clients send the version they last saw.
    pub version: u64,
    /// Who changed it last.
    pub updated_by: String,
}

/// A text field in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextField {
    /// The text.
    pub text: String,
    /// Its OT revision.
    pub revision: u64,
}

/// The persisted form of a document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Document version.
    pub version: u64,
    /// Text fields.
    pub texts: BTreeMap<String, TextField>,
    /// Structured fields.
    pub values: BTreeMap<String, ValueField>,
    /// Per text field, each client's last applied sequence number, so that
    /// a client that resends an operation after the document was reloaded
    /// from this snapshot gets it acknowledged as a duplicate, not applied
    /// twice. Stored only (never sent to clients); absent in snapshots
    /// written before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clients: BTreeMap<String, BTreeMap<String, ClientRecord>>,
}

/// An applied change, as stored in collaboration_events and replayed on load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A text op (already transformed) that produced `revision`.
    Text {
        /// Field.
        field: String,
        /// Revision it produced.
        revision: u64,
        /// The op as applied.
        op: TextOperation,
        /// Sending client (dedupe survives restarts).
        client_id: String,
        /// Client sequence number.
        seq: u64,
    },
    /// A structured field set to `value` at `field_version`.
    Value {
        /// Field.
        field: String,
        /// New value.
        value: serde_json::Value,
        /// Field version it produced.
        field_version: u64,
    },
}

/// Result of an edit, undo or redo.
#[derive(Debug, Clone, PartialEq)]
pub struct TextApplied {
    /// Field.
    pub field: String,
    /// The field's new revision.
    pub revision: u64,
    /// The document's new version.
    pub version: u64,
    /// The op as applied (transformed), to broadcast.
    pub op: TextOperation,
    /// A resend of an op already applied: do not broadcast again.
    pub duplicate: bool,
    /// What to store.
    pub change: Change,
}

impl TextApplied {
    /// The result for `op` applied to `field` at `revision` by a client.
    #[allow(clippy::too_many_arguments)]
    fn new(
        field: &str,
        revision: u64,
        version: u64,
        op: TextOperation,
        client_id: &str,
        seq: u64,
        duplicate: bool,
    ) -> Self {
        TextApplied {
            field: field.to_owned(),
            revision,
            version,
            change: Change::Text {
                field: field.to_owned(),
                revision,
                op: op.clone(),
                client_id: client_id.to_owned(),
                seq,
            },
            op,
            duplicate,
        }
    }
}

/// Result of a structured set.
#[derive(Debug, Clone, PartialEq)]
pub enum SetResult {
    /// Applied at this field version and document version.
    Applied {
        /// New field version.
        field_version: u64,
        /// New document version.
        version: u64,
        /// What to store.
        change: Change,
    },
    /// The field changed since the client's version.
    Conflict {
        /// The field as it is now.
        current: ValueField,
    },
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocError {
    /// The OT history refused it (resync, bad op).
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The field exists with the other kind (text vs structured).
    #[error("field `{0}` is not a {1} field")]
    WrongKind(String, &'static str),
    /// Nothing to undo or redo for this user and field.
    #[error("nothing to {0}")]
    NothingTo(&'static str),
    /// The change to undo is older than the kept history.
    #[error("that change is too old to {0}")]
    TooOld(&'static str),
}

/// An inverse op waiting on an undo or redo stack, based on `revision`.
#[derive(Debug, Clone)]
struct Inverse {
    revision: u64,
    op: TextOperation,
}

#[derive(Debug, Clone, Default)]
struct UndoStacks {
    /// Oldest first; a deque, so dropping the oldest past `MAX_UNDO` on
    /// every edit does not move the rest.
    undo: VecDeque<Inverse>,
    redo: VecDeque<Inverse>,
}

/// Undo entries kept per user and field.
const MAX_UNDO: usize = 100;

/// A document.
#[derive(Debug, Clone)]
pub struct Document {
    version: u64,
    texts: BTreeMap<String, RevisionLog>,
    values: BTreeMap<String, ValueField>,
    undo: HashMap<(String, String), UndoStacks>,
    undo_seq: u64,
    max_history: usize,
}

impl Document {
    /// An empty document keeping `max_history` ops per text field.
    pub fn new(max_history: usize) -> Self {
        Document {
            version: 0,
            texts: BTreeMap::new(),
            values: BTreeMap::new(),
            undo: HashMap::new(),
            undo_seq: 0,
            max_history,
        }
    }

    /// A document from a snapshot (no op history before it).
    pub fn restore(snapshot: Snapshot, max_history: usize) -> Self {
        let mut doc = Document::new(max_history);
        doc.version = snapshot.version;
        doc.values = snapshot.values;
        for (name, field) in snapshot.texts {
            let mut log = RevisionLog::new(field.text, field.revision, max_history);
            for (client, record) in snapshot.clients.get(&name).into_iter().flatten() {
                log.restore_client(client, *record);
            }
            doc.texts.insert(name, log);
        }
        doc
    }

    /// Re-applies a stored change on load.
    pub fn replay(&mut self, change: &Change, author: &str) -> Result<(), DocError> {
        match change {
            Change::Text {
                field,
                revision,
                op,
                client_id,
                seq,
            } => {
                let log = self.text_log(field)?;
                let base = revision.saturating_sub(1);
                log.apply_client_op(base, op.clone(), author, client_id, *seq)?;
            }
            Change::Value {
                field,
                value,
                field_version,
            } => {
                self.values.insert(
                    field.clone(),
                    ValueField {
                        value: value.clone(),
                        version: *field_version,
                        updated_by: author.to_owned(),
                    },
                );
            }
        }
        self.version += 1;
        Ok(())
    }

    /// Current document version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The persisted form.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: self.version,
            texts: self
                .texts
                .iter()
                .map(|(k, log)| {
                    (
                        k.clone(),
                        TextField {
                            text: log.text().to_owned(),
                            revision: log.revision(),
                        },
                    )
                })
                .collect(),
            values: self.values.clone(),
            clients: self
                .texts
                .iter()
                .filter(|(_, log)| log.client_records().next().is_some())
                .map(|(k, log)| {
                    let records = log
                        .client_records()
                        .map(|(c, r)| (c.to_owned(), r))
                        .collect();
                    (k.clone(), records)
                })
                .collect(),
        }
    }

    /// A text field's log, created empty on first use.
    fn text_log(&mut self, field: &str) -> Result<&mut RevisionLog, DocError> {
        if self.values.contains_key(field) {
            return Err(DocError::WrongKind(field.to_owned(), "text"));
        }
        Ok(self
            .texts
            .entry(field.to_owned())
            .or_insert_with(|| RevisionLog::new(String::new(), 0, self.max_history)))
    }

    /// Text and revision of a field, if it exists.
    pub fn text(&self, field: &str) -> Option<(&str, u64)> {
        self.texts.get(field).map(|l| (l.text(), l.revision()))
    }

    /// Transforms a cursor index in `field` from `base_revision` to now.
    pub fn transform_index(&self, field: &str, base_revision: u64, index: usize) -> Option<usize> {
        self.texts
            .get(field)?
            .transform_index_since(base_revision, index)
            .ok()
    }

    /// Applies a client's op based on `base_revision` of `field`.
    pub fn edit(
        &mut self,
        field: &str,
        base_revision: u64,
        op: TextOperation,
        author: &str,
        client_id: &str,
        seq: u64,
    ) -> Result<TextApplied, DocError> {
        let log = self.text_log(field)?;
        let applied = log.apply_client_op(base_revision, op, author, client_id, seq)?;
        if applied.duplicate {
            return Ok(TextApplied::new(
                field,
                applied.revision,
                self.version,
                applied.op,
                client_id,
                seq,
                true,
            ));
        }
        let inverse = applied.inverse;
        let stacks = self
            .undo
            .entry((author.to_owned(), field.to_owned()))
            .or_default();
        stacks.undo.push_back(Inverse {
            revision: applied.revision,
            op: inverse,
        });
        if stacks.undo.len() > MAX_UNDO {
            stacks.undo.pop_front();
        }
        stacks.redo.clear();
        self.version += 1;
        Ok(TextApplied::new(
            field,
            applied.revision,
            self.version,
            applied.op,
            client_id,
            seq,
            false,
        ))
    }

    /// Undoes the user's latest op on `field` (by invert plus transform).
    pub fn undo(&mut self, author: &str, field: &str) -> Result<TextApplied, DocError> {
        self.step(author, field, true)
    }

    /// Redoes the user's latest undone op on `field`.
    pub fn redo(&mut self, author: &str, field: &str) -> Result<TextApplied, DocError> {
        self.step(author, field, false)
    }

    fn step(&mut self, author: &str, field: &str, undo: bool) -> Result<TextApplied, DocError> {
        let what = if undo { "undo" } else { "redo" };
        let key = (author.to_owned(), field.to_owned());
        let entry = {
            let stacks = self.undo.get_mut(&key).ok_or(DocError::NothingTo(what))?;
            let stack = if undo {
                &mut stacks.undo
            } else {
                &mut stacks.redo
            };
            stack.pop_back().ok_or(DocError::NothingTo(what))?
        };
        self.undo_seq += 1;
        let seq = self.undo_seq;
        let log = self.texts.get_mut(field).ok_or(DocError::NothingTo(what))?;
        // Bring the inverse up to date with everything applied since.
        let mut op = entry.op;
        let since = log
            .ops_since(entry.revision)
            .map_err(|_| DocError::TooOld(what))?;
        for later in since {
            let (_, transformed) =
                TextOperation::transform(&later.op, &op).map_err(HistoryError::from)?;
            op = transformed;
        }
        let client_id = format!("{what}:{author}");
        let applied = log.apply_client_op(log.revision(), op, author, &client_id, seq)?;
        let inverse = applied.inverse;
        let stacks = self.undo.entry(key).or_default();
        let other = if undo {
            &mut stacks.redo
        } else {
            &mut stacks.undo
        };
        other.push_back(Inverse {
            revision: applied.revision,
            op: inverse,
        });
        self.version += 1;
        Ok(TextApplied::new(
            field,
            applied.revision,
            self.version,
            applied.op,
            &client_id,
            seq,
            false,
        ))
    }

    /// Sets a structured field if the client saw its current version
    /// (0 for a field that does not exist yet).
    pub fn set(
        &mut self,
        field: &str,
        value: serde_json::Value,
        seen_version: u64,
        author: &str,
    ) -> Result<SetResult, DocError> {
        if self.texts.contains_key(field) {
            return Err(DocError::WrongKind(field.to_owned(), "structured"));
        }
        let current_version = self.values.get(field).map_or(0, |f| f.version);
        if seen_version != current_version {
            if let Some(current) = self.values.get(field) {
                return Ok(SetResult::Conflict {
                    current: current.clone(),
                });
            }
            return Ok(SetResult::Conflict {
                current: ValueField {
                    value: serde_json::Value::Null,
                    version: 0,
                    updated_by: String::new(),
                },
            });
        }
        let field_version = current_version + 1;
        self.values.insert(
            field.to_owned(),
            ValueField {
                value: value.clone(),
                version: field_version,
                updated_by: author.to_owned(),
            },
        );
        self.version += 1;
        Ok(SetResult::Applied {
            field_version,
            version: self.version,
            change: Change::Value {
                field: field.to_owned(),
                value,
                field_version,
            },
        })
    }

    /// Forgets a client's dedupe state (it disconnected for good).
    pub fn forget_client(&mut self, client_id: &str) {
        for log in self.texts.values_mut() {
            log.forget_client(client_id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn op(json: &str) -> TextOperation {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn concurrent_edits_transform_and_versions_count() {
        let mut d = Document::new(100);
        let a = d.edit("body", 0, op(r#"["hello"]"#), "a", "ca", 1).unwrap();
        assert_eq!((a.revision, a.version), (1, 1));
        // b edits based on revision 1 at the same time as a's second edit.
        d.edit("body", 1, op(r#"[5, " world"]"#), "a", "ca", 2)
            .unwrap();
        let b = d.edit("body", 1, op(r#"["> ", 5]"#), "b", "cb", 1).unwrap();
        assert_eq!(d.text("body"), Some(("> hello world", 3)));
        assert_eq!(b.version, 3);
        assert_eq!(b.op, op(r#"["> ", 11]"#));
    }

    #[test]
    fn undo_and_redo_follow_later_edits_of_others() {
        let mut d = Document::new(100);
        d.edit("t", 0, op(r#"["abc"]"#), "a", "ca", 1).unwrap();
        d.edit("t", 1, op(r#"[3, "XYZ"]"#), "a", "ca", 2).unwrap();
        d.edit("t", 2, op(r#"["> ", 6]"#), "b", "cb", 1).unwrap();
        assert_eq!(d.text("t").unwrap().0, "> abcXYZ");
        d.undo("a", "t").unwrap();
        assert_eq!(d.text("t").unwrap().0, "> abc");
        d.redo("a", "t").unwrap();
        assert_eq!(d.text("t").unwrap().0, "> abcXYZ");
        d.undo("a", "t").unwrap();
        d.undo("a", "t").unwrap();
        assert_eq!(d.text("t").unwrap().0, "> ");
        assert_eq!(d.undo("a", "t"), Err(DocError::NothingTo("undo")));
        assert_eq!(d.undo("b", "nope"), Err(DocError::NothingTo("undo")));
    }

    #[test]
    fn set_detects_conflicts() {
        let mut d = Document::new(10);
        assert!(matches!(
            d.set("amount", 5.into(), 0, "a").unwrap(),
            SetResult::Applied {
                field_version: 1,
                ..
            }
        ));
        match d.set("amount", 7.into(), 0, "b").unwrap() {
            SetResult::Conflict { current } => {
                assert_eq!(current.value, serde_json::json!(5));
                assert_eq!(current.updated_by, "a");
                assert_eq!(current.version, 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            d.set("amount", 7.into(), 1, "b").unwrap(),
            SetResult::Applied {
                field_version: 2,
                ..
            }
        ));
        assert!(matches!(
            d.edit("amount", 0, op(r#"["x"]"#), "a", "c", 1),
            Err(DocError::WrongKind(..))
        ));
    }

    #[test]
    fn snapshot_plus_replay_restores_the_same_state() {
        let mut d = Document::new(100);
        let mut changes = Vec::new();
        changes.push(
            d.edit("t", 0, op(r#"["héllo 🌍"]"#), "a", "ca", 1)
                .unwrap()
                .change,
        );
        let snap = d.snapshot();
        changes.clear();
        changes.push(
            d.edit("t", 1, op(r#"[7, "!"]"#), "a", "ca", 2)
                .unwrap()
                .change,
        );
        if let SetResult::Applied { change, .. } = d.set("n", 1.into(), 0, "a").unwrap() {
            changes.push(change);
        }
        let mut restored = Document::restore(snap, 100);
        for c in &changes {
            restored.replay(c, "a").unwrap();
        }
        assert_eq!(restored.snapshot(), d.snapshot());
        // Dedupe survives: the same client op again is a duplicate.
        let again = restored
            .edit("t", 1, op(r#"[7, "!"]"#), "a", "ca", 2)
            .unwrap();
        assert!(again.duplicate);
        // Changes round-trip through JSON (they are stored as JSONB).
        for c in &changes {
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(&serde_json::from_value::<Change>(json).unwrap(), c);
        }
    }

    #[test]
    fn a_resend_after_a_reload_from_a_snapshot_is_a_duplicate() {
        let mut d = Document::new(100);
        d.edit("t", 0, op(r#"["abc"]"#), "a", "ca", 1).unwrap();
        d.edit("t", 1, op(r#"[3, "d"]"#), "b", "cb", 7).unwrap();
        // The snapshot goes through JSON, as it is stored (JSONB).
        let json = serde_json::to_value(d.snapshot()).unwrap();
        let mut restored = Document::restore(serde_json::from_value(json).unwrap(), 100);
        // Client cb never saw its ack (say the session was reloaded) and
        // resends seq 7: acknowledged at its revision, applied once.
        let again = restored
            .edit("t", 1, op(r#"[3, "d"]"#), "b", "cb", 7)
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.revision, 2);
        assert_eq!(restored.text("t"), Some(("abcd", 2)));
        // An older sequence number than the last is refused, not applied.
        assert!(restored
            .edit("t", 0, op(r#"["abc"]"#), "a", "ca", 0)
            .is_err());
        // Snapshots written before the field existed still load.
        let old = serde_json::json!({"version": 2, "texts": {"t": {"text": "abcd", "revision": 2}}, "values": {}});
        let old: Snapshot = serde_json::from_value(old).unwrap();
        assert_eq!(Document::restore(old, 100).text("t"), Some(("abcd", 2)));
    }
}
