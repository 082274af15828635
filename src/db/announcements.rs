//! Announcements (issue #19): what every member of a team hears of. The
//! entry's transaction writes one row here, whatever the team's size; the
//! mail worker later expands it, in a transaction of its own, into one
//! outbox row per member who wants it, and marks it done. Each expanded
//! row is keyed `kind:team:entry:user` (`outbox.dedupe`), so a restart
//! halfway or two instances expanding at once still queue each member's
//! mail once.

use crate::on;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{Ex, Timestamp};

/// What is announced (`kind` column); the outbox rows it expands into
/// have the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A proposal opened.
    Opened,
    /// A proposal changed its decider or its deadline.
    Updated,
    /// A decision was recorded.
    Decided,
    /// A proposal was withdrawn.
    Withdrawn,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Opened, Self::Updated, Self::Decided, Self::Withdrawn];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Decided => "decided",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// The member setting that lets this kind through (a column of `users`).
    fn wanted(self) -> &'static str {
        match self {
            // Opening notices may be folded into the member's digest.
            Self::Opened => "u.notify_opened AND NOT (u.digest <> 'off' AND u.digest_opened)",
            Self::Updated => "u.notify_opened",
            Self::Decided | Self::Withdrawn => "u.notify_decided",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One announcement.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Announcement {
    /// Team.
    pub team_id: i64,
    /// The entry announced.
    pub log_idx: i64,
    /// What it announces.
    pub kind: Kind,
    /// The proposal.
    pub proposal_number: i64,
    /// Who did it (never told of their own act).
    pub actor: i64,
    /// Kind-specific JSON, copied into each outbox row.
    pub data: Option<String>,
    /// Written at.
    pub created_at: Timestamp,
}

/// What an announcement says beyond its kind (`data`, JSON); copied into
/// each outbox row it expands into, so the mail says what changed even if
/// the proposal changed again since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Detail {
    /// A proposal opened with this decider.
    Opened {
        /// The named decider (told by "you decide" instead).
        decider: i64,
    },
    /// A new decider was named.
    Decider {
        /// The previous decider (told even with the kind turned off).
        from: i64,
        /// The new one (told by "you decide" instead).
        to: i64,
    },
    /// The window was extended.
    Deadline {
        /// Its new end.
        closes_at: DateTime<Utc>,
    },
    /// A decision was recorded.
    Decided,
    /// The proposal was withdrawn.
    Withdrawn,
}

impl Detail {
    /// The kind of announcement it is.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Opened { .. } => Kind::Opened,
            Self::Decider { .. } | Self::Deadline { .. } => Kind::Updated,
            Self::Decided => Kind::Decided,
            Self::Withdrawn => Kind::Withdrawn,
        }
    }

    /// Who it reaches or skips besides the members who want its kind.
    pub fn audience(&self) -> Audience {
        match self {
            Self::Opened { decider } => Audience {
                also: None,
                named_decider: Some(*decider),
            },
            Self::Decider { from, to } => Audience {
                also: Some(*from),
                named_decider: Some(*to),
            },
            _ => Audience::default(),
        }
    }
}

impl Announcement {
    /// What it says (`None` for a row without readable data).
    pub fn detail(&self) -> Option<Detail> {
        self.data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }
}

/// Who, besides the members who want `kind`, an announcement reaches or
/// skips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Audience {
    /// Told even with the kind turned off (the former decider of a
    /// decider change).
    pub also: Option<i64>,
    /// Skipped when they get "you were named decider" for the same entry
    /// instead (the named decider).
    pub named_decider: Option<i64>,
}

/// Writes the announcement of entry `log_idx` (the entry's transaction).
pub async fn announce(
    mut conn: Ex<'_>,
    team_id: i64,
    log_idx: i64,
    number: i64,
    actor: i64,
    detail: &Detail,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let data = serde_json::to_string(detail).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO announcements (team_id, log_idx, kind, proposal_number, actor, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(team_id)
    .bind(log_idx)
    .bind(detail.kind().as_str())
    .bind(number)
    .bind(actor)
    .bind(&data)
    .bind(Timestamp(now))
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Whether any announcement waits to be expanded (a cheap read first).
pub async fn any_pending(mut ex: Ex<'_>) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = on!(ex, |c| sqlx::query_scalar(
        "SELECT log_idx FROM announcements WHERE done_at IS NULL LIMIT 1"
    )
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

/// Up to `limit` announcements not expanded yet, oldest first.
pub async fn pending(mut ex: Ex<'_>, limit: i64) -> Result<Vec<Announcement>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT team_id, log_idx, kind, proposal_number, actor, data, created_at
         FROM announcements WHERE done_at IS NULL
         ORDER BY created_at, team_id, log_idx LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// Queues one outbox row per current member (observers too) who wants
/// `a` and had joined when it happened, but its actor, and marks `a` done; returns how many rows were
/// queued. Run it in one transaction: a member already queued for `a` (an
/// earlier, interrupted run, another instance) is skipped by the key.
pub async fn expand(
    mut conn: Ex<'_>,
    a: &Announcement,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let audience = a.detail().map(|d| d.audience()).unwrap_or_default();
    let sql = format!(
        "INSERT INTO outbox (kind, recipient, user_id, team_id, proposal_number, log_idx, data, dedupe,
                             next_attempt_at, created_at)
         SELECT $1, u.email, u.id, $2, $3, $4, $5, $6 || CAST(u.id AS TEXT), $7, $7
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $2 AND m.removed_at IS NULL AND m.joined_at <= $11 AND u.id <> $8
           AND (({wanted}) OR u.id = $9)
           AND NOT (u.id = $10 AND u.notify_decider)
         ORDER BY u.id
         ON CONFLICT (dedupe) DO NOTHING",
        wanted = a.kind.wanted()
    );
    let prefix = format!("{}:{}:{}:", a.kind, a.team_id, a.log_idx);
    // `wanted` is one of a few constant conditions, never input.
    let queued = on!(conn, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(a.kind.as_str())
        .bind(a.team_id)
        .bind(a.proposal_number)
        .bind(a.log_idx)
        .bind(a.data.as_deref())
        .bind(&prefix)
        .bind(Timestamp(now))
        .bind(a.actor)
        .bind(audience.also.unwrap_or(-1))
        .bind(audience.named_decider.unwrap_or(-1))
        .bind(a.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    on!(conn, |c| sqlx::query(
        "UPDATE announcements SET done_at = $1 WHERE team_id = $2 AND log_idx = $3"
    )
    .bind(Timestamp(now))
    .bind(a.team_id)
    .bind(a.log_idx)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(queued)
}

super::decode::text_column!(Kind, "announcement kind");
