//! Subscription feeds (issue #8): the Atom feed of recorded decisions and the
//! iCalendar feed of deadlines waiting for a member's stance, each at a
//! private, revocable URL. Both are read back with real parsers.

use atom_syndication::Feed;
use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime};
use reqwest::{Client, StatusCode};
use serde_json::json;
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, invitation, spawn};

/// Creates a feed URL of `kind` for `who` on team `slug` through the page's
/// form and returns it as the page showed it (once).
async fn create_feed(app: &TestApp, who: &Api, slug: &str, kind: &str, label: &str) -> String {
    let page = format!("/t/{slug}/feeds");
    let r = app
        .post_form(
            &who.browser,
            &page,
            &page,
            &[("kind", kind), ("label", label)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, html) = app.get(&who.browser, &page).await;
    assert_eq!(status, StatusCode::OK);
    let marker = "id=\"feed-url\" readonly value=\"";
    let start = html.find(marker).expect("the new URL is shown") + marker.len();
    let url: String = html[start..].chars().take_while(|c| *c != '"').collect();
    assert!(html.contains(label), "the list names it");
    let (_, again) = app.get(&who.browser, &page).await;
    assert!(!again.contains(&url), "shown only once");
    url
}

/// GETs a feed without any session: status, content type and body.
async fn fetch(url: &str) -> (StatusCode, String, String) {
    let r = Client::new().get(url).send().await.expect("GET");
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, r.text().await.expect("body"))
}

async fn atom(url: &str) -> Feed {
    let (status, content_type, body) = fetch(url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/atom+xml; charset=utf-8");
    body.parse::<Feed>().expect("a well-formed Atom feed")
}

async fn ics(url: &str) -> (String, Calendar) {
    let (status, content_type, body) = fetch(url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "text/calendar; charset=utf-8");
    let calendar = body.parse::<Calendar>().expect("a valid iCalendar");
    (body, calendar)
}

/// Everyone votes, then `decider` records `outcome`; returns the sealing
/// entry's log index.
async fn decide(decider: &Api, voters: &[&Api], id: &str, outcome: &str, statement: &str) -> i64 {
    for voter in voters {
        let (status, body) = voter.stance(id, "agree", None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = decider
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": outcome, "statement": statement, "rationale": "Because *measured*."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["log_index"].as_i64().expect("log index")
}

#[tokio::test]
async fn the_decisions_feed_is_atom_with_the_teams_decisions_newest_first() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("FD", &ana, &[&bob], &[]).await;
    let first = ana
        .propose("FD", "Use PostgreSQL", &ana.email, &in_seconds(3600))
        .await;
    let second = ana
        .propose(
            "FD",
            "Rewrite <everything> & more",
            &bob.email,
            &in_seconds(3600),
        )
        .await;
    let open = ana
        .propose("FD", "Still open", &ana.email, &in_seconds(3600))
        .await;
    decide(
        &ana,
        &[&ana, &bob],
        &first,
        "accepted",
        "We use **PostgreSQL** 17.",
    )
    .await;
    decide(&bob, &[&ana, &bob], &second, "rejected", "Not now.").await;

    let url = create_feed(&app, &bob, "team-fd", "decisions", "reader").await;
    assert!(url.starts_with(&format!("{}/feeds/decisions.atom?token=stf_", app.base)));
    let feed = atom(&url).await;
    assert_eq!(feed.title().as_str(), "Team FD: decisions");
    assert!(
        feed.links()
            .iter()
            .any(|l| l.rel() == "self" && l.href() == url)
    );

    let entries = feed.entries();
    assert_eq!(entries.len(), 2, "decided proposals only, not {open}");
    let titles: Vec<&str> = entries.iter().map(|e| e.title().as_str()).collect();
    assert_eq!(
        titles,
        [
            "FD-2: Rewrite <everything> & more — rejected",
            "FD-1: Use PostgreSQL — accepted"
        ],
        "newest decision first, text unescaped by the parser"
    );
    assert!(entries[0].updated() >= entries[1].updated());
    for (entry, id) in entries.iter().zip([&second, &first]) {
        let links: Vec<&str> = entries_links(entry);
        assert_eq!(links, [format!("{}/d/{id}", app.base)]);
        assert!(entry.id().starts_with("tag:127.0.0.1,"), "{}", entry.id());
        assert_eq!(entry.published(), Some(entry.updated()));
    }
    assert_ne!(entries[0].id(), entries[1].id());
    assert_eq!(entries[0].authors()[0].name(), "Bob", "the decider");
    assert_eq!(entries[1].authors()[0].name(), "Ana");
    let content = entries[1].content().expect("content");
    assert_eq!(content.content_type(), Some("html"));
    let html = content.value().expect("html");
    assert!(
        html.contains("<strong>PostgreSQL</strong>") && html.contains("<em>measured</em>"),
        "statement and rationale as HTML: {html}"
    );

    // Entry ids survive a key rename; links follow the new key.
    let ids: Vec<String> = entries.iter().map(|e| e.id().to_string()).collect();
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-fd/settings",
            "/t/team-fd/key",
            &[("key", "FEED")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let renamed = atom(&url).await;
    let after: Vec<&str> = renamed.entries().iter().map(|e| e.id()).collect();
    assert_eq!(after, ids);
    assert_eq!(
        entries_links(&renamed.entries()[1]),
        [format!("{}/d/FEED-1", app.base)]
    );
}

fn entries_links(entry: &atom_syndication::Entry) -> Vec<&str> {
    entry
        .links()
        .iter()
        .filter(|l| l.rel() == "alternate")
        .map(|l| l.href())
        .collect()
}

#[tokio::test]
async fn feeds_answer_not_modified_when_nothing_changed() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("NM", &ana, &[], &[]).await;
    ana.propose("NM", "Cache me", &ana.email, &in_seconds(3600))
        .await;
    for kind in ["decisions", "deadlines"] {
        let url = create_feed(&app, &ana, "team-nm", kind, kind).await;
        let r = Client::new().get(&url).send().await.expect("GET");
        assert_eq!(r.status(), StatusCode::OK);
        let cache = r.headers()["cache-control"].to_str().expect("ascii");
        assert!(cache.contains("private"), "{cache}");
        let etag = r.headers()["etag"].clone();
        let again = Client::new()
            .get(&url)
            .header("if-none-match", etag)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{kind}");
    }
}

#[tokio::test]
async fn the_deadlines_calendar_lists_only_proposals_waiting_for_my_stance() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("CAL", &ana, &[&bob], &[]).await;
    let voted = ana
        .propose("CAL", "Bob already voted", &ana.email, &in_seconds(7200))
        .await;
    let long_title = "Adopt a calendar; with commas, semicolons; a back\\slash, and a title long enough to fold — über 75 octets";
    let waiting = ana
        .propose("CAL", long_title, &ana.email, &in_seconds(3600))
        .await;
    let decided = ana
        .propose("CAL", "Decided already", &ana.email, &in_seconds(3600))
        .await;
    decide(&ana, &[&ana, &bob], &decided, "accepted", "Done.").await;
    let (status, body) = bob.stance(&voted, "disagree", Some("No")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let url = create_feed(&app, &bob, "team-cal", "deadlines", "phone").await;
    assert!(url.starts_with(&format!("{}/feeds/deadlines.ics?token=stf_", app.base)));
    let (body, calendar) = ics(&url).await;

    // The text itself: CRLF line ends, no line over 75 octets, long ones folded.
    assert!(body.ends_with("\r\n"));
    assert!(
        !body.replace("\r\n", "").contains('\n'),
        "only CRLF line ends"
    );
    let lines: Vec<&str> = body.trim_end_matches("\r\n").split("\r\n").collect();
    assert!(
        lines.iter().all(|l| l.len() <= 75),
        "folded at 75 octets: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(' ')),
        "long lines folded"
    );
    let unfolded = body.replace("\r\n ", "");
    assert!(unfolded.contains("\\;") && unfolded.contains("\\,") && unfolded.contains("\\\\"));

    let events: Vec<_> = calendar.events().collect();
    assert_eq!(events.len(), 1, "only {waiting}: {body}");
    let event = events[0];
    assert_eq!(
        event.get_summary(),
        Some(format!("Stance due: {waiting} {long_title}").as_str()),
        "escaped, folded and read back unchanged"
    );
    assert_eq!(
        event.get_url(),
        Some(format!("{}/d/{waiting}", app.base).as_str())
    );
    assert!(
        event.get_description().is_some_and(
            |d| d.contains(&format!("{}/d/{waiting}", app.base)) && d.contains("Ana decides")
        ),
        "{:?}",
        event.get_description()
    );
    assert!(event.get_timestamp().is_some(), "DTSTAMP");
    let uid = event.get_uid().expect("UID").to_string();
    assert!(uid.ends_with("@127.0.0.1"), "{uid}");
    let (_, proposal) = bob.get(&format!("/api/v1/decisions/{waiting}")).await;
    let closes =
        chrono::DateTime::parse_from_rfc3339(proposal["closes_at"].as_str().expect("closes_at"))
            .expect("time")
            .with_timezone(&chrono::Utc);
    let Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(start))) = event.get_start() else {
        panic!("DTSTART in UTC: {:?}", event.get_start());
    };
    assert_eq!(
        start.timestamp(),
        closes.timestamp(),
        "the deadline, in UTC"
    );

    // The token names its member: Ana has voted on neither open proposal.
    let anas = create_feed(&app, &ana, "team-cal", "deadlines", "ana").await;
    let (_, theirs) = ics(&anas).await;
    let mut uids: Vec<String> = theirs
        .events()
        .map(|e| e.get_uid().expect("UID").to_string())
        .collect();
    uids.sort();
    assert_eq!(uids.len(), 2);
    assert!(uids.contains(&uid), "UIDs are stable across feeds");

    // Once Bob takes a stance, the deadline leaves his calendar.
    let (status, _) = bob.stance(&waiting, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, after) = ics(&url).await;
    assert_eq!(after.events().count(), 0);
}

#[tokio::test]
async fn revoked_unknown_or_mismatched_feed_tokens_answer_404() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("REV", &ana, &[&bob], &[]).await;
    let url = create_feed(&app, &bob, "team-rev", "decisions", "reader").await;
    let calendar = create_feed(&app, &bob, "team-rev", "deadlines", "calendar").await;
    assert_eq!(fetch(&url).await.0, StatusCode::OK);
    let token = url.split("token=").nth(1).expect("token").to_string();
    let count = |value: Vec<u8>| {
        let db = app.db.clone();
        async move {
            on!(db.reader(), |c| sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM feed_tokens WHERE token_hash = $1"
            )
            .bind(value)
            .fetch_one(c)
            .await)
            .expect("query")
        }
    };
    assert_eq!(
        count(token.as_bytes().to_vec()).await,
        0,
        "the token is not kept"
    );
    assert_eq!(
        count(settled::db::users::token_hash(&token)).await,
        1,
        "only its hash"
    );

    // A token opens its own feed only; unknown and missing tokens see nothing.
    let base = &app.base;
    for wrong in [
        format!("{base}/feeds/deadlines.ics?token={token}"),
        format!("{base}/feeds/decisions.atom?token=stf_unknown"),
        format!("{base}/feeds/decisions.atom?token={}x", token),
        format!("{base}/feeds/decisions.atom"),
    ] {
        assert_eq!(fetch(&wrong).await.0, StatusCode::NOT_FOUND, "{wrong}");
    }

    // Another member cannot revoke Bob's feed; Bob can.
    let (_, html) = app.get(&bob.browser, "/t/team-rev/feeds").await;
    let marker = "/t/team-rev/feeds/";
    let ids: Vec<String> = html
        .match_indices(marker)
        .map(|(i, _)| {
            html[i + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|id| !id.is_empty())
        .collect();
    assert_eq!(ids.len(), 2, "both listed");
    // Newest first: the calendar, then the reader.
    let reader_id = &ids[1];
    let revoke = format!("/t/team-rev/feeds/{reader_id}/revoke");
    let r = app
        .post_form(&ana.browser, "/t/team-rev/feeds", &revoke, &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(fetch(&url).await.0, StatusCode::OK, "not Ana's to revoke");

    // Without the form's CSRF token nothing happens.
    let r = bob
        .browser
        .post(format!("{base}{revoke}"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(fetch(&url).await.0, StatusCode::OK);

    let r = app
        .post_form(&bob.browser, "/t/team-rev/feeds", &revoke, &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _, body) = fetch(&url).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("revoked"), "no hint: {body}");
    assert_eq!(fetch(&calendar).await.0, StatusCode::OK, "the other stays");
    let (_, html) = app.get(&bob.browser, "/t/team-rev/feeds").await;
    assert!(
        html.contains(">calendar<") && !html.contains(">reader<"),
        "{html}"
    );
}

#[tokio::test]
async fn a_feed_stops_working_when_its_member_leaves_the_team() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("GONE", &ana, &[&bob], &[]).await;
    let decisions = create_feed(&app, &bob, "team-gone", "decisions", "reader").await;
    let deadlines = create_feed(&app, &bob, "team-gone", "deadlines", "calendar").await;
    assert_eq!(fetch(&decisions).await.0, StatusCode::OK);

    let bob_id = app.user_id("bob@example.com").await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-gone/settings",
            &format!("/t/team-gone/members/{bob_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for url in [&decisions, &deadlines] {
        assert_eq!(fetch(url).await.0, StatusCode::NOT_FOUND, "{url}");
    }

    // Joining again does not bring the old addresses back.
    let token = invitation(&ana, "GONE", "member").await;
    let (status, body) = bob
        .post(&format!("/api/v1/invitations/{token}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for url in [&decisions, &deadlines] {
        assert_eq!(fetch(url).await.0, StatusCode::NOT_FOUND, "{url}");
    }
    let (_, html) = app.get(&bob.browser, "/t/team-gone/feeds").await;
    assert!(html.contains("You have no feed address"), "{html}");
    let fresh = create_feed(&app, &bob, "team-gone", "decisions", "again").await;
    assert_eq!(fetch(&fresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_member_of_another_team_cannot_subscribe_to_it() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let eve = app.api_user("eve@example.com", "Eve").await;
    app.team("MINE", &ana, &[], &[]).await;
    app.team("EVE", &eve, &[], &[]).await;
    let id = ana
        .propose("MINE", "Private plans", &ana.email, &in_seconds(3600))
        .await;
    decide(&ana, &[&ana], &id, "accepted", "Secret statement.").await;

    assert_eq!(
        app.get(&eve.browser, "/t/team-mine/feeds").await.0,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post_form(
            &eve.browser,
            "/t/team-eve/feeds",
            "/t/team-mine/feeds",
            &[("kind", "decisions"), ("label", "peek")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let count: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM feed_tokens"
    )
    .fetch_one(c)
    .await)
    .expect("query");
    assert_eq!(count, 0);

    // Eve's own feed is about her team only.
    let url = create_feed(&app, &eve, "team-eve", "decisions", "mine").await;
    let (status, _, body) = fetch(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("Private plans") && !body.contains("Secret statement"));
    assert!(body.parse::<Feed>().expect("atom").entries().is_empty());
}

#[tokio::test]
async fn erased_texts_stay_erased_in_the_feeds() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("ER", &ana, &[], &[]).await;
    let id = ana
        .propose("ER", "Visible title", &ana.email, &in_seconds(3600))
        .await;
    let sealed = decide(
        &ana,
        &[&ana],
        &id,
        "accepted",
        "Dana's phone number is 555-0100.",
    )
    .await;
    let open = ana
        .propose("ER", "Title naming Dana", &ana.email, &in_seconds(3600))
        .await;
    let opened: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries WHERE kind = 'proposal_created' AND proposal_number = 2",
    )
    .fetch_one(c)
    .await)
    .expect("entry");
    for (index, field) in [(sealed, "statement"), (opened, "title")] {
        let (status, body) = ana
            .post(
                "/api/v1/teams/ER/erasures",
                json!({"index": index, "field": field}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let url = create_feed(&app, &ana, "team-er", "decisions", "reader").await;
    let (_, _, body) = fetch(&url).await;
    assert!(!body.contains("555-0100"), "{body}");
    let feed = body.parse::<Feed>().expect("atom");
    let html = feed.entries()[0]
        .content()
        .and_then(|c| c.value())
        .expect("content");
    assert!(
        html.contains("content erased on") && html.contains("by Ana"),
        "{html}"
    );
    assert!(html.contains("measured"), "the rationale was not erased");

    let calendar = create_feed(&app, &ana, "team-er", "deadlines", "calendar").await;
    let (body, parsed) = ics(&calendar).await;
    assert!(!body.contains("Dana"), "{body}");
    let summary = parsed
        .events()
        .next()
        .and_then(|e| e.get_summary().map(str::to_string));
    assert_eq!(summary, Some(format!("Stance due: {open} (title erased)")));
}

#[tokio::test]
async fn a_feed_entry_carries_the_answer_to_each_objection() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    app.team("OBJ", &ana, &[&bob, &chen], &[]).await;
    let id = ana
        .propose(
            "OBJ",
            "Freeze deploys in December",
            &ana.email,
            &in_seconds(3600),
        )
        .await;
    let (status, _) = ana.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED);
    for (who, reason) in [
        (&bob, "Hotfixes must still ship."),
        (&chen, "Chen's private reason."),
    ] {
        let (status, body) = who.stance(&id, "object", Some(reason)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({
                "outcome": "accepted",
                "statement": "No deploys from 20 December.",
                "responses": {
                    "bob@example.com": "Hotfixes ship **with two reviews**.",
                    "chen@example.com": "Answer naming Chen's illness.",
                },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sealed = body["log_index"].as_i64().expect("log index");
    let chen_id = app.user_id(&chen.email).await;
    let (status, body) = ana
        .post(
            "/api/v1/teams/OBJ/erasures",
            json!({"index": sealed, "field": format!("responses.{chen_id}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let url = create_feed(&app, &bob, "team-obj", "decisions", "reader").await;
    let feed = atom(&url).await;
    let html = feed.entries()[0]
        .content()
        .and_then(|c| c.value())
        .expect("content");
    assert!(html.contains("Answer to Bob&#39;s objection"), "{html}");
    assert!(html.contains("Answer to Chen&#39;s objection"), "{html}");
    assert!(html.contains("<strong>with two reviews</strong>"), "{html}");
    assert!(
        !html.contains("illness"),
        "an erased answer stays erased: {html}"
    );
    assert!(html.contains("content erased on"), "{html}");
}
