//! The tower-sessions store over the app's own database (`db::sessions`).
//!
//! tower-sessions-sqlx-store pins an older sqlx, so this is our own: keyed
//! CRUD on `(id, data, expiry)`. Records are JSON; expired rows are ignored
//! on load and swept by [`SessionStore::delete_expired`].
//!
//! Writes go through the ledger's group-commit writer: a session saved
//! beside a stance shares the stance's transaction and fsync instead of
//! queueing for the write lock on its own. Each write announces
//! [`Change::Session`] on the bus, so the kept copy (SQLite, see
//! `web::cache`) is forgotten before the write is acknowledged.

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

use super::cache::Caches;
use crate::db::{self, Db, Ex};
use crate::error::Result;
use crate::ledger::bus::Change;
use crate::ledger::writer::Writer;

/// Session key holding the signed-in user's id.
pub const USER_KEY: &str = "user_id";
/// Session key holding the browser's User-Agent at sign-in.
pub const AGENT_KEY: &str = "agent";
/// Session key holding the client address at sign-in.
pub const ADDRESS_KEY: &str = "address";

/// What the row says besides the record: its account, browser, address.
fn meta(record: &Record) -> db::sessions::Meta {
    let text = |key: &str| {
        record
            .data
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    db::sessions::Meta {
        user_id: record.data.get(USER_KEY).and_then(|v| v.as_i64()),
        agent: text(AGENT_KEY),
        address: text(ADDRESS_KEY),
        seen_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    }
}

/// Sessions stored in the `sessions` table.
#[derive(Clone, Debug)]
pub struct SessionStore {
    db: Db,
    writer: Writer,
    caches: Arc<Caches>,
}

/// A session write, run in the writer's batch.
#[derive(Clone, Copy)]
enum Write {
    Insert,
    Update,
    Delete,
}

impl SessionStore {
    /// A store reading from `db`, writing through `writer` and keeping
    /// records in `caches`.
    pub fn new(db: Db, writer: Writer, caches: Arc<Caches>) -> Self {
        Self { db, writer, caches }
    }

    /// Runs one write of session `id` in the writer's next batch; rows
    /// affected.
    async fn submit(
        &self,
        write: Write,
        id: Id,
        data: Vec<u8>,
        expiry: i64,
        meta: db::sessions::Meta,
    ) -> Result<u64> {
        self.writer
            .submit(move |conn: Ex<'_>| {
                Box::pin(async move {
                    let key = id.to_string();
                    let rows = match write {
                        Write::Insert => {
                            db::sessions::insert(conn, &key, &data, expiry, &meta).await?
                        }
                        Write::Update => {
                            db::sessions::update(conn, &key, &data, expiry, &meta).await?
                        }
                        Write::Delete => db::sessions::delete(conn, &key).await.map(|()| 1)?,
                    };
                    crate::ledger::note_change(Change::Session { id: id.0 });
                    Ok(rows)
                })
            })
            .await
    }
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl session_store::SessionStore for SessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128 random bits; on the astronomically unlikely collision,
        // draw a new one rather than overwrite someone else's session.
        loop {
            let inserted = self
                .submit(
                    Write::Insert,
                    record.id,
                    encode(record)?,
                    record.expiry_date.unix_timestamp(),
                    meta(record),
                )
                .await
                .map_err(backend)?;
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // An update, never an insert: a session deleted meanwhile (signed
        // out from another tab) stays deleted. New sessions go through
        // `create`.
        let saved = self
            .submit(
                Write::Update,
                record.id,
                encode(record)?,
                record.expiry_date.unix_timestamp(),
                meta(record),
            )
            .await;
        match saved {
            Ok(_) => {}
            // A page read while the disk is full or read-only must still
            // show: what a view changes in its session (the daily touch of
            // the expiry, a secret shown once forgotten) is lost, and the
            // session stays as it was. A change the user asked for fails
            // on its own write and says so.
            Err(crate::error::Error::Unwritable) => {
                tracing::warn!("a session update was not saved: the database cannot be written");
            }
            Err(err) => return Err(backend(err)),
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let kept = self.caches.sessions.as_ref();
        if let Some(record) = kept.and_then(|k| k.get(id))
            && record.expiry_date.unix_timestamp() > now
        {
            return Ok(Some(record));
        }
        let version = kept.map(|k| k.version());
        let record: Option<Record> = db::sessions::load(self.db.reader(), &id.to_string(), now)
            .await
            .map_err(backend)?
            .map(|data| {
                serde_json::from_slice(&data)
                    .map_err(|e| session_store::Error::Decode(e.to_string()))
            })
            .transpose()?;
        if let (Some(kept), Some(version), Some(record)) = (kept, version, &record) {
            kept.keep(*id, record.clone(), None, version);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.submit(Write::Delete, *id, Vec::new(), 0, Default::default())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.writer
            .submit(move |conn| {
                Box::pin(async move { Ok(db::sessions::delete_expired(conn, now).await?) })
            })
            .await
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use tower_sessions::SessionStore as _;
    use tower_sessions::session::{Id, Record};

    use super::SessionStore;
    use crate::db::Db;
    use crate::ledger::Ledger;

    /// A save that comes after a delete (a page saving its session while
    /// another tab signs out) does not bring the session back, neither in
    /// the database nor in what this server keeps.
    #[tokio::test]
    async fn a_session_deleted_stays_deleted_whatever_is_saved_after() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let db = Db::connect(&url).await.expect("database");
        let ledger = Ledger::new(db.clone()).await.expect("ledger");
        let caches = std::sync::Arc::new(crate::web::cache::Caches::new(true));
        ledger.bus().attach(caches.clone());
        let store = SessionStore::new(db.clone(), ledger.writer().clone(), caches);
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(1),
        };
        store.create(&mut record).await.expect("create");
        assert!(store.load(&record.id).await.expect("load").is_some());
        store.delete(&record.id).await.expect("delete");
        record
            .data
            .insert("seen_day".into(), serde_json::json!(20_000));
        store.save(&record).await.expect("save");
        assert_eq!(store.load(&record.id).await.expect("load"), None);
        let caches = std::sync::Arc::new(crate::web::cache::Caches::new(true));
        let fresh = SessionStore::new(db, ledger.writer().clone(), caches);
        assert_eq!(
            fresh.load(&record.id).await.expect("load"),
            None,
            "nor stored"
        );
    }
}
