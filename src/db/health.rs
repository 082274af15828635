//! The health check's probe statements (see `services::health`).

use super::{Ex, Timestamp};
use crate::on;

/// Rewrites the probe row: a real write, committed like any other, so it
/// fails where a change would fail (a full disk, a read-only database).
pub async fn record(mut ex: Ex<'_>, at: Timestamp) -> Result<(), sqlx::Error> {
    let at = at.to_text();
    on!(ex, |c| sqlx::query(
        "INSERT INTO health_probe (id, checked_at) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
    )
    .bind(&at)
    .execute(c)
    .await
    .map(|_| ()))
}

/// A read that needs the database to answer (the probe's read half).
pub async fn read(db: &super::Db) -> Result<(), sqlx::Error> {
    on!(db.reader(), |c| sqlx::raw_sql("SELECT 1")
        .execute(c)
        .await
        .map(|_| ()))
}
