use reqwest::StatusCode;
use settled::on;

use crate::helpers::{browser, invitation, location, spawn};

#[tokio::test]
async fn a_fresh_instance_sends_visitors_to_sign_up_and_the_first_account_is_admin() {
    let app = spawn().await;
    let client = browser();
    let response = client
        .get(format!("{}/sign-in", app.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/sign-up");
    let (_, html) = app.get(&client, "/sign-up").await;
    assert!(html.contains("first account becomes its administrator"));

    app.sign_up(&client, "Ana@Example.com", "Ana").await;
    let bob = app.user("bob@example.com", "Bob").await;
    let _ = bob;
    let admins: Vec<(String, bool)> = on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT email, is_admin FROM users ORDER BY id"
    )
    .fetch_all(c)
    .await)
    .expect("query");
    assert_eq!(
        admins,
        vec![
            ("Ana@Example.com".into(), true),
            ("bob@example.com".into(), false)
        ]
    );
}

#[tokio::test]
async fn signing_in_renews_the_session_id_and_wrong_credentials_look_alike() {
    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    let response = app.post_form(&ana, "/settings", "/sign-out", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&ana, "/").await.0,
        StatusCode::SEE_OTHER,
        "signed out"
    );

    let client = browser();
    let before = app.csrf(&client, "/sign-in").await;
    let wrong_password = app
        .post_form(
            &client,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "ana@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    let status_a = wrong_password.status();
    let body_a = wrong_password.text().await.expect("body");
    let unknown = app
        .post_form(
            &client,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "nobody@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(status_a, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), status_a);
    let body_b = unknown.text().await.expect("body");
    let strip = |s: &str| {
        s.replace("nobody@example.com", "")
            .replace("ana@example.com", "")
    };
    assert_eq!(
        strip(&body_a),
        strip(&body_b),
        "same page for unknown email and wrong password"
    );

    let session_before: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM sessions"
    )
    .fetch_all(c)
    .await)
    .expect("q");
    let ok = app
        .post_form(
            &client,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "ANA@example.com"),
                ("password", "a long password"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let session_after: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM sessions"
    )
    .fetch_all(c)
    .await)
    .expect("q");
    let new_ids: Vec<&String> = session_after
        .iter()
        .filter(|id| !session_before.contains(id))
        .collect();
    assert_eq!(new_ids.len(), 1, "sign-in issues a new session id");
    assert!(
        session_after.len() <= session_before.len(),
        "the old anonymous session is gone"
    );
    let after = app.csrf(&client, "/").await;
    assert_ne!(before, after, "a new CSRF token comes with the new id");
}

#[tokio::test]
async fn bad_sign_up_input_is_shown_next_to_its_field_and_nothing_is_stored() {
    let app = spawn().await;
    let client = browser();
    let response = app
        .post_form(
            &client,
            "/sign-up",
            "/sign-up",
            &[
                ("email", "not-an-email"),
                ("name", ""),
                ("password", "short"),
                ("time_zone", "Mars/Base"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("body");
    assert!(html.contains("id=\"email-error\""), "{html}");
    assert!(html.contains("Password must be at least 10 characters"));
    assert!(html.contains("Time zone must be an IANA time zone"));
    let count: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(count, 0);

    app.sign_up(&client, "ana@example.com", "Ana").await;
    let again = app
        .post_form(
            &browser(),
            "/sign-up",
            "/sign-up",
            &[
                ("email", "ANA@example.com"),
                ("name", "Other"),
                ("password", "a long password"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().await.expect("body").contains("already exists"));
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let app = spawn().await;
    let _ana = app.user("ana@example.com", "Ana").await;
    let client = browser();
    let mut statuses = Vec::new();
    // Each for another address: the per-address back-off is a test of its
    // own (password.rs); this is the limit per client address.
    for i in 0..12 {
        let email = format!("ana{i}@example.com");
        let r = app
            .post_form(
                &client,
                "/sign-in",
                "/sign-in",
                &[("email", email.as_str()), ("password", "wrong password")],
            )
            .await;
        statuses.push(r.status());
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn password_and_time_zone_changes_take_effect() {
    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    let bad = app
        .post_form(
            &ana,
            "/settings",
            "/settings/password",
            &[
                ("current", "wrong wrong wrong"),
                ("new", "another long password"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app
        .post_form(
            &ana,
            "/settings",
            "/settings/password",
            &[
                ("current", "a long password"),
                ("new", "another long password"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let tz = app
        .post_form(
            &ana,
            "/settings",
            "/settings/profile",
            &[("name", "Ana B"), ("time_zone", "America/New_York")],
        )
        .await;
    assert_eq!(tz.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana, "/settings").await;
    assert!(html.contains("America/New_York") && html.contains("Ana B"));

    let fresh = browser();
    let old = app
        .post_form(
            &fresh,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "ana@example.com"),
                ("password", "a long password"),
            ],
        )
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app
        .post_form(
            &fresh,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "ana@example.com"),
                ("password", "another long password"),
            ],
        )
        .await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn health_check_and_security_headers_are_served() {
    let app = spawn().await;
    let response = browser()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap_or("")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("referrer-policy"));
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn the_cli_adds_users_from_stdin_and_prints_a_token_once() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let app = spawn().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args([
            "--database",
            &app.db_url,
            "user",
            "add",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long password\n")
        .expect("write");
    let out = child.wait_with_output().expect("exits");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("instance admin"));

    let out = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args([
            "--database",
            &app.db_url,
            "token",
            "create",
            "--email",
            "OPS@example.com",
            "--name",
            "ci",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("stl_") && token.len() > 40, "{token}");
    let stored: Vec<Vec<u8>> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT token_hash FROM api_tokens"
    )
    .fetch_all(c)
    .await)
    .expect("q");
    assert_eq!(
        stored,
        vec![settled::db::users::token_hash(&token)],
        "only the hash is stored"
    );

    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/teams/NONE/members", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "authenticated, but no such team"
    );
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/teams/NONE/members", app.base))
        .bearer_auth("stl_wrong")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn the_demo_seeds_a_team_that_shows_every_rule_and_verifies() {
    let app = spawn().await;
    settled::demo::seed(&app.db).await.expect("seeds");
    settled::demo::seed(&app.db)
        .await
        .expect("a second run is a no-op");
    let client = browser();
    let r = app
        .post_form(
            &client,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "ana@example.com"),
                ("password", settled::demo::PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&client, "/d/ARCH-1").await;
    assert!(html.contains("Decision record: accepted") && html.contains("Responses to objections"));
    assert!(
        html.contains("Proposed replacement") && html.contains("href=\"/d/ARCH-2\""),
        "links the open proposal that would supersede it"
    );
    let (_, html) = app.get(&client, "/d/ARCH-2").await;
    assert!(html.contains("not yet responded") && html.contains("Caching and rate limiting"));
    let (_, html) = app.get(&client, "/d/ARCH-6").await;
    assert!(html.contains("Superseded by") && html.contains("href=\"/d/ARCH-7\""));
    let (_, html) = app.get(&client, "/t/platform/areas").await;
    assert!(html.contains("Backend architecture") && html.contains("Bob Okafor"));
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

/// The value of the hidden `next` field of a sign-in or sign-up page.
fn next_field(html: &str) -> Option<String> {
    let marker = "name=\"next\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

#[tokio::test]
async fn an_invitation_opened_signed_out_comes_back_after_signing_in() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("INV", &ana, &[], &[]).await;
    let bob = app.user("bob@example.com", "Bob").await;
    drop(bob);
    let token = invitation(&ana, "INV", "member").await;
    let invite = format!("/invite/{token}");

    // Signed out, the invitation itself says who invites you to what, and
    // offers both ways in, each coming back to it.
    let client = browser();
    let (status, html) = app.get(&client, &invite).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<bdi>Ana</bdi> invites you to join <strong><bdi>Team INV</bdi></strong> as a <strong>member</strong>."),
        "{html}"
    );
    let sign_in = format!("/sign-in?next=%2Finvite%2F{token}");
    let sign_up = format!("/sign-up?next=%2Finvite%2F{token}");
    assert!(html.contains(&format!(
        r#"<a class="button" href="{sign_up}">Create account</a> <a href="{sign_in}">Sign in</a>"#
    )));
    // The header's links keep the invitation too.
    assert!(html.contains(&format!(
        r#"<a href="{sign_in}">Sign in</a> <a href="{sign_up}">Sign up</a>"#
    )));
    assert!(!html.contains("csrf_token"), "no form, no session needed");
    let (status, html) = app.get(&client, &sign_in).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_field(&html).as_deref(), Some(invite.as_str()));

    // A wrong password keeps the way back.
    let r = app
        .post_form(
            &client,
            &sign_in,
            "/sign-in",
            &[
                ("email", "bob@example.com"),
                ("password", "not the password"),
                ("next", &invite),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.expect("body");
    assert_eq!(next_field(&html).as_deref(), Some(invite.as_str()));

    let r = app
        .post_form(
            &client,
            &sign_in,
            "/sign-in",
            &[
                ("email", "bob@example.com"),
                ("password", "a long password"),
                ("next", &invite),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), invite, "back to the invitation");
    let (status, html) = app.get(&client, &invite).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Join <bdi>Team INV</bdi>"), "{html}");
    let r = app.post_form(&client, &invite, &invite, &[]).await;
    assert_eq!(location(&r), "/t/team-inv");
}

#[tokio::test]
async fn an_invitation_opened_signed_out_comes_back_after_signing_up() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("INV", &ana, &[], &[]).await;
    let token = invitation(&ana, "INV", "member").await;
    let invite = format!("/invite/{token}");

    let client = browser();
    let (status, _) = app.get(&client, &invite).await;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = app
        .get(&client, &format!("/sign-in?next=%2Finvite%2F{token}"))
        .await;
    // "Create an account" keeps the way back.
    let sign_up = format!("/sign-up?next=%2Finvite%2F{token}");
    assert!(
        html.contains(&format!("<a href=\"{sign_up}\">Create an account</a>")),
        "{html}"
    );
    let (status, html) = app.get(&client, &sign_up).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_field(&html).as_deref(), Some(invite.as_str()));
    assert!(
        html.contains(&format!(
            "<a href=\"/sign-in?next=%2Finvite%2F{token}\">Sign in</a>"
        )),
        "and back to sign-in: {html}"
    );
    assert!(
        html.contains(&format!(
            "<a href=\"/sign-up?next=%2Finvite%2F{token}\">Sign up</a>"
        )),
        "the header's Sign up keeps it: {html}"
    );

    // A refused sign-up keeps it too.
    let r = app
        .post_form(
            &client,
            &sign_up,
            "/sign-up",
            &[
                ("email", "bob@example.com"),
                ("name", "Bob"),
                ("password", "short"),
                ("next", &invite),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("body");
    assert_eq!(next_field(&html).as_deref(), Some(invite.as_str()));

    let r = app
        .post_form(
            &client,
            &sign_up,
            "/sign-up",
            &[
                ("email", "bob@example.com"),
                ("name", "Bob"),
                ("password", "a long password"),
                ("time_zone", "Europe/Berlin"),
                ("next", &invite),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), invite, "on to the invitation");
    let (status, html) = app.get(&client, &invite).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Welcome, Bob."), "the welcome shows there");
    assert!(html.contains("Join <bdi>Team INV</bdi>"), "{html}");
}

#[tokio::test]
async fn a_return_path_leading_off_the_site_is_ignored() {
    let app = spawn().await;
    app.user("ana@example.com", "Ana").await;
    for (n, bad) in ["//evil.example", "https://evil.example", "/\\evil"]
        .into_iter()
        .enumerate()
    {
        let client = browser();
        let query = serde_urlencoded::to_string([("next", bad)]).expect("query");
        let (status, html) = app.get(&client, &format!("/sign-in?{query}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(next_field(&html), None, "{bad}: not carried in the form");
        assert!(!html.contains("evil"), "{bad}: not in the page");
        let (_, html) = app.get(&client, &format!("/sign-up?{query}")).await;
        assert_eq!(next_field(&html), None, "{bad}: not carried in the form");
        assert!(!html.contains("evil"), "{bad}: not in the page");

        let r = app
            .post_form(
                &client,
                "/sign-in",
                "/sign-in",
                &[
                    ("email", "ana@example.com"),
                    ("password", "a long password"),
                    ("next", bad),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/", "{bad}: sign-in goes home instead");

        let email = format!("user{n}@example.com");
        let r = app
            .post_form(
                &browser(),
                "/sign-up",
                "/sign-up",
                &[
                    ("email", &email),
                    ("name", "Someone"),
                    ("password", "a long password"),
                    ("next", bad),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/", "{bad}: sign-up goes home instead");
    }
    // Home needs no way back; a form posted while signed out gets none.
    let client = browser();
    let r = client.get(&app.base).send().await.expect("GET");
    assert_eq!(location(&r), "/sign-in");
    let r = app
        .post_form(
            &client,
            "/sign-in",
            "/teams",
            &[("name", "X"), ("key", "X")],
        )
        .await;
    assert_eq!(location(&r), "/sign-in");
}
