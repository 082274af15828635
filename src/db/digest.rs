//! What digests are built from (issue #4): the members with digests on,
//! one team's recent activity in a few set queries (so a clock run costs
//! about as many queries as there are teams, not members), and a run's
//! digests stored with the slots it handled. Which slot is due and what a
//! digest says are decided in `mail::digest`.

use crate::on;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Ex, Timestamp};
use crate::domain::team::Role;

/// A member with digests on.
#[derive(Debug, Clone, FromRow)]
pub struct Subscriber {
    /// User id.
    pub id: i64,
    /// Their address.
    pub email: String,
    /// Their time zone.
    #[sqlx(try_from = "super::decode::ZoneName")]
    pub time_zone: chrono_tz::Tz,
    /// Daily or weekly.
    pub digest: super::users::Digest,
    /// The local hour (0–23) digests go out at.
    pub digest_hour: i64,
    /// The last slot handled for them (sent or found empty).
    pub last_digest_at: Option<Timestamp>,
    /// Whether opening notices come in the digest instead of one by one.
    pub digest_opened: bool,
}

/// Every member with digests on, by id.
pub async fn subscribers(mut ex: Ex<'_>) -> Result<Vec<Subscriber>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT id, email, time_zone, digest, digest_hour, last_digest_at, digest_opened
         FROM users WHERE digest <> 'off' ORDER BY id",
    )
    .fetch_all(c)
    .await)
}

/// The last slot handled for `user_id` (`None`: never, or no such user).
pub async fn last_digest_at(
    mut ex: Ex<'_>,
    user_id: i64,
) -> Result<Option<Timestamp>, sqlx::Error> {
    let last: Option<Option<Timestamp>> = on!(ex, |c| sqlx::query_scalar(
        "SELECT last_digest_at FROM users WHERE id = $1"
    )
    .bind(user_id)
    .fetch_optional(c)
    .await)?;
    Ok(last.flatten())
}

/// A current membership.
#[derive(Debug, Clone, FromRow)]
pub struct Membership {
    /// Team.
    pub team_id: i64,
    /// Member.
    pub user_id: i64,
    /// Their role (observers get no "needs your stance" section).
    pub role: Role,
}

/// Every current membership, by team and user.
pub async fn memberships(mut ex: Ex<'_>) -> Result<Vec<Membership>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT team_id, user_id, role FROM memberships WHERE removed_at IS NULL
         ORDER BY team_id, user_id",
    )
    .fetch_all(c)
    .await)
}

/// An open proposal.
#[derive(Debug, Clone, FromRow)]
pub struct OpenProposal {
    /// Primary key.
    pub id: i64,
    /// Its number in the team.
    pub number: i64,
    /// When its stance window closes.
    pub closes_at: Timestamp,
    /// When it opened.
    pub created_at: Timestamp,
    /// Who opened it.
    pub author_id: i64,
}

/// A decision recorded in the window.
#[derive(Debug, Clone, FromRow)]
pub struct Decided {
    /// The proposal's number.
    pub number: i64,
    /// When.
    pub decided_at: Timestamp,
}

/// A comment made in the window.
#[derive(Debug, Clone, FromRow)]
pub struct NewComment {
    /// The proposal's id.
    pub proposal_id: i64,
    /// The proposal's number.
    pub number: i64,
    /// Who wrote it.
    pub author_id: i64,
    /// When.
    pub created_at: Timestamp,
}

/// Someone who takes part in a proposal: its author, its decider, a
/// commenter or a member with a stance.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct TakesPart {
    /// The proposal's id.
    pub proposal_id: i64,
    /// The person.
    pub user_id: i64,
}

/// One team's activity in `(since, until]`, read once for all its members
/// due for a digest.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Open proposals, soonest window end first.
    pub open: Vec<OpenProposal>,
    /// `(proposal id, user id)` of every stance on an open proposal.
    pub stances: Vec<(i64, i64)>,
    /// Decisions in the window, newest first.
    pub decided: Vec<Decided>,
    /// Comments in the window.
    pub comments: Vec<NewComment>,
    /// Who takes part in each proposal commented on in the window.
    pub takes_part: Vec<TakesPart>,
}

/// The activity of `team_id` in `(since, until]`: five queries, whatever
/// the number of members.
pub async fn activity(
    mut ex: Ex<'_>,
    team_id: i64,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Activity, sqlx::Error> {
    let (since, until) = (Timestamp(since), Timestamp(until));
    let open: Vec<OpenProposal> = on!(ex, |c| sqlx::query_as(
        "SELECT id, number, closes_at, created_at, author_id FROM proposals
         WHERE team_id = $1 AND status = 'open' ORDER BY closes_at, number",
    )
    .bind(team_id)
    .fetch_all(c)
    .await)?;
    let stances = super::proposals::stanced_open(ex.re(), team_id).await?;
    let decided: Vec<Decided> = on!(ex, |c| {
        sqlx::query_as(
        "SELECT p.number, d.decided_at FROM decisions d JOIN proposals p ON p.id = d.proposal_id
         WHERE p.team_id = $1 AND d.decided_at > $2 AND d.decided_at <= $3
         ORDER BY d.decided_at DESC",
    )
    .bind(team_id)
    .bind(since)
    .bind(until)
    .fetch_all(c)
    .await
    })?;
    let comments: Vec<NewComment> = on!(ex, |c| sqlx::query_as(
        "SELECT c.proposal_id, p.number, c.author_id, c.created_at FROM comments c
         JOIN proposals p ON p.id = c.proposal_id
         WHERE p.team_id = $1 AND c.created_at > $2 AND c.created_at <= $3",
    )
    .bind(team_id)
    .bind(since)
    .bind(until)
    .fetch_all(c)
    .await)?;
    // Who takes part in each proposal with new comments: one query for all.
    let takes_part: Vec<TakesPart> = on!(ex, |c| {
        sqlx::query_as(
        "WITH touched AS (
             SELECT DISTINCT c.proposal_id FROM comments c JOIN proposals p ON p.id = c.proposal_id
             WHERE p.team_id = $1 AND c.created_at > $2 AND c.created_at <= $3)
         SELECT p.id AS proposal_id, p.author_id AS user_id
           FROM proposals p JOIN touched t ON t.proposal_id = p.id
         UNION SELECT p.id, p.decider_id FROM proposals p JOIN touched t ON t.proposal_id = p.id
         UNION SELECT c.proposal_id, c.author_id FROM comments c JOIN touched t ON t.proposal_id = c.proposal_id
         UNION SELECT s.proposal_id, s.user_id FROM stances s JOIN touched t ON t.proposal_id = s.proposal_id",
    )
    .bind(team_id)
    .bind(since)
    .bind(until)
    .fetch_all(c)
    .await
    })?;
    Ok(Activity {
        open,
        stances,
        decided,
        comments,
        takes_part,
    })
}

/// A digest to queue: one outbox row.
#[derive(Debug, Clone)]
pub struct NewDigest {
    /// The member.
    pub user_id: i64,
    /// Their address.
    pub email: String,
    /// The team it is about.
    pub team_id: i64,
    /// The slot it is for (one row per member, team and slot).
    pub slot: DateTime<Utc>,
    /// Its contents, as JSON (`mail::compose::DigestData`).
    pub data: String,
}

/// Queues `digests` and records each `(user id, slot)` of `handled` as that
/// member's last digest, in the caller's transaction. A digest already
/// queued for its member, team and slot (by another instance) is left as
/// it is, and a slot never moves back.
pub async fn store(
    mut conn: Ex<'_>,
    digests: &[NewDigest],
    handled: &[(i64, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for d in digests {
        on!(conn, |c| {
            sqlx::query(
            "INSERT INTO outbox (kind, recipient, user_id, team_id, data, dedupe, next_attempt_at, created_at)
             VALUES ('digest', $1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (dedupe) DO NOTHING",
        )
        .bind(&d.email)
        .bind(d.user_id)
        .bind(d.team_id)
        .bind(&d.data)
        .bind(format!("digest:{}:{}:{}", d.user_id, d.team_id, d.slot.timestamp()))
        .bind(Timestamp(now))
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
    }
    for (user, slot) in handled {
        on!(conn, |c| sqlx::query(
            "UPDATE users SET last_digest_at = $1
             WHERE id = $2 AND (last_digest_at IS NULL OR last_digest_at < $1)",
        )
        .bind(Timestamp(*slot))
        .bind(user)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}
