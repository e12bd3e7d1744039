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
    diesel::sql_query(
        "CREATE FUNCTION stall_slow() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.title = 'slow' THEN PERFORM pg_advisory_xact_lock(4242); END IF; \
         RETURN NEW; END $$",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    diesel::sql_query(
        "CREATE TRIGGER stall_slow BEFORE INSERT ON realtime_notifications \
         FOR EACH ROW EXECUTE FUNCTION stall_slow()",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let mut holder = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    diesel::sql_query("SELECT pg_advisory_lock(4242)")
        .execute(&mut holder)
        .await
        .unwrap();

    let (url, service) = (app.url("/api/v1/notifications"), app.service_token("t1"));
    let publish = |title: &'static str| {
        let (url, service) = (url.clone(), service.clone());
        actix_rt::spawn(async move {
            let mut resp = awc::Client::new()
                .post(url)
                .bearer_auth(service)
                .timeout(Duration::from_secs(30))
                .send_json(&json!({"user_ids": ["ana"], "type": "mention", "title": title}))
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&resp.body().await.unwrap()).unwrap();
            (resp.status().as_u16(), body)
        })
    };
    let slow = publish("slow");
    // The slow publisher holds its id and waits inside its transaction.
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_waiters(&mut admin, &app.db.name).await < 1 {
        assert!(Instant::now() < deadline, "the slow insert never stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fast = publish("fast");
    // The fast publisher either finishes (ids out of commit order) or waits
    // for the slow one (ids in commit order).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fast.is_finished() && lock_waiters(&mut admin, &app.db.name).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the fast publisher neither ran nor waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A reader reads what is there and remembers the newest id it saw.
    let mut seen: BTreeSet<i64> = ids_after(&app, &ana, 0).await.into_iter().collect();
    let position = seen.iter().copied().max().unwrap_or(0);

    diesel::sql_query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut holder)
        .await
        .unwrap();
    let results: Vec<(u16, Value)> = vec![slow.await.unwrap(), fast.await.unwrap()];
    let mut created = BTreeSet::new();
    for (status, body) in results {
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
    diesel::sql_query(
        "CREATE FUNCTION stall_slow_activity() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.action = 'slow' THEN PERFORM pg_advisory_xact_lock(4343); END IF; \
         RETURN NEW; END $$",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    diesel::sql_query(
        "CREATE TRIGGER stall_slow_activity BEFORE INSERT ON activity_feed \
         FOR EACH ROW EXECUTE FUNCTION stall_slow_activity()",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let mut holder = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    diesel::sql_query("SELECT pg_advisory_lock(4343)")
        .execute(&mut holder)
        .await
        .unwrap();

    let publish = {
        let app_url = app.url("/api/v1/activity");
        let service = app.service_token("t1");
        move |action: &'static str| {
            let (url, service) = (app_url.clone(), service.clone());
            actix_rt::spawn(async move {
                let mut resp = awc::Client::new()
                    .post(url)
                    .bearer_auth(service)
                    .timeout(Duration::from_secs(30))
                    .send_json(&json!({"action": action, "entity_type": "page", "entity_id": "p", "user_id": "ana"}))
                    .await
                    .unwrap();
                let body: Value = serde_json::from_slice(&resp.body().await.unwrap()).unwrap();
                (resp.status().as_u16(), body)
            })
        }
    };
    let slow = publish("slow");
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_waiters(&mut admin, &app.db.name).await < 1 {
        assert!(Instant::now() < deadline, "the slow insert never stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fast = publish("fast");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fast.is_finished() && lock_waiters(&mut admin, &app.db.name).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the fast publisher neither ran nor waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
