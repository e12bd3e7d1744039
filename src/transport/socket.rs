//! The one descriptor of an accepted socket, named by number, and the guard
//! that makes cutting it safe: a [`SocketRef`] lets anyone on any thread
//! shut a stalled socket down (`shutdown(2)`), without a second descriptor.
//!
//! A descriptor number is only meaningful while its socket is open: once
//! the server closes it, the kernel may hand the same number to the next
//! socket or file the process opens. Two rules make a cut on a reused
//! number impossible:
//!
//! 1. The [`OpenGuard`] lives with the socket in the transport
//!    (`transport::context::serve`), which drops the guard just before it
//!    closes the socket, and the guard's drop marks the reference closed.
//! 2. The cut itself runs on the arbiter the socket runs on (its owner,
//!    chosen when the upgrade is accepted), the only thread that can close
//!    that socket. There it checks the mark and calls `shutdown(2)` with no
//!    await in between, so the socket cannot be closed (and its number
//!    reused) between the check and the call.

use actix_rt::ArbiterHandle;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The number of the accepted socket's descriptor, stored per connection by
/// the server's `on_connect` hook. Only valid while the request that reads
/// it is being handled (the dispatcher holds the socket open meanwhile).
#[derive(Clone, Copy, Debug)]
pub struct AcceptedFd(pub RawFd);

/// A handle to cut one socket from any thread (see the module doc).
#[derive(Clone)]
pub struct SocketRef {
    fd: RawFd,
    owner: ArbiterHandle,
    open: Arc<AtomicBool>,
}

/// Marks the socket open while it lives; keep it next to the socket (the
/// transport does, and drops it on the owner thread, just before it closes
/// the socket). It travels to the owner with the socket when the upgrade
/// hands the socket over; if the socket never starts, nothing holds a
/// [`SocketRef`] to it yet (the actor that would is dropped with it).
pub struct OpenGuard {
    open: Arc<AtomicBool>,
}

impl SocketRef {
    /// A reference to the socket `fd`, which will run on `owner`, and its
    /// guard.
    pub fn new(fd: AcceptedFd, owner: ArbiterHandle) -> (SocketRef, OpenGuard) {
        let open = Arc::new(AtomicBool::new(true));
        (
            SocketRef {
                fd: fd.0,
                owner,
                open: open.clone(),
            },
            OpenGuard { open },
        )
    }

    /// After `grace`, on the owner thread, shuts the socket down in both
    /// directions if it is still open and `still_running()` holds.
    pub fn cut_after(&self, grace: Duration, still_running: impl Fn() -> bool + Send + 'static) {
        let me = self.clone();
        self.owner.spawn(async move {
            tokio::time::sleep(grace).await;
            if still_running() {
                me.cut_now();
            }
        });
    }

    /// Shuts the socket down if it is still open; true if it did. Must run
    /// on the owner thread (rule 2 of the module doc).
    pub(crate) fn cut_now(&self) -> bool {
        if !self.open.load(Ordering::Acquire) {
            return false;
        }
        // SAFETY: the guard is alive, so the socket `fd` names is open (rule
        // 1), and nothing can close it before this call returns (rule 2).
        // shutdown(2) takes no memory from us.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) == 0 }
    }

    /// True while the socket is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[actix_rt::test]
    async fn cuts_an_open_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut client, server) = pair(&listener);
        let (socket, _guard) =
            SocketRef::new(AcceptedFd(server.as_raw_fd()), actix_rt::Arbiter::current());
        assert!(socket.cut_now());
        let mut buf = [0u8; 1];
        assert_eq!(
            client.read(&mut buf).unwrap(),
            0,
            "the peer sees end-of-file"
        );
    }

    #[actix_rt::test]
    async fn never_cuts_a_reused_descriptor() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (_client, server) = pair(&listener);
        let fd = server.as_raw_fd();
        let (socket, guard) = SocketRef::new(AcceptedFd(fd), actix_rt::Arbiter::current());
        // The dispatcher drops the body (the guard), then closes the socket.
        drop(guard);
        drop(server);
        // The next socket takes the lowest free number: the same one, unless
        // a test on another thread took it first.
        let (mut client2, mut server2) = pair(&listener);
        assert!(!socket.is_open());
        assert!(!socket.cut_now(), "a closed reference cuts nothing");
        if client2.as_raw_fd() != fd {
            return;
        }
        server2.write_all(b"x").unwrap();
        let mut buf = [0u8; 1];
        client2.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"x", "the socket that reused the number still works");
        client2.write_all(b"y").unwrap();
        server2.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"y");
    }
}
