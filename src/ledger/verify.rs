//! `settled verify`: recompute every leaf hash, content commitment and root,
//! check every missing text against the erasures in the log, check the roots
//! against the records kept outside the log (each decision's seal and the
//! stored head), rebuild the read tables from the log and compare them with
//! the live ones, and check that the triggers keeping the log append-only
//! are in place. The first disagreement is named by team and entry index.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
    /// A trigger that keeps the log append-only is gone (or changed): the
    /// log may be intact, but nothing stops it being rewritten.
    #[error(
        "the append-only trigger {trigger} on log_entries is missing or changed, so anyone \
         who can write to the database could rewrite the log unnoticed: re-create it as \
         {migration} does"
    )]
    Unguarded {
        /// The trigger's name.
        trigger: &'static str,
        /// The migration that creates it.
        migration: &'static str,
    },
    /// The database could not be read.
    #[error("could not read the database: {0}")]
    Io(#[from] crate::error::Error),
}

/// The triggers that make `log_entries` append-only on SQLite: name and the
/// change each refuses.
const SQLITE_GUARDS: &[(&str, &str)] = &[
    ("log_entries_no_update", "BEFORE UPDATE ON"),
    ("log_entries_no_delete", "BEFORE DELETE ON"),
];

/// The same on PostgreSQL, where TRUNCATE fires no row trigger and needs
/// its own.
const PG_GUARDS: &[(&str, &str)] = &[
    ("log_entries_no_update", "BEFORE UPDATE ON"),
    ("log_entries_no_delete", "BEFORE DELETE ON"),
    ("log_entries_no_truncate", "BEFORE TRUNCATE ON"),
];

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
        let mut witnesses = Witnesses::default();
        let mut seals = db::log::seals(pool.re(), team_id)
            .await?
            .into_iter()
            .peekable();
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
                let root = chain.root();
                while let Some(seal) = seals.next_if(|s| s.tree_size <= idx + 1) {
                    witnesses.seal(&name, idx, &checked.leaf, &root, &seal);
                }
                let appended = Appended {
                    team_id,
                    index: idx,
                    time: checked.envelope.time,
                    actor: checked.envelope.actor,
                    leaf_hash: checked.leaf,
                    tree_size: idx + 1,
                    root,
                };
                project(tx.ex(), &appended, &checked.event)
                    .await
                    .map_err(|e| fail(Some(idx), format!("does not replay: {e}")))?;
                next += 1;
            }
            tx.commit().await?;
        }
        if let Some(seal) = seals.next() {
            // A decision sealed a longer log than there is: its end was cut.
            return Err(fail(
                Some(next),
                format!(
                    "the log ends here, but decision {name}-{} was sealed at tree size {}: \
                     entries from {next} on were removed",
                    seal.number, seal.tree_size
                ),
            )
            .into());
        }
        report.entries += chain.size();
        report.commitments += chain.commitments;
        match db::log::read_head(pool.re(), team_id).await? {
            Some(h) if h.size != next => {
                return Err(fail(
                    None,
                    format!("head says {} entries, the log holds {next}", h.size),
                )
                .into());
            }
            Some(h) if h.root == chain.root() && h.frontier == chain.frontier_bytes() => {}
            Some(_) => {
                witnesses.contradict(next - 1, Record::Head, "the stored head".into(), false);
            }
            None => return Err(fail(None, "has a log but no stored head".into()).into()),
        }
        if let Some(found) = witnesses.contradicted {
            let from = witnesses.confirmed;
            let changed = first_changed_row(pool.re(), &rebuilt, team_id, from, found.last).await?;
            let problem = match changed {
                Some(_) => format!(
                    "the log was changed after it was sealed: the root after entry {} disagrees \
                     with {}, and this is the first of entries {from} to {} whose rows in the \
                     tables no longer match its payload",
                    found.last,
                    found.records(),
                    found.last
                ),
                None if found.leaf => format!(
                    "the log was changed after it was sealed: this entry's leaf hash disagrees \
                     with the one {} recorded",
                    found.by
                ),
                None => format!(
                    "the log was changed after it was sealed: the root after this entry \
                     disagrees with {}, so one of entries {from} to {} was rewritten",
                    found.records(),
                    found.last
                ),
            };
            return Err(fail(Some(changed.unwrap_or(found.last)), problem).into());
        }
        chain
            .finish()
            .map_err(|(i, problem)| fail(Some(i), problem))?;
        if let Some((idx, field, text_left)) = db::log::half_erased(pool.re(), team_id).await? {
            let problem = if text_left {
                format!("the text of {field} is stored without its salt")
            } else {
                format!("the salt of {field} is still stored although its text is gone")
            };
            return Err(fail(Some(idx), problem).into());
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
    check_guards(pool.re(), live.backend()).await?;
    Ok(report)
}

/// Checks that every trigger keeping `log_entries` append-only exists, is
/// enabled, fires before the change it is named for on every row, and
/// raises an error. Names the first that does not.
async fn check_guards(ex: db::Ex<'_>, backend: db::Backend) -> Result<(), VerifyError> {
    let (guards, raise, migration) = match backend {
        db::Backend::Sqlite => (
            SQLITE_GUARDS,
            "RAISE(ABORT",
            "migrations/sqlite/0001_initial.sql",
        ),
        db::Backend::Postgres => (
            PG_GUARDS,
            "RAISE EXCEPTION",
            "migrations/postgres/0001_initial.sql",
        ),
    };
    let found: HashMap<String, String> = db::log::log_entry_triggers(ex)
        .await?
        .into_iter()
        .map(|(name, definition)| {
            // One spelling to compare: upper case, single spaces.
            let words: Vec<&str> = definition.split_whitespace().collect();
            (name, words.join(" ").to_uppercase())
        })
        .collect();
    for (trigger, fires) in guards {
        let intact = found.get(*trigger).is_some_and(|definition| {
            // A WHEN clause would let chosen rows through.
            definition.contains(fires)
                && definition.contains(raise)
                && !definition.contains(" WHEN ")
        });
        if !intact {
            return Err(VerifyError::Unguarded { trigger, migration });
        }
    }
    Ok(())
}

/// The records kept outside the log that confirm or contradict its roots:
/// each decision's seal (its sealing entry's leaf hash and the root right
/// after it) and the team's stored head.
#[derive(Debug, Default)]
struct Witnesses {
    /// Entries below this index are confirmed by a stored root that matches.
    confirmed: i64,
    /// The first stored record the log contradicts.
    contradicted: Option<Contradiction>,
}

/// A stored root (or leaf hash) that the recomputed log disagrees with.
#[derive(Debug)]
struct Contradiction {
    /// The entry after which the roots disagree.
    last: i64,
    /// The record: "the seal of decision KEY-N", "the stored head".
    by: String,
    /// Whether the entry `last` itself has another leaf hash than recorded.
    leaf: bool,
    /// Later decision seals that disagree too.
    later_seals: usize,
    /// Whether the stored head disagrees too (when `by` is a seal).
    head_too: bool,
}

impl Contradiction {
    /// "the seal of decision KEY-1 (as do 2 later decision seals and the stored head)".
    fn records(&self) -> String {
        let mut later = Vec::new();
        match self.later_seals {
            0 => {}
            1 => later.push("1 later decision seal".to_string()),
            n => later.push(format!("{n} later decision seals")),
        }
        if self.head_too {
            later.push("the stored head".into());
        }
        if later.is_empty() {
            self.by.clone()
        } else {
            format!("{} (as do {})", self.by, later.join(" and "))
        }
    }
}

/// What a witness is, for [`Witnesses::contradict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    /// A decision's seal.
    Seal,
    /// The team's stored head.
    Head,
}

impl Witnesses {
    /// Checks `seal` against the log after entry `idx`.
    fn seal(&mut self, team: &str, idx: i64, leaf: &Hash, root: &Hash, seal: &db::log::Seal) {
        let leaf_differs = seal.log_idx == idx && seal.leaf_hash != leaf;
        if seal.tree_size != idx + 1 || seal.root_hash != root || leaf_differs {
            let by = format!("the seal of decision {team}-{}", seal.number);
            self.contradict(idx, Record::Seal, by, leaf_differs);
        } else if self.contradicted.is_none() {
            self.confirmed = idx + 1;
        }
    }

    /// Notes that `by` disagrees with the log after entry `last`. The first
    /// contradiction is kept (it bounds the change most tightly); later
    /// ones are counted beside it.
    fn contradict(&mut self, last: i64, record: Record, by: String, leaf: bool) {
        match &mut self.contradicted {
            Some(first) => match record {
                Record::Seal => first.later_seals += 1,
                Record::Head => first.head_too = true,
            },
            None => {
                self.contradicted = Some(Contradiction {
                    last: last.max(0),
                    by,
                    leaf,
                    later_seals: 0,
                    head_too: false,
                });
            }
        }
    }
}

/// The first entry of the team in `[from, to]` whose rows in the live tables
/// differ from those rebuilt from the log: where a rewritten entry shows.
async fn first_changed_row(
    mut live: db::Ex<'_>,
    rebuilt: &Db,
    team_id: i64,
    from: i64,
    to: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let mut first: Option<i64> = None;
    for (_, columns, source) in db::snapshot::TABLES {
        let have = db::snapshot::rows(live.re(), columns, source).await?;
        let want = db::snapshot::rows(rebuilt.reader(), columns, source).await?;
        let have_set: HashSet<&String> = have.iter().collect();
        let want_set: HashSet<&String> = want.iter().collect();
        let odd = have
            .iter()
            .filter(|r| !want_set.contains(r))
            .chain(want.iter().filter(|r| !have_set.contains(r)));
        for row in odd {
            if let (Some(team), Some(idx)) = locate(row)
                && team == team_id
                && (from..=to).contains(&idx)
            {
                first = Some(first.map_or(idx, |f| f.min(idx)));
            }
        }
    }
    Ok(first)
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
/// keeps the Merkle frontier, and accounts for every missing text: each
/// must be erased by a later `content_erased` entry ([`Chain::finish`]), and
/// each such entry must erase a text that is missing. Shared by the
/// database check and the offline check of exported files.
#[derive(Debug, Default)]
pub struct Chain {
    frontier: Frontier,
    history: Replay,
    /// Commitments checked against a supplied text.
    pub commitments: u64,
    /// `(entry, field)` of texts missing and not (yet) explained by an
    /// erasure. Few: only erased texts are missing from an intact log.
    missing: BTreeSet<(i64, String)>,
    /// `(entry, field)` erased so far → the `content_erased` entry.
    erased: BTreeMap<(i64, String), i64>,
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

    /// The frontier over the entries accepted so far, as a head stores it.
    pub fn frontier_bytes(&self) -> Vec<u8> {
        self.frontier.to_bytes()
    }

    /// After the last entry: every missing text must have been erased by a
    /// `content_erased` entry. Otherwise the first unexplained one: a text
    /// deleted behind the log's back.
    pub fn finish(&self) -> Result<(), (i64, String)> {
        match self.missing.first() {
            Some((idx, field)) => Err((
                *idx,
                format!("the text of {field} is missing, and no content_erased entry erased it"),
            )),
            None => Ok(()),
        }
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
        if let event::Event::ContentErased { entry, field } = &prepared.event {
            // The replay checked that `entry` precedes this one.
            let key = (*entry, field.clone());
            if !self.missing.remove(&key) {
                let problem = match self.erased.get(&key) {
                    Some(earlier) => {
                        format!(
                            "erases {field} of entry {entry}, which entry {earlier} erased already"
                        )
                    }
                    None => format!(
                        "erases {field} of entry {entry}, but that text is still stored \
                         (or entry {entry} has no such text)"
                    ),
                };
                return Err((idx, problem));
            }
            self.erased.insert(key, idx);
        }
        self.missing
            .extend(prepared.missing.into_iter().map(|field| (idx, field)));
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
    /// Fields whose text was not supplied.
    missing: Vec<String>,
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
    let mut missing = Vec::new();
    for (field, content) in ev.contents_mut() {
        let Some(at) = openings.iter().position(|(f, _)| *f == field) else {
            // Erased, the chain checks: the commitment alone stays verifiable.
            missing.push(field);
            continue;
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
        missing,
    })
}
