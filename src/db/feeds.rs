//! Private feed URLs (their token hashes) and what the feeds read: a team's
//! recorded decisions and the open proposals still waiting for a member's
//! stance.

use crate::on;
use std::fmt;
use std::str::FromStr;

use sqlx::FromRow;

use super::{Ex, Timestamp};
use crate::domain::InvalidInput;
use crate::domain::proposal::Outcome;

/// Which feed a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// The team's recorded decisions, as Atom.
    Decisions,
    /// Deadlines of open proposals without the member's stance, as iCalendar.
    Deadlines,
}

impl FeedKind {
    /// Every kind.
    pub const ALL: [Self; 2] = [Self::Decisions, Self::Deadlines];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decisions => "decisions",
            Self::Deadlines => "deadlines",
        }
    }
}

impl fmt::Display for FeedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeedKind {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "decisions" => Ok(Self::Decisions),
            "deadlines" => Ok(Self::Deadlines),
            _ => Err(InvalidInput::new("kind", "must be decisions or deadlines")),
        }
    }
}

/// One of a member's feed URLs, as listed on their feeds page.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct FeedToken {
    /// Primary key (used to revoke it).
    pub id: i64,
    /// Which feed.
    pub kind: FeedKind,
    /// The member's name for it ("phone calendar").
    pub label: String,
    /// When created.
    pub created_at: Timestamp,
}

/// Whom a valid token speaks for.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct FeedHolder {
    /// The team.
    pub team_id: i64,
    /// The member.
    pub user_id: i64,
    /// Which feed the token opens.
    pub kind: FeedKind,
}

/// Stores a new feed token's hash.
pub async fn insert(
    mut ex: Ex<'_>,
    team_id: i64,
    user_id: i64,
    kind: FeedKind,
    label: &str,
    token_hash: &[u8],
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "INSERT INTO feed_tokens (team_id, user_id, kind, label, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(kind.as_str())
    .bind(label)
    .bind(token_hash)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The member and team a token speaks for, if it exists and its member
/// still belongs to the team since before it was made. A token made before
/// its member left stays dead if they join again.
pub async fn holder(mut ex: Ex<'_>, token_hash: &[u8]) -> Result<Option<FeedHolder>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT t.team_id, t.user_id, t.kind
         FROM feed_tokens t
         JOIN memberships m ON m.team_id = t.team_id AND m.user_id = t.user_id
         WHERE t.token_hash = $1 AND m.removed_at IS NULL AND t.created_at >= m.joined_at",
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await)
}

/// A member's working feed tokens for a team, newest first.
pub async fn of_member(
    mut ex: Ex<'_>,
    team_id: i64,
    user_id: i64,
) -> Result<Vec<FeedToken>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT t.id, t.kind, t.label, t.created_at
         FROM feed_tokens t
         JOIN memberships m ON m.team_id = t.team_id AND m.user_id = t.user_id
         WHERE t.team_id = $1 AND t.user_id = $2 AND t.created_at >= m.joined_at
         ORDER BY t.id DESC",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_all(c)
    .await)
}

/// Deletes one of a member's feed tokens; false if it was not theirs or is
/// gone already.
pub async fn revoke(
    mut ex: Ex<'_>,
    team_id: i64,
    user_id: i64,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let done = on!(ex, |c| sqlx::query(
        "DELETE FROM feed_tokens WHERE id = $1 AND team_id = $2 AND user_id = $3"
    )
    .bind(id)
    .bind(team_id)
    .bind(user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// A recorded decision as a feed entry needs it.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct DecidedItem {
    /// Per-team number.
    pub number: i64,
    /// Title (empty once erased).
    pub title: String,
    /// The entry that opened the proposal (where its title is committed).
    pub opened_idx: i64,
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// What was agreed (empty once erased).
    pub statement: String,
    /// Why (may be empty).
    pub rationale: String,
    /// The decider's name.
    pub decider_name: String,
    /// When decided.
    pub decided_at: Timestamp,
    /// The sealing entry.
    pub log_idx: i64,
}

/// A team's most recent decisions, newest first.
pub async fn decisions(
    mut ex: Ex<'_>,
    team_id: i64,
    limit: i64,
) -> Result<Vec<DecidedItem>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT p.number, p.title,
                COALESCE((SELECT r.log_idx FROM proposal_revisions r WHERE r.proposal_id = p.id AND r.revision = 1), -1)
                    AS opened_idx,
                d.outcome, d.statement, d.rationale, u.display_name AS decider_name, d.decided_at, d.log_idx
         FROM decisions d
         JOIN proposals p ON p.id = d.proposal_id
         JOIN users u ON u.id = d.decided_by
         WHERE p.team_id = $1
         ORDER BY d.decided_at DESC, p.number DESC
         LIMIT $2",
    )
    .bind(team_id)
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

/// A decider's written answer to an objection, as a feed entry shows it.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct FeedResponse {
    /// The decided proposal.
    pub number: i64,
    /// The objector.
    pub user_id: i64,
    /// Their name.
    pub display_name: String,
    /// The answer (empty once erased).
    pub response: String,
}

/// The answers to objections of a team's decisions numbered `from` or
/// later, by proposal and objector's name (one query for a whole feed).
pub async fn responses(
    mut ex: Ex<'_>,
    team_id: i64,
    from: i64,
) -> Result<Vec<FeedResponse>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT p.number, r.user_id, u.display_name, r.response
         FROM decision_responses r
         JOIN proposals p ON p.id = r.proposal_id
         JOIN users u ON u.id = r.user_id
         WHERE p.team_id = $1 AND p.number >= $2
         ORDER BY p.number, u.display_name, r.user_id",
    )
    .bind(team_id)
    .bind(from)
    .fetch_all(c)
    .await)
}

/// An open proposal as a calendar event needs it.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct DeadlineItem {
    /// Per-team number.
    pub number: i64,
    /// Title (empty once erased).
    pub title: String,
    /// The decider's name.
    pub decider_name: String,
    /// End of the window: the deadline.
    pub closes_at: Timestamp,
    /// When the proposal last changed (its latest log entry), so the
    /// event's stamp moves only when the event does.
    pub changed_at: Timestamp,
}

/// Open proposals of a team on which `user_id` has taken no stance,
/// soonest deadline first.
pub async fn deadlines(
    mut ex: Ex<'_>,
    team_id: i64,
    user_id: i64,
    limit: i64,
) -> Result<Vec<DeadlineItem>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT p.number, p.title, u.display_name AS decider_name, p.closes_at, e.created_at AS changed_at
         FROM proposals p
         JOIN users u ON u.id = p.decider_id
         JOIN log_entries e ON e.team_id = p.team_id AND e.idx = p.log_idx
         WHERE p.team_id = $1 AND p.status = 'open'
           AND NOT EXISTS (SELECT 1 FROM stances s WHERE s.proposal_id = p.id AND s.user_id = $2)
         ORDER BY p.closes_at, p.number
         LIMIT $3",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

super::decode::text_column!(FeedKind, "feed kind");
