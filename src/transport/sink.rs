//! A socket's output, shared with the threads that deliver to it.
//!
//! A room (on an actor thread) delivering a frame to one of its members
//! writes it into the member's [`Sink`] itself, and when nothing is waiting
//! before it, straight to the socket with one `send(2)`: no actor message,
//! no wake-up of the connection's task, no hop to its thread.
//!
//! Order is what the connection's mailbox gave before:
//! - frames pushed here go out in the order they were pushed;
//! - while the connection's actor runs a turn, pushed frames wait in
//!   `later` and go out after everything that turn wrote (so a frame a room
//!   sends in answer to a request never overtakes the connection's own
//!   answer to it);
//! - the connection's own frames of a turn go out after what was waiting
//!   before the turn.
//!
//! The socket is written under the sink's lock, and the stream is taken out
//! of the sink (under the same lock) before it is closed, so no thread can
//! write to a closed descriptor, or to another socket that reused its number.
//!
//! A thread that is about to push a burst (a document's stored batch: each
//! author's ack and everyone else's ops) runs it inside [`corked`]: frames
//! for a sink with nothing waiting are held until the burst ends, and each
//! sink then writes all of its frames with one `send(2)`. Order is kept
//! (held frames are in `pending`, which everything else queues behind).

use bytes::{Buf, BytesMut};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::net::TcpStream;

/// What became of a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Handed to the kernel, or held by a [`corked`] burst, which hands it
    /// over when it ends.
    Written,
    /// Waiting, behind this many frames (itself included).
    Queued(usize),
    /// The socket is closed or failed: dropped.
    Closed,
}

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Everything waiting was written.
    Done,
    /// The socket cannot take more now (a wake-up is registered).
    Blocked,
    /// The socket failed or is closed.
    Failed,
}

/// The shared output of one socket.
#[derive(Debug)]
pub struct Sink {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The stream; `None` once closed.
    io: Option<Arc<TcpStream>>,
    /// Bytes waiting for the socket, in order.
    pending: BytesMut,
    /// Frames pushed during the actor's turn.
    later: BytesMut,
    /// Frames in `pending` and `later` since `pending` was last empty.
    frames: usize,
    /// The actor is running a turn.
    in_turn: bool,
    /// `pending` is held by a thread's [`corked`] burst, which writes it
    /// when the burst ends.
    corked: bool,
    /// Writing failed: nothing more is taken.
    failed: bool,
    /// The connection's task, woken when pushed bytes could not be written.
    waker: Option<Waker>,
}

/// Appends one unmasked text frame (RFC 6455 §5.2) to `buf`.
fn encode_text(buf: &mut BytesMut, payload: &[u8]) {
    let len = payload.len();
    buf.reserve(len + 10);
    buf.extend_from_slice(&[0x81]);
    if len < 126 {
        buf.extend_from_slice(&[len as u8]);
    } else if let Ok(len) = u16::try_from(len) {
        buf.extend_from_slice(&[126]);
        buf.extend_from_slice(&len.to_be_bytes());
    } else {
        buf.extend_from_slice(&[127]);
        buf.extend_from_slice(&(len as u64).to_be_bytes());
    }
    buf.extend_from_slice(payload);
}

impl State {
    /// Writes `pending` until it is empty or the socket would block; a
    /// caller with a task context registers for writability.
    fn write(&mut self, cx: Option<&mut Context<'_>>) -> Flush {
        if self.failed {
            return Flush::Failed;
        }
        let Some(io) = self.io.clone() else {
            return Flush::Failed;
        };
        let mut cx = cx;
        let result = loop {
            if self.pending.is_empty() {
                break Flush::Done;
            }
            match io.try_write(&self.pending) {
                Ok(0) => break Flush::Failed,
                Ok(n) => self.pending.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => match cx.as_deref_mut() {
                    Some(cx) => match io.poll_write_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(_)) => break Flush::Failed,
                        Poll::Pending => break Flush::Blocked,
                    },
                    None => break Flush::Blocked,
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break Flush::Failed,
            }
        };
        match result {
            Flush::Done => {
                self.frames = 0;
                if self.pending.capacity() > 0 {
                    // An idle socket keeps no write buffer.
                    self.pending = BytesMut::new();
                }
            }
            Flush::Failed => {
                self.failed = true;
                self.pending = BytesMut::new();
                self.later = BytesMut::new();
            }
            Flush::Blocked => {}
        }
        result
    }
}

impl State {
    /// Writes `pending` from a thread other than the connection's; wakes
    /// the connection's task when the socket failed or could not take it
    /// all (its task then waits for the socket to take more).
    fn write_now(&mut self) -> Pushed {
        match self.write(None) {
            Flush::Done => Pushed::Written,
            Flush::Failed => {
                if let Some(waker) = self.waker.take() {
                    waker.wake();
                }
                Pushed::Closed
            }
            Flush::Blocked => {
                if let Some(waker) = self.waker.take() {
                    waker.wake();
                }
                Pushed::Queued(self.frames)
            }
        }
    }
}

thread_local! {
    /// The sinks this thread's [`corked`] burst holds, when one runs.
    static HELD: RefCell<Option<Vec<Arc<Sink>>>> = const { RefCell::new(None) };
}

/// Holds `sink`'s output for this thread's burst, if one runs.
fn hold(sink: &Arc<Sink>) -> bool {
    HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(sinks) => {
            sinks.push(Arc::clone(sink));
            true
        }
        None => false,
    })
}

/// Ends a burst: writes every held sink (also when the burst panicked).
struct Uncork;

impl Drop for Uncork {
    fn drop(&mut self) {
        let sinks = HELD
            .with(|held| held.borrow_mut().take())
            .unwrap_or_default();
        for sink in sinks {
            sink.uncork();
        }
    }
}

/// Runs `f` as one burst of pushes: a sink with nothing waiting keeps the
/// frames `f` pushes to it, and writes them all with one `send(2)` when
/// `f` returns (see the module doc). Nested bursts are one burst.
pub fn corked<R>(f: impl FnOnce() -> R) -> R {
    let outer = HELD.with(|held| {
        let mut held = held.borrow_mut();
        if held.is_some() {
            return false;
        }
        *held = Some(Vec::new());
        true
    });
    let _uncork = outer.then(|| Uncork);
    f()
}

impl Sink {
    /// The output of `io`.
    pub fn new(io: Arc<TcpStream>) -> Arc<Sink> {
        Arc::new(Sink {
            state: Mutex::new(State {
                io: Some(io),
                pending: BytesMut::new(),
                later: BytesMut::new(),
                frames: 0,
                in_turn: false,
                corked: false,
                failed: false,
                waker: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics under the lock; should it, the bytes are still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one text frame from another thread (see the module doc).
    pub fn push_text(self: &Arc<Self>, text: &[u8]) -> Pushed {
        self.push(|buf| encode_text(buf, text))
    }

    /// Sends a ping with no payload (the liveness sweep, `transport::liveness`).
    pub fn push_ping(self: &Arc<Self>) -> Pushed {
        self.push(|buf| buf.extend_from_slice(&[0x89, 0x00]))
    }

    /// Sends the frame `encode` writes, in order with every other.
    fn push(self: &Arc<Self>, encode: impl FnOnce(&mut BytesMut)) -> Pushed {
        let mut st = self.lock();
        if st.io.is_none() || st.failed {
            return Pushed::Closed;
        }
        st.frames += 1;
        if st.in_turn {
            encode(&mut st.later);
            return Pushed::Queued(st.frames);
        }
        let waiting = !st.pending.is_empty();
        encode(&mut st.pending);
        if st.corked {
            // Written when the burst holding it ends.
            return Pushed::Written;
        }
        if waiting {
            // The connection's task writes it when the socket takes more.
            return Pushed::Queued(st.frames);
        }
        if hold(self) {
            st.corked = true;
            return Pushed::Written;
        }
        st.write_now()
    }

    /// Writes what a [`corked`] burst held.
    fn uncork(&self) {
        let mut st = self.lock();
        if !st.corked {
            return;
        }
        st.corked = false;
        if st.in_turn || st.io.is_none() || st.failed || st.pending.is_empty() {
            // A turn's end writes it, or there is nothing (more) to write.
            return;
        }
        let _ = st.write_now();
    }

    /// The actor starts a turn; pushed frames wait until it ends.
    pub(super) fn begin_turn(&self, waker: &Waker) {
        let mut st = self.lock();
        st.in_turn = true;
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            st.waker = Some(waker.clone());
        }
    }

    /// Ends a turn (if one ran): what was waiting, then `turn` (the actor's
    /// own frames), then what was pushed meanwhile; writes as much as the
    /// socket takes.
    pub(super) fn flush(&self, turn: &mut BytesMut, cx: &mut Context<'_>) -> Flush {
        let mut st = self.lock();
        st.in_turn = false;
        if st.failed || st.io.is_none() {
            // Nothing more reaches the socket: the turn's frames go too.
            *turn = BytesMut::new();
            return Flush::Failed;
        }
        if !turn.is_empty() {
            if st.pending.is_empty() {
                std::mem::swap(&mut st.pending, turn);
            } else {
                st.pending.extend_from_slice(turn);
                turn.clear();
            }
            st.frames += 1;
        }
        if turn.capacity() > 0 {
            *turn = BytesMut::new();
        }
        if !st.later.is_empty() {
            let later = std::mem::take(&mut st.later);
            st.pending.extend_from_slice(&later);
        }
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.waker = Some(cx.waker().clone());
        }
        st.write(Some(cx))
    }

    /// Wakes the socket's task (its transport then looks at the socket's
    /// liveness, `transport::liveness`).
    pub fn wake(&self) {
        let waker = self.lock().waker.clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Bytes waiting for the socket.
    pub fn waiting(&self) -> usize {
        self.lock().pending.len()
    }

    /// Closes the sink; returns the stream so its owner can close it.
    pub(super) fn close(&self) -> Option<Arc<TcpStream>> {
        let mut st = self.lock();
        st.failed = true;
        st.pending = BytesMut::new();
        st.later = BytesMut::new();
        st.waker = None;
        st.io.take()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A connected pair: the server's end in a sink, the client's end.
    async fn pair() -> (Arc<Sink>, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Sink::new(Arc::new(server)), client)
    }

    /// The payloads of the text frames `client` received, until `n` came.
    async fn received(client: &mut tokio::net::TcpStream, n: usize) -> Vec<String> {
        use tokio::io::AsyncReadExt;
        let mut codec = actix_http::ws::Codec::new().client_mode();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        while out.len() < n {
            while let Some(frame) = actix_codec::Decoder::decode(&mut codec, &mut buf).unwrap() {
                match frame {
                    actix_http::ws::Frame::Text(t) => {
                        out.push(String::from_utf8(t.to_vec()).unwrap())
                    }
                    other => panic!("{other:?}"),
                }
            }
            if out.len() < n {
                let mut chunk = [0u8; 1024];
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    client.read(&mut chunk),
                )
                .await
                .unwrap()
                .unwrap();
                assert!(read > 0, "EOF after {out:?}");
                buf.extend_from_slice(&chunk[..read]);
            }
        }
        out
    }

    /// The turn's own frames, as the socket context encodes them.
    fn turn_frames(texts: &[&str]) -> BytesMut {
        let mut turn = BytesMut::new();
        for t in texts {
            encode_text(&mut turn, t.as_bytes());
        }
        turn
    }

    #[tokio::test]
    async fn a_push_outside_a_turn_is_written_at_once() {
        let (sink, mut client) = pair().await;
        assert_eq!(sink.push_text(b"one"), Pushed::Written);
        assert_eq!(sink.push_text(b"two"), Pushed::Written);
        assert_eq!(sink.waiting(), 0);
        assert_eq!(received(&mut client, 2).await, ["one", "two"]);
    }

    #[tokio::test]
    async fn a_burst_holds_its_frames_until_it_ends_then_writes_them_in_order() {
        let (a, mut client_a) = pair().await;
        let (b, mut client_b) = pair().await;
        let held = corked(|| {
            assert_eq!(a.push_text(b"a1"), Pushed::Written);
            assert_eq!(b.push_text(b"b1"), Pushed::Written);
            // Nested: still the same burst.
            corked(|| assert_eq!(a.push_text(b"a2"), Pushed::Written));
            // Another thread's frame queues behind the held ones.
            let other = Arc::clone(&a);
            std::thread::spawn(move || assert_eq!(other.push_text(b"a3"), Pushed::Written))
                .join()
                .unwrap();
            (a.waiting(), b.waiting())
        });
        assert!(held.0 > 0 && held.1 > 0, "nothing was held: {held:?}");
        assert_eq!((a.waiting(), b.waiting()), (0, 0));
        assert_eq!(received(&mut client_a, 3).await, ["a1", "a2", "a3"]);
        assert_eq!(received(&mut client_b, 1).await, ["b1"]);
        // After the burst, pushes are written at once again.
        assert_eq!(a.push_text(b"a4"), Pushed::Written);
        assert_eq!(a.waiting(), 0);
        assert_eq!(received(&mut client_a, 1).await, ["a4"]);
    }

    #[tokio::test]
    async fn a_turn_that_ends_inside_a_burst_writes_the_held_frames_first() {
        let (sink, mut client) = pair().await;
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        corked(|| {
            assert_eq!(sink.push_text(b"held"), Pushed::Written);
            sink.begin_turn(&waker);
            assert_eq!(sink.push_text(b"during the turn"), Pushed::Queued(2));
            let mut turn = turn_frames(&["turn"]);
            assert_eq!(sink.flush(&mut turn, &mut cx), Flush::Done);
        });
        assert_eq!(
            received(&mut client, 3).await,
            ["held", "turn", "during the turn"]
        );
    }

    #[tokio::test]
    async fn pushes_during_a_turn_go_out_after_the_turns_own_frames() {
        let (sink, mut client) = pair().await;
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        sink.begin_turn(&waker);
        assert_eq!(sink.push_text(b"from the room"), Pushed::Queued(1));
        let mut turn = turn_frames(&["ack", "reply"]);
        assert_eq!(sink.flush(&mut turn, &mut cx), Flush::Done);
        assert!(turn.is_empty());
        assert_eq!(
            received(&mut client, 3).await,
            ["ack", "reply", "from the room"]
        );
    }

    #[tokio::test]
    async fn a_closed_sink_takes_nothing_and_gives_its_stream_back_once() {
        let (sink, mut client) = pair().await;
        let io = sink.close().expect("the stream");
        assert!(sink.close().is_none());
        assert_eq!(sink.push_text(b"late"), Pushed::Closed);
        drop(io);
        use tokio::io::AsyncReadExt;
        let mut byte = [0u8; 1];
        assert_eq!(
            client.read(&mut byte).await.unwrap(),
            0,
            "nothing was written"
        );
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_makes_frames_wait_in_order() {
        let (sink, mut client) = pair().await;
        let payload = vec![b'x'; 60_000];
        let text = std::str::from_utf8(&payload).unwrap();
        let mut pushed = 0;
        // Fill the kernel's buffers until frames have to wait.
        while sink.waiting() == 0 {
            sink.push_text(text.as_bytes());
            pushed += 1;
            assert!(pushed < 10_000, "the socket never filled");
        }
        assert!(matches!(sink.push_text(b"last"), Pushed::Queued(n) if n >= 2));
        // The connection's task writes the rest as the peer reads.
        let reader = tokio::spawn(async move { received(&mut client, pushed + 1).await });
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        while sink.flush(&mut BytesMut::new(), &mut cx) != Flush::Done {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let got = reader.await.unwrap();
        assert_eq!(got.len(), pushed + 1);
        assert!(got[..pushed].iter().all(|t| t.len() == 60_000));
        assert_eq!(got[pushed], "last");
    }

    #[test]
    fn frames_are_encoded_with_the_shortest_length() {
        for (len, head) in [
            (5usize, 2usize),
            (125, 2),
            (126, 4),
            (65_535, 4),
            (65_536, 10),
        ] {
            let mut buf = BytesMut::new();
            encode_text(&mut buf, &vec![b'a'; len]);
            assert_eq!(buf.len(), head + len, "{len}");
            assert_eq!(buf[0], 0x81);
            let mut codec = actix_http::ws::Codec::new().client_mode().max_size(1 << 20);
            let frame = actix_codec::Decoder::decode(&mut codec, &mut buf)
                .unwrap()
                .unwrap();
            match frame {
                actix_http::ws::Frame::Text(t) => assert_eq!(t.len(), len),
                other => panic!("{other:?}"),
            }
        }
    }
}
