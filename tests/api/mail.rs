//! Email (issue #4) over real SMTP: the app delivers through its outbox to a
//! small SMTP server started by the test (`smtp.rs`), and the messages are
//! read back with a MIME parser as a mail client would.

use settled::on;
use std::time::Duration;

use mail_parser::MimeHeaders;
use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::helpers::{Api, TestApp, in_seconds, spawn_with};
use crate::smtp::{Received, SmtpServer};

async fn app_with_smtp() -> (TestApp, SmtpServer) {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let app = spawn_with(move |c| c.mail.smtp_url = Some(url)).await;
    (app, smtp)
}

/// The text of a header as it stands in the message (unfolded).
pub(crate) fn header(message: &mail_parser::Message<'_>, name: &str) -> String {
    message
        .header_raw(name)
        .map(|raw| raw.replace(['\r', '\n'], "").trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn text_part(message: &mail_parser::Message<'_>) -> String {
    message.body_text(0).expect("a text part").to_string()
}

fn html_part(message: &mail_parser::Message<'_>) -> String {
    message.body_html(0).expect("an HTML part").to_string()
}

/// Messages sent to `address`.
fn to(received: &[Received], address: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.to.iter().any(|t| t == address))
        .cloned()
        .collect()
}

/// Rows per status in the outbox.
async fn statuses(app: &TestApp) -> Vec<(String, i64)> {
    on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status"
    )
    .fetch_all(c)
    .await)
    .expect("counts")
}

/// Waits until every announcement is expanded and no row is queued or
/// sending.
pub(crate) async fn drained(app: &TestApp) {
    for _ in 0..300 {
        let busy: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending'))
                  + (SELECT COUNT(*) FROM announcements WHERE done_at IS NULL)"
        )
        .fetch_one(c)
        .await)
        .expect("count");
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox did not drain: {:?}", statuses(app).await);
}

#[tokio::test]
async fn a_named_decider_gets_a_multipart_mail_naming_the_team() {
    let (app, smtp) = app_with_smtp().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("MAIL", &ana, &[&bob], &[]).await;
    let id = ana
        .propose(
            "MAIL",
            "Move CI to our own runners",
            &bob.email,
            &in_seconds(3 * 86400),
        )
        .await;

    let received = smtp.wait_for(1).await;
    assert_eq!(received.len(), 1, "one mail: Ana named herself nobody");
    let mail = &received[0];
    assert_eq!(mail.to, vec!["bob@example.com".to_string()]);
    assert_eq!(mail.from, "settled@127.0.0.1", "the envelope sender");
    let m = mail.parsed();
    assert_eq!(
        m.subject(),
        Some("[Team MAIL] You decide MAIL-1: Move CI to our own runners")
    );
    let from = m
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .expect("From");
    assert_eq!(from, "settled@127.0.0.1");
    let message_id = m.message_id().expect("Message-ID");
    assert!(
        message_id.starts_with("outbox.") && message_id.ends_with("@127.0.0.1"),
        "{message_id}"
    );
    assert_eq!(header(&m, "Auto-Submitted"), "auto-generated");

    // Both parts, each with the permalink.
    let permalink = format!("{}/d/{id}", app.base);
    let text = text_part(&m);
    let html = html_part(&m);
    assert!(
        text.contains("You decide MAIL-1: Move CI to our own runners"),
        "{text}"
    );
    assert!(text.contains("Ana named you decider"), "{text}");
    assert!(text.contains(&permalink), "{text}");
    assert!(
        text.contains("> We should do this."),
        "the proposal is quoted: {text}"
    );
    assert!(html.contains(&format!("href=\"{permalink}\"")), "{html}");
    assert!(html.contains("style=\""), "inline styles");
    assert!(!html.contains("<script"), "no script in mail");
    let content_type = m.content_type().expect("content type");
    assert_eq!(content_type.ctype(), "multipart");
    assert_eq!(content_type.subtype(), Some("alternative"));

    // RFC 8058 one-click unsubscribe.
    let unsubscribe = header(&m, "List-Unsubscribe");
    assert!(
        unsubscribe.contains(&format!("{}/unsubscribe?", app.base)),
        "{unsubscribe}"
    );
    assert_eq!(
        header(&m, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert!(
        text.contains(&format!("{}/unsubscribe?", app.base)),
        "{text}"
    );

    drained(&app).await;
    assert_eq!(statuses(&app).await, vec![("sent".to_string(), 1)]);
}

/// The worker listens on the ledger's change bus: with its poll tick an
/// hour apart (the first one passed at start-up), the mail an entry queues
/// still leaves within seconds of the commit.
#[tokio::test]
async fn mail_queued_by_an_entry_leaves_at_once_without_waiting_for_the_poll() {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let app = spawn_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.mail.poll = Duration::from_secs(3600);
    })
    .await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("WAKE", &ana, &[&bob], &[]).await;
    ana.propose(
        "WAKE",
        "Wake the mail worker",
        &bob.email,
        &in_seconds(3 * 86400),
    )
    .await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while to(&smtp.received(), "bob@example.com").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the decider's mail did not leave within 3 s of the commit: {:?}",
            statuses(&app).await
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let received = to(&smtp.received(), "bob@example.com");
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].parsed().subject(),
        Some("[Team WAKE] You decide WAKE-1: Wake the mail worker")
    );
}

#[tokio::test]
async fn a_decision_reaches_every_member_and_observer_with_what_was_agreed() {
    let (app, smtp) = app_with_smtp().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    let olive = app.api_user("olive@example.com", "Olive").await;
    app.team("DEC", &ana, &[&bob, &chen, &dan], &[&olive]).await;
    let id = ana
        .propose(
            "DEC",
            "Adopt trunk-based development",
            &bob.email,
            &in_seconds(3 * 86400),
        )
        .await;
    // Bob hears he decides; Chen, Dan and Olive that it opened.
    smtp.wait_for(4).await;
    drained(&app).await;
    for (who, position) in [
        (&ana, "agree"),
        (&bob, "agree"),
        (&chen, "agree"),
        (&dan, "abstain"),
    ] {
        let (status, body) = who.stance(&id, position, None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Everyone responded: Bob hears it is ready for his decision.
    smtp.wait_for(5).await;
    drained(&app).await;
    let ready = smtp.received().split_off(4);
    assert_eq!(ready.len(), 1);
    assert_eq!(
        ready[0].parsed().subject(),
        Some("[Team DEC] DEC-1 is ready for your decision: Adopt trunk-based development")
    );
    assert_eq!(to(&ready, "bob@example.com").len(), 1);
    let (status, body) = olive
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({"body": "Observers can comment."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We merge to main daily behind flags.", "rationale": "Shorter feedback loops."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Then the decision to Ana, Chen, Dan and Olive (an observer); not to
    // Bob, who recorded it.
    smtp.wait_for(9).await;
    drained(&app).await;
    let received = smtp.received().split_off(5);
    assert_eq!(
        received.len(),
        4,
        "{:?}",
        received.iter().map(|r| &r.to).collect::<Vec<_>>()
    );
    assert!(to(&received, "bob@example.com").is_empty());
    for who in [
        "ana@example.com",
        "chen@example.com",
        "dan@example.com",
        "olive@example.com",
    ] {
        let mails = to(&received, who);
        assert_eq!(mails.len(), 1, "{who}");
        let m = mails[0].parsed();
        assert_eq!(
            m.subject(),
            Some("[Team DEC] DEC-1 accepted: Adopt trunk-based development")
        );
        let text = text_part(&m);
        assert!(text.contains("What was agreed:"), "{text}");
        assert!(
            text.contains("> We merge to main daily behind flags."),
            "{text}"
        );
        assert!(text.contains("> Shorter feedback loops."), "{text}");
        assert!(text.contains("Bob recorded the decision"), "{text}");
        assert!(html_part(&m).contains("We merge to main daily behind flags."));
    }
}

#[tokio::test]
async fn a_server_that_refuses_for_a_while_gets_every_mail_exactly_once() {
    let (app, smtp) = app_with_smtp().await;
    smtp.refuse_next(4);
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("RETRY", &ana, &[], &[]).await;
    let invited: Vec<String> = (0..3).map(|i| format!("guest{i}@example.org")).collect();
    for email in &invited {
        let (status, body) = ana
            .post(
                "/api/v1/teams/RETRY/invitations",
                json!({"role": "member", "email": email}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let received = smtp.wait_for(3).await;
    drained(&app).await;
    assert!(
        smtp.refused() >= 4,
        "the server refused {} times",
        smtp.refused()
    );
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let received_later = smtp.received();
    assert_eq!(received_later.len(), 3, "each mail exactly once");
    let mut ids: Vec<String> = received
        .iter()
        .map(|r| r.parsed().message_id().expect("id").to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct messages");
    for email in &invited {
        assert_eq!(to(&received_later, email).len(), 1, "{email}");
    }
    // The outbox remembers the attempts and the refusal.
    let rows: Vec<(String, i64, Option<String>)> = on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT status, attempts, last_error FROM outbox ORDER BY id"
    )
    .fetch_all(c)
    .await)
    .expect("rows");
    assert!(rows.iter().all(|(s, _, _)| s == "sent"), "{rows:?}");
    let attempts: i64 = rows.iter().map(|(_, a, _)| a).sum();
    assert!(attempts >= 3 + 4, "attempts recorded: {rows:?}");
}

#[tokio::test]
async fn an_invitation_mail_carries_the_link_that_joins() {
    let (app, smtp) = app_with_smtp().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("JOIN", &ana, &[], &[]).await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-join/settings",
            "/t/team-join/invitations",
            &[("role", "member"), ("email", "newcomer@example.org")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.get(&ana.browser, "/t/team-join/settings").await;
    assert!(page.contains("mailed to newcomer@example.org"), "{page}");

    let received = smtp.wait_for(1).await;
    let m = received[0].parsed();
    assert_eq!(received[0].to, vec!["newcomer@example.org".to_string()]);
    assert_eq!(
        m.subject(),
        Some("Ana invites you to join Team JOIN on Settled")
    );
    assert!(m.header("List-Unsubscribe").is_none(), "not a subscription");
    let text = text_part(&m);
    let start = text
        .find(&format!("{}/invite/", app.base))
        .expect("the link");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(html_part(&m).contains(&format!("href=\"{link}\"")));

    // Once sent, the outbox no longer holds the link (its token is the
    // invitation's secret, stored only hashed elsewhere).
    drained(&app).await;
    let data: Vec<Option<String>> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT data FROM outbox"
    )
    .fetch_all(c)
    .await)
    .expect("rows");
    assert_eq!(data, vec![None]);

    // The newcomer follows it and joins.
    let newcomer = app.user("newcomer@example.org", "Newcomer").await;
    let path = link.trim_start_matches(&app.base).to_string();
    let r = app.post_form(&newcomer, &path, &path, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "joined");
    let (status, _) = app.get(&newcomer, "/t/team-join").await;
    assert_eq!(status, StatusCode::OK);

    // A bad address is refused before anything is stored.
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-join/settings",
            "/t/team-join/invitations",
            &[("role", "member"), ("email", "not an address")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.get(&ana.browser, "/t/team-join/settings").await;
    assert!(
        page.contains("No invitation created: the email must be an email address"),
        "{page}"
    );
    let invitations: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM invitations"
    )
    .fetch_one(c)
    .await)
    .expect("count");
    assert_eq!(invitations, 1);
}

#[tokio::test]
async fn unsubscribe_works_without_a_session_and_only_for_its_member_and_kind() {
    let (app, smtp) = app_with_smtp().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("UNSUB", &ana, &[&bob], &[]).await;
    ana.propose("UNSUB", "First", &bob.email, &in_seconds(86400 * 3))
        .await;
    let received = smtp.wait_for(1).await;
    let m = received[0].parsed();
    let link = header(&m, "List-Unsubscribe")
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    let bob_id = app.user_id("bob@example.com").await;
    let ana_id = app.user_id("ana@example.com").await;
    assert!(link.contains(&format!("u={bob_id}&s=decider&t=")), "{link}");

    // Forged or altered links are refused, and change nothing.
    let stranger = Client::new();
    let forged = link.replace(&format!("u={bob_id}"), &format!("u={ana_id}"));
    // The last hex digit of the MAC changed (to another digit, whatever it was).
    let last = if link.ends_with('0') { '1' } else { '0' };
    let altered = format!("{}{last}", &link[..link.len() - 1]);
    let other_scope = link.replace("s=decider", "s=digest");
    for bad in [&forged, &altered, &other_scope] {
        for post in [false, true] {
            let r = if post {
                stranger
                    .post(bad)
                    .body("List-Unsubscribe=One-Click")
                    .send()
                    .await
            } else {
                stranger.get(bad).send().await
            }
            .expect("request");
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }

    // Opening the link only asks (mail scanners open links).
    let r = stranger.get(&link).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Stop mail about the proposals you decide for bob@example.com?"),
        "{page}"
    );
    let flags = |id: i64| {
        let db = app.db.clone();
        async move {
            on!(db.reader(), |c| sqlx::query_as::<_, (bool, bool, bool, String)>(
                "SELECT notify_decider, notify_decided, notify_reminder, digest FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_one(c)
            .await)
            .expect("flags")
        }
    };
    assert!(flags(bob_id).await.0, "GET changed nothing");

    // The RFC 8058 one-click POST, as a mail client sends it: no cookies,
    // no CSRF token.
    let r = stranger
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(flags(bob_id).await, (false, true, true, "off".to_string()));
    assert_eq!(
        flags(ana_id).await,
        (true, true, true, "off".to_string()),
        "only Bob's"
    );

    // Named decider again: no "you decide" mail this time; Bob still
    // hears that the proposal opened, as every member does.
    ana.propose("UNSUB", "Second", &bob.email, &in_seconds(86400 * 3))
        .await;
    let received = smtp.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 2);
    assert_eq!(
        received[1].parsed().subject(),
        Some("[Team UNSUB] New proposal UNSUB-2: Second")
    );
    let kinds: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT kind FROM outbox ORDER BY id"
    )
    .fetch_all(c)
    .await)
    .expect("kinds");
    assert_eq!(
        kinds,
        ["decider_named", "opened"],
        "nothing queued for an unsubscribed kind"
    );

    // The settings page turns it back on.
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/mail",
            &[("notify_decider", "on"), ("notify_decided", "on")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(flags(bob_id).await, (true, true, false, "off".to_string()));
}

/// One run of the reminder clock, as the worker's tick runs it.
async fn run_reminder_clock(app: &TestApp) {
    let now = chrono::Utc::now();
    let due = settled::db::outbox::reminders_due(app.db.reader(), now)
        .await
        .expect("reminders due");
    app.writer
        .submit(move |mut conn| {
            Box::pin(async move {
                Ok(settled::db::outbox::queue_reminders(conn.re(), &due, now).await?)
            })
        })
        .await
        .expect("reminders queued");
}

#[tokio::test]
async fn a_reminder_goes_a_day_before_the_deadline_to_voters_without_a_stance_once() {
    // The clock runs when the test says: a tick between opening "Soon" and
    // Ana's stance on it would rightly remind her too.
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let app = spawn_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.mail.clocks = false;
    })
    .await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let olive = app.api_user("olive@example.com", "Olive").await;
    app.team("SOON", &ana, &[&bob, &chen], &[&olive]).await;
    // Closing in two days: no reminder yet.
    let later = ana
        .propose("SOON", "Later", &ana.email, &in_seconds(2 * 86400))
        .await;
    // Closing in 20 hours: Bob and Chen have no stance; Ana has.
    let soon = ana
        .propose("SOON", "Soon", &ana.email, &in_seconds(20 * 3600))
        .await;
    let (status, _) = ana.stance(&soon, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = chen.stance(&later, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED);

    // The opening notices go first; then only reminders are counted.
    drained(&app).await;
    let opening = smtp.received().len();
    run_reminder_clock(&app).await;
    let received = smtp.wait_for(opening + 2).await.split_off(opening);
    // Several more clock runs: still one reminder each.
    for _ in 0..3 {
        run_reminder_clock(&app).await;
    }
    drained(&app).await;
    let received_later = smtp.received().split_off(opening);
    assert_eq!(
        received_later.len(),
        2,
        "{:?}",
        received_later.iter().map(|r| &r.to).collect::<Vec<_>>()
    );
    for who in ["bob@example.com", "chen@example.com"] {
        let mails = to(&received, who);
        assert_eq!(mails.len(), 1, "{who}");
        let m = mails[0].parsed();
        let subject = m.subject().expect("subject");
        assert!(
            subject.starts_with("[Team SOON] SOON-2 closes in "),
            "{subject}"
        );
        assert!(subject.ends_with(": your stance is missing"), "{subject}");
        assert!(text_part(&m).contains(&format!("{}/d/{soon}", app.base)));
    }
    let _ = olive;
}

#[tokio::test]
async fn the_admin_page_shows_queued_sent_and_failing_mail() {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let app = spawn_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.mail.max_attempts = 2;
    })
    .await;
    smtp.refuse_next(100);
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ADM", &ana, &[&bob], &[]).await;
    let (status, _) = ana
        .post(
            "/api/v1/teams/ADM/invitations",
            json!({"role": "member", "email": "late@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    drained(&app).await;
    assert_eq!(statuses(&app).await, vec![("failed".to_string(), 1)]);

    let (status, page) = app.get(&ana.browser, "/admin/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("late@example.org"), "{page}");
    assert!(page.contains("failed"), "{page}");
    assert!(page.contains("451"), "the last error is shown: {page}");
    let (status, _) = app.get(&ana.browser, "/admin/mail?status=failed").await;
    assert_eq!(status, StatusCode::OK);
    // Bob is no instance admin, and his settings do not offer the page.
    let (status, _) = app.get(&bob.browser, "/admin/mail").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, settings) = app.get(&ana.browser, "/settings").await;
    assert!(
        settings.contains("href=\"/admin/mail\""),
        "Ana's settings link to it"
    );
    let (_, settings) = app.get(&bob.browser, "/settings").await;
    assert!(!settings.contains("/admin/mail"));
    let _: &Api = &bob;
}

#[tokio::test]
async fn without_smtp_mail_is_written_to_the_mail_folder() {
    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().join("outgoing");
    let target = folder.clone();
    let app = spawn_with(move |c| c.mail.folder = target).await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("EML", &ana, &[], &[]).await;
    let (status, _) = ana
        .post(
            "/api/v1/teams/EML/invitations",
            json!({"role": "member", "email": "friend@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    drained(&app).await;
    let files: Vec<_> = std::fs::read_dir(&folder)
        .expect("the folder exists")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let bytes = std::fs::read(&files[0]).expect("read");
    let m = mail_parser::MessageParser::default()
        .parse(&bytes)
        .expect("parse");
    assert_eq!(
        m.subject(),
        Some("Ana invites you to join Team EML on Settled")
    );
}

#[tokio::test]
async fn the_in_memory_transport_keeps_each_message_with_its_envelope() {
    let memory = settled::mail::Memory::default();
    let kept = memory.clone();
    let app = spawn_with(move |c| c.mail.memory = Some(kept)).await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("MEM", &ana, &[&bob], &[]).await;
    ana.propose("MEM", "Kept in memory", &bob.email, &in_seconds(86400 * 3))
        .await;
    drained(&app).await;
    let sent = memory.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, vec!["bob@example.com".to_string()]);
    let m = mail_parser::MessageParser::default()
        .parse(&sent[0].1)
        .expect("parse");
    assert_eq!(
        m.subject(),
        Some("[Team MEM] You decide MEM-1: Kept in memory")
    );
}

#[tokio::test]
async fn an_unsubscribe_also_stops_mail_already_queued() {
    let (app, smtp) = app_with_smtp().await;
    smtp.refuse_next(1_000);
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("LATE", &ana, &[&bob], &[]).await;
    ana.propose("LATE", "Queued a while", &bob.email, &in_seconds(86400 * 3))
        .await;
    // The server refuses: the mail waits in the outbox.
    for _ in 0..100 {
        if smtp.refused() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(smtp.refused() > 0);
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/mail",
            &[("notify_decided", "on")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    smtp.refuse_next(0);
    drained(&app).await;
    assert_eq!(smtp.received().len(), 0, "not sent after all");
    let (status, reason): (String, Option<String>) = on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT status, last_error FROM outbox"
    )
    .fetch_one(c)
    .await)
    .expect("row");
    assert_eq!(status, "skipped");
    assert_eq!(reason.as_deref(), Some("turned off by the member"));
}

#[tokio::test]
async fn invitations_by_mail_are_limited_per_member() {
    let (app, _smtp) = app_with_smtp().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("SPAM", &ana, &[], &[]).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let (status, _) = ana
            .post(
                "/api/v1/teams/SPAM/invitations",
                json!({"role": "member", "email": format!("stranger{i}@example.org")}),
            )
            .await;
        statuses.push(status);
    }
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Links without mail are not limited.
    let (status, _) = ana
        .post("/api/v1/teams/SPAM/invitations", json!({"role": "member"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn finished_mail_is_kept_thirty_days_then_pruned() {
    let (app, _smtp) = app_with_smtp().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("OLD", &ana, &[], &[]).await;
    let team_id: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM teams WHERE key = 'OLD'"
    )
    .fetch_one(c)
    .await)
    .expect("team");
    let now = chrono::Utc::now();
    // (status, queued days ago, due in hours): the 'sending' row is claimed
    // by a sender whose lease runs another hour.
    for (status, age_days, due_hours) in [
        ("sent", 31, 0),
        ("failed", 40, 0),
        ("skipped", 31, 0),
        ("sent", 29, 0),
        ("sending", 60, 1),
    ] {
        on!(app.db.writer(), |c| sqlx::query(
            "INSERT INTO outbox (kind, recipient, team_id, status, next_attempt_at, created_at)
             VALUES ('invitation', 'old@example.org', $1, $2, $3, $4)",
        )
        .bind(team_id)
        .bind(status)
        .bind(settled::db::Timestamp(
            now + chrono::Duration::hours(due_hours),
        ))
        .bind(settled::db::Timestamp(
            now - chrono::Duration::days(age_days),
        ))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .expect("old row");
    }
    // The clock runs every 200 ms in tests.
    let mut left = Vec::new();
    for _ in 0..100 {
        left = on!(app.db.reader(), |c| sqlx::query_scalar::<_, String>(
            "SELECT status FROM outbox ORDER BY id"
        )
        .fetch_all(c)
        .await)
        .expect("rows");
        if left.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        left,
        vec!["sent".to_string(), "sending".to_string()],
        "the 29-day-old row and the unfinished one stay"
    );
}

/// Without an SMTP server (the folder transport), nothing says "mailed":
/// the inviting admin reads that the mail was only written to the server's
/// mail folder, the API says `delivery: folder`, instance admins see a
/// banner on every page and a member's mail settings say their mail does
/// not reach them. With SMTP, none of that shows.
#[tokio::test]
async fn without_smtp_no_page_claims_a_mail_was_sent() {
    let app = crate::helpers::spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await; // instance admin
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("FOLD", &ana, &[&bob], &[]).await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-fold/settings",
            "/t/team-fold/invitations",
            &[("role", "member"), ("email", "newcomer@example.org")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.get(&ana.browser, "/t/team-fold/settings").await;
    assert!(!page.contains("mailed to"), "{page}");
    assert!(
        page.contains("The invitation to newcomer@example.org was written to the server&#39;s mail folder, not sent"),
        "{page}"
    );
    assert!(
        page.contains("No mail leaves this server yet"),
        "admin banner: {page}"
    );
    let (status, body) = ana
        .post(
            "/api/v1/teams/FOLD/invitations",
            json!({"role": "member", "email": "other@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["mail"],
        json!({"to": "other@example.org", "delivery": "folder"})
    );

    let (_, bobs) = app.get(&bob.browser, "/settings").await;
    assert!(
        !bobs.contains("No mail leaves this server yet"),
        "members see no admin banner"
    );
    assert!(
        bobs.contains("your mail to bob@example.com is written to the server's mail folder and does not reach your inbox"),
        "{bobs}"
    );

    let (smtp_app, _smtp) = app_with_smtp().await;
    let cy = smtp_app.api_user("cy@example.com", "Cy").await;
    smtp_app.team("SENT", &cy, &[], &[]).await;
    let (_, home) = smtp_app.get(&cy.browser, "/settings").await;
    assert!(!home.contains("No mail leaves this server yet"), "{home}");
    assert!(home.contains("Sent to cy@example.com."), "{home}");
    let (_, body) = cy
        .post(
            "/api/v1/teams/SENT/invitations",
            json!({"role": "member", "email": "new@example.org"}),
        )
        .await;
    assert_eq!(body["mail"]["delivery"], "smtp", "{body}");
}
