//! Digest benchmark (issue #4): `cargo bench --bench digest`.
//!
//! Seeds 10,000 members in 20 teams of 500 with 500 open proposals (25 per
//! team, each with stances and fresh comments, plus two decisions per team
//! in the digest window) through the ledger, turns a daily digest on for
//! every member with their slot just past, then times one run of the digest
//! clock: building every member's digest for each of their teams and
//! queueing the rows (one write transaction). Reports the time, the rows,
//! and the peak RSS growth during the run (Linux: the peak is reset through
//! /proc/self/clear_refs first). Then delivers every queued digest through
//! the in-memory transport (compose + send), and times that too.
//!
//! Last, the outcome fan-out of issue #19: a decision in a team of 1,000
//! (`SETTLED_FANOUT_MEMBERS`) next to one in a team of 3, timing the
//! decision on the writer's path and the worker queueing the outcome
//! mails.
//!
//! `SETTLED_DIGEST_MEMBERS` and `SETTLED_DIGEST_TEAMS` change the size.

use settled::domain::ids::{Number, TeamId, UserId};
use settled::on;
use std::time::Instant;

use chrono::{Duration, Timelike, Utc};
use futures_util::future::try_join_all;
use futures_util::{StreamExt, stream};
use settled::db::{self, Db, users};
use settled::domain::ids::TeamKey;
use settled::domain::proposal::{DecisionDraft, Stance};
use settled::domain::team::Role;
use settled::ledger::Ledger;
use settled::ledger::commands::{NewProposal, NewTeam};
use settled::mail::{MailConfig, Mailer, Memory};

const OPEN_PER_TEAM: usize = 25;
const DECIDED_PER_TEAM: usize = 2;

fn err(e: settled::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", e.public_message())
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    Ok(match std::env::var(name) {
        Ok(v) => v.parse()?,
        Err(_) => default,
    })
}

fn status_kb(key: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let members_total = env_number("SETTLED_DIGEST_MEMBERS", 10_000)?;
    let team_count = env_number("SETTLED_DIGEST_TEAMS", 20)?.max(1);
    let per_team = (members_total / team_count).max(2);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("digest.db").display());
    let db = Db::connect(&url).await?;
    let ledger = Ledger::new(db.clone()).await.map_err(err)?;

    let seeding = Instant::now();
    // Accounts in one transaction (a password hash is not what is measured).
    let mut teams: Vec<Vec<i64>> = Vec::new();
    let mut tx = db.begin_write().await?;
    for t in 0..team_count {
        let mut members = Vec::with_capacity(per_team);
        for m in 0..per_team {
            let email = format!("m{m}.t{t}@digest.example");
            let user = users::insert(
                tx.ex(),
                &email,
                &email,
                &format!("Member {m} of team {t}"),
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                "UTC",
                db::Timestamp(db::now()),
            )
            .await?;
            members.push(user.id);
        }
        teams.push(members);
    }
    tx.commit().await?;
    let tasks = teams.into_iter().enumerate().map(|(t, members)| {
        let ledger = ledger.clone();
        tokio::spawn(async move { seed_team(&ledger, t, &members).await })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await??;
    }
    // The seed's own notifications (decisions, named deciders) are not
    // what is measured.
    on!(db.writer(), |c| sqlx::query(
        "UPDATE outbox SET status = 'sent'"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    // Nor are the announcements the seed wrote (the fan-out below times
    // its own).
    on!(db.writer(), |c| sqlx::query(
        "UPDATE announcements SET done_at = created_at"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    // Everyone: daily digests, the slot an hour's start ago at most.
    let now = Utc::now();
    on!(db.writer(), |c| sqlx::query(
        "UPDATE users SET digest = 'daily', digest_hour = $1, last_digest_at = $2"
    )
    .bind(i64::from(now.hour()))
    .bind(db::Timestamp(now - Duration::hours(25)))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let open: i64 = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM proposals WHERE status = 'open'"
    )
    .fetch_one(c)
    .await)?;
    let users: i64 = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(c)
    .await)?;
    let comments: i64 = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM comments"
    )
    .fetch_one(c)
    .await)?;
    let stances: i64 = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM stances"
    )
    .fetch_one(c)
    .await)?;
    eprintln!(
        "seeded {users} members in {team_count} teams, {open} open proposals, {stances} stances, {comments} comments in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    // Reset the peak so it covers the run alone.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kb("VmRSS:").unwrap_or(0);
    let started = Instant::now();
    let run = settled::mail::digest::queue_due(&db, ledger.writer(), Utc::now())
        .await
        .map_err(err)?;
    let queue_time = started.elapsed();
    let peak = status_kb("VmHWM:").unwrap_or(0);
    let bytes: i64 = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM outbox WHERE kind = 'digest'",
    )
    .fetch_one(c)
    .await)?;

    // Delivery through the in-memory transport.
    let memory = Memory::default();
    let mailer = Mailer::new(
        MailConfig {
            memory: Some(memory.clone()),
            ..MailConfig::default()
        },
        "https://settled.example",
    )?;
    let signer = settled::ledger::checkpoint::load_or_create(&db, "settled.example").await?;
    let worker = settled::mail::worker::Worker {
        composer: settled::mail::compose::Composer {
            db: db.clone(),
            base_url: "https://settled.example".into(),
            keys: settled::mail::unsubscribe::Keys::new(&signer.seed()),
            clock: ledger.clock().clone(),
        },
        mailer,
        writer: ledger.writer().clone(),
        ledger: ledger.clone(),
    };
    let started = Instant::now();
    let delivered = worker.deliver_due().await.map_err(err)?;
    let deliver_time = started.elapsed();
    let sent = memory.messages();
    let mail_bytes: usize = sent.iter().map(|(_, m)| m.len()).sum();

    println!("| measure | result |");
    println!("|---|---|");
    println!("| members / teams / open proposals | {users} / {team_count} / {open} |");
    println!("| members due | {} |", run.due);
    println!("| digests built and queued | {} |", run.queued);
    println!(
        "| **time to build and queue** | **{:.2} s** (target < 10 s) |",
        queue_time.as_secs_f64()
    );
    println!(
        "| RSS before / peak during the run | {} / {} MB |",
        rss_before / 1024,
        peak / 1024
    );
    println!("| queued digest data | {:.1} MB |", bytes as f64 / 1e6);
    println!(
        "| composing and sending all ({delivered} mails, {:.1} MB, in-memory transport) | {:.2} s ({:.0} mails/s) |",
        mail_bytes as f64 / 1e6,
        deliver_time.as_secs_f64(),
        delivered as f64 / deliver_time.as_secs_f64()
    );
    anyhow::ensure!(
        run.queued == delivered,
        "queued {} but delivered {delivered}",
        run.queued
    );

    // Outcome fan-out (issue #19): a decision in a team of 1,000 writes one
    // announcement on the writer's path; the worker expands it into the
    // members' outbox rows afterwards.
    let fan = env_number("SETTLED_FANOUT_MEMBERS", 1_000)?.max(3);
    let small = fanout_decision(&db, &ledger, "SMALL", 3).await?;
    worker.expand_announcements().await.map_err(err)?;
    let big = fanout_decision(&db, &ledger, "FAN", fan).await?;
    let started = Instant::now();
    let queued = worker.expand_announcements().await.map_err(err)?;
    let fanout_time = started.elapsed();
    let expected = u64::try_from(fan - 1)?;
    anyhow::ensure!(
        queued == expected,
        "queued {queued} outcome mails, expected {expected}"
    );
    println!(
        "| recording a decision: team of 3 / team of {fan} (the writer's path) | {:.1} / {:.1} ms ({:.2}×) |",
        small.as_secs_f64() * 1e3,
        big.as_secs_f64() * 1e3,
        big.as_secs_f64() / small.as_secs_f64()
    );
    println!(
        "| **queueing the outcome mails of the team of {fan} ({queued} rows)** | **{:.3} s** (target < 1 s) |",
        fanout_time.as_secs_f64()
    );
    db.close().await;
    Ok(())
}

/// A team: its members join, 25 open proposals with stances and comments,
/// two decided.
async fn seed_team(ledger: &Ledger, t: usize, members: &[i64]) -> anyhow::Result<()> {
    let admin = members[0];
    let team = ledger
        .create_team(
            UserId(admin),
            NewTeam {
                name: format!("Digest team {t}"),
                slug: format!("digest-{t}"),
                key: TeamKey::parse(&format!("DIG{t}"))?,
                window_hours: 72,
            },
        )
        .await
        .map_err(err)?
        .id;
    let mut joins = stream::iter(members[1..].iter().copied())
        .map(|user| settled::demo::join(ledger, team, admin, user, Role::Member))
        .buffer_unordered(64);
    while let Some(joined) = joins.next().await {
        joined?;
    }
    for p in 0..OPEN_PER_TEAM + DECIDED_PER_TEAM {
        let author = members[p % members.len()];
        let decided = p >= OPEN_PER_TEAM;
        let number = ledger
            .create_proposal(
                UserId(author),
                TeamId(team),
                NewProposal {
                    title: format!("Proposal {p} of team {t}"),
                    body: "Move the service to the new platform in two steps.".into(),
                    area: None,
                    decider: Some(admin),
                    closes_at: Some(db::now() + Duration::days(if p % 3 == 0 { 1 } else { 10 })),
                    supersedes: None,
                },
            )
            .await
            .map_err(err)?;
        // A fifth of the members take a stance (all of them on the ones
        // decided), a few comment.
        let voters: Vec<i64> = if decided {
            members.to_vec()
        } else {
            members.iter().copied().skip(p % 5).step_by(5).collect()
        };
        let stances = voters.iter().map(|&m| {
            let ledger = ledger.clone();
            async move {
                ledger
                    .take_stance(
                        UserId(m),
                        TeamId(team),
                        Number(number),
                        Stance::parse("agree", None)?,
                    )
                    .await
                    .map_err(err)?;
                anyhow::Ok(())
            }
        });
        try_join_all(stances).await?;
        let talk = (0..4).map(|c| {
            let ledger = ledger.clone();
            let member = members[(p * 7 + c * 13) % members.len()];
            async move {
                ledger
                    .comment(
                        UserId(member),
                        TeamId(team),
                        Number(number),
                        format!("Comment {c} on proposal {p}."),
                    )
                    .await
                    .map_err(err)?;
                anyhow::Ok(())
            }
        });
        try_join_all(talk).await?;
        if decided {
            ledger
                .record(
                    UserId(admin),
                    TeamId(team),
                    Number(number),
                    DecisionDraft::parse("accepted", "We move it in two steps.", "Less risk.", [])?,
                )
                .await
                .map_err(err)?;
        }
    }
    Ok(())
}

/// A team of `size` whose voters all agree with one proposal; returns how
/// long recording its decision took (its announcement is left pending).
async fn fanout_decision(
    db: &Db,
    ledger: &Ledger,
    key: &str,
    size: usize,
) -> anyhow::Result<std::time::Duration> {
    let mut tx = db.begin_write().await?;
    let mut members = Vec::with_capacity(size);
    for m in 0..size {
        let email = format!("m{m}@{}.fanout.example", key.to_lowercase());
        let user = users::insert(
            tx.ex(),
            &email,
            &email,
            &format!("Member {m} of {key}"),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "UTC",
            db::Timestamp(db::now()),
        )
        .await?;
        members.push(user.id);
    }
    tx.commit().await?;
    let admin = members[0];
    let team = ledger
        .create_team(
            UserId(admin),
            NewTeam {
                name: format!("Fan-out {key}"),
                slug: format!("fanout-{}", key.to_lowercase()),
                key: TeamKey::parse(key)?,
                window_hours: 72,
            },
        )
        .await
        .map_err(err)?
        .id;
    let mut joins = stream::iter(members[1..].iter().copied())
        .map(|user| settled::demo::join(ledger, team, admin, user, Role::Member))
        .buffer_unordered(64);
    while let Some(joined) = joins.next().await {
        joined?;
    }
    let number = ledger
        .create_proposal(
            UserId(admin),
            TeamId(team),
            NewProposal {
                title: format!("Everyone hears of this ({key})"),
                body: "The outcome reaches every member.".into(),
                area: None,
                decider: Some(admin),
                closes_at: Some(db::now() + Duration::days(3)),
                supersedes: None,
            },
        )
        .await
        .map_err(err)?;
    let stances = members.iter().map(|&m| {
        let ledger = ledger.clone();
        async move {
            ledger
                .take_stance(
                    UserId(m),
                    TeamId(team),
                    Number(number),
                    Stance::parse("agree", None)?,
                )
                .await
                .map_err(err)?;
            anyhow::Ok(())
        }
    });
    try_join_all(stances).await?;
    // Only the decision's announcement is left to expand.
    on!(db.writer(), |c| sqlx::query(
        "UPDATE announcements SET done_at = created_at WHERE done_at IS NULL"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let started = Instant::now();
    ledger
        .record(
            UserId(admin),
            TeamId(team),
            Number(number),
            DecisionDraft::parse("accepted", "Everyone hears of it.", "", [])?,
        )
        .await
        .map_err(err)?;
    Ok(started.elapsed())
}
