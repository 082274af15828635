//! Rows decode into the app's types when they are read (issue #18, item 5):
//! a stored value this version cannot read is an error naming the column
//! and the value, never a default. Each test writes one bad value straight
//! into its table, past the CHECK constraint that keeps the app's own writes
//! right, and reads it back through the db functions the app uses; on
//! SQLite and, when `SETTLED_TEST_DATABASE_URL` is set, on PostgreSQL.

use std::fmt::Debug;
use std::future::Future;

use chrono::Utc;
use settled::db::search::{Filter, MatchQuery};
use settled::db::{
    self, Backend, Db, Timestamp, announcements, feeds, log, outbox, proposals, teams, users,
};
use settled::domain::ids::TeamKey;
use settled::domain::ids::{Number, TeamId, UserId};
use settled::domain::proposal::{DecisionDraft, Position, Stance};
use settled::domain::team::Role;
use settled::ledger::Ledger;
use settled::ledger::commands::{NewProposal, NewTeam};
use settled::on;

use crate::helpers::{fresh_postgres, on_postgres};

/// A team (ana admin, bob member) with proposal 1 open, decided by bob,
/// and bob's stance on it; a decider mail to bob is in the outbox.
struct World {
    db: Db,
    ledger: Ledger,
    ana: i64,
    bob: i64,
    team: i64,
    proposal: i64,
}

async fn world(url: &str) -> World {
    let db = Db::connect(url).await.expect("connect and migrate");
    let ledger = Ledger::new(db.clone()).await.expect("ledger");
    let now = Timestamp(db::now());
    let ana = users::insert(
        db.writer(),
        "ana@x.example",
        "ana@x.example",
        "Ana",
        "h",
        "UTC",
        now,
    )
    .await
    .expect("ana")
    .id;
    let bob = users::insert(
        db.writer(),
        "bob@x.example",
        "bob@x.example",
        "Bob",
        "h",
        "UTC",
        now,
    )
    .await
    .expect("bob")
    .id;
    let team = ledger
        .create_team(
            UserId(ana),
            NewTeam {
                name: "Decode".into(),
                slug: "decode".into(),
                key: TeamKey::parse("DEC").expect("key"),
                window_hours: 72,
            },
        )
        .await
        .expect("team")
        .id;
    let hash = [9u8; 32];
    let week = Timestamp(Utc::now() + chrono::Duration::days(7));
    teams::insert_invitation(
        db.writer(),
        teams::NewInvitation {
            team_id: team,
            token_hash: &hash,
            role: Role::Member,
            created_by: ana,
            created_at: now,
            expires_at: week,
            email: None,
        },
    )
    .await
    .expect("invitation");
    ledger
        .accept_invitation(UserId(bob), &hash)
        .await
        .expect("bob joins");
    ledger
        .create_proposal(
            UserId(ana),
            TeamId(team),
            NewProposal {
                title: "Adopt hedgehogs".into(),
                body: "Body.".into(),
                area: None,
                decider: Some(bob),
                closes_at: Some(Utc::now() + chrono::Duration::days(3)),
                supersedes: None,
            },
        )
        .await
        .expect("proposal");
    let stance = Stance {
        position: Position::Agree,
        reason: None,
    };
    ledger
        .take_stance(UserId(bob), TeamId(team), Number(1), stance)
        .await
        .expect("stance");
    let proposal = proposals::by_number(db.reader(), team, 1)
        .await
        .expect("read")
        .expect("proposal")
        .id;
    World {
        db,
        ledger,
        ana,
        bob,
        team,
        proposal,
    }
}

/// Runs `check` on a fresh SQLite database and, when the suite runs on
/// PostgreSQL, on a fresh database there too.
async fn on_each_backend<F, Fut>(check: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("dir");
    check(format!(
        "sqlite://{}",
        dir.path().join("decode.db").display()
    ))
    .await;
    if on_postgres() {
        let server = std::env::var("SETTLED_TEST_DATABASE_URL").expect("set");
        check(fresh_postgres(&server).await).await;
    }
}

/// Runs `sql` (one statement) with the CHECK constraint on `table.column`
/// out of the way, as a hand edit or another version could have written
/// it: SQLite ignores checks for the statement; PostgreSQL drops the
/// constraint (the database is this test's own).
async fn write_past_check(db: &Db, table: &str, column: &str, sql: &str) {
    let script = match db.backend() {
        Backend::Sqlite => format!(
            "PRAGMA ignore_check_constraints = ON; {sql}; PRAGMA ignore_check_constraints = OFF"
        ),
        Backend::Postgres => {
            format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_{column}_check; {sql}")
        }
    };
    on!(db.writer(), |c| sqlx::raw_sql(sqlx::AssertSqlSafe(
        script.clone()
    ))
    .execute(c)
    .await
    .map(|_| ()))
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Ana's search for the word every proposal of the world holds.
async fn search_hedgehogs(w: &World) -> Result<Vec<db::search::Hit>, sqlx::Error> {
    let expression = MatchQuery::parse("hedgehogs")
        .expression_for(&w.db.reader())
        .expect("expression");
    let filter = Filter {
        user_id: w.ana,
        ..Default::default()
    };
    db::search::search(w.db.reader(), &expression, &filter, 10, 0).await
}

/// Asserts that `read` failed to decode `column` because of `value`,
/// rather than reading the row with some default in its place.
fn unreadable<T: Debug>(read: Result<T, sqlx::Error>, column: &str, value: &str) {
    let words = match read {
        Ok(row) => panic!("{column} = {value:?} was read as a value: {row:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        words.contains(&format!("column \"{column}\"")) && words.contains(&format!("{value:?}")),
        "the error names neither the column {column} nor the value {value:?}: {words}"
    );
}

#[tokio::test]
async fn an_unknown_proposal_status_is_an_error_not_an_open_proposal() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        write_past_check(
            &w.db,
            "proposals",
            "status",
            "UPDATE proposals SET status = 'tabled'",
        )
        .await;
        let r = w.db.reader();
        unreadable(proposals::by_number(r, w.team, 1).await, "status", "tabled");
        let all = proposals::list(w.db.reader(), w.team, &Default::default(), 10).await;
        unreadable(all, "status", "tabled");
        let as_ana = proposals::by_number_as(w.db.reader(), w.team, 1, w.ana).await;
        unreadable(as_ana, "status", "tabled");
        // A command on it fails rather than treating it as open.
        let comment = w
            .ledger
            .comment(
                UserId(w.ana),
                TeamId(w.team),
                Number(1),
                "Still open?".into(),
            )
            .await;
        assert!(
            comment.is_err(),
            "commented on a proposal of unknown status"
        );
        let hits = search_hedgehogs(&w).await;
        unreadable(hits, "status", "tabled");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_role_is_an_error_not_a_missing_member() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        let sql = format!(
            "UPDATE memberships SET role = 'owner' WHERE user_id = {}",
            w.bob
        );
        write_past_check(&w.db, "memberships", "role", &sql).await;
        // Before, the role was dropped: a member silently read as none.
        let role = teams::role_of(w.db.reader(), w.team, w.bob).await;
        unreadable(role, "role", "owner");
        unreadable(teams::members(w.db.reader(), w.team).await, "role", "owner");
        let of_bob = teams::of_user(w.db.reader(), w.bob).await;
        unreadable(of_bob, "role", "owner");
        let as_bob = teams::as_member(w.db.reader(), teams::TeamRef::Key("DEC"), w.bob).await;
        unreadable(as_bob, "role", "owner");
        let on_proposal = proposals::by_number_as(w.db.reader(), w.team, 1, w.bob).await;
        unreadable(on_proposal, "actor_role", "owner");

        write_past_check(
            &w.db,
            "invitations",
            "role",
            "UPDATE invitations SET role = 'guest'",
        )
        .await;
        let invitation = teams::invitation_by_hash(w.db.reader(), &[9u8; 32]).await;
        unreadable(invitation, "role", "guest");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_stance_is_an_error_not_a_missing_stance() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        write_past_check(
            &w.db,
            "stances",
            "position",
            "UPDATE stances SET position = 'veto'",
        )
        .await;
        // Before, an unreadable stance counted as none taken: an objection
        // stored that way would have needed no answer.
        let voters = proposals::voters(w.db.reader(), w.team, w.proposal).await;
        unreadable(voters, "position", "veto");
        let table = proposals::stance_table(w.db.reader(), w.team, w.proposal).await;
        unreadable(table, "position", "veto");
        let history = proposals::stance_history(w.db.reader(), w.proposal).await;
        unreadable(history, "position", "veto");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_decision_outcome_is_an_error() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        let stance = Stance {
            position: Position::Agree,
            reason: None,
        };
        w.ledger
            .take_stance(UserId(w.ana), TeamId(w.team), Number(1), stance)
            .await
            .expect("ana's stance");
        let draft = DecisionDraft::parse("accepted", "We adopt them.", "", []).expect("draft");
        w.ledger
            .record(UserId(w.bob), TeamId(w.team), Number(1), draft)
            .await
            .expect("decided");
        write_past_check(
            &w.db,
            "decisions",
            "outcome",
            "UPDATE decisions SET outcome = 'postponed'",
        )
        .await;
        let decision = proposals::decision(w.db.reader(), w.proposal).await;
        unreadable(decision, "outcome", "postponed");
        let feed = feeds::decisions(w.db.reader(), w.team, 10).await;
        unreadable(feed, "outcome", "postponed");
        let expression = MatchQuery::parse("adopt")
            .expression_for(&w.db.reader())
            .expect("expression");
        let matches = db::search::matching_decisions(w.db.reader(), w.team, &expression, 10).await;
        unreadable(matches, "outcome", "postponed");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_log_entry_kind_is_an_error() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        // Entries are append-only: the bad one is a new row, a copy of the
        // first under another kind.
        let size = log::size(w.db.reader(), w.team).await.expect("size");
        let sql = format!(
            "INSERT INTO log_entries (team_id, idx, created_at, actor_id, kind, proposal_number, payload, leaf_hash)
             SELECT team_id, {size}, created_at, actor_id, 'member_left', proposal_number, payload, leaf_hash
             FROM log_entries WHERE team_id = {} AND idx = 0",
            w.team
        );
        write_past_check(&w.db, "log_entries", "kind", &sql).await;
        let entries = log::entries(w.db.reader(), w.team, 0, 100).await;
        unreadable(entries, "kind", "member_left");
        let notices = log::notices(w.db.reader(), w.team, size - 1, size, 10).await;
        unreadable(notices, "kind", "member_left");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_feed_kind_is_an_error() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        let now = Timestamp(db::now());
        let hash = [5u8; 32];
        feeds::insert(
            w.db.writer(),
            w.team,
            w.bob,
            feeds::FeedKind::Decisions,
            "phone",
            &hash,
            now,
        )
        .await
        .expect("feed token");
        write_past_check(
            &w.db,
            "feed_tokens",
            "kind",
            "UPDATE feed_tokens SET kind = 'podcast'",
        )
        .await;
        let mine = feeds::of_member(w.db.reader(), w.team, w.bob).await;
        unreadable(mine, "kind", "podcast");
        unreadable(feeds::holder(w.db.reader(), &hash).await, "kind", "podcast");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_mail_kind_or_outbox_status_is_an_error() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        let queued = outbox::recent(w.db.reader(), None, 10)
            .await
            .expect("outbox");
        assert_eq!(queued.len(), 1, "the decider mail to bob: {queued:?}");
        let id = queued[0].id;
        let sql = format!("UPDATE outbox SET kind = 'fax' WHERE id = {id}");
        write_past_check(&w.db, "outbox", "kind", &sql).await;
        unreadable(outbox::by_id(w.db.reader(), id).await, "kind", "fax");
        let later = Utc::now() + chrono::Duration::seconds(1);
        let claimed = outbox::claim(w.db.writer(), later, later, 10).await;
        unreadable(claimed, "kind", "fax");

        let sql =
            format!("UPDATE outbox SET kind = 'decider_named', status = 'lost' WHERE id = {id}");
        write_past_check(&w.db, "outbox", "status", &sql).await;
        unreadable(outbox::by_id(w.db.reader(), id).await, "status", "lost");
        unreadable(outbox::counts(w.db.reader()).await, "status", "lost");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_announcement_kind_is_an_error_not_skipped() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        let pending = announcements::pending(w.db.reader(), 10)
            .await
            .expect("announcements");
        assert!(!pending.is_empty(), "the world's proposal opened");
        let idx = pending[0].log_idx;
        let sql = format!("UPDATE announcements SET kind = 'fax' WHERE log_idx = {idx}");
        write_past_check(&w.db, "announcements", "kind", &sql).await;
        unreadable(
            announcements::pending(w.db.reader(), 10).await,
            "kind",
            "fax",
        );
    })
    .await;
}

#[tokio::test]
async fn an_unknown_digest_setting_is_an_error_not_no_digest() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        let sql = format!("UPDATE users SET digest = 'hourly' WHERE id = {}", w.bob);
        write_past_check(&w.db, "users", "digest", &sql).await;
        let settings = users::mail_settings(&w.db, w.bob).await;
        unreadable(settings, "digest", "hourly");
        let due = settled::mail::digest::due_members(w.db.reader(), Utc::now()).await;
        let words = due.map(|d| format!("{d:?}")).map_err(|e| format!("{e:?}"));
        assert!(
            words.as_ref().is_err_and(|e| e.contains("\"hourly\"")),
            "the digest clock skipped the unreadable setting: {words:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_unknown_time_zone_is_an_error_not_utc() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        // No CHECK can know the zone names: any text is stored.
        let sql = format!(
            "UPDATE users SET time_zone = 'Mars/Olympus' WHERE id = {}",
            w.bob
        );
        on!(w.db.writer(), |c| sqlx::raw_sql(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .execute(c)
        .await
        .map(|_| ()))
        .expect("update");
        let bob = users::by_id(&w.db, w.bob).await;
        unreadable(bob, "time_zone", "Mars/Olympus");
        let by_email = users::by_email(&w.db, "bob@x.example").await;
        unreadable(by_email, "time_zone", "Mars/Olympus");
        let ana = users::by_id(&w.db, w.ana)
            .await
            .expect("ana reads")
            .expect("ana");
        assert_eq!(ana.time_zone, chrono_tz::UTC);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_search_document_kind_is_an_error_not_a_proposal() {
    on_each_backend(|url| async move {
        let w = world(&url).await;
        write_past_check(
            &w.db,
            "search_docs",
            "kind",
            "UPDATE search_docs SET kind = 'wiki' WHERE kind = 'proposal'",
        )
        .await;
        let hits = search_hedgehogs(&w).await;
        unreadable(hits, "kind", "wiki");
    })
    .await;
}
