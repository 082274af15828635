//! The `sessions` table: browser sessions as `(id, data, expiry)`, read and
//! written by the tower-sessions store (`web::sessions`). Records are JSON;
//! times are Unix seconds. Each row also names its account, browser and
//! address, so a person can see where they are signed in and a password
//! change can end every other session.

use sqlx::FromRow;

use crate::on;

use super::Ex;

/// What a session row says about itself besides its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The signed-in account, if any.
    pub user_id: Option<i64>,
    /// The browser's User-Agent at sign-in.
    pub agent: Option<String>,
    /// The client address at sign-in.
    pub address: Option<String>,
    /// When the row was written (Unix seconds).
    pub seen_at: i64,
}

/// One of an account's signed-in sessions.
#[derive(Debug, Clone, FromRow)]
pub struct Signed {
    /// The session id (secret: never shown).
    pub id: String,
    /// The browser's User-Agent at sign-in.
    pub agent: Option<String>,
    /// The client address at sign-in.
    pub address: Option<String>,
    /// Last written (Unix seconds).
    pub seen_at: Option<i64>,
}

/// Inserts a new session unless its id is taken; rows inserted (0 or 1).
pub async fn insert(
    mut conn: Ex<'_>,
    id: &str,
    data: &[u8],
    expiry: i64,
    meta: &Meta,
) -> Result<u64, sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
            "INSERT INTO sessions (id, data, expiry_date, user_id, agent, address, seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(data)
        .bind(expiry)
        .bind(meta.user_id)
        .bind(meta.agent.as_deref())
        .bind(meta.address.as_deref())
        .bind(meta.seen_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })
}

/// Updates an existing session (a deleted one stays deleted); rows updated.
pub async fn update(
    mut conn: Ex<'_>,
    id: &str,
    data: &[u8],
    expiry: i64,
    meta: &Meta,
) -> Result<u64, sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "UPDATE sessions SET data = $2, expiry_date = $3, user_id = $4, agent = $5, address = $6, seen_at = $7
         WHERE id = $1"
    )
    .bind(id)
    .bind(data)
    .bind(expiry)
    .bind(meta.user_id)
    .bind(meta.agent.as_deref())
    .bind(meta.address.as_deref())
    .bind(meta.seen_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })
}

/// The session's data, unless it is missing or expired at `now`.
pub async fn load(mut conn: Ex<'_>, id: &str, now: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT data FROM sessions WHERE id = $1 AND expiry_date > $2"
    )
    .bind(id)
    .bind(now)
    .fetch_optional(c)
    .await)
}

/// Deletes a session.
pub async fn delete(mut conn: Ex<'_>, id: &str) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|_| ()))
}

/// Deletes every session expired at `now`.
pub async fn delete_expired(mut conn: Ex<'_>, now: i64) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "DELETE FROM sessions WHERE expiry_date <= $1"
    )
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

/// `user`'s sessions not expired at `now`, the most recently seen first.
pub async fn of_user(mut conn: Ex<'_>, user: i64, now: i64) -> Result<Vec<Signed>, sqlx::Error> {
    on!(conn, |c| sqlx::query_as(
        "SELECT id, agent, address, seen_at FROM sessions
         WHERE user_id = $1 AND expiry_date > $2
         ORDER BY seen_at DESC, id"
    )
    .bind(user)
    .bind(now)
    .fetch_all(c)
    .await)
}

/// Deletes `user`'s sessions (all, or all but `keep`); the ids deleted.
pub async fn delete_of_user(
    mut conn: Ex<'_>,
    user: i64,
    keep: Option<&str>,
) -> Result<Vec<String>, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "DELETE FROM sessions WHERE user_id = $1 AND id <> COALESCE($2, '') RETURNING id"
    )
    .bind(user)
    .bind(keep)
    .fetch_all(c)
    .await)
}

/// Deletes `user`'s session `id` if it is theirs; whether it was.
pub async fn delete_one_of_user(
    mut conn: Ex<'_>,
    user: i64,
    id: &str,
) -> Result<bool, sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND id = $2"
    )
    .bind(user)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected() == 1))
}
