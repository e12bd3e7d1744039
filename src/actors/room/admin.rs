//! The room's admin query: everything live about it at once (the admin
//! API's room view). Read-only; the document part is asked of the session
//! by the HTTP layer through [`super::GetDocumentInfo`].

use super::RoomActor;
use crate::protocol::server::{CursorView, EditorView, MemberView, TypingView};
use actix::prelude::*;

/// Members, cursors, typing and editing of the room.
#[derive(Message)]
#[rtype(result = "RoomSnapshot")]
pub struct GetRoomSnapshot;

/// What [`GetRoomSnapshot`] returns.
#[derive(Debug, Clone, serde::Serialize, actix::MessageResponse)]
pub struct RoomSnapshot {
    /// Members, one per user with their connections (on every node of a
    /// cluster).
    pub members: Vec<MemberView>,
    /// Member connections on this node.
    pub connections: usize,
    /// Cursors of member connections (on every node of a cluster).
    pub cursors: Vec<CursorView>,
    /// Who is typing.
    pub typing: Vec<TypingView>,
    /// Who is editing which field.
    pub editors: Vec<EditorView>,
    /// A document session is open.
    pub document_session: bool,
}

impl Handler<GetRoomSnapshot> for RoomActor {
    type Result = RoomSnapshot;

    /// The room as it is now.
    fn handle(&mut self, _: GetRoomSnapshot, _: &mut Context<Self>) -> RoomSnapshot {
        RoomSnapshot {
            members: self.members_view(),
            connections: self.members.len(),
            cursors: self
                .members
                .values()
                .filter_map(|m| m.cursor.as_ref().map(|c| c.view.clone()))
                .chain(self.remote_cursors())
                .collect(),
            typing: self.typing_view(),
            editors: self.editors_view(),
            document_session: self.document.as_ref().is_some_and(|d| d.connected()),
        }
    }
}
