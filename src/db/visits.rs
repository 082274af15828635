//! Where each member last looked at a team's dashboard (the team's log
//! size then), for "Since your last visit".

use crate::on;

use super::{Ex, Timestamp};

/// The team's log size when `user_id` last looked at its dashboard.
pub async fn last_seen(
    mut ex: Ex<'_>,
    user_id: i64,
    team_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    on!(ex, |c| sqlx::query_scalar(
        "SELECT seen_size FROM visits WHERE user_id = $1 AND team_id = $2"
    )
    .bind(user_id)
    .bind(team_id)
    .fetch_optional(c)
    .await)
}

/// Notes that `user_id` saw the team's log at `size` (never moving back).
pub async fn saw(
    mut ex: Ex<'_>,
    user_id: i64,
    team_id: i64,
    size: i64,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| {
        sqlx::query(
        "INSERT INTO visits (user_id, team_id, seen_size, seen_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, team_id) DO UPDATE SET seen_size = excluded.seen_size, seen_at = excluded.seen_at
         WHERE visits.seen_size < excluded.seen_size"
    )
    .bind(user_id)
    .bind(team_id)
    .bind(size)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Something that happened in a team since a visit.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct News {
    /// The entry.
    pub idx: i64,
    /// `proposal_created` or `decision_recorded`.
    pub kind: String,
    /// The proposal.
    pub number: i64,
}

/// Openings and decisions of others in the team's log from index `from`,
/// newest first, at most `limit`.
pub async fn news(
    mut ex: Ex<'_>,
    team_id: i64,
    from: i64,
    viewer: i64,
    limit: i64,
) -> Result<Vec<News>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT idx, kind, proposal_number AS number FROM log_entries
         WHERE team_id = $1 AND idx >= $2 AND actor_id <> $3
           AND kind IN ('proposal_created', 'decision_recorded')
         ORDER BY idx DESC LIMIT $4"
    )
    .bind(team_id)
    .bind(from)
    .bind(viewer)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// Where others mentioned `viewer` in the team from log index `from`:
/// (entry, proposal, who), newest first, at most `limit`.
pub async fn mentions(
    mut ex: Ex<'_>,
    team_id: i64,
    from: i64,
    viewer: i64,
    limit: i64,
) -> Result<Vec<(i64, i64, String)>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT o.log_idx, o.proposal_number, u.display_name FROM outbox o
         JOIN log_entries l ON l.team_id = o.team_id AND l.idx = o.log_idx
         JOIN users u ON u.id = l.actor_id
         WHERE o.kind = 'mentioned' AND o.team_id = $1 AND o.user_id = $2 AND o.log_idx >= $3
         ORDER BY o.log_idx DESC LIMIT $4"
    )
    .bind(team_id)
    .bind(viewer)
    .bind(from)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// The decider's answers to `viewer`'s objections in decisions recorded in
/// the team from log index `from`, by proposal number.
pub async fn answers(
    mut ex: Ex<'_>,
    team_id: i64,
    from: i64,
    viewer: i64,
) -> Result<std::collections::HashMap<i64, String>, sqlx::Error> {
    let rows: Vec<(i64, String)> = on!(ex, |c| sqlx::query_as(
        "SELECT p.number, r.response FROM decision_responses r
         JOIN proposals p ON p.id = r.proposal_id
         JOIN decisions d ON d.proposal_id = p.id
         WHERE p.team_id = $1 AND r.user_id = $2 AND d.log_idx >= $3"
    )
    .bind(team_id)
    .bind(viewer)
    .bind(from)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().collect())
}
