//! No decision waits for ever (issue #19, item 5). The instance's clock is
//! moved days ahead (`Ledger::clock`), never slept through: the worker's own
//! overdue clock then reminds the decider each local morning, tells the
//! admins and the area's default decider after a second period, and every
//! page shows what waits. Each prompt is a log entry `verify` replays.

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::StatusCode;
use serde_json::json;
use settled::domain::ids::{TeamId, UserId};
use settled::on;

use crate::announce::{Mail, new_mail, only};
use crate::helpers::{TestApp, in_seconds, on_postgres, spawn, spawn_beside};

/// The server's entries of `kind`: (proposal, actor's email), in log order.
async fn entries(app: &TestApp, kind: &str) -> Vec<(i64, String)> {
    on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT l.proposal_number, u.email FROM log_entries l JOIN users u ON u.id = l.actor_id
         WHERE l.kind = $1 ORDER BY l.team_id, l.idx"
    )
    .bind(kind)
    .fetch_all(c)
    .await)
    .expect("entries")
}

/// Waits (a few seconds at most) until the log has `count` entries of `kind`.
async fn until(app: &TestApp, kind: &str, count: usize) -> Vec<(i64, String)> {
    for _ in 0..200 {
        let found = entries(app, kind).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} {kind} entries, found {:?}",
        entries(app, kind).await
    );
}

/// Lets the worker's clocks run a few times (they tick every 200 ms in tests).
async fn a_few_ticks() {
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
}

/// Moves `apps`' clocks to the first 09:00 UTC at least `after` from the
/// real now, and returns it.
fn to_morning(apps: &[&TestApp], from: DateTime<Utc>, after: Duration) -> DateTime<Utc> {
    let mut target = (from + after)
        .duration_trunc(Duration::days(1))
        .expect("day")
        + Duration::hours(9);
    if target < from + after {
        target += Duration::days(1);
    }
    let now = apps[0].ledger.now();
    for app in apps {
        app.ledger.clock().advance(target - now);
    }
    target
}

fn subjects(mails: &[Mail]) -> Vec<(String, String)> {
    mails
        .iter()
        .map(|m| (m.to.clone(), m.subject.clone()))
        .collect()
}

#[tokio::test]
async fn an_overdue_decision_reminds_its_decider_each_morning_then_tells_the_admins() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    app.team("LATE", &ana, &[&bob, &chen, &dan], &[]).await;
    // Everyone reads in UTC; Dan decides the area's questions by default.
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE users SET time_zone = 'UTC'"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("time zones");
    let team_id: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM teams WHERE key = 'LATE'"
    )
    .fetch_one(c)
    .await)
    .expect("team");
    app.ledger
        .save_area(
            UserId(app.user_id(&ana.email).await),
            TeamId(team_id),
            settled::ledger::commands::AreaInput {
                id: None,
                name: "Infra".into(),
                description: String::new(),
                default_decider: app.user_id(&dan.email).await,
            },
        )
        .await
        .expect("area");
    let started = Utc::now();
    let (status, body) = ana
        .post(
            "/api/v1/teams/LATE/proposals",
            json!({"title": "Retire the old VPN", "body": "It is unpatched.", "decider": bob.email,
                   "closes_at": in_seconds(3600), "area": "Infra"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    let fresh = ana
        .propose(
            "LATE",
            "Rename the wiki",
            &chen.email,
            &in_seconds(30 * 86_400),
        )
        .await;
    ana.stance(&id, "agree", None).await;
    chen.stance(&id, "object", Some("Two offices still depend on it."))
        .await;
    let mut seen = 0;
    new_mail(&app, &mut seen).await;

    // Six days after the window: ready, not yet overdue.
    let closes = started + Duration::hours(1);
    to_morning(&[&app], started, Duration::hours(1) + Duration::days(6));
    until(&app, "decision_ready", 1).await;
    a_few_ticks().await;
    assert_eq!(entries(&app, "decision_overdue").await, []);

    // Seven days after: Bob is reminded in his morning, once.
    let first = to_morning(&[&app], started, Duration::hours(1) + Duration::days(7));
    assert_eq!(
        until(&app, "decision_overdue", 1).await,
        [(1, bob.email.clone())]
    );
    let mails = new_mail(&app, &mut seen).await;
    let days = (first - closes).num_days();
    let subject = format!("[Team LATE] {id} is overdue: it waits {days} days for your decision");
    let reminder = only(&mails, &bob.email, &subject);
    assert!(
        reminder
            .text
            .contains("LATE decides within 7 days after the window"),
        "{}",
        reminder.text
    );
    assert!(
        reminder
            .text
            .contains("2 of 4 voting members responded; 1 standing objection(s)."),
        "{}",
        reminder.text
    );
    assert!(
        reminder
            .text
            .contains(&format!("/d/{id}#record-form-heading"))
    );
    assert!(!reminder.unsubscribe.is_empty());
    app.ledger.clock().advance(Duration::hours(2));
    a_few_ticks().await;
    assert_eq!(
        entries(&app, "decision_overdue").await.len(),
        1,
        "once a day"
    );

    // Overnight is not morning; the next morning is.
    app.ledger.clock().advance(Duration::hours(10));
    a_few_ticks().await;
    assert_eq!(
        entries(&app, "decision_overdue").await.len(),
        1,
        "not at night"
    );
    to_morning(&[&app], started, Duration::hours(1) + Duration::days(8));
    until(&app, "decision_overdue", 2).await;

    // The pages say what waits, and for how long.
    let (_, html) = app.get(&chen.browser, "/t/team-late").await;
    let overdue = html
        .split_once("id=\"overdue-heading\"")
        .and_then(|(_, rest)| rest.split_once("recently-decided-heading"))
        .map(|(section, _)| section)
        .expect("an Overdue section");
    assert!(overdue.contains(&id), "{overdue}");
    assert!(
        overdue.contains("has waited 8 days for Bob&#39;s decision")
            || overdue.contains("has waited 8 days for Bob's decision"),
        "{overdue}"
    );
    assert!(!overdue.contains(&fresh), "{overdue}");
    assert_eq!(
        html.matches(&format!("/d/{id}\"")).count(),
        1,
        "once on the page"
    );
    let (_, log) = app
        .get(&chen.browser, "/t/team-late/decisions?status=overdue")
        .await;
    assert!(log.contains(&id) && !log.contains(&fresh), "{log}");
    let (_, log) = app
        .get(&chen.browser, "/t/team-late/decisions?status=open")
        .await;
    assert!(log.contains(&id) && log.contains(&fresh), "{log}");
    let (_, page) = app.get(&chen.browser, &format!("/d/{id}")).await;
    assert!(
        page.contains("This proposal has waited 8 days for Bob"),
        "{page}"
    );
    // Who carries what: Bob's overdue decision shows, on the deciders
    // page, the areas page and the new-proposal form.
    let (_, load) = app.get(&chen.browser, "/t/team-late/deciders").await;
    assert_eq!(
        row(&load, "Bob"),
        ["1", "1", "1", "0", "no decisions yet"],
        "{load}"
    );
    assert_eq!(
        row(&load, "Chen"),
        ["1", "0", "0", "0", "no decisions yet"],
        "{load}"
    );
    assert_eq!(
        row(&load, "Dan"),
        ["0", "0", "0", "0", "no decisions yet"],
        "the area's default decider"
    );
    let at = |name: &str| load.find(&format!("<th scope=\"row\"><bdi>{name}</bdi>"));
    assert!(
        at("Bob") < at("Chen") && at("Chen") < at("Dan"),
        "heaviest first"
    );
    let (_, areas) = app.get(&chen.browser, "/t/team-late/areas").await;
    assert!(areas.contains("Decided by <strong><bdi>Dan</bdi></strong>, who carries 0 open, 0 waiting for a decision and 0 overdue"), "{areas}");
    let (_, form) = app.get(&chen.browser, "/t/team-late/proposals/new").await;
    assert!(form.contains(">Bob (1 overdue)</option>"), "{form}");
    assert!(
        form.contains(
            "Bob has 1 overdue decision. Naming someone else may get you an answer sooner."
        ),
        "{form}"
    );
    assert!(!form.contains(">Chen ("), "{form}");

    // Bob's own overdue decision waits for him at the top, not twice.
    let (_, dash) = app.get(&bob.browser, "/t/team-late").await;
    let waiting = dash
        .split_once("waiting-heading")
        .and_then(|(_, rest)| rest.split_once("needs-stance-heading"))
        .map(|(section, _)| section)
        .expect("a waiting section");
    assert!(waiting.contains(&id), "{dash}");
    assert!(dash.contains("No other proposal is overdue."), "{dash}");
    assert_eq!(dash.matches(&format!("/d/{id}\"")).count(), 1, "{dash}");

    // Fourteen days after the window: Ana (the admin) and Dan (the area's
    // default decider) are told, once.
    let escalated_at = to_morning(&[&app], started, Duration::hours(1) + Duration::days(14));
    until(&app, "decision_escalated", 1).await;
    a_few_ticks().await;
    assert_eq!(
        entries(&app, "decision_escalated").await,
        [(1, bob.email.clone())]
    );
    let mails = new_mail(&app, &mut seen).await;
    let days = (escalated_at - closes).num_days();
    let subject = format!("[Team LATE] {id} has waited {days} days for Bob's decision");
    for who in [&ana.email, &dan.email] {
        let mail = only(&mails, who, &subject);
        assert!(mail.text.contains("name another decider"), "{}", mail.text);
    }
    assert!(
        !subjects(&mails)
            .iter()
            .any(|(to, s)| s == &subject && (to == &bob.email || to == &chen.email)),
        "{:?}",
        subjects(&mails)
    );

    // Recorded at last: the permalink says how long it took, and every
    // reminder replays.
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We retire it in March.",
                   "responses": {"chen@example.com": "Both offices move to the new VPN first."}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, page) = app.get(&chen.browser, &format!("/d/{id}")).await;
    assert!(
        page.contains(&format!("decided {days} days after its window ended")),
        "{page}"
    );
    let (_, load) = app.get(&chen.browser, "/t/team-late/deciders").await;
    let bob_row = row(&load, "Bob");
    assert_eq!(bob_row[..4], ["0", "0", "0", "1"], "{load}");
    assert!(bob_row[4].starts_with(&format!("{days}.")), "{bob_row:?}");
    let report = settled::ledger::verify::verify(&app.db)
        .await
        .expect("the log verifies");
    assert!(report.entries > 0);
}

/// The cells after the decider's name in their row of the load table.
fn row(html: &str, name: &str) -> Vec<String> {
    let start = html
        .find(&format!("<th scope=\"row\"><bdi>{name}</bdi></th>"))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{html}"));
    let rest = &html[start..];
    let end = rest.find("</tr>").expect("row end");
    rest[..end]
        .split("<td>")
        .skip(1)
        .map(|cell| {
            let cell = cell.split("</td>").next().unwrap_or_default();
            // Strip tags (the overdue count is in <strong>).
            let mut text = String::new();
            let mut in_tag = false;
            for ch in cell.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.trim().to_string()
        })
        .collect()
}

#[tokio::test]
async fn an_admin_sets_the_period_and_bad_values_are_refused_in_words() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("PER", &ana, &[&bob], &[]).await;
    let settings = "/t/team-per/settings";
    let action = "/t/team-per/decide-within";
    let (_, html) = app.get(&ana.browser, settings).await;
    assert!(
        html.contains("Decide within this many days after the window"),
        "{html}"
    );
    assert!(html.contains("value=\"7\""), "the default: {html}");

    for bad in ["0", "366", "a week"] {
        let r = app
            .post_form(&ana.browser, settings, action, &[("days", bad)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{bad}");
        let (_, html) = app.get(&ana.browser, settings).await;
        assert!(
            html.contains(
                "Not changed: the days after the window must be a whole number from 1 to 365."
            ),
            "{bad}: {html}"
        );
    }
    // Bob is no admin.
    app.post_form(&bob.browser, "/t/team-per", action, &[("days", "3")])
        .await;
    let (_, html) = app.get(&bob.browser, "/t/team-per").await;
    assert!(
        html.contains("Not changed: your role does not allow this."),
        "{html}"
    );

    let r = app
        .post_form(&ana.browser, settings, action, &[("days", "3")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, settings).await;
    assert!(
        html.contains("Decisions are now due within 3 days after the window."),
        "{html}"
    );
    assert!(html.contains("value=\"3\""), "{html}");
    let set: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries WHERE kind = 'decision_period_set'"
    )
    .fetch_one(c)
    .await)
    .expect("count");
    assert_eq!(set, 1, "one entry: the refused changes left none");

    // Three days and a morning later, the proposal is overdue.
    let started = Utc::now();
    let id = ana
        .propose("PER", "Weekly demos", &bob.email, &in_seconds(60))
        .await;
    to_morning(&[&app], started, Duration::days(3) + Duration::hours(1));
    assert_eq!(
        until(&app, "decision_overdue", 1).await,
        [(1, bob.email.clone())]
    );
    let (_, html) = app
        .get(&ana.browser, "/t/team-per/decisions?status=overdue")
        .await;
    assert!(html.contains(&id), "{html}");
    settled::ledger::verify::verify(&app.db)
        .await
        .expect("verifies");
}

#[tokio::test]
async fn several_instances_remind_and_escalate_once() {
    if !on_postgres() {
        // One SQLite file has one server: the case needs PostgreSQL.
        return;
    }
    let first = spawn().await;
    let second = spawn_beside(&first).await;
    let ana = first.api_user("ana@example.com", "Ana").await;
    let bob = first.api_user("bob@example.com", "Bob").await;
    first.team("TWO", &ana, &[&bob], &[]).await;
    on!(first.db.writer(), |c| sqlx::query(
        "UPDATE users SET time_zone = 'UTC'"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("time zones");
    let started = Utc::now();
    ana.propose("TWO", "Rotate the keys", &bob.email, &in_seconds(60))
        .await;
    to_morning(
        &[&first, &second],
        started,
        Duration::days(14) + Duration::hours(1),
    );
    until(&first, "decision_escalated", 1).await;
    a_few_ticks().await;
    a_few_ticks().await;
    assert_eq!(entries(&first, "decision_overdue").await.len(), 1);
    assert_eq!(entries(&first, "decision_escalated").await.len(), 1);
}
