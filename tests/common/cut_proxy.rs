//! A TCP proxy that can cut every connection (tests of PostgreSQL and
//! Redis outages): it runs on its own thread and runtime, so the server's
//! runtime cannot starve it. `set_up(false)` cuts every open connection and
//! refuses new ones (accepted and closed at once, before a byte is
//! exchanged), which the server sees as it would see a stopped service,
//! until `set_up(true)`.

use std::net::SocketAddr;
use tokio::sync::watch;

pub struct CutProxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl CutProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: String) -> CutProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let state = up.subscribe();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    if !*state.borrow() {
                        // Refused: closed before a byte is exchanged.
                        drop(client);
                        continue;
                    }
                    let mut state = state.clone();
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                            return;
                        };
                        // Biased: once down, not one more byte is forwarded.
                        tokio::select! {
                            biased;
                            _ = state.wait_for(|up| !*up) => {}
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        }
                    });
                }
            });
        });
        CutProxy { addr, up }
    }

    /// Up (forwarding) or down (cutting and refusing).
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}
