//! Demo data.
use crate::db::Db;
/// Seeds the demo team.
pub async fn seed(_db: &Db) -> anyhow::Result<()> {
    Ok(())
}
