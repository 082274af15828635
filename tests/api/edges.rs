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

/// The `Cache-Control` of a GET of `path`, and its body.
async fn cache_control_of(
    app: &crate::helpers::TestApp,
    client: &reqwest::Client,
    path: &str,
) -> (String, String) {
    let response = client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (cache, response.text().await.expect("body"))
}

#[tokio::test]
async fn every_page_and_answer_that_shows_a_secret_once_may_not_be_stored() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("CAC", &ana, &[], &[]).await;
    let settings = "/t/team-cac/settings";

    for (action, fields, shown) in [
        (
            "/t/team-cac/invitations",
            vec![("role", "member")],
            "/invite/",
        ),
        ("/t/team-cac/status-tokens", vec![("label", "CI")], "sts_"),
        (
            "/t/team-cac/webhooks",
            vec![("host", "github")],
            "id=\"webhook-secret\"",
        ),
    ] {
        let created = app.post_form(&ana.browser, settings, action, &fields).await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER, "{action}");
        let (cache, html) = cache_control_of(&app, &ana.browser, settings).await;
        assert!(html.contains(shown), "{action}: the secret is shown");
        assert_eq!(cache, "no-store", "{action}");
    }

    let feeds = "/t/team-cac/feeds";
    let created = app
        .post_form(
            &ana.browser,
            feeds,
            feeds,
            &[("kind", "decisions"), ("label", "reader")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let (cache, html) = cache_control_of(&app, &ana.browser, feeds).await;
    assert!(html.contains("?token=stf_"), "the feed URL is shown");
    assert_eq!(cache, "no-store");

    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/teams/CAC/invitations", app.base))
        .bearer_auth(&ana.token)
        .json(&serde_json::json!({"role": "member"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(
        answer
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    /// Mounts `size` (e.g. `16m`) of tmpfs.
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            mounted,
            "this test fills a small disk of its own: it mounts a tmpfs, which needs root \
             (or CAP_SYS_ADMIN)"
        );
        Self(dir)
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }

    /// Writes `filler` until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path().join("filler")).expect("filler");
        for chunk in [1 << 20, 4096, 1] {
            while file.write_all(&vec![0u8; chunk]).is_ok() {}
        }
        let _ = file.sync_all();
    }

    /// Frees what [`SmallDisk::fill`] took.
    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).expect("filler removed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: the app's tasks may still hold the database open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// GETs `/healthz` until it answers `want` (its answer is kept a few
/// seconds); the last body.
async fn healthz_until(app: &crate::helpers::TestApp, want: StatusCode) -> String {
    let client = browser();
    let mut last = (StatusCode::OK, String::new());
    for _ in 0..60 {
        last = app.get(&client, "/healthz").await;
        if last.0 == want {
            return last.1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("/healthz kept answering {} {}", last.0, last.1);
}

/// A real full disk, on SQLite: the database lives on a small tmpfs of
/// the test's own, which the test fills with a file. Nothing in the app is
/// told about it; its writes meet `SQLITE_FULL` as they would on a full
/// volume. (Making the file read-only would not do: the server holds it
/// open. And the writer's own connection, where `PRAGMA max_page_count`
/// would bite, cannot be reached from outside.) On PostgreSQL the same
/// refusal is `read_only_sql_transaction` or `disk_full`, checked below
/// against the server itself.
#[tokio::test]
async fn on_a_full_disk_healthz_fails_and_a_change_is_refused_whole_with_the_reason() {
    let disk = SmallDisk::mount("16m");
    let db_url = format!("sqlite://{}", disk.path().join("full.db").display());
    let app = crate::helpers::spawn_on(db_url).await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("FUL", &ana, &[], &[]).await;
    let id = ana
        .propose("FUL", "Bigger disks", &ana.email, &in_seconds(3600))
        .await;
    assert_eq!(healthz_until(&app, StatusCode::OK).await, "ok");
    let page = format!("/d/{id}");
    let comments = format!("/d/{id}/comments");

    disk.fill();
    let said = healthz_until(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(said.contains("cannot be written"), "{said}");
    let refused = app
        .post_form(
            &ana.browser,
            &page,
            &comments,
            &[("body", "A comment typed on a full disk")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = refused.text().await.expect("body");
    assert!(
        html.contains("Settled cannot save your change right now: the server"),
        "{html}"
    );
    assert!(html.contains("Nothing was saved"), "{html}");
    assert!(
        html.contains("A comment typed on a full disk"),
        "what was typed is kept"
    );
    let (status, body) = ana.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unwritable", "{body}");

    disk.free();
    assert_eq!(healthz_until(&app, StatusCode::OK).await, "ok");
    let (status, body) = ana.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["log_index"], 2,
        "the refused writes took no place in the log"
    );
    let (_, html) = app.get(&ana.browser, &page).await;
    assert!(
        !html.contains("A comment typed on a full disk"),
        "nothing of the refused comment was kept"
    );
    let (verified, report) = app.verify();
    assert!(verified, "{report}");
}

/// What the database itself answers when it cannot write, on the backend
/// the suite runs on: a SQLite file opened read-only (`SQLITE_READONLY`),
/// a PostgreSQL session in read-only mode (`read_only_sql_transaction`,
/// what a standby or `default_transaction_read_only` answers). Each is a
/// refusal to store, shown as 503 with the sentence, never as a bug.
#[tokio::test]
async fn a_database_that_refuses_writes_is_told_apart_from_a_bug() {
    use sqlx::Connection;
    let app = spawn().await;
    let err = if crate::helpers::on_postgres() {
        let mut conn = sqlx::PgConnection::connect(&app.db_url)
            .await
            .expect("connect");
        sqlx::raw_sql("SET default_transaction_read_only = on")
            .execute(&mut conn)
            .await
            .expect("read-only session");
        sqlx::query("INSERT INTO health_probe (id, checked_at) VALUES (1, 'x')")
            .execute(&mut conn)
            .await
            .expect_err("refused")
    } else {
        let url = format!("{}?mode=ro", app.db_url);
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        sqlx::query("INSERT INTO health_probe (id, checked_at) VALUES (1, 'x')")
            .execute(&mut conn)
            .await
            .expect_err("refused")
    };
    assert!(settled::db::is_unwritable(&err), "{err:?}");
    let shown = settled::error::Error::from(err);
    assert_eq!(shown.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        shown
            .public_message()
            .starts_with("Settled cannot save your change right now"),
        "{shown}"
    );
    let bug = sqlx::Error::Protocol("not a storage problem".into());
    assert!(!settled::db::is_unwritable(&bug));
}
