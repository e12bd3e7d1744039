//! Resuming "after id N" never skips a notification, even when two
//! publishers for the same user race and the one holding the smaller id
//! commits last. The test stalls the first publisher's transaction inside
//! PostgreSQL (a trigger waits on an advisory lock the test holds) after it
//! has taken its id, and lets a second publisher run meanwhile. The same
//! holds for the activity feed, per tenant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Backends of the test database waiting on a lock.
async fn lock_waiters(conn: &mut AsyncPgConnection, db: &str) -> i64 {
    let c: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = '{db}' AND wait_event_type = 'Lock'"
    ))
    .get_result(conn)
    .await
    .unwrap();
    c.n
}

/// Makes inserts into `table` whose row matches `condition` (on `NEW`)
/// wait, after taking their id, until the returned connection releases
/// advisory lock `lock`.
async fn stall_inserts(
    admin: &mut AsyncPgConnection,
    url: &str,
    table: &str,
    condition: &str,
    lock: i64,
) -> AsyncPgConnection {
    diesel::sql_query(format!(
        "CREATE FUNCTION stall_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF {condition} THEN PERFORM pg_advisory_xact_lock({lock}); END IF; \
         RETURN NEW; END $$"
    ))
    .execute(admin)
    .await
    .unwrap();
    diesel::sql_query(format!(
        "CREATE TRIGGER stall_{table} BEFORE INSERT ON {table} \
         FOR EACH ROW EXECUTE FUNCTION stall_{table}()"
    ))
    .execute(admin)
    .await
    .unwrap();
    let mut holder = AsyncPgConnection::establish(url).await.unwrap();
    diesel::sql_query(format!("SELECT pg_advisory_lock({lock})"))
        .execute(&mut holder)
        .await
        .unwrap();
    holder
}

/// Starts the slow publisher, waits until it stalls holding its id, starts
/// the fast one and waits until it either finished (ids out of commit
/// order) or waits for the slow one (ids in commit order).
async fn race<T: 'static>(
    admin: &mut AsyncPgConnection,
    db: &str,
    publish: impl Fn(&'static str) -> actix_rt::task::JoinHandle<T>,
) -> (actix_rt::task::JoinHandle<T>, actix_rt::task::JoinHandle<T>) {
    let slow = publish("slow");
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_waiters(admin, db).await < 1 {
        assert!(Instant::now() < deadline, "the slow insert never stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fast = publish("fast");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fast.is_finished() && lock_waiters(admin, db).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the fast publisher neither ran nor waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (slow, fast)
}

/// POSTs `body` with a service token from a task of its own (so it can stall
/// inside PostgreSQL while the test goes on): the status and JSON body.
fn spawn_post(
    url: String,
    service: String,
    body: Value,
) -> actix_rt::task::JoinHandle<(u16, Value)> {
    actix_rt::spawn(async move {
        let mut resp = awc::Client::new()
            .post(url)
            .bearer_auth(service)
            .timeout(Duration::from_secs(30))
            .send_json(&body)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&resp.body().await.unwrap()).unwrap();
        (resp.status().as_u16(), body)
    })
}

async fn ids_after(app: &TestApp, token: &str, after: i64) -> Vec<i64> {
    let (status, body) = app
        .get(
            &format!("/api/v1/notifications?after_id={after}&limit=100"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect()
}

#[actix_rt::test]
async fn a_reader_resuming_after_the_latest_id_misses_nothing_when_commits_race() {
    let app = spawn_app_with_api_key(|_| {}).await;
    let ana = app.token("ana", "t1");
    let mut admin = app.db.conn().await;
    // A notification titled "slow" waits, after taking its id, until the
    // test releases advisory lock 4242.
    let mut holder = stall_inserts(
        &mut admin,
        &app.db.url,
        "realtime_notifications",
        "NEW.title = 'slow'",
        4242,
    )
    .await;
    let (url, service) = (app.url("/api/v1/notifications"), app.service_token("t1"));
    let publish = |title: &'static str| {
        let body = json!({"user_ids": ["ana"], "type": "mention", "title": title});
        spawn_post(url.clone(), service.clone(), body)
    };
    let (slow, fast) = race(&mut admin, &app.db.name, publish).await;

    // A reader reads what is there and remembers the newest id it saw.
    let mut seen: BTreeSet<i64> = ids_after(&app, &ana, 0).await.into_iter().collect();
    let position = seen.iter().copied().max().unwrap_or(0);

    diesel::sql_query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut created = BTreeSet::new();
    for (status, body) in [slow.await.unwrap(), fast.await.unwrap()] {
        assert_eq!(status, 201, "{body}");
        created.insert(body["ids"][0].as_i64().unwrap());
    }
    // It resumes after that id and must now have every notification.
    seen.extend(ids_after(&app, &ana, position).await);
    assert_eq!(
        seen, created,
        "resuming after {position} skipped a notification"
    );
}

async fn activity_ids_after(app: &TestApp, token: &str, after: i64) -> Vec<i64> {
    let (status, body) = app
        .get(
            &format!("/api/v1/activity?after_id={after}&limit=100"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect()
}

#[actix_rt::test]
async fn an_activity_reader_resuming_after_the_latest_id_misses_nothing_when_commits_race() {
    let app = spawn_app_with_api_key(|_| {}).await;
    let ana = app.token("ana", "t1");
    let mut admin = app.db.conn().await;
    // An activity with action "slow" waits, after taking its id, until the
    // test releases advisory lock 4343.
    let mut holder = stall_inserts(
        &mut admin,
        &app.db.url,
        "activity_feed",
        "NEW.action = 'slow'",
        4343,
    )
    .await;
    let (url, service) = (app.url("/api/v1/activity"), app.service_token("t1"));
    let publish = |action: &'static str| {
        let body =
            json!({"action": action, "entity_type": "page", "entity_id": "p", "user_id": "ana"});
        spawn_post(url.clone(), service.clone(), body)
    };
    let (slow, fast) = race(&mut admin, &app.db.name, publish).await;
    let mut seen: BTreeSet<i64> = activity_ids_after(&app, &ana, 0)
        .await
        .into_iter()
        .collect();
    let position = seen.iter().copied().max().unwrap_or(0);
    diesel::sql_query("SELECT pg_advisory_unlock(4343)")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut created = BTreeSet::new();
    for (status, body) in [slow.await.unwrap(), fast.await.unwrap()] {
        assert_eq!(status, 201, "{body}");
        created.insert(body["id"].as_i64().unwrap());
    }
    seen.extend(activity_ids_after(&app, &ana, position).await);
    assert_eq!(
        seen, created,
        "resuming after {position} skipped an activity"
    );
}
