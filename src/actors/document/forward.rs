//! Documents across the nodes of a cluster: the forwarding session and the
//! owner's side of it.
//!
//! A session whose node could not take the document's lease because another
//! node holds it forwards its members' requests to that node (`doc.req` over
//! the room's topic, through its room). The owner's room hands them to its
//! session ([`Forwarded`]), which serves them like its own members' and
//! answers through the topic (`doc.reply`); everything it sends every member
//! also goes to the other nodes' rooms (`doc.out`). The forwarding node's
//! room delivers those to its members and tells its session which requests
//! were answered ([`ForwardAnswered`]).
//!
//! Failover: a request with no answer within [`FORWARD_TIMEOUT`], an owner
//! that answers it has no open session (`gone`), or one that says it closed
//! (`doc.closed`, [`OwnerGone`]) makes the owner suspect. The requests
//! waiting for it are answered `unavailable` with a retry hint, and the next
//! request first tries to take the lease and load the document from
//! PostgreSQL (or learns the new holder and forwards there). The lease rules
//! (`lease.rs`) keep one writer: the lease is only free once the old owner
//! stopped writing. A client that resends an edit after failover with the
//! same (`client_id`, `seq`) gets the ack of the stored one, never a second
//! copy: the stored changes carry their client sequence numbers.

use super::proxy::Proxy;
use super::wire::{
    self, DocWire, ForwardedReply, ForwardedRequest, MembersFrame, Ping, RemoteMember,
    UserLeftNode, WireOp,
};
use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long a forwarded request may wait for the owner's answer.
pub(super) const FORWARD_TIMEOUT: Duration = Duration::from_millis(2500);
/// How often an unanswered ping is resent.
const PING_EVERY: Duration = Duration::from_millis(100);
/// The `retry_after_ms` of a request whose owner did not answer.
const FORWARD_RETRY_AFTER_MS: u64 = 500;

/// Forward ids, unique on this node.
pub(super) static NEXT_FORWARD: AtomicU64 = AtomicU64::new(1);

/// A request forwarded on behalf of another node's member (sent by the
/// room, which read it off its topic).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forwarded(pub Box<ForwardedRequest>);

/// The owner answered a forwarded request (the room delivered the reply);
/// `gone`: it has no open session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForwardAnswered {
    /// The forward id.
    pub id: u64,
    /// The owner could not serve it.
    pub gone: bool,
}

/// The owner on `node` stopped and released the document's lease.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OwnerGone {
    /// That node.
    pub node: String,
}

/// Another node's forwarding session checks that answers reach it
/// (`doc.ping`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Pinged(pub RemoteMember);

/// A user has no connection left in another node's room (`doc.left`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteUserLeft(pub UserLeftNode);

/// A forwarded request that owes a reply: to a member, or to a REST call
/// (`forward_rest.rs`).
pub(super) enum InFlight {
    Member {
        reply: ConnectionHandle,
        r#ref: Option<Ref>,
    },
    Rest(tokio::sync::oneshot::Sender<Result<Option<LockView>, LockRefused>>),
}

impl DocumentActor {
    /// This node's id in the cluster.
    pub(super) fn node_id(&self) -> Option<String> {
        self.services.leases.as_ref().map(|l| l.node().to_owned())
    }

    /// True while this session owns the document in a cluster (holds the
    /// lease, loaded, not closing).
    pub(super) fn owns(&self) -> bool {
        self.lease.is_some() && self.proxy.is_none() && self.load_error.is_none() && !self.closing
    }

    /// Another node holds the lease: forward to it from now on.
    pub(super) fn forward_to(&mut self, owner: String) {
        match self.proxy.as_mut() {
            Some(p) => p.retarget(owner),
            None => {
                log::info!("document {}: open on node {owner}; forwarding", self.room);
                self.proxy = Some(Proxy::new(owner));
            }
        }
    }

    /// This session owns the document or cannot open it: requests still
    /// waiting for the old owner are answered `unavailable` (their fate is
    /// unknown; a resent edit is recognised by its `client_id` and `seq`).
    /// Returns the requests held for a first answer (never sent), to serve
    /// here now.
    pub(super) fn stop_forwarding(&mut self) -> Vec<DocRequest> {
        let Some(mut proxy) = self.proxy.take() else {
            return Vec::new();
        };
        for waiting in proxy.drain() {
            self.owner_missed(waiting);
        }
        proxy.drain_held()
    }

    /// A request held for the first answer that will not be forwarded.
    fn refuse_held(&self, req: DocRequest) {
        if let Some(reply) = req.reply {
            self.owner_missed(InFlight::Member {
                reply,
                r#ref: req.r#ref,
            });
        }
    }

    pub(super) fn owner_missed(&self, waiting: InFlight) {
        let (reply, r#ref) = match waiting {
            InFlight::Member { reply, r#ref } => (reply, r#ref),
            InFlight::Rest(tx) => {
                let why = "the node that has this document did not answer; retry".into();
                let _ = tx.send(Err(LockRefused::Unavailable(why)));
                return;
            }
        };
        let refusal = ServerMessage::Error {
            r#ref,
            code: ErrorCode::Unavailable,
            message: "the node that has this document did not answer; retry".into(),
            retry_after_ms: Some(FORWARD_RETRY_AFTER_MS),
        };
        self.reply(&Some(ReplyTo::Local(reply)), &refusal);
    }

    /// Forwards a member's request to the owner, or (the owner is suspect)
    /// first tries to take the document over.
    pub(super) fn forward(&mut self, req: DocRequest, ctx: &mut Context<Self>) {
        let (Some(node), Some(proxy)) = (self.node_id(), self.proxy.as_mut()) else {
            return;
        };
        if proxy.suspect() {
            return self.load(ctx, Some(req));
        }
        if !proxy.confirmed() {
            if proxy.hold(req) {
                self.ping(ctx);
            }
            return;
        }
        let Some(handle) = req.reply else {
            return;
        };
        let id = NEXT_FORWARD.fetch_add(1, Ordering::Relaxed);
        // Every request with a `ref`, and every sync and edit, gets exactly
        // one reply: those are waited for.
        if req.r#ref.is_some() || matches!(req.command, DocCommand::Sync | DocCommand::Edit { .. })
        {
            let waiting = InFlight::Member {
                reply: handle.clone(),
                r#ref: req.r#ref.clone(),
            };
            proxy.sent(id, waiting, Instant::now());
        }
        let wire = DocWire::Request(Box::new(ForwardedRequest {
            to: proxy.owner().to_owned(),
            from: RemoteMember {
                node,
                connection: handle.id.0,
                id,
            },
            user: req.user.to_string(),
            name: req.name.to_string(),
            r#ref: req.r#ref,
            command: req.command,
            sent_edits: req.sent_edits,
        }));
        self.to_nodes(wire);
    }

    /// Pings the owner, again every [`PING_EVERY`] until it answers or
    /// [`FORWARD_TIMEOUT`] passed (then the held requests are refused).
    fn ping(&mut self, ctx: &mut Context<Self>) {
        let (Some(node), Some(proxy)) = (self.node_id(), self.proxy.as_mut()) else {
            return;
        };
        if let Some(held) = proxy.ping_expired(Instant::now(), FORWARD_TIMEOUT) {
            log::warn!(
                "document {}: node {} did not answer",
                self.room,
                proxy.owner()
            );
            for req in held {
                self.refuse_held(req);
            }
            return;
        }
        let id = NEXT_FORWARD.fetch_add(1, Ordering::Relaxed);
        proxy.pinged(id, Instant::now());
        let ping = DocWire::Ping(Ping {
            to: proxy.owner().to_owned(),
            from: RemoteMember {
                node,
                connection: 0,
                id,
            },
        });
        self.to_nodes(ping);
        ctx.run_later(PING_EVERY, |act, ctx| {
            if act.proxy.as_ref().is_some_and(|p| p.pinging()) {
                act.ping(ctx);
            }
        });
    }

    /// A local user left the room: the owner releases their locks once no
    /// node has them.
    pub(super) fn forward_user_left(&self, user: &UserId) {
        if let (Some(node), Some(proxy)) = (self.node_id(), self.proxy.as_ref()) {
            self.to_nodes(DocWire::Left(UserLeftNode {
                to: proxy.owner().to_owned(),
                node,
                user: user.to_string(),
            }));
        }
    }

    /// On the tick: requests the owner left unanswered too long.
    pub(super) fn check_forwarded(&mut self, now: Instant) {
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        let late = proxy.late(now, FORWARD_TIMEOUT);
        if late.is_empty() {
            return;
        }
        log::warn!(
            "document {}: node {} did not answer {} request(s) in time",
            self.room,
            proxy.owner(),
            late.len()
        );
        for w in late {
            self.owner_missed(w);
        }
    }

    /// A message for the other nodes, published by the room in order with
    /// everything else it sends.
    pub(super) fn to_nodes(&self, wire: DocWire) {
        self.to_room(DocFrame {
            to: Audience::Nodes,
            frame: wire.to_frame(),
            applied: None,
        });
    }

    /// The owner's reply to another node's member (`None`: not open here).
    pub(super) fn send_remote_reply(&self, to: RemoteMember, frame: Option<&Frame>) {
        self.to_nodes(DocWire::Reply(ForwardedReply {
            to,
            frame: frame.map(wire::carry),
            gone: frame.is_none(),
        }));
    }

    /// The owner's frame for every member, to the other nodes' rooms.
    pub(super) fn send_other_nodes(
        &self,
        frame: &Frame,
        except: Option<&ReplyTo>,
        applied: Option<&(AppliedOp, u64)>,
    ) {
        let Some(node) = self.node_id() else {
            return;
        };
        let author = except.map(|r| match r {
            ReplyTo::Local(h) => (node.clone(), h.id.0),
            ReplyTo::Remote(m) => (m.node.clone(), m.connection),
        });
        let applied = applied.map(|(op, sent_edits)| WireOp {
            field: op.field.clone(),
            op: op.op.clone(),
            author: author.clone().map(|(n, c)| (n, c, *sent_edits)),
        });
        self.to_nodes(DocWire::Members(MembersFrame {
            frame: wire::carry(frame),
            except: author,
            applied,
        }));
    }
}

impl Handler<Forwarded> for DocumentActor {
    type Result = ();

    /// Serves another node's member like a local one, if this session owns
    /// the document; answers `gone` otherwise (so the forwarder takes over).
    fn handle(&mut self, Forwarded(req): Forwarded, ctx: &mut Context<Self>) {
        let req = *req;
        if !self.owns() {
            return self.send_remote_reply(req.from, None);
        }
        self.remote_users
            .entry(req.user.clone())
            .or_default()
            .insert(req.from.node.clone());
        self.handle_command(
            Request {
                reply: Some(ReplyTo::Remote(req.from)),
                user: UserId::new(req.user),
                name: req.name.into(),
                r#ref: req.r#ref,
                command: req.command,
                sent_edits: req.sent_edits,
            },
            ctx,
        );
    }
}

impl Handler<Pinged> for DocumentActor {
    type Result = ();

    /// Answers with no frame: `gone` unless this session owns the document.
    fn handle(&mut self, Pinged(from): Pinged, _: &mut Context<Self>) {
        self.to_nodes(DocWire::Reply(ForwardedReply {
            to: from,
            frame: None,
            gone: !self.owns(),
        }));
    }
}

impl Handler<RemoteUserLeft> for DocumentActor {
    type Result = ();

    /// Forgets the user on that node; with no node (this one included)
    /// left, releases their locks, as for a local user leaving.
    fn handle(&mut self, RemoteUserLeft(left): RemoteUserLeft, ctx: &mut Context<Self>) {
        let Some(nodes) = self.remote_users.get_mut(&left.user) else {
            return;
        };
        nodes.remove(&left.node);
        if !nodes.is_empty() {
            return;
        }
        self.remote_users.remove(&left.user);
        if !self.active_users.contains(&left.user) {
            self.release_user_locks(&UserId::new(left.user), ctx);
        }
    }
}

impl Handler<ForwardAnswered> for DocumentActor {
    type Result = ();

    /// The owner is alive; a `gone` answer makes it suspect. The answer to
    /// a ping sends (or refuses) the requests held for it, in order.
    fn handle(&mut self, msg: ForwardAnswered, ctx: &mut Context<Self>) {
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        if let Some(held) = proxy.pong(msg.id, msg.gone) {
            for req in held {
                if msg.gone {
                    self.refuse_held(req);
                } else {
                    self.forward(req, ctx);
                }
            }
            return;
        }
        let waiting = proxy.answered(msg.id, msg.gone);
        if let (true, Some(w)) = (msg.gone, waiting) {
            self.owner_missed(w);
        }
    }
}

impl Handler<OwnerGone> for DocumentActor {
    type Result = ();

    /// The owner closed: its unanswered requests never will be; this
    /// session tries to take the document now.
    fn handle(&mut self, msg: OwnerGone, ctx: &mut Context<Self>) {
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        let Some(waiting) = proxy.owner_closed(&msg.node) else {
            return;
        };
        for w in waiting {
            self.owner_missed(w);
        }
        self.load(ctx, None);
    }
}
