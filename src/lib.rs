//! Tandem: a real-time collaboration server on Actix actors.
//!
//! Web apps connect over WebSocket (a JSON protocol, `docs/protocol.md`) for
//! presence, rooms, live cursors, typing and editing indicators; services
//! and admins use the REST API under `/api/v1`.
//!
//! # Layout
//! Dependencies point one way: `http` → `actors` → (`notify`, `push`,
//! `cluster` → `broker`) → (`protocol`, `collab`, `db`) → (`config`, `ids`, `clock`).
//!
//! - [`config`]: typed settings from `config.toml` plus `TANDEM__SECTION__KEY` overrides,
//!   one file per section group (`config/server.rs`, `auth.rs`, `collab.rs`, `push.rs`,
//!   `storage.rs`).
//! - [`startup`]: `Application::build` binds the listener, starts the node's actors, runs
//!   until SIGTERM/SIGINT, then shuts down gracefully (sockets closed with 1012).
//! - [`auth`]: JWT verification and issuing, token extraction, the [`auth::Principal`] and
//!   [`auth::AuthError`] (the REST extractor is in `http::principal`).
//! - [`ids`]: newtype ids (`UserId`, `TenantId`, `RoomId`, `ConnectionId`) and the
//!   stable key hash that picks an actor thread or a broker shard (`ids::shard_of`).
//! - [`protocol`]: wire types only: `ClientMessage`, `ServerMessage` (and its views),
//!   error and close codes, and [`protocol::Frame`], a message serialized once with its kind.
//! - [`actors`]: the actor tree; `actors/mod.rs` draws it. `actors/shell` is the socket
//!   shell every socket actor shares (limits, liveness, expiry, reassembly, close).
//!   A room owns its member list and delivers to its members itself, its document
//!   session's frames included (`actors::room` says why); members send `doc:*`
//!   requests to the session directly. In a cluster the rooms of one key on
//!   every node share their members, cursors, typing and editing over the
//!   room's topic (`actors::room::cluster_state`, pure, and `cluster_sync`),
//!   and a document has one owning session; the other nodes' sessions
//!   forward to it over the same topic (`actors::document::forward`).
//!   `actors::pool` is the actor pool: the
//!   arbiters (one per core, `server.actor_threads`) that rooms, their
//!   document sessions, presence actors, rosters, Yjs documents and the
//!   broker's shards run on, each chosen by a hash of the actor's key.
//! - [`broker`]: delivery types (`Deliver`, `CloseSocket`, the connection handle with
//!   its outbound bound, the per-connection stats the admin API lists in
//!   `broker::stats`) and tenant/user topics (notifications, activity); the
//!   in-process broker, sharded by tenant over the actor threads.
//! - [`cluster`]: several nodes over Redis: `cluster::bridge`, the broker that
//!   wraps the local one to reach the other nodes over Redis pub/sub (when
//!   `redis.url` is set); topic channel names, the envelope
//!   a frame crosses Redis in, which topics the node listens to (pure), the
//!   document leases (one writer per document), the per-user connection
//!   slots counted over every node, which nodes are alive (`cluster::nodes`)
//!   and each node's presence in Redis (`cluster::presence`).
//! - [`limits`]: the token bucket and flood detector (pure).
//! - [`presence_state`]: the presence state machine for one user (pure).
//! - [`roster_state`]: a tenant's roster (pure): batched diffs, `all` and
//!   `interest` mode (`roster_state/interest.rs`: subscriptions, room members,
//!   what each connection was shown; `roster_state/merge.rs`: one presence
//!   per user from every node of a cluster); the roster actor
//!   (`actors/roster/`) is its shell and the one place presence is sent from.
//! - [`memory`]: gives freed memory back to the OS after a connection storm.
//! - [`small_map`]: an ordered map that is a sorted vector while small (rooms'
//!   members, users' devices, rosters' users) and a `BTreeMap` when large.
//! - [`watchdog`]: what the systemd watchdog checks before each ping: the
//!   registry, every actor-pool thread and every HTTP worker thread answer
//!   (the notify protocol itself is [`systemd`]).
//! - [`fds`]: the open-files budget: `RLIMIT_NOFILE` raised at start, client
//!   connections counted, sockets refused (503) before descriptors run out.
//! - [`collab`]: the OT text type, revision log, document state (text and structured
//!   fields, undo/redo, snapshots) and edit-lock table (pure).
//! - [`db`]: the pool, embedded migrations, readiness, generated `schema.rs`, query
//!   timing (`db::instrument`), admin revocations (`db::revocations`).
//! - [`http`]: REST handlers by resource, the REST error enum (`http::error`), the
//!   `Principal` extractor, one connection-slot admission for every socket, health
//!   checks, the WebSocket upgrades (`/ws`, and `/yjs/{document}` for y-websocket
//!   clients), the SSE stream; one route table (`http::table`) for the router and the
//!   OpenAPI spec (`http::openapi`, Swagger UI at `/docs`); the admin API and its
//!   permission model (`http::admin`: connections and revocations, rooms and
//!   documents, system messages in its submodules); `http::webapp`: the demo web app at `/` and its
//!   development sign-in `POST /dev/token`.
//! - [`push`]: Web Push, FCM and email delivery behind one dispatcher (its own arbiter);
//!   subscriptions and notification email addresses (REST in `http::push`).
//! - [`notify`]: notifications (validate, store, deliver, settings) and the activity
//!   feed, given a `notify::Notifier` (database, broker, presence query, push); SSE
//!   stream positions; `notify::unread`: tenants known to have nothing unread (no
//!   count query on connect). Returns `NotifyError`, never HTTP errors.
//! - [`clock`]: monotonic milliseconds and wire timestamps.
//! - [`telemetry`]: Prometheus metrics (`GET /metrics`, token-guarded) and their hooks.
//! - [`transport`]: the WebSocket transport. actix-http hands each upgraded
//!   connection over (`transport::upgrade`, after the `/ws` or `/yjs` handler
//!   accepted it); the socket actor then runs in a [`transport::SocketContext`]
//!   that writes its frames to the socket itself, a turn's frames in one
//!   write, and a reader that decodes the client's frames. Rooms write
//!   their frames into a member socket's shared output (`transport::sink`)
//!   from their own thread, without a message to the connection's actor.
//!   `transport::socket` is the reference that cuts a stalled peer through its
//!   one descriptor. `transport::liveness` pings quiet sockets and times out
//!   silent ones from one deadline sweep per thread.
//! - [`systemd`]: the sd_notify protocol (`READY`, `WATCHDOG`, `STOPPING`) for `Type=notify`.

pub mod actors;
pub mod auth;
pub mod broker;
pub mod clock;
pub mod cluster;
pub mod collab;
pub mod config;
pub mod db;
pub mod fds;
pub mod http;
pub mod ids;
pub mod limits;
pub mod memory;
pub mod notify;
pub mod presence_state;
pub mod protocol;
pub mod push;
pub mod roster_state;
pub mod small_map;
pub mod startup;
pub mod systemd;
pub mod telemetry;
pub mod transport;
pub mod watchdog;
