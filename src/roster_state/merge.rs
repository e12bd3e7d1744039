//! One presence per user across the nodes of a cluster, as a plain struct
//! (no actix, no Redis). Each node reports its own users ([`NodeView`],
//! tagged with a per-node sequence number); [`Merged`] keeps one entry per
//! (node, user) and shows one merged view per user ([`merge`]):
//!
//! - **devices**: the devices of every node;
//! - **last activity**, name and colour: from the most recently active node;
//! - **status**: the most recently chosen status (`presence:status` or
//!   REST, on any node) when it is `busy` or `away`; otherwise `online` if
//!   any node sees the user online (not idle), else `away`;
//! - **location**: the one most recently set on any node;
//! - **offline** only when no node has the user.
//!
//! With one node the merged view is that node's view, unchanged.
//!
//! Ordering: entries carry the sequence number their node gave them, and an
//! older one never replaces a newer one (a snapshot read from Redis may
//! cross live updates). While a snapshot is in flight
//! ([`Merged::begin_snapshot`] to [`Merged::apply_snapshot`]) a removal
//! leaves a tombstone, so a snapshot read before the removal cannot bring
//! the entry back.

use crate::presence_state::device_key;
use crate::protocol::server::PresenceView;
use crate::small_map::{SmallHashMap, SmallMap};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// A status the user chose, and when (RFC 3339, UTC, milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// `online`, `busy` or `away`.
    pub status: String,
    /// When it was chosen.
    pub at: String,
}

/// What one node shows of one of its users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// The user's presence on that node.
    pub view: PresenceView,
    /// The last status the user chose on that node.
    #[serde(default)]
    pub choice: Option<Choice>,
    /// When that node's location was last set (RFC 3339).
    #[serde(default)]
    pub location_at: Option<String>,
}

/// The merged presence of one user from the views of every node that has
/// them (in a stable order); `None` when there are none.
pub fn merge<'a>(entries: impl IntoIterator<Item = &'a NodeView>) -> Option<PresenceView> {
    let all: Vec<&NodeView> = entries.into_iter().collect();
    let latest = *all
        .iter()
        .max_by(|a, b| a.view.last_activity_at.cmp(&b.view.last_activity_at))?;
    if all.len() == 1 {
        return Some(latest.view.clone());
    }
    let choice = all
        .iter()
        .filter_map(|e| e.choice.as_ref())
        .max_by(|a, b| a.at.cmp(&b.at));
    let status = match choice.map(|c| c.status.as_str()) {
        Some("busy") => "busy",
        Some("away") => "away",
        _ if all.iter().any(|e| e.view.status == "online") => "online",
        _ => "away",
    };
    let location = all
        .iter()
        .filter(|e| e.view.location.is_some())
        .max_by(|a, b| a.location_at.cmp(&b.location_at))
        .and_then(|e| e.view.location.clone());
    let mut devices: Vec<_> = all
        .iter()
        .flat_map(|e| e.view.devices.iter().cloned())
        .collect();
    devices.sort_by(|a, b| device_key(a).cmp(&device_key(b)));
    Some(PresenceView {
        user_id: latest.view.user_id.clone(),
        name: latest.view.name.clone(),
        status,
        color: latest.view.color.clone(),
        last_activity_at: latest.view.last_activity_at.clone(),
        location,
        devices,
    })
}

/// What applying an entry did.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // returned and matched at once, never stored
pub enum Applied {
    /// It was older than what is known: nothing changed.
    Stale,
    /// The user's merged view now (`None`: offline on every node).
    Now(Option<PresenceView>),
}

/// One (node, user) entry.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    /// [`Merged::version`] when it was last written.
    version: u64,
    view: NodeView,
}

/// Every node's entries for one tenant, merged per user.
#[derive(Debug, Default)]
pub struct Merged {
    /// user → node → entry (small-first: a user is usually on one or two
    /// nodes).
    users: SmallHashMap<String, SmallMap<String, Entry>>,
    /// node → its users.
    by_node: SmallHashMap<String, SmallHashMap<String, ()>>,
    /// (node, user) → sequence number of its removal.
    tombstones: HashMap<(String, String), u64>,
    /// Counts writes, to tell what changed after a snapshot was asked for.
    version: u64,
    /// Snapshots asked for and not yet applied.
    snapshots: usize,
}

impl Merged {
    /// Nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot of the hash is being asked for now: returns what to
    /// pass to [`Merged::apply_snapshot`] with its result (or with `None`
    /// if it failed).
    pub fn begin_snapshot(&mut self) -> u64 {
        self.snapshots += 1;
        self.version
    }

    /// The user's merged view.
    pub fn merged(&self, user: &str) -> Option<PresenceView> {
        merge(self.users.get(user)?.values().map(|e| &e.view))
    }

    /// A node's entry for a user.
    pub fn get(&self, node: &str, user: &str) -> Option<&NodeView> {
        Some(&self.users.get(user)?.get(node)?.view)
    }

    /// The nodes with entries, except `except`.
    pub fn nodes_except(&self, except: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_node
            .keys()
            .filter(|n| *n != except)
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// A node's users.
    pub fn users_of(&self, node: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_node
            .get(node)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A node's entry for `user` (`None`: the user left that node), with
    /// the node's sequence number for it.
    pub fn apply(&mut self, node: &str, user: &str, seq: u64, view: Option<NodeView>) -> Applied {
        let key = (node.to_owned(), user.to_owned());
        if self.tombstones.get(&key).is_some_and(|&t| t >= seq) {
            return Applied::Stale;
        }
        let known = self
            .users
            .get(user)
            .and_then(|m| m.get(node))
            .map(|e| e.seq);
        if known.is_some_and(|k| k >= seq) {
            return Applied::Stale;
        }
        self.version += 1;
        match view {
            Some(view) => {
                self.tombstones.remove(&key);
                let entry = Entry {
                    seq,
                    version: self.version,
                    view,
                };
                self.users
                    .get_or_insert_with(user.to_owned(), SmallMap::new)
                    .insert(node.to_owned(), entry);
                self.by_node
                    .get_or_insert_with(node.to_owned(), SmallHashMap::new)
                    .insert(user.to_owned(), ());
            }
            None => {
                if self.snapshots > 0 {
                    self.tombstones.insert(key, seq);
                }
                self.forget(node, user);
            }
        }
        Applied::Now(self.merged(user))
    }

    /// Drops every entry of a node (it died); returns the users whose
    /// merged view changed, with that view.
    pub fn drop_node(&mut self, node: &str) -> Vec<(String, Option<PresenceView>)> {
        let users = self.users_of(node);
        if !users.is_empty() {
            self.version += 1;
        }
        users
            .into_iter()
            .map(|u| {
                self.forget(node, &u);
                let now = self.merged(&u);
                (u, now)
            })
            .collect()
    }

    /// Reconciles with a snapshot of the other nodes' entries (`node`,
    /// `user`, `seq`, view) asked for when [`Merged::begin_snapshot`]
    /// returned `asked_at` (`None`: it failed): newer entries are applied,
    /// and entries of other nodes than `own` that the snapshot lacks and
    /// that were not written since are dropped (their removal was missed).
    /// Returns the users whose view may have changed, with their merged view.
    pub fn apply_snapshot(
        &mut self,
        own: &str,
        asked_at: u64,
        entries: Option<Vec<(String, String, u64, NodeView)>>,
    ) -> Vec<(String, Option<PresenceView>)> {
        let out = match entries {
            Some(entries) => self.reconcile(own, asked_at, entries),
            None => Vec::new(),
        };
        self.snapshots = self.snapshots.saturating_sub(1);
        if self.snapshots == 0 {
            self.tombstones.clear();
        }
        out
    }

    fn reconcile(
        &mut self,
        own: &str,
        asked_at: u64,
        entries: Vec<(String, String, u64, NodeView)>,
    ) -> Vec<(String, Option<PresenceView>)> {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut out = Vec::new();
        for (node, user, seq, view) in entries {
            if node == own {
                continue;
            }
            seen.insert((node.clone(), user.clone()));
            if let Applied::Now(v) = self.apply(&node, &user, seq, Some(view)) {
                out.push((user, v));
            }
        }
        let missing: Vec<(String, String)> = self
            .users
            .iter()
            .flat_map(|(u, m)| {
                m.iter()
                    .filter(|(n, e)| *n != own && e.version <= asked_at)
                    .map(move |(n, _)| (n.clone(), u.clone()))
            })
            .filter(|k| !seen.contains(k))
            .collect();
        for (node, user) in missing {
            self.version += 1;
            self.forget(&node, &user);
            let now = self.merged(&user);
            out.push((user, now));
        }
        out
    }

    fn forget(&mut self, node: &str, user: &str) {
        if let Some(m) = self.users.get_mut(user) {
            m.remove(node);
            if m.is_empty() {
                self.users.remove(user);
            }
        }
        if let Some(s) = self.by_node.get_mut(node) {
            s.remove(user);
            if s.is_empty() {
                self.by_node.remove(node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::protocol::server::{LocationView, PresenceDeviceView};

    fn nv(user: &str, status: &'static str, at: &str, device: &str) -> NodeView {
        NodeView {
            view: PresenceView {
                user_id: user.into(),
                name: user.to_uppercase(),
                status,
                color: "#000000".into(),
                last_activity_at: at.into(),
                location: None,
                devices: vec![PresenceDeviceView {
                    device_type: device.into(),
                    browser: None,
                    location: None,
                }],
            },
            choice: None,
            location_at: None,
        }
    }

    fn choose(mut v: NodeView, status: &str, at: &str) -> NodeView {
        v.choice = Some(Choice {
            status: status.into(),
            at: at.into(),
        });
        v
    }

    #[test]
    fn one_node_is_its_view_unchanged() {
        let mut m = Merged::new();
        let v = nv("a", "away", "2026-01-01T00:00:00.000Z", "desktop");
        assert_eq!(
            m.apply("n1", "a", 1, Some(v.clone())),
            Applied::Now(Some(v.view))
        );
    }

    #[test]
    fn devices_of_every_node_make_one_user_offline_only_when_none_has_it() {
        let mut m = Merged::new();
        m.apply(
            "n1",
            "a",
            1,
            Some(nv("a", "away", "2026-01-01T00:00:01.000Z", "mobile")),
        );
        let Applied::Now(Some(v)) = m.apply(
            "n2",
            "a",
            2,
            Some(nv("a", "online", "2026-01-01T00:00:02.000Z", "desktop")),
        ) else {
            panic!("merged");
        };
        assert_eq!(v.status, "online", "online on one node is online");
        assert_eq!(v.last_activity_at, "2026-01-01T00:00:02.000Z");
        let types: Vec<&str> = v.devices.iter().map(|d| d.device_type.as_str()).collect();
        assert_eq!(types, ["desktop", "mobile"]);
        let Applied::Now(Some(v)) = m.apply("n2", "a", 3, None) else {
            panic!("still online on n1");
        };
        assert_eq!(v.devices.len(), 1);
        assert_eq!(m.apply("n1", "a", 4, None), Applied::Now(None));
    }

    #[test]
    fn the_latest_choice_wins() {
        let a = choose(
            nv("a", "busy", "2026-01-01T00:00:01.000Z", "d"),
            "busy",
            "2026-01-01T00:00:01.000Z",
        );
        let b = nv("a", "online", "2026-01-01T00:00:05.000Z", "m");
        assert_eq!(merge([&a, &b]).unwrap().status, "busy");
        let b = choose(b, "online", "2026-01-01T00:00:06.000Z");
        assert_eq!(merge([&a, &b]).unwrap().status, "online");
        let mut idle = b.clone();
        idle.view.status = "away";
        assert_eq!(merge([&a, &idle]).unwrap().status, "away");
    }

    #[test]
    fn the_most_recent_location_wins() {
        let loc = |id: &str| LocationView {
            entity_type: Some("doc".into()),
            entity_id: Some(id.into()),
            page: None,
        };
        let mut a = nv("a", "online", "2026-01-01T00:00:09.000Z", "d");
        a.view.location = Some(loc("1"));
        a.location_at = Some("2026-01-01T00:00:01.000Z".into());
        let mut b = nv("a", "online", "2026-01-01T00:00:02.000Z", "m");
        b.view.location = Some(loc("2"));
        b.location_at = Some("2026-01-01T00:00:02.000Z".into());
        assert_eq!(merge([&a, &b]).unwrap().location, Some(loc("2")));
    }

    #[test]
    fn older_entries_and_removals_never_win() {
        let mut m = Merged::new();
        let v = nv("a", "online", "t", "d");
        m.apply("n1", "a", 5, Some(v.clone()));
        assert_eq!(m.apply("n1", "a", 4, None), Applied::Stale);
        // A snapshot read before the removal does not bring it back.
        let asked = m.begin_snapshot();
        m.apply("n1", "a", 6, None);
        let out = m.apply_snapshot(
            "me",
            asked,
            Some(vec![("n1".into(), "a".into(), 5, v.clone())]),
        );
        assert!(out.is_empty(), "{out:?}");
        assert!(m.merged("a").is_none());
        assert!(
            m.tombstones.is_empty(),
            "kept only while a snapshot is in flight"
        );
        m.apply("n1", "a", 7, Some(v));
        assert!(m.merged("a").is_some());
    }

    #[test]
    fn a_snapshot_drops_what_it_lacks_unless_written_since() {
        let mut m = Merged::new();
        m.apply("n1", "a", 1, Some(nv("a", "online", "t", "d")));
        m.apply("me", "m", 1, Some(nv("m", "online", "t", "d")));
        let asked = m.begin_snapshot();
        m.apply("n2", "b", 1, Some(nv("b", "online", "t", "d")));
        let out = m.apply_snapshot("me", asked, Some(Vec::new()));
        assert_eq!(out, vec![("a".to_owned(), None)]);
        assert!(
            m.merged("b").is_some(),
            "written after the snapshot was asked"
        );
        assert!(
            m.merged("m").is_some(),
            "own entries are not the snapshot's"
        );
    }

    #[test]
    fn a_dead_node_takes_its_users_along() {
        let mut m = Merged::new();
        m.apply("n1", "a", 1, Some(nv("a", "online", "t", "d")));
        m.apply("n1", "b", 2, Some(nv("b", "online", "t", "d")));
        m.apply("n2", "b", 1, Some(nv("b", "online", "t", "m")));
        assert_eq!(m.nodes_except("n2"), vec!["n1".to_owned()]);
        let mut out = m.drop_node("n1");
        out.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(out[0], ("a".to_owned(), None));
        assert_eq!(out[1].1.as_ref().unwrap().devices[0].device_type, "m");
        assert!(m.nodes_except("x").iter().all(|n| n != "n1"));
    }
}
