//! The `Db` layer's contract (issue #3): one story told through the ledger
//! and the db functions, on SQLite and, when `SETTLED_TEST_DATABASE_URL` is
//! set, on PostgreSQL too. Both must tell it the same way, word for word:
//! that is what lets the rest of the app ignore which backend it runs on.

use chrono::{TimeZone, Utc};
use settled::db::{self, Db, Timestamp, outbox, proposals, teams, users};
use settled::domain::ids::Number;
use settled::domain::ids::TeamKey;
use settled::domain::ids::{TeamId, UserId};
use settled::domain::proposal::{Position, Stance};
use settled::domain::team::Role;
use settled::ledger::Ledger;
use settled::ledger::commands::{NewProposal, NewTeam};
use settled::on;

use crate::helpers::{fresh_postgres, on_postgres};

/// Runs the story on the database at `url`; returns what it saw.
async fn story(url: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let db = Db::connect(url).await.expect("connect and migrate");
    let ledger = Ledger::new(db.clone()).await.expect("ledger");
    // A time with microseconds, the precision both backends keep.
    let t0 = Utc
        .timestamp_opt(1_795_000_000, 123_456_000)
        .single()
        .expect("time");

    // Users: the first is the instance admin; emails are unique.
    let ana = users::insert(
        db.writer(),
        "Ana@x.example",
        "ana@x.example",
        "Ana",
        "h",
        "UTC",
        Timestamp(t0),
    )
    .await
    .expect("ana");
    let bob = users::insert(
        db.writer(),
        "bob@x.example",
        "bob@x.example",
        "Bob",
        "h",
        "Europe/Berlin",
        Timestamp(t0),
    )
    .await
    .expect("bob");
    seen.push(format!("admins: ana={} bob={}", ana.is_admin, bob.is_admin));
    let again = users::insert(
        db.writer(),
        "ANA@x.example",
        "ana@x.example",
        "Twin",
        "h",
        "UTC",
        Timestamp(t0),
    )
    .await;
    seen.push(format!(
        "duplicate email refused as unique violation: {}",
        again.as_ref().err().is_some_and(db::is_unique_violation)
    ));

    // A team through the ledger; the stored time reads back exactly.
    let team = ledger
        .create_team(
            UserId(ana.id),
            NewTeam {
                name: "Contract".into(),
                slug: "contract".into(),
                key: TeamKey::parse("CON").expect("key"),
                window_hours: 72,
            },
        )
        .await
        .expect("team");
    let read = teams::by_key(db.reader(), "CON")
        .await
        .expect("q")
        .expect("team");
    seen.push(format!("team read back equal: {}", read == team));
    let invitation_hash = [7u8; 32];
    teams::insert_invitation(
        db.writer(),
        teams::NewInvitation {
            team_id: team.id,
            token_hash: &invitation_hash,
            role: Role::Member,
            created_by: ana.id,
            created_at: Timestamp(Utc::now()),
            expires_at: Timestamp(Utc::now() + chrono::Duration::days(7)),
            email: Some("bob@example.com"),
        },
    )
    .await
    .expect("invitation");
    ledger
        .accept_invitation(UserId(bob.id), &invitation_hash)
        .await
        .expect("bob joins");
    let members: Vec<String> = teams::members(db.reader(), team.id)
        .await
        .expect("members")
        .into_iter()
        .map(|m| format!("{}:{:?}", m.display_name, m.role))
        .collect();
    seen.push(format!("members: {members:?}"));

    // Proposals: numbers per team, a title filter that reads % and _ as text.
    for title in ["50% off_sale", "5 of 10", "Adopt PostgreSQL"] {
        ledger
            .create_proposal(
                UserId(ana.id),
                TeamId(team.id),
                NewProposal {
                    title: title.into(),
                    body: "Body.".into(),
                    area: None,
                    decider: Some(bob.id),
                    closes_at: Some(Utc::now() + chrono::Duration::days(3)),
                    supersedes: None,
                },
            )
            .await
            .expect("proposal");
    }
    for text in ["50%", "5_", "POSTGRES", "nothing"] {
        let filter = proposals::ListFilter {
            text: Some(text.into()),
            ..Default::default()
        };
        let found: Vec<i64> = proposals::list(db.reader(), team.id, &filter, 10)
            .await
            .expect("list")
            .iter()
            .map(|p| p.number)
            .collect();
        seen.push(format!("titles containing {text:?}: {found:?}"));
    }
    let mut some: Vec<i64> = proposals::by_numbers(db.reader(), team.id, &[3, 1, 99])
        .await
        .expect("by numbers")
        .iter()
        .map(|p| p.number)
        .collect();
    some.sort();
    seen.push(format!("by numbers [3, 1, 99]: {some:?}"));

    // Stances and comments append to one contiguous log.
    ledger
        .take_stance(
            UserId(bob.id),
            TeamId(team.id),
            Number(1),
            Stance {
                position: Position::Agree,
                reason: None,
            },
        )
        .await
        .expect("stance");
    ledger
        .comment(
            UserId(ana.id),
            TeamId(team.id),
            Number(1),
            "A comment.".into(),
        )
        .await
        .expect("comment");
    let indices: Vec<i64> = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries WHERE team_id = $1 ORDER BY idx"
    )
    .bind(team.id)
    .fetch_all(c)
    .await)
    .expect("indices");
    seen.push(format!("log indices: {indices:?}"));
    let head = db::log::read_head(db.reader(), team.id)
        .await
        .expect("q")
        .expect("head");
    seen.push(format!("head size: {}", head.size));

    // Keys: the current one first, then former ones.
    ledger
        .rename_key(
            UserId(ana.id),
            TeamId(team.id),
            TeamKey::parse("NEW").expect("key"),
        )
        .await
        .expect("rename");
    seen.push(format!(
        "keys: {:?}",
        teams::keys(db.reader(), team.id).await.expect("keys")
    ));

    // The outbox: a claim is a token; only its holder marks the row sent.
    let now = Utc::now() + chrono::Duration::seconds(1);
    let claimed = outbox::claim(db.writer(), now, now + chrono::Duration::minutes(10), 100)
        .await
        .expect("claim");
    let kinds: Vec<(String, i64)> = claimed
        .iter()
        .map(|r| (r.kind.to_string(), r.attempts))
        .collect();
    seen.push(format!("claimed: {kinds:?}"));
    let first = &claimed[0];
    outbox::sent(db.writer(), first.id, first.attempts + 1, now)
        .await
        .expect("stale");
    outbox::sent(db.writer(), claimed[1].id, claimed[1].attempts, now)
        .await
        .expect("sent");
    let statuses: Vec<String> = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT status FROM outbox ORDER BY id"
    )
    .fetch_all(c)
    .await)
    .expect("statuses");
    seen.push(format!(
        "statuses after a stale and a valid mark: {statuses:?}"
    ));

    // As at shutdown: live streams (and, on PostgreSQL, the listener) end
    // first, then every connection closes.
    ledger.bus().close();
    tokio::time::timeout(std::time::Duration::from_secs(10), db.close())
        .await
        .expect("the database closes once the ledger's listener has stopped");
    seen
}

#[tokio::test]
async fn the_same_story_reads_the_same_on_both_backends() {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = story(&format!(
        "sqlite://{}",
        dir.path().join("contract.db").display()
    ))
    .await;
    let expected = [
        "admins: ana=true bob=false",
        "duplicate email refused as unique violation: true",
        "team read back equal: true",
        "members: [\"Ana:Admin\", \"Bob:Member\"]",
        "titles containing \"50%\": [1]",
        "titles containing \"5_\": []",
        "titles containing \"POSTGRES\": [3]",
        "titles containing \"nothing\": []",
        "by numbers [3, 1, 99]: [1, 3]",
        "log indices: [0, 1, 2, 3, 4, 5, 6]",
        "head size: 7",
        "keys: [\"NEW\", \"CON\"]",
        "claimed: [(\"decider_named\", 1), (\"decider_named\", 1), (\"decider_named\", 1)]",
        "statuses after a stale and a valid mark: [\"sending\", \"sent\", \"sending\"]",
    ];
    assert_eq!(sqlite, expected);
    if on_postgres() {
        let server = std::env::var("SETTLED_TEST_DATABASE_URL").expect("set");
        let postgres = story(&fresh_postgres(&server).await).await;
        assert_eq!(
            postgres, sqlite,
            "PostgreSQL tells the story as SQLite does"
        );
    }
}
