//! Pull request links and code-host webhook secrets and deliveries.

use crate::on;
use sqlx::FromRow;

use super::{Ex, Timestamp};

/// A pull request that references a decision.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct PrLink {
    /// The decision's number.
    pub number: i64,
    /// Code host.
    pub host: String,
    /// `owner/name`.
    pub repo: String,
    /// PR number.
    pub pr: i64,
    /// Web address.
    pub url: String,
    /// Title.
    pub title: String,
    /// open, closed or merged.
    pub state: String,
    /// When first seen.
    pub first_seen: Timestamp,
    /// `pr` or `comment` (a comment mention is kept for good).
    pub via: String,
}

/// Inserts or updates a link (projection of `pr_referenced`); `first_seen`
/// stays that of the first sighting.
pub async fn upsert(
    mut conn: Ex<'_>,
    link: &PrLink,
    team_id: i64,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO pr_links (team_id, number, host, repo, pr, url, title, state, first_seen, log_idx, via)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (team_id, number, host, repo, pr) DO UPDATE SET url = excluded.url, title = excluded.title,
             state = excluded.state, log_idx = excluded.log_idx,
             via = CASE WHEN pr_links.via = 'comment' THEN 'comment' ELSE excluded.via END",
    )
    .bind(team_id)
    .bind(link.number)
    .bind(&link.host)
    .bind(&link.repo)
    .bind(link.pr)
    .bind(&link.url)
    .bind(&link.title)
    .bind(&link.state)
    .bind(link.first_seen)
    .bind(log_idx)
    .bind(&link.via)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Removes a link (projection of `pr_unreferenced`).
pub async fn delete(
    mut conn: Ex<'_>,
    team_id: i64,
    number: i64,
    host: &str,
    repo: &str,
    pr: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query("DELETE FROM pr_links WHERE team_id = $1 AND number = $2 AND host = $3 AND repo = $4 AND pr = $5")
        .bind(team_id)
        .bind(number)
        .bind(host)
        .bind(repo)
        .bind(pr)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The decisions one pull request links to.
pub async fn for_pr(
    mut ex: Ex<'_>,
    team_id: i64,
    host: &str,
    repo: &str,
    pr: i64,
) -> Result<Vec<PrLink>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM pr_links WHERE team_id = $1 AND host = $2 AND repo = $3 AND pr = $4 ORDER BY number"
    )))
    .bind(team_id)
    .bind(host)
    .bind(repo)
    .bind(pr)
    .fetch_all(c)
    .await
    })
}

const LINK_COLUMNS: &str = "number, host, repo, pr, url, title, state, first_seen, via";

/// The PRs referencing a decision, oldest first.
pub async fn for_decision(
    mut ex: Ex<'_>,
    team_id: i64,
    number: i64,
) -> Result<Vec<PrLink>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM pr_links WHERE team_id = $1 AND number = $2 ORDER BY first_seen, repo, pr"
    )))
    .bind(team_id)
    .bind(number)
    .fetch_all(c)
    .await
    })
}

/// One link, if present.
pub async fn find(
    mut ex: Ex<'_>,
    team_id: i64,
    number: i64,
    host: &str,
    repo: &str,
    pr: i64,
) -> Result<Option<PrLink>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM pr_links WHERE team_id = $1 AND number = $2 AND host = $3 AND repo = $4 AND pr = $5"
    )))
    .bind(team_id)
    .bind(number)
    .bind(host)
    .bind(repo)
    .bind(pr)
    .fetch_optional(c)
    .await
    })
}

/// A webhook secret with who set it up.
#[derive(Debug, Clone, FromRow)]
pub struct Secret {
    /// Id.
    pub id: i64,
    /// The secret.
    pub secret: String,
    /// The admin who set it up (actor of the entries it causes).
    pub created_by: i64,
    /// When.
    pub created_at: Timestamp,
}

/// A team's secrets for `host`, named by the team's slug, each with the
/// team's id: one query whether or not the team exists, so a webhook caller
/// cannot tell an unknown team from a wrong secret by the time it takes.
pub async fn secrets_by_slug(
    mut ex: Ex<'_>,
    slug: &str,
    host: &str,
) -> Result<Vec<(i64, Secret)>, sqlx::Error> {
    let rows: Vec<SlugSecret> = on!(ex, |c| {
        sqlx::query_as(
            "SELECT t.id AS team_id, s.id, s.secret, s.created_by, s.created_at
             FROM webhook_secrets s JOIN teams t ON t.id = s.team_id
             WHERE t.slug = $1 AND s.host = $2 ORDER BY s.id DESC",
        )
        .bind(slug)
        .bind(host)
        .fetch_all(c)
        .await
    })?;
    Ok(rows.into_iter().map(|r| (r.team_id, r.secret)).collect())
}

#[derive(FromRow)]
struct SlugSecret {
    team_id: i64,
    #[sqlx(flatten)]
    secret: Secret,
}

/// A team's secrets for `host`, newest first.
pub async fn secrets(mut ex: Ex<'_>, team_id: i64, host: &str) -> Result<Vec<Secret>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as("SELECT id, secret, created_by, created_at FROM webhook_secrets WHERE team_id = $1 AND host = $2 ORDER BY id DESC")
        .bind(team_id)
        .bind(host)
        .fetch_all(c)
        .await
    })
}

/// Adds a secret.
pub async fn add_secret(
    mut ex: Ex<'_>,
    team_id: i64,
    host: &str,
    secret: &str,
    created_by: i64,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| {
        sqlx::query("INSERT INTO webhook_secrets (team_id, host, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(team_id)
        .bind(host)
        .bind(secret)
        .bind(created_by)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Removes a secret of a team.
pub async fn remove_secret(mut ex: Ex<'_>, team_id: i64, id: i64) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "DELETE FROM webhook_secrets WHERE team_id = $1 AND id = $2"
    )
    .bind(team_id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records a delivery; false if it was seen before.
pub async fn first_delivery(
    mut conn: Ex<'_>,
    team_id: i64,
    host: &str,
    delivery_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = on!(conn, |c| {
        sqlx::query(
        "INSERT INTO webhook_deliveries (team_id, host, delivery_id, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (team_id, host, delivery_id) DO NOTHING",
    )
    .bind(team_id)
    .bind(host)
    .bind(delivery_id)
    .bind(now)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// The newest time the code host stamped on a pull request among the
/// deliveries applied so far (`None`: none said).
pub async fn host_updated_at(
    mut ex: Ex<'_>,
    team_id: i64,
    host: &str,
    repo: &str,
    pr: i64,
) -> Result<Option<Timestamp>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_scalar(
            "SELECT host_updated_at FROM pr_host_times WHERE team_id = $1 AND host = $2 AND repo = $3 AND pr = $4",
        )
        .bind(team_id)
        .bind(host)
        .bind(repo)
        .bind(pr)
        .fetch_optional(c)
        .await
    })
}

/// Sets the newest host time of a pull request (the caller checked that `at`
/// is not older than the one kept).
pub async fn set_host_updated_at(
    mut conn: Ex<'_>,
    team_id: i64,
    host: &str,
    repo: &str,
    pr: i64,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
            "INSERT INTO pr_host_times (team_id, host, repo, pr, host_updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (team_id, host, repo, pr) DO UPDATE SET host_updated_at = excluded.host_updated_at",
        )
        .bind(team_id)
        .bind(host)
        .bind(repo)
        .bind(pr)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}
