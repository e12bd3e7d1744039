//! The push outbox: jobs survive a crash or a restart.
//!
//! A job is written to `push_outbox` (keyed by its notification) before it
//! is handed to the dispatcher, with a claim that lapses after [`lease`]. The
//! dispatcher deletes the row when the job is delivered or given up. Every
//! [`SWEEP_EVERY`], each node's dispatcher claims rows whose claim has
//! lapsed (their server died, or the job was dropped from a full queue) and
//! delivers them: a restarted server resumes the pending jobs, and a job is
//! delivered at least once. A job claimed [`MAX_CLAIMS`] times is given up
//! (so a job that kills the server cannot loop forever).
//!
//! The lease outlasts the longest a job may run: the dispatcher stops a job
//! after [`job_budget`], so a job whose claim lapsed is never still running.

use super::{Channels, Priority, PushJob};
use crate::config::PushSettings;
use crate::db::schema::push_outbox;
use crate::db::{Db, DbError};
use crate::ids::{TenantId, UserId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use std::time::Duration;

/// How often each dispatcher looks for lapsed claims.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Rows one sweep claims at most.
pub const SWEEP_BATCH: i64 = 100;
/// Claims after which a job is given up.
pub const MAX_CLAIMS: i32 = 5;

/// The longest one job may run: every attempt (each may need an OAuth
/// token request too) and every backoff between them.
pub fn job_budget(push: &PushSettings) -> Duration {
    let attempts = u64::from(push.max_retries) + 1;
    let per_attempt = push.request_timeout_secs.saturating_mul(2);
    let waits = u64::from(push.max_retries).saturating_mul(push.max_retry_delay_secs);
    Duration::from_secs(attempts.saturating_mul(per_attempt).saturating_add(waits))
}

/// How long a claim lasts: the job budget and a margin.
pub fn lease(push: &PushSettings) -> Duration {
    job_budget(push) + Duration::from_secs(5)
}

/// Stores `job` (claimed by this node for [`lease`]) and hands it to the
/// dispatcher. When the row cannot be written the job is still handed over,
/// without the crash guarantee, and the failure is logged.
pub async fn enqueue(
    db: &Db,
    push: &PushSettings,
    dispatcher: &actix::Recipient<PushJob>,
    job: PushJob,
) {
    if let Err(e) = insert(db, &job, lease(push)).await {
        log::error!(
            "push outbox: cannot store the job of notification {}: {e}",
            job.notification_id
        );
    }
    dispatcher.do_send(job);
}

async fn insert(db: &Db, job: &PushJob, lease: Duration) -> Result<(), DbError> {
    use push_outbox::dsl as o;
    let mut conn = db.conn().await?;
    let until = chrono::Utc::now()
        + chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::hours(1));
    diesel::insert_into(o::push_outbox)
        .values((
            o::notification_id.eq(job.notification_id),
            o::tenant_id.eq(job.tenant.as_str()),
            o::user_id.eq(job.user.as_str()),
            o::notification_type.eq(&job.notification_type),
            o::title.eq(&job.title),
            o::message.eq(&job.message),
            o::action_url.eq(&job.action_url),
            o::priority.eq(job.priority.as_str()),
            o::web_push.eq(job.channels.web_push),
            o::fcm.eq(job.channels.fcm),
            o::email.eq(job.channels.email),
            o::claimed_until.eq(until),
        ))
        .on_conflict_do_nothing()
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Removes a finished (delivered or given up) job.
pub async fn finish(db: &Db, notification_id: i64) -> Result<(), DbError> {
    use push_outbox::dsl as o;
    let mut conn = db.conn().await?;
    diesel::delete(o::push_outbox.filter(o::notification_id.eq(notification_id)))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// A claimed row.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    notification_id: i64,
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    notification_type: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    message: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    action_url: Option<String>,
    #[diesel(sql_type = Text)]
    priority: String,
    #[diesel(sql_type = Bool)]
    web_push: bool,
    #[diesel(sql_type = Bool)]
    fcm: bool,
    #[diesel(sql_type = Bool)]
    email: bool,
    #[diesel(sql_type = Integer)]
    claims: i32,
}

/// A job claimed again, and how many times it has been claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The job.
    pub job: PushJob,
    /// Claims so far, this one included.
    pub claims: i32,
}

/// Claims up to `limit` jobs whose claim has lapsed (for `lease` more),
/// oldest first. Rows of notifications deleted meanwhile are dropped.
/// Concurrent sweeps of several nodes never claim the same row.
pub async fn claim_lapsed(db: &Db, lease: Duration, limit: i64) -> Result<Vec<Claimed>, DbError> {
    let mut conn = db.conn().await?;
    diesel::sql_query(
        "DELETE FROM push_outbox o WHERE o.claimed_until < now() \
         AND NOT EXISTS (SELECT 1 FROM realtime_notifications n WHERE n.id = o.notification_id)",
    )
    .execute(&mut conn)
    .await?;
    let rows: Vec<Row> = diesel::sql_query(
        "UPDATE push_outbox SET claimed_until = now() + make_interval(secs => $1), \
         claims = claims + 1 \
         WHERE notification_id IN (SELECT notification_id FROM push_outbox \
           WHERE claimed_until < now() ORDER BY claimed_until LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING notification_id, tenant_id, user_id, notification_type, title, message, \
           action_url, priority, web_push, fcm, email, claims",
    )
    .bind::<Double, _>(lease.as_secs_f64())
    .bind::<BigInt, _>(limit)
    .load(&mut conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            claims: r.claims,
            job: PushJob {
                notification_id: r.notification_id,
                tenant: TenantId::new(r.tenant_id),
                user: UserId::new(r.user_id),
                notification_type: r.notification_type,
                title: r.title,
                message: r.message,
                action_url: r.action_url,
                priority: Priority::parse(&r.priority).unwrap_or(Priority::Normal),
                channels: Channels {
                    web_push: r.web_push,
                    fcm: r.fcm,
                    email: r.email,
                },
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_outlasts_every_attempt_and_wait() {
        let push = PushSettings {
            max_retries: 3,
            request_timeout_secs: 10,
            max_retry_delay_secs: 300,
            ..PushSettings::default()
        };
        // 4 attempts of up to 2 × 10 s, and 3 waits of up to 300 s.
        assert_eq!(job_budget(&push), Duration::from_secs(4 * 20 + 900));
        assert!(lease(&push) > job_budget(&push));
        let none = PushSettings {
            max_retries: 0,
            request_timeout_secs: 2,
            ..PushSettings::default()
        };
        assert_eq!(job_budget(&none), Duration::from_secs(4));
    }
}
