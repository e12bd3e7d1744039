//! Several nodes over Redis: the bridge's pure parts (`cluster::bridge` is
//! its shell) and document leases. [`envelope`] carries a frame between
//! nodes; [`interest`] tracks which topic channels this node listens to;
//! [`lease`] keeps one writer per document in the cluster; [`slots`] counts
//! a user's sockets across the cluster; [`nodes`] tells which nodes are
//! alive (their heartbeat keys); [`presence`] keeps each node's users in
//! Redis and announces their changes to the other nodes' rosters.

pub mod bridge;
pub mod envelope;
pub mod interest;
pub mod lease;
pub mod nodes;
pub mod presence;
pub mod slots;

use crate::broker::Topic;

/// The Redis channel of a topic, under the cluster's key prefix. A user
/// channel carries the tenant's length, so a `:` in a tenant id cannot make
/// two topics share a channel.
pub fn channel(prefix: &str, topic: &Topic) -> String {
    match topic {
        Topic::Tenant(t) => format!("{prefix}t:{}", t.as_str()),
        Topic::User(t, u) => format!(
            "{prefix}u:{}:{}:{}",
            t.as_str().len(),
            t.as_str(),
            u.as_str()
        ),
        Topic::Roster(t) => format!("{prefix}p:{}", t.as_str()),
        Topic::Yjs(t, name) => format!("{prefix}y:{}:{}:{name}", t.as_str().len(), t.as_str()),
        Topic::Room(r) => format!(
            "{prefix}r:{}:{}:{}:{}:{}",
            r.tenant.as_str().len(),
            r.tenant.as_str(),
            r.entity_type.len(),
            r.entity_type,
            r.entity_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};

    #[test]
    fn channels_of_different_topics_differ() {
        let a = Topic::User(TenantId::new("a:b"), UserId::new("c"));
        let b = Topic::User(TenantId::new("a"), UserId::new("b:c"));
        assert_ne!(channel("p:", &a), channel("p:", &b));
        let t = Topic::Tenant(TenantId::new("u:1:a:b"));
        assert_ne!(channel("p:", &t), channel("p:", &a));
        assert!(channel("p:", &t).starts_with("p:"));
    }
}
