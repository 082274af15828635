//! Live updates (issue #8): a member's Server-Sent Events stream of the
//! team's new log entries, read here as a browser's EventSource would.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, in_seconds, location, spawn};

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sse {
    pub(crate) id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

impl Sse {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("JSON data")
    }

    pub(crate) fn index(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|i| i.parse().ok())
            .expect("event id")
    }
}

/// An open stream, parsed as the EventSource specification says.
pub(crate) struct Stream {
    response: Response,
    buffer: String,
}

impl Stream {
    pub(crate) async fn open(client: &Client, url: &str, last_event_id: Option<i64>) -> Self {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("GET stream");
        assert_eq!(response.status(), StatusCode::OK, "stream refused");
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("text/event-stream")
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event with data (comments and the retry line skipped), or
    /// `None` when the server ends the stream. Fails after 5 s.
    pub(crate) async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Sse::default();
                let mut has_data = false;
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => event.id = Some(value.to_string()),
                        "event" => event.event = Some(value.to_string()),
                        "data" => {
                            if has_data {
                                event.data.push('\n');
                            }
                            event.data.push_str(value);
                            has_data = true;
                        }
                        _ => {}
                    }
                }
                if has_data {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .expect("an event within 5 s")
                .expect("stream readable")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Whether nothing but keep-alives arrives for `wait`.
    async fn quiet_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.next()).await.is_err()
    }
}

/// A team `key` of Ana (admin) and Bob, with one open proposal; its id.
async fn team_with_proposal(app: &TestApp, key: &str) -> (Api, Api, String) {
    let ana = app.api_user(&format!("ana@{key}.example"), "Ana").await;
    let bob = app.api_user(&format!("bob@{key}.example"), "Bob").await;
    app.team(key, &ana, &[&bob], &[]).await;
    let id = ana
        .propose(key, "Adopt live updates", &ana.email, &in_seconds(3600))
        .await;
    (ana, bob, id)
}

fn url(app: &TestApp, slug: &str) -> String {
    format!("{}/t/{slug}/live", app.base)
}

async fn comment(who: &Api, id: &str, body: &str) -> i64 {
    let (status, answer) = who
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({ "body": body }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["log_index"].as_i64().expect("log index")
}

#[tokio::test]
async fn a_member_hears_each_new_entry_with_its_log_index() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "LIVE").await;
    let number: i64 = id.trim_start_matches("LIVE-").parse().expect("number");
    let mut stream = Stream::open(&bob.browser, &url(&app, "team-live"), None).await;

    let (status, answer) = ana.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let stance_index = answer["log_index"].as_i64().expect("log index");
    let comment_index = comment(&ana, &id, "Within a second, please.").await;

    let first = stream.next().await.expect("an event");
    assert_eq!(first.event, None, "a plain message");
    assert_eq!(first.index(), stance_index);
    assert_eq!(
        first.json(),
        json!({"index": stance_index, "kind": "stance_taken", "proposal": number})
    );
    let second = stream.next().await.expect("an event");
    assert_eq!(second.index(), comment_index);
    assert_eq!(second.json()["kind"], "comment_added");
    assert_eq!(second.json()["proposal"], number);
    assert!(
        !second.data.contains("Within a second"),
        "events name entries, they carry no content"
    );
}

#[tokio::test]
async fn only_the_teams_own_entries_reach_its_watchers() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "MINE").await;
    let (other, _, other_id) = team_with_proposal(&app, "THEIRS").await;
    let mut stream = Stream::open(&bob.browser, &url(&app, "team-mine"), None).await;
    comment(&other, &other_id, "Another team's business.").await;
    let mine = comment(&ana, &id, "Ours.").await;
    let heard = stream.next().await.expect("an event");
    assert_eq!(heard.index(), mine, "the other team's entry never arrived");
    assert_eq!(heard.json()["kind"], "comment_added");
}

#[tokio::test]
async fn a_reconnecting_browser_gets_what_it_missed_in_order() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "RESUME").await;
    let live = url(&app, "team-resume");
    let mut stream = Stream::open(&bob.browser, &live, None).await;
    let seen = comment(&ana, &id, "Before the train's tunnel.").await;
    assert_eq!(stream.next().await.expect("event").index(), seen);
    drop(stream);

    // While Bob is offline.
    let missed = [
        comment(&ana, &id, "One.").await,
        ana.stance(&id, "object", Some("Costs too much")).await.1["log_index"]
            .as_i64()
            .expect("index"),
        comment(&ana, &id, "Two.").await,
    ];
    let mut stream = Stream::open(&bob.browser, &live, Some(seen)).await;
    for expected in missed {
        assert_eq!(stream.next().await.expect("replayed").index(), expected);
    }
    // Then live again, with no repeat of the replayed entries.
    let after = comment(&ana, &id, "Back online.").await;
    assert_eq!(stream.next().await.expect("live").index(), after);

    // Last-Event-ID wins over the page's `after`.
    let mut stream = Stream::open(
        &bob.browser,
        &format!("{live}?after={}", seen - 1),
        Some(after - 1),
    )
    .await;
    assert_eq!(stream.next().await.expect("replayed").index(), after);
}

#[tokio::test]
async fn the_page_names_the_index_the_stream_resumes_after() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "PAGE").await;
    let (status, html) = app.get(&bob.browser, &format!("/d/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let marker = "data-live=\"";
    let start = html.find(marker).expect("the page names its stream") + marker.len();
    let path: String = html[start..].chars().take_while(|c| *c != '"').collect();
    assert!(path.starts_with("/t/team-page/live?after="), "{path}");
    assert!(html.contains("/static/live.js"));

    // An entry between the page load and the script's connection.
    let between = comment(&ana, &id, "Posted while the page loaded.").await;
    let mut stream = Stream::open(&bob.browser, &format!("{}{path}", app.base), None).await;
    assert_eq!(stream.next().await.expect("replayed").index(), between);

    // The dashboard too.
    let (_, dashboard) = app.get(&bob.browser, "/t/team-page").await;
    assert!(dashboard.contains(&format!("data-live=\"/t/team-page/live?after={between}\"")));
    let script = Client::new()
        .get(format!("{}/static/live.js", app.base))
        .send()
        .await
        .expect("GET script");
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().await.expect("text").contains("EventSource"));
}

#[tokio::test]
async fn only_members_get_a_stream() {
    let app = spawn().await;
    let (_, _, _) = team_with_proposal(&app, "CLOSED").await;
    let live = url(&app, "team-closed");

    let outsider = app.user("eve@example.com", "Eve").await;
    let r = outsider.get(&live).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let stranger = crate::helpers::browser();
    let r = stranger.get(&live).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/sign-in"));

    let r = stranger
        .get(format!("{}/t/no-such-team/live", app.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

/// A client that sends `token` as a bearer token and no cookie.
fn with_token(token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn an_api_client_watches_with_its_personal_api_token() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "TOKEN").await;
    let mut stream = Stream::open(&with_token(&bob.token), &url(&app, "team-token"), None).await;
    let index = comment(&ana, &id, "Heard by a script.").await;
    let event = stream.next().await.expect("an event");
    assert_eq!(event.index(), index);
    assert_eq!(event.json()["kind"], "comment_added");

    // As on the API: another team's token gets 404, a bad token 401.
    let (eve, _, _) = team_with_proposal(&app, "ELSE").await;
    for (token, expected, code) in [
        (eve.token.as_str(), StatusCode::NOT_FOUND, "not_found"),
        ("stl_not-a-token", StatusCode::UNAUTHORIZED, "unauthorized"),
    ] {
        let r = with_token(token)
            .get(url(&app, "team-token"))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), expected, "{token}");
        let body: Value = r.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
}

#[tokio::test]
async fn a_bad_resume_point_is_refused_and_one_ahead_of_the_log_resyncs() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "ODD").await;
    let live = url(&app, "team-odd");
    for bad in ["soon", "-2", "1e3"] {
        let r = bob
            .browser
            .get(&live)
            .header("last-event-id", bad)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let r = bob
            .browser
            .get(format!("{live}?after={bad}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    // An index this log never had (another instance's, a restored backup's).
    let mut stream = Stream::open(&bob.browser, &live, Some(1_000_000)).await;
    let resync = stream.next().await.expect("resync");
    assert_eq!(resync.event.as_deref(), Some("resync"));
    let head = resync.index();
    let next = comment(&ana, &id, "After the resync.").await;
    assert_eq!(next, head + 1, "the resync id is the log's last index");
    assert_eq!(stream.next().await.expect("live").index(), next);
}

#[tokio::test]
async fn a_watcher_far_behind_is_told_to_resync_instead_of_a_replay() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "BEHIND").await;
    // More than the replay limit (1,000) of entries after index 0.
    let indices: Vec<i64> = futures_util::stream::iter(0..1010)
        .map(|i| {
            let ana = &ana;
            let id = &id;
            async move { comment(ana, id, &format!("Comment {i}")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let last = indices.into_iter().max().expect("some");
    let mut stream = Stream::open(&bob.browser, &url(&app, "team-behind"), Some(0)).await;
    let resync = stream.next().await.expect("resync");
    assert_eq!(resync.event.as_deref(), Some("resync"));
    assert_eq!(resync.index(), last);
    assert!(stream.quiet_for(Duration::from_millis(300)).await);
}

#[tokio::test]
async fn a_member_removed_while_watching_is_told_and_cut_off() {
    let app = spawn().await;
    let (ana, bob, id) = team_with_proposal(&app, "GONE").await;
    let mut stream = Stream::open(&bob.browser, &url(&app, "team-gone"), None).await;
    let bob_id = app.user_id(&bob.email).await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-gone/settings",
            &format!("/t/team-gone/members/{bob_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let removal = stream.next().await.expect("the removal entry");
    assert_eq!(removal.json()["kind"], "member_removed");
    let end = stream.next().await.expect("end");
    assert_eq!(end.event.as_deref(), Some("end"));
    assert_eq!(stream.next().await, None, "the stream is closed");
    // Nothing of the team after that.
    comment(&ana, &id, "Bob must not hear this.").await;
    let r = bob
        .browser
        .get(url(&app, "team-gone"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
