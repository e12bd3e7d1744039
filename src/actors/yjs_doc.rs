//! One actor per Yjs document: (tenant, document name). It holds the
//! `yrs::Doc` and the awareness states, answers the y-websocket sync
//! protocol, relays updates and awareness between the document's sockets, and
//! persists to `yjs_updates` through a per-document writer task so the
//! mailbox never waits for the database.
//!
//! Lifecycle (owned by [`YjsRegistryActor`]): the registry creates the actor
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

use super::yjs_connection::{yjs_close_code, YjsConnId, YjsPeer};
use super::yjs_registry::{DocFailed, DocIdle, DocRetired, YjsRegistryActor};
use crate::db::schema::yjs_updates;
use crate::db::{Db, DbError};
use crate::ids::TenantId;
use actix::prelude::*;
use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use yrs::sync::{Awareness, AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Doc, ReadTxn, StateVector, Transact, Update};

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
/// Update rows written per insert at most.
const WRITE_BATCH: usize = 100;
/// How often sockets whose actor died unnoticed are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// A write for the document's writer task.
enum WriteOp {
    /// Rows the loaded document holds (a snapshot may delete them).
    Loaded(Vec<i64>),
    /// One update row.
    Append(Vec<u8>),
    /// A snapshot row replacing every older row.
    Compact(Vec<u8>),
}

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

struct PeerEntry {
    peer: YjsPeer,
    /// Awareness ids this socket has set.
    clients: HashSet<ClientID>,
}

/// The document's actor.
pub struct YjsDocActor {
    id: YjsDocId,
    generation: u64,
    registry: Addr<YjsRegistryActor>,
    db: Db,
    /// The previous actor's writer for this document; loading waits for it.
    previous: Option<watch::Receiver<bool>>,
    writer: Option<mpsc::UnboundedSender<WriteOp>>,
    state: DocState,
    awareness: Awareness,
    peers: HashMap<YjsConnId, PeerEntry>,
    /// Which socket owns each awareness id.
    owners: HashMap<ClientID, YjsConnId>,
    joins_seen: u64,
    /// Rows in the database for this document (estimate: loaded + written).
    rows: usize,
    idle_after: Duration,
    idle_timer: Option<SpawnHandle>,
}

impl YjsDocActor {
    /// Builds the actor and starts its writer task; the receiver turns true
    /// when the writer has finished after the actor stopped.
    pub fn new(
        id: YjsDocId,
        generation: u64,
        registry: Addr<YjsRegistryActor>,
        db: Db,
        idle_after: Duration,
        previous: Option<watch::Receiver<bool>>,
    ) -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = watch::channel(false);
        actix_rt::spawn(run_writer(
            db.clone(),
            id.clone(),
            generation,
            registry.clone(),
            rx,
            done_tx,
        ));
        let actor = YjsDocActor {
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
            joins_seen: 0,
            rows: 0,
            idle_after,
            idle_timer: None,
        };
        (actor, done_rx)
    }

    fn write(&mut self, op: WriteOp) {
        if let Some(writer) = &self.writer {
            if writer.send(op).is_err() {
                log::error!("yjs {}: writer gone; change not persisted", self.id);
            }
        }
    }

    /// Applies the rows loaded from the database and starts serving.
    fn loaded(&mut self, rows: Result<Vec<(i64, Vec<u8>)>, DbError>, ctx: &mut Context<Self>) {
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                log::error!("yjs {}: cannot load the document: {e}", self.id);
                self.fail(DocState::Failed);
                return;
            }
        };
        let doc = self.awareness.doc().clone();
        let mut applied_ids = Vec::with_capacity(rows.len());
        for (row_id, payload) in &rows {
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let update = Update::decode_v1(payload).map_err(|e| e.to_string())?;
                let mut txn = doc.try_transact_mut().map_err(|e| e.to_string())?;
                txn.apply_update(update).map_err(|e| e.to_string())
            }));
            match applied {
                Ok(Ok(())) => applied_ids.push(*row_id),
                // Kept in the table: a snapshot only replaces rows it holds.
                Ok(Err(e)) => log::warn!("yjs {}: stored row {row_id} skipped: {e}", self.id),
                Err(_) => {
                    log::error!("yjs {}: yrs panicked on stored row {row_id}", self.id);
                    self.fail(DocState::Poisoned);
                    return;
                }
            }
        }
        log::debug!(
            "yjs {}: loaded {} of {} rows",
            self.id,
            applied_ids.len(),
            rows.len()
        );
        self.rows = applied_ids.len();
        self.write(WriteOp::Loaded(applied_ids));
        self.state = DocState::Ready;
        if self.rows >= COMPACT_EVERY {
            self.compact();
        }
        if self.peers.is_empty() {
            self.arm_idle(ctx);
        }
    }

    /// Stops serving: closes every socket and asks the registry to retire this actor.
    fn fail(&mut self, state: DocState) {
        self.state = state;
        for (_, entry) in self.peers.drain() {
            entry
                .peer
                .close(yjs_close_code::INTERNAL_ERROR, "document unavailable");
        }
        self.owners.clear();
        self.registry.do_send(DocFailed {
            doc: self.id.clone(),
            generation: self.generation,
        });
    }

    /// Writes the full state as a snapshot replacing every older row.
    fn compact(&mut self) {
        if self.state != DocState::Ready {
            return;
        }
        let doc = self.awareness.doc();
        // yrs can panic encoding pending (not yet integrable) structs a client
        // sent; then the stored rows, which never hold those, are kept.
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            doc.transact()
                .encode_state_as_update_v1(&StateVector::default())
        }));
        match encoded {
            Ok(state) => {
                self.write(WriteOp::Compact(state));
                self.rows = 1;
            }
            Err(_) => {
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
                act.registry.do_send(DocIdle {
                    doc: act.id.clone(),
                    generation: act.generation,
                    joins_seen: act.joins_seen,
                });
            }
        }));
    }

    /// Sends a frame to one socket; false when it is gone.
    fn send_to(&self, conn: YjsConnId, frame: Bytes) -> bool {
        self.peers
            .get(&conn)
            .is_some_and(|entry| entry.peer.send(frame))
    }

    /// Sends a frame to every socket except `except`, then drops the dead ones.
    fn broadcast(&mut self, frame: &Bytes, except: Option<YjsConnId>, ctx: &mut Context<Self>) {
        let dead: Vec<YjsConnId> = self
            .peers
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .filter(|(_, entry)| !entry.peer.send(frame.clone()))
            .map(|(id, _)| *id)
            .collect();
        self.remove_peers(dead, ctx);
    }

    /// Forgets sockets, removes their awareness states and tells the others.
    fn remove_peers(&mut self, mut gone: Vec<YjsConnId>, ctx: &mut Context<Self>) {
        while let Some(conn) = gone.pop() {
            let Some(entry) = self.peers.remove(&conn) else {
                continue;
            };
            let clients: Vec<ClientID> = entry.clients.into_iter().collect();
            for client in &clients {
                self.owners.remove(client);
                self.awareness.remove_state(*client);
            }
            if !clients.is_empty() {
                if let Ok(update) = self.awareness.update_with_clients(clients) {
                    let frame = Bytes::from(Message::Awareness(update).encode_v1());
                    for (id, entry) in &self.peers {
                        if !entry.peer.send(frame.clone()) {
                            gone.push(*id);
                        }
                    }
                }
            }
        }
        if self.peers.is_empty() && self.idle_timer.is_none() {
            self.arm_idle(ctx);
        }
    }

    fn on_sync_step1(&mut self, conn: YjsConnId, sv: StateVector, ctx: &mut Context<Self>) {
        let doc = self.awareness.doc();
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let txn = doc.transact();
            (txn.encode_state_as_update_v1(&sv), txn.state_vector())
        }));
        let Ok((update, ours)) = encoded else {
            log::error!("yjs {}: yrs panicked answering sync step 1", self.id);
            self.fail(DocState::Poisoned);
            return;
        };
        let step2 = Bytes::from(Message::Sync(SyncMessage::SyncStep2(update)).encode_v1());
        let step1 = Bytes::from(Message::Sync(SyncMessage::SyncStep1(ours)).encode_v1());
        if !(self.send_to(conn, step2) && self.send_to(conn, step1)) {
            self.remove_peers(vec![conn], ctx);
        }
    }

    /// Applies a client's update; broadcasts and persists what it changed.
    /// False when the socket was closed for it.
    fn on_update(&mut self, conn: YjsConnId, update: Update, ctx: &mut Context<Self>) -> bool {
        let doc = self.awareness.doc();
        let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut txn = doc.try_transact_mut().map_err(|e| e.to_string())?;
            txn.apply_update(update).map_err(|e| e.to_string())?;
            // What this update changed (nothing for duplicates, or for
            // changes still waiting for missing predecessors).
            Ok::<_, String>(txn.has_changes().then(|| txn.encode_update_v1()))
        }));
        match applied {
            Ok(Ok(change)) => {
                if let Some(change) = change {
                    let frame =
                        Bytes::from(Message::Sync(SyncMessage::Update(change.clone())).encode_v1());
                    self.broadcast(&frame, Some(conn), ctx);
                    self.write(WriteOp::Append(change));
                    self.rows += 1;
                }
                if self.rows >= COMPACT_EVERY {
                    self.compact();
                }
                true
            }
            Ok(Err(e)) => {
                log::debug!("yjs {}: update from {conn} refused: {e}", self.id);
                if let Some(entry) = self.peers.get(&conn) {
                    entry
                        .peer
                        .close(yjs_close_code::UNSUPPORTED_DATA, "update refused");
                }
                self.remove_peers(vec![conn], ctx);
                false
            }
            Err(_) => {
                // A crafted update made yrs panic: it hurts only its sender.
                // The document is kept when its whole state still encodes
                // (the unwound transaction left it usable); nothing of the
                // update is broadcast or stored.
                log::error!(
                    "yjs {}: yrs panicked applying an update from {conn}; closing that socket",
                    self.id
                );
                if let Some(entry) = self.peers.get(&conn) {
                    entry
                        .peer
                        .close(yjs_close_code::UNSUPPORTED_DATA, "update refused");
                }
                self.remove_peers(vec![conn], ctx);
                let doc = self.awareness.doc();
                let intact = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    doc.transact()
                        .encode_state_as_update_v1(&StateVector::default())
                        .len()
                }))
                .is_ok();
                if !intact {
                    log::error!("yjs {}: the document no longer encodes", self.id);
                    self.fail(DocState::Poisoned);
                }
                false
            }
        }
    }

    /// Applies awareness states the socket may set, then relays the changes
    /// to every socket of the document (the sender too: y-websocket clients
    /// treat a socket that receives nothing for 30 s as dead, and their own
    /// awareness renewal is what a lone client receives).
    fn on_awareness(
        &mut self,
        conn: YjsConnId,
        mut update: AwarenessUpdate,
        ctx: &mut Context<Self>,
    ) {
        let Some(entry) = self.peers.get(&conn) else {
            return;
        };
        let mut owned = entry.clients.len();
        update
            .clients
            .retain(|client, _| match self.owners.get(client) {
                Some(owner) => *owner == conn,
                None if owned < MAX_AWARENESS_IDS_PER_SOCKET => {
                    owned += 1;
                    true
                }
                None => false,
            });
        if update.clients.is_empty() {
            return;
        }
        // A client that reconnects announces its state with the clock it had;
        // the removal of its old socket's state bumped ours past it, so the
        // announcement is ignored. Sending it our tombstone makes it bump its
        // clock and announce again (y-protocols never lets a peer remove its
        // own local state), instead of staying invisible until its renewal.
        let stale: Vec<ClientID> = update
            .clients
            .iter()
            .filter(|(client, entry)| {
                &*entry.json != "null"
                    && !self.owners.contains_key(*client)
                    && self
                        .awareness
                        .meta(**client)
                        .is_some_and(|(clock, _)| clock >= entry.clock)
            })
            .map(|(client, _)| *client)
            .collect();
        if !stale.is_empty() {
            if let Ok(tombstones) = self.awareness.update_with_clients(stale) {
                let frame = Bytes::from(Message::Awareness(tombstones).encode_v1());
                if !self.send_to(conn, frame) {
                    self.remove_peers(vec![conn], ctx);
                    return;
                }
            }
        }
        let summary = match self.awareness.apply_update_summary(update) {
            Ok(Some(summary)) => summary,
            Ok(None) => return,
            Err(e) => {
                log::debug!("yjs {}: awareness from {conn} refused: {e}", self.id);
                return;
            }
        };
        if let Some(entry) = self.peers.get_mut(&conn) {
            for client in summary.added.iter().chain(&summary.updated) {
                entry.clients.insert(*client);
                self.owners.insert(*client, conn);
            }
            for client in &summary.removed {
                entry.clients.remove(client);
                self.owners.remove(client);
            }
        }
        if let Ok(relay) = self.awareness.update_with_clients(summary.all_changes()) {
            let frame = Bytes::from(Message::Awareness(relay).encode_v1());
            self.broadcast(&frame, None, ctx);
        }
    }

    /// The current awareness states, or None when nobody has one.
    fn awareness_frame(&self) -> Option<Bytes> {
        let update = self.awareness.update().ok()?;
        if update.clients.is_empty() {
            return None;
        }
        Some(Bytes::from(Message::Awareness(update).encode_v1()))
    }

    /// Drops sockets whose actor stopped without a `Leave` reaching us.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let dead: Vec<YjsConnId> = self
            .peers
            .iter()
            .filter(|(_, entry)| !entry.peer.is_alive())
            .map(|(id, _)| *id)
            .collect();
        if !dead.is_empty() {
            self.remove_peers(dead, ctx);
        }
    }
}

impl Actor for YjsDocActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
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
        ctx.run_interval(SWEEP_EVERY, |act, ctx| act.sweep(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
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
        if self.rows > 1 {
            self.compact();
        }
        ctx.stop();
    }
}

/// Every stored row of a document, oldest first.
async fn load(db: &Db, id: &YjsDocId) -> Result<Vec<(i64, Vec<u8>)>, DbError> {
    let mut conn = db.conn().await?;
    let rows = yjs_updates::table
        .filter(yjs_updates::tenant_id.eq(id.tenant.as_str()))
        .filter(yjs_updates::document_name.eq(&*id.name))
        .order(yjs_updates::id.asc())
        .select((yjs_updates::id, yjs_updates::payload))
        .load::<(i64, Vec<u8>)>(&mut conn)
        .await?;
    Ok(rows)
}

/// Writes one document's rows in order, batching appends, until the actor
/// drops its sender; then signals `done` and tells the registry.
///
/// It tracks which rows the document's state holds (loaded, then written
/// here): a snapshot deletes exactly those, never a row someone else wrote
/// meanwhile (another node, a row that could not be loaded).
async fn run_writer(
    db: Db,
    id: YjsDocId,
    generation: u64,
    registry: Addr<YjsRegistryActor>,
    mut ops: mpsc::UnboundedReceiver<WriteOp>,
    done: watch::Sender<bool>,
) {
    let mut covered: Vec<i64> = Vec::new();
    let mut next = ops.recv().await;
    while let Some(op) = next.take() {
        match op {
            WriteOp::Loaded(ids) => covered.extend(ids),
            WriteOp::Append(first) => {
                let mut batch = vec![first];
                while batch.len() < WRITE_BATCH {
                    match ops.try_recv() {
                        Ok(WriteOp::Append(more)) => batch.push(more),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let ids = until_written(&id, || append(&db, &id, &batch)).await;
                covered.extend(ids);
            }
            WriteOp::Compact(state) => {
                let snapshot = until_written(&id, || compact(&db, &id, &state, &covered)).await;
                covered = vec![snapshot];
            }
        }
        if next.is_none() {
            next = ops.recv().await;
        }
    }
    done.send_replace(true);
    registry.do_send(DocRetired {
        doc: id,
        generation,
    });
}

/// Longest wait between two attempts of a failed Yjs write.
pub const MAX_WRITE_BACKOFF: Duration = Duration::from_secs(5);

/// Runs a write until it succeeds: an update that was applied and relayed
/// is never given up (a stopped PostgreSQL delays it, and the rows after it
/// wait in order), so nothing a client saw accepted is lost. Backoff doubles
/// from 100 ms up to [`MAX_WRITE_BACKOFF`].
async fn until_written<T, F, Fut>(id: &YjsDocId, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut failures: u64 = 0;
    loop {
        match write().await {
            Ok(value) => {
                if failures > 0 {
                    log::info!("yjs {id}: write succeeded after {failures} failures");
                }
                return value;
            }
            Err(e) => {
                failures += 1;
                log::warn!(
                    "yjs {id}: write failed (attempt {failures}, retrying in {delay:?}): {e}"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_WRITE_BACKOFF);
            }
        }
    }
}

/// Inserts update rows; returns their ids.
async fn append(db: &Db, id: &YjsDocId, payloads: &[Vec<u8>]) -> Result<Vec<i64>, DbError> {
    let mut conn = db.conn().await?;
    let rows: Vec<_> = payloads
        .iter()
        .map(|p| {
            (
                yjs_updates::tenant_id.eq(id.tenant.as_str()),
                yjs_updates::document_name.eq(&*id.name),
                yjs_updates::payload.eq(p.as_slice()),
                yjs_updates::is_snapshot.eq(false),
            )
        })
        .collect();
    let ids = diesel::insert_into(yjs_updates::table)
        .values(&rows)
        .returning(yjs_updates::id)
        .get_results(&mut conn)
        .await?;
    Ok(ids)
}

/// Inserts a snapshot row and deletes the rows it replaces (`covered`), in
/// one transaction; returns the snapshot's id.
async fn compact(db: &Db, id: &YjsDocId, state: &[u8], covered: &[i64]) -> Result<i64, DbError> {
    let mut conn = db.conn().await?;
    let tenant = id.tenant.as_str().to_owned();
    let name = id.name.to_string();
    let state = state.to_vec();
    let covered = covered.to_vec();
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let snapshot: i64 = diesel::insert_into(yjs_updates::table)
            .values((
                yjs_updates::tenant_id.eq(&tenant),
                yjs_updates::document_name.eq(&name),
                yjs_updates::payload.eq(&state),
                yjs_updates::is_snapshot.eq(true),
            ))
            .returning(yjs_updates::id)
            .get_result(conn)
            .await?;
        diesel::delete(
            yjs_updates::table
                .filter(yjs_updates::tenant_id.eq(&tenant))
                .filter(yjs_updates::document_name.eq(&name))
                .filter(yjs_updates::id.eq_any(&covered)),
        )
        .execute(conn)
        .await?;
        Ok(snapshot)
    })
    .await
    .map_err(DbError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_failing_write_is_retried_until_it_succeeds() {
        let id = YjsDocId {
            tenant: TenantId::new("t1"),
            name: "doc".into(),
        };
        let attempts = std::cell::Cell::new(0);
        let value = until_written(&id, || {
            attempts.set(attempts.get() + 1);
            let n = attempts.get();
            async move {
                if n < 5 {
                    Err(DbError::Unavailable("postgres stopped".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        // Four failures (the old budget gave up after three) and then success.
        assert_eq!(value, 5);
    }

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
