//! A tenant's roster as a plain struct (no actix): who is online, which
//! connections watch whom, and the batched diffs they are owed.
//!
//! Changes are collected over a window (`presence.diff_interval_ms`) and
//! [`Roster::flush`] turns them into at most one diff per connection. A
//! change undone inside the window (a reload, online → busy → online) is not
//! sent at all: the entry keeps the state watchers last saw.
//!
//! Two modes per tenant:
//! - **all** (at most `presence.tenant_roster_max` users online): every
//!   connection that asked for the roster gets the whole roster and one
//!   shared diff per window.
//! - **interest** (above the threshold, and always for a connection that
//!   opened with `?presence=none`): a connection sees its own user, the users
//!   it subscribed to and the members of the rooms it is in. The roster keeps
//!   what each such connection was told (`Watcher::shown`), so its diffs make
//!   the client's list exact, including users it stopped watching.
//!
//! The tenant switches to interest mode when a flush finds more than
//! `tenant_roster_max` users online, and back when it finds at most
//! [`Roster::low_water`] (10 % lower, so a tenant at the edge does not
//! flap). Each connection affected by a switch gets a fresh list instead of
//! that window's diff.

mod ids;
mod interest;
pub mod merge;

use ids::{IdDiff, Interner, Uid};

use crate::ids::{ConnectionId, RoomId};
use crate::protocol::server::PresenceView;
use crate::small_map::{SmallHashMap, SmallMap};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Which presence a connection is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole tenant.
    All,
    /// The users it watches.
    Interest,
}

impl Mode {
    /// Wire spelling (`presence:list`'s `mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::All => "all",
            Mode::Interest => "interest",
        }
    }
}

/// One diff: user ids, to be looked up in [`Roster::get`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Came online.
    pub joined: Vec<String>,
    /// Changed (status, devices, location, name); in interest mode also a
    /// user who is newly watched while online.
    pub updated: Vec<String>,
    /// Went offline.
    pub left: Vec<String>,
    /// Interest mode: still online, but no longer watched (they left the
    /// connection's rooms, or it unsubscribed).
    pub unwatched: Vec<String>,
}

impl Diff {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
            && self.updated.is_empty()
            && self.left.is_empty()
            && self.unwatched.is_empty()
    }
}

/// What a flush asks the actor to send.
#[derive(Debug, Default)]
pub struct Flush {
    /// The diff every all-mode connection gets (the same frame for all).
    pub shared: Option<Diff>,
    /// Who gets `shared`.
    pub shared_to: Vec<ConnectionId>,
    /// Interest-mode connections' own diffs: each distinct diff once, with
    /// every connection that is owed exactly it (one frame for all of them).
    pub personal: Vec<(Vec<ConnectionId>, Diff)>,
    /// Connections that get a fresh list because the tenant changed mode.
    pub lists: Vec<(ConnectionId, Mode, Vec<String>)>,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// The connection would watch more than the limit.
    TooMany {
        /// `presence.max_subscriptions`.
        max: usize,
    },
    /// The connection is not registered (it closed).
    UnknownConnection,
}

/// A connection that may be sent presence.
#[derive(Debug)]
struct Watcher {
    /// Its user (always watched).
    user: String,
    /// The same, interned.
    uid: Uid,
    /// It asked for the whole roster (`?presence=all`, the default).
    wants_all: bool,
    /// Users it subscribed to.
    subs: HashSet<String>,
    /// Rooms it is in (small-first: a few per connection).
    rooms: SmallMap<RoomId, ()>,
    /// Interest mode: the users this connection was last told are online.
    shown: HashSet<Uid>,
    /// Interest mode: users whose watched state may have changed this window.
    touched: HashSet<Uid>,
}

/// A tenant's roster.
#[derive(Debug)]
pub struct Roster {
    /// Who is online, as last sent to watchers (lists show this, so a list
    /// and the diffs after it never disagree). Small-first: small tenants
    /// are the common case. Boxed, so that a large tenant's tree leaves
    /// hold pointers.
    users: SmallMap<String, Box<PresenceView>>,
    /// Users changed in this window: their entry now (`None`: offline).
    window: HashMap<String, Option<PresenceView>>,
    /// Boxed, like `users`: a table's first allocation has four slots.
    watchers: SmallHashMap<ConnectionId, Box<Watcher>>,
    /// Each user's own connections (a connection always watches its user).
    user_conns: SmallHashMap<String, SmallMap<ConnectionId, ()>>,
    /// Explicit subscriptions, by watched user.
    subscribers: HashMap<String, HashSet<ConnectionId>>,
    /// Connections in each room, with their user.
    room_members: SmallHashMap<RoomId, SmallMap<ConnectionId, Uid>>,
    /// Users in each room through other nodes' connections (a cluster).
    remote_members: HashMap<RoomId, HashSet<Uid>>,
    /// Rooms each user has a connection in (with how many connections).
    user_rooms: SmallHashMap<String, SmallMap<RoomId, usize>>,
    /// Interest-mode connections with touched users this window.
    dirty: HashSet<ConnectionId>,
    /// User ids by number.
    interner: Interner,
    /// The users of `users`, interned.
    online: HashSet<Uid>,
    mode: Mode,
    /// Bumped whenever a flush changes what was sent.
    version: u64,
    max_users: usize,
    max_subscriptions: usize,
    /// Rooms above this many members do not make their members watch each
    /// other (`presence.room_watch_max`).
    room_watch_max: usize,
    /// The rooms that are above it (back at 10 % below).
    large_rooms: HashSet<RoomId>,
}

/// Where a threshold switches back: 10 % below `max`, so a tenant or a
/// room at the edge does not flap.
fn low_water(max: usize) -> usize {
    max - max / 10
}

/// Equal for watchers: ignores `last_activity_at` (refreshed only with a
/// change that is sent) so a reload or an undone change sends nothing.
fn same_for_watchers(a: &PresenceView, b: &PresenceView) -> bool {
    a.name == b.name
        && a.status == b.status
        && a.color == b.color
        && a.location == b.location
        && a.devices == b.devices
}

impl Roster {
    /// An empty roster; above `max_users` online it uses interest mode.
    pub fn new(max_users: usize, max_subscriptions: usize) -> Self {
        Roster {
            users: SmallMap::new(),
            window: HashMap::new(),
            watchers: SmallHashMap::new(),
            user_conns: SmallHashMap::new(),
            subscribers: HashMap::new(),
            room_members: SmallHashMap::new(),
            remote_members: HashMap::new(),
            user_rooms: SmallHashMap::new(),
            dirty: HashSet::new(),
            interner: Interner::default(),
            online: HashSet::new(),
            mode: Mode::All,
            version: 0,
            max_users,
            max_subscriptions,
            room_watch_max: usize::MAX,
            large_rooms: HashSet::new(),
        }
    }

    /// Rooms of more than `max` members (connections here plus users on
    /// other nodes) no longer make their members watch each other in
    /// interest mode; they do again at 10 % below.
    pub fn with_room_watch_max(mut self, max: usize) -> Self {
        self.room_watch_max = max.max(1);
        self
    }

    /// Changes whenever the sent roster changes (a cache key for lists).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The tenant's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Back to all mode at or below this many users.
    pub fn low_water(&self) -> usize {
        low_water(self.max_users)
    }

    /// One user's entry as last sent.
    pub fn get(&self, user: &str) -> Option<&PresenceView> {
        self.users.get(user).map(|v| &**v)
    }

    /// Everyone online as last sent, by user id.
    pub fn users(&self) -> impl Iterator<Item = &PresenceView> {
        self.users.values().map(|v| &**v)
    }

    /// Everyone online now, including this window's changes (queries), by user id.
    pub fn current_users(&self) -> Vec<&PresenceView> {
        if self.window.is_empty() {
            return self.users().collect();
        }
        let mut now: BTreeMap<&str, &PresenceView> =
            self.users.iter().map(|(k, v)| (k.as_str(), &**v)).collect();
        for (user, entry) in &self.window {
            match entry {
                Some(v) => now.insert(user.as_str(), v),
                None => now.remove(user.as_str()),
            };
        }
        now.into_values().collect()
    }

    /// A page of the users online now, after `after` (by user id), and
    /// whether more follow.
    pub fn page(&self, after: Option<&str>, limit: usize) -> (Vec<&PresenceView>, bool) {
        let all = self.current_users();
        let start = match after {
            Some(a) => all.partition_point(|v| v.user_id.as_str() <= a),
            None => 0,
        };
        let rest = all.get(start..).unwrap_or_default();
        let page = rest.iter().take(limit).copied().collect();
        (page, rest.len() > limit)
    }

    /// True when a window is open (a flush is due).
    pub fn has_pending(&self) -> bool {
        !self.window.is_empty() || !self.dirty.is_empty()
    }

    /// A user came online or changed; true when watchers must hear of it.
    pub fn upsert(&mut self, view: PresenceView) -> bool {
        if self
            .current(&view.user_id)
            .is_some_and(|o| same_for_watchers(o, &view))
        {
            return false;
        }
        self.window.insert(view.user_id.clone(), Some(view));
        true
    }

    /// A user went offline; true when watchers must hear of it.
    pub fn remove(&mut self, user: &str) -> bool {
        if self.current(user).is_none() {
            return false;
        }
        self.window.insert(user.to_owned(), None);
        true
    }

    /// A user's entry including this window's changes (queries); lists and
    /// diffs use [`Roster::get`], the entry as last sent.
    pub fn current(&self, user: &str) -> Option<&PresenceView> {
        match self.window.get(user) {
            Some(pending) => pending.as_ref(),
            None => self.get(user),
        }
    }

    /// Closes the window: what each connection must be sent.
    pub fn flush(&mut self) -> Flush {
        let mut out = Flush::default();
        // 1. The window's net changes, as every all-mode watcher sees them.
        let mut shared = Diff::default();
        // Taken, not drained: a drained table keeps its slots (about 1 KiB
        // in every idle tenant).
        let mut window: Vec<(String, Option<PresenceView>)> =
            std::mem::take(&mut self.window).into_iter().collect();
        window.sort_by(|a, b| a.0.cmp(&b.0));
        let mut changed: Vec<String> = Vec::new();
        let mut came_online: HashSet<Uid> = HashSet::new();
        let mut went_offline: HashSet<Uid> = HashSet::new();
        for (user, now) in window {
            match (self.users.get(&user), now) {
                (None, None) => continue,
                // Undone inside the window: watchers keep what they saw.
                (Some(before), Some(now)) if same_for_watchers(before, &now) => continue,
                (None, Some(now)) => {
                    let id = self.interner.intern(&user);
                    came_online.insert(id);
                    self.online.insert(id);
                    shared.joined.push(user.clone());
                    self.users.insert(user.clone(), Box::new(now));
                }
                (Some(_), Some(now)) => {
                    shared.updated.push(user.clone());
                    self.users.insert(user.clone(), Box::new(now));
                }
                (Some(_), None) => {
                    let id = self.interner.intern(&user);
                    went_offline.insert(id);
                    self.online.remove(&id);
                    shared.left.push(user.clone());
                    self.users.remove(&user);
                }
            }
            changed.push(user);
        }
        // 2. Interest-mode watchers of the changed users.
        for user in &changed {
            let mut conns: Vec<ConnectionId> = self
                .subscribers
                .get(user)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            if let Some(rooms) = self.user_rooms.get(user) {
                for room in rooms.keys() {
                    if self.large_rooms.contains(room) {
                        continue;
                    }
                    if let Some(m) = self.room_members.get(room) {
                        conns.extend(m.keys().copied());
                    }
                }
            }
            if let Some(own) = self.user_conns.get(user) {
                conns.extend(own.keys().copied());
            }
            let id = self.interner.intern(user);
            for c in conns {
                self.touch_id(c, id);
            }
        }
        if !changed.is_empty() {
            self.version += 1;
        }
        let changed: HashSet<Uid> = changed.iter().map(|u| self.interner.intern(u)).collect();
        // 3. Mode switch.
        let n = self.users.len();
        let switched = match self.mode {
            Mode::All if n > self.max_users => Some(Mode::Interest),
            Mode::Interest if n <= self.low_water() => Some(Mode::All),
            _ => None,
        };
        if let Some(mode) = switched {
            self.mode = mode;
            let all: Vec<ConnectionId> = self
                .watchers
                .iter()
                .filter(|(_, w)| w.wants_all)
                .map(|(c, _)| *c)
                .collect();
            for c in all {
                if let Some((mode, ids)) = self.list_for(c) {
                    self.dirty.remove(&c);
                    out.lists.push((c, mode, ids));
                }
            }
        }
        // 4. The shared diff.
        if self.mode == Mode::All && !shared.is_empty() {
            out.shared_to = self
                .watchers
                .iter()
                .filter(|(_, w)| w.wants_all)
                .map(|(c, _)| *c)
                .filter(|c| !out.lists.iter().any(|(l, _, _)| l == c))
                .collect();
            out.shared_to.sort();
        }
        // 5. Personal diffs, from what each connection was shown; equal
        // ones are grouped (the members of one big room mostly owe the same).
        let mut dirty: Vec<ConnectionId> = self.dirty.drain().collect();
        dirty.sort();
        let mut groups: HashMap<IdDiff, Vec<ConnectionId>> = HashMap::new();
        for c in dirty {
            let Some(w) = self.watchers.get(&c) else {
                continue;
            };
            if self.effective(w) != Mode::Interest {
                continue;
            }
            let mut diff = IdDiff::default();
            let mut touched: Vec<Uid> = w.touched.iter().copied().collect();
            touched.sort_unstable();
            let mut shown_add = Vec::new();
            let mut shown_remove = Vec::new();
            for u in touched {
                let target = self.online.contains(&u) && self.watches(w, u);
                let had = w.shown.contains(&u);
                match (had, target) {
                    (false, true) => {
                        if came_online.contains(&u) {
                            diff.joined.push(u);
                        } else {
                            diff.updated.push(u);
                        }
                        shown_add.push(u);
                    }
                    (true, true) if changed.contains(&u) => diff.updated.push(u),
                    (true, false) => {
                        if went_offline.contains(&u) {
                            diff.left.push(u);
                        } else {
                            diff.unwatched.push(u);
                        }
                        shown_remove.push(u);
                    }
                    _ => {}
                }
            }
            if let Some(w) = self.watchers.get_mut(&c) {
                w.touched.clear();
                w.shown.extend(shown_add);
                for u in &shown_remove {
                    w.shown.remove(u);
                }
            }
            if !diff.is_empty() {
                groups.entry(diff).or_default().push(c);
            }
        }
        let names = |ids: Vec<Uid>| -> Vec<String> {
            let mut v: Vec<String> = ids
                .into_iter()
                .map(|u| self.interner.name(u).to_owned())
                .collect();
            v.sort();
            v
        };
        let mut personal: Vec<(Vec<ConnectionId>, Diff)> = groups
            .into_iter()
            .map(|(d, conns)| {
                let diff = Diff {
                    joined: names(d.joined),
                    updated: names(d.updated),
                    left: names(d.left),
                    unwatched: names(d.unwatched),
                };
                (conns, diff)
            })
            .collect();
        personal.sort_by_key(|(conns, _)| conns.first().copied());
        out.personal = personal;
        if !out.shared_to.is_empty() {
            out.shared = Some(shared);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::ids::TenantId;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const STATUSES: [&str; 3] = ["online", "away", "busy"];

    fn view(user: &str, status: usize, stamp: u64) -> PresenceView {
        PresenceView {
            user_id: user.to_owned(),
            name: user.to_uppercase(),
            status: STATUSES[status % 3],
            color: "#000000".into(),
            last_activity_at: format!("t{stamp}"),
            location: None,
            devices: Vec::new(),
        }
    }

    fn room(n: u8) -> RoomId {
        RoomId::new(TenantId::new("t"), "doc", &format!("r{n}"))
    }

    /// What a client holds: user id → entry, rebuilt from lists and diffs.
    type Client = BTreeMap<String, PresenceView>;

    fn apply(client: &mut Client, roster: &Roster, diff: &Diff) {
        for u in diff.joined.iter().chain(&diff.updated) {
            client.insert(u.clone(), roster.get(u).unwrap().clone());
        }
        for u in diff.left.iter().chain(&diff.unwatched) {
            client.remove(u);
        }
    }

    fn replace(client: &mut Client, roster: &Roster, ids: &[String]) {
        client.clear();
        for u in ids {
            client.insert(u.clone(), roster.get(u).unwrap().clone());
        }
    }

    fn flush_into(roster: &mut Roster, clients: &mut HashMap<ConnectionId, Client>) -> Flush {
        let out = roster.flush();
        for (c, _, ids) in &out.lists {
            replace(clients.get_mut(c).unwrap(), roster, ids);
        }
        if let Some(d) = &out.shared {
            for c in &out.shared_to {
                apply(clients.get_mut(c).unwrap(), roster, d);
            }
        }
        for (conns, d) in &out.personal {
            for c in conns {
                apply(clients.get_mut(c).unwrap(), roster, d);
            }
        }
        out
    }

    #[test]
    fn members_of_one_room_owed_the_same_changes_share_one_diff() {
        let mut r = Roster::new(10, 10);
        for i in 0..50u64 {
            let u = format!("u{i:02}");
            r.upsert(view(&u, 0, 1));
            r.watch(ConnectionId(i), &u, false);
            r.enter_room(ConnectionId(i), room(1));
        }
        r.flush();
        for i in 50..55u64 {
            let u = format!("u{i:02}");
            r.upsert(view(&u, 0, 1));
            r.watch(ConnectionId(i), &u, false);
            r.enter_room(ConnectionId(i), room(1));
        }
        let out = r.flush();
        // The 50 members hear of the 5 joiners; the 5 joiners get everyone.
        assert_eq!(out.personal.len(), 2, "{:?}", out.personal);
        let sizes: Vec<usize> = out.personal.iter().map(|(c, _)| c.len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 55);
        let old = out.personal.iter().find(|(c, _)| c.len() == 50).unwrap();
        assert_eq!(old.1.joined, vec!["u50", "u51", "u52", "u53", "u54"]);
        assert!(old.1.updated.is_empty());
    }

    #[test]
    fn subscribing_to_unknown_ids_does_not_grow_the_id_table() {
        let mut r = Roster::new(10, 1000);
        r.watch(ConnectionId(1), "a", false);
        r.flush();
        let before = r.interner.names.len();
        for round in 0..5 {
            let ids: Vec<String> = (0..100).map(|i| format!("ghost-{round}-{i}")).collect();
            r.subscribe(ConnectionId(1), &ids).unwrap();
            r.unsubscribe(ConnectionId(1), &ids);
        }
        r.flush();
        assert_eq!(r.interner.names.len(), before);
        // A subscribed user who comes online later still reaches the watcher.
        r.subscribe(ConnectionId(1), &["late".into()]).unwrap();
        r.upsert(view("late", 0, 1));
        let out = r.flush();
        assert_eq!(out.personal.len(), 1);
        assert_eq!(out.personal[0].1.joined, vec!["late".to_owned()]);
    }

    #[test]
    fn a_window_of_joins_is_one_diff() {
        let mut r = Roster::new(100, 10);
        r.watch(ConnectionId(1), "w", true);
        r.list_for(ConnectionId(1));
        for i in 0..5 {
            r.upsert(view(&format!("u{i}"), 0, 1));
        }
        let out = r.flush();
        assert_eq!(out.shared_to, vec![ConnectionId(1)]);
        assert_eq!(out.shared.unwrap().joined.len(), 5);
        assert!(out.personal.is_empty());
    }

    #[test]
    fn a_change_undone_in_the_window_sends_nothing() {
        let mut r = Roster::new(100, 10);
        r.watch(ConnectionId(1), "w", true);
        r.upsert(view("a", 0, 1));
        r.flush();
        // Reload: a newer last_activity_at alone is not a change.
        assert!(!r.upsert(view("a", 0, 2)));
        // Online → busy → online within one window.
        assert!(r.upsert(view("a", 2, 3)));
        assert!(r.upsert(view("a", 0, 4)));
        let out = r.flush();
        assert!(out.shared.is_none(), "{out:?}");
        assert_eq!(r.get("a").unwrap().last_activity_at, "t1");
        assert_eq!(r.current("a").unwrap().last_activity_at, "t1");
        // Offline and back inside a window.
        r.remove("a");
        r.upsert(view("a", 0, 5));
        assert!(r.flush().shared.is_none());
    }

    #[test]
    fn interest_mode_sends_only_watched_users() {
        let mut r = Roster::new(2, 10);
        let (a, b) = (ConnectionId(1), ConnectionId(2));
        r.watch(a, "a", true);
        r.watch(b, "b", false);
        for u in ["a", "b", "c", "d"] {
            r.upsert(view(u, 0, 1));
        }
        let out = r.flush();
        assert_eq!(r.mode(), Mode::Interest);
        // `a` wanted everything: it gets a fresh interest list (itself).
        assert_eq!(out.lists, vec![(a, Mode::Interest, vec!["a".to_owned()])]);
        // `b` opened with presence=none: only itself.
        assert_eq!(out.personal.len(), 1);
        assert_eq!(out.personal[0].1.joined, vec!["b".to_owned()]);
        // `b` subscribes to `c`; `c` changing reaches `b` only.
        assert_eq!(r.subscribe(b, &["c".into()]).unwrap(), 1);
        r.upsert(view("c", 2, 2));
        r.upsert(view("d", 2, 2));
        let out = r.flush();
        assert!(out.shared.is_none());
        assert_eq!(out.personal.len(), 1);
        assert_eq!(out.personal[0].0, vec![b]);
        assert_eq!(out.personal[0].1.updated, vec!["c".to_owned()]);
        // Room members are watched: `a` and `d`'s connection share a room.
        r.watch(ConnectionId(3), "d", false);
        r.enter_room(a, room(1));
        r.enter_room(ConnectionId(3), room(1));
        let out = r.flush();
        let to_a = out.personal.iter().find(|(c, _)| c.contains(&a)).unwrap();
        assert_eq!(to_a.1.updated, vec!["d".to_owned()]);
        r.leave_room(ConnectionId(3), &room(1));
        let out = r.flush();
        let to_a = out.personal.iter().find(|(c, _)| c.contains(&a)).unwrap();
        assert_eq!(to_a.1.unwatched, vec!["d".to_owned()]);
    }

    #[test]
    fn room_members_on_other_nodes_are_watched_like_local_ones() {
        let mut r = Roster::new(1, 10);
        let a = ConnectionId(1);
        r.watch(a, "a", false);
        r.upsert(view("a", 0, 1));
        r.upsert(view("x", 0, 1));
        r.upsert(view("y", 0, 1));
        r.flush();
        r.enter_room(a, room(1));
        r.set_room_remote(&room(1), &["x".into()]);
        r.set_room_remote(&room(2), &["y".into()]);
        let out = r.flush();
        let to_a = out.personal.iter().find(|(c, _)| c.contains(&a)).unwrap();
        assert_eq!(to_a.1.updated, vec!["x".to_owned()]);
        // `x` changes: `a` hears it; `y` (another room) does not reach `a`.
        r.upsert(view("x", 2, 2));
        r.upsert(view("y", 2, 2));
        let out = r.flush();
        let to_a = out.personal.iter().find(|(c, _)| c.contains(&a)).unwrap();
        assert_eq!(to_a.1.updated, vec!["x".to_owned()]);
        // Told again: nothing changes.
        r.set_room_remote(&room(1), &["x".into()]);
        assert!(r.flush().personal.is_empty());
        r.set_room_remote(&room(1), &[]);
        let out = r.flush();
        let to_a = out.personal.iter().find(|(c, _)| c.contains(&a)).unwrap();
        assert_eq!(to_a.1.unwatched, vec!["x".to_owned()]);
        // A local member entering a room with remote members sees them at once,
        // and stops seeing them when it leaves.
        r.set_room_remote(&room(3), &["y".into()]);
        r.flush();
        r.enter_room(a, room(3));
        let out = r.flush();
        let to_a = out.personal.iter().find(|(c, _)| c.contains(&a)).unwrap();
        assert_eq!(to_a.1.updated, vec!["y".to_owned()]);
        r.leave_room(a, &room(3));
        let out = r.flush();
        let to_a = out.personal.iter().find(|(c, _)| c.contains(&a)).unwrap();
        assert_eq!(to_a.1.unwatched, vec!["y".to_owned()]);
        // Forgetting a room never set changes nothing.
        r.set_room_remote(&room(9), &[]);
        assert!(r.flush().personal.is_empty());
    }

    #[test]
    fn a_large_room_stops_its_members_watching_each_other_with_hysteresis() {
        // Interest mode from the start; rooms above 10 members are large,
        // small again at 9.
        let mut r = Roster::new(1, 10).with_room_watch_max(10);
        let conn = |i: u64| ConnectionId(i);
        for i in 0..10u64 {
            let u = format!("u{i:02}");
            r.upsert(view(&u, 0, 1));
            r.watch(conn(i), &u, false);
            r.enter_room(conn(i), room(1));
        }
        r.flush();
        let shown =
            |r: &Roster, c: ConnectionId| r.watchers.get(&c).expect("a watcher").shown.len();
        assert_eq!(shown(&r, conn(0)), 10, "10 members watch each other");
        // The 11th member makes the room large: the others stop watching
        // through it (listed as unwatched), the joiner sees only itself.
        r.upsert(view("u10", 0, 1));
        r.watch(conn(10), "u10", false);
        r.enter_room(conn(10), room(1));
        let out = r.flush();
        let to_0 = out
            .personal
            .iter()
            .find(|(c, _)| c.contains(&conn(0)))
            .unwrap();
        assert_eq!(to_0.1.unwatched.len(), 9, "{:?}", to_0.1);
        assert!(to_0.1.joined.is_empty());
        let to_10 = out
            .personal
            .iter()
            .find(|(c, _)| c.contains(&conn(10)))
            .unwrap();
        assert_eq!(to_10.1.joined, vec!["u10".to_owned()]);
        assert_eq!(shown(&r, conn(10)), 1);
        // A member's change in a large room reaches only its own connection.
        r.upsert(view("u05", 2, 2));
        let out = r.flush();
        let reached: Vec<ConnectionId> = out.personal.iter().flat_map(|(c, _)| c.clone()).collect();
        assert_eq!(reached, vec![conn(5)]);
        // A subscription still works inside a large room.
        r.subscribe(conn(0), &["u05".into()]).unwrap();
        let out = r.flush();
        assert_eq!(out.personal[0].0, vec![conn(0)]);
        assert_eq!(out.personal[0].1.updated, vec!["u05".to_owned()]);
        // Down to 10 members: still large (hysteresis); to 9: small again,
        // everyone sees everyone.
        r.leave_room(conn(10), &room(1));
        assert!(r.flush().personal.is_empty());
        r.unwatch(conn(9));
        let out = r.flush();
        let to_1 = out
            .personal
            .iter()
            .find(|(c, _)| c.contains(&conn(1)))
            .unwrap();
        assert_eq!(to_1.1.updated.len(), 8, "{:?}", to_1.1);
        assert_eq!(shown(&r, conn(1)), 9);
        assert_eq!(shown(&r, conn(0)), 9, "u05 by subscription and room");
    }

    #[test]
    fn subscriptions_are_bounded() {
        let mut r = Roster::new(2, 2);
        r.watch(ConnectionId(1), "a", false);
        r.subscribe(ConnectionId(1), &["x".into(), "y".into()])
            .unwrap();
        assert_eq!(
            r.subscribe(ConnectionId(1), &["z".into()]),
            Err(SubscribeError::TooMany { max: 2 })
        );
        // Subscribing again to the same users is not more.
        assert!(r.subscribe(ConnectionId(1), &["x".into()]).is_ok());
    }

    #[test]
    fn pages_walk_the_roster() {
        let mut r = Roster::new(10, 10);
        for i in 0..5 {
            r.upsert(view(&format!("u{i}"), 0, 1));
        }
        let (p, more) = r.page(None, 2);
        assert_eq!((p.len(), more), (2, true));
        let (p, more) = r.page(Some("u1"), 2);
        assert_eq!(p[0].user_id, "u2");
        assert!(more);
        let (p, more) = r.page(Some("u3"), 2);
        assert_eq!((p.len(), more), (1, false));
    }

    proptest! {
        /// Whatever happens, after every flush each connection's list, rebuilt
        /// from its lists, subscription acks and diffs, is exactly what it
        /// should see: the whole roster in all mode, and in interest mode its
        /// own user, its subscriptions and its rooms' members (on this node
        /// or another) who are online.
        ///
        /// Rooms of more than 3 members (connections plus remote users) are
        /// large: they make nobody watch anybody (`room_watch_max` 3 has no
        /// hysteresis band, so large is exactly "more than 3" at a flush).
        #[test]
        fn clients_rebuild_exactly_what_they_watch(
            ops in proptest::collection::vec((0u8..12, 0u8..6, 0u8..4, 0u64..1000), 1..200)
        ) {
            let users = ["u0", "u1", "u2", "u3", "u4", "u5"];
            let mut r = Roster::new(3, 3).with_room_watch_max(3);
            let mut clients: HashMap<ConnectionId, Client> = HashMap::new();
            let mut wants: HashMap<ConnectionId, bool> = HashMap::new();
            let mut subs: HashMap<ConnectionId, HashSet<String>> = HashMap::new();
            let mut rooms: HashMap<ConnectionId, HashSet<u8>> = HashMap::new();
            // Users in each room through other nodes.
            let mut remote: HashMap<u8, Vec<String>> = HashMap::new();
            let user_of = |c: ConnectionId| users[(c.0 % 4) as usize].to_owned();
            for (op, a, b, stamp) in ops {
                let c = ConnectionId(u64::from(a % 5));
                let u = users[a as usize].to_owned();
                match op {
                    0 | 1 => { r.upsert(view(&u, usize::from(b), stamp)); }
                    2 => { r.remove(&u); }
                    3 if !clients.contains_key(&c) => {
                        let all = b % 2 == 0;
                        r.watch(c, &user_of(c), all);
                        clients.insert(c, Client::new());
                        wants.insert(c, all);
                        subs.insert(c, HashSet::new());
                        rooms.insert(c, HashSet::new());
                        if all {
                            let (_, ids) = r.list_for(c).unwrap();
                            replace(clients.get_mut(&c).unwrap(), &r, &ids);
                        }
                    }
                    4 if clients.contains_key(&c) && b == 0 => {
                        r.unwatch(c);
                        clients.remove(&c);
                    }
                    4 if clients.contains_key(&c) => {
                        let target = users[usize::from(b)].to_owned();
                        if r.subscribe(c, std::slice::from_ref(&target)).is_ok() {
                            subs.get_mut(&c).unwrap().insert(target);
                        }
                    }
                    5 if clients.contains_key(&c) => {
                        let target = users[usize::from(b)].to_owned();
                        r.unsubscribe(c, std::slice::from_ref(&target));
                        subs.get_mut(&c).unwrap().remove(&target);
                    }
                    6 if clients.contains_key(&c) => {
                        r.enter_room(c, room(b % 2));
                        rooms.get_mut(&c).unwrap().insert(b % 2);
                    }
                    7 if clients.contains_key(&c) => {
                        r.leave_room(c, &room(b % 2));
                        rooms.get_mut(&c).unwrap().remove(&(b % 2));
                    }
                    8 if clients.contains_key(&c) && wants[&c] => {
                        let (_, ids) = r.list_for(c).unwrap();
                        replace(clients.get_mut(&c).unwrap(), &r, &ids);
                    }
                    10 | 11 => {
                        // The room's remote users: a subset of the users, by bits.
                        let set: Vec<String> = users
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| (stamp >> i) & 1 == 1 && op == 10)
                            .map(|(_, u)| (*u).to_owned())
                            .collect();
                        r.set_room_remote(&room(b % 2), &set);
                        remote.insert(b % 2, set);
                    }
                    _ => {
                        flush_into(&mut r, &mut clients);
                        let small = |x: &u8| {
                            clients.keys().filter(|o| rooms[*o].contains(x)).count()
                                + remote.get(x).map_or(0, |s| s.len())
                                <= 3
                        };
                        for (c, client) in &clients {
                            let interest = !wants[c] || r.mode() == Mode::Interest;
                            let expected: Client = r.users()
                                .filter(|v| {
                                    !interest
                                        || v.user_id == user_of(*c)
                                        || subs[c].contains(&v.user_id)
                                        || clients.keys().any(|o| {
                                            user_of(*o) == v.user_id
                                                && rooms[o].iter().any(|x| rooms[c].contains(x) && small(x))
                                        })
                                        || rooms[c].iter().any(|x| {
                                            small(x) && remote.get(x).is_some_and(|s| s.contains(&v.user_id))
                                        })
                                })
                                .map(|v| (v.user_id.clone(), v.clone()))
                                .collect();
                            prop_assert_eq!(client, &expected, "connection {:?}", c);
                        }
                    }
                }
            }
        }
    }
}
