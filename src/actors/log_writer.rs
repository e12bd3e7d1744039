//! Writes user_presence_log rows in order and in batches, off every hot
//! path: presence actors hand rows over and never wait for the database.

use crate::db::schema::user_presence_log;
use crate::db::Db;
use actix::prelude::*;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::time::Duration;

/// One presence log row.
#[derive(Message, Insertable, Debug, Clone)]
#[rtype(result = "()")]
#[diesel(table_name = user_presence_log)]
pub struct PresenceLogRow {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// Connection (`c17`).
    pub connection_id: String,
    /// `connect`, `disconnect` or `status`.
    pub event: &'static str,
    /// Status at that moment.
    pub status: &'static str,
    /// Page.
    pub current_page: Option<String>,
    /// Entity type.
    pub current_entity_type: Option<String>,
    /// Entity id.
    pub current_entity_id: Option<String>,
    /// Device type.
    pub device_type: Option<String>,
    /// Browser.
    pub browser: Option<String>,
    /// Peer address.
    pub ip_address: Option<String>,
    /// When the connection opened.
    pub connected_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it closed.
    pub disconnected_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last activity of the user.
    pub last_activity_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the event happened.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Write everything buffered now; answers when done (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Rows written per insert at most.
const BATCH: usize = 500;
/// How often buffered rows are written.
const EVERY: Duration = Duration::from_millis(200);

/// The writer.
pub struct LogWriterActor {
    db: Db,
    buffer: Vec<PresenceLogRow>,
    writing: bool,
}

impl LogWriterActor {
    /// A writer over the pool.
    pub fn new(db: Db) -> Self {
        LogWriterActor {
            db,
            buffer: Vec::new(),
            writing: false,
        }
    }

    /// Starts one batch insert; the actor waits for it (rows stay in order)
    /// while its mailbox keeps buffering.
    fn write_batch(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.buffer.is_empty() {
            return;
        }
        let take = self.buffer.len().min(BATCH);
        let rows: Vec<PresenceLogRow> = self.buffer.drain(..take).collect();
        let db = self.db.clone();
        self.writing = true;
        ctx.wait(
            async move {
                let result = async {
                    let mut conn = db.conn().await?;
                    diesel::insert_into(user_presence_log::table)
                        .values(&rows)
                        .execute(&mut conn)
                        .await?;
                    Ok::<_, crate::db::DbError>(())
                }
                .await;
                if let Err(e) = result {
                    log::error!("failed to write {} presence log rows: {e}", rows.len());
                }
            }
            .into_actor(self)
            .map(|_, act, _| act.writing = false),
        );
    }
}

impl Actor for LogWriterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(EVERY, |act, ctx| act.write_batch(ctx));
    }
}

impl Handler<PresenceLogRow> for LogWriterActor {
    type Result = ();

    /// Buffers a row.
    fn handle(&mut self, row: PresenceLogRow, ctx: &mut Context<Self>) {
        self.buffer.push(row);
        if self.buffer.len() >= BATCH {
            self.write_batch(ctx);
        }
    }
}

impl Handler<Flush> for LogWriterActor {
    type Result = ResponseActFuture<Self, ()>;

    /// Writes every buffered row, then answers.
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        let rows: Vec<PresenceLogRow> = std::mem::take(&mut self.buffer);
        let db = self.db.clone();
        Box::pin(
            async move {
                for chunk in rows.chunks(BATCH) {
                    let result = async {
                        let mut conn = db.conn().await?;
                        diesel::insert_into(user_presence_log::table)
                            .values(chunk)
                            .execute(&mut conn)
                            .await?;
                        Ok::<_, crate::db::DbError>(())
                    }
                    .await;
                    if let Err(e) = result {
                        log::error!("failed to flush presence log rows: {e}");
                    }
                }
            }
            .into_actor(self),
        )
    }
}
