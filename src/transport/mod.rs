//! The WebSocket transport: the one place sockets are read and written.
//!
//! actix-http parses the upgrade request and hands the connection over
//! (`upgrade`); from then on a socket is its actor, a [`SocketContext`]
//! (actix's mailbox and timers plus one output buffer) and a frame
//! [`reader`], all in one future on an arbiter of the actor pool, chosen by
//! the connection's id (`context::serve`): there it runs next to the rooms,
//! rosters and presence actors it talks to, and with one actor thread
//! nothing it sends them crosses a thread (three times fewer context
//! switches per connect, measured in BENCHMARKS.md). The HTTP worker only
//! parses the handshake. No HTTP dispatcher stays behind the socket. The
//! socket's output is a [`sink::Sink`] shared with the rooms it is in: a
//! room writes its frames to the socket from its own thread, in order with
//! the connection's own frames.
//!
//! Why Tandem has its own transport instead of `actix-web-actors` (now
//! deprecated) or `actix-ws`: both keep actix-http's HTTP/1 dispatcher
//! running under the socket, with an 8 KiB read buffer, a write buffer that
//! keeps the size of the largest frame it wrote (up to 128 KiB), and one
//! more task hop per frame. Measured in BENCHMARKS.md ("The transport").

pub mod context;
pub mod liveness;
pub mod reader;
pub mod sink;
pub mod socket;
pub mod upgrade;

pub use context::{SocketContext, SocketOwner};
pub use upgrade::{accept, is_upgrading, PendingSocket};
