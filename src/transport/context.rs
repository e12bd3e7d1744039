//! [`SocketContext`], the actor context of a socket actor, and [`serve`],
//! which runs one upgraded socket: the actor, its frame reader and its
//! writes, on the actor-pool arbiter the upgrade chose for it.
//!
//! The context is actix's `ContextParts` (mailbox, spawned futures,
//! timers) plus one output buffer. `text()`, `binary()`, `ping()`, `pong()`
//! and `close()` encode the frame into that buffer at once; after each turn
//! of the actor (every message it handled in one poll) the buffer goes to
//! the socket in one `write(2)`, however many frames it holds. When the
//! buffer is empty again its memory is freed, so an idle socket keeps no
//! write buffer. The reader likewise holds a read buffer only while a frame
//! is incomplete.
//!
//! Backpressure is the same as before this transport: once more than
//! [`HIGH_WATER`] bytes wait because the peer stopped reading, the actor is
//! not run until they drain. Its mailbox then fills, which is what the
//! outbound bound (`broker::outbound`) counts and the stall sweep notices.

use super::liveness::Liveness;
use super::reader::Reader;
use super::sink::{Flush, Sink};
use crate::fds::Counted;
use crate::protocol::close_code::HEARTBEAT_TIMEOUT;
use crate::transport::socket::OpenGuard;
use actix::dev::{AsyncContextParts, ContextFut, ContextParts, Envelope, Mailbox, ToEnvelope};
use actix::prelude::*;
use actix_codec::Encoder;
use actix_http::ws::{CloseReason, Codec, Message, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes waiting for a slow peer above which the actor stops running.
pub const HIGH_WATER: usize = 64 * 1024;

/// How long a closed socket waits for the peer's end-of-file after its
/// own, before the descriptor is closed anyway.
const LINGER: Duration = Duration::from_secs(1);

/// The context of an actor that owns one WebSocket.
pub struct SocketContext<A>
where
    A: Actor<Context = SocketContext<A>>,
{
    inner: ContextParts<A>,
    codec: Codec,
    out: BytesMut,
    sink: Arc<Sink>,
    /// Pings and the heartbeat timeout, once started.
    liveness: Option<Rc<Liveness>>,
}

impl<A> ActorContext for SocketContext<A>
where
    A: Actor<Context = Self>,
{
    fn stop(&mut self) {
        self.inner.stop();
    }

    fn terminate(&mut self) {
        self.inner.terminate()
    }

    fn state(&self) -> ActorState {
        self.inner.state()
    }
}

impl<A> AsyncContext<A> for SocketContext<A>
where
    A: Actor<Context = Self>,
{
    fn spawn<F>(&mut self, fut: F) -> SpawnHandle
    where
        F: ActorFuture<A, Output = ()> + 'static,
    {
        self.inner.spawn(fut)
    }

    fn wait<F>(&mut self, fut: F)
    where
        F: ActorFuture<A, Output = ()> + 'static,
    {
        self.inner.wait(fut)
    }

    fn waiting(&self) -> bool {
        self.inner.waiting()
            || self.inner.state() == ActorState::Stopping
            || self.inner.state() == ActorState::Stopped
    }

    fn cancel_future(&mut self, handle: SpawnHandle) -> bool {
        self.inner.cancel_future(handle)
    }

    fn address(&self) -> Addr<A> {
        self.inner.address()
    }
}

impl<A> AsyncContextParts<A> for SocketContext<A>
where
    A: Actor<Context = Self>,
{
    fn parts(&mut self) -> &mut ContextParts<A> {
        &mut self.inner
    }
}

impl<A, M> ToEnvelope<A, M> for SocketContext<A>
where
    A: Actor<Context = SocketContext<A>> + Handler<M>,
    M: actix::Message + Send + 'static,
    M::Result: Send,
{
    fn pack(msg: M, tx: Option<actix::dev::OneshotSender<M::Result>>) -> Envelope<A> {
        Envelope::new(msg, tx)
    }
}

impl<A> SocketContext<A>
where
    A: Actor<Context = Self>,
{
    /// Queues a text frame.
    pub fn text(&mut self, text: impl Into<ByteString>) {
        self.write(Message::Text(text.into()));
    }

    /// Queues a binary frame.
    pub fn binary(&mut self, data: impl Into<Bytes>) {
        self.write(Message::Binary(data.into()));
    }

    /// Queues a ping.
    pub fn ping(&mut self, payload: &[u8]) {
        self.write(Message::Ping(Bytes::copy_from_slice(payload)));
    }

    /// Queues a pong.
    pub fn pong(&mut self, payload: &[u8]) {
        self.write(Message::Pong(Bytes::copy_from_slice(payload)));
    }

    /// Queues a close frame (stop the actor to close the socket).
    pub fn close(&mut self, reason: Option<CloseReason>) {
        self.write(Message::Close(reason));
    }

    /// The socket's shared output, for other threads to deliver to
    /// (`transport::sink`).
    pub fn sink(&self) -> Arc<Sink> {
        self.sink.clone()
    }

    /// Pings the client once it has been quiet for `interval` and closes
    /// with 4000 after `timeout` of silence, from the thread's liveness
    /// sweep (`transport::liveness`); `tick` runs at each of its deadlines
    /// while the socket's writes are not blocked.
    pub fn start_liveness(
        &mut self,
        interval: Duration,
        timeout: Duration,
        tick: Option<Box<dyn Fn()>>,
    ) {
        self.liveness = Some(Liveness::start(self.sink(), interval, timeout, tick));
    }

    /// A frame arrived at `now`: a pong unless `spoke`.
    pub fn heard(&self, now: std::time::Instant, spoke: bool) {
        if let Some(liveness) = &self.liveness {
            liveness.heard(now, spoke);
        }
    }

    fn write(&mut self, msg: Message) {
        // Encoding a server frame cannot fail: nothing is masked or limited.
        if let Err(e) = self.codec.encode(msg, &mut self.out) {
            log::warn!("cannot encode a frame: {e}");
        }
    }
}

/// An actor that owns a WebSocket: it runs in a [`SocketContext`] and reads
/// the client's frames (the connection and Yjs socket actors).
pub trait SocketOwner:
    Actor<Context = SocketContext<Self>> + StreamHandler<Result<Message, ProtocolError>>
{
}

impl<A> SocketOwner for A where
    A: Actor<Context = SocketContext<A>> + StreamHandler<Result<Message, ProtocolError>>
{
}

/// Runs `actor` on the upgraded socket `io` until the actor stops and its
/// last frame is written, then closes the socket: end-of-file first, then
/// up to a second for the peer's, as RFC 6455 §7.1.1 has the server close
/// TCP first. `read_buf` holds what the client sent right after its
/// handshake. `guard` marks the descriptor open (`transport::socket`) and is
/// dropped just before the socket is closed; `counted` counts the connection
/// open (`fds`) until it is closed.
///
/// A plain function that returns a hand-written future, not an `async fn`:
/// an `async fn`'s state kept the actor twice (the argument and the running
/// copy) and the close's locals beside them, for the socket's whole life.
/// [`Serve`] holds the running actor only, and the close's future is
/// allocated when the socket closes (BENCHMARKS.md, "Memory per connection").
pub fn serve<A: SocketOwner>(
    actor: A,
    io: TcpStream,
    read_buf: BytesMut,
    max_frame_bytes: usize,
    guard: Option<OpenGuard>,
    counted: Counted,
) -> Serve<A> {
    let io = Arc::new(io);
    let sink = Sink::new(io.clone());
    let mailbox = Mailbox::default();
    let mut ctx = SocketContext {
        inner: ContextParts::new(mailbox.sender_producer()),
        codec: Codec::new(),
        out: BytesMut::new(),
        sink: sink.clone(),
        liveness: None,
    };
    ctx.add_stream(Reader::new(
        io,
        read_buf,
        Codec::new().max_size(max_frame_bytes),
    ));
    Serve::Running {
        running: Running {
            fut: ContextFut::new(ctx, actor, mailbox),
            sink,
            failed: false,
        },
        guard,
        counted: Some(counted),
    }
}

/// The future [`serve`] returns: the running actor, then the close.
// The running variant is the socket's whole life, and the socket's task
// holds this future inline; boxing the variant would add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Serve<A>
where
    A: Actor<Context = SocketContext<A>>,
{
    /// The actor runs (and the descriptor is marked open by `guard`).
    Running {
        /// The actor and its writes.
        running: Running<A>,
        /// Dropped just before the socket is closed.
        guard: Option<OpenGuard>,
        /// Dropped once it is closed.
        counted: Option<Counted>,
    },
    /// The actor stopped: the socket is being closed.
    Closing(Pin<Box<dyn Future<Output = ()>>>),
    /// Closed.
    Done,
}

impl<A> Future for Serve<A>
where
    A: Actor<Context = SocketContext<A>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match this {
                Serve::Running {
                    running,
                    guard,
                    counted,
                } => {
                    let Poll::Ready(clean) = Pin::new(&mut *running).poll(cx) else {
                        return Poll::Pending;
                    };
                    let sink = running.sink.clone();
                    let guard = guard.take();
                    let counted = counted.take();
                    // The actor and its context go now, before the close.
                    *this = Serve::Closing(Box::pin(async move {
                        close(sink, clean, guard).await;
                        drop(counted);
                    }));
                }
                Serve::Closing(closing) => {
                    if closing.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *this = Serve::Done;
                    return Poll::Ready(());
                }
                Serve::Done => return Poll::Ready(()),
            }
        }
    }
}

/// Closes the socket once its actor has stopped (see [`serve`]).
async fn close(sink: Arc<Sink>, clean: bool, guard: Option<OpenGuard>) {
    // Nothing writes to the socket after this; the reader went with the
    // actor's context, so this is the last handle to the stream (handles
    // to the sink may live on in rooms, and find it closed).
    match sink.close().map(Arc::try_unwrap) {
        Some(Ok(mut io)) => {
            if clean && io.shutdown().await.is_ok() {
                let mut sink = [0u8; 256];
                let _ = tokio::time::timeout(LINGER, async {
                    while let Ok(n) = io.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await;
            }
            // The guard first: it must not outlive the open socket.
            drop(guard);
            drop(io);
        }
        other => {
            drop(guard);
            drop(other);
        }
    }
}

/// The actor and its writes, until both are done.
pub struct Running<A>
where
    A: Actor<Context = SocketContext<A>>,
{
    fut: ContextFut<A, SocketContext<A>>,
    sink: Arc<Sink>,
    /// Writing failed; the actor is being stopped.
    failed: bool,
}

impl<A> Future for Running<A>
where
    A: Actor<Context = SocketContext<A>>,
{
    /// True when the actor stopped with everything written.
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        loop {
            let run = this.fut.alive() && this.sink.waiting() < HIGH_WATER;
            if run {
                let ctx = this.fut.ctx();
                if ctx.liveness.as_ref().is_some_and(|l| l.take_timed_out()) {
                    ctx.close(Some(CloseReason {
                        code: HEARTBEAT_TIMEOUT.into(),
                        description: Some("heartbeat timeout".into()),
                    }));
                    ctx.stop();
                }
                this.sink.begin_turn(cx.waker());
                let _ = Pin::new(&mut this.fut).poll(cx);
            }
            let flushed = this.sink.flush(&mut this.fut.ctx().out, cx);
            match flushed {
                Flush::Failed => {
                    this.failed = true;
                    if !this.fut.alive() {
                        return Poll::Ready(false);
                    }
                    if this.fut.ctx().state() == ActorState::Running {
                        // Let the actor run its stopping and stopped hooks.
                        this.fut.ctx().stop();
                    } else if run {
                        return Poll::Pending;
                    }
                    continue;
                }
                Flush::Blocked => {
                    if !run && this.sink.waiting() < HIGH_WATER && this.fut.alive() {
                        continue;
                    }
                    return Poll::Pending;
                }
                Flush::Done => {
                    if !this.fut.alive() {
                        return Poll::Ready(!this.failed);
                    }
                    if !run {
                        // The backlog drained: run the actor now.
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
