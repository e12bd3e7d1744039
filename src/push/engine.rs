//! The push dispatcher's delivery engine: loads a job's targets, delivers
//! to each with the retry policy, and records the results (delivered flags,
//! gone subscriptions, counters). It runs on the dispatcher's arbiter, shared
//! by the jobs the actor spawns; the actor itself is in [`super::dispatcher`].

use super::email::EmailSender;
use super::fcm::FcmSender;
use super::report::{DeliveryReport, DeliveryResult, PublicError, PushStats};
use super::retry::RetryPolicy;
use super::sender::{Outcome, Payload, PushSender, Target};
use super::store::{self, DeliveredFlag};
use super::webpush::{redact, WebPushSender};
use super::PushJob;
use crate::db::Db;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// Counts a job in progress for as long as it lives.
pub(super) struct InFlight(Rc<Engine>);

impl InFlight {
    pub(super) fn enter(engine: &Rc<Engine>) -> Option<InFlight> {
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
pub(super) struct Engine {
    pub(super) db: Db,
    pub(super) web_push: Option<WebPushSender>,
    pub(super) fcm: Option<FcmSender>,
    pub(super) email: Option<EmailSender>,
    pub(super) policy: RetryPolicy,
    pub(super) permits: tokio::sync::Semaphore,
    pub(super) max_queued: u64,
    pub(super) stats: RefCell<PushStats>,
    pub(super) in_flight: Cell<u64>,
    /// How long an outbox claim lasts.
    pub(super) lease: Duration,
    /// How long one job may run (shorter than the lease).
    pub(super) job_budget: Duration,
    /// A sweep of the outbox is running.
    pub(super) sweeping: Cell<bool>,
}

/// One delivery to make.
struct Delivery {
    subscription_id: Option<i64>,
    target: Target,
}

impl Engine {
    /// Delivers a job on every enabled channel; one report per delivery.
    pub(super) async fn deliver(&self, job: &PushJob) -> Vec<DeliveryReport> {
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
        for r in &reports {
            metrics::counter!("tandem_push_deliveries_total", "channel" => r.kind, "outcome" => r.result.as_str()).increment(1);
        }
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
