//! All SQL lives here. Functions take an [`Ex`] (a connection or a pool of
//! either backend) and return plain structs whose fields are already the
//! app's types (a status is a `Status`, never its stored text: see
//! [`decode`]); the rules live in `domain`, the write path in `ledger`.
//!
//! Two backends, chosen at run time by the database URL: SQLite (the
//! embedded default) and PostgreSQL (several instances on one database).
//! Each is reached through sqlx's own driver, never `sqlx::Any`. SQL is
//! written once where the dialects agree (`$N` placeholders, every
//! timestamp bound from Rust as a [`Timestamp`]); where they differ, the
//! [`on!`](crate::on) macro takes one version per backend, side by side.

pub mod announcements;
pub mod decode;
pub mod digest;
pub mod feeds;
pub mod health;
pub mod links;
pub mod load;
pub mod log;
pub mod outbox;
pub mod proposals;
pub mod search;
pub mod sessions;
pub mod snapshot;
pub mod teams;
pub mod users;
pub mod visits;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection as _, Postgres, Sqlite};

/// The embedded migrations for SQLite.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The embedded migrations for PostgreSQL (version for version the same).
pub static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Runs one expression against the connection behind an [`Ex`], as
/// `on!(ex, |c| sqlx::query(..).execute(c).await.map(|r| r.rows_affected()))`; `c` is a
/// `&mut SqliteConnection` or a `&mut PgConnection`, so the expression is
/// type-checked against each driver. Where the dialects differ, give one
/// expression per backend: `on!(ex, |c| sqlite_version, postgres_version)`.
/// `ex` is a place (a variable), reborrowed, so it serves the next
/// statement too. A pool is asked for a connection first. The expression
/// is a `Result<_, sqlx::Error>`, and so is the whole.
#[macro_export]
macro_rules! on {
    ($ex:expr, |$c:ident| $body:expr) => {
        $crate::on!($ex, |$c| $body, $body)
    };
    ($ex:expr, |$c:ident| $lite:expr, $pg:expr $(,)?) => {{
        let mut slot = $crate::db::Slot::default();
        match $crate::db::Ex::conn($crate::db::Ex::re(&mut $ex), &mut slot).await {
            Ok($crate::db::Conn::Lite($c)) => $lite,
            Ok($crate::db::Conn::Pg($c)) => $pg,
            Err(err) => Err(err),
        }
    }};
}

/// Where a statement runs: a connection (inside a transaction, or the
/// writer's) or a pool, of either backend. Pass it by value; [`Ex::re`]
/// reborrows it for the next statement.
#[derive(Debug)]
pub enum Ex<'c> {
    /// A SQLite connection.
    Lite(&'c mut SqliteConnection),
    /// A PostgreSQL connection.
    Pg(&'c mut PgConnection),
    /// A SQLite pool.
    LitePool(&'c SqlitePool),
    /// A PostgreSQL pool.
    PgPool(&'c PgPool),
}

/// A connection of either backend, as the [`on!`](crate::on) macro hands it out.
#[derive(Debug)]
pub enum Conn<'c> {
    /// SQLite.
    Lite(&'c mut SqliteConnection),
    /// PostgreSQL.
    Pg(&'c mut PgConnection),
}

/// Holds a connection taken from a pool for the length of one statement.
#[derive(Debug, Default)]
pub struct Slot {
    lite: Option<PoolConnection<Sqlite>>,
    pg: Option<PoolConnection<Postgres>>,
}

impl<'c> Ex<'c> {
    /// The same place, borrowed for one more statement.
    pub fn re(&mut self) -> Ex<'_> {
        match self {
            Ex::Lite(c) => Ex::Lite(c),
            Ex::Pg(c) => Ex::Pg(c),
            Ex::LitePool(p) => Ex::LitePool(p),
            Ex::PgPool(p) => Ex::PgPool(p),
        }
    }

    /// Whether this runs on PostgreSQL.
    pub fn is_pg(&self) -> bool {
        matches!(self, Ex::Pg(_) | Ex::PgPool(_))
    }

    /// The connection to run a statement on (taken from the pool if need be).
    pub async fn conn<'s>(self, slot: &'s mut Slot) -> Result<Conn<'s>, sqlx::Error>
    where
        'c: 's,
    {
        Ok(match self {
            Ex::Lite(c) => Conn::Lite(c),
            Ex::Pg(c) => Conn::Pg(c),
            Ex::LitePool(p) => Conn::Lite(slot.lite.insert(p.acquire().await?)),
            Ex::PgPool(p) => Conn::Pg(slot.pg.insert(p.acquire().await?)),
        })
    }
}

/// An owned connection of either backend (the ledger writer's).
#[derive(Debug)]
pub enum Connection {
    /// SQLite.
    Lite(SqliteConnection),
    /// PostgreSQL.
    Pg(PgConnection),
}

impl Connection {
    /// Statements run on this connection.
    pub fn ex(&mut self) -> Ex<'_> {
        match self {
            Connection::Lite(c) => Ex::Lite(c),
            Connection::Pg(c) => Ex::Pg(c),
        }
    }

    /// Closes it.
    pub async fn close(self) {
        let _ = match self {
            Connection::Lite(c) => c.close().await,
            Connection::Pg(c) => c.close().await,
        };
    }
}

/// A transaction outside the ledger: a write (SQLite: `BEGIN IMMEDIATE`)
/// or a read of one snapshot ([`Db::begin_read`]).
#[derive(Debug)]
pub enum Tx {
    /// SQLite.
    Lite(sqlx::Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    /// Statements run in this transaction.
    pub fn ex(&mut self) -> Ex<'_> {
        match self {
            Tx::Lite(tx) => Ex::Lite(tx),
            Tx::Pg(tx) => Ex::Pg(tx),
        }
    }

    /// Commits it.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Lite(tx) => tx.commit().await,
            Tx::Pg(tx) => tx.commit().await,
        }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` (the embedded default).
    Sqlite,
    /// `postgres:` or `postgresql:`.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, or a clear error.
    pub fn of(url: &str) -> Result<Self, sqlx::Error> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL {:?}: use sqlite:PATH or postgres://USER@HOST/DB",
                    redact(url)
                )
                .into(),
            ))
        }
    }
}

/// How durable an acknowledged write is on SQLite, from the URL's
/// `synchronous` parameter (which sqlx does not take), and the URL without
/// it. `full`, the default: on disk before the answer, through a power cut.
/// `normal`: WAL's cheaper mode, which survives a crash of the process but
/// may lose the last commits to a power cut (never corrupting the file).
fn synchronous(url: &str) -> Result<(String, SqliteSynchronous), sqlx::Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), SqliteSynchronous::Full));
    };
    let mut mode = SqliteSynchronous::Full;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", value)) => {
                mode = match value.to_ascii_lowercase().as_str() {
                    "full" => SqliteSynchronous::Full,
                    "normal" => SqliteSynchronous::Normal,
                    _ => {
                        return Err(sqlx::Error::Configuration(
                            format!("synchronous={value} in the database URL: use full (the default) or normal").into(),
                        ));
                    }
                }
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, mode))
}

/// A URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The database: its pools, and how to open the ledger writer's own
/// connections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<Pools>,
}

#[derive(Clone, Debug)]
enum Pools {
    /// SQLite allows one writer at a time; a single write connection that
    /// begins with `BEGIN IMMEDIATE` never meets `SQLITE_BUSY`
    /// mid-transaction, and readers never block it in WAL mode.
    Lite {
        /// Connections for reads.
        read: SqlitePool,
        /// The connection for writes outside the ledger.
        write: SqlitePool,
        /// How to open the ledger's own write connection.
        options: SqliteConnectOptions,
    },
    /// PostgreSQL: one pool; the ledger's writers open their own connections.
    Pg {
        pool: PgPool,
        options: PgConnectOptions,
    },
}

impl Db {
    /// Opens the database at `url` (`sqlite:` creating the file if missing,
    /// in WAL mode with foreign keys on and full durability; `postgres:`
    /// an existing database) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        match Backend::of(url)? {
            Backend::Sqlite => Self::connect_sqlite(url).await,
            Backend::Postgres => Self::connect_postgres(url).await,
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Self, sqlx::Error> {
        let (url, synchronous) = synchronous(url)?;
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            // Erased text must not linger in free pages of the file.
            .pragma("secure_delete", "on");
        // No ping before handing out a connection (sqlx's default): an
        // SQLite connection is a file in this process and cannot have hung
        // up, and the ping is one more round trip to the connection's
        // thread, as costly as the query it precedes.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone().read_only(true))
            .await?;
        Ok(Self {
            inner: Arc::new(Pools::Lite {
                read,
                write,
                options,
            }),
        })
    }

    async fn connect_postgres(url: &str) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?.application_name("settled");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        // Several instances may start at once: sqlx's migrator takes an
        // advisory lock, so one applies the migrations and the rest wait.
        PG_MIGRATOR.run(&pool).await?;
        Ok(Self {
            inner: Arc::new(Pools::Pg { pool, options }),
        })
    }

    /// A private in-memory SQLite database with the schema, on one
    /// connection that serves reads and writes (used to rebuild the read
    /// tables in `verify`, whatever the backend).
    pub async fn scratch() -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let options = options.shared_cache(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
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
            inner: Arc::new(Pools::Lite {
                read: pool.clone(),
                write: pool,
                options,
            }),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match *self.inner {
            Pools::Lite { .. } => Backend::Sqlite,
            Pools::Pg { .. } => Backend::Postgres,
        }
    }

    /// Claims a SQLite database file for this server until the returned
    /// file is dropped (or the process ends, however it ends): a second
    /// server on the same file is refused with a clear error, since a server
    /// keeps what it reads in memory as the file's only writer. `None` for
    /// PostgreSQL (several instances share it) and in-memory databases.
    ///
    /// The claim is an advisory lock on `FILE-serve.lock` beside the
    /// database, not on the database file, which SQLite locks its own way;
    /// other commands (`verify`, `backup`) never take it.
    pub fn claim_for_serving(&self) -> anyhow::Result<Option<std::fs::File>> {
        let Pools::Lite { options, .. } = &*self.inner else {
            return Ok(None);
        };
        let file = options.get_filename();
        if file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:") {
            return Ok(None);
        }
        let mut name = file.as_os_str().to_owned();
        name.push("-serve.lock");
        let path = std::path::PathBuf::from(name);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(lock)),
            Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
                "another settled server is serving {} already (it holds {}); \
                 one server serves a SQLite database, several need PostgreSQL",
                file.display(),
                path.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(anyhow::anyhow!("cannot lock {}: {e}", path.display()))
            }
        }
    }

    /// Opens a connection for the ledger's writer task.
    pub async fn connect_writer(&self) -> Result<Connection, sqlx::Error> {
        use sqlx::ConnectOptions;
        Ok(match &*self.inner {
            Pools::Lite { options, .. } => Connection::Lite(options.connect().await?),
            Pools::Pg { options, .. } => Connection::Pg(options.connect().await?),
        })
    }

    /// On PostgreSQL, a connection listening to the live notices channel.
    /// It has a pool of its own: it holds its connection for good, and
    /// [`Db::close`] must not wait for it.
    pub async fn pg_listener(&self) -> Result<Option<sqlx::postgres::PgListener>, sqlx::Error> {
        let Pools::Pg { options, .. } = &*self.inner else {
            return Ok(None);
        };
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options.clone());
        let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
        listener.listen(CHANGE_CHANNEL).await?;
        Ok(Some(listener))
    }

    /// Where reads run.
    pub fn reader(&self) -> Ex<'_> {
        match &*self.inner {
            Pools::Lite { read, .. } => Ex::LitePool(read),
            Pools::Pg { pool, .. } => Ex::PgPool(pool),
        }
    }

    /// Where rare writes outside the ledger run (tokens, keys).
    pub fn writer(&self) -> Ex<'_> {
        match &*self.inner {
            Pools::Lite { write, .. } => Ex::LitePool(write),
            Pools::Pg { pool, .. } => Ex::PgPool(pool),
        }
    }

    /// Begins a write transaction outside the ledger (SQLite: `BEGIN
    /// IMMEDIATE`, so it never fails half-way with `SQLITE_BUSY`). Team
    /// state is written only by the ledger's writer, never here.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(match &*self.inner {
            Pools::Lite { write, .. } => Tx::Lite(write.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Pg { pool, .. } => Tx::Pg(pool.begin().await?),
        })
    }

    /// Begins a read-only transaction that sees one snapshot of the whole
    /// database until it ends (SQLite: a deferred transaction in WAL mode;
    /// PostgreSQL: `REPEATABLE READ`). Dropping it ends it.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        Ok(match &*self.inner {
            Pools::Lite { read, .. } => Tx::Lite(read.begin().await?),
            Pools::Pg { pool, .. } => Tx::Pg(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    /// Writes a consistent, compacted copy of a SQLite database to `path`
    /// while writers keep going (`VACUUM INTO` reads one snapshot).
    /// PostgreSQL is backed up with its own tools (`pg_dump`).
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<(), sqlx::Error> {
        let Pools::Lite { read, .. } = &*self.inner else {
            return Err(sqlx::Error::Configuration(
                "`settled backup` copies SQLite databases; back PostgreSQL up with pg_dump (see the README)"
                    .into(),
            ));
        };
        let target = path
            .to_str()
            .ok_or_else(|| sqlx::Error::Configuration("backup path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(read)
            .await?;
        Ok(())
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        match &*self.inner {
            Pools::Lite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Pools::Pg { pool, .. } => pool.close().await,
        }
    }
}

/// What a write lock serialises. SQLite has one writer, so there these
/// are no-ops; on PostgreSQL each is a transaction-level advisory lock
/// keyed by [`Lock::key`], held until the transaction ends (taking it again
/// in the same transaction is free). A transaction takes a team's lock
/// before any other, so two transactions never wait on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// One team's log and state (every command of the team).
    Team(i64),
    /// Creating teams and claiming keys (ids come from MAX(id) + 1, and
    /// slugs and keys are checked before they are taken).
    NewTeams,
    /// Creating areas (area ids come from MAX(id) + 1).
    NewAreas,
    /// Creating accounts (the first one becomes the instance admin).
    Accounts,
}

impl Lock {
    /// The advisory lock key: teams use their (positive) id.
    pub fn key(self) -> i64 {
        match self {
            Lock::Team(id) => id,
            Lock::NewTeams => 0,
            Lock::NewAreas => -1,
            Lock::Accounts => -2,
        }
    }
}

/// Takes `lock` until the transaction `ex` is in ends.
pub async fn lock(mut ex: Ex<'_>, lock: Lock) -> Result<(), sqlx::Error> {
    if !ex.is_pg() {
        return Ok(());
    }
    on!(ex, |c| sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock.key())
        .execute(c)
        .await
        .map(|_| ()))
}

/// Whether `err` is a unique-constraint violation (mapped by kind, since
/// SQLite reports no constraint names).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// The PostgreSQL NOTIFY channel on which every instance announces its
/// committed changes (`ledger::bus`).
pub const CHANGE_CHANNEL: &str = "settled_live";

/// Whether `err` says the database cannot store anything right now rather
/// than that the statement is wrong: its disk is full, read-only or failing
/// (SQLite `SQLITE_FULL`, `SQLITE_READONLY`, `SQLITE_IOERR` and their
/// extended codes; PostgreSQL `disk_full`, `read_only_sql_transaction`,
/// `io_error`). The transaction did not commit; trying later may work.
pub fn is_unwritable(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes keep the primary code in the low byte.
        const READONLY: i32 = 8;
        const IOERR: i32 = 10;
        const FULL: i32 = 13;
        code.parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, READONLY | IOERR | FULL))
    } else {
        matches!(code.as_ref(), "53100" | "25006" | "58030")
    }
}

/// The current time cut to microseconds, the precision both backends keep.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// Cuts `t` to microseconds.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// A UTC instant. SQLite stores it as fixed-width RFC 3339 text with
/// microseconds (`2026-11-24T14:43:48.123456Z`), so text order is time
/// order; PostgreSQL as `TIMESTAMPTZ`.
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

impl sqlx::Type<Postgres> for Timestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::postgres::PgHasArrayType for Timestamp {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl<'q> sqlx::Encode<'q, Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <DateTime<Utc> as sqlx::Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Timestamp {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<DateTime<Utc> as sqlx::Decode<'r, Postgres>>::decode(
            value,
        )?))
    }
}

/// SQLite's `data_version` on `conn`: it changes when another connection
/// (another process) commits to the file, never for `conn`'s own commits.
pub async fn data_version(mut conn: Ex<'_>) -> Result<i64, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(c)
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synchronous_parameter_is_read_and_taken_out_of_the_url() {
        let parsed = |url: &str| synchronous(url).map(|(u, m)| (u, m as u8 as i64));
        assert_eq!(
            parsed("sqlite://a.db").ok(),
            Some(("sqlite://a.db".into(), 2))
        );
        assert_eq!(
            parsed("sqlite://a.db?synchronous=normal").ok(),
            Some(("sqlite://a.db".into(), 1))
        );
        assert_eq!(
            parsed("sqlite://a.db?mode=rwc&synchronous=FULL").ok(),
            Some(("sqlite://a.db?mode=rwc".into(), 2))
        );
        let refused = synchronous("sqlite://a.db?synchronous=off").map(|_| ());
        assert!(
            refused.is_err_and(|e| e.to_string().contains("use full (the default) or normal")),
            "OFF would lose acknowledged writes on a crash of the machine"
        );
    }

    /// The mode reaches every connection that writes: the pool's and the
    /// ledger writer's own.
    #[tokio::test]
    async fn writes_are_fully_synchronous_unless_the_url_says_normal() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (query, expected) in [("", 2), ("?synchronous=normal", 1)] {
            let url = format!("sqlite://{}{query}", dir.path().join("s.db").display());
            let db = Db::connect(&url).await.expect("open");
            let pool: i64 = on!(db.writer(), |c| sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(c)
                .await)
            .expect("pragma");
            let mut writer = db.connect_writer().await.expect("writer");
            let own: i64 = on!(writer.ex(), |c| sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(c)
                .await)
            .expect("pragma");
            assert_eq!((pool, own), (expected, expected), "{query}");
            writer.close().await;
            db.close().await;
        }
    }

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
