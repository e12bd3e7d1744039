//! Pure collaborative-editing logic, with no actix in it: the OT text type
//! ([`ot`]), the server-authoritative revision log ([`history`]), a whole
//! document with text and structured fields, undo/redo and snapshots
//! ([`document`]), and the edit-lock table ([`locks`]).

pub mod document;
pub mod history;
pub mod locks;
pub mod ot;
