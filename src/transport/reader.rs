//! The inbound half of a socket: reads from the TCP stream, decodes frames
//! with actix-http's WebSocket codec (masking, lengths, control-frame rules,
//! the frame size limit) and yields them as `ws::Message`s, the items the
//! socket shell (`actors::shell::handle_frame`) takes.
//!
//! The read buffer exists only while bytes wait to be decoded: an idle
//! socket holds none, and a read takes only the bytes that arrived.

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Message, ProtocolError};
use actix_web::web::BytesMut;
use bytestring::ByteString;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 4096;

/// Frames from one socket.
pub struct Reader {
    io: Arc<TcpStream>,
    buf: BytesMut,
    codec: Codec,
    /// The peer closed its side (or the socket failed).
    eof: bool,
    /// Nothing more will be yielded.
    done: bool,
}

impl Reader {
    /// A reader of `io`, starting with the bytes already in `buf`.
    pub fn new(io: Arc<TcpStream>, buf: BytesMut, codec: Codec) -> Self {
        Reader {
            io,
            buf,
            codec,
            eof: false,
            done: false,
        }
    }
}

/// The message a decoded frame carries; a text frame must be UTF-8.
fn message(frame: Frame) -> Result<Message, ProtocolError> {
    Ok(match frame {
        // The error text names UTF-8, which the shell looks for
        // (`shell::is_invalid_utf8`) to close with 1007.
        Frame::Text(data) => Message::Text(
            ByteString::try_from(data)
                .map_err(|e| ProtocolError::Io(std::io::Error::other(e.to_string())))?,
        ),
        Frame::Binary(data) => Message::Binary(data),
        Frame::Ping(data) => Message::Ping(data),
        Frame::Pong(data) => Message::Pong(data),
        Frame::Close(reason) => Message::Close(reason),
        Frame::Continuation(item) => Message::Continuation(item),
    })
}

impl Stream for Reader {
    type Item = Result<Message, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.codec.decode(&mut this.buf) {
                Ok(Some(frame)) => {
                    let item = message(frame);
                    if item.is_err() {
                        this.done = true;
                    }
                    return Poll::Ready(Some(item));
                }
                Ok(None) => {}
                Err(e) => {
                    // The stream is out of step: nothing after this is a frame.
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            if this.eof {
                this.done = true;
                return Poll::Ready(None);
            }
            if this.buf.is_empty() && this.buf.capacity() > 0 {
                this.buf = BytesMut::new();
            }
            match this.io.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => {
                    this.eof = true;
                    continue;
                }
                Poll::Ready(Ok(())) => {}
            }
            // Read on the stack, then keep only what arrived: a small frame
            // costs a small allocation (a fresh 4 KiB buffer per read made
            // the allocator consolidate on every message). A large frame's
            // buffer still grows by doubling as its parts arrive.
            let mut chunk = [0u8; READ_CHUNK];
            let mut got = 0;
            let read = this.io.try_io(Interest::READABLE, || {
                let n = this.io.try_read(&mut chunk)?;
                got = n;
                if n > 0 && n < READ_CHUNK {
                    // A short read emptied the socket: say so now, and the
                    // runtime clears its readiness (only if no event came
                    // in since it was set, so nothing is missed), instead
                    // of one more `recv(2)` finding nothing. tokio's own
                    // `poll_read` does the same.
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            if got > 0 {
                this.buf
                    .extend_from_slice(chunk.get(..got).unwrap_or_default());
            }
            match read {
                // End-of-file, or a reset: either way the peer is gone.
                Ok(0) => this.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => this.eof = true,
            }
        }
    }
}
