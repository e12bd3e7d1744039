//! How a Yjs document actor (and the Yjs registry) reach one y-websocket
//! socket: the socket's id, the [`YjsPeer`] handle with its bounded outbound
//! queue, the two messages it carries ([`YjsFrame`], [`YjsClose`], handled by
//! `YjsConnectionActor`) and the Yjs close codes. Kept apart from the socket
//! actor, as `broker` keeps the JSON connection's handle, so the document and
//! registry never import the socket actor.

use crate::broker::Outbound;
use crate::protocol::close_code;
use actix::prelude::*;
use actix_web::web::Bytes;
use std::fmt;
use std::sync::Arc;

/// A binary frame from the document actor, to write to this socket.
#[derive(Message)]
#[rtype(result = "()")]
pub struct YjsFrame(pub Bytes);

/// Close this socket with a code (malformed input, shutdown, slow consumer...).
#[derive(Message)]
#[rtype(result = "()")]
pub struct YjsClose {
    /// WebSocket close code.
    pub code: u16,
    /// Short reason sent in the close frame.
    pub reason: &'static str,
}

/// Close codes used on Yjs sockets beyond `protocol::close_code`.
pub mod yjs_close_code {
    /// A text frame, or a binary frame that is not a valid y-websocket message.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// An update would take the document past `yjs.max_document_bytes`.
    pub const DOCUMENT_TOO_LARGE: u16 = 4413;
    /// The document could not be loaded (database unavailable); reconnect later.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The document's storage is behind (`documents.max_pending_writes`
    /// writes outstanding): the update was not applied; reconnect later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// One Yjs socket, unique within this process (`y17` in logs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct YjsConnId(pub u64);

impl fmt::Display for YjsConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "y{}", self.0)
    }
}

/// How a document actor reaches one socket.
#[derive(Clone)]
pub struct YjsPeer {
    /// The socket.
    pub id: YjsConnId,
    frames: Recipient<YjsFrame>,
    close: Recipient<YjsClose>,
    outbound: Arc<Outbound>,
    /// What the admin API shows (transport `yjs`, counters).
    pub stats: Arc<crate::broker::ConnectionStats>,
}

impl fmt::Debug for YjsPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "YjsPeer({})", self.id)
    }
}

impl YjsPeer {
    /// The handle of a socket actor that handles [`YjsFrame`] and [`YjsClose`].
    pub fn new(
        id: YjsConnId,
        frames: Recipient<YjsFrame>,
        close: Recipient<YjsClose>,
        outbound: Arc<Outbound>,
    ) -> Self {
        YjsPeer {
            id,
            frames,
            close,
            outbound,
            stats: Arc::new(crate::broker::ConnectionStats::new("yjs")),
        }
    }

    /// Frames queued for the socket and not yet written.
    pub fn queued(&self) -> usize {
        self.outbound.queued()
    }

    /// Called by the socket actor when it took a frame off its queue.
    pub fn dequeued(&self) {
        self.outbound.release();
    }

    /// True once the socket is being closed.
    pub fn is_closing(&self) -> bool {
        self.outbound.is_closing()
    }

    /// Queues a frame; false when the socket is gone, closing or too far
    /// behind (it is then closed as a slow consumer).
    pub fn send(&self, frame: Bytes) -> bool {
        if self.outbound.is_closing() || !self.frames.connected() {
            return false;
        }
        if !self.outbound.reserve() {
            metrics::counter!("tandem_slow_consumer_closes_total", "transport" => "yjs")
                .increment(1);
            self.close(
                close_code::SLOW_CONSUMER,
                "slow consumer: outbound queue full",
            );
            return false;
        }
        self.frames.do_send(YjsFrame(frame));
        true
    }

    /// Asks the socket to close with `code`; cuts the TCP connection after
    /// the grace period in case the actor cannot run.
    pub fn close(&self, code: u16, reason: &'static str) {
        if !self.outbound.begin_close() {
            return;
        }
        log::debug!("closing yjs socket {} with {code}: {reason}", self.id);
        self.close.do_send(YjsClose { code, reason });
        let frames = self.frames.clone();
        self.outbound.cut_after_grace(move || frames.connected());
    }

    /// False once the socket's actor has stopped.
    pub fn is_alive(&self) -> bool {
        self.frames.connected()
    }
}
