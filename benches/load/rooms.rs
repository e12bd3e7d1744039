//! The `rooms` scenario: the actor pool (`server.actor_threads`) under room
//! fan-out. For each thread count in `BENCH_ACTOR_THREADS` (default `1,2,0`;
//! `0` is one per core), a fresh server runs:
//!
//! - **one big room**: `BENCH_BIG_ROOM` (1000) members, one of them sending
//!   `room:broadcast` at `BENCH_BIG_RATE` (20) per second;
//! - **many rooms**: `BENCH_ROOMS` (500) rooms of `BENCH_ROOM_SIZE` (20)
//!   members, one sender per room at `BENCH_ROOM_RATE` (2) per second each;
//!   `BENCH_ROOMS_PER_SOCKET` (4) consecutive rooms share the same 20
//!   sockets (a connection in 4 rooms), which keeps 500 x 20 memberships
//!   within the file-descriptor limit (the server holds two per socket);
//!
//! both for `BENCH_ROOMS_SECS` (10) seconds. Reports delivered frames per
//! second, delivery latency p50/p99 (send time carried in the payload), and
//! server CPU. The bench client runs on one thread of the same machine.

use super::*;

/// One thread-count setting: `0` reads as "all (N cores)".
fn label(threads: usize) -> String {
    if threads == 0 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        format!("all ({cores})")
    } else {
        threads.to_string()
    }
}

pub async fn rooms(p: &Params, db: &BenchDb, report: &mut Report) {
    for &threads in &p.actor_threads {
        let env = [("TANDEM__SERVER__ACTOR_THREADS", threads.to_string())];
        let name = format!("one room, {} threads", label(threads));
        println!("\n== {name}: {} members, {}/s", p.big_room, p.big_rate);
        let server = Server::start_env(&db.url(), &format!("big{threads}"), "", &env);
        run(p, &server, &name, 1, p.big_room, p.big_rate as f64, report).await;
        drop(server);

        let name = format!("many rooms, {} threads", label(threads));
        println!(
            "\n== {name}: {} rooms x {} members, {}/s each",
            p.rooms, p.room_size, p.room_rate
        );
        let server = Server::start_env(&db.url(), &format!("many{threads}"), "", &env);
        let rate = p.room_rate as f64;
        run(p, &server, &name, p.rooms, p.room_size, rate, report).await;
    }
}

/// Latency samples and counters shared by the receiver tasks.
#[derive(Default)]
struct Tally {
    latencies: RefCell<Vec<u64>>,
    strays: Cell<usize>,
    ended: Cell<usize>,
}

/// Reads a receiver's frames: each `tick` broadcast adds a latency sample.
fn spawn_receiver(mut ws: Ws, tally: Rc<Tally>) {
    actix_rt::spawn(async move {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Frame::Text(bytes)) => {
                    let text = std::str::from_utf8(&bytes).unwrap_or("");
                    if text.contains("\"event\":\"tick\"") {
                        let now = now_ns();
                        let sent = text
                            .split("\"t\":")
                            .nth(1)
                            .map(str::trim_start)
                            .and_then(|s| {
                                let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
                                s[..end].parse::<u64>().ok()
                            });
                        match sent {
                            Some(t) => tally.latencies.borrow_mut().push(now.saturating_sub(t)),
                            None => tally.strays.set(tally.strays.get() + 1),
                        }
                    } else if text.contains("\"type\":\"error\"") {
                        tally.strays.set(tally.strays.get() + 1);
                    }
                }
                Ok(Frame::Ping(p)) => {
                    let _ = ws.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        tally.ended.set(tally.ended.get() + 1);
    });
}

/// `rooms` rooms of `members` (one sender each, sending `rate` per second).
async fn run(
    p: &Params,
    server: &Server,
    name: &str,
    rooms: usize,
    members: usize,
    rate: f64,
    report: &mut Report,
) {
    let port = server.port;
    let tally = Rc::new(Tally::default());
    let setup = Instant::now();
    // `per_socket` consecutive rooms share their members' sockets (a socket
    // may be in several rooms; the server holds two descriptors per socket).
    let per_socket = if rooms == 1 { 1 } else { p.rooms_per_socket };
    let groups = rooms.div_ceil(per_socket);
    // Member 0 of each group sends for its rooms; the others receive.
    let slots: Vec<(usize, usize)> = (0..groups)
        .flat_map(|g| (0..members).map(move |m| (g, m)))
        .collect();
    let mut senders = Vec::with_capacity(groups);
    for batch in slots.chunks(100) {
        let socks = join_all(batch.iter().map(|&(g, m)| async move {
            let first = g * per_socket;
            // One tenant per 50 rooms: rosters spread over the threads too.
            let tenant = format!("t{}", first / 50);
            let mut ws = connect(port, &format!("u{g}-{m}"), &tenant).await;
            for r in first..(first + per_socket).min(rooms) {
                join(&mut ws, &format!("room{r}")).await;
            }
            (g, m, ws)
        }))
        .await;
        for (g, m, ws) in socks {
            if m == 0 {
                senders.push((g, ws));
            } else {
                spawn_receiver(ws, tally.clone());
            }
        }
    }
    senders.sort_by_key(|(g, _)| *g);
    let mut sinks = Vec::with_capacity(groups);
    for (_, ws) in senders {
        let (sink, mut stream) = ws.split();
        actix_rt::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        sinks.push(sink);
    }
    println!(
        "  {} sockets ({} memberships) joined in {:.1} s",
        groups * members,
        rooms * members,
        setup.elapsed().as_secs_f64()
    );
    p.settle(3).await;

    let total = ((rate * rooms as f64) * p.rooms_secs as f64).round() as usize;
    let expected = total * (members - 1);
    let period = Duration::from_secs_f64(1.0 / (rate * rooms as f64));
    let pad = "x".repeat(100);
    let cpu0 = server.cpu();
    let start = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(start + period * i as u32).await;
        let r = i % rooms;
        let sink = &mut sinks[r / per_socket];
        let msg = format!(
            r#"{{"type":"room:broadcast","entity_type":"document","entity_id":"room{r}","event":"tick","payload":{{"t":{},"pad":"{pad}"}}}}"#,
            now_ns()
        );
        sink.send(Message::Text(msg.into())).await.unwrap();
    }
    let sent_in = start.elapsed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tally.latencies.borrow().len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = start.elapsed();
    let cpu = server.cpu() - cpu0;
    let mut lat = tally.latencies.borrow().clone();
    lat.sort_unstable();
    let delivered = lat.len();
    report.add(
        name,
        "rooms x members, rate",
        format!(
            "{rooms} x {members} ({} sockets, {per_socket} rooms each), {rate}/s per room, {} s",
            groups * members,
            p.rooms_secs
        ),
    );
    report.add(
        name,
        "deliveries",
        format!(
            "{delivered} of {expected} in {:.1} s (sending took {:.1} s)",
            wall.as_secs_f64(),
            sent_in.as_secs_f64()
        ),
    );
    report.add(
        name,
        "throughput",
        format!("{:.0} deliveries/s", delivered as f64 / wall.as_secs_f64()),
    );
    report.add(name, "latency p50", ms(percentile(&lat, 0.50)));
    report.add(name, "latency p99", ms(percentile(&lat, 0.99)));
    report.add(
        name,
        "server CPU per delivery",
        format!(
            "{:.2} µs ({:.2} s CPU)",
            cpu * 1e6 / delivered.max(1) as f64,
            cpu
        ),
    );
    report.add(
        name,
        "receiver closes / stray messages",
        format!("{} / {}", tally.ended.get(), tally.strays.get()),
    );
    report.problems(name, server);
}
