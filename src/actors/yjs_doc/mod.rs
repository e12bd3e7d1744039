//! One actor per Yjs document: (tenant, document name). It holds the
//! `yrs::Doc` and the awareness states, answers the y-websocket sync
//! protocol, relays updates and awareness between the document's sockets, and
//! persists to `yjs_updates` through a per-document writer task so the
//! mailbox never waits for the database.
//!
//! Lifecycle (owned by [`YjsRegistryActor`](crate::actors::yjs_registry::YjsRegistryActor)): the registry creates the actor
//! and forwards every [`Join`]; the actor loads the document (after the
//! previous actor of the same document finished writing), serves, and once
//! it has had no sockets for `rooms.idle_stop_secs` reports [`DocIdle`] with
//! the joins it has seen. The registry answers with [`StopDoc`] only when no
//! join is on its way; the actor then compacts (one snapshot row replaces
//! the older rows) and stops. Its writer task signals the registry when the
//! last write is done.
//!
//! Persistence: every change a client sends that yrs integrates is written
//! as one row (what the transaction changed, so duplicates and no-ops are not
//! stored); every [`COMPACT_EVERY`] rows, and on stop, the full state is
//! written as one `is_snapshot` row and the rows it holds are deleted in the
//! same transaction. Loading applies every row in id order.
//!
//! Store before relay: a change reaches the other sockets only once it is
//! stored, and an answer to sync step 1 (which carries the whole in-memory
//! state) waits until every change before it is stored, so no socket ever
//! sees a change that a stopped PostgreSQL or a crash could still lose. A
//! write that fails is retried, never dropped ([`MAX_WRITE_BACKOFF`]); the
//! frames wait meanwhile. The wait is bounded: with
//! `documents.max_pending_writes` writes outstanding, a further update is
//! not applied and its sender is closed with 1013 (try again later); the
//! y-websocket client reconnects and sends it again when it syncs.
//!
//! Size: an update that would take the encoded state past
//! `yjs.max_document_bytes` closes its sender with 4413 before yrs sees it
//! (`apply::SizeBudget` estimates the size without encoding every time).
//!
//! Files: this one holds the actor, its messages and its lifecycle;
//! `sync.rs` the sync protocol and update handling; `peers.rs` the sockets
//! and awareness; `apply.rs` the pure, panic-catching calls into yrs and the
//! size budget; `persist.rs` loading and the writer task; `relay.rs` the
//! actor's side of store-before-relay (held frames, load outcome);
//! `cluster.rs` the document across the nodes of a cluster (updates and
//! awareness over Redis, catch-up from the stored rows).
//! tests/yjs_fuzz.rs fuzzes the update path (in its own test binary: a crash in yrs's unsafe
//! code must not take other tests down).

pub mod apply;
mod cluster;
mod peers;
mod persist;
mod relay;
mod sync;

use super::yjs_peer::{yjs_close_code, YjsConnId, YjsPeer};
use crate::db::{Db, DbError};
use crate::ids::TenantId;
use actix::prelude::*;
use actix_web::web::Bytes;
use apply::SizeBudget;
pub use persist::MAX_WRITE_BACKOFF;
use persist::{load, run_writer, WriteOp};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use yrs::sync::{Awareness, AwarenessUpdate, Message};
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Doc, StateVector, Update};

/// A document with no sockets wants to stop (sent to the registry).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DocIdle {
    /// Which.
    pub doc: YjsDocId,
    /// Which actor of it.
    pub generation: u64,
    /// Joins it has processed.
    pub joins_seen: u64,
}

/// A document could not be loaded (or yrs failed): retire it now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DocFailed {
    /// Which.
    pub doc: YjsDocId,
    /// Which actor of it.
    pub generation: u64,
}

/// A document actor's writer finished its last write after the actor stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DocRetired {
    /// Which.
    pub doc: YjsDocId,
    /// Which actor of it.
    pub generation: u64,
}

/// How this actor and its writer reach the registry (the messages below
/// are defined here so that the document never imports the registry).
#[derive(Clone)]
pub struct RegistryLink {
    /// Takes [`DocIdle`].
    pub idle: Recipient<DocIdle>,
    /// Takes [`DocFailed`].
    pub failed: Recipient<DocFailed>,
    /// Takes [`DocRetired`].
    pub retired: Recipient<DocRetired>,
}

/// A socket joins the document (only the registry sends it; it counts them).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    /// How to reach the socket.
    pub peer: YjsPeer,
}

/// A socket closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// Which.
    pub conn: YjsConnId,
}

/// Messages a socket received, decoded, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Inbound {
    /// From which socket.
    pub conn: YjsConnId,
    /// The messages of one frame.
    pub messages: Vec<Incoming>,
}

/// Persist and stop (only the registry sends it, after taking the document
/// out of its map); `close` closes the remaining sockets first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopDoc {
    /// Close code and reason for sockets still open (shutdown: 1012).
    pub close: Option<(u16, &'static str)>,
}

/// The writer task stored every write up to this sequence number.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stored(pub u64);

/// A document's identity: the token's tenant and the name from the URL.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct YjsDocId {
    /// Owning tenant (always from the token).
    pub tenant: TenantId,
    /// Document name from the URL path (1 to 256 bytes).
    pub name: Arc<str>,
}

/// For logs only: the name (and tenant) come from clients, so control
/// characters, quotes and non-ASCII are escaped (`\n`, `\u{1b}`), and a name
/// can never forge or break a log line.
impl fmt::Display for YjsDocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.tenant.as_str().escape_default(),
            self.name.escape_default()
        )
    }
}

/// One decoded y-websocket message from a client.
#[derive(Debug)]
pub enum Incoming {
    /// Sync step 1: the client's state vector; answered with step 2 and our step 1.
    SyncStep1(StateVector),
    /// Sync step 2 or an update: changes to apply.
    Update(Update),
    /// Awareness states of the client's awareness ids.
    Awareness(AwarenessUpdate),
    /// The client asks for every awareness state.
    QueryAwareness,
}

/// Rows written since the last snapshot after which the document is compacted.
pub const COMPACT_EVERY: usize = 200;
/// Awareness client ids one socket may own (a y-websocket client uses one).
const MAX_AWARENESS_IDS_PER_SOCKET: usize = 16;
/// How often sockets whose actor died unnoticed are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// How long an awareness id that a socket on another node set stays that
/// node's without being set again. y-websocket clients renew their state
/// every 15 s and drop one not renewed for 30 s; past this the socket that
/// set it is gone (its node died without removing the state), and a socket
/// here may take the id, as a client reconnecting here after that node's
/// death does.
const REMOTE_OWNER_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocState {
    /// Waiting for the previous actor's writes and the load.
    Loading,
    /// Serving.
    Ready,
    /// The load failed; joins are refused until the registry stops it.
    Failed,
    /// yrs panicked: the in-memory document is not trusted and never persisted again.
    Poisoned,
}

/// A frame waiting for a write to be stored before it may be sent.
enum Held {
    /// A change, to every socket but its sender (`None`: another node's
    /// change, to every socket).
    Relay {
        frame: Bytes,
        from: Option<YjsConnId>,
    },
    /// An answer to one socket's sync step 1.
    Reply { conn: YjsConnId, frames: [Bytes; 2] },
}

/// Limits of one document (from `[yjs]` and `[documents]`).
#[derive(Debug, Clone, Copy)]
pub struct YjsLimits {
    /// `yjs.max_document_bytes`: largest encoded state.
    pub max_document_bytes: usize,
    /// `documents.max_pending_writes`: writes outstanding before updates
    /// are refused.
    pub max_pending_writes: usize,
}

struct PeerEntry {
    peer: YjsPeer,
    /// Awareness ids this socket has set.
    clients: HashSet<ClientID>,
}

/// The document's actor.
pub struct YjsDocActor {
    id: YjsDocId,
    generation: u64,
    registry: RegistryLink,
    db: Db,
    /// The previous actor's writer for this document; loading waits for it.
    previous: Option<watch::Receiver<bool>>,
    writer: Option<mpsc::UnboundedSender<WriteOp>>,
    state: DocState,
    awareness: Awareness,
    peers: HashMap<YjsConnId, PeerEntry>,
    /// Which socket owns each awareness id.
    owners: HashMap<ClientID, YjsConnId>,
    /// Awareness ids that sockets on other nodes set, and when each was
    /// last set: no socket here may set them (see [`REMOTE_OWNER_TTL`]).
    remote_owned: HashMap<ClientID, Instant>,
    joins_seen: u64,
    /// Rows in the database for this document (estimate: loaded + written).
    rows: usize,
    idle_after: Duration,
    /// The encoded size against `yjs.max_document_bytes`.
    size: SizeBudget,
    idle_timer: Option<SpawnHandle>,
    /// Sequence number of the last write handed to the writer.
    written: u64,
    /// Sequence number up to which the writer has stored everything.
    stored: u64,
    /// Frames waiting for their write, in sequence order.
    held: VecDeque<(u64, Held)>,
    /// `documents.max_pending_writes`.
    max_pending: u64,
    /// The other nodes of a cluster (`cluster.rs`); `None` alone.
    cluster: Option<cluster::ClusterLink>,
}

impl YjsDocActor {
    /// Builds the actor and starts its writer task on the current arbiter
    /// (call it where the actor will run, so its writes and compactions
    /// stay on the document's thread); `done` turns true when the writer
    /// has finished after the actor stopped.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: YjsDocId,
        generation: u64,
        registry: RegistryLink,
        db: Db,
        idle_after: Duration,
        limits: YjsLimits,
        previous: Option<watch::Receiver<bool>>,
        done_tx: watch::Sender<bool>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        actix_rt::spawn(run_writer(
            db.clone(),
            id.clone(),
            generation,
            registry.clone(),
            rx,
            done_tx,
        ));
        YjsDocActor {
            id,
            generation,
            registry,
            db,
            previous,
            writer: Some(tx),
            state: DocState::Loading,
            awareness: Awareness::new(Doc::new()),
            peers: HashMap::new(),
            owners: HashMap::new(),
            remote_owned: HashMap::new(),
            joins_seen: 0,
            rows: 0,
            idle_after,
            size: SizeBudget::new(limits.max_document_bytes, 0),
            idle_timer: None,
            written: 0,
            stored: 0,
            held: VecDeque::new(),
            max_pending: u64::try_from(limits.max_pending_writes).unwrap_or(u64::MAX),
            cluster: None,
        }
    }

    /// Shares the document with the other nodes of a cluster over
    /// `broker` (a clustered node's broker; `cluster.rs`).
    pub fn in_cluster(mut self, broker: Arc<dyn crate::broker::Broker>) -> Self {
        self.cluster = Some(cluster::ClusterLink::new(broker));
        self
    }

    /// Writes the full state as a snapshot replacing every older row.
    fn compact(&mut self) {
        if self.state != DocState::Ready {
            return;
        }
        // yrs can panic encoding pending (not yet integrable) structs a client
        // sent; then the stored rows, which never hold those, are kept.
        match apply::encode_state(self.awareness.doc()) {
            Some(state) => {
                self.size.measured(state.len());
                self.write(|seq| WriteOp::Compact(seq, state));
                self.rows = 1;
            }
            None => {
                log::error!("yjs {}: yrs panicked encoding a snapshot", self.id);
                self.fail(DocState::Poisoned);
            }
        }
    }

    fn arm_idle(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.idle_timer.take() {
            ctx.cancel_future(timer);
        }
        self.idle_timer = Some(ctx.run_later(self.idle_after, |act, _| {
            act.idle_timer = None;
            if act.peers.is_empty() {
                act.registry.idle.do_send(DocIdle {
                    doc: act.id.clone(),
                    generation: act.generation,
                    joins_seen: act.joins_seen,
                });
            }
        }));
    }
}

impl Actor for YjsDocActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Subscribed before the load, so the load and the catch-up after it
        // cover whatever other nodes store meanwhile.
        self.join_cluster(ctx);
        let previous = self.previous.take();
        let db = self.db.clone();
        let id = self.id.clone();
        // The mailbox waits for the load: joins and updates queue behind it.
        ctx.wait(
            async move {
                if let Some(mut previous) = previous {
                    let _ = previous.wait_for(|done| *done).await;
                }
                load(&db, &id).await
            }
            .into_actor(self)
            .map(|rows, act, ctx| act.loaded(rows, ctx)),
        );
        ctx.run_interval(SWEEP_EVERY, |act, ctx| {
            act.sweep(ctx);
            act.watch_redis(ctx);
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.leave_cluster();
        // Dropping the sender lets the writer finish what is queued and signal.
        self.writer = None;
    }
}

impl Handler<Join> for YjsDocActor {
    type Result = ();

    /// Adds a socket and sends it the current awareness states.
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        self.joins_seen += 1;
        if self.state != DocState::Ready {
            msg.peer
                .close(yjs_close_code::INTERNAL_ERROR, "document unavailable");
            return;
        }
        if let Some(timer) = self.idle_timer.take() {
            ctx.cancel_future(timer);
        }
        let conn = msg.peer.id;
        self.peers.insert(
            conn,
            PeerEntry {
                peer: msg.peer,
                clients: HashSet::new(),
            },
        );
        if let Some(frame) = self.awareness_frame() {
            if !self.send_to(conn, frame) {
                self.remove_peers(vec![conn], ctx);
            }
        }
    }
}

impl Handler<Leave> for YjsDocActor {
    type Result = ();

    /// Forgets a socket and its awareness states.
    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        self.remove_peers(vec![msg.conn], ctx);
    }
}

impl Handler<Inbound> for YjsDocActor {
    type Result = ();

    /// Answers, applies and relays one frame's messages.
    fn handle(&mut self, msg: Inbound, ctx: &mut Context<Self>) {
        let conn = msg.conn;
        for message in msg.messages {
            if self.state != DocState::Ready || !self.peers.contains_key(&conn) {
                return;
            }
            match message {
                Incoming::SyncStep1(sv) => self.on_sync_step1(conn, sv, ctx),
                Incoming::Update(update) => {
                    if !self.on_update(conn, update, ctx) {
                        return;
                    }
                }
                Incoming::Awareness(update) => self.on_awareness(conn, update, ctx),
                Incoming::QueryAwareness => {
                    let update = self.awareness.update().unwrap_or_else(|_| AwarenessUpdate {
                        clients: HashMap::new(),
                    });
                    let frame = Bytes::from(Message::Awareness(update).encode_v1());
                    if !self.send_to(conn, frame) {
                        self.remove_peers(vec![conn], ctx);
                    }
                }
            }
        }
    }
}

impl Handler<Stored> for YjsDocActor {
    type Result = ();

    /// Sends the frames that waited for these writes.
    fn handle(&mut self, Stored(seq): Stored, ctx: &mut Context<Self>) {
        self.stored = self.stored.max(seq);
        self.release(ctx);
    }
}

impl Handler<StopDoc> for YjsDocActor {
    type Result = ();

    /// Closes what is still open, compacts and stops.
    fn handle(&mut self, msg: StopDoc, ctx: &mut Context<Self>) {
        if let Some((code, reason)) = msg.close {
            for entry in self.peers.values() {
                entry.peer.close(code, reason);
            }
        }
        self.peers.clear();
        self.owners.clear();
        self.held.clear();
        if self.rows > 1 {
            self.compact();
        }
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_are_escaped_in_logs() {
        let id = YjsDocId {
            tenant: TenantId::new("t1"),
            name: "a\n[ERROR] forged\r\u{1b}[31m\"x\"".into(),
        };
        let shown = id.to_string();
        assert_eq!(shown, r#"t1/a\n[ERROR] forged\r\u{1b}[31m\"x\""#);
        assert!(!shown.chars().any(char::is_control));
    }
}
