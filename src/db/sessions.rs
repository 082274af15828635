//! The tower-sessions store over the app's own database.
//!
//! tower-sessions-sqlx-store pins an older sqlx, so this is our own: keyed
//! CRUD on `(id, data, expiry)`. Records are JSON; expired rows are ignored
//! on load and swept by [`SessionStore::delete_expired`].
//!
//! Writes go through the ledger's group-commit writer: a session saved
//! beside a stance shares the stance's transaction and fsync instead of
//! queueing for the write lock on its own.
//!
//! On SQLite, where this server is the database's only writer, sessions are
//! also kept in memory ([`Kept`]): a page view then reads none. Several
//! instances share a PostgreSQL database, and a sign-out on one must end
//! the session on all at once, so there every load reads the table.

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

use super::kept::Kept;
use super::{Backend, Db};
use crate::ledger::writer::Writer;
use crate::on;

/// Sessions stored in the `sessions` table.
#[derive(Clone, Debug)]
pub struct SessionStore {
    db: Db,
    writer: Writer,
    kept: Option<Arc<Kept<Id, Record>>>,
}

/// Sessions kept in memory (SQLite).
const KEPT: usize = 10_000;

impl SessionStore {
    /// A store reading from `db` and writing through `writer`.
    pub fn new(db: Db, writer: Writer) -> Self {
        let kept = match db.backend() {
            Backend::Sqlite => Some(Arc::new(Kept::new(KEPT, super::kept::TTL))),
            Backend::Postgres => None,
        };
        Self { db, writer, kept }
    }

    /// Runs `sql` with `args` in the writer's next batch; rows affected.
    async fn write(&self, sql: &'static str, args: Vec<Arg>) -> session_store::Result<u64> {
        self.submit(sql, args).await.map_err(backend)
    }

    /// [`SessionStore::write`] with the app's error, which tells a disk
    /// that cannot be written from other failures.
    async fn submit(&self, sql: &'static str, args: Vec<Arg>) -> crate::error::Result<u64> {
        self.writer
            .submit(move |mut conn| {
                Box::pin(async move {
                    Ok(on!(conn, |c| {
                        let mut query = sqlx::query(sql);
                        for arg in &args {
                            query = match arg {
                                Arg::Text(t) => query.bind(t.clone()),
                                Arg::Bytes(b) => query.bind(b.clone()),
                                Arg::Int(i) => query.bind(*i),
                            };
                        }
                        query.execute(c).await.map(|r| r.rows_affected())
                    })?)
                })
            })
            .await
    }
}

/// A parameter of a session statement.
enum Arg {
    Text(String),
    Bytes(Vec<u8>),
    Int(i64),
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
                .write(
                    "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    vec![
                        Arg::Text(record.id.to_string()),
                        Arg::Bytes(encode(record)?),
                        Arg::Int(record.expiry_date.unix_timestamp()),
                    ],
                )
                .await?;
            if inserted == 1 {
                if let Some(kept) = &self.kept {
                    kept.put(record.id, record.clone());
                }
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
                "UPDATE sessions SET data = $2, expiry_date = $3 WHERE id = $1",
                vec![
                    Arg::Text(record.id.to_string()),
                    Arg::Bytes(encode(record)?),
                    Arg::Int(record.expiry_date.unix_timestamp()),
                ],
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
        // Forgotten, not replaced: a save and a delete answered from the
        // same batch may finish in either order, and the next load reads
        // what the database kept.
        if let Some(kept) = &self.kept {
            kept.forget(&record.id);
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let version = match &self.kept {
            Some(kept) => match kept.get(id) {
                Some(record) if record.expiry_date.unix_timestamp() > now => {
                    return Ok(Some(record));
                }
                _ => Some(kept.version()),
            },
            None => None,
        };
        let load = async {
            on!(self.db.reader(), |c| sqlx::query_as(
                "SELECT data FROM sessions WHERE id = $1 AND expiry_date > $2"
            )
            .bind(id.to_string())
            .bind(now)
            .fetch_optional(c)
            .await)
        };
        let row: Option<(Vec<u8>,)> = load.await.map_err(backend)?;
        let record: Option<Record> = row
            .map(|(data,)| {
                serde_json::from_slice(&data)
                    .map_err(|e| session_store::Error::Decode(e.to_string()))
            })
            .transpose()?;
        if let (Some(kept), Some(version), Some(record)) = (&self.kept, version, &record) {
            kept.keep(*id, record.clone(), version);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.write(
            "DELETE FROM sessions WHERE id = $1",
            vec![Arg::Text(id.to_string())],
        )
        .await?;
        if let Some(kept) = &self.kept {
            kept.forget(id);
        }
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.write(
            "DELETE FROM sessions WHERE expiry_date <= $1",
            vec![Arg::Int(now)],
        )
        .await?;
        Ok(())
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
        let store = SessionStore::new(db.clone(), ledger.writer().clone());
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
        let fresh = SessionStore::new(db, ledger.writer().clone());
        assert_eq!(
            fresh.load(&record.id).await.expect("load"),
            None,
            "nor stored"
        );
    }
}
