//! The activity feed: who did what to which entity.
//!
//! [`record`] stores a row and publishes an `activity` message: `team` and
//! `public` rows to every connection of the tenant, `private` rows only to
//! the users in `visible_to` and the actor. Listing applies the same rule:
//! a private row is returned only to a user it names.
//!
//! Other parts of Tandem (document edits, locks) call [`record`]; it does
//! database I/O, so an actor must spawn it rather than await it in a
//! handler:
//!
//! ```ignore
//! let notifier = self.notifier.clone();
//! actix_rt::spawn(async move {
//!     if let Err(e) = notify::activity::record(&notifier, input).await {
//!         log::warn!("activity not recorded: {e}");
//!     }
//! });
//! ```

use super::Notifier;
use super::{check_chars, check_id, check_name, invalid, non_empty, rfc3339, NotifyError};
use crate::broker::Topic;
use crate::db::schema::activity_feed;
use crate::db::Db;
use crate::ids::{TenantId, UserId};
use crate::protocol::server::ActivityView;
use crate::protocol::ServerMessage;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgExpressionMethods;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use std::collections::BTreeSet;

/// Users a private activity may name at most.
pub const MAX_VISIBLE_TO: usize = 1000;
/// Largest `details`, serialized.
pub const MAX_DETAILS_BYTES: usize = 16 * 1024;

/// Who may see an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Only the users in `visible_to` and the actor.
    Private,
    /// Every user of the tenant (the default).
    Team,
    /// Every user of the tenant; marked public for host apps that show it
    /// outside the team.
    Public,
}

impl Visibility {
    /// Database and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Team => "team",
            Visibility::Public => "public",
        }
    }
}

/// An activity to record (tenant from the caller's credential).
#[derive(Debug, Clone)]
pub struct ActivityInput {
    /// Tenant.
    pub tenant: TenantId,
    /// Actor, if a user did it.
    pub user_id: Option<String>,
    /// Actor's display name.
    pub user_name: Option<String>,
    /// What happened (`created`, `commented`, `locked`, ...).
    pub action: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Entity display name.
    pub entity_name: Option<String>,
    /// App-defined details.
    pub details: Option<serde_json::Value>,
    /// Who may see it.
    pub visibility: Visibility,
    /// For `private`: who may see it (besides the actor).
    pub visible_to: Vec<String>,
}

/// Body of `POST /api/v1/activity`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateActivity {
    /// Actor.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Actor's display name.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Action.
    pub action: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Entity display name.
    #[serde(default)]
    pub entity_name: Option<String>,
    /// Details (any JSON).
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    /// `private`, `team` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// Required (non-empty) for `private`; not allowed otherwise.
    #[serde(default)]
    pub visible_to: Option<Vec<String>>,
}

impl CreateActivity {
    /// Into an [`ActivityInput`] for the caller's tenant (validated by [`record`]).
    pub fn into_input(self, tenant: TenantId) -> Result<ActivityInput, NotifyError> {
        let visibility = match self.visibility.as_deref() {
            None | Some("team") => Visibility::Team,
            Some("private") => Visibility::Private,
            Some("public") => Visibility::Public,
            Some(_) => return Err(invalid("visibility", "must be private, team or public")),
        };
        Ok(ActivityInput {
            tenant,
            user_id: non_empty(self.user_id),
            user_name: non_empty(self.user_name),
            action: self.action,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            entity_name: non_empty(self.entity_name),
            details: self.details.filter(|d| !d.is_null()),
            visibility,
            visible_to: self.visible_to.unwrap_or_default(),
        })
    }
}

impl ActivityInput {
    /// Checks every field against the documented limits; removes duplicate
    /// `visible_to` entries.
    pub fn validate(&mut self) -> Result<(), NotifyError> {
        if let Some(u) = &self.user_id {
            check_id("user_id", u, 256)?;
        }
        if let Some(n) = &self.user_name {
            check_chars("user_name", n, 1, 100)?;
        }
        check_name("action", &self.action)?;
        check_id("entity_type", &self.entity_type, 64)?;
        check_id("entity_id", &self.entity_id, 256)?;
        if let Some(n) = &self.entity_name {
            check_chars("entity_name", n, 1, 255)?;
        }
        if let Some(d) = &self.details {
            if d.to_string().len() > MAX_DETAILS_BYTES {
                return Err(invalid(
                    "details",
                    format_args!("must be at most {MAX_DETAILS_BYTES} bytes of JSON"),
                ));
            }
        }
        match self.visibility {
            Visibility::Private => {
                if self.visible_to.is_empty() || self.visible_to.len() > MAX_VISIBLE_TO {
                    return Err(invalid(
                        "visible_to",
                        format_args!(
                            "must list 1 to {MAX_VISIBLE_TO} user ids for private activity"
                        ),
                    ));
                }
            }
            Visibility::Team | Visibility::Public => {
                if !self.visible_to.is_empty() {
                    return Err(invalid(
                        "visible_to",
                        "applies only to private activity (team and public reach the whole tenant)",
                    ));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for (i, u) in self.visible_to.iter().enumerate() {
            check_id(&format!("visible_to[{i}]"), u, 256)?;
            seen.insert(u.clone());
        }
        let mut deduped = Vec::with_capacity(seen.len());
        for u in std::mem::take(&mut self.visible_to) {
            if seen.remove(&u) {
                deduped.push(u);
            }
        }
        self.visible_to = deduped;
        Ok(())
    }
}

/// A stored activity.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = activity_feed)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ActivityRow {
    /// Monotonic id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: String,
    /// Actor.
    pub user_id: Option<String>,
    /// Actor's name.
    pub user_name: Option<String>,
    /// Action.
    pub action: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Entity name.
    pub entity_name: Option<String>,
    /// Details.
    pub details: Option<serde_json::Value>,
    /// `private`, `team`, `public`.
    pub visibility: String,
    /// Who may see a private row.
    pub visible_to: Vec<Option<String>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl ActivityRow {
    /// The wire shape (`visible_to` is not sent).
    pub fn view(&self) -> ActivityView {
        ActivityView {
            id: self.id,
            user_id: self.user_id.clone(),
            user_name: self.user_name.clone(),
            action: self.action.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id.clone(),
            entity_name: self.entity_name.clone(),
            details: self.details.clone(),
            visibility: self.visibility.clone(),
            created_at: rfc3339(self.created_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = activity_feed)]
struct NewActivity<'a> {
    tenant_id: &'a str,
    user_id: Option<&'a str>,
    user_name: Option<&'a str>,
    action: &'a str,
    entity_type: &'a str,
    entity_id: &'a str,
    entity_name: Option<&'a str>,
    details: Option<&'a serde_json::Value>,
    visibility: &'a str,
    visible_to: Vec<Option<&'a str>>,
}

/// Validates, stores and publishes an activity; returns the stored row's view.
pub async fn record(
    services: &Notifier,
    mut input: ActivityInput,
) -> Result<ActivityView, NotifyError> {
    input.validate()?;
    let row: ActivityRow = {
        let new = NewActivity {
            tenant_id: input.tenant.as_str(),
            user_id: input.user_id.as_deref(),
            user_name: input.user_name.as_deref(),
            action: &input.action,
            entity_type: &input.entity_type,
            entity_id: &input.entity_id,
            entity_name: input.entity_name.as_deref(),
            details: input.details.as_ref(),
            visibility: input.visibility.as_str(),
            visible_to: input.visible_to.iter().map(|u| Some(u.as_str())).collect(),
        };
        let mut conn = services.db.conn().await?;
        // Writers of one tenant take their ids one after another, so id
        // order is commit order and a reader resuming "after id N" (REST
        // `after_id`, SSE `Last-Event-ID`) never misses a row that commits
        // later with a smaller id. A transaction-scoped advisory lock per
        // tenant does it without a table (a hash collision between two
        // tenants only serializes them too).
        use diesel_async::AsyncConnection;
        let tenant = input.tenant.as_str();
        conn.transaction::<_, NotifyError, _>(async move |conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(format!("tandem.activity/{tenant}"))
                .execute(conn)
                .await?;
            diesel::insert_into(activity_feed::table)
                .values(&new)
                .returning(ActivityRow::as_returning())
                .get_results(conn)
                .await?
                .pop()
                .ok_or(NotifyError::Db(crate::db::DbError::Query(
                    diesel::result::Error::NotFound,
                )))
        })
        .await?
    };
    let view = row.view();
    let frame = ServerMessage::Activity {
        activity: view.clone(),
    }
    .to_frame();
    match input.visibility {
        Visibility::Team | Visibility::Public => {
            services
                .broker
                .publish(Topic::Tenant(input.tenant.clone()), frame, None);
        }
        Visibility::Private => {
            let mut readers: BTreeSet<&str> = input.visible_to.iter().map(String::as_str).collect();
            if let Some(actor) = &input.user_id {
                readers.insert(actor);
            }
            for u in readers {
                services.broker.publish(
                    Topic::User(input.tenant.clone(), UserId::new(u)),
                    frame.clone(),
                    None,
                );
            }
        }
    }
    Ok(view)
}

/// What an activity listing filters by.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id (with `entity_type`).
    pub entity_id: Option<String>,
    /// Actor.
    pub user_id: Option<String>,
    /// Action.
    pub action: Option<String>,
    /// Only ids below this (paging back, newest first).
    pub before_id: Option<i64>,
    /// Only ids above this, oldest first (resuming).
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// One page of the activity `reader` may see: newest first, or oldest
/// first when `after_id` is given. True when more rows match.
pub async fn list(
    db: &Db,
    tenant: &TenantId,
    reader: &UserId,
    filter: &ActivityFilter,
) -> Result<(Vec<ActivityRow>, bool), NotifyError> {
    let me = reader.as_str().to_owned();
    let mut query = activity_feed::table
        .filter(activity_feed::tenant_id.eq(tenant.as_str()))
        .filter(
            activity_feed::visibility
                .ne("private")
                .or(activity_feed::user_id.is_not_distinct_from(me.clone()))
                .or(activity_feed::visible_to.contains(vec![Some(me)])),
        )
        .select(ActivityRow::as_select())
        .limit(filter.limit + 1)
        .into_boxed();
    if let Some(t) = &filter.entity_type {
        query = query.filter(activity_feed::entity_type.eq(t.clone()));
    }
    if let Some(i) = &filter.entity_id {
        query = query.filter(activity_feed::entity_id.eq(i.clone()));
    }
    if let Some(u) = &filter.user_id {
        query = query.filter(activity_feed::user_id.eq(u.clone()));
    }
    if let Some(a) = &filter.action {
        query = query.filter(activity_feed::action.eq(a.clone()));
    }
    if let Some(b) = filter.before_id {
        query = query.filter(activity_feed::id.lt(b));
    }
    query = match filter.after_id {
        Some(a) => query
            .filter(activity_feed::id.gt(a))
            .order(activity_feed::id.asc()),
        None => query.order(activity_feed::id.desc()),
    };
    let mut conn = db.conn().await?;
    let mut rows: Vec<ActivityRow> = query.load(&mut conn).await?;
    let more = rows.len() as i64 > filter.limit;
    rows.truncate(filter.limit.max(0) as usize);
    Ok((rows, more))
}

/// The newest activity id of the tenant (0 when none); a stream position,
/// not a visibility check.
pub async fn max_id(db: &Db, tenant: &TenantId) -> Result<i64, NotifyError> {
    let mut conn = db.conn().await?;
    let max: Option<i64> = activity_feed::table
        .filter(activity_feed::tenant_id.eq(tenant.as_str()))
        .select(diesel::dsl::max(activity_feed::id))
        .get_result(&mut conn)
        .await?;
    Ok(max.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn input(v: serde_json::Value) -> Result<ActivityInput, NotifyError> {
        let body: CreateActivity = super::super::from_json(v)?;
        let mut i = body.into_input(TenantId::new("t"))?;
        i.validate()?;
        Ok(i)
    }

    #[test]
    fn private_needs_readers_and_team_refuses_them() {
        let base =
            serde_json::json!({"action": "created", "entity_type": "invoice", "entity_id": "1"});
        let ok = input(base.clone()).unwrap();
        assert_eq!(ok.visibility, Visibility::Team);
        let mut p = base.clone();
        p["visibility"] = "private".into();
        assert!(input(p.clone())
            .unwrap_err()
            .to_string()
            .contains("visible_to"));
        p["visible_to"] = serde_json::json!(["b", "a", "b"]);
        assert_eq!(input(p).unwrap().visible_to, vec!["b", "a"]);
        let mut t = base.clone();
        t["visible_to"] = serde_json::json!(["a"]);
        assert!(input(t).unwrap_err().to_string().contains("visible_to"));
        let mut v = base.clone();
        v["visibility"] = "secret".into();
        assert!(input(v).unwrap_err().to_string().contains("visibility"));
        let mut d = base;
        d["details"] = serde_json::json!({"x": "y".repeat(MAX_DETAILS_BYTES)});
        assert!(input(d).unwrap_err().to_string().contains("details"));
    }
}
