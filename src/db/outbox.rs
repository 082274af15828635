//! The mail outbox (issue #4): rows queued in the transaction of their
//! cause, claimed and delivered by `mail::worker`.

use crate::on;
use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Ex, Timestamp};

/// What a queued mail is (`kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// "You were named decider".
    DeciderNamed,
    /// "A proposal was decided" (to every member, issue #19).
    Decided,
    /// "A proposal opened".
    Opened,
    /// "A proposal changed its decider or its deadline".
    Updated,
    /// "A proposal was withdrawn".
    Withdrawn,
    /// A deadline a day away without the member's stance.
    Reminder,
    /// An invitation link.
    Invitation,
    /// A daily or weekly digest.
    Digest,
    /// "A proposal is ready for your decision" (to its decider).
    Ready,
    /// "A proposal is overdue" (to its decider, each local morning).
    Overdue,
    /// "A proposal waits for its decider" (to the admins).
    Escalated,
    /// "You were mentioned" (@name in a proposal or comment).
    Mentioned,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [Self; 12] = [
        Self::DeciderNamed,
        Self::Decided,
        Self::Opened,
        Self::Updated,
        Self::Withdrawn,
        Self::Reminder,
        Self::Invitation,
        Self::Digest,
        Self::Ready,
        Self::Overdue,
        Self::Escalated,
        Self::Mentioned,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeciderNamed => "decider_named",
            Self::Decided => "decided",
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Withdrawn => "withdrawn",
            Self::Reminder => "reminder",
            Self::Invitation => "invitation",
            Self::Digest => "digest",
            Self::Ready => "ready",
            Self::Overdue => "overdue",
            Self::Escalated => "escalated",
            Self::Mentioned => "mentioned",
        }
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a queued mail is in its delivery (`status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting for its next attempt.
    Queued,
    /// Claimed by a worker until `next_attempt_at`.
    Sending,
    /// Delivered.
    Sent,
    /// Not needed any more (turned off, proposal closed, member left).
    Skipped,
    /// Failed for good.
    Failed,
}

impl OutboxStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Skipped,
        Self::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One queued (or sent, or failed) mail.
#[derive(Debug, Clone, FromRow)]
pub struct Row {
    /// Primary key.
    pub id: i64,
    /// What mail it is.
    pub kind: MailKind,
    /// The address.
    pub recipient: String,
    /// The member it is for (none for an invitation).
    pub user_id: Option<i64>,
    /// The team it is about.
    pub team_id: i64,
    /// The proposal it is about.
    pub proposal_number: Option<i64>,
    /// The log entry that caused it.
    pub log_idx: Option<i64>,
    /// Kind-specific JSON.
    pub data: Option<String>,
    /// Where its delivery is.
    pub status: OutboxStatus,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Due (or, while sending, when the claim lapses).
    pub next_attempt_at: Timestamp,
    /// The last failure.
    pub last_error: Option<String>,
    /// Queued at.
    pub created_at: Timestamp,
    /// Delivered at.
    pub sent_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, kind, recipient, user_id, team_id, proposal_number, log_idx, data, \
                       status, attempts, next_attempt_at, last_error, created_at, sent_at";

/// "You were named decider" to `decider`, unless it is the actor or has
/// turned it off. Same transaction as the entry at `log_idx`.
pub async fn decider_named(
    mut conn: Ex<'_>,
    team_id: i64,
    number: i64,
    log_idx: i64,
    actor: i64,
    decider: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO outbox (kind, recipient, user_id, team_id, proposal_number, log_idx, next_attempt_at, created_at)
         SELECT 'decider_named', u.email, u.id, $1, $2, $3, $4, $4
         FROM users u WHERE u.id = $5 AND u.id <> $6 AND u.notify_decider",
    )
    .bind(team_id)
    .bind(number)
    .bind(log_idx)
    .bind(Timestamp(now))
    .bind(decider)
    .bind(actor)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Queues the notice of an entry the server's clock appended ("ready for
/// your decision", "overdue", "waits for a decision") for each of `users`
/// (in the entry's transaction); whether each wants it is asked when the
/// mail is composed.
pub async fn tell(
    mut conn: Ex<'_>,
    kind: MailKind,
    team_id: i64,
    number: i64,
    log_idx: i64,
    users: &[i64],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for &user in users {
        on!(conn, |c| {
            sqlx::query(
            "INSERT INTO outbox (kind, recipient, user_id, team_id, proposal_number, log_idx, dedupe, next_attempt_at, created_at)
             SELECT $1, u.email, u.id, $2, $3, $4, $5, $6, $6 FROM users u WHERE u.id = $7",
        )
        .bind(kind.as_str())
        .bind(team_id)
        .bind(number)
        .bind(log_idx)
        .bind(format!("{kind}:{team_id}:{log_idx}:{user}"))
        .bind(Timestamp(now))
        .bind(user)
        .execute(c)
        .await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// An invitation link mailed to `recipient`.
pub async fn invitation(
    mut conn: Ex<'_>,
    team_id: i64,
    recipient: &str,
    data: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "INSERT INTO outbox (kind, recipient, team_id, data, next_attempt_at, created_at)
         VALUES ('invitation', $1, $2, $3, $4, $4)",
    )
    .bind(recipient)
    .bind(team_id)
    .bind(data)
    .bind(Timestamp(now))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A reminder not yet queued: a voting member without a stance on an open
/// proposal closing within the next day.
#[derive(Debug, Clone, FromRow)]
pub struct Reminder {
    /// Team.
    pub team_id: i64,
    /// Proposal number.
    pub number: i64,
    /// Member.
    pub user_id: i64,
    /// Their address.
    pub email: String,
    /// The deadline (part of the key: an extended deadline reminds again).
    pub closes_at: Timestamp,
}

impl Reminder {
    /// At most one reminder per proposal, member and deadline.
    pub fn dedupe(&self) -> String {
        format!(
            "reminder:{}:{}:{}:{}",
            self.team_id,
            self.number,
            self.user_id,
            self.closes_at.0.timestamp()
        )
    }
}

/// The reminders due at `now` that are not queued yet.
pub async fn reminders_due(
    mut pool: Ex<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Reminder>, sqlx::Error> {
    let rows: Vec<Reminder> = on!(pool, |c| sqlx::query_as(
        "SELECT p.team_id, p.number, u.id AS user_id, u.email, p.closes_at
         FROM proposals p
         JOIN memberships m ON m.team_id = p.team_id AND m.removed_at IS NULL
                           AND m.role IN ('admin', 'member')
         JOIN users u ON u.id = m.user_id AND u.notify_reminder
         WHERE p.status = 'open' AND p.closes_at > $1 AND p.closes_at <= $2
           AND NOT EXISTS (SELECT 1 FROM stances s WHERE s.proposal_id = p.id AND s.user_id = u.id)
         ORDER BY p.closes_at, p.id, u.id",
    )
    .bind(Timestamp(now))
    .bind(Timestamp(now + chrono::Duration::hours(24)))
    .fetch_all(c)
    .await)?;
    if rows.is_empty() {
        return Ok(rows);
    }
    // The reminders queued for these deadlines (queued within the last
    // day and a bit: a reminder is queued at most 24 hours before).
    let keys: Vec<Option<String>> = on!(pool, |c| sqlx::query_scalar(
        "SELECT dedupe FROM outbox WHERE kind = 'reminder' AND created_at >= $1",
    )
    .bind(Timestamp(now - chrono::Duration::hours(26)))
    .fetch_all(c)
    .await)?;
    let queued: std::collections::HashSet<String> = keys.into_iter().flatten().collect();
    Ok(rows
        .into_iter()
        .filter(|r| !queued.contains(&r.dedupe()))
        .collect())
}

/// Queues `reminders` (a key already queued is skipped).
pub async fn queue_reminders(
    mut conn: Ex<'_>,
    reminders: &[Reminder],
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut queued = 0;
    for r in reminders {
        queued += on!(conn, |c| {
            sqlx::query(
            "INSERT INTO outbox (kind, recipient, user_id, team_id, proposal_number, dedupe, next_attempt_at, created_at)
             VALUES ('reminder', $1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (dedupe) DO NOTHING",
        )
        .bind(&r.email)
        .bind(r.user_id)
        .bind(r.team_id)
        .bind(r.number)
        .bind(r.dedupe())
        .bind(Timestamp(now))
        .execute(c)
        .await.map(|r| r.rows_affected())
        })?;
    }
    Ok(queued)
}

/// Whether any row is due at `now` (a cheap read before claiming).
pub async fn any_due(mut pool: Ex<'_>, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let due: Option<i64> = on!(pool, |c| {
        sqlx::query_scalar(
        "SELECT id FROM outbox WHERE status IN ('queued', 'sending') AND next_attempt_at <= $1 LIMIT 1",
    )
    .bind(Timestamp(now))
    .fetch_optional(c)
    .await
    })?;
    Ok(due.is_some())
}

/// Claims up to `limit` due rows: each counts an attempt and is `sending`
/// until `lease_until` (if the process dies meanwhile, the row is due again
/// then).
pub async fn claim(
    mut conn: Ex<'_>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    // Several instances may claim at once on PostgreSQL: a row another one
    // is claiming is skipped, never claimed twice. (SQLite has one writer.)
    let skip_locked = if conn.is_pg() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    on!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $1
         WHERE id IN (SELECT id FROM outbox
                      WHERE status IN ('queued', 'sending') AND next_attempt_at <= $2
                      ORDER BY next_attempt_at, id LIMIT $3{skip_locked})
         RETURNING {COLUMNS}"
    )))
    .bind(Timestamp(lease_until))
    .bind(Timestamp(now))
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// What a finished row keeps of its data: an invitation's link holds the
/// invitation's secret (stored only hashed elsewhere), so it goes.
const DROP_SECRETS: &str = "data = CASE WHEN kind = 'invitation' THEN NULL ELSE data END";

/// Records a delivery of the claim that made attempt `attempt` (a claim
/// that lapsed and was taken again records nothing).
pub async fn sent(
    mut conn: Ex<'_>,
    id: i64,
    attempt: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL, {DROP_SECRETS}
         WHERE id = $2 AND status = 'sending' AND attempts = $3"
    )))
    .bind(Timestamp(at))
    .bind(id)
    .bind(attempt)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records that a row needs no mail any more (its proposal closed, the
/// member left, ...), with why.
pub async fn skipped(
    mut conn: Ex<'_>,
    id: i64,
    attempt: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET status = 'skipped', last_error = $1, {DROP_SECRETS}
         WHERE id = $2 AND status = 'sending' AND attempts = $3"
    )))
    .bind(reason)
    .bind(id)
    .bind(attempt)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records a failed attempt: due again at `retry_at`, or failed for good
/// when `retry_at` is `None`.
pub async fn attempt_failed(
    mut conn: Ex<'_>,
    id: i64,
    attempt: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let (status, due) = match retry_at {
        Some(at) => ("queued", Some(Timestamp(at))),
        None => ("failed", None),
    };
    on!(conn, |c| {
        sqlx::query(
        "UPDATE outbox SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at), last_error = $3,
                data = CASE WHEN $1 = 'failed' AND kind = 'invitation' THEN NULL ELSE data END
         WHERE id = $4 AND status = 'sending' AND attempts = $5",
    )
    .bind(status)
    .bind(due)
    .bind(error)
    .bind(id)
    .bind(attempt)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Whether any finished row (sent, skipped, failed) was queued before
/// `before` (a cheap read before pruning).
pub async fn any_finished_before(
    mut pool: Ex<'_>,
    before: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = on!(pool, |c| {
        sqlx::query_scalar(
        "SELECT id FROM outbox WHERE status IN ('sent', 'skipped', 'failed') AND created_at < $1 LIMIT 1",
    )
    .bind(Timestamp(before))
    .fetch_optional(c)
    .await
    })?;
    Ok(found.is_some())
}

/// Deletes the finished rows queued before `before`; how many.
pub async fn prune(mut conn: Ex<'_>, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(on!(conn, |c| sqlx::query(
        "DELETE FROM outbox WHERE status IN ('sent', 'skipped', 'failed') AND created_at < $1",
    )
    .bind(Timestamp(before))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Rows per status.
pub async fn counts(mut pool: Ex<'_>) -> Result<Vec<(OutboxStatus, i64)>, sqlx::Error> {
    // Named columns, so an unreadable status names its column.
    #[derive(FromRow)]
    struct Count {
        status: OutboxStatus,
        n: i64,
    }
    let counts: Vec<Count> = on!(pool, |c| sqlx::query_as(
        "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status ORDER BY status"
    )
    .fetch_all(c)
    .await)?;
    Ok(counts.into_iter().map(|c| (c.status, c.n)).collect())
}

/// The most recent rows of `status` (all when `None`), newest first.
pub async fn recent(
    mut pool: Ex<'_>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    on!(pool, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbox WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
    )))
    .bind(status)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// One row.
pub async fn by_id(mut pool: Ex<'_>, id: i64) -> Result<Option<Row>, sqlx::Error> {
    on!(pool, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbox WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await)
}

super::decode::text_column!(MailKind, "mail kind");
super::decode::text_column!(OutboxStatus, "outbox status");
