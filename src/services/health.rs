//! The health check's probe: one read, and one write through the writer
//! (so a probe sees what every write would: a full disk, a lost primary).

use crate::db::{self, Db, Timestamp};
use crate::error::{Error, Result};
use crate::ledger::writer::Writer;

/// What the probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Reads and writes work.
    Ok,
    /// Reads fail.
    Unreadable,
    /// Reads work, writes do not.
    Unwritable,
}

/// Reads, then writes, the health row.
pub async fn probe(db: &Db, writer: &Writer) -> Health {
    if db::health::read(db).await.is_err() {
        return Health::Unreadable;
    }
    let now = Timestamp(db::now());
    let written: Result<()> = writer
        .submit(move |conn| Box::pin(async move { Ok(db::health::record(conn, now).await?) }))
        .await;
    match written {
        Ok(()) => Health::Ok,
        Err(Error::Unwritable) => Health::Unwritable,
        Err(err) => {
            tracing::error!(error = %err, "the health check's write failed");
            Health::Unwritable
        }
    }
}
