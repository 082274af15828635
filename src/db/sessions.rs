//! The `sessions` table: browser sessions as `(id, data, expiry)`, read and
//! written by the tower-sessions store (`web::sessions`). Records are JSON;
//! times are Unix seconds.

use crate::on;

use super::Ex;

/// Inserts a new session unless its id is taken; rows inserted (0 or 1).
pub async fn insert(
    mut conn: Ex<'_>,
    id: &str,
    data: &[u8],
    expiry: i64,
) -> Result<u64, sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO sessions (id, data, expiry_date) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING"
    )
    .bind(id)
    .bind(data)
    .bind(expiry)
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
) -> Result<u64, sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "UPDATE sessions SET data = $2, expiry_date = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(data)
    .bind(expiry)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
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
