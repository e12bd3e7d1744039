//! Edit locks on a whole entity or one field, with expiry, as a plain
//! struct on explicit instants.
//!
//! Rules:
//! - a lock is held by one user; the holder may renew it (extending expiry)
//!   or change its mode;
//! - another user cannot take a lock that overlaps an unexpired one (a field
//!   lock overlaps the entity lock and itself; the entity lock overlaps every
//!   field lock);
//! - `hard` locks reject other users' edits to the covered field(s); `soft`
//!   locks only warn;
//! - expired locks are removed by [`LockTable::expire`].

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Soft (warn) or hard (reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Others are warned but may edit.
    Soft,
    /// Others' edits to the locked field(s) are rejected.
    Hard,
}

/// One lock.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    /// `None` locks the whole entity.
    pub field: Option<String>,
    /// Holder.
    pub user_id: String,
    /// Holder's display name.
    pub name: String,
    /// Mode.
    pub mode: LockMode,
    /// Why (shown to others).
    pub reason: Option<String>,
    /// When it was taken.
    pub acquired_at: chrono::DateTime<chrono::Utc>,
    /// When it lapses unless renewed.
    pub expires: Instant,
    /// The same, as a timestamp (for the wire and the database).
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Lock {
    fn covers(&self, field: Option<&str>) -> bool {
        match (&self.field, field) {
            (None, _) | (_, None) => true,
            (Some(a), Some(b)) => a == b,
        }
    }
}

/// Why a lock was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LockError {
    /// Someone else holds an overlapping lock.
    #[error("locked by {}", .0.user_id)]
    Held(Box<Lock>),
    /// Unlock of a lock the user does not hold.
    #[error("no such lock held by this user")]
    NotHeld,
}

/// What an edit by a user meets.
#[derive(Debug, Clone, PartialEq)]
pub enum EditCheck {
    /// No lock by anyone else.
    Free,
    /// Another user's soft lock: allowed, with a warning.
    Warn(Box<Lock>),
    /// Another user's hard lock: refused.
    Refuse(Box<Lock>),
}

/// The locks of one document.
#[derive(Debug, Clone, Default)]
pub struct LockTable {
    locks: Vec<Lock>,
}

impl LockTable {
    /// Current locks (unexpired as of the last [`LockTable::expire`]).
    pub fn locks(&self) -> &[Lock] {
        &self.locks
    }

    /// Takes or renews a lock.
    #[allow(clippy::too_many_arguments)]
    pub fn acquire(
        &mut self,
        user_id: &str,
        name: &str,
        field: Option<&str>,
        mode: LockMode,
        reason: Option<String>,
        ttl: Duration,
        now: Instant,
    ) -> Result<Lock, LockError> {
        self.expire(now);
        if let Some(other) = self
            .locks
            .iter()
            .find(|l| l.user_id != user_id && l.covers(field))
        {
            return Err(LockError::Held(Box::new(other.clone())));
        }
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::seconds(30));
        let lock = Lock {
            field: field.map(str::to_owned),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            mode,
            reason,
            acquired_at: chrono::Utc::now(),
            expires: now + ttl,
            expires_at,
        };
        match self
            .locks
            .iter_mut()
            .find(|l| l.user_id == user_id && l.field.as_deref() == field)
        {
            Some(existing) => {
                existing.mode = lock.mode;
                existing.reason = lock.reason.clone();
                existing.expires = lock.expires;
                existing.expires_at = lock.expires_at;
                Ok(existing.clone())
            }
            None => {
                self.locks.push(lock.clone());
                Ok(lock)
            }
        }
    }

    /// Puts back a stored lock as it was (after a restart). A lock that
    /// conflicts with one already held is dropped: the table never holds
    /// two overlapping locks of different users.
    pub fn restore(&mut self, lock: Lock) -> bool {
        let field = lock.field.as_deref();
        if self.locks.iter().any(|l| {
            (l.user_id != lock.user_id && l.covers(field))
                || (l.user_id == lock.user_id && l.field == lock.field)
        }) {
            return false;
        }
        self.locks.push(lock);
        true
    }

    /// Releases a user's lock on `field` (or the entity).
    pub fn release(&mut self, user_id: &str, field: Option<&str>) -> Result<Lock, LockError> {
        let pos = self
            .locks
            .iter()
            .position(|l| l.user_id == user_id && l.field.as_deref() == field)
            .ok_or(LockError::NotHeld)?;
        Ok(self.locks.remove(pos))
    }

    /// Releases every lock of a user (their last connection left); true if any.
    pub fn release_user(&mut self, user_id: &str) -> bool {
        let before = self.locks.len();
        self.locks.retain(|l| l.user_id != user_id);
        self.locks.len() != before
    }

    /// Drops expired locks; true if any expired.
    pub fn expire(&mut self, now: Instant) -> bool {
        let before = self.locks.len();
        self.locks.retain(|l| l.expires > now);
        self.locks.len() != before
    }

    /// What an edit of `field` by `user_id` meets.
    pub fn check_edit(&self, user_id: &str, field: &str, now: Instant) -> EditCheck {
        let mut warn = None;
        for l in self
            .locks
            .iter()
            .filter(|l| l.expires > now && l.user_id != user_id && l.covers(Some(field)))
        {
            if l.mode == LockMode::Hard {
                return EditCheck::Refuse(Box::new(l.clone()));
            }
            warn.get_or_insert_with(|| Box::new(l.clone()));
        }
        match warn {
            Some(l) => EditCheck::Warn(l),
            None => EditCheck::Free,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn field_and_entity_locks_overlap() {
        let t = Instant::now();
        let mut table = LockTable::default();
        table
            .acquire("a", "A", Some("title"), LockMode::Hard, None, TTL, t)
            .unwrap();
        assert!(table
            .acquire("b", "B", Some("body"), LockMode::Hard, None, TTL, t)
            .is_ok());
        assert!(matches!(
            table.acquire("b", "B", Some("title"), LockMode::Soft, None, TTL, t),
            Err(LockError::Held(_))
        ));
        assert!(matches!(
            table.acquire("c", "C", None, LockMode::Soft, None, TTL, t),
            Err(LockError::Held(_))
        ));
        // The holder may renew and change mode.
        let renewed = table
            .acquire("a", "A", Some("title"), LockMode::Soft, None, TTL * 2, t)
            .unwrap();
        assert_eq!(renewed.mode, LockMode::Soft);
        assert_eq!(table.locks().len(), 2);
    }

    #[test]
    fn hard_refuses_soft_warns_and_own_locks_are_free() {
        let t = Instant::now();
        let mut table = LockTable::default();
        table
            .acquire("a", "A", Some("title"), LockMode::Hard, None, TTL, t)
            .unwrap();
        table
            .acquire("a", "A", Some("body"), LockMode::Soft, None, TTL, t)
            .unwrap();
        assert!(matches!(
            table.check_edit("b", "title", t),
            EditCheck::Refuse(_)
        ));
        assert!(matches!(
            table.check_edit("b", "body", t),
            EditCheck::Warn(_)
        ));
        assert_eq!(table.check_edit("b", "other", t), EditCheck::Free);
        assert_eq!(table.check_edit("a", "title", t), EditCheck::Free);
    }

    #[test]
    fn locks_expire_and_release() {
        let t = Instant::now();
        let mut table = LockTable::default();
        table
            .acquire("a", "A", None, LockMode::Hard, None, TTL, t)
            .unwrap();
        assert!(!table.expire(t + TTL - Duration::from_secs(1)));
        assert!(table.expire(t + TTL));
        assert_eq!(table.check_edit("b", "x", t + TTL), EditCheck::Free);
        table
            .acquire("a", "A", Some("f"), LockMode::Hard, None, TTL, t)
            .unwrap();
        assert_eq!(table.release("b", Some("f")), Err(LockError::NotHeld));
        assert!(table.release_user("a"));
        assert!(table.locks().is_empty());
    }

    proptest! {
        /// No two users ever hold overlapping unexpired locks.
        #[test]
        fn never_two_holders_of_overlapping_locks(ops in proptest::collection::vec((0u8..3, 0u8..3, 0u8..4, 0u64..20), 1..100)) {
            let t0 = Instant::now();
            let mut table = LockTable::default();
            let mut now = t0;
            for (op, user, field, secs) in ops {
                now += Duration::from_secs(secs);
                let user = format!("u{user}");
                let field = (field > 0).then(|| format!("f{field}"));
                match op {
                    0 => { let _ = table.acquire(&user, &user, field.as_deref(), LockMode::Hard, None, TTL, now); }
                    1 => { let _ = table.release(&user, field.as_deref()); }
                    _ => { table.expire(now); }
                }
                let live: Vec<&Lock> = table.locks().iter().filter(|l| l.expires > now).collect();
                for a in &live {
                    for b in &live {
                        if a.user_id != b.user_id {
                            prop_assert!(!a.covers(b.field.as_deref()), "{a:?} overlaps {b:?}");
                        }
                    }
                }
            }
        }
    }
}
