//! **cluster** scenario: the extra latency of the Redis hop, for two kinds
//! of fan-out. `BENCH_MEMBERS` (1000) sockets of one tenant:
//! - **activity**: each gets every team `activity` frame; a service posts
//!   `BENCH_ACTIVITIES` (200) entries at `BENCH_ACTIVITY_RATE` (20) per
//!   second to the first node, each carrying its send time (latency from
//!   the POST, so it includes the HTTP request and the INSERT);
//! - **room**: all join one room; one more member on the first node sends
//!   as many `room:broadcast`s at the same rate, each carrying its send
//!   time (latency from the sender's socket to each member's).
//!
//! Each runs once with every member on one node, and once with the members
//! spread over 3 nodes sharing Redis (`TANDEM_BENCH_REDIS_URL`, else
//! `TANDEM_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`); reports p50 and
//! p99 for each, and their ratio.

use super::*;
use deadpool_redis::redis;
use tandem::broker::Topic;
use tandem::ids::{RoomId, TenantId};

fn redis_url() -> String {
    std::env::var("TANDEM_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("TANDEM_TEST_REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The fan-out measured.
#[derive(Clone, Copy, PartialEq)]
enum Fanout {
    Activity,
    Room,
}

/// The room the **room** fan-out uses.
const ROOM: &str = "hop";

/// Waits until `nodes` servers listen to `topic`'s channel.
async fn wait_listeners(prefix: &str, topic: &tandem::broker::Topic, nodes: i64) {
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis for the cluster scenario");
    let channel = tandem::cluster::channel(prefix, topic);
    for _ in 0..600 {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await
            .unwrap();
        if n == nodes {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{nodes} nodes never listened to {channel}");
}

/// Latencies (ns, sorted) of every delivery, and the count expected.
async fn run_once(p: &Params, db: &BenchDb, nodes: usize, fanout: Fanout) -> (Vec<u64>, usize) {
    let members = env_usize("BENCH_MEMBERS", if p.quick { 6 } else { 1000 });
    let activities = env_usize("BENCH_ACTIVITIES", if p.quick { 3 } else { 200 });
    let rate = env_usize("BENCH_ACTIVITY_RATE", 20).max(1);
    let kind = if fanout == Fanout::Room { "r" } else { "a" };
    let prefix = format!("bench:{}:{kind}{nodes}:", std::process::id());
    let extra = format!(
        "[redis]\nurl = \"{}\"\nkey_prefix = \"{prefix}\"\n\n[presence]\ntenant_roster_max = 100\n",
        redis_url()
    );
    let servers: Vec<Server> = (0..nodes)
        .map(|i| Server::start_with(&db.url(), &format!("cluster{kind}{nodes}-{i}"), &extra))
        .collect();
    let tenant = format!("cl{kind}{nodes}");
    let latencies: Rc<RefCell<Vec<u64>>> = Rc::default();
    let ids: Vec<usize> = (0..members).collect();
    for batch in ids.chunks(20) {
        let socks = join_all(batch.iter().map(|i| {
            let port = servers[i % nodes].port;
            let tenant = tenant.clone();
            async move {
                let mut ws = connect(port, &format!("m{i}"), &tenant).await;
                if fanout == Fanout::Room {
                    join(&mut ws, ROOM).await;
                }
                ws
            }
        }))
        .await;
        for mut ws in socks {
            let latencies = latencies.clone();
            actix_rt::spawn(async move {
                while let Some(frame) = ws.next().await {
                    match frame {
                        Ok(Frame::Text(bytes)) => {
                            let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
                                continue;
                            };
                            let sent = match fanout {
                                Fanout::Activity => v["activity"]["details"]["t"].as_u64(),
                                Fanout::Room => v["payload"]["t"].as_u64(),
                            };
                            if let Some(t) = sent {
                                latencies.borrow_mut().push(now_ns().saturating_sub(t));
                            }
                        }
                        Ok(Frame::Ping(p)) => {
                            let _ = ws.send(Message::Pong(p)).await;
                        }
                        Ok(Frame::Close(_)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            });
        }
    }
    let topic = match fanout {
        Fanout::Activity => Topic::Tenant(TenantId::new(tenant.as_str())),
        Fanout::Room => Topic::Room(RoomId::new(
            TenantId::new(tenant.as_str()),
            "document",
            ROOM,
        )),
    };
    wait_listeners(&prefix, &topic, nodes as i64).await;
    p.settle(2).await;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    if fanout == Fanout::Room {
        let mut sender = connect(servers[0].port, "sender", &tenant).await;
        join(&mut sender, ROOM).await;
        let start = tokio::time::Instant::now();
        for i in 0..activities {
            tokio::time::sleep_until(start + period * i as u32).await;
            let msg = json!({"type": "room:broadcast", "entity_type": "document",
                             "entity_id": ROOM, "event": "tick", "payload": {"t": now_ns()}});
            send(&mut sender, &msg).await;
        }
        let ended: Rc<Cell<usize>> = Rc::default();
        spawn_drain(sender, ended);
        return collect(latencies, members * activities, servers).await;
    }

    let service = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "svc", "tenant_id": tenant, "role": "service",
                "exp": SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let client = awc::Client::new();
    let url = format!("http://127.0.0.1:{}/api/v1/activity", servers[0].port);
    let start = tokio::time::Instant::now();
    for i in 0..activities {
        tokio::time::sleep_until(start + period * i as u32).await;
        let body = json!({"action": "tick", "entity_type": "bench", "entity_id": i.to_string(),
                          "details": {"t": now_ns()}});
        let resp = client
            .post(&url)
            .insert_header(("Authorization", format!("Bearer {service}")))
            .send_json(&body)
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "activity refused");
    }
    collect(latencies, members * activities, servers).await
}

/// Waits (at most 30 s) for `expected` deliveries; their latencies, sorted.
async fn collect(
    latencies: Rc<RefCell<Vec<u64>>>,
    expected: usize,
    servers: Vec<Server>,
) -> (Vec<u64>, usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while latencies.borrow().len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat = latencies.borrow().clone();
    lat.sort_unstable();
    drop(servers);
    (lat, expected)
}

pub(super) async fn cluster(p: &Params, db: &BenchDb, report: &mut Report) {
    for (name, fanout, what) in [
        ("cluster", Fanout::Activity, "team activity fan-out"),
        ("cluster room", Fanout::Room, "room:broadcast fan-out"),
    ] {
        println!("\n== {name}: {what}, one node vs three over Redis");
        let (one, expected_one) = run_once(p, db, 1, fanout).await;
        let (three, expected_three) = run_once(p, db, 3, fanout).await;
        for (label, lat, expected) in [
            ("1 node", &one, expected_one),
            ("3 nodes", &three, expected_three),
        ] {
            report.add(
                name,
                &format!("{label}: deliveries"),
                format!("{} of {expected}", lat.len()),
            );
            report.add(
                name,
                &format!("{label}: send to delivery p50 / p99"),
                format!(
                    "{} / {}",
                    ms(percentile(lat, 0.50)),
                    ms(percentile(lat, 0.99))
                ),
            );
            assert_eq!(
                lat.len(),
                expected,
                "{label}: every member gets every frame"
            );
        }
        let ratio = |q: f64| percentile(&three, q) as f64 / percentile(&one, q).max(1) as f64;
        report.add(
            name,
            "3 nodes / 1 node, p50 / p99",
            format!("{:.2} / {:.2}", ratio(0.50), ratio(0.99)),
        );
    }
}
