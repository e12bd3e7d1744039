//! The document's persistence: loading its rows, and the writer task that
//! appends changes and writes snapshots in order, off the actor's mailbox,
//! and tells the actor ([`Stored`]) how far it has got, so the actor relays
//! a change only once it is stored.

use super::{DocRetired, RegistryLink};
use super::{Stored, YjsDocId};
use crate::db::schema::yjs_updates;
use crate::db::{Db, DbError};
use actix::prelude::*;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Update rows written per insert at most.
const WRITE_BATCH: usize = 100;

/// A write for the document's writer task. Every write carries the
/// actor's sequence number for it; the writer reports the highest one
/// stored with [`Stored`].
pub(super) enum WriteOp {
    /// Rows the loaded document holds (a snapshot may delete them), and
    /// where to report stored writes (sent first, before any write).
    Loaded(Vec<i64>, Recipient<Stored>),
    /// One update row.
    Append(u64, Vec<u8>),
    /// A snapshot row replacing every older row.
    Compact(u64, Vec<u8>),
}

/// Every stored row of a document, oldest first.
pub(super) async fn load(db: &Db, id: &YjsDocId) -> Result<Vec<(i64, Vec<u8>)>, DbError> {
    let mut conn = db.conn().await?;
    let rows = yjs_updates::table
        .filter(yjs_updates::tenant_id.eq(id.tenant.as_str()))
        .filter(yjs_updates::document_name.eq(&*id.name))
        .order(yjs_updates::id.asc())
        .select((yjs_updates::id, yjs_updates::payload))
        .load::<(i64, Vec<u8>)>(&mut conn)
        .await?;
    Ok(rows)
}

/// Writes one document's rows in order, batching appends, until the actor
/// drops its sender; then signals `done` and tells the registry.
///
/// It tracks which rows the document's state holds (loaded, then written
/// here): a snapshot deletes exactly those, never a row someone else wrote
/// meanwhile (another node, a row that could not be loaded).
pub(super) async fn run_writer(
    db: Db,
    id: YjsDocId,
    generation: u64,
    registry: RegistryLink,
    mut ops: mpsc::UnboundedReceiver<WriteOp>,
    done: watch::Sender<bool>,
) {
    let mut covered: Vec<i64> = Vec::new();
    let mut report: Option<Recipient<Stored>> = None;
    let mut next = ops.recv().await;
    while let Some(op) = next.take() {
        let stored = match op {
            WriteOp::Loaded(ids, to) => {
                covered.extend(ids);
                report = Some(to);
                None
            }
            WriteOp::Append(seq, first) => {
                let mut last = seq;
                let mut batch = vec![first];
                while batch.len() < WRITE_BATCH {
                    match ops.try_recv() {
                        Ok(WriteOp::Append(seq, more)) => {
                            last = seq;
                            batch.push(more);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let ids = until_written(&id, || append(&db, &id, &batch)).await;
                covered.extend(ids);
                Some(last)
            }
            WriteOp::Compact(seq, state) => {
                let snapshot = until_written(&id, || compact(&db, &id, &state, &covered)).await;
                covered = vec![snapshot];
                Some(seq)
            }
        };
        if let (Some(seq), Some(to)) = (stored, &report) {
            // The actor may have stopped (its sockets are gone): nobody to tell.
            to.do_send(Stored(seq));
        }
        if next.is_none() {
            next = ops.recv().await;
        }
    }
    done.send_replace(true);
    registry.retired.do_send(DocRetired {
        doc: id,
        generation,
    });
}

/// Longest wait between two attempts of a failed Yjs write.
pub const MAX_WRITE_BACKOFF: Duration = Duration::from_secs(5);

/// Runs a write until it succeeds: an update that was applied and relayed
/// is never given up (a stopped PostgreSQL delays it, and the rows after it
/// wait in order), so nothing a client saw accepted is lost. Backoff doubles
/// from 100 ms up to [`MAX_WRITE_BACKOFF`].
async fn until_written<T, F, Fut>(id: &YjsDocId, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut failures: u64 = 0;
    loop {
        match write().await {
            Ok(value) => {
                if failures > 0 {
                    log::info!("yjs {id}: write succeeded after {failures} failures");
                }
                return value;
            }
            Err(e) => {
                failures += 1;
                log::warn!(
                    "yjs {id}: write failed (attempt {failures}, retrying in {delay:?}): {e}"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_WRITE_BACKOFF);
            }
        }
    }
}

/// Inserts update rows; returns their ids.
async fn append(db: &Db, id: &YjsDocId, payloads: &[Vec<u8>]) -> Result<Vec<i64>, DbError> {
    let mut conn = db.conn().await?;
    let rows: Vec<_> = payloads
        .iter()
        .map(|p| {
            (
                yjs_updates::tenant_id.eq(id.tenant.as_str()),
                yjs_updates::document_name.eq(&*id.name),
                yjs_updates::payload.eq(p.as_slice()),
                yjs_updates::is_snapshot.eq(false),
            )
        })
        .collect();
    let ids = diesel::insert_into(yjs_updates::table)
        .values(&rows)
        .returning(yjs_updates::id)
        .get_results(&mut conn)
        .await?;
    Ok(ids)
}

/// Inserts a snapshot row and deletes the rows it replaces (`covered`), in
/// one transaction; returns the snapshot's id.
async fn compact(db: &Db, id: &YjsDocId, state: &[u8], covered: &[i64]) -> Result<i64, DbError> {
    let mut conn = db.conn().await?;
    let tenant = id.tenant.as_str().to_owned();
    let name = id.name.to_string();
    let state = state.to_vec();
    let covered = covered.to_vec();
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let snapshot: i64 = diesel::insert_into(yjs_updates::table)
            .values((
                yjs_updates::tenant_id.eq(&tenant),
                yjs_updates::document_name.eq(&name),
                yjs_updates::payload.eq(&state),
                yjs_updates::is_snapshot.eq(true),
            ))
            .returning(yjs_updates::id)
            .get_result(conn)
            .await?;
        diesel::delete(
            yjs_updates::table
                .filter(yjs_updates::tenant_id.eq(&tenant))
                .filter(yjs_updates::document_name.eq(&name))
                .filter(yjs_updates::id.eq_any(&covered)),
        )
        .execute(conn)
        .await?;
        Ok(snapshot)
    })
    .await
    .map_err(DbError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    #[actix_rt::test]
    async fn a_failing_write_is_retried_until_it_succeeds() {
        let id = YjsDocId {
            tenant: TenantId::new("t1"),
            name: "doc".into(),
        };
        let attempts = std::cell::Cell::new(0);
        let value = until_written(&id, || {
            attempts.set(attempts.get() + 1);
            let n = attempts.get();
            async move {
                if n < 5 {
                    Err(DbError::Unavailable("postgres stopped".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        // Four failures (the old budget gave up after three) and then success.
        assert_eq!(value, 5);
    }
}
