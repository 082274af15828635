//! Seeds a database of realistic size for the HTTP benchmark (issue #7)
//! through the app's own write path (the ledger's commands, group commit
//! and all), then prints what the load generator needs.
//!
//! Default size: 20 teams of 12 voting members, 250 proposals per team
//! (5,000), 20 comments and 40 stances per proposal on average (100,000
//! and 200,000), four in five proposals decided. The first team's last
//! proposal stays open with 50 comments: the page the benchmark loads.
//!
//! Run: `cargo run --release --example bench_seed -- sqlite://bench.db`
//! (`bash bench/run.sh` does this). `SETTLED_SEED_SCALE=0.1` seeds a tenth.

use settled::domain::ids::{Number, TeamId, UserId};
use settled::on;
use std::time::Instant;

use anyhow::Context;
use chrono::Duration;
use futures_util::future::try_join_all;
use futures_util::{StreamExt, stream};
use settled::db::{self, Db, users};
use settled::domain::ids::TeamKey;
use settled::domain::proposal::{DecisionDraft, Stance};
use settled::domain::team::Role;
use settled::ledger::Ledger;
use settled::ledger::commands::{NewProposal, NewTeam};
use settled::password::Hasher;

/// Password of every seeded account.
const PASSWORD: &str = "bench-password";
const TEAMS: usize = 20;
const MEMBERS: usize = 12;
const PROPOSALS_PER_TEAM: usize = 250;
/// Per proposal, on average (stances include changes of mind).
const COMMENTS: usize = 20;
const STANCES: usize = 40;
/// Comments on the proposal the benchmark loads.
const PAGE_COMMENTS: usize = 50;

const POSITIONS: [&str; 3] = ["agree", "disagree", "abstain"];

fn err(e: settled::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", e.public_message())
}

fn comment_text(p: usize, c: usize) -> String {
    format!(
        "Comment {c} on proposal {p}. We looked at the **numbers** from last quarter and \
         the trade-off still holds: the migration costs two weeks, but it removes a whole \
         class of incidents.\n\n* first point, with `code`\n* second point, with a \
         [link](https://example.com/notes/{p}/{c})"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .context("usage: bench_seed DATABASE_URL")?;
    let scale: f64 = std::env::var("SETTLED_SEED_SCALE")
        .ok()
        .map(|s| s.parse())
        .transpose()
        .context("SETTLED_SEED_SCALE is a number")?
        .unwrap_or(1.0);
    let proposals_per_team = ((PROPOSALS_PER_TEAM as f64 * scale).ceil() as usize).max(1);
    let started = Instant::now();
    let db = Db::connect(&url).await?;
    let hash = Hasher::new(1).hash(PASSWORD.to_string()).await?;
    let ledger = Ledger::new(db.clone()).await.map_err(err)?;

    // Accounts first, then every team's history at once (the ledger's
    // writer batches them as it would concurrent requests).
    let mut teams = Vec::new();
    for t in 0..TEAMS {
        let mut members = Vec::new();
        for m in 0..MEMBERS {
            let email = format!("m{m}.t{t}@bench.example");
            let mut conn = db.writer();
            let user = users::insert(
                conn.re(),
                &email,
                &email,
                &format!("Member {m} of team {t}"),
                &hash,
                "Europe/Berlin",
                db::Timestamp(db::now()),
            )
            .await?;
            members.push(user.id);
        }
        teams.push(members);
    }
    // Seeded accounts have no inboxes: without this, the seed would leave
    // tens of thousands of "decided" mails queued, and the server would be
    // delivering them while it is measured.
    on!(db.writer(), |c| sqlx::query(
        "UPDATE users SET notify_decider = FALSE, notify_decided = FALSE, notify_reminder = FALSE",
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let mut tasks = Vec::new();
    for (t, members) in teams.into_iter().enumerate() {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            seed_team(&ledger, t, &members, proposals_per_team).await
        }));
    }
    let mut totals = [0usize; 3];
    for task in tasks {
        let counts = task.await??;
        for (total, n) in totals.iter_mut().zip(counts) {
            *total += n;
        }
    }
    let entries: i64 = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)?;
    eprintln!(
        "seeded {TEAMS} teams, {} proposals, {} comments, {} stances ({entries} log entries) in {:.1} s",
        totals[0],
        totals[1],
        totals[2],
        started.elapsed().as_secs_f64()
    );
    // What the load generator needs, as shell assignments.
    println!("BENCH_EMAIL=m0.t0@bench.example");
    println!("BENCH_PASSWORD={PASSWORD}");
    println!("BENCH_TEAM=bench-0");
    println!("BENCH_PROPOSAL=BENCH0-{proposals_per_team}");
    db.close().await;
    Ok(())
}

/// One team's history; returns (proposals, comments, stances).
async fn seed_team(
    ledger: &Ledger,
    t: usize,
    members: &[i64],
    proposals: usize,
) -> anyhow::Result<[usize; 3]> {
    let admin = members[0];
    let created = ledger
        .create_team(
            UserId(admin),
            NewTeam {
                name: format!("Bench team {t}"),
                slug: format!("bench-{t}"),
                key: TeamKey::parse(&format!("BENCH{t}"))?,
                window_hours: 72,
            },
        )
        .await
        .map_err(err)?;
    let team = created.id;
    for &user in &members[1..] {
        settled::demo::join(ledger, team, admin, user, Role::Member).await?;
    }
    // Several proposals at a time, as a busy team would; the page
    // proposal last, so it gets the last number.
    let mut counts = [0usize; 3];
    let mut done = stream::iter(1..proposals)
        .map(|p| seed_proposal(ledger, team, members, p, false))
        .buffer_unordered(8);
    while let Some(c) = done.next().await {
        for (total, n) in counts.iter_mut().zip(c?) {
            *total += n;
        }
    }
    let c = seed_proposal(ledger, team, members, proposals, true).await?;
    for (total, n) in counts.iter_mut().zip(c) {
        *total += n;
    }
    Ok(counts)
}

/// One proposal with its stances, comments and (unless `last`) decision;
/// returns (1, comments, stances).
async fn seed_proposal(
    ledger: &Ledger,
    team: i64,
    members: &[i64],
    p: usize,
    last: bool,
) -> anyhow::Result<[usize; 3]> {
    let author = members[p % MEMBERS];
    let decider = members[(p + 1) % MEMBERS];
    let number = ledger
        .create_proposal(
            UserId(author),
            TeamId(team),
            NewProposal {
                title: format!("Proposal {p}: move service {p} to the new platform"),
                body: format!(
                    "## Context\n\nService {p} runs on the old platform.\n\n## Proposal\n\n\
                         Move it in two steps:\n\n1. shadow traffic\n2. switch over\n"
                ),
                area: None,
                decider: Some(decider),
                closes_at: Some(db::now() + Duration::days(30)),
                supersedes: None,
            },
        )
        .await
        .map_err(err)?;
    // Vary the amount per proposal around the averages.
    let comments = if last {
        PAGE_COMMENTS
    } else {
        COMMENTS / 2 + p % (COMMENTS + 1)
    };
    let stances = (STANCES / 2 + p % (STANCES + 1)).max(MEMBERS);
    // Everyone's first stance, then changes of mind; comments alongside.
    // Submitted together, so the writer batches them as it would
    // concurrent requests.
    let mut first = (0..stances)
        .map(|s| {
            let (ledger, team) = (ledger.clone(), team);
            let member = members[s % MEMBERS];
            let position = POSITIONS[(s / MEMBERS + p) % POSITIONS.len()];
            async move {
                let stance = Stance::parse(position, None)?;
                ledger
                    .take_stance(UserId(member), TeamId(team), Number(number), stance)
                    .await
                    .map_err(err)?;
                anyhow::Ok(())
            }
        })
        .collect::<Vec<_>>();
    let changes = first.split_off(MEMBERS);
    try_join_all(first).await?;
    let talk = (0..comments).map(|c| {
        let (ledger, team) = (ledger.clone(), team);
        let member = members[c % MEMBERS];
        async move {
            ledger
                .comment(
                    UserId(member),
                    TeamId(team),
                    Number(number),
                    comment_text(p, c),
                )
                .await
                .map_err(err)?;
            anyhow::Ok(())
        }
    });
    try_join_all(changes).await?;
    try_join_all(talk).await?;
    if !last && !p.is_multiple_of(5) {
        ledger
            .record(
                UserId(decider),
                TeamId(team),
                Number(number),
                DecisionDraft::parse(
                    if p.is_multiple_of(7) {
                        "rejected"
                    } else {
                        "accepted"
                    },
                    &format!("We move service {p} to the new platform in two steps."),
                    "Shadow traffic first keeps the risk low.",
                    [],
                )?,
            )
            .await
            .map_err(err)?;
    }
    Ok([1, comments, stances])
}
