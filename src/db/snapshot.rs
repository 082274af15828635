//! Canonical snapshots of the read tables, for comparing the live tables
//! with tables rebuilt from the log.
//!
//! Each row is rendered as a JSON array by the database, starting with the
//! team id and ending with the index of the log entry that wrote the row, so a
//! difference can be traced to an entry. Rows use natural keys (team and
//! proposal number), never surrogate ids that a rebuild may number
//! differently.

use super::Ex;
use crate::on;

/// The projected tables and the query that renders each one.
pub const TABLES: &[(&str, &str)] = &[
    (
        "teams",
        "SELECT json_array(id, name, slug, key, window_hours, created_at, created_by, next_number, status_public, 0) FROM teams ORDER BY id",
    ),
    (
        "memberships",
        "SELECT json_array(team_id, user_id, role, joined_at, removed_at, log_idx) FROM memberships ORDER BY team_id, user_id",
    ),
    (
        "areas",
        "SELECT json_array(team_id, id, name, description, default_decider_id, log_idx) FROM areas ORDER BY team_id, id",
    ),
    (
        "proposals",
        "SELECT json_array(team_id, number, title, body, area_id, author_id, decider_id, created_at, closes_at, status,
                withdrawn_reason, supersedes, superseded_by, log_idx)
         FROM proposals ORDER BY team_id, number",
    ),
    (
        "proposal_revisions",
        "SELECT json_array(p.team_id, p.number, r.revision, r.body, r.created_at, r.log_idx)
         FROM proposal_revisions r JOIN proposals p ON p.id = r.proposal_id ORDER BY p.team_id, p.number, r.revision",
    ),
    (
        "decider_changes",
        "SELECT json_array(p.team_id, p.number, c.from_id, c.to_id, c.changed_by, c.changed_at, c.log_idx)
         FROM decider_changes c JOIN proposals p ON p.id = c.proposal_id ORDER BY p.team_id, c.log_idx",
    ),
    (
        "stances",
        "SELECT json_array(p.team_id, p.number, s.user_id, s.position, s.reason, s.created_at, s.log_idx)
         FROM stances s JOIN proposals p ON p.id = s.proposal_id ORDER BY p.team_id, s.log_idx",
    ),
    (
        "comments",
        "SELECT json_array(p.team_id, p.number, c.author_id, c.body, c.created_at, c.log_idx)
         FROM comments c JOIN proposals p ON p.id = c.proposal_id ORDER BY p.team_id, c.log_idx",
    ),
    (
        "decisions",
        "SELECT json_array(p.team_id, p.number, d.outcome, d.statement, d.rationale, d.decided_by, d.decided_at,
                lower(hex(d.leaf_hash)), d.tree_size, lower(hex(d.root_hash)), d.log_idx)
         FROM decisions d JOIN proposals p ON p.id = d.proposal_id ORDER BY p.team_id, d.log_idx",
    ),
    (
        "decision_responses",
        "SELECT json_array(p.team_id, p.number, r.user_id, r.response, d.log_idx)
         FROM decision_responses r JOIN decisions d ON d.proposal_id = r.proposal_id
         JOIN proposals p ON p.id = r.proposal_id ORDER BY p.team_id, d.log_idx, r.user_id",
    ),
    (
        "pr_links",
        "SELECT json_array(team_id, number, host, repo, pr, url, title, state, first_seen, via, log_idx)
         FROM pr_links ORDER BY team_id, number, host, repo, pr",
    ),
    (
        "team_key_aliases",
        "SELECT json_array(team_id, key, log_idx) FROM team_key_aliases ORDER BY team_id, key",
    ),
    (
        "erasures",
        "SELECT json_array(team_id, idx, field, erased_at, erased_by, log_idx) FROM erasures ORDER BY team_id, idx, field",
    ),
];

/// The rendered rows of one table.
pub async fn rows(mut pool: Ex<'_>, query: &'static str) -> Result<Vec<String>, sqlx::Error> {
    on!(pool, |c| sqlx::query_scalar(query).fetch_all(c).await)
}

/// Every user row needed by foreign keys, to seed a rebuild.
pub async fn copy_users(mut from: Ex<'_>, mut to: Ex<'_>) -> Result<(), sqlx::Error> {
    let users: Vec<(i64, String, String, String)> = on!(from, |c| sqlx::query_as(
        "SELECT id, email, email_norm, display_name FROM users ORDER BY id"
    )
    .fetch_all(c)
    .await)?;
    for (id, email, email_norm, name) in users {
        on!(to, |c| {
            sqlx::query(
            "INSERT INTO users (id, email, email_norm, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, '', '')",
        )
        .bind(id)
        .bind(email)
        .bind(email_norm)
        .bind(name)
        .execute(c)
        .await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}
