//! Scoping, CSRF and inert user content.

use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{browser, in_seconds, spawn};

#[tokio::test]
async fn a_non_member_gets_404_on_every_team_route_and_api_path() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let eve = app.api_user("eve@example.com", "Eve").await;
    app.team("SEC", &ana, &[], &[]).await;
    let id = ana
        .propose("SEC", "Secret plan", &ana.email, &in_seconds(3600))
        .await;

    for path in [
        "/t/team-sec",
        "/t/team-sec/decisions",
        "/t/team-sec/areas",
        "/t/team-sec/settings",
        "/t/team-sec/log",
        "/t/team-sec/proposals/new",
        &format!("/d/{id}"),
    ] {
        let (status, html) = app.get(&eve.browser, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!html.contains("Secret plan"));
    }
    for (path, fields) in [
        (format!("/d/{id}/stance"), vec![("position", "agree")]),
        (format!("/d/{id}/comments"), vec![("body", "hi")]),
        (
            "/t/team-sec/invitations".to_string(),
            vec![("role", "admin")],
        ),
        (
            "/t/team-sec/proposals".to_string(),
            vec![("title", "x"), ("body", "y")],
        ),
        (
            "/t/team-sec/areas".to_string(),
            vec![("name", "x"), ("default_decider", "1")],
        ),
    ] {
        let r = app.post_form(&eve.browser, "/", &path, &fields).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        "/api/v1/teams/SEC/members",
        "/api/v1/teams/SEC/proposals",
        "/api/v1/teams/SEC/log",
        &format!("/api/v1/decisions/{id}"),
    ] {
        let (status, body) = eve.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    for path in [
        "/api/v1/teams/SEC/invitations".to_string(),
        "/api/v1/teams/SEC/proposals".to_string(),
        format!("/api/v1/decisions/{id}/stances"),
        format!("/api/v1/decisions/{id}/comments"),
        format!("/api/v1/decisions/{id}/decision"),
    ] {
        let (status, _) = eve.post(&path, json!({"role": "admin", "position": "agree", "body": "x", "title": "x", "outcome": "accepted", "statement": "x"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let entries: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(entries, 2, "only the team's creation and the proposal");
}

#[tokio::test]
async fn a_form_post_without_a_valid_csrf_token_is_refused_and_stores_nothing() {
    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    let _ = app.csrf(&ana, "/").await;
    for token in [None, Some("forged-token")] {
        let mut form = vec![("name", "Forged"), ("key", "FORGE")];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let r = ana
            .post(format!("{}/teams", app.base))
            .form(&form)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // A session-authenticated API write needs the header too.
    let r = ana
        .post(format!("{}/api/v1/teams", app.base))
        .json(&json!({"name": "Forged", "key": "FORGE"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let teams: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM teams"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(teams, 0);
    // Sign-in without a token is refused as well (login CSRF).
    let r = browser()
        .post(format!("{}/sign-in", app.base))
        .form(&[
            ("email", "ana@example.com"),
            ("password", "a long password"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn script_and_html_in_user_text_are_rendered_inert() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("XSS", &ana, &[&bob], &[]).await;
    let evil = r#"<script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>"#;
    let (status, body) = ana
        .post(
            "/api/v1/teams/XSS/proposals",
            json!({"title": format!("T {evil}"), "body": format!("B {evil}"), "decider": ana.email, "closes_at": in_seconds(3600)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    bob.stance(&id, "object", Some(&format!("R {evil}"))).await;
    bob.post(
        &format!("/api/v1/decisions/{id}/comments"),
        json!({"body": format!("C {evil}")}),
    )
    .await;
    for path in [
        format!("/d/{id}"),
        "/t/team-xss".to_string(),
        "/t/team-xss/decisions".to_string(),
    ] {
        let (_, html) = app.get(&ana.browser, &path).await;
        assert!(!html.contains("<script>alert"), "{path}: raw script");
        assert!(
            !html.contains("<img src=x onerror"),
            "{path}: event handler"
        );
        assert!(
            !html.contains("href=\"javascript:"),
            "{path}: javascript link"
        );
    }
    let (_, html) = app.get(&ana.browser, &format!("/d/{id}")).await;
    let title = html
        .split("<h1>")
        .nth(1)
        .unwrap_or_default()
        .split("</h1>")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        title.contains("T &#60;script&#62;alert(1)"),
        "the title is escaped, not dropped: {title}"
    );
}

/// Every session write queues behind the ledger's writer: reading pages
/// must not write the session each time (that capped page views at the
/// disk's fsync rate), nor may a flash message (it rides a signed cookie),
/// which is still shown exactly once.
#[tokio::test]
async fn neither_page_views_nor_flash_messages_rewrite_the_session() {
    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    let stored = || async {
        let rows: Vec<(Vec<u8>, i64)> = on!(app.db.reader(), |c| sqlx::query_as(
            "SELECT data, expiry_date FROM sessions ORDER BY id"
        )
        .fetch_all(c)
        .await)
        .expect("sessions");
        rows
    };
    // The first page of the day records the day; later pages write nothing.
    let (status, _) = app.get(&ana, "/").await;
    assert_eq!(status, StatusCode::OK);
    let before = stored().await;
    assert!(
        before
            .iter()
            .any(|(data, _)| String::from_utf8_lossy(data).contains("seen_day"))
    );
    for path in ["/", "/settings", "/"] {
        let (status, _) = app.get(&ana, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        stored().await,
        before,
        "page views left the session as it was"
    );

    // A flash is set by the form's response, shown on the next page only,
    // and cleared by it; the session is not written.
    let csrf = app.csrf(&ana, "/settings").await;
    let r = ana
        .post(format!("{}/settings/profile", app.base))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Ana Lima"),
            ("time_zone", "Europe/Lisbon"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = set_cookie(&r, "settled_flash=");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=300"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    assert!(
        !set.contains("Settings saved"),
        "the message is encoded: {set}"
    );
    let r = ana
        .get(format!("{}/settings", app.base))
        .send()
        .await
        .expect("GET");
    let cleared = set_cookie(&r, "settled_flash=");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let first = r.text().await.expect("body");
    assert!(first.contains("Settings saved."), "{first}");
    assert!(
        first.contains("value=\"Ana Lima\"") && first.contains("Europe/Lisbon"),
        "the signed-in user is read again after a change: {first}"
    );
    let (_, second) = app.get(&ana, "/settings").await;
    assert!(!second.contains("Settings saved."));
    assert_eq!(
        stored().await,
        before,
        "the flash left the session as it was"
    );

    // Only a cookie this instance sealed for this browser is shown: the
    // same value replayed into another browser, a forged one, or one
    // without its MAC is not, and is cleared.
    let sealed = set
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("settled_flash="))
        .expect("a value")
        .to_string();
    let parts: Vec<&str> = sealed.split('.').collect();
    let [message, expires, tag] = parts[..] else {
        panic!("message.expires.mac: {sealed}")
    };
    let forged = format!(
        "{}.{expires}.{tag}",
        base64_url("You were signed out; sign in at evil.example.")
    );
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let bob = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    app.sign_up(&bob, "bob@example.com", "Bob").await;
    let url: reqwest::Url = app.base.parse().expect("base URL");
    for value in [sealed.clone(), forged, format!("{message}.{expires}")] {
        jar.add_cookie_str(&format!("settled_flash={value}; Path=/"), &url);
        let r = bob
            .get(format!("{}/settings", app.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            set_cookie(&r, "settled_flash=").contains("Max-Age=0"),
            "{value}"
        );
        let page = r.text().await.expect("body");
        assert!(!page.contains("Settings saved."), "{value}");
        assert!(!page.contains("evil.example"));
    }
    // Nor into a browser without a session.
    let r = reqwest::Client::new()
        .get(format!("{}/sign-in", app.base))
        .header(reqwest::header::COOKIE, format!("settled_flash={sealed}"))
        .send()
        .await
        .expect("GET");
    assert!(set_cookie(&r, "settled_flash=").contains("Max-Age=0"));
    assert!(!r.text().await.expect("body").contains("Settings saved."));
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The `Set-Cookie` header of `r` that starts with `prefix`.
fn set_cookie(r: &reqwest::Response, prefix: &str) -> String {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} cookie set"))
        .to_string()
}
