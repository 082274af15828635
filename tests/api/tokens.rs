//! Personal API tokens, self-service (issue #20): made in settings (a name,
//! read only or read and write, an expiry), shown once and stored hashed,
//! listed with when they were last used, revoked at once; a read-only token
//! is refused every write with a clear error. Also from the command line.

use reqwest::StatusCode;
use serde_json::{Value, json};
use settled::on;

use crate::helpers::{TestApp, in_seconds, on_postgres, spawn, spawn_beside};

/// The token shown once on the settings page, if any.
fn shown_token(html: &str) -> Option<String> {
    let marker = r#"id="new-token" readonly value=""#;
    let start = html.find(marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_string())
}

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", app.base);
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&body),
    };
    let r = request.bearer_auth(token).send().await.expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Revoke-form ids on the settings page.
fn revoke_ids(html: &str) -> Vec<i64> {
    html.match_indices("/settings/tokens/")
        .filter_map(|(i, _)| {
            html[i + "/settings/tokens/".len()..]
                .split('/')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test]
async fn tokens_made_in_settings_read_or_write_as_chosen_and_end_when_revoked() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("TOK", &ana, &[], &[]).await;
    let browser = &ana.browser;

    let make = |name: &'static str, access: &'static str, expires: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post_form(
                    browser,
                    "/settings",
                    "/settings/tokens",
                    &[("name", name), ("access", access), ("expires", expires)],
                )
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            let (_, html) = app.get(browser, "/settings").await;
            (shown_token(&html), html)
        }
    };
    let (reader, html) = make("dashboard script", "read", "30").await;
    let reader = reader.expect("the new token is shown");
    assert!(reader.starts_with("stl_"));
    assert!(html.contains("API token created. Copy it now: it is shown once."));
    assert!(
        html.contains("<th scope=\"row\"><bdi>dashboard script</bdi></th>\n  <td>read only</td>"),
        "{html}"
    );
    // Shown once; only its hash is stored.
    let (_, html) = app.get(browser, "/settings").await;
    assert_eq!(shown_token(&html), None);
    let stored: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1"
    )
    .bind(settled::db::users::token_hash(&reader))
    .fetch_one(c)
    .await)
    .expect("count");
    assert_eq!(stored, 1);
    // Not used yet: "never", then its expiry.
    assert!(html.contains("<td>never</td>\n  <td><time"), "{html}");

    // Read only: reads work, every write is refused with a clear error.
    let (status, _) = call(
        &app,
        &reader,
        "GET",
        "/api/v1/teams/TOK/members",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &app,
        &reader,
        "POST",
        "/api/v1/teams/TOK/proposals",
        json!({"title": "T", "body": "B", "decider": "ana@example.com", "closes_at": in_seconds(3600)}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "read_only_token");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("This API token can only read")
    );
    let proposals: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM proposals"
    )
    .fetch_one(c)
    .await)
    .expect("count");
    assert_eq!(proposals, 0, "nothing was written");
    // The settings show when it was last used.
    let (_, html) = app.get(browser, "/settings").await;
    assert!(!html.contains("<td>never</td>\n  <td><time"), "{html}");

    // Read and write: the same write goes through.
    let (writer, _) = make("deploy bot", "write", "never").await;
    let writer = writer.expect("shown");
    let (status, body) = call(
        &app,
        &writer,
        "POST",
        "/api/v1/teams/TOK/proposals",
        json!({"title": "T", "body": "B", "decider": "ana@example.com", "closes_at": in_seconds(3600)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Bad input creates nothing, and says why.
    let before = revoke_ids(&app.get(browser, "/settings").await.1).len();
    for (name, access, expires) in [("", "read", "30"), ("x", "admin", "30"), ("x", "read", "7")] {
        let r = app
            .post_form(
                browser,
                "/settings",
                "/settings/tokens",
                &[("name", name), ("access", access), ("expires", expires)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, html) = app.get(browser, "/settings").await;
        assert!(
            html.contains("No token was created: "),
            "{name} {access} {expires}"
        );
        assert_eq!(shown_token(&html), None);
        assert_eq!(revoke_ids(&html).len(), before);
    }

    // On PostgreSQL, another instance sees the revocation at once too.
    let beside = if on_postgres() {
        Some(spawn_beside(&app).await)
    } else {
        None
    };
    let (_, html) = app.get(browser, "/settings").await;
    let ids = revoke_ids(&html);
    assert_eq!(ids.len(), 3, "the helper's, and two made here: {ids:?}");
    // Newest first: the deploy bot's.
    let r = app
        .post_form(
            browser,
            "/settings",
            &format!("/settings/tokens/{}/revoke", ids[0]),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, body) = call(
        &app,
        &writer,
        "GET",
        "/api/v1/teams/TOK/members",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    if let Some(other) = &beside {
        let (status, _) = call(
            other,
            &writer,
            "GET",
            "/api/v1/teams/TOK/members",
            Value::Null,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "on the other instance too"
        );
        let (status, _) = call(
            other,
            &reader,
            "GET",
            "/api/v1/teams/TOK/members",
            Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = call(
        &app,
        &reader,
        "GET",
        "/api/v1/teams/TOK/members",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the other token still works");
    // Someone else cannot revoke Ana's token.
    let bob = app.user("bob@example.com", "Bob").await;
    app.post_form(
        &bob,
        "/settings",
        &format!("/settings/tokens/{}/revoke", ids[1]),
        &[],
    )
    .await;
    let (status, _) = call(
        &app,
        &reader,
        "GET",
        "/api/v1/teams/TOK/members",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("EXP", &ana, &[], &[]).await;
    let token = "stl_expired_token_for_the_test";
    let user = app.user_id("ana@example.com").await;
    let now = chrono::Utc::now();
    settled::db::users::insert_token(
        app.db.writer(),
        settled::db::users::NewToken {
            user_id: user,
            label: "old",
            token_hash: &settled::db::users::token_hash(token),
            read_only: false,
            created_at: settled::db::Timestamp(now - chrono::Duration::days(31)),
            expires_at: Some(settled::db::Timestamp(now - chrono::Duration::days(1))),
        },
    )
    .await
    .expect("insert");
    let (status, body) = call(&app, token, "GET", "/api/v1/teams/EXP/members", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (_, html) = app.get(&ana.browser, "/settings").await;
    assert!(html.contains("<td>expired <time"), "{html}");
}

#[tokio::test]
async fn the_cli_lists_makes_read_only_tokens_and_revokes_them() {
    use std::process::Command;
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("CLI", &ana, &[], &[]).await;
    let settled = |args: &[&str]| {
        let mut all = vec!["--database", app.db_url.as_str()];
        all.extend_from_slice(args);
        Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(all)
            .output()
            .expect("runs")
    };
    let out = settled(&[
        "token",
        "create",
        "--email",
        "ana@example.com",
        "--name",
        "reporting",
        "--read-only",
        "--expires-days",
        "30",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (status, body) = call(
        &app,
        &token,
        "POST",
        "/api/v1/teams/CLI/proposals",
        json!({"title": "T", "body": "B", "decider": "ana@example.com", "closes_at": in_seconds(3600)}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "read_only_token");

    let out = settled(&["token", "list", "--email", "ana@example.com"]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    let line = listed
        .lines()
        .find(|l| l.contains("\treporting\t"))
        .expect("listed");
    assert!(line.contains("\tread only\t"), "{line}");
    assert!(!listed.contains(&token), "never the token itself");
    let id = line.split('\t').next().expect("id");

    let out = settled(&["token", "revoke", "--email", "ana@example.com", "--id", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _) = call(
        &app,
        &token,
        "GET",
        "/api/v1/teams/CLI/members",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Bad input: a clear error.
    let out = settled(&["token", "revoke", "--email", "ana@example.com", "--id", id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("ana@example.com has no API token with id {id}"))
    );
    let out = settled(&[
        "token",
        "create",
        "--email",
        "ana@example.com",
        "--name",
        "x",
        "--expires-days",
        "0",
    ]);
    assert!(!out.status.success());
}
