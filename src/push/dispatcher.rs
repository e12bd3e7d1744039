//! The push dispatcher actor: receives [`PushJob`]s and delivers them.
//!
//! It runs on an arbiter (thread) of its own, so signing, encryption and
//! push I/O never share a thread with connection or room actors. Each job is
//! spawned into the actor's context and its handler returns at once, so the
//! mailbox never waits on the network. Outbound requests are bounded by a
//! semaphore (`push.max_concurrent_requests`, held per attempt, not while
//! waiting to retry), and jobs in progress by `push.max_queued_jobs` (more
//! are deferred: they stay in the push outbox and a later sweep runs them).
//!
//! Jobs of stored notifications live in the [`outbox`] until delivered or
//! given up; the actor sweeps it at start and every few seconds for jobs
//! whose claim lapsed, so a restarted server resumes what was in flight.
//!
//! Per job: load the user's active subscriptions of the job's channels
//! (tenant-scoped), deliver to each concurrently with the retry policy,
//! delete subscriptions the push service calls gone, stamp `last_used_at`,
//! and set `delivered_push` / `delivered_email` on the notification.

use super::destination::Destination;
use super::email::EmailSender;
use super::fcm::{FcmConfig, FcmSender};
use super::outbox;
use super::retry::RetryPolicy;
use super::sender::{Outcome, Payload, PushSender, Target};
use super::store::{self, DeliveredFlag};
use super::webpush::{redact, VapidKeys, WebPushSender};
use super::{Channels, Priority, PushJob};
use crate::config::Settings;
use crate::db::Db;
use crate::ids::{TenantId, UserId};
use actix::prelude::*;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// Send a test notification to one user's subscriptions (and email) now;
/// answers with one report per delivery.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<DeliveryReport>, DispatchError>")]
pub struct SendTest {
    /// Tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
}

/// Counters since start.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "PushStats")]
pub struct GetPushStats;

/// What the dispatcher has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, MessageResponse)]
pub struct PushStats {
    /// Jobs received (test pushes included).
    pub jobs: u64,
    /// Jobs deferred because `push.max_queued_jobs` were in progress (they
    /// stay in the outbox and a later sweep runs them).
    pub dropped: u64,
    /// Jobs in progress now.
    pub in_flight: u64,
    /// Deliveries accepted.
    pub delivered: u64,
    /// Subscriptions removed because the push service said gone.
    pub removed: u64,
    /// Deliveries that failed for good.
    pub failed: u64,
    /// Retries made.
    pub retries: u64,
}

/// Why a test push could not run.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Too many jobs in progress.
    #[error("push dispatcher busy: {0} jobs in progress")]
    Busy(u64),
}

/// How one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryResult {
    /// Accepted.
    Delivered,
    /// The push service said the subscription is gone; it was deleted.
    Removed,
    /// Failed (after retries, or permanently).
    Failed,
}

/// One delivery's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// `web_push`, `fcm` or `email`.
    pub kind: &'static str,
    /// The subscription (none for email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<i64>,
    /// Result.
    pub result: DeliveryResult,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP (or SMTP) status seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it did not arrive, in general terms only (the detail is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PublicError>,
}

/// What a delivery report says went wrong. Deliberately coarse: the server
/// connects to addresses users choose, and a detailed error (connection
/// refused, TLS failure, timeout) would tell them about the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicError {
    /// The push service said the subscription no longer exists.
    Gone,
    /// The message or destination was refused: a 4xx answer, or an endpoint
    /// this server does not send to.
    Rejected,
    /// Anything else: network errors, timeouts, 5xx after the retries.
    Failed,
}

/// What REST handlers need from the push module.
#[derive(Clone)]
pub struct PushHandle {
    /// The dispatcher.
    pub addr: Addr<PushDispatcherActor>,
    /// The VAPID public key clients subscribe with (None: Web Push is off).
    pub vapid_public_key: Option<String>,
    /// Hosts whose `http://` endpoints are accepted.
    pub insecure_endpoint_hosts: Vec<String>,
    /// Where Web Push endpoints may point.
    pub destination: Destination,
    /// Whether email is configured.
    pub email_enabled: bool,
}

/// Everything `Send` the dispatcher is built from (checked before start).
struct Parts {
    db: Db,
    vapid: Option<VapidKeys>,
    fcm: Option<FcmConfig>,
    email: Option<EmailSender>,
    policy: RetryPolicy,
    request_timeout: Duration,
    max_concurrent: usize,
    max_queued: u64,
    destination: Destination,
    lease: Duration,
    job_budget: Duration,
}

/// Loads keys and credentials from the settings (failing with a message
/// that names the config key) and starts the dispatcher on its own arbiter.
/// Must run inside an actix system.
pub fn start(settings: &Settings, db: Db) -> Result<PushHandle, String> {
    // awc and lettre use rustls; make ring the process-wide provider (an
    // error only means one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let push = &settings.push;
    let vapid = VapidKeys::from_settings(push)?;
    let fcm = FcmConfig::from_settings(push)?;
    let email = EmailSender::from_settings(&settings.email)?;
    let vapid_public_key = vapid.as_ref().map(|v| v.public_key().to_owned());
    let (fcm_on, email_on) = (fcm.is_some(), email.is_some());
    let destination = Destination {
        allow_private: push.allow_private_endpoints,
        host_suffixes: push.endpoint_host_suffixes.clone(),
    };
    if destination.allow_private {
        log::warn!(
            "push.allow_private_endpoints is on: Web Push may connect to loopback and private \
             addresses. This is for test fakes only; never enable it in production"
        );
    }
    let parts = Parts {
        db,
        vapid,
        fcm,
        email,
        policy: RetryPolicy {
            max_retries: push.max_retries,
            base_delay: Duration::from_millis(push.retry_base_delay_ms),
            max_delay: Duration::from_secs(push.max_retry_delay_secs),
        },
        request_timeout: Duration::from_secs(push.request_timeout_secs),
        max_concurrent: push.max_concurrent_requests,
        max_queued: push.max_queued_jobs as u64,
        destination: destination.clone(),
        lease: outbox::lease(push),
        job_budget: outbox::job_budget(push),
    };
    let arbiter = Arbiter::try_with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    })
    .map_err(|e| format!("cannot start the push arbiter: {e}"))?;
    let addr = PushDispatcherActor::start_in_arbiter(&arbiter.handle(), move |_| {
        PushDispatcherActor::new(parts)
    });
    log::info!(
        "push: web push {}, fcm {}, email {}",
        on_off(vapid_public_key.is_some()),
        on_off(fcm_on),
        on_off(email_on)
    );
    Ok(PushHandle {
        addr,
        vapid_public_key,
        insecure_endpoint_hosts: push.insecure_endpoint_hosts.clone(),
        destination,
        email_enabled: email_on,
    })
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// Delivers push jobs without blocking any WebSocket path.
pub struct PushDispatcherActor {
    engine: Rc<Engine>,
}

impl PushDispatcherActor {
    fn new(parts: Parts) -> Self {
        let client = awc::Client::builder()
            .timeout(parts.request_timeout)
            .disable_redirects()
            .connector(awc::Connector::new().timeout(parts.request_timeout))
            .finish();
        let engine = Engine {
            web_push: parts
                .vapid
                .map(|v| WebPushSender::new(v, client.clone(), parts.destination.clone())),
            fcm: parts.fcm.map(|f| FcmSender::new(f, client.clone())),
            email: parts.email,
            db: parts.db,
            policy: parts.policy,
            permits: tokio::sync::Semaphore::new(parts.max_concurrent.max(1)),
            max_queued: parts.max_queued.max(1),
            stats: RefCell::new(PushStats::default()),
            in_flight: Cell::new(0),
            lease: parts.lease,
            job_budget: parts.job_budget,
            sweeping: Cell::new(false),
        };
        PushDispatcherActor {
            engine: Rc::new(engine),
        }
    }
}

impl PushDispatcherActor {
    /// Runs one job in the background: delivers it within the job budget,
    /// then removes it from the outbox. A job stopped by the budget keeps its
    /// row, and a sweep claims it again once its claim lapses.
    fn run(&self, job: PushJob, guard: InFlight, ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        ctx.spawn(actix::fut::wrap_future(async move {
            let _guard = guard;
            let id = job.notification_id;
            match actix_rt::time::timeout(engine.job_budget, engine.deliver(&job)).await {
                Ok(_) if id > 0 => {
                    if let Err(e) = outbox::finish(&engine.db, id).await {
                        log::warn!("push outbox: cannot remove the job of notification {id}: {e}");
                    }
                }
                Ok(_) => {}
                Err(_) => log::warn!(
                    "push: the job of notification {id} ran past {:?}; it will be retried",
                    engine.job_budget
                ),
            }
        }));
    }

    /// Claims outbox jobs whose claim lapsed and runs them.
    fn sweep(&self, ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        if engine.sweeping.replace(true) {
            return;
        }
        let room = engine.max_queued.saturating_sub(engine.in_flight.get());
        let limit = (room as i64).min(outbox::SWEEP_BATCH);
        if limit == 0 {
            engine.sweeping.set(false);
            return;
        }
        let claim = {
            let engine = engine.clone();
            async move { outbox::claim_lapsed(&engine.db, engine.lease, limit).await }
        };
        ctx.spawn(actix::fut::wrap_future(claim).map(
            move |claimed, actor: &mut Self, ctx: &mut Context<Self>| {
                actor.engine.sweeping.set(false);
                let claimed = match claimed {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        log::warn!("push outbox: cannot claim pending jobs: {e}");
                        return;
                    }
                };
                for outbox::Claimed { job, claims } in claimed {
                    let id = job.notification_id;
                    if claims > outbox::MAX_CLAIMS {
                        log::warn!(
                            "push outbox: giving up the job of notification {id} after {} claims",
                            outbox::MAX_CLAIMS
                        );
                        let db = actor.engine.db.clone();
                        ctx.spawn(actix::fut::wrap_future(async move {
                            if let Err(e) = outbox::finish(&db, id).await {
                                log::warn!("push outbox: cannot remove notification {id}: {e}");
                            }
                        }));
                        continue;
                    }
                    log::info!("push outbox: resuming the job of notification {id}");
                    match InFlight::enter(&actor.engine) {
                        Some(guard) => actor.run(job, guard, ctx),
                        None => break,
                    }
                }
            },
        ));
    }
}

impl Actor for PushDispatcherActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Resume what a previous run left, then keep looking.
        self.sweep(ctx);
        ctx.run_interval(outbox::SWEEP_EVERY, |actor, ctx| actor.sweep(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Only `start` creates this actor, always on an arbiter of its own.
        Arbiter::current().stop();
    }
}

impl Handler<PushJob> for PushDispatcherActor {
    type Result = ();

    /// Delivers one job (its outbox row, if any, is removed when done; a
    /// job dropped here keeps its row and a later sweep runs it).
    fn handle(&mut self, job: PushJob, ctx: &mut Context<Self>) {
        let Some(guard) = InFlight::enter(&self.engine) else {
            log::warn!(
                "push: deferring job for notification {} ({} jobs in progress)",
                job.notification_id,
                self.engine.max_queued
            );
            return;
        };
        self.run(job, guard, ctx);
    }
}

impl Handler<SendTest> for PushDispatcherActor {
    type Result = ResponseFuture<Result<Vec<DeliveryReport>, DispatchError>>;

    /// Sends a test notification and reports.
    fn handle(&mut self, msg: SendTest, _: &mut Context<Self>) -> Self::Result {
        let Some(guard) = InFlight::enter(&self.engine) else {
            let busy = self.engine.in_flight.get();
            return Box::pin(async move { Err(DispatchError::Busy(busy)) });
        };
        let engine = self.engine.clone();
        Box::pin(async move {
            let _guard = guard;
            let job = PushJob {
                notification_id: 0,
                tenant: msg.tenant,
                user: msg.user,
                notification_type: "test".into(),
                title: "Test notification".into(),
                message: Some("Push notifications from Tandem reach this device.".into()),
                action_url: None,
                priority: Priority::High,
                channels: Channels {
                    web_push: true,
                    fcm: true,
                    email: true,
                },
            };
            Ok(engine.deliver(&job).await)
        })
    }
}

impl Handler<GetPushStats> for PushDispatcherActor {
    type Result = PushStats;

    /// Reports the counters.
    fn handle(&mut self, _: GetPushStats, _: &mut Context<Self>) -> PushStats {
        let mut stats = *self.engine.stats.borrow();
        stats.in_flight = self.engine.in_flight.get();
        stats
    }
}

/// Counts a job in progress for as long as it lives.
struct InFlight(Rc<Engine>);

impl InFlight {
    fn enter(engine: &Rc<Engine>) -> Option<InFlight> {
        engine.stats.borrow_mut().jobs += 1;
        if engine.in_flight.get() >= engine.max_queued {
            engine.stats.borrow_mut().dropped += 1;
            return None;
        }
        engine.in_flight.set(engine.in_flight.get() + 1);
        Some(InFlight(engine.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
    }
}

/// The dispatcher's state, shared by its spawned jobs (one thread).
struct Engine {
    db: Db,
    web_push: Option<WebPushSender>,
    fcm: Option<FcmSender>,
    email: Option<EmailSender>,
    policy: RetryPolicy,
    permits: tokio::sync::Semaphore,
    max_queued: u64,
    stats: RefCell<PushStats>,
    in_flight: Cell<u64>,
    /// How long an outbox claim lasts.
    lease: Duration,
    /// How long one job may run (shorter than the lease).
    job_budget: Duration,
    /// A sweep of the outbox is running.
    sweeping: Cell<bool>,
}

/// One delivery to make.
struct Delivery {
    subscription_id: Option<i64>,
    target: Target,
}

impl Engine {
    /// Delivers a job on every enabled channel; one report per delivery.
    async fn deliver(&self, job: &PushJob) -> Vec<DeliveryReport> {
        let payload = Payload::from_job(job);
        let mut kinds = Vec::new();
        if job.channels.web_push {
            kinds.push("web_push");
        }
        if job.channels.fcm {
            kinds.push("fcm");
        }
        let mut deliveries = Vec::new();
        match store::active_targets(&self.db, &job.tenant, &job.user, &kinds).await {
            Ok(subs) => {
                for sub in subs {
                    let target = match (sub.kind.as_str(), sub.p256dh_key, sub.auth_key) {
                        ("web_push", Some(p256dh), Some(auth)) => Target::WebPush {
                            endpoint: sub.endpoint,
                            p256dh,
                            auth,
                        },
                        ("fcm", _, _) => Target::Fcm {
                            token: sub.endpoint,
                        },
                        _ => continue,
                    };
                    deliveries.push(Delivery {
                        subscription_id: Some(sub.id),
                        target,
                    });
                }
            }
            Err(e) => log::error!(
                "push: cannot load subscriptions for notification {}: {e}",
                job.notification_id
            ),
        }
        if job.channels.email && self.email.is_some() {
            match store::email_of(&self.db, &job.tenant, &job.user).await {
                Ok(Some(address)) => deliveries.push(Delivery {
                    subscription_id: None,
                    target: Target::Email { address },
                }),
                Ok(None) => log::debug!(
                    "push: no email address for {} in {}; email skipped",
                    job.user,
                    job.tenant
                ),
                Err(e) => log::error!("push: cannot load the email address: {e}"),
            }
        }
        let reports = futures_util::future::join_all(
            deliveries
                .into_iter()
                .map(|d| self.deliver_one(job, d, &payload)),
        )
        .await;
        if job.notification_id > 0 {
            let delivered = |kinds: &[&str]| {
                reports
                    .iter()
                    .any(|r| r.result == DeliveryResult::Delivered && kinds.contains(&r.kind))
            };
            for (flag, kinds) in [
                (DeliveredFlag::Push, &["web_push", "fcm"][..]),
                (DeliveredFlag::Email, &["email"][..]),
            ] {
                if delivered(kinds) {
                    if let Err(e) = store::mark_delivered(
                        &self.db,
                        &job.tenant,
                        &job.user,
                        job.notification_id,
                        flag,
                    )
                    .await
                    {
                        log::error!(
                            "push: cannot mark notification {} delivered: {e}",
                            job.notification_id
                        );
                    }
                }
            }
        }
        reports
    }

    fn sender(&self, target: &Target) -> Option<&dyn PushSender> {
        match target {
            Target::WebPush { .. } => self.web_push.as_ref().map(|s| s as &dyn PushSender),
            Target::Fcm { .. } => self.fcm.as_ref().map(|s| s as &dyn PushSender),
            Target::Email { .. } => self.email.as_ref().map(|s| s as &dyn PushSender),
        }
    }

    /// One delivery with retries. The report's `error` is generic
    /// (`gone`, `rejected`, `failed`); the detail goes to the log only, so a
    /// user cannot learn anything about the network from it.
    async fn deliver_one(
        &self,
        job: &PushJob,
        delivery: Delivery,
        payload: &Payload,
    ) -> DeliveryReport {
        let target = &delivery.target;
        let mut report = DeliveryReport {
            kind: target.kind(),
            subscription_id: delivery.subscription_id,
            result: DeliveryResult::Failed,
            attempts: 0,
            status: None,
            error: Some(PublicError::Failed),
        };
        let Some(sender) = self.sender(target) else {
            log::warn!("push: {} is not configured on this server", target.kind());
            self.stats.borrow_mut().failed += 1;
            return report;
        };
        let mut retries = 0;
        loop {
            report.attempts += 1;
            let outcome = {
                // Closed never happens (the semaphore is never closed);
                // without a permit the attempt still goes out.
                let _permit = self.permits.acquire().await.ok();
                sender.send(target, payload).await
            };
            match outcome {
                Outcome::Delivered => {
                    report.result = DeliveryResult::Delivered;
                    report.status = None;
                    report.error = None;
                    self.stats.borrow_mut().delivered += 1;
                    if let Some(id) = delivery.subscription_id {
                        if let Err(e) = store::touch_subscription(&self.db, id).await {
                            log::warn!("push: cannot stamp subscription {id}: {e}");
                        }
                    }
                    return report;
                }
                Outcome::Gone { status } => {
                    report.result = DeliveryResult::Removed;
                    report.status = Some(status);
                    report.error = Some(PublicError::Gone);
                    self.stats.borrow_mut().removed += 1;
                    if let (Some(id), Some(endpoint)) =
                        (delivery.subscription_id, endpoint_of(target))
                    {
                        log::info!(
                            "push: {} subscription {id} is gone ({status}); deleting it",
                            target.kind()
                        );
                        if let Err(e) =
                            store::delete_gone(&self.db, &job.tenant, &job.user, id, endpoint).await
                        {
                            log::warn!("push: cannot delete subscription {id}: {e}");
                        }
                    }
                    return report;
                }
                Outcome::Retry {
                    after,
                    status,
                    reason,
                } => {
                    report.status = status;
                    match self.policy.delay(retries, after) {
                        Some(wait) => {
                            retries += 1;
                            self.stats.borrow_mut().retries += 1;
                            log::debug!(
                                "push: {} to {} failed ({reason}); retry {retries} in {wait:?}",
                                target.kind(),
                                describe(target),
                            );
                            actix_rt::time::sleep(wait).await;
                        }
                        None => {
                            self.stats.borrow_mut().failed += 1;
                            log::warn!(
                                "push: {} to {} failed after {} attempts: {reason}",
                                target.kind(),
                                describe(target),
                                report.attempts,
                            );
                            return report;
                        }
                    }
                }
                Outcome::Refused { reason } => {
                    report.error = Some(PublicError::Rejected);
                    self.stats.borrow_mut().failed += 1;
                    log::warn!(
                        "push: refused to send {} to {}: {reason}",
                        target.kind(),
                        describe(target)
                    );
                    return report;
                }
                Outcome::Failed { status, reason } => {
                    report.status = status;
                    if status.is_some_and(|s| (400..500).contains(&s)) {
                        report.error = Some(PublicError::Rejected);
                    }
                    self.stats.borrow_mut().failed += 1;
                    log::warn!(
                        "push: {} to {} failed: {reason}",
                        target.kind(),
                        describe(target)
                    );
                    return report;
                }
            }
        }
    }
}

/// The stored endpoint column of a subscription target.
fn endpoint_of(target: &Target) -> Option<&str> {
    match target {
        Target::WebPush { endpoint, .. } => Some(endpoint),
        Target::Fcm { token } => Some(token),
        Target::Email { .. } => None,
    }
}

/// A target for logs, without secrets or device identifiers.
fn describe(target: &Target) -> String {
    match target {
        Target::WebPush { endpoint, .. } => redact(endpoint),
        Target::Fcm { token } => format!("fcm token …{}", tail(token, 6)),
        Target::Email { address } => {
            let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("?");
            format!("an address at {domain}")
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}
