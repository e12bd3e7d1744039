//! Newtype ids used at every boundary, so a tenant id can never be passed
//! where a user id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a raw id.
            pub fn new(raw: impl Into<Arc<str>>) -> Self {
                $name(raw.into())
            }
            /// The raw id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

string_id!(
    /// A user of the host application (the JWT `sub`).
    UserId
);
string_id!(
    /// A tenant of the host application (the JWT `tenant_id`).
    TenantId
);

/// One WebSocket connection, unique within this process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({})", self.0)
    }
}

/// A room: one per (tenant, entity type, entity id). The tenant always comes
/// from the token, never from a client message.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RoomId {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Kind of entity (`document`, `invoice`, ...).
    pub entity_type: Arc<str>,
    /// The entity's id within its type.
    pub entity_id: Arc<str>,
}

impl RoomId {
    /// Builds a room id scoped to `tenant`.
    pub fn new(tenant: TenantId, entity_type: &str, entity_id: &str) -> Self {
        RoomId {
            tenant,
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
        }
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.entity_type, self.entity_id)
    }
}

/// Which of `shards` a key belongs to (0 when `shards` is 0): a hash that is
/// stable within one process (the actor pool and the broker's shards).
pub fn shard_of<K: std::hash::Hash + ?Sized>(key: &K, shards: usize) -> usize {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    let shards = shards.max(1) as u64;
    // Cannot truncate: the remainder is below `shards`, a usize.
    (hasher.finish() % shards) as usize
}
