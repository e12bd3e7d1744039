//! The presence state machine for one user, as a plain struct on explicit
//! instants (no actix): devices come and go, activity resets the idle
//! clock, a chosen status sticks, and the user is offline only when the last
//! device has been gone for the grace period.
//!
//! ```text
//!            attach                 idle >= away_after
//! offline ─────────▶ online ───────────────────────────▶ away
//!    ▲                 ▲  ◀──────── activity ────────────┘
//!    │ grace expired   │ set_status(online)
//!    │ (no devices)    ▼
//!    └─────────────── busy / away (chosen, kept until changed)
//! ```

use crate::ids::ConnectionId;
use crate::protocol::client::ChosenStatus;
use crate::protocol::server::{LocationView, PresenceDeviceView, PresenceView};
use crate::small_map::SmallMap;
use std::time::{Duration, Instant};

/// Effective status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Connected and active.
    Online,
    /// Idle past the away time, or chosen.
    Away,
    /// Chosen do-not-disturb.
    Busy,
    /// No connection for longer than the grace period.
    Offline,
}

impl Status {
    /// Wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Away => "away",
            Status::Busy => "busy",
            Status::Offline => "offline",
        }
    }
}

/// One connected device.
#[derive(Debug, Clone)]
pub struct Device {
    /// `desktop`, `mobile`, ...
    pub device_type: String,
    /// Browser, if known.
    pub browser: Option<String>,
    /// Where this device is in the app.
    pub location: Option<LocationView>,
    /// Orders locations: the most recently set one wins.
    pub location_seq: u64,
}

/// What a change means for the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing others can see changed.
    None,
    /// The user appeared (was offline).
    CameOnline,
    /// Status, devices or location changed.
    Updated,
    /// The last device left; offline after the grace period unless one returns.
    LastDeviceGone,
    /// Grace expired with no device: the user is offline.
    WentOffline,
}

/// One user's presence.
#[derive(Debug, Clone)]
pub struct UserPresence {
    /// Small-first: most users have one or two devices.
    devices: SmallMap<ConnectionId, Box<Device>>,
    chosen: Option<ChosenStatus>,
    /// The last status chosen (`online` included) and when: the cluster
    /// merge shows the most recent choice made on any node.
    choice: Option<(ChosenStatus, chrono::DateTime<chrono::Utc>)>,
    idle: bool,
    listed: bool,
    last_activity: Instant,
    last_activity_at: chrono::DateTime<chrono::Utc>,
    gone_since: Option<Instant>,
    location_seq: u64,
}

impl UserPresence {
    /// A user not yet online.
    pub fn new(now: Instant) -> Self {
        UserPresence {
            devices: SmallMap::new(),
            chosen: None,
            choice: None,
            idle: false,
            listed: false,
            last_activity: now,
            last_activity_at: chrono::Utc::now(),
            gone_since: None,
            location_seq: 0,
        }
    }

    /// The status others see.
    pub fn status(&self) -> Status {
        if !self.listed {
            return Status::Offline;
        }
        match self.chosen {
            Some(ChosenStatus::Busy) => Status::Busy,
            Some(ChosenStatus::Away) => Status::Away,
            _ if self.idle => Status::Away,
            _ => Status::Online,
        }
    }

    /// Number of connected devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// The device of a connection.
    pub fn device(&self, id: ConnectionId) -> Option<&Device> {
        self.devices.get(&id).map(|d| &**d)
    }

    /// The last status the user chose here (`online` included), and when.
    pub fn choice(&self) -> Option<(ChosenStatus, chrono::DateTime<chrono::Utc>)> {
        self.choice
    }

    /// Last activity as a timestamp.
    pub fn last_activity_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.last_activity_at
    }

    /// A device connected.
    pub fn attach(&mut self, id: ConnectionId, device: Device, now: Instant) -> Change {
        self.devices.insert(id, Box::new(device));
        self.gone_since = None;
        self.touch(now);
        if self.listed {
            Change::Updated
        } else {
            self.listed = true;
            Change::CameOnline
        }
    }

    /// A device disconnected.
    pub fn detach(&mut self, id: ConnectionId, now: Instant) -> Change {
        if self.devices.remove(&id).is_none() {
            return Change::None;
        }
        if self.devices.is_empty() {
            self.gone_since = Some(now);
            Change::LastDeviceGone
        } else {
            Change::Updated
        }
    }

    /// The grace timer fired: offline if still no device.
    pub fn grace_elapsed(&mut self, now: Instant, grace: Duration) -> Change {
        match self.gone_since {
            Some(since)
                if self.devices.is_empty() && now.saturating_duration_since(since) >= grace =>
            {
                self.listed = false;
                self.gone_since = None;
                self.chosen = None;
                self.choice = None;
                self.idle = false;
                Change::WentOffline
            }
            _ => Change::None,
        }
    }

    /// True when the user has been offline (no devices, not listed).
    pub fn is_gone(&self) -> bool {
        !self.listed && self.devices.is_empty()
    }

    /// The user did something on any device.
    pub fn activity(&mut self, now: Instant) -> Change {
        let was = self.status();
        self.touch(now);
        if self.status() != was {
            Change::Updated
        } else {
            Change::None
        }
    }

    fn touch(&mut self, now: Instant) {
        self.last_activity = now;
        self.last_activity_at = chrono::Utc::now();
        self.idle = false;
    }

    /// When [`UserPresence::tick`] would turn the user away, if nothing
    /// happens meanwhile; `None` while it cannot (no device, not listed, or
    /// idle already).
    pub fn away_at(&self, away_after: Duration) -> Option<Instant> {
        (self.listed && !self.idle && !self.devices.is_empty())
            .then(|| self.last_activity + away_after)
    }

    /// The idle check (at [`UserPresence::away_at`]): online becomes away
    /// after `away_after` of inactivity.
    pub fn tick(&mut self, now: Instant, away_after: Duration) -> Change {
        if self.listed
            && !self.idle
            && !self.devices.is_empty()
            && now.saturating_duration_since(self.last_activity) >= away_after
        {
            let was = self.status();
            self.idle = true;
            if self.status() != was {
                return Change::Updated;
            }
        }
        Change::None
    }

    /// The user chose a status; `online` clears a chosen busy/away.
    pub fn set_status(&mut self, status: ChosenStatus, now: Instant) -> Change {
        let was = self.status();
        self.choice = Some((status, chrono::Utc::now()));
        self.chosen = match status {
            ChosenStatus::Online => None,
            other => Some(other),
        };
        self.touch(now);
        if self.status() != was {
            Change::Updated
        } else {
            Change::None
        }
    }

    /// A device moved in the app.
    pub fn set_location(&mut self, id: ConnectionId, location: LocationView) -> Change {
        self.location_seq += 1;
        let seq = self.location_seq;
        match self.devices.get_mut(&id) {
            Some(d) => {
                d.location = Some(location);
                d.location_seq = seq;
                Change::Updated
            }
            None => Change::None,
        }
    }

    /// The view other users get.
    pub fn view(&self, user_id: &str, name: &str) -> PresenceView {
        let location = self
            .devices
            .values()
            .filter(|d| d.location.is_some())
            .max_by_key(|d| d.location_seq)
            .and_then(|d| d.location.clone());
        PresenceView {
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            status: self.status().as_str(),
            color: color_for(user_id),
            last_activity_at: self
                .last_activity_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            location,
            devices: {
                let mut devices: Vec<PresenceDeviceView> = self
                    .devices
                    .values()
                    .map(|d| PresenceDeviceView {
                        device_type: d.device_type.clone(),
                        browser: d.browser.clone(),
                        location: d.location.clone(),
                    })
                    .collect();
                devices.sort_by(|a, b| device_key(a).cmp(&device_key(b)));
                devices
            },
        }
    }
}

/// Orders a user's devices independently of their connections.
pub fn device_key(d: &PresenceDeviceView) -> (&str, Option<&str>, [Option<&str>; 3]) {
    let loc = d.location.as_ref();
    (
        d.device_type.as_str(),
        d.browser.as_deref(),
        [
            loc.and_then(|l| l.page.as_deref()),
            loc.and_then(|l| l.entity_type.as_deref()),
            loc.and_then(|l| l.entity_id.as_deref()),
        ],
    )
}

/// A stable colour per user id (same id, same colour, on every node).
pub fn color_for(user_id: &str) -> String {
    const PALETTE: [&str; 12] = [
        "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
        "#469990", "#800000", "#808000", "#000075",
    ];
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let hash = user_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    PALETTE[(hash % PALETTE.len() as u64) as usize].to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn device() -> Device {
        Device {
            device_type: "desktop".into(),
            browser: None,
            location: None,
            location_seq: 0,
        }
    }

    const GRACE: Duration = Duration::from_secs(5);
    const AWAY: Duration = Duration::from_secs(300);

    #[test]
    fn second_device_keeps_user_online() {
        let t = Instant::now();
        let mut p = UserPresence::new(t);
        assert_eq!(p.attach(ConnectionId(1), device(), t), Change::CameOnline);
        assert_eq!(p.attach(ConnectionId(2), device(), t), Change::Updated);
        assert_eq!(p.detach(ConnectionId(1), t), Change::Updated);
        assert_eq!(p.status(), Status::Online);
    }

    #[test]
    fn reload_within_grace_never_goes_offline() {
        let t = Instant::now();
        let mut p = UserPresence::new(t);
        p.attach(ConnectionId(1), device(), t);
        assert_eq!(p.detach(ConnectionId(1), t), Change::LastDeviceGone);
        p.attach(ConnectionId(2), device(), t + Duration::from_secs(1));
        assert_eq!(p.grace_elapsed(t + GRACE, GRACE), Change::None);
        assert_eq!(p.status(), Status::Online);
    }

    #[test]
    fn offline_after_grace() {
        let t = Instant::now();
        let mut p = UserPresence::new(t);
        p.attach(ConnectionId(1), device(), t);
        p.detach(ConnectionId(1), t);
        assert_eq!(
            p.grace_elapsed(t + Duration::from_secs(1), GRACE),
            Change::None
        );
        assert_eq!(p.grace_elapsed(t + GRACE, GRACE), Change::WentOffline);
        assert_eq!(p.status(), Status::Offline);
    }

    #[test]
    fn idle_away_and_back() {
        let t = Instant::now();
        let mut p = UserPresence::new(t);
        p.attach(ConnectionId(1), device(), t);
        assert_eq!(
            p.tick(t + AWAY - Duration::from_secs(1), AWAY),
            Change::None
        );
        assert_eq!(p.tick(t + AWAY, AWAY), Change::Updated);
        assert_eq!(p.status(), Status::Away);
        assert_eq!(
            p.activity(t + AWAY + Duration::from_secs(1)),
            Change::Updated
        );
        assert_eq!(p.status(), Status::Online);
    }

    #[test]
    fn away_at_follows_activity_and_stops_once_idle() {
        let t = Instant::now();
        let mut p = UserPresence::new(t);
        assert_eq!(p.away_at(AWAY), None, "no device yet");
        p.attach(ConnectionId(1), device(), t);
        assert_eq!(p.away_at(AWAY), Some(t + AWAY));
        let later = t + Duration::from_secs(10);
        p.activity(later);
        assert_eq!(p.away_at(AWAY), Some(later + AWAY));
        // A check before the deadline changes nothing and keeps it.
        assert_eq!(p.tick(t + AWAY, AWAY), Change::None);
        assert_eq!(p.away_at(AWAY), Some(later + AWAY));
        assert_eq!(p.tick(later + AWAY, AWAY), Change::Updated);
        assert_eq!(p.away_at(AWAY), None, "away already");
        p.activity(later + AWAY * 2);
        assert_eq!(p.away_at(AWAY), Some(later + AWAY * 3));
    }

    #[test]
    fn busy_is_kept_through_idle_and_activity() {
        let t = Instant::now();
        let mut p = UserPresence::new(t);
        p.attach(ConnectionId(1), device(), t);
        p.set_status(ChosenStatus::Busy, t);
        p.tick(t + AWAY * 2, AWAY);
        assert_eq!(p.status(), Status::Busy);
        p.activity(t + AWAY * 3);
        assert_eq!(p.status(), Status::Busy);
        p.set_status(ChosenStatus::Online, t + AWAY * 3);
        assert_eq!(p.status(), Status::Online);
    }

    #[test]
    fn colours_are_stable() {
        assert_eq!(color_for("alice"), color_for("alice"));
        assert!(color_for("bob").starts_with('#'));
    }

    proptest! {
        /// Whatever happens, the user is offline only with no devices, and
        /// never offline while a device is attached.
        #[test]
        fn offline_iff_no_devices_after_grace(ops in proptest::collection::vec((0u8..5, 0u64..4, 0u64..8), 1..80)) {
            let t0 = Instant::now();
            let mut p = UserPresence::new(t0);
            let mut now = t0;
            for (op, conn, secs) in ops {
                now += Duration::from_secs(secs);
                let id = ConnectionId(conn);
                match op {
                    0 => { p.attach(id, device(), now); }
                    1 => { p.detach(id, now); }
                    2 => { p.grace_elapsed(now, GRACE); }
                    3 => { p.tick(now, AWAY); }
                    _ => { p.activity(now); }
                }
                if p.device_count() > 0 {
                    prop_assert_ne!(p.status(), Status::Offline);
                }
            }
        }
    }
}
