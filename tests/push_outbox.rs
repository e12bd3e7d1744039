//! The push outbox survives kill -9: the real binary stores a push job,
//! is killed while the push is in flight, and the restarted binary delivers
//! it and removes the job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use diesel::sql_types::{BigInt, Bool};
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const VAPID_PRIVATE: &str = "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY";
const P256DH: &str =
    "BLMbF9ffKBiWQLCKvTHb6LO8Nb6dcUh6TItC455vu2kElga6PQvUmaFyCdykxY2nOSSL3yKgfbmFLRTUaGv4yV8";
const AUTH: &str = "xS03Fi5ErfTNH_l9WHE9Ig";

/// A push service on loopback: holds every request unanswered until
/// `answer` is set, then answers 201. Reports each request line it reads.
struct PushService {
    port: u16,
    answer: Arc<AtomicBool>,
    requests: mpsc::Receiver<String>,
}

impl PushService {
    fn start() -> PushService {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(AtomicBool::new(false));
        let (tx, requests) = mpsc::channel();
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let flag = answer.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (tx, flag, held) = (tx.clone(), flag.clone(), held.clone());
                std::thread::spawn(move || serve(stream, &tx, &flag, &held));
            }
        });
        PushService {
            port,
            answer,
            requests,
        }
    }

    fn next_request(&self, within: Duration) -> String {
        self.requests.recv_timeout(within).expect("a push request")
    }
}

fn serve(
    stream: TcpStream,
    tx: &mpsc::Sender<String>,
    answer: &AtomicBool,
    held: &Mutex<Vec<TcpStream>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let answering = answer.load(Ordering::SeqCst);
    let _ = tx.send(format!("{} answered={answering}", request_line.trim()));
    if answering {
        let mut stream = stream;
        let _ = stream
            .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    } else {
        // Keep the connection open and silent: the push stays in flight.
        held.lock().unwrap().push(stream);
    }
}

struct Server {
    child: std::process::Child,
    port: u16,
}

impl Server {
    fn start(config: &std::path::Path) -> Server {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line.split("listening on port ").nth(1) {
                    let _ = tx.send(port.trim().parse::<u16>().unwrap());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Server { child, port }
    }

    fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    async fn send(&self, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut resp = awc::Client::new()
            .request(method, format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(token)
            .send_json(&body)
            .await
            .unwrap();
        let bytes = resp.body().await.unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Delivered {
    #[diesel(sql_type = Bool)]
    delivered_push: bool,
}

async fn outbox_rows(db: &TestDb) -> i64 {
    let mut conn = db.conn().await;
    let c: Count = diesel::sql_query("SELECT count(*) AS n FROM push_outbox")
        .get_result(&mut conn)
        .await
        .unwrap();
    c.n
}

#[actix_web::test]
async fn a_push_in_flight_at_kill_9_is_delivered_after_restart() {
    let db = TestDb::create().await;
    let service = PushService::start();
    let config = std::env::temp_dir().join(format!(
        "tandem-outbox-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &config,
        format!(
            "[server]\nport = 0\nworkers = 1\n\
             [database]\nurl = \"{}\"\n[auth]\nsecret = \"{SECRET}\"\nleeway_secs = 0\n\
             [push]\nvapid_private_key = \"{VAPID_PRIVATE}\"\n\
             vapid_subject = \"mailto:push-tests@tandem.example\"\n\
             insecure_endpoint_hosts = [\"127.0.0.1\"]\nallow_private_endpoints = true\n\
             max_retries = 0\nrequest_timeout_secs = 2\n",
            db.url
        ),
    )
    .unwrap();
    let settings = {
        let mut s = tandem::config::Settings::default();
        s.auth.secret = tandem::config::Secret::new(SECRET);
        s
    };
    let ana = token_with(&settings, "ana", "t1", None, 600);
    let service_token = token_with(&settings, "billing", "t1", Some("service"), 600);

    let first = Server::start(&config);
    let endpoint = format!("http://127.0.0.1:{}/wp/ana", service.port);
    let (status, resp) = first
        .send(
            "POST",
            "/api/v1/push/subscribe",
            &ana,
            json!({"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": AUTH}}),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    let (status, resp) = first
        .send(
            "POST",
            "/api/v1/notifications",
            &service_token,
            json!({"user_ids": ["ana"], "type": "mention", "title": "Paid", "priority": "high"}),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    let id = resp["ids"][0].as_i64().unwrap();

    // The push is in flight (the service holds it): the job is stored.
    let seen = service.next_request(Duration::from_secs(15));
    assert!(
        seen.starts_with("POST /wp/ana ") && seen.ends_with("answered=false"),
        "{seen}"
    );
    assert_eq!(outbox_rows(&db).await, 1);
    first.kill();

    // The restarted server claims the job once its claim lapses, and the
    // push service now answers.
    service.answer.store(true, Ordering::SeqCst);
    let second = Server::start(&config);
    let seen = service.next_request(Duration::from_secs(30));
    assert!(
        seen.starts_with("POST /wp/ana ") && seen.ends_with("answered=true"),
        "{seen}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut conn = db.conn().await;
        let d: Delivered =
            diesel::sql_query("SELECT delivered_push FROM realtime_notifications WHERE id = $1")
                .bind::<BigInt, _>(id)
                .get_result(&mut conn)
                .await
                .unwrap();
        if d.delivered_push && outbox_rows(&db).await == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the resumed job did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Delivered once: no further request arrives.
    assert!(service
        .requests
        .recv_timeout(Duration::from_millis(500))
        .is_err());
    second.kill();
    let _ = std::fs::remove_file(&config);
}
