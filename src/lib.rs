//! Tandem: a real-time collaboration server on Actix actors.
//!
//! Web apps connect over WebSocket (a JSON protocol, `docs/protocol.md`) for
//! presence, rooms, live cursors, typing and editing indicators; services
//! and admins use the REST API under `/api/v1`.
//!
//! # Layout
//! - [`config`]: typed settings from `config.toml` plus `TANDEM__SECTION__KEY` overrides.
//! - [`startup`]: `Application::build` binds the listener, starts the node's actors, runs
//!   until SIGTERM/SIGINT, then shuts down gracefully (sockets closed with 1012).
//! - [`auth`]: JWT verification and issuing, token extraction, the REST [`auth::Principal`].
//! - [`ids`]: newtype ids (`UserId`, `TenantId`, `RoomId`, `ConnectionId`).
//! - [`protocol`]: wire types only: `ClientMessage`, `ServerMessage`, error and close codes.
//! - [`actors`]: the actor tree (registry, connection, SSE stream, presence, roster, room,
//!   document session, log writer, and the Yjs registry, documents and sockets);
//!   `actors/mod.rs` draws it.
//! - [`broker`]: every delivery to other connections; the in-process broker and the
//!   per-connection outbound bound (slow consumers).
//! - [`limits`]: the token bucket and flood detector (pure).
//! - [`presence_state`]: the presence state machine (pure).
//! - [`collab`]: the OT text type, revision log, document state (text and structured
//!   fields, undo/redo, snapshots) and edit-lock table (pure).
//! - [`db`]: the pool, embedded migrations, readiness, generated `schema.rs`.
//! - [`http`]: REST handlers by resource, health checks, the WebSocket upgrades
//!   (`/ws`, and `/yjs/{document}` for y-websocket clients), the SSE stream; one
//!   route table (`http::table`) for the router and the OpenAPI spec (`http::openapi`,
//!   Swagger UI at `/docs`); the admin API and its permission model (`http::admin`);
//!   `http::webapp`: the demo web app at `/` and its development sign-in `POST /dev/token`.
//! - [`push`]: Web Push, FCM and email delivery behind one dispatcher (its own arbiter);
//!   subscriptions and notification email addresses (REST in `http::push`).
//! - [`notify`]: notifications (store, deliver, read marks, channel settings) and the
//!   activity feed; SSE stream positions.
//! - [`clock`]: monotonic milliseconds and wire timestamps.
//! - [`telemetry`]: Prometheus metrics (`GET /metrics`, token-guarded) and their hooks.
//! - [`systemd`]: the sd_notify protocol (`READY`, `WATCHDOG`, `STOPPING`) for `Type=notify`.

pub mod actors;
pub mod auth;
pub mod broker;
pub mod clock;
pub mod collab;
pub mod config;
pub mod db;
pub mod http;
pub mod ids;
pub mod limits;
pub mod notify;
pub mod presence_state;
pub mod protocol;
pub mod push;
pub mod startup;
pub mod systemd;
pub mod telemetry;
