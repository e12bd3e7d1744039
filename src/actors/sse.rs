//! One actor per Server-Sent Events stream (`GET /api/v1/stream`).
//!
//! The actor is a broker subscriber like a WebSocket connection: it holds a
//! [`ConnectionHandle`] subscribed to the user's and the tenant's topics and
//! turns `notification` and `activity` frames into SSE events; every other
//! frame (presence diffs, counts) is dropped. Events go into a bounded
//! channel that feeds the HTTP response body.
//!
//! Gap-free resume: the actor subscribes first, then reads the backlog
//! (everything after the client's `Last-Event-ID`) from the database. Live
//! frames that arrive meanwhile are held back and sent after the backlog,
//! minus the ones the backlog already carried. Each event's id is the
//! reader's position in both streams (`n-<id>.a-<id>`, see
//! [`crate::notify::position`]), so one `Last-Event-ID` resumes both.
//!
//! The stream ends when the client goes away (a send fails), when it falls
//! `sse.queue_limit` events behind (slow consumer), when the token expires,
//! and after a backlog longer than `sse.replay_limit` (the client's
//! automatic reconnect fetches the rest). SSE clients take a slot of the
//! per-user connection cap but do not count as online.

use super::registry::ConnectionClosed;
use super::shell::frames::expiry_wait;
use super::Services;
use crate::auth::{now_secs, Principal};
use crate::broker::{CloseSocket, Deliver};
use crate::broker::{ConnectionHandle, Frame, FrameKind, Topic};
use crate::ids::ConnectionId;
use crate::notify::position::StreamPosition;
use crate::notify::{activity, notifications, NotifyError};
use actix::prelude::*;
use actix_web::web::Bytes;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Backlog (or held-back live frames) being written; live frames wait.
    Replaying,
    /// Live frames go straight out.
    Live,
}

/// The backlog read at connect.
struct Backlog {
    /// Position the client asked to resume from (or "now").
    from: (i64, i64),
    /// Notification ids sent in the replay.
    notifications: HashSet<i64>,
    /// Activity ids sent in the replay.
    activity: HashSet<i64>,
    /// Position after the replay.
    position: (i64, i64),
    /// More was missed than one replay carries.
    truncated: bool,
}

/// Why the replay ended early.
enum ReplayError {
    /// The client went away.
    Gone,
    /// The database failed.
    Db(NotifyError),
}

/// The actor behind one event stream.
pub struct SseConnectionActor {
    id: ConnectionId,
    principal: Principal,
    services: Arc<Services>,
    /// Feeds the response body.
    tx: mpsc::Sender<Bytes>,
    /// Resume point from `Last-Event-ID`.
    start: StreamPosition,
    handle: Option<ConnectionHandle>,
    phase: Phase,
    /// Live frames held back while replaying.
    held: Vec<Frame>,
    /// Everything at or below these was sent or predates the stream.
    from: (i64, i64),
    /// Ids the replay sent (live copies of them are dropped).
    replayed_notifications: HashSet<i64>,
    replayed_activity: HashSet<i64>,
    /// Latest ids sent (the event id).
    position: (i64, i64),
    /// The user's slot counted across the cluster (given back on drop).
    cluster_slot: Option<crate::cluster::slots::SlotGuard>,
}

impl SseConnectionActor {
    /// An actor for an admitted stream; `tx` feeds the response body.
    pub fn new(
        id: ConnectionId,
        principal: Principal,
        start: StreamPosition,
        tx: mpsc::Sender<Bytes>,
        services: Arc<Services>,
    ) -> Self {
        SseConnectionActor {
            id,
            principal,
            services,
            tx,
            start,
            handle: None,
            phase: Phase::Replaying,
            held: Vec::new(),
            from: (0, 0),
            replayed_notifications: HashSet::new(),
            replayed_activity: HashSet::new(),
            position: (0, 0),
            cluster_slot: None,
        }
    }

    /// Holds the stream's cluster-wide connection slot until it stops.
    pub fn with_cluster_slot(mut self, slot: Option<crate::cluster::slots::SlotGuard>) -> Self {
        self.cluster_slot = slot;
        self
    }

    fn position_id(&self) -> String {
        StreamPosition::at(self.position.0, self.position.1).to_string()
    }

    /// Turns a broker frame into an SSE event, or `None` for frames this
    /// stream does not carry, duplicates of the replay, and old events.
    fn event_for(&mut self, frame: &Frame) -> Option<Bytes> {
        if frame.kind() == FrameKind::System {
            // Not part of the resumable stream: no id, never replayed.
            return Some(sse_event(None, "system", frame.text()));
        }
        let kind = match frame.kind() {
            FrameKind::Notification => "notification",
            FrameKind::Activity => "activity",
            _ => return None,
        };
        let (id, body) = (frame.id()?, frame.body()?);
        if kind == "notification" {
            if id <= self.from.0 || self.replayed_notifications.contains(&id) {
                return None;
            }
            self.position.0 = self.position.0.max(id);
        } else {
            if id <= self.from.1 || self.replayed_activity.contains(&id) {
                return None;
            }
            self.position.1 = self.position.1.max(id);
        }
        Some(sse_event(Some(&self.position_id()), kind, body))
    }

    /// Sends held-back frames in order (waiting for room in the channel),
    /// then goes live once nothing more was held back meanwhile.
    fn flush_held(&mut self, ctx: &mut Context<Self>) {
        let held = std::mem::take(&mut self.held);
        let events: Vec<Bytes> = held.iter().filter_map(|f| self.event_for(f)).collect();
        if events.is_empty() {
            self.phase = Phase::Live;
            return;
        }
        let tx = self.tx.clone();
        let send = async move {
            for e in events {
                if tx.send(e).await.is_err() {
                    return false;
                }
            }
            true
        };
        ctx.spawn(send.into_actor(self).map(|ok, act, ctx| {
            if ok {
                act.flush_held(ctx);
            } else {
                ctx.stop();
            }
        }));
    }

    /// Reads and sends the backlog, then a `ready` event with the position.
    fn replay(&mut self, ctx: &mut Context<Self>) {
        let services = self.services.clone();
        let tenant = self.principal.tenant.clone();
        let user = self.principal.user.clone();
        let start = self.start;
        let limit = services.settings.sse.replay_limit;
        let tx = self.tx.clone();
        let work = async move {
            let db = &services.db;
            let n_from = match start.notification {
                Some(n) => n,
                None => notifications::max_id(db, &tenant, &user)
                    .await
                    .map_err(ReplayError::Db)?,
            };
            let a_from = match start.activity {
                Some(a) => a,
                None => activity::max_id(db, &tenant)
                    .await
                    .map_err(ReplayError::Db)?,
            };
            let (n_rows, n_more) = match start.notification {
                Some(n) => notifications::after(db, &tenant, &user, n, limit)
                    .await
                    .map_err(ReplayError::Db)?,
                None => (Vec::new(), false),
            };
            let (a_rows, a_more) = match start.activity {
                Some(a) => activity::list(
                    db,
                    &tenant,
                    &user,
                    &activity::ActivityFilter {
                        after_id: Some(a),
                        limit,
                        ..activity::ActivityFilter::default()
                    },
                )
                .await
                .map_err(ReplayError::Db)?,
                None => (Vec::new(), false),
            };
            let mut backlog = Backlog {
                from: (n_from, a_from),
                notifications: HashSet::new(),
                activity: HashSet::new(),
                position: (n_from, a_from),
                truncated: n_more || a_more,
            };
            for row in &n_rows {
                backlog.notifications.insert(row.id);
                backlog.position.0 = backlog.position.0.max(row.id);
                let id = StreamPosition::at(backlog.position.0, backlog.position.1).to_string();
                let data = serde_json::to_string(&row.view()).unwrap_or_default();
                tx.send(sse_event(Some(&id), "notification", &data))
                    .await
                    .map_err(|_| ReplayError::Gone)?;
            }
            for row in &a_rows {
                backlog.activity.insert(row.id);
                backlog.position.1 = backlog.position.1.max(row.id);
                let id = StreamPosition::at(backlog.position.0, backlog.position.1).to_string();
                let data = serde_json::to_string(&row.view()).unwrap_or_default();
                tx.send(sse_event(Some(&id), "activity", &data))
                    .await
                    .map_err(|_| ReplayError::Gone)?;
            }
            if !backlog.truncated {
                let id = StreamPosition::at(backlog.position.0, backlog.position.1).to_string();
                let data = serde_json::json!({
                    "notification_id": backlog.position.0,
                    "activity_id": backlog.position.1,
                    "replayed": n_rows.len() + a_rows.len(),
                });
                tx.send(sse_event(Some(&id), "ready", &data.to_string()))
                    .await
                    .map_err(|_| ReplayError::Gone)?;
            }
            Ok(backlog)
        };
        ctx.spawn(work.into_actor(self).map(|res, act, ctx| match res {
            Ok(backlog) => {
                if backlog.truncated {
                    log::debug!("sse {}: replay truncated; ending for a resume", act.id);
                    ctx.stop();
                    return;
                }
                act.from = backlog.from;
                act.position = backlog.position;
                act.replayed_notifications = backlog.notifications;
                act.replayed_activity = backlog.activity;
                act.flush_held(ctx);
            }
            Err(ReplayError::Gone) => ctx.stop(),
            Err(ReplayError::Db(e)) => {
                log::warn!("sse {}: replay failed: {e}", act.id);
                let data = serde_json::json!({
                    "error": "unavailable",
                    "message": "stored events could not be read; reconnect later",
                });
                let _ = act.tx.try_send(sse_event(None, "error", &data.to_string()));
                ctx.stop();
            }
        }));
    }

    /// Ends the stream when the token expires (checked again when the
    /// timer fires; far expiries and service keys re-check daily).
    fn schedule_expiry(&self, ctx: &mut Context<Self>) {
        let leeway = self.services.settings.auth.leeway_secs;
        let wait = expiry_wait(self.principal.expires_at, leeway, now_secs()).unwrap_or_default();
        ctx.run_later(wait, |act, ctx| {
            let leeway = act.services.settings.auth.leeway_secs;
            if expiry_wait(act.principal.expires_at, leeway, now_secs()).is_none() {
                log::debug!("sse {}: token expired", act.id);
                ctx.stop();
            } else {
                act.schedule_expiry(ctx);
            }
        });
    }
}

/// True for `notification`, `activity` and `system:message` frames.
fn carried(frame: &Frame) -> bool {
    matches!(
        frame.kind(),
        FrameKind::Notification | FrameKind::Activity | FrameKind::System
    )
}

/// One SSE event; `data` must be a single line (compact JSON is).
fn sse_event(id: Option<&str>, event: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 64);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\ndata: ");
    out.push_str(data);
    out.push_str("\n\n");
    Bytes::from(out)
}

impl Actor for SseConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        crate::telemetry::connection_opened("sse");
        let ws = &self.services.settings.websocket;
        let handle = ConnectionHandle::new(
            self.id,
            ctx.address().recipient(),
            ctx.address().recipient(),
            ws.outbound_queue_limit,
            Duration::from_millis(ws.slow_consumer_grace_ms),
            None,
        )
        .with_transport("sse");
        // Subscribe before reading the backlog: nothing falls in between.
        let broker = &self.services.broker;
        broker.subscribe(
            Topic::User(self.principal.tenant.clone(), self.principal.user.clone()),
            handle.clone(),
        );
        broker.subscribe(Topic::Tenant(self.principal.tenant.clone()), handle.clone());
        self.services
            .registry
            .do_send(super::registry::StreamOpened(
                handle.clone(),
                self.principal.clone(),
            ));
        self.handle = Some(handle);
        // The reconnect delay browsers use after the stream ends.
        if self
            .tx
            .try_send(Bytes::from_static(b"retry: 3000\n: connected\n\n"))
            .is_err()
        {
            ctx.stop();
            return;
        }
        self.replay(ctx);
        let every = Duration::from_secs(self.services.settings.sse.keepalive_secs.max(1));
        ctx.run_interval(every, |act, ctx| {
            match act.tx.try_send(Bytes::from_static(b": keep-alive\n\n")) {
                Ok(()) => {}
                // Behind: the next live event decides; a comment is not worth a cut.
                Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => ctx.stop(),
            }
        });
        self.schedule_expiry(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        crate::telemetry::connection_closed("sse");
        self.services.broker.unsubscribe_all(self.id);
        self.services.registry.do_send(ConnectionClosed {
            id: self.id,
            tenant: self.principal.tenant.clone(),
            user: self.principal.user.clone(),
        });
    }
}

impl Handler<Deliver> for SseConnectionActor {
    type Result = ();

    /// A frame from the broker: held back while replaying, else sent if it
    /// is a notification or activity.
    fn handle(&mut self, Deliver(frame, _): Deliver, ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.dequeued();
            if h.is_closing() {
                return;
            }
        }
        match self.phase {
            Phase::Replaying => {
                // Hold only what the stream carries (not the tenant's presence traffic).
                if !carried(&frame) {
                    return;
                }
                self.held.push(frame);
                if self.held.len() > self.services.settings.sse.queue_limit * 4 {
                    log::info!("sse {}: slow consumer during replay; closing", self.id);
                    metrics::counter!("tandem_slow_consumer_closes_total", "transport" => "sse")
                        .increment(1);
                    ctx.stop();
                }
            }
            Phase::Live => {
                let Some(event) = self.event_for(&frame) else {
                    return;
                };
                match self.tx.try_send(event) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        log::info!("sse {}: slow consumer; closing", self.id);
                        metrics::counter!("tandem_slow_consumer_closes_total", "transport" => "sse").increment(1);
                        ctx.stop();
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => ctx.stop(),
                }
            }
        }
    }
}

impl Handler<CloseSocket> for SseConnectionActor {
    type Result = ();

    /// Ends the stream (shutdown, slow consumer).
    fn handle(&mut self, msg: CloseSocket, ctx: &mut Context<Self>) {
        log::debug!("sse {}: closing ({}: {})", self.id, msg.code, msg.reason);
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn only_notifications_and_activity_are_carried() {
        use crate::protocol::ServerMessage;
        let n = ServerMessage::NotificationCount {
            r#ref: None,
            unread: 1,
        }
        .to_frame();
        assert!(!carried(&n));
        let live = ServerMessage::Notification {
            r#ref: None,
            notification: crate::protocol::server::NotificationView {
                id: 1,
                notification_type: "mention".into(),
                title: "t".into(),
                message: None,
                priority: "normal".into(),
                source: None,
                action: None,
                is_read: false,
                read_at: None,
                created_at: "2026-01-01T00:00:00.000Z".into(),
                expires_at: None,
            },
        };
        assert!(carried(&live.to_frame()), "{}", live.to_frame());
        let activity = ServerMessage::Activity {
            activity: crate::protocol::server::ActivityView {
                id: 1,
                user_id: None,
                user_name: None,
                action: "created".into(),
                entity_type: "doc".into(),
                entity_id: "1".into(),
                entity_name: None,
                details: None,
                visibility: "team".into(),
                created_at: "2026-01-01T00:00:00.000Z".into(),
            },
        };
        assert!(carried(&activity.to_frame()));
        let presence = ServerMessage::PresenceDiff {
            joined: Vec::new(),
            updated: Vec::new(),
            left: vec!["u".into()],
            unwatched: Vec::new(),
        };
        assert!(!carried(&presence.to_frame()));
    }

    #[test]
    fn events_are_framed() {
        let e = sse_event(Some("n-1.a-2"), "notification", r#"{"id":1}"#);
        assert_eq!(
            &e[..],
            b"id: n-1.a-2\nevent: notification\ndata: {\"id\":1}\n\n"
        );
        let e = sse_event(None, "error", "{}");
        assert_eq!(&e[..], b"event: error\ndata: {}\n\n");
    }
}
