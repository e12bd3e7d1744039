//! The socket shell every socket actor shares (`/ws` connection, Yjs
//! socket, SSE stream): inbound rate limit and flood detection, liveness
//! (pings, heartbeat timeout), token expiry with saturating arithmetic,
//! fragment reassembly with an incremental UTF-8 check, and closing.
//! Admission (the per-user slot) is `http::admission`, one function for
//! all three entry points.
//!
//! A WebSocket actor keeps a [`Shell`], implements [`SocketActor`] and
//! hands every codec item to [`handle_frame`]; the shell calls back with
//! complete messages of the kind the socket speaks.

pub mod frames;

pub use crate::limits::Rate;
use crate::limits::RateLimiter;
use crate::protocol::close_code;
use crate::transport::SocketContext;
use actix::prelude::*;
use actix_http::ws;
use frames::{Assembled, Fragment, MessageKind, Reassembler};
use std::time::{Duration, Instant};

/// What the client told us about its device at connect time.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// `desktop`, `mobile`, `tablet` or client-supplied.
    pub device_type: String,
    /// Browser name, if known.
    pub browser: Option<String>,
    /// Peer address.
    pub ip: Option<String>,
    /// False when the client opened with `?presence=none`: no roster on
    /// connect, presence only for what it watches (interest mode).
    pub wants_roster: bool,
}

/// Rejected-message window used by the flood detector.
const FLOOD_WINDOW: Duration = Duration::from_secs(10);

/// What a socket actor needs to hold for the shell.
#[derive(Debug)]
pub struct Shell {
    /// The last frame of any kind (the timeout counts from it).
    last_heard: Instant,
    /// The last frame the client sent on its own (not a pong): a socket
    /// that spoke within the ping interval is known alive and not pinged.
    last_spoke: Instant,
    limiter: RateLimiter,
    fragments: Reassembler,
    expires_at: i64,
    leeway_secs: u64,
    expiry_timer: Option<SpawnHandle>,
}

/// The limits a shell enforces (from `[websocket]` and `[auth]`).
#[derive(Debug, Clone, Copy)]
pub struct ShellLimits {
    /// Token-bucket burst.
    pub burst: u32,
    /// Token-bucket refill per second.
    pub per_second: u32,
    /// Rejections within the flood window that close the socket.
    pub close_after: u32,
    /// Largest reassembled message kept, in bytes.
    pub max_message_bytes: usize,
    /// Seconds a token is still accepted after its `exp`.
    pub leeway_secs: u64,
}

impl ShellLimits {
    /// The limits from the node's settings, for messages up to `max_message_bytes`.
    pub fn from_settings(settings: &crate::config::Settings, max_message_bytes: usize) -> Self {
        let ws = &settings.websocket;
        ShellLimits {
            burst: ws.rate_limit_burst,
            per_second: ws.rate_limit_per_second,
            close_after: ws.rate_limit_close_after,
            max_message_bytes,
            leeway_secs: settings.auth.leeway_secs,
        }
    }
}

impl Shell {
    /// A shell for a socket of `kind` whose token expires at `expires_at`.
    pub fn new(kind: MessageKind, limits: ShellLimits, expires_at: i64) -> Self {
        let now = Instant::now();
        Shell {
            last_heard: now,
            last_spoke: now,
            limiter: RateLimiter::new(
                limits.burst,
                limits.per_second,
                limits.close_after,
                FLOOD_WINDOW,
                now,
            ),
            fragments: Reassembler::new(kind, limits.max_message_bytes),
            expires_at,
            leeway_secs: limits.leeway_secs,
            expiry_timer: None,
        }
    }

    /// Counts one inbound message against the rate limit.
    pub fn rate(&mut self) -> Rate {
        self.limiter.check(Instant::now())
    }

    /// A new token was accepted (`auth:refresh`).
    pub fn set_expiry(&mut self, expires_at: i64) {
        self.expires_at = expires_at;
    }

    /// How long until the token stops being accepted; `None` once it has.
    pub fn expiry_wait(&self) -> Option<Duration> {
        frames::expiry_wait(self.expires_at, self.leeway_secs, crate::auth::now_secs())
    }
}

/// A complete inbound message.
#[derive(Debug)]
pub enum Inbound<'a> {
    /// A text message (valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A fragmented message longer than the limit.
    TooLarge {
        /// Its length in bytes.
        total: usize,
    },
    /// A message of the kind this socket does not speak.
    WrongKind,
}

/// An actor that owns one WebSocket through a [`Shell`].
pub trait SocketActor: Actor<Context = SocketContext<Self>> {
    /// The actor's shell.
    fn shell(&mut self) -> &mut Shell;
    /// One complete message.
    fn on_message(&mut self, msg: Inbound<'_>, ctx: &mut SocketContext<Self>);
    /// Called on every liveness tick (before the timeout check).
    fn on_tick(&mut self) {}
    /// A short name for logs.
    fn describe(&self) -> String;
}

/// Closes the socket with `code` and stops the actor.
pub fn close<A>(ctx: &mut SocketContext<A>, code: u16, reason: &str)
where
    A: Actor<Context = SocketContext<A>>,
{
    ctx.close(Some(ws::CloseReason {
        code: ws::CloseCode::from(code),
        description: Some(reason.to_owned()),
    }));
    ctx.stop();
}

/// Whether a codec error is a text frame that is not UTF-8. The transport's
/// reader (`transport::reader`) turns that into an `Io` error carrying the
/// `Utf8Error`'s text ("invalid utf-8 sequence ...", "incomplete utf-8 byte
/// sequence ..."); nothing else it reports mentions UTF-8.
fn is_invalid_utf8(e: &ws::ProtocolError) -> bool {
    matches!(e, ws::ProtocolError::Io(io) if io.to_string().contains("utf-8"))
}

/// Handles one codec item: control frames, reassembly, errors; complete
/// messages go to [`SocketActor::on_message`].
pub fn handle_frame<A: SocketActor>(
    act: &mut A,
    item: Result<ws::Message, ws::ProtocolError>,
    ctx: &mut SocketContext<A>,
) {
    let now = Instant::now();
    act.shell().last_heard = now;
    if !matches!(item, Ok(ws::Message::Pong(_))) {
        act.shell().last_spoke = now;
    }
    let fragment = match &item {
        Ok(ws::Message::Continuation(it)) => Some(match it {
            actix_http::ws::Item::FirstText(b) => Fragment::FirstText(b),
            actix_http::ws::Item::FirstBinary(b) => Fragment::FirstBinary(b),
            actix_http::ws::Item::Continue(b) => Fragment::Continue(b),
            actix_http::ws::Item::Last(b) => Fragment::Last(b),
        }),
        _ => None,
    };
    if let Some(fragment) = fragment {
        match act.shell().fragments.push(fragment) {
            Assembled::Pending => {}
            Assembled::Text(text) => act.on_message(Inbound::Text(&text), ctx),
            Assembled::Binary(data) => act.on_message(Inbound::Binary(&data), ctx),
            Assembled::TooLarge { total } => act.on_message(Inbound::TooLarge { total }, ctx),
            Assembled::WrongKind => act.on_message(Inbound::WrongKind, ctx),
            Assembled::InvalidUtf8 => close(ctx, close_code::INVALID_PAYLOAD, "invalid UTF-8"),
        }
        return;
    }
    match item {
        Ok(ws::Message::Text(text)) => act.on_message(Inbound::Text(&text), ctx),
        Ok(ws::Message::Binary(data)) => act.on_message(Inbound::Binary(&data), ctx),
        Ok(ws::Message::Continuation(_)) => {}
        Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
        Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
        Ok(ws::Message::Close(_)) => {
            ctx.close(Some(ws::CloseCode::Normal.into()));
            ctx.stop();
        }
        Err(ws::ProtocolError::Overflow) => {
            close(ctx, close_code::MESSAGE_TOO_BIG, "frame too large")
        }
        Err(e) if is_invalid_utf8(&e) => close(ctx, close_code::INVALID_PAYLOAD, "invalid UTF-8"),
        Err(e) => {
            log::debug!("{}: protocol error: {e}", act.describe());
            close(ctx, close_code::PROTOCOL_ERROR, "protocol error")
        }
    }
}

/// Pings a client that has sent nothing of its own (pongs aside) for
/// `interval`, every `interval`, and closes with 4000 when the client has
/// been silent (pongs included) longer than `timeout`.
///
/// No periodic tick: one timer per socket, set for its next deadline (the
/// next ping, or the moment the silence would reach `timeout`), in the
/// runtime's shared timer wheel. An idle socket whose client answers pings
/// wakes once per `interval`, not once a second. When the timer fires it
/// re-reads `last_heard` (moved by every inbound frame since) and sets the
/// next deadline.
pub fn start_liveness<A: SocketActor>(
    act: &mut A,
    ctx: &mut SocketContext<A>,
    interval: Duration,
    timeout: Duration,
) {
    let next_ping = Instant::now() + interval;
    arm_liveness(act, ctx, next_ping, interval, timeout);
}

/// The coarsest step of the liveness grid (see [`on_liveness_grid`]).
const LIVENESS_GRID_MAX: Duration = Duration::from_millis(250);

/// `deadline` moved later to the next point of a grid that every socket of
/// the process shares (a step of a twentieth of the ping interval, at most
/// [`LIVENESS_GRID_MAX`]). Sockets whose pings fall due within one step
/// then fire together: their thread wakes once for all of them, and their
/// pongs come back together, instead of one wake-up per socket for the
/// ping and another for its pong (thread switches were about a third of
/// an idle node's CPU; BENCHMARKS.md, "Idle CPU: pings on a grid"). A ping
/// or a timeout is at most one step late.
fn on_liveness_grid(deadline: Instant, interval: Duration) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let step = u64::try_from((interval / 20).min(LIVENESS_GRID_MAX).as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    let since =
        u64::try_from(deadline.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX);
    match since.div_ceil(step).checked_mul(step) {
        Some(at) => epoch + Duration::from_micros(at),
        None => deadline,
    }
}

/// Sets the socket's one liveness timer for its next deadline.
fn arm_liveness<A: SocketActor>(
    act: &mut A,
    ctx: &mut SocketContext<A>,
    next_ping: Instant,
    interval: Duration,
    timeout: Duration,
) {
    let deadline = frames::liveness_deadline(act.shell().last_heard, next_ping, timeout);
    let deadline = on_liveness_grid(deadline, interval);
    let wait = deadline.saturating_duration_since(Instant::now());
    ctx.run_later(wait, move |act, ctx| {
        act.on_tick();
        let now = Instant::now();
        if now.saturating_duration_since(act.shell().last_heard) > timeout {
            close(ctx, close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout");
            return;
        }
        let mut next_ping = next_ping;
        if now >= next_ping {
            // A client that sent frames of its own within the interval (a
            // heartbeat, a cursor) is alive: no ping until it has been
            // quiet for a whole interval. Pings are most of what an idle
            // socket costs.
            let spoke = act.shell().last_spoke;
            if now.saturating_duration_since(spoke) >= interval {
                ctx.ping(b"");
                next_ping = now + interval;
            } else {
                next_ping = spoke + interval;
            }
        }
        arm_liveness(act, ctx, next_ping, interval, timeout);
    });
}

/// (Re)schedules the close with 4001 for when the token expires (checked
/// again when the timer fires, and at least daily for far expiries).
pub fn schedule_expiry<A: SocketActor>(act: &mut A, ctx: &mut SocketContext<A>) {
    if let Some(timer) = act.shell().expiry_timer.take() {
        ctx.cancel_future(timer);
    }
    let wait = act.shell().expiry_wait().unwrap_or_default();
    let timer = ctx.run_later(wait, |act, ctx| {
        if act.shell().expiry_wait().is_none() {
            close(ctx, close_code::TOKEN_EXPIRED, "token expired");
        } else {
            schedule_expiry(act, ctx);
        }
    });
    act.shell().expiry_timer = Some(timer);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_grid_moves_a_deadline_later_by_less_than_one_step(
            offset_us in 0u64..100_000_000,
            interval_ms in 1u64..120_000,
        ) {
            let interval = Duration::from_millis(interval_ms);
            let step = (interval / 20).min(LIVENESS_GRID_MAX).max(Duration::from_micros(1));
            let deadline = Instant::now() + Duration::from_micros(offset_us);
            let at = on_liveness_grid(deadline, interval);
            prop_assert!(at >= deadline);
            prop_assert!(at - deadline < step);
            prop_assert_eq!(on_liveness_grid(at, interval), at, "a grid point stays");
        }
    }

    #[test]
    fn deadlines_within_one_step_share_a_grid_point() {
        let interval = Duration::from_secs(30);
        let base = on_liveness_grid(Instant::now() + Duration::from_secs(1), interval);
        let a = on_liveness_grid(base + Duration::from_millis(1), interval);
        let b = on_liveness_grid(base + Duration::from_millis(249), interval);
        assert_eq!(a, b);
        assert_eq!(a - base, LIVENESS_GRID_MAX);
    }
}
