//! Builds and runs the server. [`Application::build`] binds the listener
//! first, so `server.port = 0` gives a free port that tests can read back.

use crate::actors::log_writer::{Flush, LogWriterActor};
use crate::actors::registry::{GetStats, RegistryActor, Shutdown};
use crate::actors::Services;
use crate::auth::Authenticator;
use crate::broker::local::LocalBroker;
use crate::cluster::bridge::RedisBroker;
use crate::config::Settings;
use crate::db::Db;
use crate::systemd::Notifier;
use crate::watchdog::HttpWorkers;
use actix::Actor;
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware, web, App};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad configuration (the message names the key).
    #[error("{0}")]
    Config(String),
    /// Database unreachable or migrations failed.
    #[error("database: {0}")]
    Database(#[from] crate::db::DbError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    services: Arc<Services>,
    db: Db,
    notifier: Option<Notifier>,
    /// The HTTP worker threads, which the systemd watchdog checks.
    http_workers: HttpWorkers,
}

impl Application {
    /// Connects to PostgreSQL, applies migrations, starts the node's actors
    /// and binds the listener.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let settings = Arc::new(settings);
        crate::telemetry::install();
        crate::http::admin::mark_started();
        let auth =
            web::Data::new(Authenticator::new(&settings.auth).map_err(StartupError::Config)?);
        let db = Db::new(
            &settings.database.url,
            settings.database.pool_size,
            Duration::from_secs(settings.database.connect_timeout_secs),
        )?;
        if settings.database.run_migrations {
            let applied = db.run_migrations().await?;
            if !applied.is_empty() {
                log::info!("applied migrations: {}", applied.join(", "));
            }
        }
        load_revocations(&db, &auth).await?;
        let pool = Arc::new(
            crate::actors::pool::ActorPool::new(settings.server.actor_threads)
                .map_err(StartupError::Config)?,
        );
        let local: Arc<dyn crate::broker::Broker> =
            Arc::new(LocalBroker::start_sharded(pool.arbiters()));
        // An empty `redis.url` keeps the node alone, with no Redis at all.
        let alone = settings.redis.url.expose().is_empty();
        let (broker, leases, slots, nodes): (Arc<dyn crate::broker::Broker>, _, _, _) = if alone {
            (local, None, None, None)
        } else {
            let redis = RedisBroker::start(local, &settings.redis).map_err(StartupError::Config)?;
            let ttl = Duration::from_millis(settings.redis.document_lease_ms);
            let (leases, slots) = (redis.leases(ttl), redis.slots());
            let nodes = redis.nodes(Duration::from_millis(settings.redis.node_ttl_ms));
            (Arc::new(redis), Some(leases), Some(slots), Some(nodes))
        };
        let log_writer = LogWriterActor::new(db.clone()).start();
        let group_commit = crate::actors::group_commit::GroupCommit::start(
            db.clone(),
            crate::actors::group_commit::FlushPolicy::new(
                settings.documents.batch_max_rows,
                Duration::from_micros(settings.documents.batch_wait_us),
            ),
        );
        let stall_limit = settings.client_timeout() + settings.ping_interval();
        let push =
            crate::push::dispatcher::start(&settings, db.clone()).map_err(StartupError::Config)?;
        // Yjs documents are shared with the other nodes (a cluster only).
        let yjs_cluster = broker.cluster().is_some().then(|| broker.clone());
        let socket_slots = Arc::new(crate::actors::registry::slots::SocketSlots::new(
            settings.websocket.max_connections_per_user,
        ));
        // The registry runs on the actor pool's first thread, beside the
        // rooms, presence actors and rosters it hands connections to: on a
        // node with one core, a connect's messages between them then stay on
        // one thread instead of waking the system thread for each (a third
        // of a connect's CPU was thread switches; see BENCHMARKS.md).
        let registry_thread = pool.arbiters()[0].clone();
        let services = Arc::new_cyclic(|weak| {
            let (weak, table) = (weak.clone(), socket_slots.clone());
            let registry = RegistryActor::start_in_arbiter(&registry_thread, move |_| {
                RegistryActor::new(weak, table, stall_limit)
            });
            let push: actix::Recipient<crate::push::PushJob> = push.addr.clone().recipient();
            Services {
                settings: settings.clone(),
                notify: crate::notify::Notifier {
                    db: db.clone(),
                    broker: broker.clone(),
                    presence: registry.clone().recipient(),
                    push: push.clone(),
                    push_settings: settings.push.clone(),
                    // Only a node alone sees every notification created.
                    unread: Arc::new(crate::notify::unread::UnreadCache::new(alone)),
                },
                broker,
                registry,
                socket_slots,
                auth: auth.clone(),
                log_writer,
                yjs: crate::actors::yjs_registry::YjsRegistryActor::new(
                    db.clone(),
                    pool.clone(),
                    Duration::from_secs(settings.rooms.idle_stop_secs),
                    settings.websocket.max_connections_per_user,
                    crate::actors::yjs_doc::YjsLimits {
                        max_document_bytes: settings.yjs.max_document_bytes,
                        max_pending_writes: settings.documents.max_pending_writes,
                    },
                )
                .with_cluster(yjs_cluster)
                .start(),
                push,
                db: db.clone(),
                group_commit,
                pool,
                leases,
                slots,
                nodes,
            }
        });

        if services.leases.is_some() {
            // A cluster: admin revocations made on other nodes reach this one.
            crate::actors::revocation_sync::start(
                db.clone(),
                services.auth.clone(),
                services.registry.clone(),
                services.yjs.clone(),
            );
        }

        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();

        let services_data = web::Data::new(services.clone());
        let db_data = web::Data::new(db.clone());
        let push_data = web::Data::new(push);
        let web_settings = settings.web.clone();
        let accept_cap = crate::fds::init(settings.server.fd_reserve, settings.server.workers);
        // One function makes the application, for the HTTP service and for
        // the upgrade service that hands WebSocket connections to the
        // transport (`transport::upgrade`).
        let make_app = move || {
            App::new()
                .wrap(
                    // The query string may hold a token: log the path only.
                    middleware::Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#)
                        .custom_request_replace("method", |req| req.method().to_string()),
                )
                .wrap(middleware::from_fn(crate::http::content_type::json_only))
                .wrap(middleware::from_fn(crate::telemetry::count_requests))
                .app_data(services_data.clone())
                .app_data(db_data.clone())
                .app_data(push_data.clone())
                .app_data(auth.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(256 * 1024)
                        .error_handler(crate::http::error::json_error_handler),
                )
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(crate::http::error::query_error_handler),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(crate::http::error::path_error_handler),
                )
                .configure(crate::http::routes)
                .configure(|cfg| crate::http::webapp::routes(cfg, &web_settings))
        };
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: format!("port {port}"),
            source,
        })?;
        // What actix-web's `HttpServer` builds, plus the upgrade service.
        let builder = actix_server::Server::build();
        // Keep-alive connections close as soon as a graceful stop begins.
        let stopping = builder.graceful_shutdown_signal();
        let mut server = builder
            .disable_signals()
            .shutdown_timeout(settings.server.shutdown_grace_secs)
            .max_concurrent_connections(accept_cap);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let http_workers = HttpWorkers::default();
        let registering = http_workers.clone();
        let server = server
            .listen("tandem", listener, move || {
                // Runs on each worker thread as it builds its services.
                registering.register_current();
                let app = actix_service::ServiceFactoryExt::map_err(
                    actix_service::IntoServiceFactory::into_factory(make_app()),
                    |e: actix_web::Error| e.error_response(),
                );
                let stopping = stopping.clone();
                actix_http::HttpService::build()
                    .graceful_shutdown_signal(move || {
                        let stopping = stopping.clone();
                        async move { stopping.notified().await }
                    })
                    .keep_alive(actix_http::KeepAlive::default())
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .h1_allow_half_closed(true)
                    .local_addr(local_addr)
                    .on_connect_ext(|tcp: &tokio::net::TcpStream, ext| {
                        // Real-time latency matters more than packet count.
                        let _ = tcp.set_nodelay(true);
                        // Its number only: one descriptor per connection (`transport::socket`).
                        use std::os::fd::AsRawFd;
                        ext.insert(crate::transport::socket::AcceptedFd(tcp.as_raw_fd()));
                        ext.insert(crate::fds::Counted::accepted());
                    })
                    .upgrade(crate::transport::upgrade::factory(make_app.clone()))
                    .finish(actix_service::map_config(app, |_| AppConfig::default()))
                    .tcp()
            })
            .map_err(|source| StartupError::Bind {
                addr: format!("port {port}"),
                source,
            })?
            .run();
        Ok(Application {
            port,
            server,
            services,
            db,
            notifier: Notifier::from_env(),
            http_workers,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Node services (tests use the registry for statistics).
    pub fn services(&self) -> Arc<Services> {
        self.services.clone()
    }

    /// The HTTP worker threads registered so far (each registers as it
    /// starts).
    pub fn http_workers(&self) -> HttpWorkers {
        self.http_workers.clone()
    }

    /// The database pool.
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// A handle that shuts the server down the way SIGTERM does.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            services: self.services.clone(),
            server: self.server.handle(),
            notifier: self.notifier.clone(),
        }
    }

    /// Runs until SIGTERM/SIGINT (or a [`ShutdownHandle`]) has shut it down.
    /// Under systemd (`Type=notify`) it reports `READY=1` here, when
    /// migrations have run and the listener is bound, and starts the watchdog.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        if let Some(notifier) = &self.notifier {
            notifier.send(&format!("READY=1\nSTATUS=listening on port {}", self.port));
            if let Some(every) = notifier.watchdog_interval() {
                crate::watchdog::start(
                    notifier.clone(),
                    self.services.clone(),
                    self.http_workers.clone(),
                    every,
                );
            }
        }
        let handle = self.shutdown_handle();
        actix_rt::spawn(async move {
            wait_for_signal().await;
            handle.shutdown().await;
        });
        self.server.await
    }
}

/// Triggers the graceful shutdown.
#[derive(Clone)]
pub struct ShutdownHandle {
    services: Arc<Services>,
    server: ServerHandle,
    notifier: Option<Notifier>,
}

impl ShutdownHandle {
    /// Closes every socket with 1012, stops accepting, lets in-flight
    /// requests finish and flushes pending database writes, all within
    /// `server.shutdown_grace_secs`.
    pub async fn shutdown(&self) {
        if let Some(notifier) = &self.notifier {
            notifier.send("STOPPING=1\nSTATUS=draining");
        }
        let grace = Duration::from_secs(self.services.settings.server.shutdown_grace_secs);
        let deadline = tokio::time::Instant::now() + grace;
        let closing = self.services.registry.send(Shutdown).await.unwrap_or(0);
        log::info!("shutting down: closing {closing} sockets");
        // Wait for the sockets to finish closing (or the grace period).
        while tokio::time::Instant::now() < deadline {
            match self.services.registry.send(GetStats).await {
                Ok(stats) if stats.connections + stats.streams > 0 => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                _ => break,
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let _ = tokio::time::timeout(left, self.services.log_writer.send(Flush)).await;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let yjs_flush = self.services.yjs.send(crate::actors::yjs_registry::Flush);
        let _ = tokio::time::timeout(left, yjs_flush).await;
        self.services.broker.stop();
        self.server.stop(true).await;
        // Last: the actor threads, once the actors' final writes are done.
        self.services.pool.stop();
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => log::info!("SIGTERM received"),
                _ = int.recv() => log::info!("SIGINT received"),
            }
        }
        _ => {
            log::error!("cannot install signal handlers; use Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Admin revocations in force (`user_revocations`) go into the
/// authenticator before the listener opens, so they survive a restart.
async fn load_revocations(db: &Db, auth: &Authenticator) -> Result<(), StartupError> {
    let mut conn = db.conn().await?;
    let rows = crate::db::revocations::active(&mut conn).await?;
    for (tenant, user, until) in &rows {
        auth.revoke(
            crate::ids::TenantId::new(tenant.as_str()),
            crate::ids::UserId::new(user.as_str()),
            until.timestamp(),
        );
    }
    if !rows.is_empty() {
        log::info!("{} user revocation(s) in force", rows.len());
    }
    Ok(())
}
