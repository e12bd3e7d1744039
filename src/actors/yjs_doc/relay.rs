//! Store before relay, on the actor's side: changes handed to the writer
//! task (`persist.rs`) by sequence number, frames held until the write they
//! depend on is stored, the initial load's outcome and failure.

use super::*;

impl YjsDocActor {
    pub(super) fn send_op(&mut self, op: WriteOp) {
        if let Some(writer) = &self.writer {
            if writer.send(op).is_err() {
                log::error!("yjs {}: writer gone; change not persisted", self.id);
            }
        }
    }

    /// Hands a write to the writer; returns its sequence number.
    pub(super) fn write(&mut self, op: impl FnOnce(u64) -> WriteOp) -> u64 {
        self.written += 1;
        let seq = self.written;
        self.send_op(op(seq));
        seq
    }

    /// Writes handed to the writer and not stored yet.
    pub(super) fn pending_writes(&self) -> u64 {
        self.written.saturating_sub(self.stored)
    }

    /// Sends `held` once write `seq` is stored (at once if it is).
    pub(super) fn after_stored(&mut self, seq: u64, held: Held, ctx: &mut Context<Self>) {
        self.held.push_back((seq, held));
        self.release(ctx);
    }

    /// Sends the frames whose writes are stored, in order.
    pub(super) fn release(&mut self, ctx: &mut Context<Self>) {
        while self
            .held
            .front()
            .is_some_and(|(seq, _)| *seq <= self.stored)
        {
            let Some((_, held)) = self.held.pop_front() else {
                break;
            };
            match held {
                Held::Relay { frame, from } => {
                    self.broadcast(&frame, from, ctx);
                    if from.is_some() {
                        // A local socket's change, now stored: for the other nodes.
                        self.publish('u', &frame);
                    }
                }
                Held::Reply { conn, frames } => {
                    let [first, second] = frames;
                    if !(self.send_to(conn, first) && self.send_to(conn, second)) {
                        self.remove_peers(vec![conn], ctx);
                    }
                }
            }
        }
    }

    /// Applies the rows loaded from the database and starts serving.
    pub(super) fn loaded(
        &mut self,
        rows: Result<Vec<(i64, Vec<u8>)>, DbError>,
        ctx: &mut Context<Self>,
    ) {
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                log::error!("yjs {}: cannot load the document: {e}", self.id);
                self.fail(DocState::Failed);
                return;
            }
        };
        let doc = self.awareness.doc().clone();
        let payloads: Vec<&[u8]> = rows.iter().map(|(_, p)| p.as_slice()).collect();
        let out = apply::apply_rows(&doc, &payloads);
        if out.panicked {
            log::error!("yjs {}: yrs panicked on a stored row", self.id);
            self.fail(DocState::Poisoned);
            return;
        }
        // Refused rows stay in the table: a snapshot only replaces rows it holds.
        for (i, error) in &out.refused {
            log::warn!(
                "yjs {}: stored row {} skipped: {error}",
                self.id,
                rows[*i].0
            );
        }
        let applied_ids: Vec<i64> = out.applied.iter().map(|i| rows[*i].0).collect();
        log::debug!(
            "yjs {}: loaded {} of {} rows",
            self.id,
            applied_ids.len(),
            rows.len()
        );
        self.rows = applied_ids.len();
        let loaded_bytes = rows.iter().map(|(_, payload)| payload.len()).sum();
        self.size
            .measured(apply::encode_state(&doc).map_or(loaded_bytes, |state| state.len()));
        self.send_op(WriteOp::Loaded(applied_ids, ctx.address().recipient()));
        self.state = DocState::Ready;
        if self.rows >= COMPACT_EVERY {
            self.compact();
        }
        if self.peers.is_empty() {
            self.arm_idle(ctx);
        }
        // What other nodes stored before this node's subscription took effect.
        self.catch_up(super::cluster::CATCH_UP_AFTER, ctx);
    }

    /// Stops serving: closes every socket and asks the registry to retire this actor.
    pub(super) fn fail(&mut self, state: DocState) {
        self.state = state;
        for (_, entry) in self.peers.drain() {
            entry
                .peer
                .close(yjs_close_code::INTERNAL_ERROR, "document unavailable");
        }
        self.owners.clear();
        self.held.clear();
        self.registry.failed.do_send(DocFailed {
            doc: self.id.clone(),
            generation: self.generation,
        });
    }
}
