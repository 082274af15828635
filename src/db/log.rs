//! The log tables: entries, their free-text openings, and each team's head.

use crate::on;
use sqlx::FromRow;

use super::{Ex, Timestamp};
use crate::domain::change::{EntryKind, Notice};

/// A stored log entry.
#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    /// Team id.
    pub team_id: i64,
    /// Index from 0.
    pub idx: i64,
    /// When.
    pub created_at: Timestamp,
    /// Who.
    pub actor_id: i64,
    /// Event kind.
    pub kind: EntryKind,
    /// Proposal number, if the event is about one.
    pub proposal_number: Option<i64>,
    /// The exact canonical JSON that was hashed.
    pub payload: String,
    /// SHA-256(0x00 || payload).
    pub leaf_hash: Vec<u8>,
}

/// A stored opening of a payload commitment.
#[derive(Debug, Clone, FromRow)]
pub struct ContentRow {
    /// Entry index.
    pub idx: i64,
    /// Path of the field in the payload.
    pub field: String,
    /// Salt, unless erased.
    pub salt: Option<Vec<u8>>,
    /// Text, unless erased.
    pub text: Option<String>,
}

/// A team's tree head.
#[derive(Debug, Clone, FromRow)]
pub struct Head {
    /// Number of entries.
    pub size: i64,
    /// Merkle root over all leaf hashes.
    pub root: Vec<u8>,
    /// Right-edge subtree roots (see `ledger::merkle::Frontier`).
    pub frontier: Vec<u8>,
}

/// Inserts an entry.
pub async fn insert_entry(mut conn: Ex<'_>, e: &Entry) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO log_entries (team_id, idx, created_at, actor_id, kind, proposal_number, payload, leaf_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.team_id)
    .bind(e.idx)
    .bind(e.created_at)
    .bind(e.actor_id)
    .bind(e.kind.as_str())
    .bind(e.proposal_number)
    .bind(&e.payload)
    .bind(&e.leaf_hash)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Stores the opening of one commitment of an entry.
pub async fn insert_content(
    mut conn: Ex<'_>,
    team_id: i64,
    idx: i64,
    field: &str,
    salt: &[u8],
    text: &str,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "INSERT INTO log_contents (team_id, idx, field, salt, text) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(team_id)
    .bind(idx)
    .bind(field)
    .bind(salt)
    .bind(text)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The team's head and its last entry's time, if it has a log.
pub async fn tip(
    mut conn: Ex<'_>,
    team_id: i64,
) -> Result<Option<(Head, Option<Timestamp>)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        head: Head,
        last_time: Option<Timestamp>,
    }
    let row: Option<Row> = on!(conn, |c| sqlx::query_as(
        "SELECT h.size, h.root, h.frontier,
                (SELECT e.created_at FROM log_entries e WHERE e.team_id = h.team_id
                 ORDER BY e.idx DESC LIMIT 1) AS last_time
         FROM log_heads h WHERE h.team_id = $1"
    )
    .bind(team_id)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|r| (r.head, r.last_time)))
}

/// The team's head, read from the pool.
pub async fn read_head(mut pool: Ex<'_>, team_id: i64) -> Result<Option<Head>, sqlx::Error> {
    on!(pool, |c| sqlx::query_as(
        "SELECT size, root, frontier FROM log_heads WHERE team_id = $1"
    )
    .bind(team_id)
    .fetch_optional(c)
    .await)
}

/// Writes the team's new head.
pub async fn save_head(mut conn: Ex<'_>, team_id: i64, head: &Head) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO log_heads (team_id, size, root, frontier) VALUES ($1, $2, $3, $4)
         ON CONFLICT (team_id) DO UPDATE SET size = excluded.size, root = excluded.root, frontier = excluded.frontier",
    )
    .bind(team_id)
    .bind(head.size)
    .bind(&head.root)
    .bind(&head.frontier)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

const ENTRY_COLUMNS: &str =
    "team_id, idx, created_at, actor_id, kind, proposal_number, payload, leaf_hash";

/// Entries of a team from index `from`, at most `limit`, in order.
pub async fn entries(
    mut ex: Ex<'_>,
    team_id: i64,
    from: i64,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM log_entries WHERE team_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3"
    )))
    .bind(team_id)
    .bind(from)
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

/// Entries about one proposal, in order (its history).
pub async fn proposal_entries(
    mut pool: Ex<'_>,
    team_id: i64,
    number: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    on!(pool, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM log_entries WHERE team_id = $1 AND proposal_number = $2 ORDER BY idx"
    )))
    .bind(team_id)
    .bind(number)
    .fetch_all(c)
    .await
    })
}

/// Openings of a team's entries in `[from, to)`, ordered by index.
pub async fn contents(
    mut ex: Ex<'_>,
    team_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<ContentRow>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT idx, field, salt, text FROM log_contents WHERE team_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx, field",
    )
    .bind(team_id)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await
    })
}

/// Ids of every team that has a log.
pub async fn team_ids(mut pool: Ex<'_>) -> Result<Vec<i64>, sqlx::Error> {
    on!(pool, |c| sqlx::query_scalar(
        "SELECT team_id FROM log_heads ORDER BY team_id"
    )
    .fetch_all(c)
    .await)
}

/// The instance's signing key `(name, seed)`, if created.
pub async fn signing_key(mut pool: Ex<'_>) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    on!(pool, |c| sqlx::query_as(
        "SELECT name, seed FROM signing_key WHERE id = 1"
    )
    .fetch_optional(c)
    .await)
}

/// Stores the signing key unless one exists (first start wins).
pub async fn insert_signing_key(
    mut pool: Ex<'_>,
    name: &str,
    seed: &[u8],
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(pool, |c| {
        sqlx::query("INSERT INTO signing_key (id, name, seed, created_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING")
        .bind(name)
        .bind(seed)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The leaf hashes of a team's first `size` entries, in order.
pub async fn leaf_hashes(
    mut pool: Ex<'_>,
    team_id: i64,
    size: i64,
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    on!(pool, |c| sqlx::query_scalar(
        "SELECT leaf_hash FROM log_entries WHERE team_id = $1 AND idx < $2 ORDER BY idx",
    )
    .bind(team_id)
    .bind(size)
    .fetch_all(c)
    .await)
}

/// Erases the opening of one commitment (text and salt), keeping the row so
/// the erasure is visible. False if there was nothing left to erase.
pub async fn erase_content(
    mut conn: Ex<'_>,
    team_id: i64,
    idx: i64,
    field: &str,
) -> Result<bool, sqlx::Error> {
    let done = on!(conn, |c| {
        sqlx::query(
        "UPDATE log_contents SET salt = NULL, text = NULL WHERE team_id = $1 AND idx = $2 AND field = $3 AND text IS NOT NULL",
    )
    .bind(team_id)
    .bind(idx)
    .bind(field)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// An erasure as shown on pages.
#[derive(Debug, Clone, FromRow)]
pub struct Erasure {
    /// Entry whose text was erased.
    pub idx: i64,
    /// Field.
    pub field: String,
    /// When.
    pub erased_at: Timestamp,
    /// Who (name).
    pub erased_by_name: String,
}

/// Records an erasure (projection of `content_erased`).
pub async fn insert_erasure(
    mut conn: Ex<'_>,
    team_id: i64,
    idx: i64,
    field: &str,
    at: Timestamp,
    by: i64,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO erasures (team_id, idx, field, erased_at, erased_by, log_idx) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (team_id, idx, field) DO NOTHING",
    )
    .bind(team_id)
    .bind(idx)
    .bind(field)
    .bind(at)
    .bind(by)
    .bind(log_idx)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// A team's erasures.
pub async fn erasures(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<Erasure>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT e.idx, e.field, e.erased_at, u.display_name AS erased_by_name
         FROM erasures e JOIN users u ON u.id = e.erased_by WHERE e.team_id = $1",
    )
    .bind(team_id)
    .fetch_all(c)
    .await)
}

/// Deletes a team's projected proposal rows (before re-projecting its log).
/// Teams, memberships and areas are upserted by the projection and stay.
pub async fn clear_projection(mut conn: Ex<'_>, team_id: i64) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM decision_responses WHERE proposal_id IN (SELECT id FROM proposals WHERE team_id = $1)",
        "DELETE FROM decisions WHERE proposal_id IN (SELECT id FROM proposals WHERE team_id = $1)",
        "DELETE FROM comments WHERE proposal_id IN (SELECT id FROM proposals WHERE team_id = $1)",
        "DELETE FROM stances WHERE proposal_id IN (SELECT id FROM proposals WHERE team_id = $1)",
        "DELETE FROM decider_changes WHERE proposal_id IN (SELECT id FROM proposals WHERE team_id = $1)",
        "DELETE FROM proposal_revisions WHERE proposal_id IN (SELECT id FROM proposals WHERE team_id = $1)",
        "DELETE FROM proposals WHERE team_id = $1",
        "DELETE FROM erasures WHERE team_id = $1",
        "DELETE FROM pr_links WHERE team_id = $1",
    ] {
        on!(conn, |c| sqlx::query(sql)
            .bind(team_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Entries of a team from `from` (at most `limit`), each with the openings
/// still stored beside it (erased ones left out).
pub async fn entries_with_openings(
    mut conn: Ex<'_>,
    team_id: i64,
    from: i64,
    limit: i64,
) -> Result<Vec<(Entry, Vec<Opening>)>, sqlx::Error> {
    let entries = entries(conn.re(), team_id, from, limit).await?;
    let Some(last) = entries.last().map(|e| e.idx) else {
        return Ok(Vec::new());
    };
    let mut contents = contents(conn.re(), team_id, from, last + 1)
        .await?
        .into_iter()
        .peekable();
    Ok(entries
        .into_iter()
        .map(|entry| {
            let mut openings = Vec::new();
            while let Some(c) = contents.next_if(|c| c.idx <= entry.idx) {
                if let (true, Some(salt), Some(text)) = (c.idx == entry.idx, c.salt, c.text) {
                    openings.push(Opening {
                        field: c.field,
                        salt,
                        text,
                    });
                }
            }
            (entry, openings)
        })
        .collect())
}

/// The text and salt of one commitment of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// Path of the field in the payload.
    pub field: String,
    /// Salt.
    pub salt: Vec<u8>,
    /// Text.
    pub text: String,
}

/// What the log gained after index `after`, up to index `upto`, at most
/// `limit` entries, as live notices (`web::live` catching a watcher up).
pub async fn notices(
    mut pool: Ex<'_>,
    team_id: i64,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<Notice>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        idx: i64,
        kind: EntryKind,
        proposal_number: Option<i64>,
    }
    let rows: Vec<Row> = on!(pool, |c| sqlx::query_as(
        "SELECT idx, kind, proposal_number FROM log_entries
         WHERE team_id = $1 AND idx > $2 AND idx <= $3 ORDER BY idx LIMIT $4",
    )
    .bind(team_id)
    .bind(after)
    .bind(upto)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|r| Notice {
            team_id,
            index: r.idx,
            kind: r.kind,
            proposal: r.proposal_number,
        })
        .collect())
}

/// The display name of whoever appended entry `idx` of a team.
pub async fn actor_name(
    mut pool: Ex<'_>,
    team_id: i64,
    idx: i64,
) -> Result<Option<String>, sqlx::Error> {
    on!(pool, |c| sqlx::query_scalar(
        "SELECT u.display_name FROM log_entries e JOIN users u ON u.id = e.actor_id
         WHERE e.team_id = $1 AND e.idx = $2",
    )
    .bind(team_id)
    .bind(idx)
    .fetch_optional(c)
    .await)
}

/// The number of entries in the team's log (0 for a team without one).
pub async fn size(mut pool: Ex<'_>, team_id: i64) -> Result<i64, sqlx::Error> {
    let size: Option<i64> = on!(pool, |c| sqlx::query_scalar(
        "SELECT size FROM log_heads WHERE team_id = $1"
    )
    .bind(team_id)
    .fetch_optional(c)
    .await)?;
    Ok(size.unwrap_or(0))
}

/// The enabled triggers on `log_entries`: `(name, definition)`, where the
/// definition is the trigger's SQL (SQLite) or `pg_get_triggerdef` followed
/// by its function's body (PostgreSQL), so a caller can see both that a
/// guard exists and that it still refuses the change it is named for.
pub async fn log_entry_triggers(mut ex: Ex<'_>) -> Result<Vec<(String, String)>, sqlx::Error> {
    on!(
        ex,
        |c| sqlx::query_as(
            "SELECT name, COALESCE(sql, '') FROM sqlite_master
             WHERE type = 'trigger' AND tbl_name = 'log_entries'"
        )
        .fetch_all(c)
        .await,
        // A disabled trigger (ALTER TABLE … DISABLE TRIGGER) guards nothing.
        sqlx::query_as(
            "SELECT t.tgname::text, pg_get_triggerdef(t.oid) || ' ' || p.prosrc
             FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
             WHERE t.tgrelid = 'log_entries'::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D'"
        )
        .fetch_all(c)
        .await
    )
}

/// A decision's seal as its record keeps it: the sealing entry's leaf hash
/// and the tree head right after it.
#[derive(Debug, Clone, FromRow)]
pub struct Seal {
    /// The proposal's number.
    pub number: i64,
    /// The sealing entry.
    pub log_idx: i64,
    /// Its leaf hash, as recorded.
    pub leaf_hash: Vec<u8>,
    /// Tree size right after it.
    pub tree_size: i64,
    /// Root at that size, as recorded.
    pub root_hash: Vec<u8>,
}

/// A team's decision seals, smallest tree first.
pub async fn seals(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<Seal>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT p.number, d.log_idx, d.leaf_hash, d.tree_size, d.root_hash
         FROM decisions d JOIN proposals p ON p.id = d.proposal_id
         WHERE p.team_id = $1 ORDER BY d.tree_size, d.log_idx",
    )
    .bind(team_id)
    .fetch_all(c)
    .await)
}

/// The first of a team's stored openings that is half erased, by index:
/// `(idx, field, whether the text is the half left)`. The app erases text
/// and salt together, so such a row was changed by hand, and what is left
/// of it still reveals (text) or helps guess (salt) the erased text.
pub async fn half_erased(
    mut ex: Ex<'_>,
    team_id: i64,
) -> Result<Option<(i64, String, bool)>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT idx, field, text IS NOT NULL FROM log_contents
         WHERE team_id = $1 AND (salt IS NULL) <> (text IS NULL)
         ORDER BY idx, field LIMIT 1",
    )
    .bind(team_id)
    .fetch_optional(c)
    .await)
}

/// Copies every committed page from SQLite's write-ahead log into the
/// database file and empties the log file (`wal_checkpoint(TRUNCATE)`):
/// after an erasure, the `-wal` file still holds the pages that had the
/// text, until a checkpoint overwrites them, and a passive checkpoint never
/// shrinks the file. True if it completed; false if a reader still holds
/// an older snapshot (the text then stays in the file until a later
/// checkpoint). PostgreSQL has no such file to clear: nothing to do.
pub async fn truncate_wal(mut conn: Ex<'_>) -> Result<bool, sqlx::Error> {
    on!(
        conn,
        |c| sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(c)
            .await
            .map(|(busy, _, _)| busy == 0),
        {
            let _ = c;
            Ok(true)
        }
    )
}
