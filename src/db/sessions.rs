//! The tower-sessions store over the app's own database.
//!
//! tower-sessions-sqlx-store pins an older sqlx, so this is our own: keyed
//! CRUD on `(id, data, expiry)`. Records are JSON; expired rows are ignored
//! on load and swept by [`SessionStore::delete_expired`].
//!
//! Writes go through the ledger's group-commit writer: a session saved
//! beside a stance (the flash message after a form) shares the stance's
//! transaction and fsync instead of queueing for the write lock on its own.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

use super::Db;
use crate::ledger::writer::Writer;

/// Sessions stored in the `sessions` table.
#[derive(Clone, Debug)]
pub struct SessionStore {
    db: Db,
    writer: Writer,
}

impl SessionStore {
    /// A store reading from `db` and writing through `writer`.
    pub fn new(db: Db, writer: Writer) -> Self {
        Self { db, writer }
    }

    /// Runs `query` in the writer's next batch; rows affected.
    async fn write(&self, query: Statement) -> session_store::Result<u64> {
        self.writer
            .submit(move |conn| {
                Box::pin(async move { Ok(query.execute(&mut *conn).await?.rows_affected()) })
            })
            .await
            .map_err(backend)
    }
}

/// A statement with its (owned) parameters bound.
type Statement = sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

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
                    sqlx::query(
                        "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(record.id.to_string())
                    .bind(encode(record)?)
                    .bind(record.expiry_date.unix_timestamp()),
                )
                .await?;
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(
            sqlx::query(
                "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date",
            )
            .bind(record.id.to_string())
            .bind(encode(record)?)
            .bind(record.expiry_date.unix_timestamp()),
        )
        .await?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT data FROM sessions WHERE id = $1 AND expiry_date > $2")
                .bind(id.to_string())
                .bind(now)
                .fetch_optional(self.db.reader())
                .await
                .map_err(backend)?;
        row.map(|(data,)| {
            serde_json::from_slice(&data).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.write(sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id.to_string()))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.write(sqlx::query("DELETE FROM sessions WHERE expiry_date <= $1").bind(now))
            .await?;
        Ok(())
    }
}
