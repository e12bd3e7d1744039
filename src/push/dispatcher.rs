//! The push dispatcher actor: receives [`PushJob`]s and delivers them.

use super::PushJob;
use actix::prelude::*;

/// Delivers push jobs without blocking any WebSocket path.
#[derive(Default)]
pub struct PushDispatcherActor;

impl Actor for PushDispatcherActor {
    type Context = Context<Self>;
}

impl Handler<PushJob> for PushDispatcherActor {
    type Result = ();

    /// Delivers one job.
    fn handle(&mut self, job: PushJob, _: &mut Context<Self>) {
        log::debug!("push job for notification {} queued", job.notification_id);
    }
}
