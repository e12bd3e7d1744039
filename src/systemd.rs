//! The systemd notify protocol (`sd_notify(3)`), for `Type=notify` units.
//!
//! systemd passes a Unix datagram socket in `NOTIFY_SOCKET` (a path, or an
//! abstract name written with a leading `@`) and, when the unit sets
//! `WatchdogSec=`, the deadline in `WATCHDOG_USEC` (and the pid it is meant
//! for in `WATCHDOG_PID`). Tandem sends:
//!
//! - `READY=1` once migrations have run and the listener accepts;
//! - `WATCHDOG=1` every half `WATCHDOG_USEC`, from a timer on the System
//!   arbiter and only after the registry actor, every actor-pool thread and
//!   every HTTP worker thread have answered (`watchdog`), so a wedged actor
//!   system (or one runaway room, or a blocked request handler, holding its
//!   thread) stops the pings and systemd restarts the service;
//! - `STOPPING=1` when draining starts.
//!
//! Without `NOTIFY_SOCKET` (not run by systemd, or in tests) every call is a
//! no-op. A failed send is logged, never fatal: systemd then acts on its
//! timeouts.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Where the notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAddr {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (given as `@name`).
    Abstract(Vec<u8>),
}

impl NotifyAddr {
    /// Parses `NOTIFY_SOCKET`; `None` when empty or not a Unix socket address.
    pub fn parse(value: &str) -> Option<NotifyAddr> {
        if let Some(name) = value.strip_prefix('@') {
            Some(NotifyAddr::Abstract(name.as_bytes().to_vec()))
        } else if value.starts_with('/') {
            Some(NotifyAddr::Path(PathBuf::from(value)))
        } else {
            None
        }
    }
}

/// Sends notifications to the service manager.
#[derive(Debug, Clone)]
pub struct Notifier {
    addr: NotifyAddr,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the
    /// process environment; `None` when not run under `Type=notify`.
    pub fn from_env() -> Option<Notifier> {
        let socket = std::env::var("NOTIFY_SOCKET").ok()?;
        Notifier::from_vars(
            &socket,
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        )
    }

    /// [`Notifier::from_env`] on given values (`pid` is this process's).
    pub fn from_vars(
        socket: &str,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        pid: u32,
    ) -> Option<Notifier> {
        let addr = NotifyAddr::parse(socket)?;
        let for_us = match watchdog_pid {
            Some(p) => p.trim().parse::<u32>().ok() == Some(pid),
            None => true,
        };
        let watchdog = watchdog_usec
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us)
            .map(Duration::from_micros);
        Some(Notifier { addr, watchdog })
    }

    /// The watchdog deadline systemd set (`WatchdogSec=`), if any.
    pub fn watchdog_timeout(&self) -> Option<Duration> {
        self.watchdog
    }

    /// How often to ping: half the deadline, as sd_watchdog_enabled(3) advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Sends one datagram of `KEY=value` lines.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        match &self.addr {
            NotifyAddr::Path(path) => socket.send_to(state.as_bytes(), path)?,
            NotifyAddr::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)?
            }
        };
        Ok(())
    }

    /// [`Notifier::notify`], logging a failure.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            log::warn!("sd_notify {:?}: {e}", state.lines().next().unwrap_or(""));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_addresses() {
        assert_eq!(
            NotifyAddr::parse("/run/systemd/notify"),
            Some(NotifyAddr::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            NotifyAddr::parse("@tandem/notify"),
            Some(NotifyAddr::Abstract(b"tandem/notify".to_vec()))
        );
        assert_eq!(NotifyAddr::parse(""), None);
        assert_eq!(NotifyAddr::parse("vsock:2:1"), None);
    }

    #[test]
    fn watchdog_only_for_this_pid() {
        let n = Notifier::from_vars("/x", Some("4000000"), None, 7).unwrap_or_else(|| panic!());
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(2)));
        let n =
            Notifier::from_vars("/x", Some("4000000"), Some("7"), 7).unwrap_or_else(|| panic!());
        assert_eq!(n.watchdog_timeout(), Some(Duration::from_secs(4)));
        let other = Notifier::from_vars("/x", Some("4000000"), Some("8"), 7);
        assert_eq!(other.and_then(|n| n.watchdog_interval()), None);
        let zero = Notifier::from_vars("/x", Some("0"), None, 7);
        assert_eq!(zero.and_then(|n| n.watchdog_interval()), None);
    }

    #[test]
    fn sends_to_a_path_and_an_abstract_socket() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("tandem-sdn-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path)?;
        let n = Notifier::from_vars(&path.to_string_lossy(), None, None, 1)
            .ok_or_else(|| io::Error::other("path not parsed"))?;
        n.notify("READY=1")?;
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf)?;
        assert_eq!(&buf[..len], b"READY=1");
        std::fs::remove_dir_all(&dir)?;

        use std::os::linux::net::SocketAddrExt;
        let name = format!("tandem-sdn-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let server = UnixDatagram::bind_addr(&addr)?;
        let n = Notifier::from_vars(&format!("@{name}"), None, None, 1)
            .ok_or_else(|| io::Error::other("abstract name not parsed"))?;
        n.notify("WATCHDOG=1")?;
        let len = server.recv(&mut buf)?;
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        Ok(())
    }
}
