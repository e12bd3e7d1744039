//! Rooms and documents from the connection's side: `doc:*` requests sent
//! to the session directly once the room handed its address over, other
//! room messages to the room, and a dead room forgotten (`not_in_room`, so
//! the client's rejoin reaches the fresh one).

use super::*;

/// Members per `room:members` page when the request names no `limit`.
const DEFAULT_MEMBERS_PAGE: u64 = 100;
/// The largest `limit` a `room:members` request may ask for.
const MAX_MEMBERS_PAGE: u64 = 500;

impl ConnectionActor {
    /// Sends a document request to the room's session: directly once the
    /// room handed over its address, through the room before that. The
    /// session replies (through the room) with an ack, an error or a typed
    /// reply.
    pub(super) fn doc(
        &mut self,
        ctx: &mut SocketContext<Self>,
        r#ref: Option<Ref>,
        room: Option<RoomId>,
        command: DocCommand,
    ) {
        let field = match &command {
            DocCommand::Edit { field, .. }
            | DocCommand::Set { field, .. }
            | DocCommand::Undo { field }
            | DocCommand::Redo { field } => Some(field),
            DocCommand::Lock { field, .. } | DocCommand::Unlock { field } => field.as_ref(),
            DocCommand::Sync => None,
        };
        if field.is_some_and(|f| f.is_empty() || f.len() > 128) {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                "`field` must be 1 to 128 bytes",
            );
        }
        if let DocCommand::Edit { client_id, .. } = &command {
            if client_id.is_empty() || client_id.len() > 128 {
                return self.send_error(
                    ctx,
                    r#ref,
                    ErrorCode::InvalidField,
                    "`client_id` must be 1 to 128 bytes",
                );
            }
        }
        let (Some(room), Some(room_addr), Some(handle)) = (
            room.as_ref(),
            self.live_room(room.as_ref()),
            self.handle.clone(),
        ) else {
            return self.not_in_room(ctx, r#ref);
        };
        if matches!(command, DocCommand::Edit { .. }) {
            self.doc_edits_sent += 1;
        }
        let request = DocRequest {
            reply: Some(handle),
            user: self.principal.user.clone(),
            name: self.principal.name.clone(),
            r#ref,
            command,
            sent_edits: self.doc_edits_sent,
        };
        let route = self
            .documents
            .get_or_insert_with(room.clone(), DocRoute::default);
        match &route.addr {
            Some(doc) if route.via_room == 0 && doc.connected() => doc.do_send(request),
            _ => {
                // The first request, or the session was restarted.
                route.addr = None;
                route.via_room += 1;
                room_addr.do_send(ForDocument {
                    request,
                    opened: ctx.address().recipient(),
                });
            }
        }
    }

    /// `room:members`: a page of the room's members, answered by the room
    /// (in order with its other frames).
    pub(super) fn list_members(
        &mut self,
        ctx: &mut SocketContext<Self>,
        r#ref: Option<Ref>,
        room: Option<RoomId>,
        after: Option<String>,
        limit: Option<u64>,
    ) {
        let limit = limit.unwrap_or(DEFAULT_MEMBERS_PAGE);
        if !(1..=MAX_MEMBERS_PAGE).contains(&limit) {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                format!("`limit` must be 1 to {MAX_MEMBERS_PAGE}"),
            );
        }
        if after
            .as_ref()
            .is_some_and(|a| a.is_empty() || a.len() > 256)
        {
            return self.send_error(
                ctx,
                r#ref,
                ErrorCode::InvalidField,
                "`after` must be 1 to 256 bytes",
            );
        }
        match (self.live_room(room.as_ref()), self.handle.clone()) {
            (Some(addr), Some(reply)) => addr.do_send(ListMembers {
                connection: self.id,
                reply,
                r#ref,
                after,
                limit: limit as usize,
            }),
            _ => self.not_in_room(ctx, r#ref),
        }
    }

    pub(super) fn send_to_room<M>(
        &mut self,
        ctx: &mut SocketContext<Self>,
        r#ref: Option<Ref>,
        room: Option<RoomId>,
        msg: M,
    ) where
        M: Message<Result = ()> + Send + 'static,
        RoomActor: Handler<M>,
    {
        match self.live_room(room.as_ref()) {
            Some(addr) => {
                addr.do_send(msg);
                self.ack(ctx, r#ref);
            }
            None => self.not_in_room(ctx, r#ref),
        }
    }

    /// The room's address while its actor runs. An actor that stopped
    /// unexpectedly is forgotten, so the request gets `not_in_room` and the
    /// client's `room:join` goes through the registry, which starts a fresh
    /// room.
    pub(super) fn live_room(&mut self, room: Option<&RoomId>) -> Option<Addr<RoomActor>> {
        let room = room?;
        match self.rooms.get(room) {
            Some(addr) if addr.connected() => Some(addr.clone()),
            Some(_) => {
                self.rooms.remove(room);
                self.room_interest(room.clone(), false);
                self.room_left(room);
                self.documents.remove(room);
                None
            }
            None => None,
        }
    }

    pub(super) fn not_in_room(&self, ctx: &mut SocketContext<Self>, r#ref: Option<Ref>) {
        self.send_error(
            ctx,
            r#ref,
            ErrorCode::NotInRoom,
            "join the room first (room:join)",
        );
    }
}
