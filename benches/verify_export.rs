//! How fast an exported log verifies offline (issue #6 target: at least
//! 500,000 entries per second on the 2-core reference machine).
//!
//! Builds a valid export of N entries in memory (default 1,000,000; set
//! `SETTLED_BENCH_ENTRIES`) with the library's own payload and checkpoint
//! code, then times `verify_file` on it. In the same run it times the bare
//! ceiling of the work, SHA-256 leaf hashing of the same payloads, and
//! reports the ratio, since absolute figures vary on shared machines.
//!
//! Run: `cargo bench --bench verify_export`

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use settled::domain::proposal::{Outcome, Position};
use settled::domain::team::Role;
use settled::ledger::event::{Content, Envelope, Event, canonical_payload};
use settled::ledger::export::{ContentLine, FORMAT, Line, TeamInfo, verify_file};
use settled::ledger::merkle::{self, Frontier};
use settled::ledger::{checkpoint, note::Signer};

fn text(body: &str, n: u64) -> Content {
    let mut salt = [0u8; 16];
    salt[..8].copy_from_slice(&n.to_le_bytes());
    Content::with_salt(salt, body.to_string())
}

fn generate(entries: u64, signer: &Signer) -> (String, Vec<String>) {
    let team = 1;
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let mut out = String::with_capacity(entries as usize * 400);
    let mut payloads = Vec::with_capacity(entries as usize);
    let header = Line::Header {
        format: FORMAT.into(),
        team: TeamInfo {
            id: team,
            key: "BENCH".into(),
            name: "Bench".into(),
        },
        origin: checkpoint::origin(signer.name(), team),
        verifier: signer.verifier().encode(),
    };
    out.push_str(&serde_json::to_string(&header).unwrap_or_default());
    out.push('\n');
    let mut frontier = Frontier::new();
    let mut index = 0u64;
    let mut proposal = 0i64;
    let mut step = 0u64;
    while index < entries {
        let time = start + Duration::milliseconds(index as i64);
        let (actor, event) = match index {
            0 => (
                1,
                Event::TeamCreated {
                    name: "Bench".into(),
                    slug: "bench".into(),
                    key: "BENCH".into(),
                    window_hours: 72,
                },
            ),
            1 => (
                2,
                Event::MemberJoined {
                    user: 2,
                    role: Role::Member,
                },
            ),
            2 => (
                3,
                Event::MemberJoined {
                    user: 3,
                    role: Role::Observer,
                },
            ),
            _ => {
                // Per proposal: open, 8 comments, 2 stances, the decision.
                let event = match step % 12 {
                    0 => {
                        proposal += 1;
                        (
                            1,
                            Event::ProposalCreated {
                                number: proposal,
                                title: text("A proposal title of ordinary length", index),
                                body: text(
                                    "A body of a few sentences explaining the proposal, its context and its consequences for the team.",
                                    index,
                                ),
                                area: None,
                                decider: 2,
                                closes_at: time + Duration::days(3),
                                supersedes: None,
                            },
                        )
                    }
                    1..=8 => (
                        1 + (step % 3) as i64,
                        Event::CommentAdded {
                            number: proposal,
                            body: text(
                                "A comment of one or two sentences, as people write them.",
                                index,
                            ),
                        },
                    ),
                    9 => (
                        1,
                        Event::StanceTaken {
                            number: proposal,
                            position: Position::Agree,
                            reason: None,
                        },
                    ),
                    10 => (
                        2,
                        Event::StanceTaken {
                            number: proposal,
                            position: Position::Agree,
                            reason: Some(text("Makes sense.", index)),
                        },
                    ),
                    _ => (
                        2,
                        Event::DecisionRecorded {
                            number: proposal,
                            outcome: Outcome::Accepted,
                            statement: text("We do it as proposed.", index),
                            rationale: text("Everyone agreed.", index),
                            responses: BTreeMap::new(),
                        },
                    ),
                };
                step += 1;
                event
            }
        };
        let envelope = Envelope {
            team,
            index: index as i64,
            time,
            actor,
        };
        let payload = canonical_payload(&envelope, &event).unwrap_or_default();
        let leaf = merkle::leaf_hash(payload.as_bytes());
        frontier.push(leaf);
        let contents = event
            .contents()
            .into_iter()
            .filter_map(|(field, c)| {
                c.opening.as_ref().map(|o| ContentLine {
                    field,
                    salt: hex::encode(o.salt),
                    text: o.text.clone(),
                })
            })
            .collect();
        let raw = serde_json::value::RawValue::from_string(payload.clone()).unwrap_or_default();
        let line = Line::Entry {
            index: index as i64,
            payload: raw,
            leaf_hash: hex::encode(leaf),
            contents,
        };
        out.push_str(&serde_json::to_string(&line).unwrap_or_default());
        out.push('\n');
        payloads.push(payload);
        index += 1;
    }
    let note = checkpoint::sign(signer, team, entries as i64, &frontier.root()).unwrap_or_default();
    out.push_str(&serde_json::to_string(&Line::Checkpoint { note }).unwrap_or_default());
    out.push('\n');
    (out, payloads)
}

fn main() {
    let entries: u64 = std::env::var("SETTLED_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let Ok(signer) = Signer::from_seed("bench.example", [7; 32]) else {
        eprintln!("cannot build the signer");
        std::process::exit(1);
    };
    let started = Instant::now();
    let (export, payloads) = generate(entries, &signer);
    println!(
        "generated {entries} entries ({} MB) in {:.1} s",
        export.len() / 1_000_000,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let leaves: Vec<_> = payloads
        .iter()
        .map(|p| merkle::leaf_hash(p.as_bytes()))
        .collect();
    let root = merkle::root_from_leaves(&leaves);
    let ceiling = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let report = match verify_file(export.as_bytes(), Some(&signer.verifier())) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("the generated export does not verify: {err}");
            std::process::exit(1);
        }
    };
    let verify = started.elapsed().as_secs_f64();
    assert_eq!(report.checkpoint.root, root);
    // Where the time goes, on one core: reading the export's lines, and
    // reading a payload into its event (canonical check included).
    let started = Instant::now();
    let events = payloads
        .iter()
        .filter(|p| settled::ledger::event::parse_payload(p).is_ok())
        .count();
    let payload_time = started.elapsed().as_secs_f64();
    let parsed_events: Vec<_> = payloads
        .iter()
        .filter_map(|p| settled::ledger::event::parse_payload(p).ok())
        .collect();
    let started = Instant::now();
    let mut replay = settled::ledger::replay::Replay::new();
    let replayed = parsed_events
        .iter()
        .filter(|(env, ev)| replay.apply(env, ev).is_ok())
        .count();
    let replay_time = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let read = std::io::BufRead::lines(export.as_bytes()).count();
    let read_time = started.elapsed().as_secs_f64();
    drop(parsed_events);
    println!(
        "one core: rule replay {:.0}/s ({replayed}), reading lines {:.0}/s ({read})",
        entries as f64 / replay_time,
        entries as f64 / read_time
    );
    println!(
        "one core: payloads to events {:.0}/s ({events})",
        entries as f64 / payload_time
    );
    let rate = entries as f64 / verify;
    println!(
        "ceiling (leaf hashes + root only): {:.0} entries/s",
        entries as f64 / ceiling
    );
    println!(
        "verify_file (parse, canonical check, commitments, rule replay, root, signature): {rate:.0} entries/s, {verify:.2} s"
    );
    println!("ratio verify / ceiling: {:.3}", ceiling / verify);
    println!(
        "target 500000 entries/s: {}",
        if rate >= 500_000.0 { "met" } else { "NOT met" }
    );
}
