//! Pure collaborative-editing logic, with no actix in it: the OT text type
//! ([`ot`]) and the server-authoritative revision log ([`history`]).

pub mod history;
pub mod ot;
