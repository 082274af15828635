//! Live updates: what each committed batch added to the logs, told to
//! whoever is watching (the pages' event streams, `web::live`).
//!
//! [`super::append`] notes every entry it writes in the writer's batch
//! (`super::batch`); the writer drops the notes of a command rolled back to
//! its savepoint and publishes the rest once the batch has committed. So a
//! watcher never hears of an entry that is not on disk, and hears of them in
//! log order. The notice carries no content, only where the log grew: a
//! watcher that wants more reads it, with its own rights, from the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// Batches kept for slow watchers before they lag (and resynchronise from
/// the log).
const BACKLOG: usize = 1024;

/// One new log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Team.
    #[serde(skip)]
    pub team_id: i64,
    /// Its log index (the event id on the wire).
    pub index: i64,
    /// The entry kind (`stance_taken`, `comment_added`, ...).
    pub kind: String,
    /// The proposal it is about, if any.
    pub proposal: Option<i64>,
}

/// The entries one commit added, in log order.
pub type Batch = Arc<[Notice]>;

/// The hub. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Live {
    batches: broadcast::Sender<Batch>,
    closing: watch::Sender<bool>,
    /// Each team's log size as far as this hub has heard (see
    /// [`Live::log_size`]).
    sizes: Arc<Mutex<HashMap<i64, i64>>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// A hub nobody listens to yet.
    pub fn new() -> Self {
        let (batches, _) = broadcast::channel(BACKLOG);
        let (closing, _) = watch::channel(false);
        Self {
            batches,
            closing,
            sizes: Arc::default(),
        }
    }

    /// Tells every watcher about `notices` (already committed).
    pub fn publish(&self, notices: Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        {
            let mut sizes = self.sizes();
            for notice in &notices {
                let size = sizes.entry(notice.team_id).or_default();
                *size = (*size).max(notice.index + 1);
            }
        }
        // No receiver is not an error: nobody is watching.
        let _ = self.batches.send(notices.into());
    }

    fn sizes(&self) -> std::sync::MutexGuard<'_, HashMap<i64, i64>> {
        // Sizes only grow; whatever a panicking holder left is still true.
        self.sizes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The team's log size as this hub knows it: the largest size read
    /// from the database ([`Live::saw_log_size`]) or published since. On
    /// SQLite, where this server's writer is the only one and publishes each
    /// batch before acknowledging it, that is the committed size as far as
    /// any acknowledged write goes; with several instances it may lag.
    pub fn log_size(&self, team_id: i64) -> Option<i64> {
        self.sizes().get(&team_id).copied()
    }

    /// A log size read from the database (sizes only grow, so an older
    /// read never lowers what is known).
    pub fn saw_log_size(&self, team_id: i64, size: i64) {
        let mut sizes = self.sizes();
        let known = sizes.entry(team_id).or_default();
        *known = (*known).max(size);
    }

    /// A new watcher: every batch published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.batches.subscribe()
    }

    /// Resolves once the server is shutting down (streams end, so graceful
    /// shutdown is not held up by browsers that never hang up).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every stream.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Watchers connected now.
    pub fn watchers(&self) -> usize {
        self.batches.receiver_count()
    }
}

/// The PostgreSQL channel that carries committed notices to every instance.
pub const CHANNEL: &str = "settled_live";

impl Notice {
    /// The notice as a NOTIFY payload: `[team, index, kind, proposal]`.
    pub fn to_payload(&self) -> String {
        serde_json::json!([self.team_id, self.index, self.kind, self.proposal]).to_string()
    }

    /// A notice read back from a NOTIFY payload.
    pub fn from_payload(payload: &str) -> Option<Self> {
        let (team_id, index, kind, proposal) =
            serde_json::from_str::<(i64, i64, String, Option<i64>)>(payload).ok()?;
        Some(Self {
            team_id,
            index,
            kind,
            proposal,
        })
    }
}

/// Feeds `live` with the notices every instance's writers commit to the
/// PostgreSQL database (NOTIFY is sent with the commit, so a notice is never
/// heard before its entry is readable, and notices arrive in commit order).
/// A lost connection is re-established; a notice missed meanwhile shows as
/// a gap at a watcher, which reads the missing entries from the log.
pub async fn listen(mut listener: sqlx::postgres::PgListener, live: Live) {
    let mut closing = live.closing();
    loop {
        let next = tokio::select! {
            n = listener.try_recv() => n,
            _ = closing.wait_for(|c| *c) => return,
        };
        match next {
            Ok(Some(notification)) => match Notice::from_payload(notification.payload()) {
                Some(notice) => live.publish(vec![notice]),
                None => tracing::warn!(payload = notification.payload(), "unreadable live notice"),
            },
            Ok(None) => tracing::warn!("live notices: connection lost, reconnecting"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "live notices: listening failed, retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
