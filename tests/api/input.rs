//! Bad input at the edge (issue #17): one corpus of requests carrying NUL
//! bytes and other control characters, sent anonymously and as a member, on
//! whichever backend the suite runs on. Each gets a clear 400 naming what
//! was wrong, never a 500, and nothing is stored.

use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{browser, in_seconds, spawn};

#[tokio::test]
async fn control_characters_anywhere_get_a_clear_400_on_either_backend() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("NUL", &ana, &[], &[]).await;
    let anonymous = browser();
    let entries_before: i64 = entries(&app).await;

    // Paths and queries, anonymous and signed in.
    for (client, path) in [
        (&anonymous, "/t/al%00pha"),
        (&anonymous, "/d/NUL-1%00"),
        (&anonymous, "/sign-in?next=/t/x%00"),
        (&ana.browser, "/t/team-nul/decisions?q=a%00b"),
        (&ana.browser, "/t/team-nul/decisions?status=open%01"),
        (&ana.browser, "/search?q=%C2%85"),
    ] {
        let (status, html) = app.get(client, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {html}");
        assert!(
            html.contains("control character") && html.contains("Settled does not accept"),
            "{path}: {html}"
        );
    }

    // A webhook for a slug with a NUL in it.
    let response = reqwest::Client::new()
        .post(format!("{}/hooks/al%00pha/github", app.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Forms: the sign-in email, anonymously, names the field.
    let token = app.csrf(&anonymous, "/sign-in").await;
    let response = anonymous
        .post(format!("{}/sign-in", app.base))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "a\0@example.com"),
            ("password", "a long password"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.expect("body");
    assert!(
        html.contains("The field “email” contains a control character"),
        "{html}"
    );

    // The API: a decider email with a NUL, named by its JSON member.
    let (status, body) = ana
        .post(
            "/api/v1/teams/NUL/proposals",
            json!({"title": "T", "body": "B", "decider": "ana\u{0}@example.com", "closes_at": in_seconds(3600)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
    assert_eq!(body["error"]["field"], "decider");
    let (status, body) = ana
        .post(
            "/api/v1/teams/NUL/proposals",
            json!({"title": "T\u{7f}", "body": "B", "decider": ana.email, "closes_at": in_seconds(3600)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "title");
    assert_eq!(entries(&app).await, entries_before, "nothing was stored");

    // Line breaks and tabs in a multi-line text are fine.
    let (status, body) = ana
        .post(
            "/api/v1/teams/NUL/proposals",
            json!({"title": "Tabs\tand lines", "body": "One\r\nTwo\tthree", "decider": ana.email, "closes_at": in_seconds(3600)}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a tab in a title: {body}"
    );
    assert_eq!(body["error"]["field"], "title");
    let (status, body) = ana
        .post(
            "/api/v1/teams/NUL/proposals",
            json!({"title": "Lines", "body": "One\r\nTwo\tthree", "decider": ana.email, "closes_at": in_seconds(3600)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn entries(app: &crate::helpers::TestApp) -> i64 {
    on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)
    .expect("count")
}

#[tokio::test]
async fn names_with_direction_overrides_are_refused_and_titles_are_isolated() {
    let app = spawn().await;
    let anonymous = browser();
    let response = app
        .post_form(
            &anonymous,
            "/sign-up",
            "/sign-up",
            &[
                ("email", "eve@example.com"),
                ("name", "Eve\u{202E}nimda"),
                ("password", "a long password"),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("body");
    assert!(html.contains("invisible formatting character"), "{html}");

    let ana = app.api_user("ana@example.com", "Ana").await;
    let (status, body) = ana
        .post(
            "/api/v1/teams",
            json!({"name": "Team\u{2066} ADMIN", "key": "BIDI"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "name");
    app.team("BIDI", &ana, &[], &[]).await;
    // A title may hold right-to-left text; it is isolated from the page
    // around it, so it cannot reorder the id or the words beside it.
    let id = ana
        .propose(
            "BIDI",
            "Pay \u{202E}001$ \u{202C}now",
            &ana.email,
            &in_seconds(3600),
        )
        .await;
    let (_, html) = app.get(&ana.browser, &format!("/d/{id}")).await;
    assert!(
        html.contains("<bdi>Pay \u{202E}001$ \u{202C}now</bdi>"),
        "{html}"
    );
    let (_, html) = app.get(&ana.browser, "/t/team-bidi").await;
    assert!(
        html.contains("<bdi>Pay \u{202E}001$ \u{202C}now</bdi>"),
        "{html}"
    );
}
