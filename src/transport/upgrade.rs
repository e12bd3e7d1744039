//! How a WebSocket upgrade reaches the transport.
//!
//! actix-http hands every request that asks for `Upgrade: websocket` to the
//! server's upgrade service together with the connection itself, instead of
//! to the application. The upgrade service ([`factory`]) marks the request
//! as [`Upgrading`] and runs it through an instance of the same application,
//! so routing, middleware and the upgrade handlers (`http::ws`, `http::yjs`)
//! with all their checks stay as they are. A handler that accepts answers
//! `101` with a [`PendingSocket`] in the response's extensions; the upgrade
//! service writes the `101`, takes the TCP stream out of the HTTP codec and
//! runs the socket actor on it (`transport::serve`). Any other answer (an
//! error, a `404`) is written with its body and the connection is closed.

use super::context::{serve, SocketOwner};
use crate::transport::socket::OpenGuard;
use actix_codec::{Encoder, Framed};
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::{h1, ConnectionType, Request, Response};
use actix_rt::ArbiterHandle;
use actix_service::{fn_factory, fn_service, Service, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::web::BytesMut;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse};
use std::rc::Rc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Request extension: this request came through the upgrade service, so
/// its connection can be taken over.
#[derive(Debug, Clone, Copy)]
pub struct Upgrading;

/// True when `req` came through the upgrade service.
pub fn is_upgrading(req: &HttpRequest) -> bool {
    req.extensions().get::<Upgrading>().is_some()
}

/// Spawns the socket's task on its arbiter: on the stream, with the bytes
/// the client sent after its handshake, counted as open until it ends.
type Start = Box<dyn FnOnce(TcpStream, BytesMut, crate::fds::Counted)>;

/// Gives back what was taken for a socket (its per-user slot) when the
/// socket never starts: it runs when dropped unless the socket's task was
/// spawned. It travels with the socket, so a hand-over that fails anywhere
/// (before the `101` is written, leaving this worker's reactor, on the way
/// to the arbiter, or joining the arbiter's reactor) runs it where it fails.
struct Abandon(Option<Box<dyn FnOnce() + Send>>);

impl Abandon {
    /// The socket started: its actor gives the slot back when it stops.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(abandon) = self.0.take() {
            abandon();
        }
    }
}

/// Response extension: the socket actor to run once the `101` is written.
/// If it is never started (the connection failed first, or the socket
/// could not reach its arbiter), `abandon` runs, so a slot taken for it is
/// given back (`Abandon`).
pub struct PendingSocket {
    start: Start,
}

impl PendingSocket {
    /// `actor` will own the socket, on the arbiter `home`; frames above
    /// `max_frame_bytes` are refused.
    pub fn new<A: SocketOwner + Send + 'static>(
        actor: A,
        max_frame_bytes: usize,
        guard: Option<OpenGuard>,
        home: ArbiterHandle,
        abandon: impl FnOnce() + Send + 'static,
    ) -> Self {
        let abandon = Abandon(Some(Box::new(abandon)));
        PendingSocket {
            start: Box::new(move |io, read_buf, counted| {
                // The stream leaves this worker's reactor and joins the
                // home arbiter's. The task holds the socket's future
                // itself: no box around it and no wrapper future beside it.
                let io = match io.into_std() {
                    Ok(io) => io,
                    Err(e) => {
                        log::warn!("upgrade: cannot hand the socket over: {e}");
                        return;
                    }
                };
                // A closure the arbiter never runs is dropped, and with it
                // `abandon`, which then runs.
                let sent = home.spawn_fn(move || match TcpStream::from_std(io) {
                    Ok(io) => {
                        abandon.disarm();
                        actix_rt::spawn(serve(
                            actor,
                            io,
                            read_buf,
                            max_frame_bytes,
                            guard,
                            counted,
                        ));
                    }
                    // Registering with a running reactor does not fail
                    // short of running out of memory; the socket closes
                    // unserved and `abandon` runs here.
                    Err(e) => log::error!("upgrade: cannot take the socket over: {e}"),
                });
                if !sent {
                    // Only while the node stops: the socket closes unserved.
                    log::info!("upgrade: the socket's arbiter has stopped");
                }
            }),
        }
    }

    /// Starts the socket (see [`Start`]).
    fn start(self, io: TcpStream, read_buf: BytesMut, counted: crate::fds::Counted) {
        (self.start)(io, read_buf, counted);
    }
}

/// The `101 Switching Protocols` answer to `req` (a checked handshake):
/// once it is written, `actor` owns the socket ([`PendingSocket`]; frames
/// above `max_frame_bytes` are refused, `abandon` runs if it never starts).
/// `bearer`: the token came as the `bearer` subprotocol, which is named back.
/// The socket runs on the arbiter `home`.
pub fn accept<A: SocketOwner + Send + 'static>(
    req: &HttpRequest,
    bearer: bool,
    actor: A,
    max_frame_bytes: usize,
    guard: Option<OpenGuard>,
    home: ArbiterHandle,
    abandon: impl FnOnce() + Send + 'static,
) -> HttpResponse {
    let mut res = HttpResponse::from(actix_http::ws::handshake_response(req.head()).finish())
        .map_into_boxed_body();
    if bearer {
        res.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderValue::from_static("bearer"),
        );
    }
    res.extensions_mut().insert(PendingSocket::new(
        actor,
        max_frame_bytes,
        guard,
        home,
        abandon,
    ));
    res
}

/// Why an upgraded connection ended early (logged by actix-http).
#[derive(Debug, thiserror::Error)]
#[error("upgrade: {0}")]
pub struct UpgradeError(#[from] std::io::Error);

impl From<UpgradeError> for Response<BoxBody> {
    /// Never sent: by the time the upgrade service fails, the connection is
    /// no longer speaking HTTP. actix-http asks for the conversion anyway.
    fn from(_: UpgradeError) -> Self {
        Response::internal_server_error()
    }
}

/// The upgrade service: one application instance per worker thread, made
/// by `make_app` (the same function the HTTP service uses).
pub fn factory<F, T, B>(
    make_app: F,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, h1::Codec>),
    Config = (),
    Response = (),
    Error = UpgradeError,
    InitError = (),
>
where
    F: Fn() -> App<T> + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let make_app = make_app.clone();
        async move {
            let app = actix_service::IntoServiceFactory::into_factory(make_app())
                .new_service(AppConfig::default())
                .await?;
            let app = Rc::new(app);
            Ok(fn_service(
                move |(req, framed): (Request, Framed<TcpStream, h1::Codec>)| {
                    let app = app.clone();
                    async move { take_over(app.as_ref(), req, framed).await }
                },
            ))
        }
    })
}

/// Runs one upgrade request through the application and serves its answer.
///
/// An accepted socket runs in a task of its own on its arbiter in the
/// actor pool, and this future ends: the HTTP connection's task (actix-http's dispatcher, about
/// 2.9 KB per connection) and the handshake's request future and response
/// are freed instead of carrying the socket until it closes.
/// A graceful stop still waits for every socket: it closes them through the
/// registry and waits for its count, not for the HTTP server's.
async fn take_over<S, B>(
    app: &S,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), UpgradeError>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let accepted = answer(app, req, framed).await?;
    if let Some((socket, io, read_buf, counted)) = accepted {
        socket.start(io, read_buf, counted);
    }
    Ok(())
}

/// A socket to start: how, on which stream, with the bytes the client sent
/// after its handshake, counted as an open connection until it ends.
type Accepted = (PendingSocket, TcpStream, BytesMut, crate::fds::Counted);

/// Writes the application's answer to the upgrade request; the socket to
/// run when it was a `101` with a [`PendingSocket`].
async fn answer<S, B>(
    app: &S,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<Option<Accepted>, UpgradeError>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    req.extensions_mut().insert(Upgrading);
    let res = app.call(req).await;
    // The connection's data (`on_connect`) goes with the request and the
    // dispatcher that the upgrade ends, and with it the count of open
    // connections it holds (`fds::Counted`). Count this one again, before
    // the request is dropped, for as long as the socket is open.
    let counted = crate::fds::Counted::accepted();
    let res: Response<BoxBody> = match res {
        Ok(res) => Response::from(res).map_into_boxed_body(),
        Err(e) => e.error_response().into(),
    };
    let (mut head, body) = res.into_parts();
    let socket = head.extensions_mut().remove::<PendingSocket>();
    let mut parts = framed.into_parts();
    let mut out = BytesMut::new();
    match socket {
        Some(socket) if head.status() == StatusCode::SWITCHING_PROTOCOLS => {
            // The (empty) body goes now: the access log is written when it does.
            drop(body);
            parts
                .codec
                .encode(h1::Message::Item((head, BodySize::None)), &mut out)?;
            parts.io.write_all(&out).await?;
            // Not the dispatcher's 8 KiB read buffer: only what the client
            // sent right after its handshake, if anything.
            let read_buf = if parts.read_buf.is_empty() {
                BytesMut::new()
            } else {
                BytesMut::from(&parts.read_buf[..])
            };
            Ok(Some((socket, parts.io, read_buf, counted)))
        }
        socket => {
            drop(socket);
            head.head_mut().set_connection_type(ConnectionType::Close);
            let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
            let size = BodySize::Sized(bytes.len() as u64);
            parts
                .codec
                .encode(h1::Message::Item((head, size)), &mut out)?;
            if !bytes.is_empty() {
                parts
                    .codec
                    .encode(h1::Message::Chunk(Some(bytes)), &mut out)?;
            }
            parts.io.write_all(&out).await?;
            parts.io.shutdown().await?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use actix::prelude::*;
    use actix_http::ws::{Message, ProtocolError};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A socket actor that does nothing but count its starts.
    struct Idle;

    static STARTED: AtomicUsize = AtomicUsize::new(0);

    impl Actor for Idle {
        type Context = crate::transport::SocketContext<Self>;

        fn started(&mut self, _: &mut Self::Context) {
            STARTED.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl StreamHandler<Result<Message, ProtocolError>> for Idle {
        fn handle(&mut self, _: Result<Message, ProtocolError>, _: &mut Self::Context) {}
    }

    /// A socket for `Idle` on `home` whose abandon counts into `given_back`.
    fn pending(home: ArbiterHandle, given_back: &Arc<AtomicUsize>) -> PendingSocket {
        let given_back = given_back.clone();
        PendingSocket::new(Idle, 1024, None, home, move || {
            given_back.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// The server's end of a connected pair, and the client's.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (listener.accept().await.unwrap().0, client)
    }

    /// A socket dropped before it starts, or handed to an arbiter that has
    /// stopped, gives its slot back once; a started one keeps it (its
    /// actor gives it back when it stops).
    #[actix_rt::test]
    async fn a_socket_that_never_starts_gives_its_slot_back_once() {
        let given_back = Arc::new(AtomicUsize::new(0));
        drop(pending(actix_rt::Arbiter::current(), &given_back));
        assert_eq!(given_back.load(Ordering::SeqCst), 1);

        let stopped = actix_rt::Arbiter::new();
        let home = stopped.handle();
        assert!(stopped.stop());
        stopped.join().unwrap();
        let (server, _client) = pair().await;
        pending(home, &given_back).start(server, BytesMut::new(), crate::fds::Counted::accepted());
        assert_eq!(given_back.load(Ordering::SeqCst), 2);

        let (server, _client) = pair().await;
        pending(actix_rt::Arbiter::current(), &given_back).start(
            server,
            BytesMut::new(),
            crate::fds::Counted::accepted(),
        );
        // The arbiter runs the hand-over on its next turn.
        for _ in 0..100 {
            if STARTED.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(STARTED.load(Ordering::SeqCst), 1, "the started socket runs");
        assert_eq!(given_back.load(Ordering::SeqCst), 2);
    }
}
