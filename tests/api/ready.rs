//! The decider is prompted (issue #19, items 3 and 4): when a proposal's
//! window ends, or its last voting member responds, the server appends a
//! `decision_ready` entry by its own clock and mails the decider who
//! responded, who did not and what objections stand; the page and the
//! dashboard show it. The window's end is the earliest decision, not the
//! end of stances: a stance after it counts and is marked late.

use reqwest::StatusCode;
use settled::on;

use crate::announce::{Mail, new_mail, only};
use crate::helpers::{Api, TestApp, in_seconds, on_postgres, spawn, spawn_beside};

/// The `decision_ready` entries of the app's log: (proposal, actor's email).
async fn ready_entries(app: &TestApp) -> Vec<(i64, String)> {
    on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT l.proposal_number, u.email FROM log_entries l JOIN users u ON u.id = l.actor_id
         WHERE l.kind = 'decision_ready' ORDER BY l.team_id, l.idx"
    )
    .fetch_all(c)
    .await)
    .expect("entries")
}

/// Waits (a few seconds at most) until `count` deciders have been told.
async fn told(app: &TestApp, count: usize) -> Vec<(i64, String)> {
    for _ in 0..200 {
        let found = ready_entries(app).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} decision_ready entries, found {:?}",
        ready_entries(app).await
    );
}

fn ready_mails<'a>(mails: &'a [Mail], id: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| {
            m.subject
                .contains(&format!("{id} is ready for your decision"))
        })
        .collect()
}

async fn page(app: &TestApp, who: &Api, path: &str) -> String {
    let (status, html) = app.get(&who.browser, path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    html
}

/// The text of the dashboard section headed `heading` (up to the next one).
fn section<'a>(html: &'a str, heading: &str) -> &'a str {
    let start = html
        .find(&format!(">{heading}</h2>"))
        .unwrap_or_else(|| panic!("no section {heading:?} in:\n{html}"));
    let rest = &html[start..];
    let end = rest[1..].find("<h2").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[tokio::test]
async fn the_last_response_tells_the_decider_once_with_who_responded_and_the_objections() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let olive = app.api_user("olive@example.com", "Olive").await;
    app.team("RDY", &ana, &[&bob, &chen], &[&olive]).await;
    let id = ana
        .propose(
            "RDY",
            "Move standups to Tuesday",
            &bob.email,
            &in_seconds(86_400),
        )
        .await;
    let mut seen = 0;
    new_mail(&app, &mut seen).await;
    ana.stance(&id, "agree", None).await;
    chen.stance(
        &id,
        "object",
        Some("Tuesday clashes with the release train."),
    )
    .await;
    // Bob, the decider, has not responded: nobody is told yet.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(ready_entries(&app).await, []);
    let html = page(&app, &bob, &format!("/d/{id}")).await;
    assert!(!html.contains("Ready for your decision"), "{html}");

    let (status, _) = bob.stance(&id, "abstain", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(told(&app, 1).await, [(1, bob.email.clone())]);
    let mails = new_mail(&app, &mut seen).await;
    let subject = format!("[Team RDY] {id} is ready for your decision: Move standups to Tuesday");
    let mail = only(&mails, &bob.email, &subject);
    assert_eq!(ready_mails(&mails, &id).len(), 1, "to Bob only");
    let text = &mail.text;
    assert!(
        text.contains("Every voting member has responded, so you can record the decision now"),
        "{text}"
    );
    assert!(
        text.contains("Responded (3): Ana (agree), Bob (abstain), Chen (object)."),
        "{text}"
    );
    assert!(
        text.contains("Every voting member has responded."),
        "{text}"
    );
    assert!(text.contains("1 standing objection(s)"), "{text}");
    assert!(text.contains("Chen objects"), "{text}");
    assert!(
        text.contains("Tuesday clashes with the release train."),
        "{text}"
    );
    assert!(
        text.contains(&format!("/d/{id}#record-form-heading")),
        "{text}"
    );
    assert!(!mail.unsubscribe.is_empty(), "a one-click unsubscribe");

    // The page tells Bob, and only Bob, at its top.
    let html = page(&app, &bob, &format!("/d/{id}")).await;
    let banner = html.find("Ready for your decision").expect("a banner");
    assert!(banner < html.find("<h1").expect("heading"), "at the top");
    assert!(html.contains("3 of 3 voting members responded."), "{html}");
    assert!(html.contains("1 standing objection(s) need your written answer."));
    let html = page(&app, &ana, &format!("/d/{id}")).await;
    assert!(!html.contains("Ready for your decision"));

    // Changing a stance does not tell him again.
    chen.stance(&id, "agree", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(ready_entries(&app).await.len(), 1);
    let mails = new_mail(&app, &mut seen).await;
    assert!(ready_mails(&mails, &id).is_empty(), "{mails:?}");

    // The log says who was told, and the whole log still verifies.
    let html = page(&app, &ana, "/t/team-rdy/log").await;
    assert!(
        html.contains("decision ready: the server told Bob"),
        "{html}"
    );
    let report = settled::ledger::verify::verify(&app.db)
        .await
        .expect("the log verifies");
    assert!(report.entries > 0);
}

#[tokio::test]
async fn a_window_that_ends_tells_the_decider_and_a_stance_after_it_is_late() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    app.team("WIN", &ana, &[&bob, &chen, &dan], &[]).await;
    let id = ana
        .propose(
            "WIN",
            "Adopt trunk-based development",
            &bob.email,
            &in_seconds(2),
        )
        .await;
    let mut seen = 0;
    new_mail(&app, &mut seen).await;
    ana.stance(&id, "agree", None).await;
    chen.stance(&id, "object", Some("Our CI is too slow for it."))
        .await;
    let on_time = chen.get(&format!("/api/v1/decisions/{id}")).await.1;
    let chen_row = |d: &serde_json::Value| {
        d["stances"]
            .as_array()
            .expect("stances")
            .iter()
            .find(|s| s["name"] == "Chen")
            .cloned()
            .expect("Chen's row")
    };
    assert_eq!(chen_row(&on_time)["late"], false);

    // The worker's own clock sees the window end and tells Bob once.
    assert_eq!(told(&app, 1).await, [(1, bob.email.clone())]);
    let mails = new_mail(&app, &mut seen).await;
    let mail = only(
        &mails,
        &bob.email,
        &format!("[Team WIN] {id} is ready for your decision: Adopt trunk-based development"),
    );
    let text = &mail.text;
    assert!(text.contains("Its window for stances closed "), "{text}");
    assert!(
        text.contains("Responded (2): Ana (agree), Chen (object)."),
        "{text}"
    );
    assert!(text.contains("Not responded (2): Bob, Dan."), "{text}");
    assert!(
        text.contains("a stance taken from now on is marked late"),
        "{text}"
    );

    // Bob's dashboard lists it under "Waiting for your decision", once.
    let html = page(&app, &bob, "/t/team-win").await;
    assert!(
        section(&html, "Waiting for your decision").contains(&id),
        "{html}"
    );
    assert!(!section(&html, "Needs your stance").contains(&id), "{html}");
    assert!(!section(&html, "Open in this team").contains(&id), "{html}");
    assert!(html.contains("window <time"), "{html}");
    assert!(html.contains("closed "), "relative past: {html}");
    // Dan still owes a stance; Chen sees it among the team's open ones
    // with their stance.
    let html = page(&app, &dan, "/t/team-win").await;
    assert!(section(&html, "Needs your stance").contains(&id));
    assert!(!html.contains("Waiting for your decision"));
    let html = page(&app, &chen, "/t/team-win").await;
    let open = section(&html, "Open in this team");
    assert!(open.contains(&id), "{html}");
    assert!(
        open.contains("your stance: <span class=\"position position-object\">object</span>"),
        "{open}"
    );

    // Stances stay open after the window: Dan's counts, marked late on
    // the page and in the API.
    let (status, body) = dan.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let d = dan.get(&format!("/api/v1/decisions/{id}")).await.1;
    let dan_row = d["stances"]
        .as_array()
        .expect("stances")
        .iter()
        .find(|s| s["name"] == "Dan")
        .cloned()
        .expect("Dan's row");
    assert_eq!(dan_row["late"], true);
    assert_eq!(chen_row(&d)["late"], false);
    let html = page(&app, &ana, &format!("/d/{id}")).await;
    assert_eq!(
        html.matches("<span class=\"late\"").count(),
        2,
        "table and history: {html}"
    );
    assert!(html.contains("Earliest decision"), "{html}");
    assert!(html.contains("(the window closed "), "{html}");

    // A new decider is told too; the tick does not tell anyone twice.
    let chen_id = app.user_id(&chen.email).await.to_string();
    let r = app
        .post_form(
            &ana.browser,
            &format!("/d/{id}"),
            &format!("/d/{id}/decider"),
            &[("decider", chen_id.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        told(&app, 2).await,
        [(1, bob.email.clone()), (1, chen.email.clone())]
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(ready_entries(&app).await.len(), 2);

    // The record names the late stance too.
    let (status, body) = chen
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            serde_json::json!({"outcome": "rejected", "statement": "Not before CI is faster.",
                   "responses": {"chen@example.com": "We revisit once builds take under ten minutes."}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let html = page(&app, &ana, &format!("/d/{id}")).await;
    assert!(
        html.contains("Taken after the window ended, and counted: the stances of <bdi>Dan</bdi>"),
        "{html}"
    );
    let report = settled::ledger::verify::verify(&app.db)
        .await
        .expect("the log verifies");
    assert!(report.entries > 0);
}

#[tokio::test]
async fn several_instances_tell_a_decider_once() {
    if !on_postgres() {
        // One SQLite file has one server: the case needs PostgreSQL.
        return;
    }
    let first = spawn().await;
    let second = spawn_beside(&first).await;
    let ana = first.api_user("ana@example.com", "Ana").await;
    let bob = first.api_user("bob@example.com", "Bob").await;
    first.team("TWO", &ana, &[&bob], &[]).await;
    let id = ana
        .propose(
            "TWO",
            "Rotate the on-call weekly",
            &bob.email,
            &in_seconds(1),
        )
        .await;
    assert_eq!(told(&first, 1).await, [(1, bob.email.clone())]);
    // Both clocks have run several times since.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(ready_entries(&second).await.len(), 1);
    let (mut a, mut b) = (0, 0);
    let mails: Vec<Mail> = new_mail(&first, &mut a)
        .await
        .into_iter()
        .chain(new_mail(&second, &mut b).await)
        .collect();
    assert_eq!(ready_mails(&mails, &id).len(), 1, "{mails:?}");
}

#[tokio::test]
async fn since_your_last_visit_lists_what_others_opened_and_decided_and_the_answer_to_your_objection()
 {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    app.team("VIS", &ana, &[&bob, &chen], &[]).await;
    // First visits start the count and list nothing.
    for who in [&ana, &chen] {
        let html = page(&app, who, "/t/team-vis").await;
        assert!(!html.contains("Since your last visit"), "{html}");
    }
    let first = ana
        .propose(
            "VIS",
            "Freeze deploys on Fridays",
            &bob.email,
            &in_seconds(86_400),
        )
        .await;
    ana.stance(&first, "agree", None).await;
    bob.stance(&first, "agree", None).await;
    chen.stance(&first, "object", Some("Hotfixes cannot wait for Monday."))
        .await;
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{first}/decision"),
            serde_json::json!({"outcome": "accepted", "statement": "No deploys on Fridays.",
                   "responses": {"chen@example.com": "Hotfixes are exempt, with a second reviewer."}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second = ana
        .propose(
            "VIS",
            "Move the retro to Thursdays",
            &chen.email,
            &in_seconds(86_400),
        )
        .await;

    let html = page(&app, &chen, "/t/team-vis").await;
    let since = html
        .split_once("id=\"since-heading\"")
        .and_then(|(_, rest)| rest.split_once("</section>"))
        .map(|(section, _)| section)
        .unwrap_or_else(|| panic!("no Since your last visit in:\n{html}"));
    assert!(
        since.contains(&format!(
            "{second}</span> <bdi>Move the retro to Thursdays</bdi>"
        )),
        "{since}"
    );
    assert!(since.contains("opened by Ana; Chen decides"), "{since}");
    assert!(since.contains("accepted by Bob"), "{since}");
    assert!(since.contains("The answer to your objection:"), "{since}");
    assert!(
        since.contains("Hotfixes are exempt, with a second reviewer."),
        "{since}"
    );
    // Newest first: the second opening, the decision, the first opening.
    let at = |s: &str| since.find(s).unwrap_or_else(|| panic!("{s} in {since}"));
    assert!(at("Move the retro") < at("accepted by Bob"));
    assert!(at("accepted by Bob") < at("opened by Ana; Bob decides"));

    // Seen: the next visit has nothing new.
    let html = page(&app, &chen, "/t/team-vis").await;
    assert!(!html.contains("Since your last visit"), "{html}");
    // Ana is not told of her own openings; Bob's decision is news to her,
    // without an answer (she did not object).
    let html = page(&app, &ana, "/t/team-vis").await;
    let since = html
        .split_once("id=\"since-heading\"")
        .map(|(_, rest)| rest.split_once("</section>").map_or(rest, |(s, _)| s))
        .expect("a section");
    assert!(since.contains("accepted by Bob"), "{since}");
    assert!(!since.contains("opened by Ana"), "{since}");
    assert!(!since.contains("The answer to your objection"), "{since}");
}

#[tokio::test]
async fn the_dashboard_lists_the_soonest_open_proposals_and_links_to_the_rest() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("MANY", &ana, &[&bob], &[]).await;
    for i in 0..22 {
        let id = ana
            .propose(
                "MANY",
                &format!("Idea {i:02}"),
                &ana.email,
                &in_seconds(3600 + i * 60),
            )
            .await;
        ana.stance(&id, "agree", None).await;
    }
    let html = page(&app, &ana, "/t/team-many").await;
    let open = section(&html, "Open in this team");
    assert_eq!(open.matches("<li>").count(), 20, "{open}");
    assert!(
        open.contains("Idea 00") && open.contains("Idea 19") && !open.contains("Idea 20"),
        "{open}"
    );
    assert!(
        open.contains("<a href=\"/t/team-many/decisions?status=open\">all 22 open proposals</a> are in the decision log."),
        "{open}"
    );
}
