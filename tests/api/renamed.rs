//! Ids under a team's former key (issue #17, items 5 and 19): after a key
//! rename, `ARCH-4` redirects to `PLAT-4` for whoever may read the
//! decision, on pages, status endpoints and the API alike; to anyone else
//! a former key looks exactly like one that never existed, so the redirect
//! cannot tell them the team's new key.

use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::helpers::{Api, TestApp, browser, in_seconds, location, spawn};

/// Team OLD of Ana (admin) with one proposal, renamed to NEW; Eve, signed
/// in, belongs to another team.
async fn renamed_team(app: &TestApp) -> (Api, Api) {
    let ana = app.api_user("ana@example.com", "Ana").await;
    let eve = app.api_user("eve@example.com", "Eve").await;
    app.team("OLD", &ana, &[], &[]).await;
    app.team("EVE", &eve, &[], &[]).await;
    let id = ana
        .propose("OLD", "Before the rename", &ana.email, &in_seconds(3600))
        .await;
    assert_eq!(id, "OLD-1");
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-old/settings",
            "/t/team-old/key",
            &[("key", "NEW")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (ana, eve)
}

/// A client that sends `token` as a bearer token and follows no redirect.
fn with_token(token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Status, `Location` and body of a GET of `path`.
async fn answer(app: &TestApp, client: &Client, path: &str) -> (StatusCode, String, String) {
    let r = client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("GET");
    let status = r.status();
    let to = location(&r);
    (status, to, r.text().await.expect("body"))
}

#[tokio::test]
async fn a_former_key_redirects_only_those_who_may_read_the_decision() {
    let app = spawn().await;
    let (ana, eve) = renamed_team(&app).await;
    let stranger = browser();

    for suffix in ["", "/status.json", "/badge.svg"] {
        let old = format!("/d/OLD-1{suffix}");
        let (status, to, _) = answer(&app, &ana.browser, &old).await;
        assert_eq!(
            (status, to.as_str()),
            (
                StatusCode::PERMANENT_REDIRECT,
                format!("/d/NEW-1{suffix}").as_str()
            ),
            "a member follows {old}"
        );
        // Everyone else gets what a key that never existed gets.
        for (who, client) in [("a non-member", &eve.browser), ("a stranger", &stranger)] {
            let unknown = answer(&app, client, &format!("/d/ZZZ-1{suffix}")).await;
            let former = answer(&app, client, &old).await;
            assert_ne!(former.0, StatusCode::PERMANENT_REDIRECT, "{who}: {old}");
            assert!(!former.1.contains("NEW") && !former.2.contains("NEW-1"));
            assert_eq!((former.0, former.2), (unknown.0, unknown.2), "{who}: {old}");
        }
    }
    // Signed out, the page asks to sign in, as for any id.
    let (status, to, _) = answer(&app, &stranger, "/d/OLD-1").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/sign-in?next=%2Fd%2FOLD-1")
    );
    // Another team's API token does not open the status either.
    let (status, to, _) = answer(&app, &with_token(&eve.token), "/d/OLD-1/status.json").await;
    assert_eq!((status, to.as_str()), (StatusCode::NOT_FOUND, ""));

    // Whoever may read the status is redirected, with the token kept.
    let (status, to, _) = answer(&app, &with_token(&ana.token), "/d/OLD-1/status.json").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::PERMANENT_REDIRECT, "/d/NEW-1/status.json")
    );
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-old/settings",
            "/t/team-old/status-tokens",
            &[("label", "ci")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, "/t/team-old/settings").await;
    let start = html.find("value=\"sts_").expect("token shown once") + 7;
    let token: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let (status, to, _) = answer(
        &app,
        &stranger,
        &format!("/d/OLD-1/badge.svg?token={token}"),
    )
    .await;
    assert_eq!(
        (status, to),
        (
            StatusCode::PERMANENT_REDIRECT,
            format!("/d/NEW-1/badge.svg?token={token}")
        )
    );
    let (status, _, svg) = answer(
        &app,
        &stranger,
        &format!("/d/NEW-1/badge.svg?token={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{svg}");

    // Once status is public, anyone may read it, and so follow it.
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-old/settings",
            "/t/team-old/status-visibility",
            &[("public", "true")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, to, _) = answer(&app, &stranger, "/d/OLD-1/badge.svg").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::PERMANENT_REDIRECT, "/d/NEW-1/badge.svg")
    );
    // The page itself stays for members.
    let (status, _, _) = answer(&app, &eve.browser, "/d/OLD-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_redirects_a_former_id_for_members_and_answers_404_to_others() {
    let app = spawn().await;
    let (ana, eve) = renamed_team(&app).await;
    let member = with_token(&ana.token);

    for (old, new) in [
        ("/api/v1/decisions/OLD-1", "/api/v1/decisions/NEW-1"),
        (
            "/api/v1/decisions/OLD-1?pretty=1",
            "/api/v1/decisions/NEW-1?pretty=1",
        ),
        (
            "/api/v1/decisions/OLD-1/proof",
            "/api/v1/decisions/NEW-1/proof",
        ),
    ] {
        let (status, to, _) = answer(&app, &member, old).await;
        assert_eq!(
            (status, to.as_str()),
            (StatusCode::PERMANENT_REDIRECT, new),
            "{old}"
        );
    }
    // A client that follows redirects reads and writes through the old id.
    let (status, body) = ana.get("/api/v1/decisions/OLD-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "NEW-1");
    let (status, body) = ana.stance("OLD-1", "agree", Some("Still fine")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = ana.get("/api/v1/decisions/NEW-1").await;
    assert_eq!(body["stances"][0]["reason"], "Still fine");

    // Non-members get the 404 of an id that never existed.
    let stranger = with_token(&eve.token);
    for suffix in ["", "/proof"] {
        let unknown = answer(&app, &stranger, &format!("/api/v1/decisions/ZZZ-1{suffix}")).await;
        let former = answer(&app, &stranger, &format!("/api/v1/decisions/OLD-1{suffix}")).await;
        assert_eq!(former.0, StatusCode::NOT_FOUND, "{suffix}");
        assert_eq!(former, unknown, "{suffix}");
    }
    let (status, body) = eve
        .post(
            "/api/v1/decisions/OLD-1/comments",
            json!({"body": "Let me in"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
