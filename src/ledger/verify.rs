//! `settled verify`: recompute every leaf hash, content commitment and root,
//! rebuild the read tables from the log and compare them with the live ones.
//! The first disagreement is named by team and entry index.

use std::collections::HashMap;

use super::event::{self, Opening};
use super::merkle::{self, Frontier, Hash};
use super::replay::Replay;
use super::{Appended, project};
use crate::db::{self, Db};

/// Entries read per batch, to bound memory on long logs.
const BATCH: i64 = 2_000;

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Teams checked.
    pub teams: usize,
    /// Entries checked.
    pub entries: u64,
    /// Content commitments checked against their stored text.
    pub commitments: u64,
    /// Rows compared between live and rebuilt tables.
    pub rows: u64,
}

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Failure {
    /// The team's key (or id, if even that is unreadable).
    pub team: String,
    /// The entry at fault, when one can be named.
    pub index: Option<i64>,
    /// What is wrong.
    pub problem: String,
}

impl Failure {
    fn describe(&self) -> String {
        match self.index {
            Some(i) => format!("team {} entry {i}: {}", self.team, self.problem),
            None => format!("team {}: {}", self.team, self.problem),
        }
    }
}

/// Verification could not run, or found a problem.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The log or tables disagree.
    #[error(transparent)]
    Failed(#[from] Failure),
    /// The database could not be read.
    #[error("could not read the database: {0}")]
    Io(#[from] crate::error::Error),
}

impl From<sqlx::Error> for VerifyError {
    fn from(err: sqlx::Error) -> Self {
        Self::Io(err.into())
    }
}

/// Verifies every team's log in `live` and the read tables built from it.
pub async fn verify(live: &Db) -> Result<Report, VerifyError> {
    // One read transaction: the logs and the tables are compared as of one
    // moment, even while the server (or several) keep writing.
    let mut snapshot = live.begin_read().await?;
    let mut pool = snapshot.ex();
    let rebuilt = Db::scratch().await?;
    db::snapshot::copy_users(pool.re(), rebuilt.writer()).await?;
    let mut report = Report {
        teams: 0,
        entries: 0,
        commitments: 0,
        rows: 0,
    };
    let mut team_names = HashMap::new();
    for team_id in db::log::team_ids(pool.re()).await? {
        let name = db::teams::by_id(pool.re(), team_id)
            .await?
            .map_or_else(|| format!("#{team_id}"), |t| t.key);
        team_names.insert(team_id, name.clone());
        let fail = |index: Option<i64>, problem: String| Failure {
            team: name.clone(),
            index,
            problem,
        };
        let mut chain = Chain::new();
        let mut next = 0i64;
        loop {
            let batch = db::log::entries_with_openings(pool.re(), team_id, next, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            let mut tx = rebuilt.begin_write().await?;
            for (entry, openings) in batch {
                let idx = entry.idx;
                let mine = openings
                    .into_iter()
                    .map(|o| (o.field, (o.salt, o.text)))
                    .collect();
                let checked = chain
                    .check(team_id, idx, &entry.payload, &entry.leaf_hash, mine)
                    .map_err(|(i, problem)| fail(Some(i), problem))?;
                if checked.envelope.actor != entry.actor_id
                    || checked.envelope.time != entry.created_at.0
                    || checked.event.kind() != entry.kind
                {
                    return Err(
                        fail(Some(idx), "row columns disagree with the payload".into()).into(),
                    );
                }
                // The root after each entry is needed only here, where
                // decisions cite it; offline checks skip computing it.
                let appended = Appended {
                    team_id,
                    index: idx,
                    time: checked.envelope.time,
                    actor: checked.envelope.actor,
                    leaf_hash: checked.leaf,
                    tree_size: idx + 1,
                    root: chain.root(),
                };
                project(tx.ex(), &appended, &checked.event)
                    .await
                    .map_err(|e| fail(Some(idx), format!("does not replay: {e}")))?;
                next += 1;
            }
            tx.commit().await?;
        }
        report.entries += chain.size();
        report.commitments += chain.commitments;
        let head = db::log::read_head(pool.re(), team_id).await?;
        let root = chain.root();
        match head {
            Some(h) if h.size == next && h.root == root => {}
            Some(h) if h.size != next => {
                return Err(fail(
                    None,
                    format!("head says {} entries, the log holds {next}", h.size),
                )
                .into());
            }
            _ => return Err(fail(None, "stored root does not match the entries".into()).into()),
        }
        report.teams += 1;
    }
    for (table, columns, from) in db::snapshot::TABLES {
        let have = db::snapshot::rows(pool.re(), columns, from).await?;
        let want = db::snapshot::rows(rebuilt.reader(), columns, from).await?;
        report.rows += have.len() as u64;
        if have == want {
            continue;
        }
        let position = have
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(have.len().min(want.len()));
        let row = have
            .get(position)
            .or(want.get(position))
            .cloned()
            .unwrap_or_default();
        let (team, index) = locate(&row);
        return Err(Failure {
            team: team
                .and_then(|t| team_names.get(&t).cloned())
                .unwrap_or_else(|| "?".into()),
            index,
            problem: format!(
                "table {table} differs from the log: live {} / rebuilt {}",
                have.get(position).map_or("(none)", String::as_str),
                want.get(position).map_or("(none)", String::as_str)
            ),
        }
        .into());
    }
    Ok(report)
}

/// Team id (first element) and log index (last element) of a snapshot row.
fn locate(row: &str) -> (Option<i64>, Option<i64>) {
    let Ok(serde_json::Value::Array(values)) = serde_json::from_str::<serde_json::Value>(row)
    else {
        return (None, None);
    };
    (
        values.first().and_then(serde_json::Value::as_i64),
        values.last().and_then(serde_json::Value::as_i64),
    )
}

/// The stored openings of one entry: `(field, (salt, text))`.
pub type Openings = Vec<(String, (Vec<u8>, String))>;

/// An entry that passed every check of [`Chain::check`].
#[derive(Debug)]
pub struct Checked {
    /// Team, index, time, actor.
    pub envelope: event::Envelope,
    /// The event, with the openings that were supplied attached.
    pub event: event::Event,
    /// Its leaf hash.
    pub leaf: Hash,
}

/// Checks a team's entries one by one, in order: index, leaf hash,
/// canonical payload, content commitments, and the rules (via [`Replay`]);
/// keeps the Merkle frontier. Shared by the database check and the offline
/// check of exported files.
#[derive(Debug, Default)]
pub struct Chain {
    frontier: Frontier,
    history: Replay,
    /// Commitments checked against a supplied text.
    pub commitments: u64,
}

impl Chain {
    /// An empty chain.
    pub fn new() -> Self {
        Self {
            history: Replay::new(),
            ..Self::default()
        }
    }

    /// Entries accepted so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root over the entries accepted so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Checks the next entry. `openings` are `(field, (salt, text))` pairs
    /// stored beside it (erased ones simply absent). On failure, the index
    /// at fault and what is wrong.
    pub fn check(
        &mut self,
        team_id: i64,
        idx: i64,
        payload: &str,
        stored_leaf: &[u8],
        openings: Openings,
    ) -> Result<Checked, (i64, String)> {
        let prepared = prepare(team_id, idx, payload, stored_leaf, openings);
        self.accept(idx, prepared)
    }

    /// Accepts the next entry after [`prepare`] (which needs no state and so
    /// can run on other threads): its place in the order, then the rules.
    pub fn accept(
        &mut self,
        idx: i64,
        prepared: Result<Prepared, String>,
    ) -> Result<Checked, (i64, String)> {
        let expected = i64::try_from(self.frontier.size()).unwrap_or(i64::MAX);
        if idx != expected {
            return Err((
                expected,
                format!("out of order or missing: expected entry {expected}, found entry {idx}"),
            ));
        }
        let prepared = prepared.map_err(|problem| (idx, problem))?;
        self.history
            .apply(&prepared.envelope, &prepared.event)
            .map_err(|e| (idx, e.to_string()))?;
        self.commitments += prepared.commitments;
        self.frontier.push(prepared.leaf);
        Ok(Checked {
            envelope: prepared.envelope,
            event: prepared.event,
            leaf: prepared.leaf,
        })
    }
}

/// An entry whose own content checked out, waiting for its place in order.
#[derive(Debug)]
pub struct Prepared {
    leaf: Hash,
    envelope: event::Envelope,
    event: event::Event,
    commitments: u64,
}

/// The checks of one entry that need nothing but the entry: leaf hash,
/// canonical payload, team and index in the payload, and every commitment
/// that has its text.
pub fn prepare(
    team_id: i64,
    idx: i64,
    payload: &str,
    stored_leaf: &[u8],
    openings: Openings,
) -> Result<Prepared, String> {
    let leaf = merkle::leaf_hash(payload.as_bytes());
    if stored_leaf != leaf {
        return Err("leaf hash does not match its payload".into());
    }
    let (envelope, mut ev) = event::parse_payload(payload).map_err(|e| e.to_string())?;
    if envelope.team != team_id || envelope.index != idx {
        return Err("payload names another team or index".into());
    }
    // A handful of fields at most: a linear search beats hashing.
    let mut openings = openings;
    let mut commitments = 0;
    for (field, content) in ev.contents_mut() {
        let Some(at) = openings.iter().position(|(f, _)| *f == field) else {
            continue; // erased: the commitment alone stays verifiable
        };
        let (_, (salt, text)) = openings.swap_remove(at);
        if event::commit(&salt, &text) != content.commitment {
            return Err(format!(
                "stored text of {field} does not match its commitment"
            ));
        }
        let salt: [u8; 16] = salt
            .try_into()
            .map_err(|_| format!("salt of {field} is not 16 bytes"))?;
        content.opening = Some(Opening { salt, text });
        commitments += 1;
    }
    if let Some((field, _)) = openings.into_iter().next() {
        return Err(format!(
            "stored text for {field:?} has no commitment in the payload"
        ));
    }
    Ok(Prepared {
        leaf,
        envelope,
        event: ev,
        commitments,
    })
}
