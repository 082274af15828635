//! The five rules, end to end over the JSON API and the browser forms.

use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{in_seconds, spawn, textarea};

#[tokio::test]
async fn only_the_decider_can_record() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ARCH", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("ARCH", "Use PostgreSQL", &bob.email, &in_seconds(3600))
        .await;
    ana.stance(&id, "agree", None).await;
    bob.stance(&id, "agree", None).await;

    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We use PostgreSQL."}),
        )
        .await;
    assert_eq!(body["error"]["code"], "not_decider", "{body}");
    assert!(status == StatusCode::CONFLICT || status == StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We use PostgreSQL."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, decision) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(decision["status"], "accepted");
    assert_eq!(decision["statement"], "We use PostgreSQL.");
    assert_eq!(decision["decision"]["decided_by"], "bob@example.com");
}

#[tokio::test]
async fn recording_before_the_deadline_waits_for_every_voting_member() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let cem = app.api_user("cem@example.com", "Cem").await;
    let obs = app.api_user("obs@example.com", "Olga").await;
    app.team("ARCH", &ana, &[&bob, &cem], &[&obs]).await;
    let id = ana
        .propose("ARCH", "Adopt Rust", &ana.email, &in_seconds(3600))
        .await;
    ana.stance(&id, "agree", None).await;
    bob.stance(&id, "disagree", Some("Hiring is harder")).await;

    let record = json!({"outcome": "accepted", "statement": "We adopt Rust."});
    let (status, body) = ana
        .post(&format!("/api/v1/decisions/{id}/decision"), record.clone())
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "window_open");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("1 voting member"),
        "{body}"
    );

    // The browser form explains who is missing.
    let (_, html) = app.get(&ana.browser, &format!("/d/{id}")).await;
    assert!(
        html.contains("Still waiting for: Cem."),
        "page names the missing member"
    );

    // Observers do not count: once Cem responds, everyone has.
    cem.stance(&id, "abstain", None).await;
    let (status, body) = ana
        .post(&format!("/api/v1/decisions/{id}/decision"), record)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn after_the_deadline_the_decider_may_record_without_every_stance() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("OPS", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("OPS", "Weekly deploys", &ana.email, &in_seconds(1))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "rejected", "statement": "We keep daily deploys."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, d) = bob.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(d["status"], "rejected");
}

#[tokio::test]
async fn an_unanswered_objection_blocks_the_decision() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ARCH", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("ARCH", "Drop the monorepo", &ana.email, &in_seconds(3600))
        .await;
    ana.stance(&id, "agree", None).await;
    let (status, body) = bob.stance(&id, "object", None).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an objection needs a reason: {body}"
    );
    let (status, _) = bob.stance(&id, "object", Some("CI gets slower")).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We split."}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "objection_unanswered");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Bob")
    );

    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We split.", "responses": {"bob@example.com": "We cache builds per package."}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, d) = bob.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(
        d["responses"]["bob@example.com"],
        "We cache builds per package."
    );
}

#[tokio::test]
async fn a_changed_stance_replaces_the_current_one_and_keeps_history() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ARCH", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("ARCH", "Four-day week", &ana.email, &in_seconds(3600))
        .await;
    bob.stance(&id, "object", Some("Coverage on Fridays")).await;
    bob.stance(&id, "agree", Some("Rota solves it")).await;

    let (_, d) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    let stances = d["stances"].as_array().expect("stances");
    assert_eq!(stances.len(), 2, "one row per voting member: {d}");
    let bob_row = stances
        .iter()
        .find(|s| s["member"] == "bob@example.com")
        .expect("Bob's row");
    assert_eq!(bob_row["position"], "agree");
    let ana_row = stances
        .iter()
        .find(|s| s["member"] == "ana@example.com")
        .expect("Ana's row");
    assert!(ana_row["position"].is_null(), "Ana has not responded");

    let history: Vec<(String, Option<String>)> =
        on!(app.db.reader(), |c| sqlx::query_as("SELECT position, reason FROM stances WHERE user_id = (SELECT id FROM users WHERE email = 'bob@example.com') ORDER BY log_idx")
            .fetch_all(c)
            .await)
            .expect("query");
    assert_eq!(
        history,
        vec![
            ("object".into(), Some("Coverage on Fridays".into())),
            ("agree".into(), Some("Rota solves it".into()))
        ]
    );
    let (_, html) = app.get(&ana.browser, &format!("/d/{id}")).await;
    assert!(html.contains("not yet responded") && html.contains("Stance history (2)"));
}

#[tokio::test]
async fn observers_cannot_take_stances() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let olga = app.api_user("olga@example.com", "Olga").await;
    app.team("ARCH", &ana, &[], &[&olga]).await;
    let id = ana
        .propose("ARCH", "Public roadmap", &ana.email, &in_seconds(3600))
        .await;
    let (status, body) = olga.stance(&id, "agree", None).await;
    assert_eq!(body["error"]["code"], "observer_cannot_vote", "{body}");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = olga
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({"body": "Observers may comment."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let count: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM stances"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_recorded_decision_cannot_be_changed_through_any_route() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ARCH", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("ARCH", "Tabs", &ana.email, &in_seconds(3600))
        .await;
    ana.stance(&id, "agree", None).await;
    bob.stance(&id, "agree", None).await;
    let (status, _) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "Tabs it is."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, before) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    let log_before: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)
    .expect("q");

    // API routes.
    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "rejected", "statement": "Spaces."}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("not_open"))
    );
    assert_eq!(
        bob.stance(&id, "object", Some("late")).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        bob.post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({"body": "late"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    // Browser routes.
    let page = format!("/d/{id}");
    for (path, fields) in [
        (
            format!("/d/{id}/decision"),
            vec![("outcome", "rejected"), ("statement", "Spaces.")],
        ),
        (format!("/d/{id}/revise"), vec![("body", "New text")]),
        (
            format!("/d/{id}/withdraw"),
            vec![("reason", "Changed my mind")],
        ),
        (
            format!("/d/{id}/extend"),
            vec![("closes_at", "2099-01-01T10:00")],
        ),
        (format!("/d/{id}/decider"), vec![("decider", "2")]),
        (format!("/d/{id}/stance"), vec![("position", "agree")]),
        (format!("/d/{id}/comments"), vec![("body", "late")]),
    ] {
        let r = app.post_form(&ana.browser, &page, &path, &fields).await;
        assert!(
            r.status().is_client_error(),
            "{path} answered {}",
            r.status()
        );
    }
    let (_, after) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(before, after);
    let log_after: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(log_before, log_after, "nothing was appended");
}

#[tokio::test]
async fn superseding_links_both_ways() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("ARCH", &ana, &[], &[]).await;
    let old = ana
        .propose("ARCH", "REST API", &ana.email, &in_seconds(3600))
        .await;
    ana.stance(&old, "agree", None).await;
    ana.post(
        &format!("/api/v1/decisions/{old}/decision"),
        json!({"outcome": "accepted", "statement": "REST."}),
    )
    .await;

    let (status, body) = ana
        .post(
            "/api/v1/teams/ARCH/proposals",
            json!({"title": "GraphQL API", "body": "Replace REST.", "decider": ana.email, "closes_at": in_seconds(3600), "supersedes": old}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let new = body["id"].as_str().expect("id").to_string();
    ana.stance(&new, "agree", None).await;
    let (_, before) = ana.get(&format!("/api/v1/decisions/{old}")).await;
    assert_eq!(
        before["status"], "accepted",
        "superseded only once the new one is accepted"
    );
    ana.post(
        &format!("/api/v1/decisions/{new}/decision"),
        json!({"outcome": "accepted", "statement": "GraphQL."}),
    )
    .await;

    let (_, o) = ana.get(&format!("/api/v1/decisions/{old}")).await;
    let (_, n) = ana.get(&format!("/api/v1/decisions/{new}")).await;
    assert_eq!(o["status"], "superseded");
    assert_eq!(o["superseded_by"], json!(new));
    assert_eq!(n["supersedes"], json!(old));
    assert_eq!(o["statement"], "REST.", "the old record stays readable");
    let (_, html) = app.get(&ana.browser, &format!("/d/{old}")).await;
    assert!(
        html.contains(&format!("href=\"/d/{new}\"")),
        "old page links the new one"
    );
    let (_, html) = app.get(&ana.browser, &format!("/d/{new}")).await;
    assert!(
        html.contains(&format!("href=\"/d/{old}\"")),
        "new page links the old one"
    );

    // Only an accepted decision can be superseded.
    let open = ana
        .propose("ARCH", "Open one", &ana.email, &in_seconds(3600))
        .await;
    let (status, body) = ana
        .post(
            "/api/v1/teams/ARCH/proposals",
            json!({"title": "x", "body": "y", "decider": ana.email, "closes_at": in_seconds(3600), "supersedes": open}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("supersedes_not_accepted"))
    );
}

#[tokio::test]
async fn the_whole_flow_works_in_the_browser_without_javascript() {
    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    let r = app
        .post_form(
            &ana,
            "/",
            "/teams",
            &[
                ("name", "Platform"),
                ("key", "plat"),
                ("window_hours", "48"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::helpers::location(&r), "/t/platform");
    let r = app
        .post_form(
            &ana,
            "/t/platform/settings",
            "/t/platform/invitations",
            &[("role", "member")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana, "/t/platform/settings").await;
    let start = html.find("/invite/").expect("link shown");
    let token: String = html[start + 8..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let bob = app.user("bob@example.com", "Bob").await;
    let invite = format!("/invite/{token}");
    let r = app.post_form(&bob, &invite, &invite, &[]).await;
    assert_eq!(crate::helpers::location(&r), "/t/platform");
    // The link is single-use.
    let carl = app.user("carl@example.com", "Carl").await;
    let (status, _) = app.get(&carl, &invite).await;
    assert_eq!(status, StatusCode::GONE);

    let bob_id: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM users WHERE email = 'bob@example.com'"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    let r = app
        .post_form(
            &ana,
            "/t/platform/areas",
            "/t/platform/areas",
            &[
                ("name", "Infrastructure"),
                ("description", "Servers"),
                ("default_decider", &bob_id.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana, "/t/platform/areas").await;
    assert!(html.contains("Decided by <strong><bdi>Bob</bdi></strong>"));
    let area_id: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM areas"
    )
    .fetch_one(c)
    .await)
    .expect("q");

    let r = app
        .post_form(
            &ana,
            "/t/platform/proposals/new",
            "/t/platform/proposals",
            &[
                ("title", "Move to Kubernetes"),
                ("body", "Because *scale*."),
                ("area", &area_id.to_string()),
                ("decider", ""),
                ("closes_at", ""),
            ],
        )
        .await;
    assert_eq!(crate::helpers::location(&r), "/d/PLAT-1");
    let (_, html) = app.get(&ana, "/d/PLAT-1").await;
    assert!(
        html.contains("<strong><bdi>Bob</bdi></strong>"),
        "the area's decider is named"
    );
    assert!(html.contains("<em>scale</em>"));
    let r = app
        .post_form(
            &ana,
            "/d/PLAT-1",
            "/d/PLAT-1/stance",
            &[("position", "agree"), ("reason", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Bob tries to record early: told why not.
    let r = app
        .post_form(
            &bob,
            "/d/PLAT-1",
            "/d/PLAT-1/decision",
            &[("outcome", "accepted"), ("statement", "Yes")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("1 voting member(s) have not responded yet"),
        "explains the window"
    );
    let r = app
        .post_form(
            &bob,
            "/d/PLAT-1",
            "/d/PLAT-1/stance",
            &[("position", "object"), ("reason", "Too complex")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .post_form(
            &bob,
            "/d/PLAT-1",
            "/d/PLAT-1/decision",
            &[("outcome", "accepted"), ("statement", "Yes")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("every standing objection needs a written response")
    );
    let response_field = format!("response_{bob_id}");
    let r = app
        .post_form(
            &bob,
            "/d/PLAT-1",
            "/d/PLAT-1/decision",
            &[
                ("outcome", "accepted"),
                ("statement", "We move."),
                ("rationale", "Scale."),
                (&response_field, "We start small."),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana, "/d/PLAT-1").await;
    assert!(
        html.contains("Decision record: accepted")
            && html.contains("We start small.")
            && html.contains("Sealed at log index")
    );
    let (_, html) = app.get(&ana, "/t/platform").await;
    assert!(html.contains("PLAT-1"), "dashboard lists the decision");
    let (_, html) = app.get(&ana, "/t/platform/decisions?status=accepted").await;
    assert!(html.contains("Move to Kubernetes"));
    let (_, html) = app.get(&ana, "/t/platform/decisions?status=open").await;
    assert!(!html.contains("Move to Kubernetes"));
    let (_, html) = app.get(&ana, "/t/platform/log").await;
    assert!(html.contains("decision recorded"));
}

#[tokio::test]
async fn a_refused_decision_keeps_everything_the_decider_typed() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let cem = app.api_user("cem@example.com", "Cem").await;
    app.team("ARCH", &ana, &[&bob, &cem], &[]).await;
    let id = ana
        .propose("ARCH", "Drop the monorepo", &ana.email, &in_seconds(3600))
        .await;
    ana.stance(&id, "agree", None).await;
    bob.stance(&id, "object", Some("CI gets slower")).await;
    let bob_id: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM users WHERE email = 'bob@example.com'"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    let response_field = format!("response_{bob_id}");
    let page = format!("/d/{id}");
    let action = format!("/d/{id}/decision");

    // Refused by the window (Cem has not responded): nothing typed is lost.
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &action,
            &[
                ("outcome", "rejected"),
                (
                    "statement",
                    "We keep one repository <for now> & revisit in May.",
                ),
                ("rationale", "Splitting costs more than it saves."),
                (&response_field, "We cache builds per package."),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("the decider can record from"),
        "refused: {html}"
    );
    assert_eq!(
        textarea(&html, "statement"),
        "We keep one repository &#60;for now&#62; &#38; revisit in May."
    );
    assert_eq!(
        textarea(&html, "rationale"),
        "Splitting costs more than it saves."
    );
    assert_eq!(
        textarea(&html, &format!("response-{bob_id}")),
        "We cache builds per package."
    );
    assert!(html.contains(r#"value="rejected" checked"#), "outcome kept");
    assert!(!html.contains(r#"value="accepted" checked"#));

    // Refused for the missing response: statement and rationale stay.
    cem.stance(&id, "abstain", None).await;
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &action,
            &[
                ("outcome", "accepted"),
                ("statement", "We split the repository."),
                ("rationale", "Teams ship on their own."),
                (&response_field, "  "),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("body");
    assert!(html.contains("every standing objection needs a written response"));
    assert_eq!(textarea(&html, "statement"), "We split the repository.");
    assert_eq!(textarea(&html, "rationale"), "Teams ship on their own.");
    assert!(html.contains(r#"value="accepted" checked"#), "outcome kept");

    // A fresh page starts empty again, and nothing was recorded.
    let (_, html) = app.get(&ana.browser, &page).await;
    assert_eq!(textarea(&html, "statement"), "");
    let (_, d) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(d["status"], "open");
}

#[tokio::test]
async fn the_refusal_shows_the_deadline_in_the_viewers_time_zone() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("TZ", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("TZ", "Four-day week", &bob.email, "2030-07-01T12:00:00Z")
        .await;
    let page = format!("/d/{id}");
    let action = format!("/d/{id}/decision");
    let record = [("outcome", "accepted"), ("statement", "We try it.")];

    // Bob signed up in Berlin (the helpers' zone).
    let r = app.post_form(&bob.browser, &page, &action, &record).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.expect("body");
    assert!(
        html.contains(
            "the decider can record from Mon 1 Jul 2030, 14:00 CEST, when the window ends, or earlier once every voting member has responded; 2 voting member(s) have not responded yet"
        ),
        "{html}"
    );
    assert!(!html.contains("12:00:00 UTC"), "not in UTC");

    // His own zone, whatever it is.
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/profile",
            &[("name", "Bob"), ("time_zone", "Asia/Tokyo")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.post_form(&bob.browser, &page, &action, &record).await;
    let html = r.text().await.expect("body");
    assert!(
        html.contains("the decider can record from Mon 1 Jul 2030, 21:00 JST, when"),
        "{html}"
    );

    // The API keeps answering in UTC.
    let (_, body) = bob
        .post(
            &action.replace("/d/", "/api/v1/decisions/"),
            json!({"outcome": "accepted", "statement": "We try it."}),
        )
        .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("2030-07-01 12:00:00 UTC"),
        "{body}"
    );
}
