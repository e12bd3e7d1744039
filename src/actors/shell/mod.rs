//! The socket shell every socket actor shares (`/ws` connection, Yjs
//! socket, SSE stream): inbound rate limit and flood detection, starting
//! liveness (pings and the heartbeat timeout are the transport's sweep,
//! `transport::liveness`), token expiry with saturating arithmetic,
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
    /// What the liveness sweep calls at each of the socket's deadlines
    /// while its writes are not blocked (`transport::liveness`).
    fn tick_hook(&self) -> Option<Box<dyn Fn()>> {
        None
    }
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
    ctx.heard(Instant::now(), !matches!(item, Ok(ws::Message::Pong(_))));
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
/// been silent (pongs included) longer than `timeout`. No timer of the
/// socket's own: its thread's deadline sweep does both
/// (`transport::liveness`).
pub fn start_liveness<A: SocketActor>(
    act: &mut A,
    ctx: &mut SocketContext<A>,
    interval: Duration,
    timeout: Duration,
) {
    ctx.start_liveness(interval, timeout, act.tick_hook());
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
