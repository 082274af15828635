//! Accounts and access (issue #20): a forgotten password is reset by a
//! single-use link from the real folder transport, a password change or
//! reset ends every other session (on both backends, across instances), and
//! settings list and end sessions.

use reqwest::{Client, StatusCode};
use settled::on;

use crate::announce::{Mail, folder};
use crate::helpers::{TestApp, browser, location, on_postgres, spawn, spawn_beside, spawn_with};

const SUBJECT: &str = "Set a new password for Settled";

/// Signs `email` in with `password` in a new browser sending `agent`.
async fn signed_in(app: &TestApp, email: &str, password: &str, agent: &str) -> Client {
    let client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .build()
        .expect("client");
    let r = sign_in(app, &client, email, password).await;
    assert_eq!(r, StatusCode::SEE_OTHER, "{email} signs in");
    client
}

async fn sign_in(app: &TestApp, client: &Client, email: &str, password: &str) -> StatusCode {
    app.post_form(
        client,
        "/sign-in",
        "/sign-in",
        &[("email", email), ("password", password)],
    )
    .await
    .status()
}

/// Whether `client` is signed in (settings answer rather than send it to
/// sign in).
async fn is_signed_in(app: &TestApp, client: &Client) -> bool {
    let (status, _) = app.get(client, "/settings").await;
    status == StatusCode::OK
}

/// The reset mails to `address`, waiting up to 5 s for `count` of them (the
/// mail is sent after the page answered).
async fn reset_mails(app: &TestApp, address: &str, count: usize) -> Vec<Mail> {
    for _ in 0..100 {
        let mails: Vec<Mail> = folder(app)
            .into_iter()
            .filter(|m| m.to == address && m.subject == SUBJECT)
            .collect();
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} reset mails to {address}");
}

/// The path of the reset link in `mail`.
fn link_in(app: &TestApp, mail: &Mail) -> String {
    let start = mail
        .text
        .find(&format!("{}/password/reset/", app.base))
        .expect("the mail has the link");
    let link: String = mail.text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    link.trim_start_matches(&app.base).to_string()
}

async fn ask_for_link(app: &TestApp, client: &Client, email: &str) -> (StatusCode, String) {
    let r = app
        .post_form(
            client,
            "/password/forgot",
            "/password/forgot",
            &[("email", email)],
        )
        .await;
    let status = r.status();
    (status, r.text().await.expect("body"))
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_a_link_that_works_once_and_ends_every_other_session() {
    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    let laptop = signed_in(&app, "ana@example.com", "a long password", "Firefox/133.0").await;
    assert!(is_signed_in(&app, &ana).await && is_signed_in(&app, &laptop).await);

    // The sign-in page offers the way out.
    let stranger = browser();
    let (_, html) = app.get(&stranger, "/sign-in").await;
    assert!(html.contains(r#"<a href="/password/forgot">Forgot your password?</a>"#));

    // The answer is the same for an address with an account and one without.
    let (status, known) = ask_for_link(&app, &stranger, "ANA@example.com").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        known.contains("If an account uses ANA@example.com, a link to set a new password was written to this server"),
        "{known}"
    );
    let (status, unknown) = ask_for_link(&app, &stranger, "nobody@example.com").await;
    assert_eq!(status, StatusCode::OK);
    let mask = |html: &str, email: &str| {
        html.replace(email, "EMAIL")
            .lines()
            .filter(|l| !l.contains("csrf"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        mask(&known, "ANA@example.com"),
        mask(&unknown, "nobody@example.com")
    );

    let mails = reset_mails(&app, "ana@example.com", 1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(
        mail.text.contains("The link works once, until"),
        "{}",
        mail.text
    );
    assert!(
        mail.unsubscribe.is_empty(),
        "no unsubscribe: it is no notice"
    );
    let link = link_in(&app, mail);
    let token = link.trim_start_matches("/password/reset/");
    // Only the token's hash is stored, and the mail was never queued.
    let stored: Vec<Vec<u8>> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT token_hash FROM password_resets"
    )
    .fetch_all(c)
    .await)
    .expect("resets");
    assert_eq!(stored, vec![settled::db::users::token_hash(token)]);
    let queued: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE data LIKE '%' || $1 || '%'"
    )
    .bind(token)
    .fetch_one(c)
    .await)
    .expect("outbox");
    assert_eq!(queued, 0, "the token is in no outbox row");
    // Nothing went to the address without an account.
    assert!(folder(&app).iter().all(|m| m.to != "nobody@example.com"));

    // The link opens a form; a short password is refused and the link
    // still works.
    let (status, form) = app.get(&stranger, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Set new password"));
    let short = app
        .post_form(&stranger, &link, &link, &[("password", "short")])
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text().await.expect("body").contains("New password "));
    let set = app
        .post_form(
            &stranger,
            &link,
            &link,
            &[("password", "a brand new password")],
        )
        .await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&set), "/");

    // The browser that used the link is Ana's now; every other session ended.
    assert!(is_signed_in(&app, &stranger).await);
    assert!(!is_signed_in(&app, &ana).await, "the first session ended");
    assert!(
        !is_signed_in(&app, &laptop).await,
        "the laptop's session ended"
    );
    assert_eq!(
        sign_in(&app, &browser(), "ana@example.com", "a long password").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, &browser(), "ana@example.com", "a brand new password").await,
        StatusCode::SEE_OTHER
    );

    // The link worked once.
    let (status, html) = app.get(&browser(), &link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("This link to set a new password is no longer valid"));
    let again = browser();
    let r = app
        .post_form(
            &again,
            "/password/forgot",
            &link,
            &[("password", "yet another password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(
        sign_in(&app, &browser(), "ana@example.com", "yet another password").await,
        StatusCode::UNAUTHORIZED
    );

    // A new link expires after an hour.
    ask_for_link(&app, &browser(), "ana@example.com").await;
    let mails = reset_mails(&app, "ana@example.com", 2).await;
    let fresh = mails
        .iter()
        .map(|m| link_in(&app, m))
        .find(|l| *l != link)
        .expect("a second link");
    assert_eq!(app.get(&browser(), &fresh).await.0, StatusCode::OK);
    app.ledger.clock().advance(chrono::Duration::minutes(61));
    assert_eq!(app.get(&browser(), &fresh).await.0, StatusCode::GONE);
}

#[tokio::test]
async fn reset_requests_are_limited_per_address_and_per_client() {
    let app = spawn_with(|c| {
        c.resets_per_hour_per_address = 2;
        c.resets_per_hour_per_client = 3;
    })
    .await;
    app.user("ana@example.com", "Ana").await;
    let client = browser();
    for _ in 0..2 {
        assert_eq!(
            ask_for_link(&app, &client, "ana@example.com").await.0,
            StatusCode::OK
        );
    }
    // A third for the same address, from anywhere, waits.
    let (status, html) = ask_for_link(&app, &client, "Ana@Example.com").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(html.contains("You have asked for several links in a short time."));
    // The client has used its three: another address waits too, and the
    // answer is the same whether or not that address has an account.
    let (status, _) = ask_for_link(&app, &client, "nobody@example.com").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reset_mails(&app, "ana@example.com", 2).await.len(), 2);
    // Bad input is told, and counts for nothing.
    let (status, html) = ask_for_link(&app, &browser(), "not an address").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Email must be the address you signed up with"));
}

/// The handle of the session row whose browser reads `browser`, from the
/// settings page.
fn sign_out_handle(html: &str, browser: &str) -> String {
    let row = html
        .split("<tr>")
        .find(|r| r.contains(&format!(">{browser}</span></th>")))
        .unwrap_or_else(|| panic!("a session row for {browser}"));
    let marker = r#"name="session" value=""#;
    let start = row.find(marker).expect("a sign-out form") + marker.len();
    row[start..start + 16].to_string()
}

#[tokio::test]
async fn settings_list_the_sessions_and_a_password_change_ends_the_others() {
    let app = spawn().await;
    // The sign-up's session, Ana's first, stays open in a browser.
    let first = app.user("ana@example.com", "Ana").await;
    let desk = signed_in(
        &app,
        "ana@example.com",
        "a long password",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
    )
    .await;
    let phone = signed_in(
        &app,
        "ana@example.com",
        "a long password",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Safari/604.1",
    )
    .await;
    let laptop = signed_in(
        &app,
        "ana@example.com",
        "a long password",
        "Mozilla/5.0 (Windows NT 10.0) Firefox/133.0",
    )
    .await;

    let (_, html) = app.get(&desk, "/settings").await;
    assert!(html.contains("Where you are signed in"));
    for browser in ["Chrome on Linux", "Safari on iPhone", "Firefox on Windows"] {
        assert!(
            html.contains(&format!(">{browser}</span></th>")),
            "{browser} listed"
        );
    }
    assert!(html.contains("<td>127.0.0.1</td>"));
    assert_eq!(html.matches("This browser").count(), 1);
    // The session id, a secret, is not in the page.
    let ids: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id IS NOT NULL"
    )
    .fetch_all(c)
    .await)
    .expect("ids");
    assert_eq!(ids.len(), 4, "the sign-up's and three sign-ins'");
    assert!(ids.iter().all(|id| !html.contains(id.as_str())));

    // Ana signs the phone out from her desk.
    let handle = sign_out_handle(&html, "Safari on iPhone");
    let r = app
        .post_form(
            &desk,
            "/settings",
            "/settings/sessions/sign-out",
            &[("session", &handle)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!is_signed_in(&app, &phone).await, "the phone is signed out");
    assert!(is_signed_in(&app, &desk).await && is_signed_in(&app, &laptop).await);
    // A handle of someone else's session, or a spent one, ends nothing.
    let bob = app.user("bob@example.com", "Bob").await;
    let r = app
        .post_form(
            &bob,
            "/settings",
            "/settings/sessions/sign-out",
            &[("session", &handle)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(is_signed_in(&app, &desk).await && is_signed_in(&app, &bob).await);

    // On PostgreSQL, a second instance sees the same sessions.
    let beside = if on_postgres() {
        Some(spawn_beside(&app).await)
    } else {
        None
    };
    let far = match &beside {
        Some(other) => {
            let far = signed_in(other, "ana@example.com", "a long password", "curl/8.11").await;
            assert!(is_signed_in(other, &far).await);
            Some(far)
        }
        None => None,
    };

    // A password change keeps this browser signed in, under a new session
    // id, and ends the others, on every instance.
    let before: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = $1"
    )
    .bind(app.user_id("ana@example.com").await)
    .fetch_all(c)
    .await)
    .expect("ids");
    let r = app
        .post_form(
            &desk,
            "/settings",
            "/settings/password",
            &[
                ("current", "a long password"),
                ("new", "another long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&desk, "/settings").await;
    let others = if beside.is_some() { 3 } else { 2 };
    assert!(
        html.contains(&format!(
            "Your password is changed, and your {} signed out.",
            match others {
                1 => "other session was".to_string(),
                n => format!("{n} other sessions were"),
            }
        )),
        "{html}"
    );
    assert!(is_signed_in(&app, &desk).await);
    assert!(
        !is_signed_in(&app, &laptop).await,
        "the laptop is signed out"
    );
    assert!(!is_signed_in(&app, &first).await, "the first session too");
    if let (Some(other), Some(far)) = (&beside, &far) {
        assert!(
            !is_signed_in(other, far).await,
            "signed out on the other instance too"
        );
    }
    let after: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = $1"
    )
    .bind(app.user_id("ana@example.com").await)
    .fetch_all(c)
    .await)
    .expect("ids");
    assert_eq!(after.len(), 1, "only the desk's");
    assert!(!before.contains(&after[0]), "under a new id");
    assert!(is_signed_in(&app, &bob).await, "Bob's session is his own");

    // Sign out everywhere, here too.
    let r = app
        .post_form(
            &desk,
            "/settings",
            "/settings/sessions/sign-out-everywhere",
            &[],
        )
        .await;
    assert_eq!(location(&r), "/sign-in");
    assert!(!is_signed_in(&app, &desk).await);
}

#[tokio::test]
async fn signing_in_renews_the_csrf_token() {
    let app = spawn().await;
    app.user("ana@example.com", "Ana").await;
    let client = browser();
    let before = app.csrf(&client, "/sign-in").await;
    assert_eq!(
        sign_in(&app, &client, "ana@example.com", "a long password").await,
        StatusCode::SEE_OTHER
    );
    let after = app.csrf(&client, "/settings").await;
    assert_ne!(
        before, after,
        "a token seen before sign-in is not the session's"
    );
    // A form carrying the old token is refused.
    let r = client
        .post(format!("{}/settings/profile", app.base))
        .form(&[
            ("csrf_token", before.as_str()),
            ("name", "Eve"),
            ("time_zone", "UTC"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_operator_sets_a_password_from_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let app = spawn().await;
    let ana = app.user("ana@example.com", "Ana").await;
    // The server has read Ana's session (and may keep it).
    assert!(is_signed_in(&app, &ana).await && is_signed_in(&app, &ana).await);
    let run = |email: &str, password: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_settled"))
            .args([
                "--database",
                &app.db_url,
                "user",
                "set-password",
                "--email",
                email,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(password)
            .expect("write");
        child.wait_with_output().expect("exits")
    };
    let out = run("ANA@example.com", b"an operator's password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "password set for ana@example.com; its 1 session was signed out"
    );
    // The running server notices the other process's write within a second
    // and forgets the session it kept.
    let mut signed_out = false;
    for _ in 0..30 {
        if !is_signed_in(&app, &ana).await {
            signed_out = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(signed_out, "the session ended on the running server");
    assert_eq!(
        sign_in(
            &app,
            &browser(),
            "ana@example.com",
            "an operator's password"
        )
        .await,
        StatusCode::SEE_OTHER
    );
    // Bad input: a clear error, and nothing changes.
    let out = run("nobody@example.com", b"an operator's password\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no account uses the email nobody@example.com")
    );
    let out = run("ana@example.com", b"short\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the password must be at least"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sign_in(
            &app,
            &browser(),
            "ana@example.com",
            "an operator's password"
        )
        .await,
        StatusCode::SEE_OTHER
    );
}

/// Signs in with a request that came through a reverse proxy for `client`.
async fn sign_in_via(app: &TestApp, client: &str, email: &str, password: &str) -> StatusCode {
    let browser = browser();
    let token = app.csrf(&browser, "/sign-in").await;
    browser
        .post(format!("{}/sign-in", app.base))
        .header("x-forwarded-for", format!("{client}, 127.0.0.1"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST")
        .status()
}

#[tokio::test]
async fn failed_sign_ins_back_off_per_address_without_locking_anyone_else_out() {
    let app = spawn_with(|c| c.sign_in_per_minute = 1_000).await;
    app.user("ana@example.com", "Ana").await;
    app.user("bob@example.com", "Bob").await;
    let wrong = |email: &'static str| {
        let app = &app;
        async move { sign_in(app, &browser(), email, "not the password").await }
    };
    // Five free tries, for an account and for an address without one alike.
    for email in ["ana@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            assert_eq!(wrong(email).await, StatusCode::UNAUTHORIZED, "{email}");
        }
    }
    // Then even the right password waits, and says so.
    let client = browser();
    let r = app
        .post_form(
            &client,
            "/sign-in",
            "/sign-in",
            &[
                ("email", "Ana@Example.com"),
                ("password", "a long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("15")
    );
    let html = r.text().await.expect("body");
    assert!(
        html.contains("There were too many failed sign-ins for this email address. Wait a minute, then try again; the right password works again then."),
        "{html}"
    );
    let (status, unknown) = {
        let r = app
            .post_form(
                &browser(),
                "/sign-in",
                "/sign-in",
                &[
                    ("email", "nobody@example.com"),
                    ("password", "a long password"),
                ],
            )
            .await;
        (r.status(), r.text().await.expect("body"))
    };
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the same for no account"
    );
    assert!(unknown.contains("There were too many failed sign-ins for this email address."));
    // Bob, on the same client address, is not locked out.
    assert_eq!(
        sign_in(&app, &browser(), "bob@example.com", "a long password").await,
        StatusCode::SEE_OTHER
    );
    // Once the back-off has passed, the right password works, and the count
    // starts again.
    app.ledger.clock().advance(chrono::Duration::seconds(16));
    assert_eq!(
        sign_in(&app, &browser(), "ana@example.com", "a long password").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(wrong("ana@example.com").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in(&app, &browser(), "ana@example.com", "a long password").await,
        StatusCode::SEE_OTHER
    );
    // Each further failure doubles the wait: the sixth waits 30 s.
    for _ in 0..6 {
        wrong("nobody@example.com").await;
    }
    app.ledger.clock().advance(chrono::Duration::seconds(20));
    let r = app
        .post_form(
            &browser(),
            "/sign-in",
            "/sign-in",
            &[("email", "nobody@example.com"), ("password", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_limited_on_its_own() {
    // Without --trusted-proxy, X-Forwarded-For is the client's own claim:
    // every request here comes from 127.0.0.1 and shares its limit.
    let app = spawn_with(|c| c.sign_in_per_minute = 2).await;
    app.user("ana@example.com", "Ana").await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(
            sign_in_via(&app, client, "one@example.com", "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_via(&app, "198.51.100.3", "two@example.com", "wrong").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged header changes nothing"
    );

    // With the proxy trusted, each client has its own limit, and a session
    // records the client's address.
    let app = spawn_with(|c| {
        c.sign_in_per_minute = 2;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    app.user("ana@example.com", "Ana").await;
    for _ in 0..2 {
        assert_eq!(
            sign_in_via(&app, "198.51.100.1", "one@example.com", "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_via(&app, "198.51.100.1", "two@example.com", "wrong").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_via(&app, "198.51.100.2", "ana@example.com", "a long password").await,
        StatusCode::SEE_OTHER,
        "another client behind the same proxy signs in"
    );
    let addresses: Vec<Option<String>> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT address FROM sessions WHERE user_id IS NOT NULL ORDER BY seen_at DESC, id"
    )
    .fetch_all(c)
    .await)
    .expect("addresses");
    assert!(
        addresses.contains(&Some("198.51.100.2".to_string())),
        "{addresses:?}"
    );
}
