//! Code-host webhooks with the hosts' own payloads (tests/fixtures/hooks,
//! see its README for sources and licences), edited only where a test says
//! so: decision references in titles, bodies and comments, states and times.

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, spawn};

fn fixture(name: &str) -> Value {
    hook_fixture(&format!("github/{name}"))
}

/// A payload from tests/fixtures/hooks (`host/file`).
fn hook_fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/hooks/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(
    app: &TestApp,
    event: &str,
    body: &Value,
    signature: Option<String>,
    delivery: &str,
) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).expect("json");
    let mut req = reqwest::Client::new()
        .post(format!("{}/hooks/team-hook/github", app.base))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .body(bytes);
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    let r = req.send().await.expect("POST");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn secret(app: &TestApp, admin: &Api) -> String {
    secret_for(app, admin, "github").await
}

/// Creates a webhook secret for `host` in team settings and reads it from the
/// page, where it is shown once.
async fn secret_for(app: &TestApp, admin: &Api, host: &str) -> String {
    let r = app
        .post_form(
            &admin.browser,
            "/t/team-hook/settings",
            "/t/team-hook/webhooks",
            &[("host", host)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&admin.browser, "/t/team-hook/settings").await;
    let marker = "id=\"webhook-secret\" readonly value=\"";
    let start = html.find(marker).expect("secret shown") + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test]
async fn signed_pull_request_events_link_decisions_and_follow_their_state() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    app.team("OTHER", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "Adopt webhooks", &ana.email, &in_seconds(3600))
        .await;
    let d2 = ana
        .propose("HOOK", "Second", &ana.email, &in_seconds(3600))
        .await;
    let key = secret(&app, &ana).await;

    let mut opened = fixture("pull_request.opened.payload.json");
    opened["pull_request"]["title"] = json!(format!("Implements {d1}"));
    opened["pull_request"]["body"] = json!("Also relates to OTHER-1 and HOOK-99.");
    let body = serde_json::to_vec(&opened).expect("json");

    // Missing and wrong signatures store nothing.
    let (status, _) = deliver(&app, "pull_request", &opened, None, "d-0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = deliver(
        &app,
        "pull_request",
        &opened,
        Some(sign("wrong secret", &body)),
        "d-0",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let count: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM pr_links"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(count, 0);

    let (status, answer) = deliver(
        &app,
        "pull_request",
        &opened,
        Some(sign(&key, &body)),
        "d-1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["recorded"], 1,
        "only this team's existing decisions: {answer}"
    );
    // A redelivery changes nothing.
    let (_, again) = deliver(
        &app,
        "pull_request",
        &opened,
        Some(sign(&key, &body)),
        "d-1",
    )
    .await;
    assert_eq!(again["recorded"], 0);

    let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
    assert!(
        html.contains("Referenced by")
            && html.contains("Codertocat/Hello-World#2")
            && html.contains(">open<"),
        "page shows the PR"
    );
    let (_, html) = app.get(&ana.browser, &format!("/d/{d2}")).await;
    assert!(!html.contains("Referenced by"));

    // Closed with merge → merged; the published closed payload is unmerged.
    let mut closed = fixture("pull_request.closed.payload.json");
    closed["pull_request"]["title"] = json!(format!("Implements {d1}"));
    let body = serde_json::to_vec(&closed).expect("json");
    deliver(
        &app,
        "pull_request",
        &closed,
        Some(sign(&key, &body)),
        "d-2",
    )
    .await;
    let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
    assert!(html.contains(">closed<"));
    closed["pull_request"]["merged"] = json!(true);
    let body = serde_json::to_vec(&closed).expect("json");
    deliver(
        &app,
        "pull_request",
        &closed,
        Some(sign(&key, &body)),
        "d-3",
    )
    .await;
    let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
    assert!(html.contains(">merged<"));

    // A comment on the PR referencing another decision links it, keeping state.
    let mut comment = fixture("issue_comment.created.payload.json");
    comment["issue"]["pull_request"] =
        json!({"html_url": "https://github.com/Codertocat/Hello-World/pull/1"});
    comment["comment"]["body"] = json!(format!("See also {d2}."));
    let body = serde_json::to_vec(&comment).expect("json");
    let (status, answer) = deliver(
        &app,
        "issue_comment",
        &comment,
        Some(sign(&key, &body)),
        "d-4",
    )
    .await;
    assert_eq!(
        (status, answer["recorded"].clone()),
        (StatusCode::OK, json!(1)),
        "{answer}"
    );
    let (_, html) = app.get(&ana.browser, &format!("/d/{d2}")).await;
    assert!(html.contains("Codertocat/Hello-World#1"));

    // Ping and unknown events are acknowledged, nothing stored.
    let ping = fixture("ping.payload.json");
    let body = serde_json::to_vec(&ping).expect("json");
    assert_eq!(
        deliver(&app, "ping", &ping, Some(sign(&key, &body)), "d-5")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        deliver(&app, "star", &ping, Some(sign(&key, &body)), "d-6")
            .await
            .0,
        StatusCode::ACCEPTED
    );

    let kinds: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT kind FROM log_entries WHERE kind = 'pr_referenced'"
    )
    .fetch_all(c)
    .await)
    .expect("q");
    assert_eq!(kinds.len(), 4, "opened, closed, merged, comment");
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn secrets_rotate_old_ones_stop_working_when_removed() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "Rotate", &ana.email, &in_seconds(3600))
        .await;
    let old = secret(&app, &ana).await;
    let new = secret(&app, &ana).await;
    assert_ne!(old, new);
    let mut opened = fixture("pull_request.opened.with-null-body.json");
    opened["pull_request"]["title"] = json!(format!("Fixes {d1}"));
    let body = serde_json::to_vec(&opened).expect("json");
    for (i, key) in [&old, &new].into_iter().enumerate() {
        let (status, _) = deliver(
            &app,
            "pull_request",
            &opened,
            Some(sign(key, &body)),
            &format!("r-{i}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "both secrets work during rotation");
    }
    let old_id: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT MIN(id) FROM webhook_secrets"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-hook/settings",
            &format!("/t/team-hook/webhooks/{old_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = deliver(
        &app,
        "pull_request",
        &opened,
        Some(sign(&old, &body)),
        "r-9",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = deliver(
        &app,
        "pull_request",
        &opened,
        Some(sign(&new, &body)),
        "r-10",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn gitlab_merge_requests_link_decisions_with_their_token() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "GitLab too", &ana.email, &in_seconds(3600))
        .await;
    let token = secret_for(&app, &ana, "gitlab").await;

    let mut payload = hook_fixture("gitlab/merge_request.json");
    payload["object_attributes"]["description"] = json!(format!("Implements {d1}."));
    let send = |token: Option<String>, state: &'static str, uuid: &'static str| {
        let mut payload = payload.clone();
        payload["object_attributes"]["state"] = json!(state);
        let base = app.base.clone();
        async move {
            let mut req = reqwest::Client::new()
                .post(format!("{base}/hooks/team-hook/gitlab"))
                .header("x-gitlab-event", "Merge Request Hook")
                .header("x-gitlab-event-uuid", uuid)
                .json(&payload);
            if let Some(t) = token {
                req = req.header("x-gitlab-token", t);
            }
            req.send().await.expect("POST").status()
        }
    };
    assert_eq!(send(None, "opened", "u1").await, StatusCode::BAD_REQUEST);
    assert_eq!(
        send(Some("wrong".into()), "opened", "u1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(Some(token.clone()), "opened", "u1").await,
        StatusCode::OK
    );
    let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
    assert!(
        html.contains("gitlabhq/gitlab-test#1") && html.contains(">open<"),
        "merge request shown"
    );
    assert_eq!(
        send(Some(token.clone()), "merged", "u2").await,
        StatusCode::OK
    );
    let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
    assert!(html.contains(">merged<"));
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn gitea_and_forgejo_sign_with_a_plain_hex_hmac() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "Self-hosted forges", &ana.email, &in_seconds(3600))
        .await;
    for (host, event_header, signature_header) in [
        ("gitea", "x-gitea-event", "x-gitea-signature"),
        ("forgejo", "x-forgejo-event", "x-forgejo-signature"),
    ] {
        let key = secret_for(&app, &ana, host).await;
        // Gitea's pull_request payload has GitHub's shape for what we read.
        let mut payload = fixture("pull_request.opened.payload.json");
        payload["pull_request"]["title"] = json!(format!("{host}: implements {d1}"));
        payload["pull_request"]["html_url"] =
            json!(format!("https://{host}.example/org/repo/pulls/2"));
        payload["repository"]["full_name"] = json!(format!("org/{host}-repo"));
        let body = serde_json::to_vec(&payload).expect("json");
        let hex_sig = sign(&key, &body).trim_start_matches("sha256=").to_string();
        let post = |signature: String| {
            let base = app.base.clone();
            let body = body.clone();
            async move {
                reqwest::Client::new()
                    .post(format!("{base}/hooks/team-hook/{host}"))
                    .header("content-type", "application/json")
                    .header(event_header, "pull_request")
                    .header(signature_header, signature)
                    .body(body)
                    .send()
                    .await
                    .expect("POST")
                    .status()
            }
        };
        assert_eq!(
            post(
                sign("wrong", &body)
                    .trim_start_matches("sha256=")
                    .to_string()
            )
            .await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(post(hex_sig).await, StatusCode::OK);
        let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
        assert!(
            html.contains(&format!("org/{host}-repo#2")),
            "{host} PR shown"
        );
    }
}

#[tokio::test]
async fn an_edit_that_drops_a_mention_unlinks_it_but_comment_mentions_stay() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "First", &ana.email, &in_seconds(3600))
        .await;
    let d2 = ana
        .propose("HOOK", "Second", &ana.email, &in_seconds(3600))
        .await;
    let d3 = ana
        .propose("HOOK", "Third", &ana.email, &in_seconds(3600))
        .await;
    let key = secret(&app, &ana).await;
    let send_pr = |title: String, delivery: &'static str| {
        let mut payload = fixture("pull_request.opened.payload.json");
        payload["action"] = json!("edited");
        payload["pull_request"]["title"] = json!(title);
        payload["pull_request"]["body"] = json!(null);
        let body = serde_json::to_vec(&payload).expect("json");
        let signature = sign(&key, &body);
        let app = &app;
        async move { deliver(app, "pull_request", &payload, Some(signature), delivery).await }
    };
    let shows = |id: String| {
        let app = &app;
        let ana = &ana;
        async move {
            app.get(&ana.browser, &format!("/d/{id}"))
                .await
                .1
                .contains("Codertocat/Hello-World#2")
        }
    };
    let (status, _) = send_pr(format!("{d1} and {d2} and {d3}"), "e1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(shows(d1.clone()).await && shows(d2.clone()).await && shows(d3.clone()).await);

    // D3 is also mentioned in a comment on the same PR.
    let mut comment = fixture("issue_comment.created.payload.json");
    comment["issue"]["number"] = json!(2);
    comment["issue"]["pull_request"] =
        json!({"html_url": "https://github.com/Codertocat/Hello-World/pull/2"});
    comment["comment"]["body"] = json!(format!("This settles {d3}."));
    let body = serde_json::to_vec(&comment).expect("json");
    assert_eq!(
        deliver(
            &app,
            "issue_comment",
            &comment,
            Some(sign(&key, &body)),
            "e2"
        )
        .await
        .0,
        StatusCode::OK
    );

    let (status, answer) = send_pr(format!("Only {d1}"), "e3").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(shows(d1.clone()).await, "still mentioned");
    assert!(!shows(d2.clone()).await, "the edit removed the mention");
    assert!(shows(d3.clone()).await, "a comment still mentions it");
    let kinds: Vec<String> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT kind FROM log_entries WHERE kind IN ('pr_referenced', 'pr_unreferenced') ORDER BY idx",
    )
        .fetch_all(c)
        .await)
        .expect("q");
    // Three links, D3's mention by a comment, then the edit: D2 unlinked,
    // D1's link and D3's (made by the comment now) retitled.
    assert_eq!(
        kinds,
        [
            "pr_referenced",
            "pr_referenced",
            "pr_referenced",
            "pr_referenced",
            "pr_unreferenced",
            "pr_referenced",
            "pr_referenced"
        ]
    );
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn pull_requests_citing_a_former_key_still_link() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "Keep links", &ana.email, &in_seconds(3600))
        .await;
    let key = secret(&app, &ana).await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-hook/settings",
            "/t/team-hook/key",
            &[("key", "HK")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut opened = fixture("pull_request.opened.payload.json");
    opened["pull_request"]["title"] = json!(format!("Implements {d1}"));
    let body = serde_json::to_vec(&opened).expect("json");
    let (status, answer) =
        deliver(&app, "pull_request", &opened, Some(sign(&key, &body)), "k1").await;
    assert_eq!(
        (status, answer["recorded"].clone()),
        (StatusCode::OK, json!(1)),
        "{answer}"
    );
    let (_, html) = app.get(&ana.browser, "/d/HK-1").await;
    assert!(html.contains("Codertocat/Hello-World#2"));
}

#[tokio::test]
async fn deliveries_are_rate_limited_per_team_and_oversized_bodies_refused() {
    let app = crate::helpers::spawn_with(|c| c.webhooks_per_minute = 3).await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let key = secret(&app, &ana).await;
    let ping = fixture("ping.payload.json");
    let body = serde_json::to_vec(&ping).expect("json");
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(
            deliver(
                &app,
                "ping",
                &ping,
                Some(sign(&key, &body)),
                &format!("p{i}"),
            )
            .await
            .0,
        );
    }
    assert_eq!(&statuses[..3], [StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);

    let huge = vec![b'x'; 2 * 1024 * 1024];
    let r = reqwest::Client::new()
        .post(format!("{}/hooks/team-hook/github", app.base))
        .header("x-github-event", "ping")
        .header("x-hub-signature-256", sign(&key, &huge))
        .body(huge)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn every_host_refuses_missing_headers_and_rotates_secrets() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let ping = fixture("ping.payload.json");
    let body = serde_json::to_vec(&ping).expect("json");
    for (host, event_header, auth_header) in [
        ("gitlab", "x-gitlab-event", "x-gitlab-token"),
        ("gitea", "x-gitea-event", "x-gitea-signature"),
        ("forgejo", "x-forgejo-event", "x-forgejo-signature"),
    ] {
        let mut secrets = Vec::new();
        for _ in 0..2 {
            secrets.push(secret_for(&app, &ana, host).await);
        }
        let auth = |secret: &str| {
            if host == "gitlab" {
                secret.to_string()
            } else {
                sign(secret, &body)
                    .trim_start_matches("sha256=")
                    .to_string()
            }
        };
        let post = |auth: Option<String>| {
            let base = app.base.clone();
            let body = body.clone();
            async move {
                let mut req = reqwest::Client::new()
                    .post(format!("{base}/hooks/team-hook/{host}"))
                    .header(event_header, "Ping Hook")
                    .body(body);
                if let Some(a) = auth {
                    req = req.header(auth_header, a);
                }
                req.send().await.expect("POST").status()
            }
        };
        assert_eq!(
            post(None).await,
            StatusCode::BAD_REQUEST,
            "{host}: missing header"
        );
        assert_eq!(
            post(Some(auth("not a secret"))).await,
            StatusCode::UNAUTHORIZED,
            "{host}: bad"
        );
        for secret in &secrets {
            assert_eq!(
                post(Some(auth(secret))).await,
                StatusCode::ACCEPTED,
                "{host}: both secrets during rotation"
            );
        }
    }
}

/// What an answer was: status, headers (less those that differ on every
/// answer) and body.
struct Answer {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Posts `payload` to team `slug` as code host `host` sends an `event`,
/// authenticated with `secret` as that host does (an HMAC of the body, or
/// GitLab's token as it is), or not at all.
async fn post_hook(
    app: &TestApp,
    slug: &str,
    host: &str,
    event: &str,
    payload: &Value,
    secret: Option<&str>,
    delivery: &str,
) -> Answer {
    let body = serde_json::to_vec(payload).expect("json");
    let (event_header, auth_header, delivery_header) = match host {
        "github" => ("x-github-event", "x-hub-signature-256", "x-github-delivery"),
        "gitlab" => ("x-gitlab-event", "x-gitlab-token", "x-gitlab-event-uuid"),
        "gitea" => ("x-gitea-event", "x-gitea-signature", "x-gitea-delivery"),
        "forgejo" => (
            "x-forgejo-event",
            "x-forgejo-signature",
            "x-forgejo-delivery",
        ),
        other => panic!("no such host {other}"),
    };
    let mut req = reqwest::Client::new()
        .post(format!("{}/hooks/{slug}/{host}", app.base))
        .header("content-type", "application/json")
        .header(event_header, event)
        .header(delivery_header, delivery);
    if let Some(secret) = secret {
        let auth = match host {
            "gitlab" => secret.to_string(),
            "github" => sign(secret, &body),
            _ => sign(secret, &body)
                .trim_start_matches("sha256=")
                .to_string(),
        };
        req = req.header(auth_header, auth);
    }
    let r = req.body(body).send().await.expect("POST");
    let status = r.status();
    let mut headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    headers.sort();
    Answer {
        status,
        headers,
        body: r.text().await.expect("body"),
    }
}

/// Every link of the team's decisions to pull requests: decision number,
/// state, address and how it was made.
async fn links(app: &TestApp) -> Vec<(i64, String, String, String)> {
    on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT number, state, url, via FROM pr_links ORDER BY number, host, repo, pr"
    )
    .fetch_all(c)
    .await)
    .expect("q")
}

/// The state of the one link of decision `number`.
async fn state_of(app: &TestApp, number: i64) -> String {
    let states: Vec<String> = links(app)
        .await
        .into_iter()
        .filter(|l| l.0 == number)
        .map(|l| l.1)
        .collect();
    assert_eq!(states.len(), 1, "one link of decision {number}: {states:?}");
    states[0].clone()
}

#[tokio::test]
async fn deliveries_that_fail_verification_do_not_use_up_the_teams_quota() {
    let app = crate::helpers::spawn_with(|c| {
        c.webhooks_per_minute = 3;
        c.unverified_webhooks_per_minute = 5;
    })
    .await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let key = secret(&app, &ana).await;
    let ping = fixture("ping.payload.json");
    // Anyone can send junk: wrong signatures, to this team or to none.
    for i in 0..5 {
        let slug = if i % 2 == 0 {
            "team-hook"
        } else {
            "no-such-team"
        };
        let junk = post_hook(
            &app,
            slug,
            "github",
            "ping",
            &ping,
            Some("a guess"),
            &format!("j{i}"),
        )
        .await;
        assert_eq!(junk.status, StatusCode::UNAUTHORIZED, "junk {i}");
    }
    // Whoever sends more junk is told to wait...
    let junk = post_hook(
        &app,
        "team-hook",
        "github",
        "ping",
        &ping,
        Some("a guess"),
        "j9",
    )
    .await;
    assert_eq!(junk.status, StatusCode::TOO_MANY_REQUESTS);
    // ...but the team's genuine deliveries, from the same address even,
    // still go through: only they count against the team's quota.
    for i in 0..3 {
        let genuine = post_hook(
            &app,
            "team-hook",
            "github",
            "ping",
            &ping,
            Some(&key),
            &format!("g{i}"),
        )
        .await;
        assert_eq!(
            genuine.status,
            StatusCode::OK,
            "genuine {i}: {}",
            genuine.body
        );
    }
    let over = post_hook(&app, "team-hook", "github", "ping", &ping, Some(&key), "g9").await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_unknown_team_is_answered_exactly_like_a_wrong_signature() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    // GitHub and GitLab have secrets here; Gitea and Forgejo none.
    secret_for(&app, &ana, "github").await;
    secret_for(&app, &ana, "gitlab").await;
    let ping = fixture("ping.payload.json");
    for host in ["github", "gitlab", "gitea", "forgejo"] {
        let known = post_hook(
            &app,
            "team-hook",
            host,
            "ping",
            &ping,
            Some("a guess"),
            "x1",
        )
        .await;
        let unknown = post_hook(
            &app,
            "no-such-team",
            host,
            "ping",
            &ping,
            Some("a guess"),
            "x1",
        )
        .await;
        assert_eq!(known.status, StatusCode::UNAUTHORIZED, "{host}");
        assert_eq!(
            (unknown.status, &unknown.headers, &unknown.body),
            (known.status, &known.headers, &known.body),
            "{host}: an unknown team looks like a wrong signature"
        );
    }
}

#[tokio::test]
async fn old_and_out_of_order_deliveries_do_not_change_a_pull_requests_state() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "Order by the host", &ana.email, &in_seconds(3600))
        .await;
    let d2 = ana
        .propose("HOOK", "GitLab times", &ana.email, &in_seconds(3600))
        .await;
    let d3 = ana
        .propose("HOOK", "Gitea times", &ana.email, &in_seconds(3600))
        .await;
    let github = secret_for(&app, &ana, "github").await;

    // GitHub's published payloads: opened at 15:20:33, closed at 15:21:18.
    let mut opened = fixture("pull_request.opened.payload.json");
    opened["pull_request"]["title"] = json!(format!("Implements {d1}"));
    let mut closed = fixture("pull_request.closed.payload.json");
    closed["pull_request"]["title"] = json!(format!("Implements {d1}"));
    let gh = |payload: Value, delivery: &'static str| {
        let (app, github) = (&app, &github);
        async move {
            let a = post_hook(
                app,
                "team-hook",
                "github",
                "pull_request",
                &payload,
                Some(github),
                delivery,
            )
            .await;
            assert_eq!(a.status, StatusCode::OK, "{delivery}: {}", a.body);
        }
    };
    // "closed" arrives before "opened": the PR is closed.
    gh(closed.clone(), "g1").await;
    gh(opened.clone(), "g2").await;
    assert_eq!(state_of(&app, 1).await, "closed");
    // A later reopening counts.
    let mut reopened = fixture("pull_request.reopened.payload.json");
    reopened["pull_request"]["title"] = json!(format!("Implements {d1}"));
    reopened["pull_request"]["updated_at"] = json!("2019-05-15T15:22:00Z");
    gh(reopened.clone(), "g3").await;
    assert_eq!(state_of(&app, 1).await, "open");
    // Merged, then the old "opened" resent under a new delivery id.
    closed["pull_request"]["merged"] = json!(true);
    closed["pull_request"]["updated_at"] = json!("2019-05-15T15:23:00Z");
    gh(closed, "g4").await;
    gh(opened, "g5").await;
    assert_eq!(state_of(&app, 1).await, "merged");
    // A merged PR stays merged, whatever a later payload says.
    reopened["pull_request"]["updated_at"] = json!("2019-05-15T15:30:00Z");
    gh(reopened, "g6").await;
    assert_eq!(state_of(&app, 1).await, "merged");
    let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
    assert!(html.contains(">merged<"), "the page says merged");

    // GitLab writes its times as `2013-12-03 17:23:34 UTC`.
    let gitlab = secret_for(&app, &ana, "gitlab").await;
    let mut mr = hook_fixture("gitlab/merge_request.json");
    mr["object_attributes"]["description"] = json!(format!("Implements {d2}."));
    let mut mr_closed = mr.clone();
    mr_closed["object_attributes"]["state"] = json!("closed");
    mr_closed["object_attributes"]["updated_at"] = json!("2013-12-03 17:40:02 UTC");
    mr["object_attributes"]["updated_at"] = json!("2013-12-03 17:23:34 UTC");
    for (payload, uuid) in [(mr_closed, "l1"), (mr, "l2")] {
        let a = post_hook(
            &app,
            "team-hook",
            "gitlab",
            "Merge Request Hook",
            &payload,
            Some(&gitlab),
            uuid,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    assert_eq!(state_of(&app, 2).await, "closed");

    // Gitea writes times with an offset.
    let gitea = secret_for(&app, &ana, "gitea").await;
    let mut pr = fixture("pull_request.opened.payload.json");
    pr["pull_request"]["title"] = json!(format!("Implements {d3}"));
    pr["pull_request"]["html_url"] = json!("https://gitea.example/org/repo/pulls/2");
    pr["repository"]["full_name"] = json!("org/repo");
    let mut pr_closed = pr.clone();
    pr_closed["action"] = json!("closed");
    pr_closed["pull_request"]["state"] = json!("closed");
    pr_closed["pull_request"]["updated_at"] = json!("2024-03-12T10:30:00+01:00");
    pr["pull_request"]["updated_at"] = json!("2024-03-12T09:15:00Z");
    for (payload, delivery) in [(pr_closed, "t1"), (pr, "t2")] {
        let a = post_hook(
            &app,
            "team-hook",
            "gitea",
            "pull_request",
            &payload,
            Some(&gitea),
            delivery,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    assert_eq!(state_of(&app, 3).await, "closed");
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn gitlab_comments_in_the_documented_note_hook_shape_link_their_merge_request() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "Retry payments", &ana.email, &in_seconds(3600))
        .await;
    let d2 = ana
        .propose("HOOK", "Page on failures", &ana.email, &in_seconds(3600))
        .await;
    let token = secret_for(&app, &ana, "gitlab").await;
    // GitLab's documented shape: the merge request carries no `url`.
    let mut note = hook_fixture("gitlab/note_merge_request.json");
    assert!(note["merge_request"].get("url").is_none());
    note["object_attributes"]["note"] = json!(format!("This settles {d1}."));
    let a = post_hook(
        &app,
        "team-hook",
        "gitlab",
        "Note Hook",
        &note,
        Some(&token),
        "n1",
    )
    .await;
    assert_eq!(
        (a.status, a.json()["recorded"].clone()),
        (StatusCode::OK, json!(1)),
        "{}",
        a.body
    );
    // Nor, here, does the comment: the project's address makes the link.
    let mut bare = note.clone();
    bare["object_attributes"]["note"] = json!(format!("And {d2}."));
    bare["object_attributes"]
        .as_object_mut()
        .expect("object")
        .remove("url");
    let a = post_hook(
        &app,
        "team-hook",
        "gitlab",
        "Note Hook",
        &bare,
        Some(&token),
        "n2",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let url = "https://gitlab.example.com/acme/billing/-/merge_requests/42";
    assert_eq!(
        links(&app).await,
        [
            (1, "open".into(), url.into(), "comment".into()),
            (2, "open".into(), url.into(), "comment".into())
        ]
    );
    let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
    assert!(html.contains("acme/billing#42"), "the page shows the MR");
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn a_pull_request_linked_only_through_a_comment_follows_its_state() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    for host in ["github", "gitea", "forgejo"] {
        let d1 = ana
            .propose(
                "HOOK",
                &format!("{host} comment"),
                &ana.email,
                &in_seconds(3600),
            )
            .await;
        let d2 = ana
            .propose(
                "HOOK",
                &format!("{host} late"),
                &ana.email,
                &in_seconds(3600),
            )
            .await;
        let key = secret_for(&app, &ana, host).await;
        let repo = format!("org/{host}");
        let url = format!("https://{host}.example/org/{host}/pull/2");
        let send = |event: &'static str, payload: Value, delivery: String| {
            let (app, key) = (&app, &key);
            async move {
                let a = post_hook(
                    app,
                    "team-hook",
                    host,
                    event,
                    &payload,
                    Some(key),
                    &delivery,
                )
                .await;
                assert_eq!(a.status, StatusCode::OK, "{host} {delivery}: {}", a.body);
            }
        };
        // Opened without a mention; a comment then mentions D1 (a comment
        // made after the opening, at 15:20:40).
        let mut opened = fixture("pull_request.opened.payload.json");
        opened["pull_request"]["html_url"] = json!(url);
        opened["repository"]["full_name"] = json!(repo);
        send("pull_request", opened, format!("{host}-1")).await;
        let mut comment = fixture("issue_comment.created.payload.json");
        comment["issue"]["number"] = json!(2);
        comment["issue"]["updated_at"] = json!("2019-05-15T15:20:40Z");
        comment["issue"]["pull_request"] = json!({ "html_url": url });
        comment["repository"]["full_name"] = json!(repo);
        comment["comment"]["body"] = json!(format!("This settles {d1}."));
        send("issue_comment", comment.clone(), format!("{host}-2")).await;
        // The merge reaches D1.
        let mut merged = fixture("pull_request.closed.payload.json");
        merged["pull_request"]["merged"] = json!(true);
        merged["pull_request"]["html_url"] = json!(url);
        merged["repository"]["full_name"] = json!(repo);
        send("pull_request", merged, format!("{host}-3")).await;
        let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
        assert!(
            html.contains(&format!("{repo}#2")) && html.contains(">merged<"),
            "{host}: the merge reached the decision the comment linked"
        );
        // A comment on another PR, merged before this server heard of it,
        // links a decision as merged: the comment's payload says so.
        let url3 = format!("https://{host}.example/org/{host}/pull/3");
        comment["issue"]["number"] = json!(3);
        comment["issue"]["state"] = json!("closed");
        comment["issue"]["updated_at"] = json!("2019-05-15T15:25:00Z");
        comment["issue"]["pull_request"] = if host == "github" {
            json!({ "html_url": url3, "merged_at": "2019-05-15T15:21:18Z" })
        } else {
            json!({ "html_url": url3, "merged": true, "merged_at": "2019-05-15T15:21:18Z" })
        };
        comment["comment"]["body"] = json!(format!("Follow-up in {d2}."));
        send("issue_comment", comment, format!("{host}-4")).await;
        let n1: i64 = d1.rsplit('-').next().expect("n").parse().expect("n");
        assert_eq!(state_of(&app, n1).await, "merged", "{host}");
        assert_eq!(state_of(&app, n1 + 1).await, "merged", "{host}: {d2}");
    }

    // GitLab: a note links D, and the merge request's merge reaches it.
    let d = ana
        .propose("HOOK", "gitlab comment", &ana.email, &in_seconds(3600))
        .await;
    let token = secret_for(&app, &ana, "gitlab").await;
    let mut note = hook_fixture("gitlab/note_merge_request.json");
    note["object_attributes"]["note"] = json!(format!("This settles {d}."));
    let a = post_hook(
        &app,
        "team-hook",
        "gitlab",
        "Note Hook",
        &note,
        Some(&token),
        "n1",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The fixture's merge request, as the note's project and number, merged
    // after the comment, its description mentioning nothing.
    let mut mr = hook_fixture("gitlab/merge_request.json");
    mr["project"]["path_with_namespace"] = json!("acme/billing");
    mr["object_attributes"]["iid"] = json!(42);
    mr["object_attributes"]["state"] = json!("merged");
    mr["object_attributes"]["updated_at"] = json!("2024-03-12 11:02:13 UTC");
    mr["object_attributes"]["url"] =
        json!("https://gitlab.example.com/acme/billing/-/merge_requests/42");
    let a = post_hook(
        &app,
        "team-hook",
        "gitlab",
        "Merge Request Hook",
        &mr,
        Some(&token),
        "n2",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let (_, html) = app.get(&ana.browser, &format!("/d/{d}")).await;
    assert!(
        html.contains("acme/billing#42") && html.contains(">merged<"),
        "gitlab: the merge reached the decision the note linked"
    );
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn gitea_and_forgejo_synchronized_pushes_are_applied() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("HOOK", &ana, &[], &[]).await;
    let d1 = ana
        .propose("HOOK", "Pushes count", &ana.email, &in_seconds(3600))
        .await;
    for host in ["gitea", "forgejo"] {
        let key = secret_for(&app, &ana, host).await;
        // GitHub's synchronize payload, with the action as Gitea and Forgejo
        // spell it.
        let mut pushed = fixture("pull_request.synchronize.payload.json");
        pushed["action"] = json!("synchronized");
        pushed["pull_request"]["title"] = json!(format!("Implements {d1}"));
        pushed["pull_request"]["html_url"] =
            json!(format!("https://{host}.example/org/repo/pulls/2"));
        pushed["repository"]["full_name"] = json!(format!("org/{host}"));
        let a = post_hook(
            &app,
            "team-hook",
            host,
            "pull_request",
            &pushed,
            Some(&key),
            "s1",
        )
        .await;
        assert_eq!(
            (a.status, a.json()["recorded"].clone()),
            (StatusCode::OK, json!(1)),
            "{host}: {}",
            a.body
        );
        let (_, html) = app.get(&ana.browser, &format!("/d/{d1}")).await;
        assert!(html.contains(&format!("org/{host}#2")), "{host} PR shown");
    }
}
