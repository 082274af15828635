//! The delivery worker and the mail clocks.
//!
//! The worker listens on the ledger's change bus: when a commit adds log
//! entries (the entry that names a decider queues its mail in the same
//! transaction; one that the whole team hears of writes an announcement),
//! it wakes, expands each pending announcement into one outbox row per
//! member (`db::announcements`), and delivers at once. Every
//! `poll` it also looks on its own: that tick delivers what no entry
//! announced (invitations, the digests and reminders it queues itself, rows
//! another instance left), is the retry clock, and is all there is if the
//! bus closes. Either way, a cheap read asks whether any row is due; if so,
//! the worker claims up to a batch (each claimed row counts an attempt and
//! is leased for ten minutes), composes and sends them one by one, and
//! records each outcome. A failed attempt is due again after `retry_base` ×
//! 2^(n−1) (at most an hour) until `max_attempts`, then the row is
//! `failed`; a permanent refusal (5xx) fails it at once. If the process dies
//! while sending, the lease runs out and the row is claimed again: the
//! server may then have the message twice, under the same Message-ID, which
//! is the one case SMTP cannot rule out (the reply to DATA was lost).
//!
//! Every `schedule_every`, the reminder clock queues a reminder for each
//! voting member without a stance on a proposal closing within 24 hours,
//! and the digest clock queues the digests now due (`digest`). Finished
//! rows are kept 30 days for the admin page, then deleted.

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::Mailer;
use super::compose::{Composer, Outcome};
use crate::db::{announcements, outbox, proposals};
use crate::domain::ids::{Number, TeamId};
use crate::ledger::bus::{Batch, Change};
use crate::ledger::writer::Writer;

/// Rows claimed at once: few enough that the last is sent well within
/// the lease even when each send takes the whole SMTP timeout (30 s).
const BATCH: i64 = 8;

/// Ready proposals the decider clock tells of per run (the rest, next run).
const READY_BATCH: i64 = 200;

/// How long a claim holds before the row is due again.
const LEASE: Duration = Duration::from_secs(600);

/// How long finished rows stay for the admin page.
const KEEP_DAYS: i64 = 30;

/// Everything the worker needs.
#[derive(Clone, Debug)]
pub struct Worker {
    /// Composes rows.
    pub composer: Composer,
    /// Sends.
    pub mailer: Mailer,
    /// Writes (claims, outcomes, reminders) share the app's one writer.
    pub writer: Writer,
    /// Appends the entries that tell a decider a proposal is ready.
    pub ledger: crate::ledger::Ledger,
}

impl Worker {
    /// Runs until the task is dropped, woken by the poll tick and by every
    /// committed batch with a log entry on `changes` (the ledger's bus,
    /// `Bus::subscribe`, taken before the first commit the worker must not
    /// miss). The clocks run on the tick only.
    pub async fn run(self, changes: broadcast::Receiver<Batch>) {
        tracing::info!(transport = %self.mailer.describe(), "mail worker started");
        let config = self.mailer.config().clone();
        let mut poll = tokio::time::interval(config.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut changes = Some(changes);
        let mut last_schedule: Option<tokio::time::Instant> = None;
        loop {
            let ticked = tokio::select! {
                _ = poll.tick() => true,
                () = entries_committed(&mut changes) => false,
            };
            if ticked
                && config.clocks
                && last_schedule.is_none_or(|t| t.elapsed() >= config.schedule_every)
            {
                last_schedule = Some(tokio::time::Instant::now());
                if let Err(err) = self.tell_ready_due().await {
                    tracing::warn!(error = %err, "could not tell deciders their proposals are ready");
                }
                if let Err(err) = self.tell_overdue().await {
                    tracing::warn!(error = %err, "could not tell of overdue proposals");
                }
                if let Err(err) = self.queue_reminders().await {
                    tracing::warn!(error = %err, "could not queue reminders");
                }
                if let Err(err) = self.prune().await {
                    tracing::warn!(error = %err, "could not prune the outbox");
                }
                match super::digest::queue_due(&self.composer.db, &self.writer, self.ledger.now())
                    .await
                {
                    Ok(run) if run.due > 0 => {
                        tracing::info!(due = run.due, queued = run.queued, "digests queued");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "could not queue digests"),
                }
            }
            if let Err(err) = self.expand_announcements().await {
                tracing::warn!(error = %err, "could not expand announcements");
            }
            if let Err(err) = self.deliver_due().await {
                tracing::warn!(error = %err, "mail delivery round failed");
            }
        }
    }

    /// Deletes finished rows older than [`KEEP_DAYS`]; returns how many.
    pub async fn prune(&self) -> crate::error::Result<u64> {
        let before = self.ledger.now() - chrono::Duration::days(KEEP_DAYS);
        if !outbox::any_finished_before(self.composer.db.reader(), before).await? {
            return Ok(0);
        }
        self.writer
            .submit(move |mut conn| {
                Box::pin(async move { Ok(outbox::prune(conn.re(), before).await?) })
            })
            .await
    }

    /// The decider clock: tells the decider of every open proposal whose
    /// window has ended, or which every voting member has responded to,
    /// that it is ready for their decision (a `decision_ready` entry, whose
    /// mail is queued with it); returns how many were told.
    pub async fn tell_ready_due(&self) -> crate::error::Result<usize> {
        let due = proposals::ready_unprompted(
            self.composer.db.reader(),
            crate::db::Timestamp(self.ledger.now()),
            READY_BATCH,
        )
        .await?;
        let mut told = 0;
        for (team, number) in due {
            if self.ledger.tell_ready(TeamId(team), Number(number)).await? {
                told += 1;
            }
        }
        Ok(told)
    }

    /// The overdue clock: reminds the decider of each proposal that has
    /// waited longer than its team's period after its window, once a day
    /// in their local morning, and after a second period tells the team's
    /// admins and the area's default decider (each a log entry by the
    /// server's clock, its mail queued with it); returns how many entries
    /// it appended.
    pub async fn tell_overdue(&self) -> crate::error::Result<usize> {
        use crate::domain::proposal::{overdue_at, overdue_reminder_due};
        let now = self.ledger.now();
        // No team's period is shorter than a day.
        let before = crate::db::Timestamp(now - chrono::Duration::days(1));
        let waiting = proposals::waiting(self.composer.db.reader(), before, READY_BATCH).await?;
        let mut told = 0;
        for w in waiting {
            let (team, number) = (TeamId(w.team_id), Number(w.number));
            let tz = w.time_zone.parse().unwrap_or(chrono_tz::UTC);
            let last = w.overdue_told_at.map(|t| t.0);
            if overdue_reminder_due(w.closes_at.0, w.decide_within_days, last, now, tz)
                && self
                    .ledger
                    .remind_overdue(team, number, crate::domain::ids::UserId(w.decider_id), tz)
                    .await?
            {
                told += 1;
            }
            if w.escalated_at.is_none()
                && w.others_to_tell
                && now >= overdue_at(w.closes_at.0, w.decide_within_days, 2)
                && self.ledger.escalate(team, number).await?
            {
                told += 1;
            }
        }
        Ok(told)
    }

    /// Queues the reminders now due; returns how many.
    pub async fn queue_reminders(&self) -> crate::error::Result<u64> {
        let now = self.ledger.now();
        let due = outbox::reminders_due(self.composer.db.reader(), now).await?;
        if due.is_empty() {
            return Ok(0);
        }
        self.writer
            .submit(move |mut conn| {
                Box::pin(async move { Ok(outbox::queue_reminders(conn.re(), &due, now).await?) })
            })
            .await
    }

    /// Expands every pending announcement into its members' outbox rows,
    /// each in a transaction of its own (`db::announcements::expand`);
    /// returns how many rows were queued.
    pub async fn expand_announcements(&self) -> crate::error::Result<u64> {
        let mut queued = 0;
        while announcements::any_pending(self.composer.db.reader()).await? {
            let batch = announcements::pending(self.composer.db.reader(), 16).await?;
            if batch.is_empty() {
                break;
            }
            for a in batch {
                let now = self.ledger.now();
                queued += self
                    .writer
                    .submit(move |mut conn| {
                        Box::pin(
                            async move { Ok(announcements::expand(conn.re(), &a, now).await?) },
                        )
                    })
                    .await?;
            }
        }
        Ok(queued)
    }

    /// Sends every row due now; returns how many were delivered.
    pub async fn deliver_due(&self) -> crate::error::Result<usize> {
        let mut delivered = 0;
        loop {
            let now = self.ledger.now();
            if !outbox::any_due(self.composer.db.reader(), now).await? {
                return Ok(delivered);
            }
            let lease_until = now
                + chrono::Duration::from_std(LEASE)
                    .unwrap_or_else(|_| chrono::Duration::minutes(5));
            let rows = self
                .writer
                .submit(move |mut conn| {
                    Box::pin(
                        async move { Ok(outbox::claim(conn.re(), now, lease_until, BATCH).await?) },
                    )
                })
                .await?;
            if rows.is_empty() {
                return Ok(delivered);
            }
            for row in rows {
                if self.deliver(&row).await? {
                    delivered += 1;
                }
            }
        }
    }

    /// One attempt at `row`; whether it was delivered.
    async fn deliver(&self, row: &outbox::Row) -> crate::error::Result<bool> {
        let config = self.mailer.config();
        let outcome = self.composer.compose(&self.mailer, row).await;
        let (result, delivered) = match outcome {
            Ok(Outcome::Send(message)) => {
                let stem = format!("{:08}-{}", row.id, row.kind);
                match self.mailer.send(*message, &stem).await {
                    Ok(()) => (Ok(()), true),
                    Err(e) => (Err((e.permanent, e.message)), false),
                }
            }
            Ok(Outcome::Skip(reason)) => {
                let (id, attempt) = (row.id, row.attempts);
                self.writer
                    .submit(move |mut conn| {
                        Box::pin(async move {
                            Ok(outbox::skipped(conn.re(), id, attempt, &reason).await?)
                        })
                    })
                    .await?;
                return Ok(false);
            }
            Err(super::compose::ComposeError::Db(e)) => (Err((false, e.to_string())), false),
            Err(e) => (Err((true, e.to_string())), false),
        };
        let id = row.id;
        let attempts = row.attempts;
        match result {
            Ok(()) => {
                let sent_at = self.ledger.now();
                self.writer
                    .submit(move |mut conn| {
                        Box::pin(async move {
                            Ok(outbox::sent(conn.re(), id, attempts, sent_at).await?)
                        })
                    })
                    .await?;
            }
            Err((permanent, error)) => {
                let retry_at = (!permanent && attempts < config.max_attempts).then(|| {
                    let shift = u32::try_from(attempts.saturating_sub(1))
                        .unwrap_or(0)
                        .min(16);
                    let delay = config
                        .retry_base
                        .saturating_mul(1 << shift)
                        .min(Duration::from_secs(3600));
                    self.ledger.now()
                        + chrono::Duration::from_std(delay)
                            .unwrap_or_else(|_| chrono::Duration::hours(1))
                });
                tracing::warn!(outbox = id, attempt = attempts, permanent, error = %error, "mail not delivered");
                self.writer
                    .submit(move |mut conn| {
                        Box::pin(async move {
                            Ok(
                                outbox::attempt_failed(conn.re(), id, attempts, &error, retry_at)
                                    .await?,
                            )
                        })
                    })
                    .await?;
            }
        }
        Ok(delivered)
    }
}

/// Resolves once a batch with a log entry has committed, or batches were
/// missed (the receiver lagged: one of them may have had an entry). Batches
/// already waiting are taken too, so a burst of commits makes one delivery
/// round. Once the bus has closed, never resolves: the tick is all there is.
/// Cancel-safe (a `select!` branch): a batch is taken only when it is read.
async fn entries_committed(changes: &mut Option<broadcast::Receiver<Batch>>) {
    let has_entry = |batch: &Batch| batch.iter().any(|c| matches!(c, Change::Entry(_)));
    loop {
        let Some(receiver) = changes else {
            return std::future::pending().await;
        };
        match receiver.recv().await {
            Ok(batch) if has_entry(&batch) => break,
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "mail worker lagged behind the bus");
                break;
            }
            Err(RecvError::Closed) => {
                tracing::warn!("the change bus closed: mail goes out on the poll tick only");
                *changes = None;
            }
        }
    }
    if let Some(receiver) = changes {
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = receiver.try_recv() {}
    }
}
