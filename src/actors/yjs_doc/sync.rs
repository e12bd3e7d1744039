//! The document's side of the y-websocket sync protocol: answering sync
//! step 1, and applying a client's update (size limit first, then yrs with
//! its panics caught), relaying and storing what it changed.

use super::apply::{self, Applied};
use super::persist::WriteOp;
use super::{DocState, Held, YjsDocActor, COMPACT_EVERY};
use crate::actors::yjs_peer::{yjs_close_code, YjsConnId};
use actix::prelude::*;
use actix_web::web::Bytes;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{StateVector, Update};

impl YjsDocActor {
    pub(super) fn on_sync_step1(
        &mut self,
        conn: YjsConnId,
        sv: StateVector,
        ctx: &mut Context<Self>,
    ) {
        let Some((update, ours)) = apply::encode_diff(self.awareness.doc(), &sv) else {
            log::error!("yjs {}: yrs panicked answering sync step 1", self.id);
            self.fail(DocState::Poisoned);
            return;
        };
        let step2 = Bytes::from(Message::Sync(SyncMessage::SyncStep2(update)).encode_v1());
        let step1 = Bytes::from(Message::Sync(SyncMessage::SyncStep1(ours)).encode_v1());
        // The state may hold changes not stored yet: answer once they are.
        let frames = [step2, step1];
        self.after_stored(self.written, Held::Reply { conn, frames }, ctx);
    }

    /// Stores a change, relays it to every socket but its sender once it is
    /// stored, and compacts every [`COMPACT_EVERY`] rows.
    pub(super) fn changed(&mut self, change: Vec<u8>, from: YjsConnId, ctx: &mut Context<Self>) {
        let frame = Bytes::from(Message::Sync(SyncMessage::Update(change.clone())).encode_v1());
        self.size.grew(change.len());
        let seq = self.write(|seq| WriteOp::Append(seq, change));
        self.after_stored(
            seq,
            Held::Relay {
                frame,
                from: Some(from),
            },
            ctx,
        );
        self.rows += 1;
        if self.rows >= COMPACT_EVERY {
            self.compact();
        }
    }

    /// Applies a client's update; broadcasts and persists what it changed.
    /// False when the socket was closed for it.
    pub(super) fn on_update(
        &mut self,
        conn: YjsConnId,
        update: Update,
        ctx: &mut Context<Self>,
    ) -> bool {
        // Storage is behind (PostgreSQL slow or down): refused before yrs
        // sees it, so nothing of it is applied, relayed or stored. The
        // client reconnects and sends it again.
        if self.pending_writes() >= self.max_pending {
            log::warn!(
                "yjs {}: update from {conn} refused: {} writes are waiting for storage",
                self.id,
                self.pending_writes()
            );
            if let Some(entry) = self.peers.get(&conn) {
                entry.peer.close(
                    yjs_close_code::TRY_AGAIN_LATER,
                    "storage behind; retry later",
                );
            }
            self.remove_peers(vec![conn], ctx);
            return false;
        }
        // The size limit is checked before yrs sees the update, so a refused
        // one is neither applied, relayed nor stored.
        let len = update.encode_v1().len();
        let doc = self.awareness.doc().clone();
        if !self
            .size
            .admits(len, || apply::encode_state(&doc).map(|state| state.len()))
        {
            log::info!(
                "yjs {}: update of {len} bytes from {conn} refused: the document would pass {} bytes",
                self.id,
                self.size.limit()
            );
            if let Some(entry) = self.peers.get(&conn) {
                entry
                    .peer
                    .close(yjs_close_code::DOCUMENT_TOO_LARGE, "document too large");
            }
            self.remove_peers(vec![conn], ctx);
            return false;
        }
        // What this update changed (nothing for duplicates, or for changes
        // still waiting for missing predecessors).
        match apply::apply_update(self.awareness.doc(), update) {
            Applied::Accepted(change) => {
                if let Some(change) = change {
                    self.changed(change, conn, ctx);
                }
                true
            }
            Applied::Refused { error, partial } => {
                log::debug!("yjs {}: update from {conn} refused: {error}", self.id);
                // What yrs integrated before the failing block stays in the
                // document: it is relayed and stored like any change, so the
                // other sockets and the database keep the same state.
                if let Some(partial) = partial {
                    self.changed(partial, conn, ctx);
                }
                if let Some(entry) = self.peers.get(&conn) {
                    entry
                        .peer
                        .close(yjs_close_code::UNSUPPORTED_DATA, "update refused");
                }
                self.remove_peers(vec![conn], ctx);
                false
            }
            Applied::Panicked => {
                // A crafted update made yrs panic. Its sender is closed with
                // 1003 and nothing of the update is broadcast or stored. The
                // unwound transaction can have left part of the update in the
                // document (tests/yjs_fuzz.rs found such
                // updates), so the in-memory document is no longer trusted:
                // the other sockets get 1011 and the document is reloaded
                // from what was stored, which every client already has.
                log::error!(
                    "yjs {}: yrs panicked applying an update from {conn}; reloading the document",
                    self.id
                );
                if let Some(entry) = self.peers.get(&conn) {
                    entry
                        .peer
                        .close(yjs_close_code::UNSUPPORTED_DATA, "update refused");
                }
                self.remove_peers(vec![conn], ctx);
                self.fail(DocState::Poisoned);
                false
            }
        }
    }
}
