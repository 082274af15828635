//! Inbound code-host webhooks: `POST /hooks/{team slug}/{github|gitlab|gitea|forgejo}`.
//!
//! The signature is checked over the raw body, in constant time, against
//! every secret the team set up for the host (so secrets can be rotated),
//! before anything is parsed. Missing headers answer 400, a bad signature
//! 401, unknown events 202 and are ignored; a redelivery (same delivery id)
//! changes nothing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::db::{links, teams};
use crate::ledger::commands::PullRequest;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/{slug}/github", post(github))
        .route("/hooks/{slug}/gitlab", post(gitlab))
        .route("/hooks/{slug}/gitea", post(gitea))
        .route("/hooks/{slug}/forgejo", post(forgejo))
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn problem(status: StatusCode, message: &str) -> Response {
    answer(
        status,
        json!({ "error": { "code": status.as_u16(), "message": message } }),
    )
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `body` under `secret`.
pub fn signature_valid(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&signature).is_ok()
}

#[derive(Deserialize)]
struct Repo {
    full_name: String,
}

#[derive(Deserialize)]
struct GhPull {
    number: i64,
    html_url: String,
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    merged: bool,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    pull_request: GhPull,
    repository: Repo,
}

#[derive(Deserialize)]
struct IssueLink {
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Issue {
    number: i64,
    title: String,
    html_url: String,
    pull_request: Option<IssueLink>,
}

#[derive(Deserialize)]
struct Comment {
    body: Option<String>,
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    action: String,
    issue: Issue,
    comment: Comment,
    repository: Repo,
}

/// How one HMAC-signing host names its headers.
struct Signed {
    host: &'static str,
    event: &'static str,
    signature: &'static str,
    /// Text before the hex digest (`sha256=` on GitHub, nothing on Gitea).
    prefix: &'static str,
    delivery: &'static str,
}

const GITHUB: Signed = Signed {
    host: "github",
    event: "x-github-event",
    signature: "x-hub-signature-256",
    prefix: "sha256=",
    delivery: "x-github-delivery",
};
const GITEA: Signed = Signed {
    host: "gitea",
    event: "x-gitea-event",
    signature: "x-gitea-signature",
    prefix: "",
    delivery: "x-gitea-delivery",
};
const FORGEJO: Signed = Signed {
    host: "forgejo",
    event: "x-forgejo-event",
    signature: "x-forgejo-signature",
    prefix: "",
    delivery: "x-forgejo-delivery",
};

async fn github(
    state: State<AppState>,
    slug: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(state, slug, headers, body, &GITHUB).await
}

async fn gitea(
    state: State<AppState>,
    slug: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(state, slug, headers, body, &GITEA).await
}

async fn forgejo(
    state: State<AppState>,
    slug: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(state, slug, headers, body, &FORGEJO).await
}

/// GitHub, Gitea and Forgejo: HMAC-SHA256 of the body, and payloads of the
/// same shape for pull requests and their comments.
async fn signed(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    spec: &Signed,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(event), Some(signature)) = (header(spec.event), header(spec.signature)) else {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("missing {} or {}", spec.event, spec.signature),
        );
    };
    let mut pool = state.db.reader();
    let team = match teams::by_slug(pool.re(), &slug).await {
        Ok(Some(team)) => team,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "no such team"),
        Err(err) => return super::api::ApiError(err.into()).into_response(),
    };
    if state.webhook_limiter.check(&team.id).is_err() {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too many deliveries for this team; retry later",
        );
    }
    let secrets = match links::secrets(pool.re(), team.id, spec.host).await {
        Ok(s) => s,
        Err(err) => return super::api::ApiError(err.into()).into_response(),
    };
    let hex_signature = signature.strip_prefix(spec.prefix).unwrap_or("");
    let Some(secret) = secrets
        .iter()
        .find(|s| signature_valid(&s.secret, &body, hex_signature))
    else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "signature does not match any secret of this team",
        );
    };
    let pr = match event.as_str() {
        "ping" => return answer(StatusCode::OK, json!({ "ok": true })),
        "pull_request" => match serde_json::from_slice::<PullRequestEvent>(&body) {
            Ok(e)
                if matches!(
                    e.action.as_str(),
                    "opened" | "edited" | "closed" | "reopened" | "synchronize"
                ) =>
            {
                let p = e.pull_request;
                let state = if p.merged {
                    "merged"
                } else if p.state == "closed" {
                    "closed"
                } else {
                    "open"
                };
                PullRequest {
                    host: spec.host,
                    repo: e.repository.full_name,
                    pr: p.number,
                    url: p.html_url,
                    texts: vec![p.title.clone(), p.body.unwrap_or_default()],
                    from_comment: false,
                    title: p.title,
                    state: Some(state.into()),
                }
            }
            Ok(_) => return answer(StatusCode::ACCEPTED, json!({ "ignored": true })),
            Err(err) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("not a pull_request payload: {err}"),
                );
            }
        },
        "issue_comment" => match serde_json::from_slice::<IssueCommentEvent>(&body) {
            Ok(e)
                if e.issue.pull_request.is_some()
                    && matches!(e.action.as_str(), "created" | "edited") =>
            {
                PullRequest {
                    host: spec.host,
                    repo: e.repository.full_name,
                    pr: e.issue.number,
                    url: e
                        .issue
                        .pull_request
                        .and_then(|l| l.html_url)
                        .unwrap_or(e.issue.html_url),
                    title: e.issue.title,
                    state: None,
                    texts: vec![e.comment.body.unwrap_or_default()],
                    from_comment: true,
                }
            }
            Ok(_) => return answer(StatusCode::ACCEPTED, json!({ "ignored": true })),
            Err(err) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("not an issue_comment payload: {err}"),
                );
            }
        },
        _ => return answer(StatusCode::ACCEPTED, json!({ "ignored": true })),
    };
    match state
        .ledger
        .record_pull_request(team.id, secret.created_by, header(spec.delivery), pr)
        .await
    {
        Ok(written) => answer(StatusCode::OK, json!({ "recorded": written })),
        Err(err) => super::api::ApiError(err).into_response(),
    }
}

#[derive(Deserialize)]
struct GlProject {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct GlMergeRequest {
    iid: i64,
    title: String,
    description: Option<String>,
    state: String,
    url: String,
}

#[derive(Deserialize)]
struct GlMergeRequestHook {
    object_attributes: GlMergeRequest,
    project: GlProject,
}

#[derive(Deserialize)]
struct GlNote {
    note: Option<String>,
    noteable_type: String,
}

#[derive(Deserialize)]
struct GlNoteHook {
    object_attributes: GlNote,
    merge_request: Option<GlMergeRequest>,
    project: GlProject,
}

fn gitlab_state(state: &str) -> &'static str {
    match state {
        "merged" => "merged",
        "closed" | "locked" => "closed",
        _ => "open",
    }
}

/// GitLab sends the secret itself in `X-Gitlab-Token`: compared in constant
/// time with each of the team's GitLab secrets.
async fn gitlab(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use subtle::ConstantTimeEq;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(event), Some(token)) = (header("x-gitlab-event"), header("x-gitlab-token")) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "missing X-Gitlab-Event or X-Gitlab-Token",
        );
    };
    let mut pool = state.db.reader();
    let team = match teams::by_slug(pool.re(), &slug).await {
        Ok(Some(team)) => team,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "no such team"),
        Err(err) => return super::api::ApiError(err.into()).into_response(),
    };
    if state.webhook_limiter.check(&team.id).is_err() {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too many deliveries for this team; retry later",
        );
    }
    let secrets = match links::secrets(pool.re(), team.id, "gitlab").await {
        Ok(s) => s,
        Err(err) => return super::api::ApiError(err.into()).into_response(),
    };
    let Some(secret) = secrets
        .iter()
        .find(|s| bool::from(s.secret.as_bytes().ct_eq(token.as_bytes())))
    else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "token does not match any secret of this team",
        );
    };
    let pr = match event.as_str() {
        "Merge Request Hook" => match serde_json::from_slice::<GlMergeRequestHook>(&body) {
            Ok(e) => {
                let mr = e.object_attributes;
                PullRequest {
                    host: "gitlab",
                    repo: e.project.path_with_namespace,
                    pr: mr.iid,
                    url: mr.url,
                    texts: vec![mr.title.clone(), mr.description.unwrap_or_default()],
                    from_comment: false,
                    title: mr.title,
                    state: Some(gitlab_state(&mr.state).into()),
                }
            }
            Err(err) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("not a merge request payload: {err}"),
                );
            }
        },
        "Note Hook" => match serde_json::from_slice::<GlNoteHook>(&body) {
            Ok(GlNoteHook {
                object_attributes: note,
                merge_request: Some(mr),
                project,
            }) if note.noteable_type == "MergeRequest" => PullRequest {
                host: "gitlab",
                repo: project.path_with_namespace,
                pr: mr.iid,
                url: mr.url,
                title: mr.title,
                state: Some(gitlab_state(&mr.state).into()),
                texts: vec![note.note.unwrap_or_default()],
                from_comment: true,
            },
            Ok(_) => return answer(StatusCode::ACCEPTED, json!({ "ignored": true })),
            Err(err) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("not a note payload: {err}"),
                );
            }
        },
        _ => return answer(StatusCode::ACCEPTED, json!({ "ignored": true })),
    };
    let delivery = header("x-gitlab-event-uuid").or_else(|| header("x-gitlab-webhook-uuid"));
    match state
        .ledger
        .record_pull_request(team.id, secret.created_by, delivery, pr)
        .await
    {
        Ok(written) => answer(StatusCode::OK, json!({ "recorded": written })),
        Err(err) => super::api::ApiError(err).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_published_signature_example_verifies() {
        let good = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_valid(
            "It's a Secret to Everybody",
            b"Hello, World!",
            good
        ));
        assert!(!signature_valid(
            "It's a Secret to Everybody",
            b"Hello, World?",
            good
        ));
        assert!(!signature_valid("another secret", b"Hello, World!", good));
        assert!(!signature_valid(
            "It's a Secret to Everybody",
            b"Hello, World!",
            "not hex"
        ));
    }
}
