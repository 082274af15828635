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

/// The projected tables: name, the columns rendered (`@t` marks a time,
/// `@b` a flag, `@h` bytes shown as hex), and where they come from.
pub const TABLES: &[(&str, &str, &str)] = &[
    (
        "teams",
        "id, name, slug, key, window_hours, created_at@t, created_by, next_number, status_public@b, decide_within_days, 0",
        "FROM teams ORDER BY id",
    ),
    (
        "memberships",
        "team_id, user_id, role, joined_at@t, removed_at@t, log_idx",
        "FROM memberships ORDER BY team_id, user_id",
    ),
    (
        "areas",
        "team_id, id, name, description, default_decider_id, log_idx",
        "FROM areas ORDER BY team_id, id",
    ),
    (
        "proposals",
        "team_id, number, title, body, area_id, author_id, decider_id, created_at@t, closes_at@t, status,
         withdrawn_reason, supersedes, superseded_by, ready_at@t, overdue_told_at@t, escalated_at@t, log_idx",
        "FROM proposals ORDER BY team_id, number",
    ),
    (
        "proposal_revisions",
        "p.team_id, p.number, r.revision, r.body, r.created_at@t, r.log_idx",
        "FROM proposal_revisions r JOIN proposals p ON p.id = r.proposal_id ORDER BY p.team_id, p.number, r.revision",
    ),
    (
        "decider_changes",
        "p.team_id, p.number, c.from_id, c.to_id, c.changed_by, c.changed_at@t, c.log_idx",
        "FROM decider_changes c JOIN proposals p ON p.id = c.proposal_id ORDER BY p.team_id, c.log_idx",
    ),
    (
        "stances",
        "p.team_id, p.number, s.user_id, s.position, s.reason, s.created_at@t, s.log_idx",
        "FROM stances s JOIN proposals p ON p.id = s.proposal_id ORDER BY p.team_id, s.log_idx",
    ),
    (
        "comments",
        "p.team_id, p.number, c.author_id, c.body, c.created_at@t, c.log_idx",
        "FROM comments c JOIN proposals p ON p.id = c.proposal_id ORDER BY p.team_id, c.log_idx",
    ),
    (
        "decisions",
        "p.team_id, p.number, d.outcome, d.statement, d.rationale, d.decided_by, d.decided_at@t,
         d.leaf_hash@h, d.tree_size, d.root_hash@h, d.log_idx",
        "FROM decisions d JOIN proposals p ON p.id = d.proposal_id ORDER BY p.team_id, d.log_idx",
    ),
    (
        "decision_responses",
        "p.team_id, p.number, r.user_id, r.response, d.log_idx",
        "FROM decision_responses r JOIN decisions d ON d.proposal_id = r.proposal_id
         JOIN proposals p ON p.id = r.proposal_id ORDER BY p.team_id, d.log_idx, r.user_id",
    ),
    (
        "pr_links",
        "team_id, number, host, repo, pr, url, title, state, first_seen@t, via, log_idx",
        "FROM pr_links ORDER BY team_id, number, host, repo, pr",
    ),
    (
        "team_key_aliases",
        "team_id, key, log_idx",
        "FROM team_key_aliases ORDER BY team_id, key",
    ),
    (
        "erasures",
        "team_id, idx, field, erased_at@t, erased_by, log_idx",
        "FROM erasures ORDER BY team_id, idx, field",
    ),
];

/// The query rendering each row of a table as a JSON array, in the dialect
/// of `ex`, so that the same row renders the same on both backends (times
/// as stored by SQLite, flags as 0 or 1, bytes as lower-case hex).
fn query(ex: &Ex<'_>, columns: &str, from: &str) -> String {
    let pg = ex.is_pg();
    let columns: Vec<String> = columns
        .split(',')
        .map(|c| {
            let c = c.trim();
            match (c.split_once('@'), pg) {
                (Some((col, "t")), true) => format!(
                    "to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
                ),
                (Some((col, "b")), true) => format!("{col}::int"),
                (Some((col, "h")), true) => format!("encode({col}, 'hex')"),
                (Some((col, "h")), false) => format!("lower(hex({col}))"),
                (Some((col, _)), _) => col.to_string(),
                (None, _) => c.to_string(),
            }
        })
        .collect();
    if pg {
        format!(
            "SELECT json_build_array({})::text {from}",
            columns.join(", ")
        )
    } else {
        format!("SELECT json_array({}) {from}", columns.join(", "))
    }
}

/// The rendered rows of one table, in one canonical JSON form.
pub async fn rows(mut ex: Ex<'_>, columns: &str, from: &str) -> Result<Vec<String>, sqlx::Error> {
    let sql = query(&ex, columns, from);
    let rows: Vec<String> = on!(ex, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
        .fetch_all(c)
        .await)?;
    // PostgreSQL writes `[1, "a"]`, SQLite `[1,"a"]`: compare values, not
    // spacing. And text sorts by the database's collation on PostgreSQL but
    // bytewise on SQLite: order rows by team and by the entry that wrote
    // them (first and last values), then by their text, the same on both.
    let mut keyed: Vec<((i64, i64), String)> = rows
        .into_iter()
        .map(
            |row| match serde_json::from_str::<serde_json::Value>(&row) {
                Ok(value) => {
                    let at =
                        |v: Option<&serde_json::Value>| v.and_then(|v| v.as_i64()).unwrap_or(0);
                    let key = match value.as_array() {
                        Some(cells) => (at(cells.first()), at(cells.last())),
                        None => (0, 0),
                    };
                    (key, value.to_string())
                }
                Err(_) => ((0, 0), row),
            },
        )
        .collect();
    keyed.sort_unstable();
    Ok(keyed.into_iter().map(|(_, row)| row).collect())
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
