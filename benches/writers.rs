//! Write throughput on each backend (issue #3): `cargo bench --bench writers`.
//!
//! Through the ledger (no HTTP): 64 members in each of 8 teams, one open
//! proposal per team; then 1, 8 and 64 concurrent writers take stances as
//! fast as their acknowledgements come back, for a few seconds each. Every
//! write is acknowledged only once it is durable (SQLite: group commit with
//! `synchronous=FULL`; PostgreSQL: `synchronous_commit=on`, the default).
//! Two placements: every writer on one team (all serialised on that team's
//! log), and writers spread over the 8 teams.
//!
//! SQLite runs on a temporary file. PostgreSQL runs on a fresh database on
//! the server of `SETTLED_BENCH_POSTGRES_URL` (default: the local server),
//! dropped afterwards; if that server cannot be reached, the run fails.
//! `SETTLED_BENCH_SECONDS` sets the length of each measurement (default 4).

use std::time::{Duration, Instant};

use chrono::Utc;
use settled::db::{self, Db, Timestamp, teams, users};
use settled::domain::ids::Number;
use settled::domain::ids::TeamKey;
use settled::domain::ids::{TeamId, UserId};
use settled::domain::proposal::{Position, Stance};
use settled::domain::team::Role;
use settled::ledger::Ledger;
use settled::ledger::commands::{NewProposal, NewTeam};

const TEAMS: usize = 8;
const MEMBERS: usize = 64;

fn err(e: settled::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", e.public_message())
}

/// Seeds the teams; returns `(team id, member ids)` per team.
async fn seed(db: &Db, ledger: &Ledger) -> anyhow::Result<Vec<(i64, Vec<i64>)>> {
    let now = Timestamp(db::now());
    let mut people = Vec::new();
    for i in 0..MEMBERS {
        let email = format!("w{i}@bench.example");
        people.push(
            users::insert(
                db.writer(),
                &email,
                &email,
                &format!("Writer {i}"),
                "x",
                "UTC",
                now,
            )
            .await?
            .id,
        );
    }
    let mut out = Vec::new();
    for t in 0..TEAMS {
        let key = format!("W{t}");
        let team = ledger
            .create_team(
                UserId(people[0]),
                NewTeam {
                    name: format!("Writers {t}"),
                    slug: format!("writers-{t}"),
                    key: TeamKey::parse(&key)?,
                    window_hours: 72,
                },
            )
            .await
            .map_err(err)?;
        for (i, person) in people.iter().enumerate().skip(1) {
            let hash = [t as u8, i as u8, 0xbe, 0xef].repeat(8);
            teams::insert_invitation(
                db.writer(),
                teams::NewInvitation {
                    team_id: team.id,
                    token_hash: &hash,
                    role: Role::Member,
                    created_by: people[0],
                    created_at: now,
                    expires_at: Timestamp(Utc::now() + chrono::Duration::days(1)),
                    email: None,
                },
            )
            .await?;
            ledger
                .accept_invitation(UserId(*person), &hash)
                .await
                .map_err(err)?;
        }
        ledger
            .create_proposal(
                UserId(people[0]),
                TeamId(team.id),
                NewProposal {
                    title: "Measure writes".into(),
                    body: "Stances, as fast as they are acknowledged.".into(),
                    area: None,
                    decider: Some(people[0]),
                    closes_at: Some(Utc::now() + chrono::Duration::days(2)),
                    supersedes: None,
                },
            )
            .await
            .map_err(err)?;
        out.push((team.id, people.clone()));
    }
    Ok(out)
}

/// `writers` tasks writing for `seconds`; returns (writes/s, p50 ms, p99 ms).
async fn measure(
    ledger: &Ledger,
    teams: &[(i64, Vec<i64>)],
    writers: usize,
    spread: bool,
    seconds: u64,
) -> anyhow::Result<(f64, f64, f64)> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (team, people) = &teams[if spread { w % TEAMS } else { 0 }];
        let (team, person) = (*team, people[w % MEMBERS]);
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let position = if n.is_multiple_of(2) {
                    Position::Agree
                } else {
                    Position::Abstain
                };
                let sent = Instant::now();
                ledger
                    .take_stance(
                        UserId(person),
                        TeamId(team),
                        Number(1),
                        Stance {
                            position,
                            reason: None,
                        },
                    )
                    .await
                    .map_err(err)?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok((latencies.len() as f64 / elapsed, at(0.50), at(0.99)))
}

async fn run(name: &str, url: &str, seconds: u64) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    let ledger = Ledger::new(db.clone()).await.map_err(err)?;
    let teams = seed(&db, &ledger).await?;
    for spread in [false, true] {
        for writers in [1, 8, 64] {
            let (rate, p50, p99) = measure(&ledger, &teams, writers, spread, seconds).await?;
            println!(
                "| {name} | {} | {writers} | {rate:.0} | {p50:.2} | {p99:.2} |",
                if spread { "8 teams" } else { "1 team" }
            );
        }
    }
    ledger.bus().close();
    db.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = std::env::var("SETTLED_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    println!("| backend | placement | writers | acknowledged stances/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    let dir = tempfile::tempdir()?;
    run(
        "SQLite",
        &format!("sqlite://{}", dir.path().join("writers.db").display()),
        seconds,
    )
    .await?;

    let server = std::env::var("SETTLED_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .map_err(|e| anyhow::anyhow!("PostgreSQL at {server} cannot be reached: {e}"))?;
    let name = format!("settled_bench_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let (base, _) = server
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("the URL names no database"))?;
    let result = run("PostgreSQL", &format!("{base}/{name}"), seconds).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}
