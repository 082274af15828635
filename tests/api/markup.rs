//! Markup typed into any field stays text (issue #17, item 1): a payload
//! goes into every free-text and name field, then every page, feed, mail
//! part and badge that shows one of them is read back. None may carry the
//! payload as markup, and each must show the field (as text), so the check
//! cannot pass by showing nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{TestApp, in_seconds, invitation, spawn};

/// What an attacker types: a redirect away, and an element with a handler.
const PAYLOAD: &str = r#"<meta http-equiv=refresh content="0;url=//e.example"><img src=x>"#;

/// `label`, then the payload: the label shows the field was shown.
fn typed(label: &str) -> String {
    format!("{label} {PAYLOAD}")
}

/// Fails if `body` carries the payload as markup; `what` names the page.
fn assert_inert(what: &str, body: &str) {
    for markup in ["<meta http-equiv=refresh", "<img src=x"] {
        assert!(
            !body.contains(markup),
            "{what} carries {markup:?} as markup:\n{body}"
        );
    }
}

/// Fails unless `body` shows every label in `labels`.
fn assert_shows(what: &str, body: &str, labels: &[&str]) {
    for label in labels {
        assert!(
            body.contains(label),
            "{what} does not show {label}:\n{body}"
        );
    }
}

#[tokio::test]
async fn markup_typed_into_any_field_is_shown_as_text_everywhere() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", &typed("NAMEANA")).await;
    let bob = app.api_user("bob@example.com", &typed("NAMEBOB")).await;
    let chen = app.api_user("chen@example.com", &typed("NAMECHEN")).await;
    let olive = app.api_user("olive@example.com", &typed("NAMEOLIVE")).await;

    let (status, team) = ana
        .post(
            "/api/v1/teams",
            json!({"name": typed("TEAMNAME"), "key": "MK"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let slug = team["slug"].as_str().expect("slug").to_string();
    for (who, role) in [(&bob, "member"), (&chen, "member"), (&olive, "observer")] {
        let token = invitation(&ana, "MK", role).await;
        let (status, body) = who
            .post(&format!("/api/v1/invitations/{token}/accept"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let ana_id = app.user_id("ana@example.com").await.to_string();
    let areas = format!("/t/{slug}/areas");
    let r = app
        .post_form(
            &ana.browser,
            &areas,
            &areas,
            &[
                ("name", &typed("AREANAME")),
                ("description", &typed("AREADESC")),
                ("default_decider", &ana_id),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (status, body) = ana
        .post(
            "/api/v1/teams/MK/proposals",
            json!({"title": typed("TITLEONE"), "body": typed("BODYONE"), "decider": bob.email,
                   "closes_at": in_seconds(3600), "area": typed("AREANAME")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let one = body["id"].as_str().expect("id").to_string();
    for (who, position, reason) in [
        (&ana, "agree", None),
        (&bob, "agree", Some(typed("REASONBOB"))),
        (&chen, "object", Some(typed("REASONCHEN"))),
    ] {
        let (status, body) = who.stance(&one, position, reason.as_deref()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for text in [typed("COMMENTGONE"), typed("COMMENTKEPT")] {
        let (status, body) = olive
            .post(
                &format!("/api/v1/decisions/{one}/comments"),
                json!({"body": text}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{one}/decision"),
            json!({"outcome": "accepted", "statement": typed("STATEMENT"),
                   "rationale": typed("RATIONALEGONE"),
                   "responses": {"chen@example.com": typed("RESPONSE")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sealed = body["log_index"].as_i64().expect("log index");

    let two = ana
        .propose("MK", &typed("TITLETWO"), &ana.email, &in_seconds(3600))
        .await;
    let r = app
        .post_form(
            &ana.browser,
            &format!("/d/{two}"),
            &format!("/d/{two}/withdraw"),
            &[("reason", &typed("WITHDRAWN"))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Erase a comment and the rationale, then the erasing admin renames
    // herself: the notice "content erased … by NAME" shows the new name.
    let gone: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries WHERE kind = 'comment_added' ORDER BY idx LIMIT 1"
    )
    .fetch_one(c)
    .await)
    .expect("comment entry");
    for (index, field) in [(gone, "body"), (sealed, "rationale")] {
        let (status, body) = ana
            .post(
                "/api/v1/teams/MK/erasures",
                json!({"index": index, "field": field}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let r = app
        .post_form(
            &ana.browser,
            "/settings",
            "/settings/profile",
            &[("name", &typed("ERASER")), ("time_zone", "Europe/Berlin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Every page that shows one of the texts, as the admin.
    let pages: Vec<(String, Vec<&str>)> = vec![
        ("/".into(), vec!["TEAMNAME", "ERASER"]),
        (format!("/t/{slug}"), vec!["TEAMNAME", "TITLEONE"]),
        (
            format!("/t/{slug}/decisions"),
            vec!["TITLEONE", "NAMEBOB", "AREANAME"],
        ),
        (areas.clone(), vec!["AREANAME", "AREADESC", "ERASER"]),
        (format!("{areas}?q=TITLEONE"), vec!["TITLEONE", "NAMEBOB"]),
        (
            format!("/t/{slug}/settings"),
            vec!["NAMEBOB", "NAMEOLIVE", "TEAMNAME"],
        ),
        (format!("/t/{slug}/log"), vec!["TEAMNAME"]),
        (format!("/t/{slug}/feeds"), vec!["TEAMNAME"]),
        (
            format!("/t/{slug}/proposals/new"),
            vec!["AREANAME", "NAMEBOB", "TITLEONE"],
        ),
        (
            format!("/d/{one}"),
            vec![
                "TITLEONE",
                "BODYONE",
                "NAMEBOB",
                "NAMECHEN",
                "REASONBOB",
                "REASONCHEN",
                "COMMENTKEPT",
                "STATEMENT",
                "RESPONSE",
                "AREANAME",
                "content erased on",
                "by ERASER",
            ],
        ),
        (format!("/d/{two}"), vec!["TITLETWO", "WITHDRAWN"]),
        ("/search?q=TITLEONE".into(), vec!["TITLEONE", "TEAMNAME"]),
        ("/search?q=COMMENTKEPT".into(), vec!["COMMENTKEPT"]),
        ("/settings".into(), vec!["ERASER"]),
        ("/settings/digest".into(), vec!["TEAMNAME"]),
        ("/admin/mail".into(), vec!["bob@example.com"]),
    ];
    for (path, labels) in &pages {
        let (status, html) = app.get(&ana.browser, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_inert(path, &html);
        assert_shows(path, &html, labels);
    }
    let (_, html) = app.get(&chen.browser, &format!("/d/{one}")).await;
    assert_inert("the proposal page for a member", &html);
    assert_shows("the proposal page for a member", &html, &["by ERASER"]);

    // An invitation, as the person invited sees it.
    let token = invitation(&ana, "MK", "member").await;
    let dan = app.user("dan@example.com", "Dan").await;
    let (status, html) = app.get(&dan, &format!("/invite/{token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_inert("the invitation page", &html);
    assert_shows("the invitation page", &html, &["TEAMNAME"]);

    // The badge.
    let (status, svg) = app.get(&ana.browser, &format!("/d/{one}/badge.svg")).await;
    assert_eq!(status, StatusCode::OK);
    assert_inert("the badge", &svg);

    // The Atom feed: its content is HTML written as text, so what a feed
    // reader shows is the content once unescaped by the XML parser.
    let feeds = format!("/t/{slug}/feeds");
    let r = app
        .post_form(
            &ana.browser,
            &feeds,
            &feeds,
            &[("kind", "decisions"), ("label", "reader")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, &feeds).await;
    let marker = "id=\"feed-url\" readonly value=\"";
    let start = html.find(marker).expect("the new URL is shown") + marker.len();
    let url: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let url = url.replace("&amp;", "&");
    let xml = reqwest::get(&url)
        .await
        .expect("GET")
        .text()
        .await
        .expect("feed");
    let feed = xml.parse::<atom_syndication::Feed>().expect("an Atom feed");
    let entry = &feed.entries()[0];
    let content = entry
        .content()
        .and_then(|c| c.value())
        .expect("content")
        .to_string();
    assert_inert("the feed entry's HTML", &content);
    assert_shows(
        "the feed entry's HTML",
        &content,
        &["STATEMENT", "content erased on", "by ERASER"],
    );

    // Mail: the HTML part of every message sent.
    let mails = sent_mail(&app).await;
    assert!(mails.len() >= 3, "mail was sent: {}", mails.len());
    let mut all_html = String::new();
    for raw in &mails {
        let message = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a mail");
        let html = message.body_html(0).expect("an HTML part").to_string();
        assert_inert("a mail's HTML part", &html);
        all_html.push_str(&html);
    }
    assert_shows(
        "the mails' HTML parts",
        &all_html,
        &["TITLEONE", "TEAMNAME", "STATEMENT"],
    );
}

/// Every message the app wrote to its mail folder, once the outbox has
/// drained.
async fn sent_mail(app: &TestApp) -> Vec<String> {
    for _ in 0..300 {
        let busy: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')"
        )
        .fetch_one(c)
        .await)
        .expect("count");
        if busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut mails = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&app.mail_dir) {
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                mails.push(text);
            }
        }
    }
    mails
}
