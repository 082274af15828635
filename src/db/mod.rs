//! All SQL lives here. Functions take a connection (or the [`Db`]) and return
//! plain structs; the rules live in `domain`, the write path in `ledger`.
//!
//! SQL uses `$N` placeholders and binds every timestamp from Rust (see
//! [`Timestamp`]), so the text stays portable to PostgreSQL.

pub mod feeds;
pub mod links;
pub mod log;
pub mod outbox;
pub mod proposals;
pub mod search;
pub mod sessions;
pub mod snapshot;
pub mod teams;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

/// The embedded migrations for SQLite.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A write transaction (always begun with `BEGIN IMMEDIATE`).
pub type WriteTx = sqlx::Transaction<'static, Sqlite>;

/// The database connection: a small pool of readers, a connection for the
/// ledger's writer task, and one for small writes outside the ledger.
///
/// SQLite allows one writer at a time; a single write connection that
/// begins with `BEGIN IMMEDIATE` never meets `SQLITE_BUSY` mid-transaction,
/// and readers never block it in WAL mode.
#[derive(Clone, Debug)]
pub struct Db {
    /// Connections for reads.
    read: SqlitePool,
    /// The connection for writes outside the ledger (sessions, tokens).
    write: SqlitePool,
    /// How to open the ledger's own write connection.
    options: SqliteConnectOptions,
}

impl Db {
    /// Opens (creating if missing) the database at `url`, in WAL mode with
    /// foreign keys on and full durability, and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        if !url.starts_with("sqlite:") {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}: this build supports sqlite: URLs")
                    .into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Erased text must not linger in free pages of the file.
            .pragma("secure_delete", "on");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone().read_only(true))
            .await?;
        Ok(Self {
            read,
            write,
            options,
        })
    }

    /// A private in-memory database with the schema, on one connection that
    /// serves reads and writes (used to rebuild the read tables in `verify`).
    pub async fn scratch() -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let options = options.shared_cache(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        // The rebuilt tables are only compared, never searched: indexing
        // them would only slow `verify` down.
        let triggers: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search\\_%' ESCAPE '\\'",
        )
        .fetch_all(&pool)
        .await?;
        for name in triggers {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TRIGGER \"{name}\"")))
                .execute(&pool)
                .await?;
        }
        Ok(Self {
            read: pool.clone(),
            write: pool,
            options,
        })
    }

    /// Opens the connection the ledger's writer task owns.
    pub async fn connect_writer(&self) -> Result<sqlx::SqliteConnection, sqlx::Error> {
        use sqlx::ConnectOptions;
        self.options.connect().await
    }

    /// The pool for reads.
    pub fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// Begins a write transaction on the small-writes connection
    /// (`BEGIN IMMEDIATE`, so it never fails half-way with `SQLITE_BUSY`).
    /// Team state is written only by the ledger's writer task, never here.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    /// The writer pool, for rare writes outside the ledger (sessions, tokens).
    pub fn writer(&self) -> &SqlitePool {
        &self.write
    }

    /// Writes a consistent, compacted copy of the database to `path` while
    /// writers keep going (`VACUUM INTO` reads one snapshot).
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<(), sqlx::Error> {
        let target = path
            .to_str()
            .ok_or_else(|| sqlx::Error::Configuration("backup path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.read)
            .await?;
        Ok(())
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Whether `err` is a unique-constraint violation (mapped by kind, since
/// SQLite reports no constraint names).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// The current time cut to microseconds, the precision both backends keep.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// Cuts `t` to microseconds.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// A UTC instant stored as fixed-width RFC 3339 text with microseconds
/// (`2026-11-24T14:43:48.123456Z`), so text order is time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The stored text form.
    pub fn to_text(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl sqlx::Type<Sqlite> for Timestamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'q, Sqlite>>::encode(self.to_text(), buf)
    }
}

impl<'r> sqlx::Decode<'r, Sqlite> for Timestamp {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<'r, Sqlite>>::decode(value)?;
        Ok(Self(
            DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_so_text_order_is_time_order() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").map(|t| t.with_timezone(&Utc));
        let b =
            DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z").map(|t| t.with_timezone(&Utc));
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("parse")
        };
        assert_eq!(Timestamp(a).to_text(), "2026-01-02T03:04:05.000000Z");
        assert_eq!(Timestamp(b).to_text(), "2026-01-02T03:04:05.500000Z");
        assert!(Timestamp(a).to_text() < Timestamp(b).to_text());
    }
}
