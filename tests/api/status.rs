//! Decision status and badges for CI (issue #5): who may read them, and
//! that they never reveal contents.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{browser, in_seconds, spawn};

async fn get(url: &str, bearer: Option<&str>) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.expect("GET");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

#[tokio::test]
async fn status_and_badge_are_readable_by_members_tokens_or_everyone_once_public() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let eve = app.api_user("eve@example.com", "Eve").await;
    app.team("CI", &ana, &[], &[]).await;
    let id = ana
        .propose("CI", "Secret title", &ana.email, &in_seconds(3600))
        .await;
    let status_url = format!("{}/d/{id}/status.json", app.base);
    let badge_url = format!("{}/d/{id}/badge.svg", app.base);

    // A member's personal token.
    let (code, body) = get(&status_url, Some(&ana.token)).await;
    assert_eq!(code, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["id"].clone(), v["status"].clone(), v["accepted"].clone()),
        (json!(id), json!("open"), json!(false))
    );
    assert!(
        !body.contains("Secret title"),
        "status never carries contents"
    );

    // Strangers, another team's member and wrong tokens see nothing.
    for bearer in [None, Some(eve.token.as_str()), Some("sts_wrong")] {
        assert_eq!(
            get(&status_url, bearer).await.0,
            StatusCode::NOT_FOUND,
            "{bearer:?}"
        );
        assert_eq!(
            get(&badge_url, bearer).await.0,
            StatusCode::NOT_FOUND,
            "{bearer:?}"
        );
    }
    assert_eq!(
        get(
            &format!("{}/d/CI-99/status.json", app.base),
            Some(&ana.token)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // A status token, as a header or in the URL (for badge images).
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-ci/settings",
            "/t/team-ci/status-tokens",
            &[("label", "ci")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, "/t/team-ci/settings").await;
    let start = html.find("value=\"sts_").expect("token shown once") + 7;
    let token: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let (_, again) = app.get(&ana.browser, "/t/team-ci/settings").await;
    assert!(!again.contains(&token), "shown only once");
    assert_eq!(get(&status_url, Some(&token)).await.0, StatusCode::OK);
    let (code, svg) = get(&format!("{badge_url}?token={token}"), None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        svg.starts_with("<svg") && svg.contains(&format!("{id} open")),
        "{svg}"
    );

    // Decided: the badge and status follow.
    ana.stance(&id, "agree", None).await;
    ana.post(
        &format!("/api/v1/decisions/{id}/decision"),
        json!({"outcome": "accepted", "statement": "Yes."}),
    )
    .await;
    let (_, body) = get(&status_url, Some(&token)).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (
            v["status"].clone(),
            v["outcome"].clone(),
            v["accepted"].clone()
        ),
        (json!("accepted"), json!("accepted"), json!(true))
    );
    assert!(
        get(&format!("{badge_url}?token={token}"), None)
            .await
            .1
            .contains("accepted")
    );

    // Public status: anyone reads status, still not contents; only admins switch it.
    let r = app
        .post_form(
            &eve.browser,
            "/",
            "/t/team-ci/status-visibility",
            &[("public", "true")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-ci/settings",
            "/t/team-ci/status-visibility",
            &[("public", "true")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (code, body) = get(&status_url, None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(!body.contains("Secret title"));
    let (status, _) = app.get(&browser(), &format!("/d/{id}")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the decision page itself still needs signing in"
    );
    let (code, _) = get(
        &format!("{}/api/v1/decisions/{id}", app.base),
        Some(&eve.token),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "contents stay private");
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn unfurl_meta_is_for_members_only() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let eve = app.api_user("eve@example.com", "Eve").await;
    app.team("OG", &ana, &[], &[]).await;
    let id = ana
        .propose("OG", "Quarterly pricing", &ana.email, &in_seconds(3600))
        .await;
    let (_, html) = app.get(&ana.browser, &format!("/d/{id}")).await;
    assert!(
        html.contains(&format!(
            "<meta property=\"og:title\" content=\"{id}: Quarterly pricing\">"
        )),
        "members get a preview"
    );
    let (status, html) = app.get(&eve.browser, &format!("/d/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("og:title") && !html.contains("Quarterly pricing"));
    let (status, html) = app.get(&browser(), &format!("/d/{id}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!html.contains("Quarterly pricing"));
}

#[tokio::test]
async fn a_renamed_key_keeps_old_ids_working() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("OLD", &ana, &[], &[]).await;
    let id = ana
        .propose("OLD", "Before the rename", &ana.email, &in_seconds(3600))
        .await;
    assert_eq!(id, "OLD-1");
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-old/settings",
            "/t/team-old/key",
            &[("key", "new")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let r = ana
        .browser
        .get(format!("{}/d/OLD-1", app.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(crate::helpers::location(&r), "/d/NEW-1");
    let (status, html) = app.get(&ana.browser, "/d/NEW-1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Before the rename"));
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/d/OLD-1/status.json", app.base))
        .bearer_auth(&ana.token)
        .send()
        .await
        .expect("GET");
    assert_eq!(crate::helpers::location(&r), "/d/NEW-1/status.json");
    let next = ana
        .propose("NEW", "After", &ana.email, &in_seconds(3600))
        .await;
    assert_eq!(next, "NEW-2", "numbering continues");

    // Another team can take neither the new key nor the old one.
    let (status, body) = bob
        .post("/api/v1/teams", json!({"name": "Other", "key": "OLD"}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::CONFLICT, json!("key"))
    );
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}
