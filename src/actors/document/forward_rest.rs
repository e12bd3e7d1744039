//! REST lock calls (`POST`/`DELETE /api/v1/collaboration/{type}/{id}/lock`)
//! made on a node that forwards the document: sent to the owner
//! (`doc.rest_lock`), which runs them as its own REST calls and sends the
//! result back (`doc.rest_reply`). They wait like forwarded requests: no
//! answer within `FORWARD_TIMEOUT` (or an owner that is gone) answers
//! `document_unavailable`.

use super::forward::{InFlight, NEXT_FORWARD};
use super::wire::{DocWire, RemoteMember, RestLockReply, RestLockRequest};
use super::*;
use std::sync::atomic::Ordering;

/// A REST lock call forwarded by another node (sent by the room).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForwardedRest(pub Box<RestLockRequest>);

/// The owner's result for a REST lock call this node forwarded.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RestAnswered(pub Box<RestLockReply>);

impl DocumentActor {
    /// Sends a REST lock call to the owner; resolves with its result.
    pub(super) fn forward_rest(
        &mut self,
        msg: RestLock,
    ) -> ResponseFuture<Result<Option<LockView>, LockRefused>> {
        let (Some(node), Some(proxy)) = (self.node_id(), self.proxy.as_mut()) else {
            return Box::pin(async { Err(LockRefused::Unavailable("not forwarding".into())) });
        };
        if proxy.suspect() {
            let why = format!("node {} does not answer; retry", proxy.owner());
            return Box::pin(async move { Err(LockRefused::Unavailable(why)) });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let id = NEXT_FORWARD.fetch_add(1, Ordering::Relaxed);
        proxy.sent(id, InFlight::Rest(tx), Instant::now());
        let owner = proxy.owner().to_owned();
        self.to_nodes(DocWire::RestLock(Box::new(RestLockRequest {
            to: owner,
            from: RemoteMember {
                node,
                connection: 0,
                id,
            },
            user: msg.user.to_string(),
            name: msg.name.to_string(),
            field: msg.field,
            acquire: msg.acquire,
        })));
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(LockRefused::Unavailable("session stopped".into())))
        })
    }
}

impl Handler<ForwardedRest> for DocumentActor {
    type Result = ();

    /// Runs another node's REST lock call as this node's own and sends the
    /// result back once stored; `gone` when this session does not own the
    /// document.
    fn handle(&mut self, ForwardedRest(req): ForwardedRest, ctx: &mut Context<Self>) {
        let req = *req;
        if !self.owns() {
            return self.send_remote_reply(req.from, None);
        }
        let call = RestLock {
            user: UserId::new(req.user),
            name: req.name.into(),
            field: req.field,
            acquire: req.acquire,
        };
        let result = <Self as Handler<RestLock>>::handle(self, call, ctx);
        let to = req.from;
        ctx.spawn(result.into_actor(self).map(move |result, act, _| {
            act.to_nodes(DocWire::RestReply(Box::new(RestLockReply { to, result })));
        }));
    }
}

impl Handler<RestAnswered> for DocumentActor {
    type Result = ();

    /// Hands the owner's result to the waiting REST call.
    fn handle(&mut self, RestAnswered(reply): RestAnswered, _: &mut Context<Self>) {
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        let reply = *reply;
        if let Some(InFlight::Rest(tx)) = proxy.answered(reply.to.id, false) {
            let _ = tx.send(reply.result);
        }
    }
}
