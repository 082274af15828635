//! What the writer's current batch has done and not yet committed, held by
//! the writer task (a task-local, so commands need not carry it).
//!
//! - **Changes** (appended entries and other writes): the writer drops those
//!   of a command rolled back to its savepoint and publishes the rest on the
//!   bus once the batch has committed, so nothing hears of a change that is
//!   not on disk.
//! - **Log tips**: each team's head (size, frontier) and last entry time,
//!   read once per batch under the team's lock and then kept here; the
//!   batch's appends advance them in memory, and the writer writes each
//!   changed head once, just before the commit. A batch of 64 stances on one
//!   team reads and writes its head once instead of 64 times; every
//!   statement saved is a round trip to the database saved.
//! - **The proposal** the current command read, so projecting its entry
//!   need not look the proposal's id up again.
//!
//! A command rolled back to its savepoint takes its changes here back too
//! ([`rollback_to`]); a failed batch drops everything ([`take`]).
//!
//! Outside the writer (no batch) every function reads and writes the
//! database directly.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::bus::Change;
use super::merkle::Frontier;
use crate::db::{self, Ex, Lock};
use crate::error::Result;

tokio::task_local! {
    /// The writer's current batch.
    pub(super) static BATCH: Batch;
}

/// The writer task's batch state.
#[derive(Debug, Default)]
pub struct Batch(RefCell<State>);

#[derive(Debug, Default)]
struct State {
    changes: Vec<Change>,
    tips: HashMap<i64, Tip>,
    /// The tips the current command changed, with their values before.
    undo: Vec<(i64, Option<Tip>)>,
    /// `(team, number, id)` of the proposal the current command read.
    proposal: Option<(i64, i64, i64)>,
}

/// The end of a team's log.
#[derive(Debug, Clone, Default)]
pub(super) struct Tip {
    /// Size and right-edge subtree roots (the root is computed from them).
    pub frontier: Frontier,
    /// The last entry's time, if any.
    pub last_time: Option<DateTime<Utc>>,
    /// Changed in this batch, not yet written.
    dirty: bool,
}

/// Where a command starts: what rolling it back returns to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark {
    changes: usize,
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    BATCH.try_with(|b| f(&mut b.0.borrow_mut())).ok()
}

/// The team's log tip. The first time in a batch it takes the team's lock
/// (PostgreSQL; SQLite's writer holds the only write lock already) and reads
/// the head and the last entry's time.
pub(super) async fn tip(mut conn: Ex<'_>, team_id: i64) -> Result<Tip> {
    if let Some(Some(tip)) = with(|s| s.tips.get(&team_id).cloned()) {
        return Ok(tip);
    }
    db::lock(conn.re(), Lock::Team(team_id)).await?;
    let tip = match db::log::tip(conn.re(), team_id).await? {
        Some((head, last_time)) => Tip {
            frontier: u64::try_from(head.size)
                .ok()
                .and_then(|size| Frontier::from_bytes(size, &head.frontier))
                .ok_or_else(|| anyhow::anyhow!("corrupt log head for team {team_id}"))?,
            last_time: last_time.map(|t| t.0),
            dirty: false,
        },
        None => Tip::default(),
    };
    with(|s| s.tips.insert(team_id, tip.clone()));
    Ok(tip)
}

/// Moves the team's tip on (after an append). In a batch the head is
/// written at its end ([`flush`]); outside, at once.
pub(super) async fn advance(mut conn: Ex<'_>, team_id: i64, mut tip: Tip) -> Result<()> {
    tip.dirty = true;
    let kept = with(|s| {
        let before = s.tips.insert(team_id, tip.clone());
        s.undo.push((team_id, before));
    });
    if kept.is_none() {
        db::log::save_head(conn.re(), team_id, &head(&tip)).await?;
    }
    Ok(())
}

fn head(tip: &Tip) -> db::log::Head {
    db::log::Head {
        size: i64::try_from(tip.frontier.size()).unwrap_or(i64::MAX),
        root: tip.frontier.root().to_vec(),
        frontier: tip.frontier.to_bytes(),
    }
}

/// Writes the heads the batch changed (before its commit).
pub(super) async fn flush(mut conn: Ex<'_>) -> Result<(), sqlx::Error> {
    let dirty: Vec<(i64, db::log::Head)> = with(|s| {
        let mut dirty: Vec<_> = s
            .tips
            .iter()
            .filter(|(_, tip)| tip.dirty)
            .map(|(team, tip)| (*team, head(tip)))
            .collect();
        dirty.sort_by_key(|(team, _)| *team);
        dirty
    })
    .unwrap_or_default();
    for (team_id, head) in dirty {
        db::log::save_head(conn.re(), team_id, &head).await?;
    }
    Ok(())
}

/// Notes a change, to announce once committed.
pub(super) fn note(change: Change) {
    with(|s| s.changes.push(change));
}

/// Remembers the proposal the current command is about.
pub(super) fn read_proposal(team_id: i64, number: i64, id: i64) {
    with(|s| s.proposal = Some((team_id, number, id)));
}

/// The id of the proposal the current command read, if it is `number`.
pub(super) fn proposal_read(team_id: i64, number: i64) -> Option<i64> {
    with(|s| match s.proposal {
        Some((t, n, id)) if (t, n) == (team_id, number) => Some(id),
        _ => None,
    })
    .flatten()
}

/// Forgets proposal ids read before (the tables were rebuilt).
pub(super) fn forget_proposals() {
    with(|s| s.proposal = None);
}

/// A command starts here.
pub(super) fn mark() -> Mark {
    with(|s| {
        s.undo.clear();
        s.proposal = None;
        Mark {
            changes: s.changes.len(),
        }
    })
    .unwrap_or(Mark { changes: 0 })
}

/// Takes back what the command since `mark` did (it was rolled back).
pub(super) fn rollback_to(mark: Mark) {
    with(|s| {
        s.changes.truncate(mark.changes);
        while let Some((team_id, before)) = s.undo.pop() {
            match before {
                Some(tip) => s.tips.insert(team_id, tip),
                None => s.tips.remove(&team_id),
            };
        }
        s.proposal = None;
    });
}

/// The batch's changes so far (sent with the commit on PostgreSQL).
pub(super) fn changes() -> Vec<Change> {
    with(|s| s.changes.clone()).unwrap_or_default()
}

/// Ends the batch (committed or not): returns its changes and forgets the
/// rest, so the next batch reads the tips again.
pub(super) fn take() -> Vec<Change> {
    with(|s| std::mem::take(s).changes).unwrap_or_default()
}
