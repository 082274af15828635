//! GitHub webhooks with GitHub's own payloads (octokit/webhooks, MIT), edited
//! only to put decision references into titles, bodies and comments.

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, spawn};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../shared/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
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

    let path = format!(
        "{}/../shared/fixtures/gitlab/merge_request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut payload: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
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
    // Three links, D3's mention by a comment, then the edit: D2 unlinked and
    // D1's link retitled.
    assert_eq!(
        kinds,
        [
            "pr_referenced",
            "pr_referenced",
            "pr_referenced",
            "pr_referenced",
            "pr_unreferenced",
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
