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
use super::engine::{Engine, InFlight};
use super::fcm::{FcmConfig, FcmSender};
use super::outbox;
pub use super::report::{DeliveryReport, DeliveryResult, PublicError, PushStats};
use super::retry::RetryPolicy;
use super::webpush::{VapidKeys, WebPushSender};
use super::{Channels, Priority, PushJob};
use crate::config::Settings;
use crate::db::Db;
use crate::ids::{TenantId, UserId};
use actix::prelude::*;
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

/// Why a test push could not run.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Too many jobs in progress.
    #[error("push dispatcher busy: {0} jobs in progress")]
    Busy(u64),
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
