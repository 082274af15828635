//! The change bus: what each committed write changed, told to everything
//! that keeps or shows state (the caches, `web::cache`; the live streams,
//! `web::live`; the mail worker).
//!
//! A write notes its changes as it runs in the writer's batch: [`super::append`]
//! a [`Notice`] for every entry, a non-log write a [`Change`] of its own
//! ([`super::note_change`]). The writer drops the changes of a command
//! rolled back to its savepoint and publishes the rest once the batch has
//! committed, before any caller of the batch hears back. So nothing hears
//! of a change that is not on disk, a cache has forgotten what a write
//! changed before its writer's redirect is followed, and entries are heard
//! in log order.
//!
//! Two kinds of listener:
//!
//! - **Subscribers** ([`Bus::attach`]) are called in the writer's task, in
//!   commit order, before the batch is acknowledged. They must be quick and
//!   never block: a cache forgetting rows.
//! - **Receivers** ([`Bus::subscribe`]) get each committed batch through a
//!   broadcast channel and do their work in their own task; one that falls
//!   behind by more than [`BACKLOG`] batches is told it lagged and reads
//!   what it missed from the database.
//!
//! On PostgreSQL several instances share the database. Each change also
//! goes out with its commit as a NOTIFY on [`CHANNEL`], which every
//! instance (this one included) feeds into its own bus ([`listen`]); the
//! writing instance's subscribers have already heard it at its commit.

use std::sync::{Arc, RwLock};

use tokio::sync::{broadcast, watch};

pub use crate::domain::change::{Change, EntryKind, Notice, UserPart};

/// Batches kept for slow receivers before they lag (and resynchronise from
/// the log).
pub const BACKLOG: usize = 1024;

/// The changes one commit made, in order.
pub type Batch = Arc<[Change]>;

/// Something told of every committed batch in the committing task (see the
/// module).
pub trait Subscriber: Send + Sync {
    /// `changes` have committed.
    fn changed(&self, changes: &[Change]);
}

/// The bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    batches: broadcast::Sender<Batch>,
    closing: watch::Sender<bool>,
    subscribers: Arc<RwLock<Vec<Arc<dyn Subscriber>>>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("receivers", &self.batches.receiver_count())
            .finish_non_exhaustive()
    }
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus nobody listens to yet.
    pub fn new() -> Self {
        let (batches, _) = broadcast::channel(BACKLOG);
        let (closing, _) = watch::channel(false);
        Self {
            batches,
            closing,
            subscribers: Arc::default(),
        }
    }

    /// Calls `subscriber` with every batch committed from now on, before
    /// the batch is acknowledged.
    pub fn attach(&self, subscriber: Arc<dyn Subscriber>) {
        self.subscribers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(subscriber);
    }

    /// Tells subscribers, then receivers, about `changes` (committed).
    pub fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        self.apply(&changes);
        // No receiver is not an error: nobody is watching.
        let _ = self.batches.send(changes.into());
    }

    /// Tells the subscribers only (a PostgreSQL commit of this instance's,
    /// which receivers hear through NOTIFY like every other instance's).
    pub fn apply(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for subscriber in subscribers.iter() {
            subscriber.changed(changes);
        }
    }

    /// A new receiver: every batch published from now on.
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

    /// Receivers connected now.
    pub fn watchers(&self) -> usize {
        self.batches.receiver_count()
    }
}

/// The PostgreSQL channel that carries committed changes to every instance.
pub use crate::db::CHANGE_CHANNEL as CHANNEL;

/// Feeds `bus` with the changes every instance's writers commit to the
/// PostgreSQL database (NOTIFY is sent with the commit, so a change is never
/// heard before it is readable, and changes arrive in commit order). A lost
/// connection is re-established; an entry missed meanwhile shows as a gap
/// at a watcher, which reads the missing entries from the log.
pub async fn listen(mut listener: sqlx::postgres::PgListener, bus: Bus) {
    let mut closing = bus.closing();
    loop {
        let next = tokio::select! {
            n = listener.try_recv() => n,
            _ = closing.wait_for(|c| *c) => return,
        };
        match next {
            Ok(Some(notification)) => match Change::from_payload(notification.payload()) {
                Some(change) => bus.publish(vec![change]),
                None => {
                    tracing::warn!(payload = notification.payload(), "unreadable change notice")
                }
            },
            Ok(None) => tracing::warn!("change notices: connection lost, reconnecting"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "change notices: listening failed, retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Heard(Mutex<Vec<Change>>);

    impl Subscriber for Heard {
        fn changed(&self, changes: &[Change]) {
            if let Ok(mut heard) = self.0.lock() {
                heard.extend_from_slice(changes);
            }
        }
    }

    fn profile(user: i64) -> Change {
        Change::User {
            user,
            part: UserPart::Profile,
        }
    }

    #[tokio::test]
    async fn subscribers_hear_before_receivers_and_apply_reaches_subscribers_only() {
        let bus = Bus::new();
        let heard = Arc::new(Heard::default());
        bus.attach(heard.clone());
        let mut receiver = bus.subscribe();
        bus.publish(vec![profile(1), profile(2)]);
        assert_eq!(
            heard.0.lock().map(|h| h.clone()).unwrap_or_default(),
            vec![profile(1), profile(2)],
            "told in the publishing call"
        );
        let batch = receiver.recv().await.expect("received");
        assert_eq!(&batch[..], &[profile(1), profile(2)]);
        bus.apply(&[profile(3)]);
        assert_eq!(heard.0.lock().map(|h| h.len()).unwrap_or_default(), 3);
        assert!(receiver.try_recv().is_err(), "apply reaches no receiver");
        bus.publish(Vec::new());
        assert!(
            receiver.try_recv().is_err(),
            "nothing is sent for no change"
        );
    }
}
