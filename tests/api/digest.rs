//! Digests (issue #4): at each member's local hour, once per slot, across a
//! daylight-saving change; their sections; nothing to say, no mail; the
//! preview page and `settled digest --preview`.
//!
//! The digest clock is driven here with simulated times (the app's own
//! clock is off), so three days pass in a second.

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, spawn_with};
use crate::smtp::SmtpServer;

async fn app_without_clocks() -> (TestApp, SmtpServer) {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let app = spawn_with(move |c| {
        c.mail.smtp_url = Some(url);
        c.mail.clocks = false;
    })
    .await;
    (app, smtp)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

async fn set_digest(
    app: &TestApp,
    who: &Api,
    zone: &str,
    cadence: &str,
    hour: i64,
    last: DateTime<Utc>,
) {
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE users SET time_zone = $1, digest = $2, digest_hour = $3, last_digest_at = $4 WHERE email = $5",
    )
    .bind(zone)
    .bind(cadence)
    .bind(hour)
    .bind(settled::db::Timestamp(last))
    .bind(&who.email)
    .execute(c)
    .await.map(|r| r.rows_affected()))
    .expect("digest settings");
}

async fn run_clock(app: &TestApp, at: DateTime<Utc>) -> settled::mail::digest::Run {
    settled::mail::digest::queue_due(&app.db, &app.writer, at)
        .await
        .expect("the digest clock runs")
}

/// When each of `email`'s digests was queued.
async fn queued_at(app: &TestApp, email: &str) -> Vec<DateTime<Utc>> {
    let rows: Vec<settled::db::Timestamp> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT o.created_at FROM outbox o JOIN users u ON u.id = o.user_id
         WHERE o.kind = 'digest' AND u.email = $1 ORDER BY o.id",
    )
    .bind(email)
    .fetch_all(c)
    .await)
    .expect("rows");
    rows.into_iter().map(|t| t.0).collect()
}

#[tokio::test]
async fn each_member_gets_the_digest_at_their_local_hour_once_across_daylight_saving() {
    let (app, smtp) = app_without_clocks().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let nina = app.api_user("nina@example.com", "Nina").await;
    let bert = app.api_user("bert@example.com", "Bert").await;
    let taro = app.api_user("taro@example.com", "Taro").await;
    app.team("TZ", &ana, &[&nina, &bert, &taro], &[]).await;
    // Something for everyone to say: a proposal waiting for their stance.
    ana.propose(
        "TZ",
        "Quarterly planning",
        &ana.email,
        &in_seconds(30 * 86400),
    )
    .await;

    // New York leaves daylight saving on 1 November 2026 (EDT -> EST);
    // Berlin left it a week before; Tokyo has none.
    let start = utc("2026-10-31T00:00:00Z");
    let end = utc("2026-11-03T00:00:00Z");
    let people = [
        (&nina, "America/New_York", 8),
        (&bert, "Europe/Berlin", 7),
        (&taro, "Asia/Tokyo", 9),
    ];
    for (who, zone, hour) in &people {
        set_digest(&app, who, zone, "daily", *hour, start).await;
    }
    let step = Duration::minutes(10);
    let mut t = start;
    while t < end {
        run_clock(&app, t).await;
        t += step;
    }
    // Running the clock again at any of those times adds nothing.
    assert_eq!(run_clock(&app, end - step).await.queued, 0);

    for (who, zone, hour) in &people {
        let tz: Tz = zone.parse().expect("zone");
        let times = queued_at(&app, &who.email).await;
        let local: Vec<_> = times.iter().map(|t| t.with_timezone(&tz)).collect();
        for at in &local {
            assert_eq!(
                at.hour(),
                *hour as u32,
                "{zone}: queued at {at}, not at the member's hour"
            );
            assert!(at.minute() < 10, "{zone}: queued at {at}, late");
        }
        let mut days: Vec<_> = local.iter().map(|t| t.date_naive()).collect();
        days.dedup();
        assert_eq!(days.len(), local.len(), "{zone}: one per day: {local:?}");
        // Tokyo's 09:00 on the 31st is 00:00Z, the start itself (handled).
        let expected = if *zone == "Asia/Tokyo" { 2 } else { 3 };
        assert_eq!(local.len(), expected, "{zone}: {local:?}");
    }
    // New York's 08:00 is 12:00Z before the change and 13:00Z after it.
    let nina_times = queued_at(&app, "nina@example.com").await;
    let hours_utc: Vec<u32> = nina_times.iter().map(|t| t.hour()).collect();
    assert_eq!(hours_utc, vec![12, 13, 13]);

    // They are delivered: 8 digests, each once, besides the three members'
    // notices that the proposal opened.
    smtp.wait_for(11).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let received = smtp.received();
    assert_eq!(received.len(), 11);
    let subjects: Vec<String> = received
        .iter()
        .map(|r| r.parsed().subject().unwrap_or_default().to_string())
        .filter(|s| !s.starts_with("[Team TZ] New proposal"))
        .collect();
    assert_eq!(subjects.len(), 8, "{subjects:?}");
    assert!(
        subjects
            .iter()
            .all(|s| s == "[Team TZ] Your daily digest: 1 needs your stance"),
        "{subjects:?}"
    );
    let _ = ana;
}

#[tokio::test]
async fn a_digest_has_its_four_sections_and_nothing_to_say_sends_nothing() {
    let (app, smtp) = app_without_clocks().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let eve = app.api_user("eve@example.com", "Eve").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    app.team("DIG", &ana, &[&bob, &chen, &dan], &[]).await;
    app.team("QUIET", &eve, &[], &[]).await;

    let needs = ana
        .propose("DIG", "Needs Bob", &ana.email, &in_seconds(5 * 86400))
        .await;
    let closing = ana
        .propose("DIG", "Closing soon", &ana.email, &in_seconds(30 * 3600))
        .await;
    let decided = ana
        .propose("DIG", "Decided today", &ana.email, &in_seconds(5 * 86400))
        .await;
    let talked = ana
        .propose("DIG", "Talked about", &ana.email, &in_seconds(5 * 86400))
        .await;
    for who in [&bob, &ana] {
        who.stance(&closing, "agree", None).await;
    }
    for who in [&ana, &bob, &chen, &dan] {
        let (status, body) = who.stance(&decided, "agree", None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{decided}/decision"),
            json!({"outcome": "accepted", "statement": "We ship on Tuesdays.", "rationale": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    bob.stance(&talked, "agree", None).await;
    for (who, text) in [
        (&bob, "My own note."),
        (&chen, "First."),
        (&chen, "Second."),
    ] {
        let (status, body) = who
            .post(
                &format!("/api/v1/decisions/{talked}/comments"),
                json!({ "body": text }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // Bob and Eve: daily at this hour (UTC), last digest two hours ago; the
    // clock runs at tomorrow's slot.
    let now = Utc::now();
    let hour = i64::from(now.hour());
    for who in [&bob, &eve, &dan] {
        set_digest(&app, who, "UTC", "daily", hour, now - Duration::hours(2)).await;
    }
    let tomorrow = now + Duration::days(1);
    let run = run_clock(&app, tomorrow).await;
    assert_eq!(run.due, 3);
    assert_eq!(run.queued, 2, "Eve's team has nothing to say");
    let eve_last: Option<settled::db::Timestamp> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT last_digest_at FROM users WHERE email = 'eve@example.com'"
    )
    .fetch_one(c)
    .await)
    .expect("eve");
    assert!(
        eve_last.is_some_and(|t| t.0 > now),
        "her slot is handled all the same"
    );

    // The row is due at tomorrow's slot; bring that moment forward.
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE kind = 'digest'"
    )
    .bind(settled::db::Timestamp(now))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("due now");
    // Bob and Chen also got the decision itself; the digest comes after.
    let mut digests = Vec::new();
    for _ in 0..200 {
        digests = smtp
            .received()
            .into_iter()
            .filter(|r| {
                r.parsed()
                    .subject()
                    .is_some_and(|s| s.starts_with("[Team DIG] Your daily digest"))
            })
            .collect();
        if digests.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(digests.len(), 2, "Bob's and Dan's");
    let bob_digest = digests
        .iter()
        .find(|d| d.to == vec!["bob@example.com".to_string()])
        .expect("Bob's digest");
    // Dan took part in nothing: no comments section for him.
    let dan_digest = digests
        .iter()
        .find(|d| d.to == vec!["dan@example.com".to_string()])
        .expect("Dan's digest");
    let dan_text = dan_digest.parsed().body_text(0).expect("text").to_string();
    assert!(dan_text.contains("Needs your stance"), "{dan_text}");
    assert!(
        !dan_text.contains("New comments where you take part"),
        "{dan_text}"
    );
    let m = bob_digest.parsed();
    assert_eq!(
        m.subject(),
        Some(
            "[Team DIG] Your daily digest: 1 needs your stance, 1 closing soon, 1 decided, new comments on 1"
        )
    );
    let text = m.body_text(0).expect("text").to_string();
    let sections = [
        "Needs your stance",
        "Closing within 48 hours",
        "Decided since your last digest",
        "New comments where you take part",
    ];
    let mut last = 0;
    for s in sections {
        let at = text.find(s).unwrap_or_else(|| panic!("no {s:?} in {text}"));
        assert!(at >= last, "sections in order: {text}");
        last = at;
    }
    for id in [&needs, &closing, &decided, &talked] {
        assert!(
            text.contains(&format!("{}/d/{id}", app.base)),
            "{id}: {text}"
        );
    }
    assert!(text.contains("   > We ship on Tuesdays."), "{text}");
    assert!(
        text.contains("2 new comments"),
        "Chen's two, not Bob's own: {text}"
    );
    let html = m.body_html(0).expect("html").to_string();
    assert!(html.contains(&format!("href=\"{}/d/{needs}\"", app.base)));
    assert!(
        m.header_raw("List-Unsubscribe")
            .is_some_and(|h| h.contains("s=digest"))
    );

    // The same slot again: nothing new.
    assert_eq!(
        run_clock(&app, tomorrow).await,
        settled::mail::digest::Run::default()
    );
}

#[tokio::test]
async fn the_preview_page_and_the_command_show_the_next_digest() {
    let (app, _smtp) = app_without_clocks().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("PRE", &ana, &[&bob], &[]).await;
    ana.propose("PRE", "Preview me", &ana.email, &in_seconds(5 * 86400))
        .await;

    // Bob turns daily digests on at 07:00 through the settings form.
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/mail",
            &[
                ("notify_decider", "on"),
                ("digest", "daily"),
                ("digest_hour", "7"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, settings) = app.get(&bob.browser, "/settings").await;
    assert!(
        settings.contains("<option value=\"daily\" selected>"),
        "{settings}"
    );
    assert!(settings.contains("<option value=\"7\" selected>07:00</option>"));
    // Bad values are refused, and nothing changes.
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/mail",
            &[("digest", "hourly")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/mail",
            &[("digest_hour", "24")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (status, page) = app.get(&bob.browser, "/settings/digest").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your daily digest comes at 07:00"), "{page}");
    assert!(
        page.contains("[Team PRE] Your daily digest: 1 needs your stance"),
        "{page}"
    );
    assert!(page.contains("PRE-1: Preview me"), "{page}");

    // The command prints the same.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
        .args([
            "--database",
            &app.db_url,
            "digest",
            "--preview",
            "--email",
            "bob@example.com",
            "--base-url",
            &app.base,
        ])
        .output()
        .expect("settled runs");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(printed.contains("To: bob@example.com"), "{printed}");
    assert!(
        printed.contains("Subject: [Team PRE] Your daily digest: 1 needs your stance"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("{}/d/PRE-1", app.base)),
        "{printed}"
    );
    // Nothing was queued by previewing.
    let queued: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'digest'"
    )
    .fetch_one(c)
    .await)
    .expect("count");
    assert_eq!(queued, 0);
}

#[tokio::test]
async fn a_member_on_a_digest_may_take_opening_notices_in_it_instead() {
    let (app, smtp) = app_without_clocks().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let eve = app.api_user("eve@example.com", "Eve").await;
    let finn = app.api_user("finn@example.com", "Finn").await;
    app.team("FOLD", &ana, &[&eve, &finn], &[]).await;
    // Both take a daily digest; Eve also folds opening notices into it.
    for (who, fold) in [(&eve, true), (&finn, false)] {
        let mut fields = vec![
            ("notify_decider", "on"),
            ("notify_decided", "on"),
            ("notify_opened", "on"),
            ("notify_reminder", "on"),
            ("digest", "daily"),
            ("digest_hour", "8"),
        ];
        if fold {
            fields.push(("digest_opened", "on"));
        }
        let r = app
            .post_form(&who.browser, "/settings", "/settings/mail", &fields)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    // Daily at this hour (UTC), the last one two hours ago.
    let now = Utc::now();
    let hour = i64::from(now.hour());
    for who in [&eve, &finn] {
        set_digest(&app, who, "UTC", "daily", hour, now - Duration::hours(2)).await;
    }
    ana.propose(
        "FOLD",
        "Hire a second designer",
        &ana.email,
        &in_seconds(10 * 86400),
    )
    .await;
    // Finn is told at once; Eve is not.
    let received = smtp.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(received[0].to, ["finn@example.com"]);
    assert_eq!(
        received[0].parsed().subject(),
        Some("[Team FOLD] New proposal FOLD-1: Hire a second designer")
    );

    // The next digest lists it for Eve under its own heading, once.
    let run = run_clock(&app, now + Duration::days(1)).await;
    assert_eq!(run.queued, 2);
    // The rows are due at tomorrow's slot; bring that moment forward.
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE kind = 'digest'"
    )
    .bind(settled::db::Timestamp(now))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("due now");
    let received = smtp.wait_for(3).await;
    let digest_of = |address: &str| {
        received
            .iter()
            .find(|r| {
                r.to == [address] && r.parsed().subject().is_some_and(|s| s.contains("digest"))
            })
            .map(|r| r.parsed().body_text(0).expect("text").to_string())
            .expect("a digest")
    };
    let eve_digest = digest_of("eve@example.com");
    assert!(
        eve_digest.contains("Opened since your last digest"),
        "{eve_digest}"
    );
    assert!(eve_digest.contains("opened by Ana"), "{eve_digest}");
    assert_eq!(eve_digest.matches("* FOLD-1:").count(), 1, "{eve_digest}");
    assert!(!eve_digest.contains("Needs your stance"), "{eve_digest}");
    // Finn, told already, finds it where it waits for his stance.
    let finn_digest = digest_of("finn@example.com");
    assert!(!finn_digest.contains("Opened since"), "{finn_digest}");
    assert!(finn_digest.contains("Needs your stance"), "{finn_digest}");
}
