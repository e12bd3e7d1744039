//! Which topics this node has local subscribers for: the node listens to a
//! topic's Redis channel exactly while the count is above zero. Counts
//! connections, not subscribe calls (a repeated subscribe is one).

use crate::broker::Topic;
use crate::ids::ConnectionId;
use std::collections::{HashMap, HashSet};

/// Local subscriptions by topic and by connection.
#[derive(Default, Debug)]
pub struct Interest {
    counts: HashMap<Topic, usize>,
    by_connection: HashMap<ConnectionId, HashSet<Topic>>,
}

impl Interest {
    /// Adds a subscription; true when the topic gained its first subscriber.
    pub fn subscribe(&mut self, topic: Topic, connection: ConnectionId) -> bool {
        if !self
            .by_connection
            .entry(connection)
            .or_default()
            .insert(topic.clone())
        {
            return false;
        }
        let count = self.counts.entry(topic).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Removes a subscription; true when the topic lost its last subscriber.
    pub fn unsubscribe(&mut self, topic: &Topic, connection: ConnectionId) -> bool {
        let Some(topics) = self.by_connection.get_mut(&connection) else {
            return false;
        };
        if !topics.remove(topic) {
            return false;
        }
        if topics.is_empty() {
            self.by_connection.remove(&connection);
        }
        self.release(topic)
    }

    /// Removes every subscription of a connection; returns the topics that
    /// lost their last subscriber.
    pub fn unsubscribe_all(&mut self, connection: ConnectionId) -> Vec<Topic> {
        let topics = self.by_connection.remove(&connection).unwrap_or_default();
        topics.into_iter().filter(|t| self.release(t)).collect()
    }

    fn release(&mut self, topic: &Topic) -> bool {
        match self.counts.get_mut(topic) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                self.counts.remove(topic);
                true
            }
            None => false,
        }
    }

    /// True when the node has a local subscriber for `topic`.
    pub fn wants(&self, topic: &Topic) -> bool {
        self.counts.contains_key(topic)
    }

    /// The topics with local subscribers.
    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.counts.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};
    use proptest::prelude::*;

    fn tenant(n: u8) -> Topic {
        Topic::Tenant(TenantId::new(format!("t{n}")))
    }

    #[test]
    fn first_and_last_subscriber_change_the_interest() {
        let mut i = Interest::default();
        let (a, b) = (ConnectionId(1), ConnectionId(2));
        let u = Topic::User(TenantId::new("t"), UserId::new("u"));
        assert!(i.subscribe(tenant(1), a));
        assert!(
            !i.subscribe(tenant(1), a),
            "a repeat is not a new subscriber"
        );
        assert!(!i.subscribe(tenant(1), b));
        assert!(i.subscribe(u.clone(), a));
        assert!(!i.unsubscribe(&tenant(1), a));
        assert!(!i.unsubscribe(&tenant(1), a), "already gone");
        assert!(i.wants(&tenant(1)));
        assert_eq!(i.unsubscribe_all(b), vec![tenant(1)]);
        assert!(!i.wants(&tenant(1)));
        assert!(i.wants(&u));
        assert_eq!(i.unsubscribe_all(a), vec![u]);
        assert_eq!(i.topics().count(), 0);
        assert!(i.unsubscribe_all(a).is_empty());
    }

    proptest! {
        /// The topics wanted are exactly those some connection holds.
        #[test]
        fn interest_matches_the_subscriptions(
            ops in proptest::collection::vec((0u8..3, 0u64..4, 0u8..3), 0..80)
        ) {
            let mut i = Interest::default();
            let mut model: HashSet<(u64, u8)> = HashSet::new();
            for (op, conn, t) in ops {
                let before: HashSet<u8> = model.iter().map(|&(_, t)| t).collect();
                let changed = match op {
                    0 => { model.insert((conn, t)); i.subscribe(tenant(t), ConnectionId(conn)) }
                    1 => { model.remove(&(conn, t)); i.unsubscribe(&tenant(t), ConnectionId(conn)) }
                    _ => {
                        model.retain(|&(c, _)| c != conn);
                        let released = i.unsubscribe_all(ConnectionId(conn));
                        let after: HashSet<u8> = model.iter().map(|&(_, t)| t).collect();
                        let gone: HashSet<Topic> = before.difference(&after).map(|&t| tenant(t)).collect();
                        prop_assert_eq!(released.iter().cloned().collect::<HashSet<_>>(), gone);
                        !released.is_empty()
                    }
                };
                let after: HashSet<u8> = model.iter().map(|&(_, t)| t).collect();
                prop_assert_eq!(changed, before != after);
                for t in 0..3 {
                    prop_assert_eq!(i.wants(&tenant(t)), after.contains(&t));
                }
            }
        }
    }
}
