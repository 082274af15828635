//! The single writer with group commit.
//!
//! SQLite takes one writer at a time and each commit costs an fsync (a few
//! milliseconds here). One task owns the write connection: it takes every
//! command waiting in its queue, runs each inside its own savepoint (a
//! command that fails is rolled back alone, its neighbours go on), commits
//! them in one transaction, and only then answers each caller. So an
//! acknowledged write is on disk, and many writers share one fsync.

use std::future::Future;
use std::pin::Pin;

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// Most commands committed together.
const MAX_BATCH: usize = 256;

/// The future a job runs on the write connection.
pub type JobFuture<'c> = Pin<Box<dyn Future<Output = Box<dyn Completion>> + Send + 'c>>;

/// A command as the writer runs it.
pub type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> JobFuture<'c> + Send>;

/// A job's result, held until its transaction's fate is known.
pub trait Completion: Send {
    /// Whether the command succeeded (else its savepoint is rolled back).
    fn succeeded(&self) -> bool;
    /// Answers the caller once the batch committed (or failed to).
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Reply<T> {
    result: Result<T>,
    to: oneshot::Sender<Result<T>>,
}

impl<T: Send> Completion for Reply<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), result) => result,
            (Err(err), Ok(_)) => Err(Error::Internal(anyhow::anyhow!("commit failed: {err}"))),
            (Err(_), Err(own)) => Err(own),
        };
        // The caller may have gone away (request cancelled): nothing to do.
        let _ = self.to.send(answer);
    }
}

/// A handle for submitting commands to the writer task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on `conn`.
    pub fn start(conn: SqliteConnection) -> Self {
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(conn, jobs));
        Self { queue }
    }

    /// Runs `command` in the next batch and returns its result once the
    /// batch is committed.
    pub async fn submit<T, F>(&self, command: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut SqliteConnection,
            ) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>
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

async fn run(mut conn: SqliteConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        tracing::debug!(commands = batch.len(), "write batch");
        let mut completions: Vec<Box<dyn Completion>> = Vec::with_capacity(batch.len());
        let outcome = run_batch(&mut conn, batch.drain(..), &mut completions).await;
        let committed = outcome.map_err(|e| {
            tracing::error!(error = %e, "write batch failed");
            e.to_string()
        });
        for completion in completions {
            completion.finish(committed.clone());
        }
    }
    let _ = conn.close().await;
}

async fn run_batch(
    conn: &mut SqliteConnection,
    batch: impl Iterator<Item = Job>,
    completions: &mut Vec<Box<dyn Completion>>,
) -> Result<(), sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let result = async {
        for job in batch {
            sqlx::query("SAVEPOINT command").execute(&mut *conn).await?;
            let completion = job(&mut *conn).await;
            if !completion.succeeded() {
                sqlx::query("ROLLBACK TO command")
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query("RELEASE command").execute(&mut *conn).await?;
            completions.push(completion);
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    match result {
        Ok(()) => sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| ()),
        Err(err) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(err)
        }
    }
}
