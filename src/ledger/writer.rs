//! The writer with group commit.
//!
//! SQLite takes one writer at a time and each commit costs an fsync (a few
//! milliseconds here). One task owns the write connection: it takes every
//! command waiting in its queue, runs each inside its own savepoint (a
//! command that fails is rolled back alone, its neighbours go on), commits
//! them in one transaction, and only then answers each caller. So an
//! acknowledged write is on disk, and many writers share one fsync.
//!
//! PostgreSQL takes many writers and groups their commits itself; several
//! instances may write to one database. There, a few writer tasks each run
//! one command per transaction on their own connection, and a command
//! serialises with others on the same team through the team's lock (see
//! `db::Lock`), whichever instance they run on. One command per
//! transaction means a transaction holds at most one team lock, so two
//! instances never deadlock.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::batch::{self, Batch};
use super::bus::{self, Bus, Change};
use crate::db::{Connection, Ex};
use crate::error::{Error, Result};
use crate::on;

/// Most commands committed together on SQLite.
const MAX_BATCH: usize = 256;

/// The future a job runs on the write connection.
pub type JobFuture<'c> = Pin<Box<dyn Future<Output = Box<dyn Completion>> + Send + 'c>>;

/// A command as the writer runs it.
pub type Job = Box<dyn for<'c> FnOnce(Ex<'c>) -> JobFuture<'c> + Send>;

/// A job's result, held until its transaction's fate is known.
pub trait Completion: Send {
    /// Whether the command succeeded (else its savepoint is rolled back).
    fn succeeded(&self) -> bool;
    /// Answers the caller once the batch committed (or failed to).
    fn finish(self: Box<Self>, committed: Result<(), CommitFailed>);
}

/// Why a batch did not commit, told to each of its callers.
#[derive(Clone, Debug)]
pub struct CommitFailed {
    /// The database's error, for the log.
    message: String,
    /// The database cannot be written now (see `db::is_unwritable`).
    unwritable: bool,
}

struct Reply<T> {
    result: Result<T>,
    to: oneshot::Sender<Result<T>>,
}

impl<T: Send> Completion for Reply<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, committed: Result<(), CommitFailed>) {
        let answer = match (committed, self.result) {
            (Ok(()), result) => result,
            (Err(err), Ok(_)) if err.unwritable => Err(Error::Unwritable),
            (Err(err), Ok(_)) => Err(Error::Internal(anyhow::anyhow!(
                "commit failed: {}",
                err.message
            ))),
            (Err(_), Err(own)) => Err(own),
        };
        // The caller may have gone away (request cancelled): nothing to do.
        let _ = self.to.send(answer);
    }
}

/// A handle for submitting commands to the writer tasks. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts one writer task per connection (SQLite: exactly one). Each
    /// committed batch's changes are published on `bus`.
    pub fn start(conns: Vec<Connection>, bus: Bus) -> Self {
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        let jobs = Arc::new(Mutex::new(jobs));
        for conn in conns {
            let max_batch = match conn {
                Connection::Lite(_) => MAX_BATCH,
                Connection::Pg(_) => 1,
            };
            tokio::spawn(batch::BATCH.scope(
                Batch::default(),
                run(conn, jobs.clone(), max_batch, bus.clone()),
            ));
        }
        Self { queue }
    }

    /// Runs `command` in the next batch and returns its result once the
    /// batch is committed.
    pub async fn submit<T, F>(&self, command: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(Ex<'c>) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>
            + Send
            + 'static,
    {
        let (to, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = command(conn).await;
                Box::new(Reply { result, to }) as Box<dyn Completion>
            })
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the writer has stopped")))?;
        answer
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the writer dropped a command")))?
    }
}

async fn run(
    mut conn: Connection,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
    bus: Bus,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let received = jobs.lock().await.recv_many(&mut batch, max_batch).await;
        if received == 0 {
            break;
        }
        tracing::debug!(commands = batch.len(), "write batch");
        let mut completions: Vec<Box<dyn Completion>> = Vec::with_capacity(batch.len());
        let outcome = run_batch(conn.ex(), batch.drain(..), &mut completions).await;
        let committed = outcome.map_err(|e| {
            tracing::error!(error = %e, "write batch failed");
            CommitFailed {
                message: e.to_string(),
                unwritable: crate::db::is_unwritable(&e),
            }
        });
        let changes = batch::take();
        if committed.is_ok() && matches!(conn, Connection::Pg(_)) {
            // The changes went out with the commit (NOTIFY) to every
            // instance's receivers, this one's included; this instance's
            // caches hear them now, before the callers do.
            bus.apply(&changes);
        } else if committed.is_ok() {
            let erased = changes
                .iter()
                .any(|c| matches!(c, Change::Entry(n) if n.kind.erases_text()));
            bus.publish(changes);
            if erased {
                // Before the callers hear of it: once an erasure is
                // acknowledged, its text is in no file of the database.
                match crate::db::log::truncate_wal(conn.ex()).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        "a reader held the write-ahead log: erased text stays in it until the next checkpoint"
                    ),
                    Err(e) => tracing::error!(error = %e, "checkpoint after an erasure failed"),
                }
            }
        }
        for completion in completions {
            completion.finish(committed.clone());
        }
    }
    conn.close().await;
}

async fn run_batch(
    mut conn: Ex<'_>,
    batch: impl Iterator<Item = Job>,
    completions: &mut Vec<Box<dyn Completion>>,
) -> Result<(), sqlx::Error> {
    // Each statement is a round trip to SQLite's worker thread, so the
    // savepoint bookkeeping between two commands goes in one.
    on!(
        conn.re(),
        |c| sqlx::raw_sql("BEGIN IMMEDIATE; SAVEPOINT command")
            .execute(c)
            .await
            .map(|_| ()),
        sqlx::raw_sql("BEGIN; SAVEPOINT command")
            .execute(c)
            .await
            .map(|_| ())
    )?;
    let result = async {
        let mut batch = batch.peekable();
        while let Some(job) = batch.next() {
            // A command that panics (a bug) is rolled back alone; its caller
            // gets an error when its reply is dropped, and the writer lives on.
            let mark = batch::mark();
            let outcome = AssertUnwindSafe(job(conn.re())).catch_unwind().await;
            let rollback = if outcome.as_ref().is_ok_and(|c| c.succeeded()) {
                ""
            } else {
                batch::rollback_to(mark);
                "ROLLBACK TO command; "
            };
            let next = if batch.peek().is_some() {
                "; SAVEPOINT command"
            } else {
                ""
            };
            let sql = format!("{rollback}RELEASE command{next}");
            on!(conn, |c| sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(c)
                .await
                .map(|_| ()))?;
            match outcome {
                Ok(completion) => completions.push(completion),
                Err(_) => tracing::error!("a write command panicked; it was rolled back"),
            }
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    let result = match result {
        Ok(()) => match batch::flush(conn.re()).await {
            Ok(()) if conn.is_pg() => notify(conn.re()).await,
            other => other,
        },
        err => err,
    };
    match result {
        Ok(()) => {
            let committed = on!(conn, |c| sqlx::raw_sql("COMMIT")
                .execute(c)
                .await
                .map(|_| ()));
            if committed.is_err() {
                // A transaction left open would fail every later BEGIN.
                let _ = on!(conn, |c| sqlx::raw_sql("ROLLBACK")
                    .execute(c)
                    .await
                    .map(|_| ()));
            }
            committed
        }
        Err(err) => {
            let _ = on!(conn, |c| sqlx::raw_sql("ROLLBACK")
                .execute(c)
                .await
                .map(|_| ()));
            Err(err)
        }
    }
}

/// Sends the batch's changes with its commit (PostgreSQL's NOTIFY is
/// transactional: delivered on commit, dropped on rollback).
async fn notify(mut conn: Ex<'_>) -> Result<(), sqlx::Error> {
    let payloads: Vec<String> = batch::changes()
        .iter()
        .filter_map(Change::to_payload)
        .collect();
    if payloads.is_empty() {
        return Ok(());
    }
    on!(
        conn,
        |c| {
            let _ = c; // SQLite publishes in-process after the commit.
            Ok(())
        },
        sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(bus::CHANNEL)
            .bind(&payloads)
            .execute(c)
            .await
            .map(|_| ())
    )
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::*;

    async fn writer() -> (Writer, sqlx::SqlitePool, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("writer.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .expect("options")
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut conn = options.connect().await.expect("connect");
        sqlx::query("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .expect("table");
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
        (
            Writer::start(vec![Connection::Lite(conn)], Bus::new()),
            pool,
            dir,
        )
    }

    fn insert(w: &Writer, v: i64) -> impl Future<Output = Result<i64>> + use<> {
        let w = w.clone();
        async move {
            w.submit(move |mut conn| {
                Box::pin(async move {
                    on!(conn, |c| sqlx::query("INSERT INTO t (v) VALUES ($1)")
                        .bind(v)
                        .execute(c)
                        .await
                        .map(|_| ()))?;
                    if v % 10 == 3 {
                        // Written, then refused: the savepoint must undo it.
                        return Err(Error::Forbidden);
                    }
                    Ok(v)
                })
            })
            .await
        }
    }

    #[tokio::test]
    async fn commands_in_one_batch_succeed_or_fail_alone() {
        let (w, pool, _dir) = writer().await;
        let results = futures_util::future::join_all((0..100).map(|v| insert(&w, v))).await;
        for (v, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), v % 10 != 3, "command {v}: {r:?}");
        }
        let stored: Vec<i64> = sqlx::query_scalar("SELECT v FROM t ORDER BY v")
            .fetch_all(&pool)
            .await
            .expect("q");
        let expected: Vec<i64> = (0..100).filter(|v| v % 10 != 3).collect();
        assert_eq!(stored, expected);
    }

    #[tokio::test]
    async fn only_committed_commands_are_announced_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("live.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .expect("options")
            .create_if_missing(true);
        let conn = options.connect().await.expect("connect");
        let hub = Bus::new();
        let mut watcher = hub.subscribe();
        let w = Writer::start(vec![Connection::Lite(conn)], hub.clone());
        let results = futures_util::future::join_all((0..40i64).map(|i| {
            let w = w.clone();
            async move {
                w.submit(move |_conn| {
                    Box::pin(async move {
                        batch::note(Change::Entry(bus::Notice {
                            team_id: 1,
                            index: i,
                            kind: bus::EntryKind::CommentAdded,
                            proposal: Some(i),
                        }));
                        if i % 4 == 1 {
                            return Err(Error::Forbidden);
                        }
                        Ok(i)
                    })
                })
                .await
            }
        }))
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 30);
        let mut heard = Vec::new();
        while heard.len() < 30 {
            let batch = tokio::time::timeout(std::time::Duration::from_secs(5), watcher.recv())
                .await
                .expect("announced")
                .expect("open");
            heard.extend(batch.iter().filter_map(|c| match c {
                Change::Entry(n) => Some(n.index),
                _ => None,
            }));
        }
        let expected: Vec<i64> = (0..40).filter(|i| i % 4 != 1).collect();
        assert_eq!(heard, expected, "rolled-back commands are never announced");
    }

    #[tokio::test]
    async fn a_panicking_command_is_rolled_back_and_the_writer_goes_on() {
        let (w, pool, _dir) = writer().await;
        let panicked = w
            .submit::<(), _>(|mut conn| {
                Box::pin(async move {
                    on!(conn, |c| sqlx::query("INSERT INTO t (v) VALUES (1000)")
                        .execute(c)
                        .await
                        .map(|_| ()))?;
                    panic!("a bug in a command");
                })
            })
            .await;
        assert!(panicked.is_err());
        assert_eq!(insert(&w, 1).await.ok(), Some(1));
        let stored: Vec<i64> = sqlx::query_scalar("SELECT v FROM t")
            .fetch_all(&pool)
            .await
            .expect("q");
        assert_eq!(stored, vec![1]);
    }

    /// Commands that append and then fail are rolled back with the log tip
    /// they moved (kept in `super::batch`): the commands batched with them
    /// append at the right indices, the head written at the batch's end is
    /// the root of what was kept, and `verify` agrees with every table. (It
    /// lives here, not in `batch`, because it drives the whole ledger, and
    /// `batch` sits below the commands that use it.)
    #[tokio::test]
    async fn a_rolled_back_append_takes_its_tip_back() {
        use chrono::Utc;

        use crate::db::{self, Db, Timestamp, users};
        use crate::domain::ids::{Number, TeamId, TeamKey, UserId};
        use crate::ledger::commands::{NewProposal, NewTeam};
        use crate::ledger::event::{Content, Event};
        use crate::ledger::{Ledger, append, project, verify};

        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("batch.db").display());
        let db = Db::connect(&url).await.expect("database");
        let ledger = Ledger::new(db.clone()).await.expect("ledger");
        let now = Timestamp(db::now());
        let user = users::insert(
            db.writer(),
            "a@x.example",
            "a@x.example",
            "A",
            "x",
            "UTC",
            now,
        )
        .await
        .expect("user")
        .id;
        let team = ledger
            .create_team(
                UserId(user),
                NewTeam {
                    name: "Batch".into(),
                    slug: "batch".into(),
                    key: TeamKey::parse("BAT").expect("key"),
                    window_hours: 72,
                },
            )
            .await
            .expect("team");
        ledger
            .create_proposal(
                UserId(user),
                TeamId(team.id),
                NewProposal {
                    title: "Batches".into(),
                    body: "Roll back what failed.".into(),
                    area: None,
                    decider: Some(user),
                    closes_at: Some(Utc::now() + chrono::Duration::days(2)),
                    supersedes: None,
                },
            )
            .await
            .expect("proposal");
        let results = futures_util::future::join_all((0..90).map(|i| {
            let ledger = ledger.clone();
            async move {
                ledger
                    .writer()
                    .submit(move |mut tx| {
                        Box::pin(async move {
                            let event = Event::CommentAdded {
                                number: 1,
                                body: Content::new(format!("comment {i}"))?,
                            };
                            let appended =
                                append(tx.re(), team.id, user, db::now(), &event).await?;
                            project(tx.re(), &appended, &event).await?;
                            if i % 3 == 1 {
                                return Err(Error::Forbidden);
                            }
                            Ok(appended.index)
                        })
                    })
                    .await
            }
        }))
        .await;
        let mut kept: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        kept.sort_unstable();
        // Entries 0 and 1 are the team and the proposal.
        assert_eq!(kept, (2..62).collect::<Vec<_>>());
        let next = ledger
            .comment(
                UserId(user),
                TeamId(team.id),
                Number(1),
                "after the batch".into(),
            )
            .await
            .expect("comment");
        assert_eq!(next.index, 62);
        let head = db::log::read_head(db.reader(), team.id)
            .await
            .expect("head")
            .expect("a head");
        assert_eq!(head.size, 63);
        assert_eq!(head.root, next.root.to_vec());
        let report = verify::verify(&db).await.expect("verify passes");
        assert_eq!(report.entries, 63);
    }
}
