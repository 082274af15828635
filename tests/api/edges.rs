//! Edges of the review (issue #17): secrets kept out of the request log and
//! out of caches, what a signed-out visitor may cost the instance, and a
//! disk that cannot be written.

use reqwest::StatusCode;
use settled::on;

use crate::helpers::{browser, in_seconds, invitation, spawn, spawn_with};

/// Rows in the sessions table.
async fn session_rows(app: &crate::helpers::TestApp) -> i64 {
    on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions"
    )
    .fetch_one(c)
    .await)
    .expect("count sessions")
}

#[tokio::test]
async fn signed_out_views_of_pages_without_a_form_store_no_session() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("ANO", &ana, &[], &[]).await;
    let id = ana
        .propose("ANO", "Lunch at noon", &ana.email, &in_seconds(3600))
        .await;
    let token = invitation(&ana, "ANO", "member").await;
    let before = session_rows(&app).await;

    let visitor = browser();
    let pages = [
        "/healthz".to_string(),
        "/".to_string(),
        format!("/d/{id}"),
        format!("/d/{id}/status.json"),
        format!("/d/{id}/badge.svg"),
        "/t/team-ano".to_string(),
        format!("/invite/{token}"),
        "/static/style.css".to_string(),
        "/no/such/page".to_string(),
        "/feeds/decisions.atom?token=stf_unknown".to_string(),
        "/unsubscribe?u=1&s=digest&t=not-a-signature".to_string(),
    ];
    for _ in 0..3 {
        for page in &pages {
            let (status, _) = app.get(&visitor, page).await;
            assert!(status.as_u16() < 500, "GET {page}: {status}");
        }
    }
    // A mail client's one-click unsubscribe has no session either.
    let one_click = visitor
        .post(format!(
            "{}/unsubscribe?u=1&s=digest&t=not-a-signature",
            app.base
        ))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .expect("POST");
    assert!(one_click.status().is_client_error());
    assert_eq!(session_rows(&app).await, before, "no session was stored");

    // The sign-in form needs a CSRF token, so its view stores one session,
    // and the form still works with it.
    app.get(&visitor, "/sign-in").await;
    assert_eq!(session_rows(&app).await, before + 1);
    let signed_in = app
        .post_form(
            &visitor,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "ana@example.com"),
                ("password", "a long password"),
            ],
        )
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(session_rows(&app).await, before + 1, "the same session");
}

#[tokio::test]
async fn sign_ups_over_the_limit_from_one_address_are_refused_with_the_reason() {
    let app = spawn_with(|c| c.sign_ups_per_hour = 3).await;
    for n in 0..3 {
        app.user(&format!("user{n}@example.com"), "User").await;
    }
    let client = browser();
    let refused = app
        .post_form(
            &client,
            "/sign-up",
            "/sign-up",
            &[
                ("email", "user3@example.com"),
                ("name", "User"),
                ("password", "a long password"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&wait), "{wait}");
    let html = refused.text().await.expect("body");
    assert!(
        html.contains("You have sent too many sign-ups from your network address"),
        "{html}"
    );
    assert!(html.contains("user3@example.com"), "what was typed is kept");
    let accounts: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(c)
    .await)
    .expect("count users");
    assert_eq!(accounts, 3, "no account was created");
}

/// The request log of the real binary, as an operator reads it: `settled
/// serve` in a process of its own, its stderr captured. (A subscriber set
/// inside this test process would also see, or miss, the log of the tests
/// that run beside it.)
#[tokio::test]
async fn the_request_log_shows_no_invitation_feed_status_or_unsubscribe_secret() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("log.db").display());
    let mut server = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["--database", &db, "serve", "--bind", "127.0.0.1:0"])
        .arg("--mail-dir")
        .arg(dir.path().join("mail"))
        .env("RUST_LOG", "info")
        .env_remove("SETTLED_BASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("settled serve starts");
    let mut banner = String::new();
    std::io::BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let base = banner
        .trim()
        .rsplit_once(' ')
        .map(|(_, url)| url.to_string())
        .expect("Settled is running at URL");

    let secrets = [
        "invitesecret111",
        "apiinvitesecret222",
        "stf_feedsecret333",
        "sts_statussecret444",
        "unsubscribesig555",
    ];
    let client = browser();
    for (post, path) in [
        (false, "/invite/invitesecret111".to_string()),
        (
            false,
            "/sign-in?next=%2Finvite%2Finvitesecret111".to_string(),
        ),
        (
            true,
            "/api/v1/invitations/apiinvitesecret222/accept".to_string(),
        ),
        (
            false,
            "/feeds/decisions.atom?token=stf_feedsecret333".to_string(),
        ),
        (
            false,
            "/d/LOG-1/status.json?token=sts_statussecret444".to_string(),
        ),
        (
            false,
            "/unsubscribe?u=1&s=digest&t=unsubscribesig555".to_string(),
        ),
    ] {
        let url = format!("{base}{path}");
        let request = if post {
            client.post(url)
        } else {
            client.get(url)
        };
        let response = request.send().await.expect("request");
        assert!(response.status().as_u16() < 500, "{path}");
    }
    // The log line of a request is written once its response is sent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = server.kill();
    let output = server.wait_with_output().expect("server output");
    let log = String::from_utf8_lossy(&output.stderr);

    for secret in secrets {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
    for shown in [
        "/invite/[redacted]",
        "/sign-in?next=[redacted]",
        "/api/v1/invitations/[redacted]/accept",
        "/feeds/decisions.atom?token=[redacted]",
        "/d/LOG-1/status.json?token=[redacted]",
        "/unsubscribe?u=1&s=digest&t=[redacted]",
    ] {
        assert!(log.contains(shown), "{shown} not in the log:\n{log}");
    }
}
