//! Who watches whom: connections (`watch`, `unwatch`), explicit
//! subscriptions, room members, and the per-connection bookkeeping of what
//! each interest-mode connection was shown. Part of [`Roster`]; the window,
//! the published state and `flush` are in the parent module.

use super::{Mode, Roster, SubscribeError, Uid, Watcher};
use crate::ids::{ConnectionId, RoomId};
use crate::small_map::SmallMap;
use std::collections::HashSet;

impl Roster {
    /// A connection opened. `wants_all` is false for `?presence=none`.
    pub fn watch(&mut self, conn: ConnectionId, user: &str, wants_all: bool) {
        let uid = self.interner.intern(user);
        let mut touched = HashSet::new();
        touched.insert(uid);
        self.user_conns
            .get_or_insert_with(user.to_owned(), SmallMap::new)
            .insert(conn, ());
        self.watchers.insert(
            conn,
            Box::new(Watcher {
                user: user.to_owned(),
                uid,
                wants_all,
                subs: HashSet::new(),
                rooms: SmallMap::new(),
                shown: HashSet::new(),
                touched,
            }),
        );
        self.dirty.insert(conn);
    }

    /// A connection closed.
    pub fn unwatch(&mut self, conn: ConnectionId) {
        let Some(w) = self.watchers.remove(&conn) else {
            return;
        };
        if let Some(set) = self.user_conns.get_mut(&w.user) {
            set.remove(&conn);
            if set.is_empty() {
                self.user_conns.remove(&w.user);
            }
        }
        for u in &w.subs {
            if let Some(set) = self.subscribers.get_mut(u) {
                set.remove(&conn);
                if set.is_empty() {
                    self.subscribers.remove(u);
                }
            }
        }
        for room in w.rooms.keys() {
            self.drop_member(room, conn, &w.user, w.uid);
        }
        self.dirty.remove(&conn);
    }

    pub(super) fn effective(&self, w: &Watcher) -> Mode {
        if w.wants_all {
            self.mode
        } else {
            Mode::Interest
        }
    }

    /// Whether `conn`'s watcher watches `user` (own user, subscription, shared room).
    pub(super) fn watches(&self, w: &Watcher, id: Uid) -> bool {
        if w.uid == id {
            return true;
        }
        let user = self.interner.name(id);
        if w.subs.contains(user) {
            return true;
        }
        self.user_rooms.get(user).is_some_and(|rooms| {
            w.rooms
                .keys()
                .any(|r| rooms.contains_key(r) && !self.large_rooms.contains(r))
        })
    }

    /// Marks `user` for re-evaluation on `conn` (interest mode only). A
    /// user never interned has never been online or connected here, so it
    /// can be neither shown nor online: there is nothing to re-evaluate
    /// (and ids a client merely names, in `presence:subscribe`, never grow
    /// the table). If it comes online later, the flush touches its
    /// subscribers then.
    pub(super) fn touch(&mut self, conn: ConnectionId, user: &str) {
        if let Some(id) = self.interner.ids.get(user).copied() {
            self.touch_id(conn, id);
        }
    }

    /// [`Roster::touch`] by interned id.
    pub(super) fn touch_id(&mut self, conn: ConnectionId, id: Uid) {
        let mode = self.mode;
        if let Some(w) = self.watchers.get_mut(&conn) {
            let interest = !w.wants_all || mode == Mode::Interest;
            if interest {
                w.touched.insert(id);
                self.dirty.insert(conn);
            }
        }
    }

    /// The list a connection gets now (and, in interest mode, what it is
    /// then known to have been shown).
    pub fn list_for(&mut self, conn: ConnectionId) -> Option<(Mode, Vec<String>)> {
        let w = self.watchers.get(&conn)?;
        let mode = self.effective(w);
        let ids: Vec<String> = match mode {
            Mode::All => self.users.keys().cloned().collect(),
            Mode::Interest => {
                let mut ids: Vec<String> = self
                    .watched_by(w)
                    .into_iter()
                    .filter(|u| self.users.contains_key(u))
                    .collect();
                ids.sort();
                ids
            }
        };
        let shown: HashSet<Uid> = match mode {
            Mode::All => HashSet::new(),
            Mode::Interest => ids.iter().map(|u| self.interner.intern(u)).collect(),
        };
        if let Some(w) = self.watchers.get_mut(&conn) {
            w.touched.clear();
            w.shown = shown;
        }
        Some((mode, ids))
    }

    /// Every user a watcher watches (online or not).
    fn watched_by(&self, w: &Watcher) -> HashSet<String> {
        let mut out: HashSet<String> = w.subs.clone();
        out.insert(w.user.clone());
        for room in w.rooms.keys().filter(|r| !self.large_rooms.contains(*r)) {
            if let Some(members) = self.room_members.get(room) {
                out.extend(
                    members
                        .values()
                        .map(|id| self.interner.name(*id).to_owned()),
                );
            }
            if let Some(remote) = self.remote_members.get(room) {
                out.extend(remote.iter().map(|id| self.interner.name(*id).to_owned()));
            }
        }
        out
    }

    /// The users of a room on other nodes.
    fn remote_of(&self, room: &RoomId) -> Vec<Uid> {
        self.remote_members
            .get(room)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Adds subscriptions; returns how many users the connection is
    /// subscribed to. Newly watched users who are online reach the
    /// connection in the next diff (interest mode).
    pub fn subscribe(
        &mut self,
        conn: ConnectionId,
        users: &[String],
    ) -> Result<usize, SubscribeError> {
        let max = self.max_subscriptions;
        let w = self
            .watchers
            .get_mut(&conn)
            .ok_or(SubscribeError::UnknownConnection)?;
        let new: HashSet<&String> = users.iter().filter(|u| !w.subs.contains(*u)).collect();
        if w.subs.len() + new.len() > max {
            return Err(SubscribeError::TooMany { max });
        }
        w.subs.extend(users.iter().cloned());
        let count = w.subs.len();
        for u in users {
            self.subscribers.entry(u.clone()).or_default().insert(conn);
            self.touch(conn, u);
        }
        Ok(count)
    }

    /// Removes subscriptions; returns how many remain.
    pub fn unsubscribe(&mut self, conn: ConnectionId, users: &[String]) -> usize {
        let Some(w) = self.watchers.get_mut(&conn) else {
            return 0;
        };
        let mut removed = Vec::new();
        for u in users {
            if w.subs.remove(u) {
                removed.push(u.clone());
            }
        }
        let remaining = w.subs.len();
        for u in removed {
            if let Some(set) = self.subscribers.get_mut(&u) {
                set.remove(&conn);
                if set.is_empty() {
                    self.subscribers.remove(&u);
                }
            }
            self.touch(conn, &u);
        }
        remaining
    }

    /// A connection's join of a room was confirmed.
    pub fn enter_room(&mut self, conn: ConnectionId, room: RoomId) {
        let Some(w) = self.watchers.get_mut(&conn) else {
            return;
        };
        if w.rooms.insert(room.clone(), ()).is_some() {
            return;
        }
        let (user, uid) = (w.user.clone(), w.uid);
        let room_key = room.clone();
        let large = self.large_rooms.contains(&room);
        let members = self
            .room_members
            .get_or_insert_with(room.clone(), SmallMap::new);
        // In a large room nobody watches by it: no pairs to touch (and no
        // O(members) copy per join, which a storm into one room would pay
        // m times).
        let others: Vec<(ConnectionId, Uid)> = if large {
            Vec::new()
        } else {
            members.iter().map(|(c, u)| (*c, *u)).collect()
        };
        members.insert(conn, uid);
        *self
            .user_rooms
            .get_or_insert_with(user.clone(), SmallMap::new)
            .get_or_insert_with(room, || 0) += 1;
        if self.check_room_size(&room_key) || self.large_rooms.contains(&room_key) {
            // Switched (every pair was touched), or too big to watch by.
            return;
        }
        for (other, other_user) in others {
            self.touch_id(other, uid);
            self.touch_id(conn, other_user);
        }
        for other_user in self.remote_of(&room_key) {
            self.touch_id(conn, other_user);
        }
    }

    /// A connection left a room.
    pub fn leave_room(&mut self, conn: ConnectionId, room: &RoomId) {
        let Some(w) = self.watchers.get_mut(&conn) else {
            return;
        };
        if w.rooms.remove(room).is_none() {
            return;
        }
        let (user, uid) = (w.user.clone(), w.uid);
        self.drop_member(room, conn, &user, uid);
    }

    fn drop_member(&mut self, room: &RoomId, conn: ConnectionId, user: &str, uid: Uid) {
        let mut others = Vec::new();
        let large = self.large_rooms.contains(room);
        if let Some(members) = self.room_members.get_mut(room) {
            members.remove(&conn);
            if !large {
                others = members.iter().map(|(c, u)| (*c, *u)).collect::<Vec<_>>();
            }
            if members.is_empty() {
                self.room_members.remove(room);
            }
        }
        if let Some(rooms) = self.user_rooms.get_mut(user) {
            if let Some(n) = rooms.get_mut(room) {
                *n -= 1;
                if *n == 0 {
                    rooms.remove(room);
                }
            }
            if rooms.is_empty() {
                self.user_rooms.remove(user);
            }
        }
        if self.check_room_size(room) || large {
            // Back to small (every pair was touched), or it was too big
            // for its members to watch each other: nothing to re-evaluate.
            return;
        }
        for (other, other_user) in others {
            self.touch_id(other, uid);
            self.touch_id(conn, other_user);
        }
        for other_user in self.remote_of(room) {
            self.touch_id(conn, other_user);
        }
    }

    /// The users with a connection in `room` on other nodes (a cluster),
    /// all of them: the room's members here watch them as they watch each
    /// other. Replaces what was set before for the room (an empty list
    /// forgets the room), so telling it again changes nothing.
    pub fn set_room_remote(&mut self, room: &RoomId, users: &[String]) {
        let now: HashSet<Uid> = users.iter().map(|u| self.interner.intern(u)).collect();
        let before = if now.is_empty() {
            self.remote_members.remove(room).unwrap_or_default()
        } else {
            self.remote_members
                .insert(room.clone(), now.clone())
                .unwrap_or_default()
        };
        // Quiet while the room stays too big to watch by; on a switch the
        // changed users are touched too (those who left are no longer
        // among the pairs the switch touched).
        let switched = self.check_room_size(room);
        let quiet = !switched && self.large_rooms.contains(room);
        for uid in now.difference(&before) {
            let user = self.interner.name(*uid).to_owned();
            *self
                .user_rooms
                .get_or_insert_with(user, SmallMap::new)
                .get_or_insert_with(room.clone(), || 0) += 1;
            if !quiet {
                self.touch_room(room, *uid);
            }
        }
        for uid in before.difference(&now) {
            let user = self.interner.name(*uid).to_owned();
            if let Some(rooms) = self.user_rooms.get_mut(&user) {
                if let Some(n) = rooms.get_mut(room) {
                    *n -= 1;
                    if *n == 0 {
                        rooms.remove(room);
                    }
                }
                if rooms.is_empty() {
                    self.user_rooms.remove(&user);
                }
            }
            if !quiet {
                self.touch_room(room, *uid);
            }
        }
    }

    /// Members of `room`: its connections here and its users on other nodes.
    fn room_size(&self, room: &RoomId) -> usize {
        self.room_members.get(room).map_or(0, |m| m.len())
            + self.remote_members.get(room).map_or(0, |m| m.len())
    }

    /// Re-checks `room` against `room_watch_max` (large above it, small
    /// again at 10 % below). On a switch every local member is touched with
    /// every member, so each connection's diff adds or drops the room's
    /// members; returns whether it switched.
    fn check_room_size(&mut self, room: &RoomId) -> bool {
        let n = self.room_size(room);
        let large = self.large_rooms.contains(room);
        let low_water = super::low_water(self.room_watch_max);
        let switched = if n == 0 {
            self.large_rooms.remove(room);
            false
        } else if !large && n > self.room_watch_max {
            self.large_rooms.insert(room.clone());
            true
        } else if large && n <= low_water {
            self.large_rooms.remove(room);
            true
        } else {
            false
        };
        if switched {
            let local: Vec<(ConnectionId, Uid)> = self
                .room_members
                .get(room)
                .map(|m| m.iter().map(|(c, u)| (*c, *u)).collect())
                .unwrap_or_default();
            let remote = self.remote_of(room);
            for (c, _) in &local {
                for (_, u) in &local {
                    self.touch_id(*c, *u);
                }
                for u in &remote {
                    self.touch_id(*c, *u);
                }
            }
        }
        switched
    }

    /// Re-evaluates `uid` on every local member of `room`.
    fn touch_room(&mut self, room: &RoomId, uid: Uid) {
        let conns: Vec<ConnectionId> = self
            .room_members
            .get(room)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for c in conns {
            self.touch_id(c, uid);
        }
    }
}
