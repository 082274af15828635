//! Managing teams and proposals: roles, removal, invitations, revisions,
//! withdrawal, deadline extension and naming another decider.

use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{in_seconds, location, spawn, textarea};

#[tokio::test]
async fn admins_change_roles_and_remove_members_whose_history_stays() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("TEAM", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("TEAM", "Keep history", &ana.email, &in_seconds(3600))
        .await;
    bob.stance(&id, "agree", Some("Yes")).await;
    let bob_id = app.user_id("bob@example.com").await;
    let ana_id = app.user_id("ana@example.com").await;
    let settings = "/t/team-team/settings";

    // A member cannot change roles; the last admin cannot step down.
    let r = app
        .post_form(
            &bob.browser,
            settings,
            &format!("/t/team-team/members/{ana_id}/role"),
            &[("role", "observer")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .post_form(
            &ana.browser,
            settings,
            &format!("/t/team-team/members/{ana_id}/role"),
            &[("role", "member")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, settings).await;
    assert!(
        html.contains("a team needs at least one admin"),
        "explains the refusal"
    );
    let (_, members) = ana.get("/api/v1/teams/TEAM/members").await;
    assert_eq!(members["members"][0]["role"], "admin");
    assert_eq!(
        members["members"][1]["role"], "member",
        "Bob's attempt changed nothing"
    );

    let r = app
        .post_form(
            &ana.browser,
            settings,
            &format!("/t/team-team/members/{bob_id}/role"),
            &[("role", "observer")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, body) = bob.stance(&id, "object", Some("Now I object")).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("observer_cannot_vote")
        )
    );

    let r = app
        .post_form(
            &ana.browser,
            settings,
            &format!("/t/team-team/members/{bob_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = bob.get("/api/v1/teams/TEAM/members").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "removed members lose access");
    let kept: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM stances WHERE user_id = $1"
    )
    .bind(bob_id)
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(kept, 1, "their stance history stays");
    let (_, d) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(
        d["stances"].as_array().map(Vec::len),
        Some(1),
        "only current voting members have rows"
    );
    assert!(app.verify().0);
}

/// A member's team and role are kept between page views while the team's
/// log is unchanged (SQLite); every change of membership is a log entry, so
/// the page viewed right after a role change or a removal reflects it.
#[tokio::test]
async fn a_role_change_or_a_removal_shows_on_the_very_next_page_view() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("KEPT", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("KEPT", "Kept memberships", &ana.email, &in_seconds(3600))
        .await;
    let bob_id = app.user_id("bob@example.com").await;
    let page = format!("/d/{id}");
    let settings = "/t/team-kept/settings";
    for _ in 0..2 {
        let (status, html) = app.get(&bob.browser, &page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("name=\"position\""), "a member may vote");
        let (status, _) = app.get(&bob.browser, "/t/team-kept").await;
        assert_eq!(status, StatusCode::OK);
    }
    let r = app
        .post_form(
            &ana.browser,
            settings,
            &format!("/t/team-kept/members/{bob_id}/role"),
            &[("role", "observer")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, html) = app.get(&bob.browser, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !html.contains("name=\"position\""),
        "an observer gets no stance form"
    );
    let r = app
        .post_form(
            &ana.browser,
            settings,
            &format!("/t/team-kept/members/{bob_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for path in [page.as_str(), "/t/team-kept", "/t/team-kept/decisions"] {
        let (status, _) = app.get(&bob.browser, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} after removal");
    }
    let (status, _) = bob.get("/api/v1/teams/KEPT/members").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expired_or_used_invitation_does_not_let_anyone_in() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("INV", &ana, &[], &[]).await;
    let (_, body) = ana
        .post("/api/v1/teams/INV/invitations", json!({"role": "member"}))
        .await;
    let token = body["token"].as_str().expect("token").to_string();
    assert!(
        body["url"]
            .as_str()
            .unwrap_or("")
            .ends_with(&format!("/invite/{token}"))
    );
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE invitations SET expires_at = '2000-01-01T00:00:00.000000Z'"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("expire");
    let (status, body) = bob
        .post(&format!("/api/v1/invitations/{token}/accept"), json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("invitation_invalid"))
    );
    let (status, _) = bob
        .post("/api/v1/invitations/not-a-token/accept", json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = ana
        .post("/api/v1/teams/INV/invitations", json!({"role": "owner"}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("role"))
    );
}

#[tokio::test]
async fn the_author_revises_and_every_revision_stays_readable() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("REV", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("REV", "Naming", &ana.email, &in_seconds(3600))
        .await;
    let page = format!("/d/{id}");
    let r = app
        .post_form(
            &bob.browser,
            &page,
            &format!("/d/{id}/revise"),
            &[("body", "Bob's text")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "only the author revises");
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &format!("/d/{id}/revise"),
            &[("body", "Second *version*")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&bob.browser, &page).await;
    assert!(
        html.contains("Second <em>version</em>")
            && html.contains("Earlier revisions")
            && html.contains("We should do this.")
    );
    let (_, d) = bob.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(d["body"], "Second *version*");
}

#[tokio::test]
async fn the_decider_extends_the_deadline_and_the_author_names_another_decider() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let olga = app.api_user("olga@example.com", "Olga").await;
    app.team("DL", &ana, &[&bob], &[&olga]).await;
    let id = bob
        .propose("DL", "Budget", &ana.email, &in_seconds(3600))
        .await;
    let page = format!("/d/{id}");
    let later =
        (chrono::Utc::now() + chrono::Duration::days(10)).with_timezone(&chrono_tz::Europe::Berlin);
    let later_local = later.format("%Y-%m-%dT%H:%M").to_string();

    let r = app
        .post_form(
            &bob.browser,
            &page,
            &format!("/d/{id}/extend"),
            &[("closes_at", &later_local)],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "only the decider extends"
    );
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &format!("/d/{id}/extend"),
            &[("closes_at", "2001-01-01T10:00")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("the earliest decision must be in the future")
    );
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &format!("/d/{id}/extend"),
            &[("closes_at", &later_local)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, d) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    let stored = chrono::DateTime::parse_from_rfc3339(d["closes_at"].as_str().expect("closes_at"))
        .expect("time");
    assert_eq!(
        stored
            .with_timezone(&chrono_tz::Europe::Berlin)
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
        later_local,
        "read in the viewer's zone"
    );

    let olga_id = app.user_id("olga@example.com").await;
    let bob_id = app.user_id("bob@example.com").await;
    let r = app
        .post_form(
            &bob.browser,
            &page,
            &format!("/d/{id}/decider"),
            &[("decider", &olga_id.to_string())],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "observers cannot decide"
    );
    let r = app
        .post_form(
            &bob.browser,
            &page,
            &format!("/d/{id}/decider"),
            &[("decider", &bob_id.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, &page).await;
    assert!(
        html.contains("Bob named Bob instead of Ana"),
        "the change is shown"
    );
    let (_, d) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(d["decider_email"], "bob@example.com");
    let kinds: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT kind FROM log_entries WHERE proposal_number = 1 ORDER BY idx"
    )
    .fetch_all(c)
    .await)
    .expect("q");
    assert_eq!(
        kinds,
        ["proposal_created", "deadline_extended", "decider_changed"]
    );
}

#[tokio::test]
async fn the_author_or_decider_withdraws_with_a_reason() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let cem = app.api_user("cem@example.com", "Cem").await;
    app.team("WD", &ana, &[&bob, &cem], &[]).await;
    let id = bob
        .propose("WD", "Drop it", &ana.email, &in_seconds(3600))
        .await;
    let page = format!("/d/{id}");
    let r = app
        .post_form(
            &cem.browser,
            &page,
            &format!("/d/{id}/withdraw"),
            &[("reason", "I want to")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post_form(
            &bob.browser,
            &page,
            &format!("/d/{id}/withdraw"),
            &[("reason", "")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required"
    );
    let r = app
        .post_form(
            &bob.browser,
            &page,
            &format!("/d/{id}/withdraw"),
            &[("reason", "Circumstances changed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), page);
    let (_, d) = ana.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(
        (d["status"].clone(), d["withdrawn_reason"].clone()),
        (json!("withdrawn"), json!("Circumstances changed"))
    );
}

#[tokio::test]
async fn bad_proposal_input_is_refused_with_the_field_named() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let olga = app.api_user("olga@example.com", "Olga").await;
    app.team("BAD", &ana, &[], &[&olga]).await;
    let base =
        json!({"title": "T", "body": "B", "decider": ana.email, "closes_at": in_seconds(3600)});
    for (patch, code, field) in [
        (json!({"title": ""}), "invalid_input", Some("title")),
        (
            json!({"closes_at": "tomorrow"}),
            "invalid_input",
            Some("closes_at"),
        ),
        (
            json!({"closes_at": in_seconds(-60)}),
            "deadline_in_past",
            None,
        ),
        (
            json!({"decider": "olga@example.com"}),
            "decider_not_member",
            None,
        ),
        (
            json!({"decider": "nobody@example.com"}),
            "invalid_input",
            Some("decider"),
        ),
        (json!({"area": "Nope"}), "invalid_input", Some("area")),
        (
            json!({"supersedes": "OTHER-1"}),
            "invalid_input",
            Some("supersedes"),
        ),
    ] {
        let mut body = base.clone();
        if let (Some(b), Some(p)) = (body.as_object_mut(), patch.as_object()) {
            b.extend(p.clone());
        }
        let (status, answer) = ana.post("/api/v1/teams/BAD/proposals", body).await;
        assert!(status.is_client_error(), "{patch}: {status}");
        assert_eq!(answer["error"]["code"], code, "{patch}: {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{patch}: {answer}");
        }
    }
    let (status, answer) = ana
        .post("/api/v1/teams/BAD/proposals", json!("not an object"))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_input"))
    );
    let (status, _) = olga.post("/api/v1/teams/BAD/proposals", base).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "observers do not propose");
    let count: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM proposals"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(count, 0, "nothing stored");
}

#[tokio::test]
async fn every_refused_form_on_the_proposal_page_keeps_what_was_typed() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("KEEP", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("KEEP", "Pair on reviews", &ana.email, &in_seconds(3600))
        .await;
    let page = format!("/d/{id}");
    let post = |form: &'static str, fields: Vec<(&'static str, String)>| {
        let (app, ana, page, id) = (&app, &ana, &page, &id);
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = app
                .post_form(&ana.browser, page, &format!("/d/{id}/{form}"), &fields)
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{form}");
            r.text().await.expect("body")
        }
    };

    let long_reason = format!("Reviews take long. {}", "x".repeat(5_000));
    let html = post(
        "stance",
        vec![
            ("position", "object".into()),
            ("reason", long_reason.clone()),
        ],
    )
    .await;
    assert!(html.contains("reason must be at most 5000 characters"));
    assert_eq!(textarea(&html, "stance-reason"), long_reason);
    assert!(html.contains(r#"value="object" checked"#), "position kept");

    let long_comment = format!("I like it. {}", "y".repeat(20_000));
    let html = post("comments", vec![("body", long_comment.clone())]).await;
    assert!(html.contains("body must be at most 20000 characters"));
    assert_eq!(textarea(&html, "comment-body"), long_comment);

    let long_body = format!("New text. {}", "z".repeat(100_000));
    let html = post("revise", vec![("body", long_body.clone())]).await;
    assert_eq!(textarea(&html, "revise-body"), long_body);
    assert!(html.contains("<details open><summary>Revise the proposal"));

    let long_withdrawal = format!("Plans changed. {}", "w".repeat(5_000));
    let html = post("withdraw", vec![("reason", long_withdrawal.clone())]).await;
    assert_eq!(textarea(&html, "withdraw-reason"), long_withdrawal);

    let html = post("extend", vec![("closes_at", "2001-01-01T10:00".into())]).await;
    assert!(html.contains("the earliest decision must be in the future"));
    assert!(html.contains(
        r#"id="extend-at" name="closes_at" type="datetime-local" required value="2001-01-01T10:00""#
    ));

    // Another form's text does not leak into the page afterwards.
    let (_, html) = app.get(&ana.browser, &page).await;
    assert_eq!(textarea(&html, "stance-reason"), "");
    assert_eq!(textarea(&html, "comment-body"), "");
    assert_eq!(textarea(&html, "revise-body"), "We should do this.");
}

#[tokio::test]
async fn new_proposal_errors_are_tied_to_their_fields() {
    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    let r = app
        .post_form(&ana, "/", "/teams", &[("name", "Tied"), ("key", "TIED")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let form = "/t/tied/proposals/new";
    let r = app
        .post_form(
            &ana,
            form,
            "/t/tied/proposals",
            &[
                ("title", "T"),
                ("body", "B"),
                ("area", "x"),
                ("decider", "y"),
                ("supersedes", "z"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("body");
    for field in ["area", "decider", "supersedes"] {
        assert!(
            html.contains(&format!(
                r#"<select id="{field}" name="{field}" aria-invalid="true" aria-describedby="{field}-error">"#
            )),
            "{field} is marked invalid: {html}"
        );
        assert!(
            html.contains(&format!(r#"<p class="field-error" id="{field}-error">"#)),
            "{field}'s message has its id"
        );
    }
    assert!(
        !html
            .contains(r#"id="title" name="title" required maxlength="200" value="T" aria-invalid"#)
    );

    let ana_id = app.user_id("ana@example.com").await;
    let r = app
        .post_form(
            &ana,
            form,
            "/t/tied/proposals",
            &[
                ("title", "T"),
                ("body", "B"),
                ("decider", &ana_id.to_string()),
                ("closes_at", "2001-01-01T10:00"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("body");
    assert!(
        html.contains(
            r#"value="2001-01-01T10:00" aria-invalid="true" aria-describedby="closes_at-error closes_at-help">"#
        ),
        "{html}"
    );
    assert!(html.contains(
        r#"<p class="field-error" id="closes_at-error">Earliest decision must be in the future.</p>"#
    ));
}

/// The proposal page keeps the rows it read while the team's log stays the
/// same size; every change must still show at once.
#[tokio::test]
async fn a_kept_proposal_page_shows_every_change_at_once() {
    let app = crate::helpers::spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("KEPT", &ana, &[&bob], &[]).await;
    let id = ana
        .propose(
            "KEPT",
            "Keep rows",
            &ana.email,
            &crate::helpers::in_seconds(86400),
        )
        .await;
    let page = format!("/d/{id}");
    let (_, first) = app.get(&bob.browser, &page).await;
    assert!(first.contains("not yet responded"));

    // A new entry: the log grew.
    let (status, _) = ana.stance(&id, "agree", Some("Fine by me")).await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let (_, after_stance) = app.get(&bob.browser, &page).await;
    assert!(after_stance.contains("Fine by me"), "the stance shows");

    // A new display name is not a log entry, and still shows.
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/profile",
            &[("name", "Robert"), ("time_zone", "Europe/Berlin")],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, renamed) = app.get(&ana.browser, &page).await;
    assert!(
        renamed.contains("<td><bdi>Robert</bdi></td>"),
        "the new name shows"
    );
    assert!(!renamed.contains("<td><bdi>Bob</bdi></td>"));

    // An erased comment is gone from the next view.
    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            serde_json::json!({"body": "A secret that must go."}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let index = body["log_index"].as_i64().expect("index");
    let (_, with_comment) = app.get(&bob.browser, &page).await;
    assert!(with_comment.contains("A secret that must go."));
    let (status, _) = ana
        .post(
            "/api/v1/teams/KEPT/erasures",
            serde_json::json!({"index": index, "field": "body"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let (_, erased) = app.get(&bob.browser, &page).await;
    assert!(!erased.contains("A secret that must go."));
    assert!(erased.contains("content erased on"));
}

#[tokio::test]
async fn a_long_stance_history_shows_its_latest_changes_and_says_so() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("LONG", &ana, &[], &[]).await;
    let id = ana
        .propose("LONG", "Argued for weeks", &ana.email, &in_seconds(86400))
        .await;
    for i in 0..105 {
        let position = if i % 2 == 0 { "agree" } else { "disagree" };
        let (status, _) = ana
            .stance(&id, position, Some(&format!("change {i}")))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, html) = app.get(&ana.browser, &format!("/d/{id}")).await;
    assert!(html.contains("Stance history (105)"), "the whole count");
    assert!(html.contains("The latest 100 changes; all 105 are in the"));
    assert!(html.contains("(<bdi>change 104</bdi>)") && html.contains("(<bdi>change 5</bdi>)"));
    assert!(
        !html.contains("(<bdi>change 4</bdi>)"),
        "the oldest are left to the log"
    );
}

#[tokio::test]
async fn the_erase_button_under_a_comment_carries_the_admins_own_token() {
    // The comments are rendered once and kept for every viewer in the same
    // time zone; the admin's token is filled in per view.
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ERASE", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("ERASE", "Kept parts", &ana.email, &in_seconds(3600))
        .await;
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            serde_json::json!({"body": "A regrettable remark."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Bob (a member) first, so the kept rendering exists before Ana looks.
    let (_, bob_page) = app.get(&bob.browser, &format!("/d/{id}")).await;
    assert!(bob_page.contains("A regrettable remark."));
    assert!(
        !bob_page.contains("/t/team-erase/erase"),
        "no erase form for members"
    );
    assert!(!bob_page.contains("csrf-slot-"), "no slot left in a page");

    let (_, ana_page) = app.get(&ana.browser, &format!("/d/{id}")).await;
    assert!(!ana_page.contains("csrf-slot-"), "no slot left in a page");
    let form = &ana_page[ana_page
        .find("action=\"/t/team-erase/erase\"")
        .expect("erase form")..];
    let token = crate::helpers::csrf_in(form);
    assert_eq!(
        token,
        crate::helpers::csrf_in(&ana_page),
        "the page's own token"
    );
    let index = body["log_index"].as_i64().expect("index").to_string();
    let r = ana
        .browser
        .post(format!("{}/t/team-erase/erase", app.base))
        .form(&[
            ("csrf_token", token.as_str()),
            ("index", index.as_str()),
            ("field", "body"),
            ("back", &format!("/d/{id}")),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, after) = app.get(&bob.browser, &format!("/d/{id}")).await;
    assert!(
        !after.contains("A regrettable remark."),
        "erased for every viewer"
    );
}

/// The dashboard's lists are per member and follow every write (what waits
/// for my stance, what closes within 48 hours), and so does the decision
/// log.
#[tokio::test]
async fn the_dashboard_and_the_decision_log_follow_each_write() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let olga = app.api_user("olga@example.com", "Olga").await;
    app.team("DASH", &ana, &[&bob], &[&olga]).await;
    let soon = ana
        .propose("DASH", "Closes soon", &ana.email, &in_seconds(3600))
        .await;
    let later = ana
        .propose("DASH", "Closes later", &ana.email, &in_seconds(72 * 3600))
        .await;
    // Sections of the dashboard: (needs my stance, open in this team).
    let lists = |html: String| {
        let (needs, rest) = html.split_once("open-heading").expect("open section");
        let (open, _) = rest
            .split_once("recently-decided-heading")
            .expect("decided section");
        (needs.to_string(), open.to_string())
    };
    for _ in 0..2 {
        let (status, html) = app.get(&bob.browser, "/t/team-dash").await;
        assert_eq!(status, StatusCode::OK);
        let (needs, open) = lists(html);
        assert!(needs.contains(&soon) && needs.contains(&later), "{needs}");
        assert!(!open.contains(&soon) && !open.contains(&later), "{open}");
    }
    let (_, html) = app.get(&olga.browser, "/t/team-dash").await;
    let (needs, open) = lists(html);
    assert!(!needs.contains(&soon), "observers take no stance");
    assert!(open.contains(&soon) && open.contains(&later), "{open}");

    // A stance moves the proposal to the team's open ones, with the stance
    // (it no longer disappears until its deadline nears).
    bob.stance(&soon, "agree", None).await;
    let (_, html) = app.get(&bob.browser, "/t/team-dash").await;
    let (needs, open) = lists(html);
    assert!(!needs.contains(&soon) && needs.contains(&later), "{needs}");
    assert!(open.contains(&soon) && !open.contains(&later), "{open}");
    assert!(
        open.contains("your stance: <span class=\"position position-agree\">agree</span>"),
        "{open}"
    );
    let (_, html) = app.get(&ana.browser, "/t/team-dash").await;
    let (needs, _) = lists(html);
    assert!(
        needs.contains(&soon) && needs.contains(&later),
        "Ana has taken no stance: {needs}"
    );

    // The decision log, unfiltered and filtered, shows a proposal at once.
    let (_, log) = app.get(&bob.browser, "/t/team-dash/decisions").await;
    assert!(log.contains(&soon) && log.contains(&later));
    let third = ana
        .propose("DASH", "Opened last", &ana.email, &in_seconds(3600))
        .await;
    for path in ["/t/team-dash/decisions", "/t/team-dash/decisions?q=last"] {
        let (_, log) = app.get(&bob.browser, path).await;
        assert!(log.contains(&third), "{path}: {log}");
    }
    let (_, log) = app.get(&bob.browser, "/t/team-dash/decisions?q=last").await;
    assert!(!log.contains(&soon), "the filter applies");
}
