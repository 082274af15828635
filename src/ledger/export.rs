//! Exported logs: JSON Lines a member can download and check offline with
//! `settled verify --file`, with no database and no trust in the server.
//!
//! ```text
//! {"type":"header","format":"settled-log/1","team":{...},"origin":"...","verifier":"name+keyid+key"}
//! {"type":"entry","index":0,"payload":{<canonical JSON, byte for byte>},"leaf_hash":"<hex>","contents":[{"field":"title","salt":"<hex>","text":"..."}]}
//! ...
//! {"type":"checkpoint","note":"<C2SP signed checkpoint>"}
//! ```
//!
//! Erased texts are simply absent from `contents`: their commitments stay in
//! the payloads, so every hash and proof still holds.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::canonical::hex_array;
use super::checkpoint;
use super::merkle::{self, Hash};
use super::note::{Checkpoint, Signer, Verifier};
use super::verify::{Chain, Failure};
use crate::db::{self, Db};

/// The format name in the header.
pub const FORMAT: &str = "settled-log/1";

/// The team an export belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamInfo {
    /// Team id (in every payload).
    pub id: i64,
    /// Key at export time.
    pub key: String,
    /// Name at export time.
    pub name: String,
}

/// A stored opening in an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentLine {
    /// Field path in the payload.
    pub field: String,
    /// Hex salt.
    pub salt: String,
    /// The text.
    pub text: String,
}

/// One line of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    /// First line.
    Header {
        /// [`FORMAT`].
        format: String,
        /// The team.
        team: TeamInfo,
        /// The checkpoint origin.
        origin: String,
        /// The instance's verifier key (check it against one you trust).
        verifier: String,
    },
    /// An entry.
    Entry {
        /// Index from 0.
        index: i64,
        /// The exact hashed payload, embedded as raw JSON: its bytes are
        /// kept as they are (no re-encoding), and reading it back costs no
        /// unescaping.
        payload: Box<serde_json::value::RawValue>,
        /// Hex leaf hash.
        leaf_hash: String,
        /// Openings of its commitments (erased ones absent).
        #[serde(default)]
        contents: Vec<ContentLine>,
    },
    /// Last line: the signed checkpoint covering every entry.
    Checkpoint {
        /// The signed note.
        note: String,
    },
}

fn io(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

/// Writes the export of a team's whole log.
pub async fn write(
    db: &Db,
    signer: &Signer,
    team: &db::teams::Team,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut pool = db.reader();
    let header = Line::Header {
        format: FORMAT.into(),
        team: TeamInfo {
            id: team.id,
            key: team.key.clone(),
            name: team.name.clone(),
        },
        origin: checkpoint::origin(signer.name(), team.id),
        verifier: signer.verifier().encode(),
    };
    writeln!(out, "{}", serde_json::to_string(&header)?)?;
    // Entries and the checkpoint must describe the same tree: read the head
    // first and export exactly that many entries, even if writes continue.
    let head = db::log::read_head(pool.re(), team.id).await?;
    let size = head.as_ref().map_or(0, |h| h.size);
    let mut frontier = merkle::Frontier::new();
    let mut from = 0;
    while from < size {
        let batch =
            db::log::entries_with_openings(pool.re(), team.id, from, 2_000.min(size - from))
                .await?;
        let Some(last) = batch.last().map(|(e, _)| e.idx) else {
            break;
        };
        for (entry, openings) in batch {
            let lines = openings
                .into_iter()
                .map(|o| ContentLine {
                    field: o.field,
                    salt: hex::encode(o.salt),
                    text: o.text,
                })
                .collect();
            let leaf: Hash = entry.leaf_hash.as_slice().try_into().map_err(io)?;
            frontier.push(leaf);
            let payload = serde_json::value::RawValue::from_string(entry.payload)?;
            let line = Line::Entry {
                index: entry.idx,
                payload,
                leaf_hash: hex::encode(&entry.leaf_hash),
                contents: lines,
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        }
        from = last + 1;
    }
    let note = checkpoint::sign(signer, team.id, size, &frontier.root()).map_err(io)?;
    writeln!(
        out,
        "{}",
        serde_json::to_string(&Line::Checkpoint { note })?
    )?;
    Ok(u64::try_from(size).unwrap_or(0))
}

/// Lines parsed per batch (bounds memory on huge exports).
const CHUNK: usize = 16_384;

/// One line of an export after the stateless checks.
#[expect(
    clippy::large_enum_variant,
    reason = "almost every line is an entry; boxing would allocate once per entry"
)]
enum Parsed {
    Entry(i64, Result<super::verify::Prepared, String>),
    Checkpoint(String),
    Broken(usize, String),
}

/// An entry line as read: borrowed where nothing needs unescaping, and the
/// payload as the raw bytes that were hashed. (The [`Line`] enum is
/// internally tagged, and serde cannot hand raw JSON through such an enum.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryLine<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    index: i64,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
    leaf_hash: &'a str,
    #[serde(default, borrow)]
    contents: Vec<ContentRef<'a>>,
}

/// A [`ContentLine`] as read, borrowed unless its text has escapes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentRef<'a> {
    #[serde(borrow)]
    field: std::borrow::Cow<'a, str>,
    salt: &'a str,
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

fn parse_line(team_id: i64, n: usize, text: &mut std::io::Result<String>) -> Parsed {
    let text = match text {
        Ok(t) => std::mem::take(t),
        Err(e) => return Parsed::Broken(n, format!("cannot read: {e}")),
    };
    if let Ok(entry) = serde_json::from_str::<EntryLine<'_>>(&text)
        && entry.kind == "entry"
    {
        let prepared = (|| {
            let stored = hex_array::<32>(entry.leaf_hash, false)
                .ok_or_else(|| "leaf hash is not 64 hex digits".to_string())?;
            let mut openings = Vec::with_capacity(entry.contents.len());
            for c in entry.contents {
                let salt = hex_array::<16>(c.salt, false)
                    .ok_or_else(|| format!("salt of {} is not 32 hex digits", c.field))?;
                openings.push((c.field.into_owned(), (salt.to_vec(), c.text.into_owned())));
            }
            super::verify::prepare(team_id, entry.index, entry.payload.get(), &stored, openings)
        })();
        return Parsed::Entry(entry.index, prepared);
    }
    match serde_json::from_str::<Line>(&text) {
        Ok(Line::Checkpoint { note }) => Parsed::Checkpoint(note),
        Ok(Line::Header { .. }) => Parsed::Broken(n, "a second header".into()),
        Ok(Line::Entry { .. }) => Parsed::Broken(n, "unreadable entry".into()),
        Err(e) => Parsed::Broken(n, format!("not an export line: {e}")),
    }
}

/// What an offline check established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The team.
    pub team: TeamInfo,
    /// Entries checked.
    pub entries: u64,
    /// Commitments checked against their text.
    pub commitments: u64,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// The key that verified it.
    pub verifier: String,
    /// Whether that key was given by the caller (rather than read from the
    /// file itself, which only proves internal consistency).
    pub key_given: bool,
    /// Every leaf hash, in order (for consistency proofs).
    pub leaves: Vec<Hash>,
}

fn failure(team: &str, index: Option<i64>, problem: impl Into<String>) -> Failure {
    Failure {
        team: team.to_string(),
        index,
        problem: problem.into(),
    }
}

/// Checks an export offline: every leaf hash, payload, commitment and rule,
/// the root, and the checkpoint's signature (with `key`, or else the key in
/// the file). Names the first bad entry.
pub fn verify_file(input: impl BufRead, key: Option<&Verifier>) -> Result<FileReport, Failure> {
    let mut lines = input.lines().enumerate();
    let read = |n: usize, text: std::io::Result<String>| -> Result<Line, Failure> {
        let text =
            text.map_err(|e| failure("?", None, format!("line {}: cannot read: {e}", n + 1)))?;
        serde_json::from_str(&text).map_err(|e| {
            failure(
                "?",
                None,
                format!("line {}: not an export line: {e}", n + 1),
            )
        })
    };
    let (team, origin, file_verifier) = match lines.next() {
        Some((n, text)) => match read(n, text)? {
            Line::Header {
                format,
                team,
                origin,
                verifier,
            } if format == FORMAT => (team, origin, verifier),
            Line::Header { format, .. } => {
                return Err(failure("?", None, format!("unknown format {format:?}")));
            }
            _ => return Err(failure("?", None, "the first line must be the header")),
        },
        None => return Err(failure("?", None, "the file is empty")),
    };
    let name = team.key.clone();
    let verifier = match key {
        Some(k) => k.clone(),
        None => Verifier::parse(&file_verifier)
            .map_err(|e| failure(&name, None, format!("header verifier: {e}")))?,
    };
    let mut chain = Chain::new();
    let mut leaves = Vec::new();
    let mut note = None;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut chunk: Vec<(usize, std::io::Result<String>)> = Vec::with_capacity(CHUNK);
    let mut lines = lines.peekable();
    while lines.peek().is_some() {
        chunk.clear();
        chunk.extend(lines.by_ref().take(CHUNK));
        // Parsing and hashing need no state: spread them over the cores,
        // then take the results in order for the rules and the tree.
        let per_thread = chunk.len().div_ceil(threads).max(1);
        let parsed: Vec<Parsed> = std::thread::scope(|scope| {
            let workers: Vec<_> = chunk
                .chunks_mut(per_thread)
                .map(|part| {
                    scope.spawn(|| {
                        part.iter_mut()
                            .map(|(n, text)| parse_line(team.id, *n, text))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join().unwrap_or_else(|_| {
                        vec![Parsed::Broken(0, "a verifier thread failed".into())]
                    })
                })
                .collect()
        });
        for item in parsed {
            if note.is_some() {
                return Err(failure(&name, None, "content after the checkpoint"));
            }
            match item {
                Parsed::Entry(index, prepared) => {
                    let checked = chain
                        .accept(index, prepared)
                        .map_err(|(i, problem)| failure(&name, Some(i), problem))?;
                    leaves.push(checked.leaf);
                }
                Parsed::Checkpoint(text) => note = Some(text),
                Parsed::Broken(n, problem) => {
                    return Err(failure(&name, None, format!("line {}: {problem}", n + 1)));
                }
            }
        }
    }
    let note = note.ok_or_else(|| failure(&name, None, "no checkpoint: the file is truncated"))?;
    let text = verifier
        .open(&note)
        .map_err(|e| failure(&name, None, format!("checkpoint signature: {e}")))?;
    let checkpoint =
        Checkpoint::parse(&text).map_err(|e| failure(&name, None, format!("checkpoint: {e}")))?;
    if checkpoint.origin != origin
        || checkpoint.origin != checkpoint::origin(verifier.name(), team.id)
    {
        return Err(failure(
            &name,
            None,
            format!("checkpoint is for another log ({})", checkpoint.origin),
        ));
    }
    let size = chain.size();
    if checkpoint.size != size {
        let problem = if checkpoint.size > size {
            format!(
                "the checkpoint covers {} entries but the file has {size}: entries from {size} on are missing",
                checkpoint.size
            )
        } else {
            format!(
                "the file has {size} entries but the checkpoint covers only {}",
                checkpoint.size
            )
        };
        let index = i64::try_from(size.min(checkpoint.size)).ok();
        return Err(failure(&name, index, problem));
    }
    if checkpoint.root != chain.root() {
        return Err(failure(
            &name,
            None,
            "the entries do not hash to the checkpoint's root",
        ));
    }
    // After the size and root: a file cut short may have lost the erasures
    // that explain its missing texts, and the cut is the finding.
    chain
        .finish()
        .map_err(|(i, problem)| failure(&name, Some(i), problem))?;
    Ok(FileReport {
        team,
        entries: size,
        commitments: chain.commitments,
        checkpoint,
        verifier: verifier.encode(),
        key_given: key.is_some(),
        leaves,
    })
}

/// Proves that `old` (a signed checkpoint of the same log) describes a prefix
/// of the verified export `new`: recomputes the consistency proof from the
/// export's leaves and checks it against both roots.
pub fn verify_consistency(
    old_note: &str,
    new: &FileReport,
    key: &Verifier,
) -> Result<(u64, u64), Failure> {
    let name = new.team.key.clone();
    let text = key
        .open(old_note)
        .map_err(|e| failure(&name, None, format!("old checkpoint signature: {e}")))?;
    let old = Checkpoint::parse(&text)
        .map_err(|e| failure(&name, None, format!("old checkpoint: {e}")))?;
    if old.origin != new.checkpoint.origin {
        return Err(failure(
            &name,
            None,
            format!("the old checkpoint is for another log ({})", old.origin),
        ));
    }
    if old.size > new.checkpoint.size {
        return Err(failure(
            &name,
            None,
            "the old checkpoint is larger than the new one: the log was truncated",
        ));
    }
    if old.size == 0 {
        return Ok((0, new.checkpoint.size));
    }
    let proof = merkle::consistency_proof(&new.leaves, old.size, new.checkpoint.size)
        .ok_or_else(|| failure(&name, None, "cannot build a consistency proof"))?;
    merkle::verify_consistency(
        old.size,
        new.checkpoint.size,
        &proof,
        &old.root,
        &new.checkpoint.root,
    )
    .map_err(|e| {
        failure(
            &name,
            i64::try_from(old.size).ok(),
            format!("history was rewritten: the new log does not extend the old checkpoint ({e})"),
        )
    })?;
    Ok((old.size, new.checkpoint.size))
}
