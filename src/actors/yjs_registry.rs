//! The Yjs registry: one per node. It admits Yjs sockets (per-user cap,
//! refused while shutting down), creates and finds one [`YjsDocActor`] per
//! (tenant, document), and reaps idle ones. It is never on the update path:
//! a socket talks to its document actor directly once it knows its address.
//!
//! Reaping without races: the registry counts the joins it forwarded to a
//! document actor; an idle actor reports how many it has seen, and is retired
//! only when the counts match, so a join already on its way never reaches a
//! stopping actor. A retired actor's writer keeps writing after the actor
//! stopped; a new actor for the same document waits for it before loading,
//! so it always sees every row, and compactions never overlap.

pub mod admin;

use super::pool::ActorPool;
use super::registry::AdmitError;
use super::yjs_doc::{
    DocFailed, DocIdle, DocRetired, Join, RegistryLink, StopDoc, YjsDocActor, YjsDocId, YjsLimits,
};
use super::yjs_peer::{yjs_close_code, YjsConnId, YjsPeer};
use crate::db::Db;
use crate::ids::{TenantId, UserId};
use crate::protocol::close_code;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Reserve a Yjs socket slot for a user before the upgrade.
#[derive(Message)]
#[rtype(result = "Result<YjsConnId, AdmitError>")]
pub struct Admit {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}

/// A socket's actor started: find or create its document and join it.
/// Answers the document's address, or None while shutting down.
#[derive(Message)]
#[rtype(result = "Option<Addr<YjsDocActor>>")]
pub struct OpenDoc {
    /// The document (tenant from the token).
    pub doc: YjsDocId,
    /// How the document reaches the socket.
    pub peer: YjsPeer,
    /// Whose socket it is (for the admin API).
    pub user: UserId,
}

/// A socket closed (or its upgrade failed after admission): free its slot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnClosed {
    /// Which.
    pub id: YjsConnId,
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}

/// Shutdown: refuse new sockets, close open ones with 1012, persist and
/// stop every document, and answer when every pending write is done.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Counts of live Yjs sockets and documents (tests, admin).
#[derive(Message)]
#[rtype(result = "YjsStats")]
pub struct GetYjsStats;

/// What [`GetYjsStats`] returns.
#[derive(Debug, Clone, Copy, serde::Serialize, actix::MessageResponse)]
pub struct YjsStats {
    /// Admitted Yjs sockets.
    pub connections: usize,
    /// Live document actors.
    pub documents: usize,
    /// Stopped document actors whose writes are not finished.
    pub retiring: usize,
}

struct DocEntry {
    addr: Addr<YjsDocActor>,
    generation: u64,
    joins_forwarded: u64,
    done: watch::Receiver<bool>,
}

/// The node's Yjs registry.
pub struct YjsRegistryActor {
    db: Db,
    /// Each document runs on the actor thread its id hashes to.
    pool: Arc<ActorPool>,
    idle_after: Duration,
    max_per_user: usize,
    limits: YjsLimits,
    next_conn: u64,
    next_generation: u64,
    shutting_down: bool,
    per_user: HashMap<(TenantId, UserId), usize>,
    connections: usize,
    docs: HashMap<YjsDocId, DocEntry>,
    /// Stopped actors whose writer is still writing, by document.
    retiring: HashMap<YjsDocId, (u64, watch::Receiver<bool>)>,
    /// Open sockets, for the admin API (`admin` submodule).
    sockets: HashMap<YjsConnId, Socket>,
    /// A clustered node's broker: documents are shared with the other nodes.
    cluster: Option<Arc<dyn crate::broker::Broker>>,
}

/// An open socket as the admin API sees it.
struct Socket {
    peer: YjsPeer,
    tenant: TenantId,
    user: UserId,
}

impl YjsRegistryActor {
    /// A registry; documents stop after `idle_after` without sockets, and
    /// refuse updates past their `limits`.
    pub fn new(
        db: Db,
        pool: Arc<ActorPool>,
        idle_after: Duration,
        max_per_user: usize,
        limits: YjsLimits,
    ) -> Self {
        YjsRegistryActor {
            db,
            pool,
            idle_after,
            max_per_user,
            limits,
            next_conn: 1,
            next_generation: 1,
            shutting_down: false,
            per_user: HashMap::new(),
            connections: 0,
            docs: HashMap::new(),
            retiring: HashMap::new(),
            sockets: HashMap::new(),
            cluster: None,
        }
    }

    /// Shares every document with the other nodes of a cluster over
    /// `broker` (`actors::yjs_doc::cluster` says how); `None` alone.
    pub fn with_cluster(mut self, broker: Option<Arc<dyn crate::broker::Broker>>) -> Self {
        self.cluster = broker;
        self
    }

    /// Tells a document actor (already out of `docs`) to stop, and remembers
    /// its writer until it is done.
    fn retire(&mut self, doc: YjsDocId, entry: DocEntry, close: Option<(u16, &'static str)>) {
        entry.addr.do_send(StopDoc { close });
        self.retiring.insert(doc, (entry.generation, entry.done));
    }
}

impl Actor for YjsRegistryActor {
    type Context = Context<Self>;
}

impl Handler<Admit> for YjsRegistryActor {
    type Result = Result<YjsConnId, AdmitError>;

    /// Checks the per-user cap and hands out a socket id.
    fn handle(&mut self, msg: Admit, _: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Err(AdmitError::ShuttingDown);
        }
        let count = self.per_user.entry((msg.tenant, msg.user)).or_insert(0);
        if *count >= self.max_per_user {
            return Err(AdmitError::TooManyConnections);
        }
        *count += 1;
        self.connections += 1;
        let id = YjsConnId(self.next_conn);
        self.next_conn += 1;
        Ok(id)
    }
}

impl Handler<OpenDoc> for YjsRegistryActor {
    type Result = Option<Addr<YjsDocActor>>;

    /// Finds or creates the document and forwards the join to it.
    fn handle(&mut self, msg: OpenDoc, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return None;
        }
        self.sockets.insert(
            msg.peer.id,
            Socket {
                peer: msg.peer.clone(),
                tenant: msg.doc.tenant.clone(),
                user: msg.user,
            },
        );
        if !self.docs.contains_key(&msg.doc) {
            let generation = self.next_generation;
            self.next_generation += 1;
            let previous = self.retiring.get(&msg.doc).map(|(_, done)| done.clone());
            let (done_tx, done) = watch::channel(false);
            let (id, link) = (
                msg.doc.clone(),
                RegistryLink {
                    idle: ctx.address().recipient(),
                    failed: ctx.address().recipient(),
                    retired: ctx.address().recipient(),
                },
            );
            let (db, idle_after, limits) = (self.db.clone(), self.idle_after, self.limits);
            let cluster = self.cluster.clone();
            // Built on the document's thread, where its writer then runs.
            let addr = self.pool.start_actor(&msg.doc, move |_| {
                let doc = YjsDocActor::new(
                    id, generation, link, db, idle_after, limits, previous, done_tx,
                );
                match cluster {
                    Some(broker) => doc.in_cluster(broker),
                    None => doc,
                }
            });
            log::debug!("yjs {}: opening (generation {generation})", msg.doc);
            self.docs.insert(
                msg.doc.clone(),
                DocEntry {
                    addr,
                    generation,
                    joins_forwarded: 0,
                    done,
                },
            );
        }
        let entry = self.docs.get_mut(&msg.doc)?;
        entry.joins_forwarded += 1;
        entry.addr.do_send(Join { peer: msg.peer });
        Some(entry.addr.clone())
    }
}

impl Handler<ConnClosed> for YjsRegistryActor {
    type Result = ();

    /// Frees the socket's slot.
    fn handle(&mut self, msg: ConnClosed, _: &mut Context<Self>) {
        self.sockets.remove(&msg.id);
        let key = (msg.tenant, msg.user);
        if let Some(count) = self.per_user.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_user.remove(&key);
            }
            self.connections = self.connections.saturating_sub(1);
        }
        log::trace!("yjs socket {} closed", msg.id);
    }
}

impl Handler<DocIdle> for YjsRegistryActor {
    type Result = ();

    /// Retires an idle document unless a join is on its way to it.
    fn handle(&mut self, msg: DocIdle, _: &mut Context<Self>) {
        let matches = self
            .docs
            .get(&msg.doc)
            .is_some_and(|e| e.generation == msg.generation && e.joins_forwarded == msg.joins_seen);
        if matches {
            if let Some(entry) = self.docs.remove(&msg.doc) {
                log::debug!("yjs {}: idle, stopping", msg.doc);
                self.retire(msg.doc, entry, None);
            }
        }
    }
}

impl Handler<DocFailed> for YjsRegistryActor {
    type Result = ();

    /// Retires a document that cannot serve; the next socket gets a fresh actor.
    fn handle(&mut self, msg: DocFailed, _: &mut Context<Self>) {
        if self
            .docs
            .get(&msg.doc)
            .is_some_and(|e| e.generation == msg.generation)
        {
            if let Some(entry) = self.docs.remove(&msg.doc) {
                self.retire(
                    msg.doc,
                    entry,
                    Some((yjs_close_code::INTERNAL_ERROR, "document unavailable")),
                );
            }
        }
    }
}

impl Handler<DocRetired> for YjsRegistryActor {
    type Result = ();

    /// Forgets a finished writer (and an actor that stopped on its own).
    fn handle(&mut self, msg: DocRetired, _: &mut Context<Self>) {
        if self
            .retiring
            .get(&msg.doc)
            .is_some_and(|(generation, _)| *generation == msg.generation)
        {
            self.retiring.remove(&msg.doc);
        }
        if self
            .docs
            .get(&msg.doc)
            .is_some_and(|e| e.generation == msg.generation)
        {
            log::warn!("yjs {}: actor stopped unexpectedly", msg.doc);
            self.docs.remove(&msg.doc);
        }
    }
}

impl Handler<Flush> for YjsRegistryActor {
    type Result = ResponseFuture<()>;

    /// Stops every document (sockets closed with 1012) and waits for every writer.
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let docs: Vec<(YjsDocId, DocEntry)> = self.docs.drain().collect();
        for (doc, entry) in docs {
            self.retire(
                doc,
                entry,
                Some((close_code::SERVICE_RESTART, "server shutting down")),
            );
        }
        let writers: Vec<watch::Receiver<bool>> = self
            .retiring
            .values()
            .map(|(_, done)| done.clone())
            .collect();
        Box::pin(async move {
            let waits = writers.into_iter().map(|mut done| async move {
                let _ = done.wait_for(|done| *done).await;
            });
            futures_util::future::join_all(waits).await;
        })
    }
}

impl Handler<GetYjsStats> for YjsRegistryActor {
    type Result = YjsStats;

    /// Current counts.
    fn handle(&mut self, _: GetYjsStats, _: &mut Context<Self>) -> YjsStats {
        YjsStats {
            connections: self.connections,
            documents: self.docs.len(),
            retiring: self.retiring.len(),
        }
    }
}
