//! Live updates: what each committed batch added to the logs, told to
//! whoever is watching (the pages' event streams, `web::live`).
//!
//! [`super::append`] notes every entry it writes in the writer task's
//! [`Pending`] list; the writer drops the notes of a command rolled back to
//! its savepoint and publishes the rest once the batch has committed. So a
//! watcher never hears of an entry that is not on disk, and hears of them in
//! log order. The notice carries no content, only where the log grew: a
//! watcher that wants more reads it, with its own rights, from the database.

use std::cell::RefCell;
use std::sync::Arc;

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
        Self { batches, closing }
    }

    /// Tells every watcher about `notices` (already committed).
    pub fn publish(&self, notices: Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        // No receiver is not an error: nobody is watching.
        let _ = self.batches.send(notices.into());
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

tokio::task_local! {
    /// The notices of the writer's current batch, not yet committed.
    pub(super) static PENDING: Pending;
}

/// Notices waiting for their batch's commit (the writer task's own).
#[derive(Debug, Default)]
pub struct Pending(RefCell<Vec<Notice>>);

/// Notes an appended entry, if running in the writer (elsewhere, such as
/// `verify`'s scratch rebuild, nobody is watching).
pub(super) fn note(notice: Notice) {
    let _ = PENDING.try_with(|p| p.0.borrow_mut().push(notice));
}

/// How many notices the current batch holds (a savepoint's mark).
pub(super) fn mark() -> usize {
    PENDING.try_with(|p| p.0.borrow().len()).unwrap_or(0)
}

/// Forgets the notices after `mark` (their command was rolled back).
pub(super) fn rollback_to(mark: usize) {
    let _ = PENDING.try_with(|p| p.0.borrow_mut().truncate(mark));
}

/// Takes the batch's notices (on commit, to publish; on failure, to drop).
pub(super) fn take() -> Vec<Notice> {
    PENDING
        .try_with(|p| std::mem::take(&mut *p.0.borrow_mut()))
        .unwrap_or_default()
}
