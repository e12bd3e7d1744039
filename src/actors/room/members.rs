//! The room's members by user (pure): each user's connections here (and,
//! in a cluster, on the other nodes) and their `MemberView`, serialized once when the user's devices change.
//!
//! A join into a room of m members answers the joiner with every member
//! (`room:users`) and tells the others who joined. Built from the member
//! list each time, that is O(m) allocations and serde work per join, so a
//! connect storm into one big room is quadratic in serde. Here each user's
//! view is JSON kept ready (an `Arc<RawValue>`, shared by every frame that
//! lists it) and rebuilt only when that user's devices change, so a join
//! costs one small serialization plus copying the ready fragments.

use crate::ids::{ConnectionId, UserId};
use crate::presence_state::color_for;
use crate::protocol::server::{DeviceView, MemberView};
use crate::small_map::SmallMap;
use serde_json::value::RawValue;
use std::sync::Arc;

/// A member user's view, as JSON ready to embed in a frame.
pub type MemberJson = Arc<RawValue>;

/// A member connection: local (`node: None`) or of another node of the
/// cluster (connection ids count per node, so they are told apart by node).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberKey {
    /// The node of a remote connection.
    pub node: Option<Arc<str>>,
    /// The connection id on its node.
    pub conn: ConnectionId,
}

impl MemberKey {
    /// A connection of this node.
    pub fn local(conn: ConnectionId) -> Self {
        MemberKey { node: None, conn }
    }
}

/// One user's connections in the room and their view.
struct UserEntry {
    name: Arc<str>,
    /// Small-first: most users are here with one device.
    devices: SmallMap<MemberKey, DeviceView>,
    json: Option<MemberJson>,
}

impl UserEntry {
    fn view(&self, user: &UserId) -> MemberView {
        MemberView {
            user_id: user.to_string(),
            name: self.name.to_string(),
            color: color_for(user.as_str()),
            devices: self.devices.values().cloned().collect(),
        }
    }
}

/// Members by user id (in user id order, as `room:users` lists them).
#[derive(Default)]
pub struct MemberIndex {
    users: SmallMap<UserId, Box<UserEntry>>,
}

impl MemberIndex {
    /// Records a connection of `user`; its view is rebuilt.
    pub fn add(&mut self, conn: MemberKey, user: &UserId, name: &Arc<str>, device: DeviceView) {
        let entry = self.users.get_or_insert_with(user.clone(), || {
            Box::new(UserEntry {
                name: name.clone(),
                devices: SmallMap::new(),
                json: None,
            })
        });
        entry.devices.insert(conn, device);
        entry.json = None;
    }

    /// Forgets a connection of `user`; true when it was the user's last here.
    pub fn remove(&mut self, conn: MemberKey, user: &UserId) -> bool {
        let Some(entry) = self.users.get_mut(user) else {
            return true;
        };
        entry.devices.remove(&conn);
        entry.json = None;
        if entry.devices.is_empty() {
            self.users.remove(user);
            return true;
        }
        false
    }

    /// Whether nobody is here.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// One user's view as JSON (serialized now if its devices changed).
    pub fn json(&mut self, user: &UserId) -> Option<MemberJson> {
        let entry = self.users.get_mut(user)?;
        if entry.json.is_none() {
            entry.json = to_json(&entry.view(user));
        }
        entry.json.clone()
    }

    /// How many users are members.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Up to `limit` member users' views as JSON, by user id, starting
    /// after the user id `after`; with the last listed id when more follow
    /// (the next page's `after`).
    pub fn page_json(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<MemberJson>, Option<String>) {
        use std::ops::Bound;
        let after = after.map(UserId::new);
        let start = match &after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let mut out = Vec::with_capacity(limit.min(self.users.len()));
        let mut last = None;
        let mut more = false;
        for (user, entry) in self.users.range_mut_from(start) {
            if out.len() == limit {
                more = true;
                break;
            }
            if entry.json.is_none() {
                entry.json = to_json(&entry.view(user));
            }
            if let Some(json) = &entry.json {
                out.push(json.clone());
                last = Some(user);
            }
        }
        let next_after = if more {
            last.map(|u| u.to_string())
        } else {
            None
        };
        (out, next_after)
    }

    /// Every member user's view, by user id (REST and tests).
    pub fn views(&self) -> Vec<MemberView> {
        self.users.iter().map(|(u, e)| e.view(u)).collect()
    }
}

fn to_json(view: &MemberView) -> Option<MemberJson> {
    match serde_json::value::to_raw_value(view) {
        Ok(raw) => Some(raw.into()),
        Err(e) => {
            // A view of strings cannot fail to serialize; if it ever did,
            // the member is left out of lists rather than failing the room.
            log::error!("member view for {}: {e}", view.user_id);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn device(conn: u64) -> DeviceView {
        DeviceView {
            connection_id: ConnectionId(conn).to_string(),
            device_type: "desktop".into(),
            browser: None,
            location: None,
        }
    }

    fn user(n: u8) -> UserId {
        UserId::new(format!("u{n}"))
    }

    #[test]
    fn json_matches_the_view_and_follows_device_changes() {
        let mut idx = MemberIndex::default();
        let name: Arc<str> = "Ann".into();
        idx.add(
            MemberKey::local(ConnectionId(2)),
            &user(1),
            &name,
            device(2),
        );
        idx.add(
            MemberKey::local(ConnectionId(1)),
            &user(1),
            &name,
            device(1),
        );
        let json: serde_json::Value =
            serde_json::from_str(idx.json(&user(1)).unwrap().get()).unwrap();
        assert_eq!(json, serde_json::to_value(&idx.views()[0]).unwrap());
        assert_eq!(
            json["devices"][0]["connection_id"],
            ConnectionId(1).to_string()
        );
        assert!(!idx.remove(MemberKey::local(ConnectionId(1)), &user(1)));
        let json: serde_json::Value =
            serde_json::from_str(idx.json(&user(1)).unwrap().get()).unwrap();
        assert_eq!(json["devices"].as_array().unwrap().len(), 1);
        assert!(idx.remove(MemberKey::local(ConnectionId(2)), &user(1)));
        assert!(idx.json(&user(1)).is_none());
        assert!(idx.is_empty());
    }

    #[test]
    fn the_same_connection_id_on_two_nodes_is_two_devices() {
        let mut idx = MemberIndex::default();
        let name: Arc<str> = "Ann".into();
        let here = MemberKey::local(ConnectionId(3));
        let there = MemberKey {
            node: Some(Arc::from("node-b")),
            conn: ConnectionId(3),
        };
        idx.add(here.clone(), &user(1), &name, device(3));
        idx.add(there.clone(), &user(1), &name, device(3));
        assert_eq!(idx.views()[0].devices.len(), 2);
        assert!(!idx.remove(here, &user(1)), "still on the other node");
        assert!(idx.remove(there, &user(1)), "gone from every node");
        assert!(idx.is_empty());
    }

    proptest! {
        /// Pages of any size walk every member once, in user id order.
        #[test]
        fn pages_walk_every_member_once(n in 0u8..40, limit in 1usize..12) {
            let mut idx = MemberIndex::default();
            for u in 0..n {
                idx.add(MemberKey::local(ConnectionId(u64::from(u))), &user(u), &Arc::from("N"), device(u64::from(u)));
            }
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let (page, next) = idx.page_json(after.as_deref(), limit);
                prop_assert!(page.len() <= limit);
                for j in &page {
                    let v: serde_json::Value = serde_json::from_str(j.get()).unwrap();
                    seen.push(v["user_id"].as_str().unwrap().to_owned());
                }
                match next {
                    Some(id) => {
                        prop_assert_eq!(page.len(), limit);
                        prop_assert_eq!(Some(&id), seen.last());
                        after = Some(id);
                    }
                    None => break,
                }
            }
            let mut expected: Vec<String> = (0..n).map(|u| user(u).to_string()).collect();
            expected.sort();
            prop_assert_eq!(seen, expected);
            prop_assert_eq!(idx.user_count(), usize::from(n));
        }

        /// Whatever the order of joins and leaves, the ready JSON is the
        /// view built from scratch (the way `room:users` was built before).
        #[test]
        fn ready_json_equals_fresh_views(ops in prop::collection::vec((0u8..6, 0u64..12, any::<bool>()), 0..80)) {
            let mut idx = MemberIndex::default();
            let mut conns: std::collections::BTreeMap<u64, u8> = std::collections::BTreeMap::new();
            for (u, c, join) in ops {
                if join {
                    if conns.contains_key(&c) { continue; }
                    conns.insert(c, u);
                    idx.add(MemberKey::local(ConnectionId(c)), &user(u), &Arc::from(format!("N{u}")), device(c));
                } else if let Some(owner) = conns.remove(&c) {
                    let last = idx.remove(MemberKey::local(ConnectionId(c)), &user(owner));
                    prop_assert_eq!(last, !conns.values().any(|o| *o == owner));
                }
                let ready: Vec<serde_json::Value> = idx
                    .page_json(None, usize::MAX)
                    .0
                    .iter()
                    .map(|j| serde_json::from_str(j.get()).unwrap())
                    .collect();
                let fresh: Vec<serde_json::Value> =
                    idx.views().iter().map(|v| serde_json::to_value(v).unwrap()).collect();
                prop_assert_eq!(ready, fresh);
            }
        }
    }
}
