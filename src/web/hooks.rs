//! Inbound code-host webhooks: `POST /hooks/{team slug}/{github|gitlab|gitea|forgejo}`.
//!
//! The signature is checked over the raw body, in constant time, against
//! every secret the team set up for the host (so secrets can be rotated),
//! before anything is parsed. Missing headers answer 400, a bad signature
//! 401, unknown events 202 and are ignored; a redelivery (same delivery id)
//! changes nothing.
//!
//! An unknown team is answered exactly like a bad signature, so the
//! endpoint does not tell which team slugs exist. Only verified deliveries
//! count against a team's quota; attempts that prove nothing are limited
//! per client address instead, so strangers cannot use up a team's quota.
//! Deliveries are ordered by the host's own time of the pull request in
//! the payload, not by arrival (see `Ledger::record_pull_request`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::AppState;
use super::auth::ClientIp;
use crate::db::links;
use crate::domain::ids::{TeamId, UserId};
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

/// The team whose secret for `host` `proves` the delivery accepts, with that
/// secret; otherwise the answer to send. A team that does not exist, has no
/// secret for the host, or whose secrets all fail gets one and the same
/// answer (`header` names what failed), and the attempt counts against the
/// client's address, not against any team.
async fn verify(
    state: &AppState,
    slug: &str,
    host: &str,
    peer: std::net::IpAddr,
    header: &str,
    proves: impl Fn(&str) -> bool,
) -> Result<(i64, links::Secret), Response> {
    let mut pool = state.db.reader();
    let secrets = links::secrets_by_slug(pool.re(), slug, host)
        .await
        .map_err(|err| super::api::ApiError(err.into()).into_response())?;
    let Some(found) = secrets.into_iter().find(|(_, s)| proves(&s.secret)) else {
        if state.webhook_attempt_limiter.check(&peer).is_err() {
            return Err(problem(
                StatusCode::TOO_MANY_REQUESTS,
                "You sent too many deliveries that could not be verified; wait a minute and try again.",
            ));
        }
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            &format!(
                "The {header} header does not match a webhook secret of this team: check the secret you set up on the code host."
            ),
        ));
    };
    if state.webhook_limiter.check(&found.0).is_err() {
        return Err(problem(
            StatusCode::TOO_MANY_REQUESTS,
            "This team received too many deliveries this minute; retry later.",
        ));
    }
    Ok(found)
}

/// A time as code hosts write it: RFC 3339 (GitHub, Gitea, Forgejo) or
/// `2015-05-17 18:21:36 UTC` (GitLab). `None` for anything else, which then
/// orders nothing.
fn host_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(utc) = text.strip_suffix(" UTC") {
        return NaiveDateTime::parse_from_str(utc, "%Y-%m-%d %H:%M:%S")
            .ok()
            .map(|t| t.and_utc());
    }
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
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
    updated_at: Option<String>,
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
    /// Gitea and Forgejo say whether the PR was merged.
    merged: Option<bool>,
    /// GitHub (and Gitea) say when it was merged, null if not; older GitHub
    /// payloads leave it out, and then a closed PR may or may not be merged.
    #[serde(default, deserialize_with = "present")]
    merged_at: Option<Option<String>>,
}

/// `Some` for a field that is there, even as null (`Option<Option<_>>`
/// alone reads null as absent).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl IssueLink {
    /// The state of the PR a comment was made on, where the payload tells.
    fn state(&self, issue_state: &str) -> Option<&'static str> {
        let merged = self
            .merged
            .or_else(|| self.merged_at.as_ref().map(Option::is_some));
        match (merged, issue_state) {
            (Some(true), _) => Some("merged"),
            (_, "open") => Some("open"),
            (Some(false), _) => Some("closed"),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Issue {
    number: i64,
    title: String,
    html_url: String,
    #[serde(default)]
    state: String,
    updated_at: Option<String>,
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
    peer: ClientIp,
    slug: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(state, peer, slug, headers, body, &GITHUB).await
}

async fn gitea(
    state: State<AppState>,
    peer: ClientIp,
    slug: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(state, peer, slug, headers, body, &GITEA).await
}

async fn forgejo(
    state: State<AppState>,
    peer: ClientIp,
    slug: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(state, peer, slug, headers, body, &FORGEJO).await
}

/// GitHub, Gitea and Forgejo: HMAC-SHA256 of the body, and payloads of the
/// same shape for pull requests and their comments.
async fn signed(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
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
    let hex_signature = signature.strip_prefix(spec.prefix).unwrap_or("");
    let (team_id, secret) = match verify(&state, &slug, spec.host, peer, spec.signature, |s| {
        signature_valid(s, &body, hex_signature)
    })
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let pr = match event.as_str() {
        "ping" => return answer(StatusCode::OK, json!({ "ok": true })),
        "pull_request" => match serde_json::from_slice::<PullRequestEvent>(&body) {
            Ok(e)
                if matches!(
                    e.action.as_str(),
                    // Gitea and Forgejo say `synchronized` where GitHub
                    // says `synchronize`.
                    "opened" | "edited" | "closed" | "reopened" | "synchronize" | "synchronized"
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
                    updated_at: host_time(p.updated_at.as_deref()),
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
                let link = e.issue.pull_request;
                PullRequest {
                    host: spec.host,
                    repo: e.repository.full_name,
                    pr: e.issue.number,
                    state: link
                        .as_ref()
                        .and_then(|l| l.state(&e.issue.state))
                        .map(str::to_string),
                    updated_at: host_time(e.issue.updated_at.as_deref()),
                    url: link.and_then(|l| l.html_url).unwrap_or(e.issue.html_url),
                    title: e.issue.title,
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
        .record_pull_request(
            TeamId(team_id),
            UserId(secret.created_by),
            header(spec.delivery),
            pr,
        )
        .await
    {
        Ok(written) => answer(StatusCode::OK, json!({ "recorded": written })),
        Err(err) => super::api::ApiError(err).into_response(),
    }
}

#[derive(Deserialize)]
struct GlProject {
    path_with_namespace: String,
    web_url: Option<String>,
}

impl GlProject {
    /// The address of merge request `iid`, for payloads that do not give it.
    fn merge_request_url(&self, iid: i64) -> Option<String> {
        let base = self.web_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}/-/merge_requests/{iid}"))
    }
}

#[derive(Deserialize)]
struct GlMergeRequest {
    iid: i64,
    title: String,
    description: Option<String>,
    state: String,
    /// In Merge Request Hooks; the merge request of a Note Hook has none in
    /// GitLab's documented payload.
    url: Option<String>,
    updated_at: Option<String>,
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
    /// The comment's own address: the merge request's, with `#note_N`.
    url: Option<String>,
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
    ClientIp(peer): ClientIp,
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
    let (team_id, secret) = match verify(&state, &slug, "gitlab", peer, "X-Gitlab-Token", |s| {
        bool::from(s.as_bytes().ct_eq(token.as_bytes()))
    })
    .await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let pr = match event.as_str() {
        "Merge Request Hook" => match serde_json::from_slice::<GlMergeRequestHook>(&body) {
            Ok(e) => {
                let mr = e.object_attributes;
                PullRequest {
                    host: "gitlab",
                    url: mr
                        .url
                        .or_else(|| e.project.merge_request_url(mr.iid))
                        .unwrap_or_default(),
                    repo: e.project.path_with_namespace,
                    pr: mr.iid,
                    texts: vec![mr.title.clone(), mr.description.unwrap_or_default()],
                    from_comment: false,
                    title: mr.title,
                    state: Some(gitlab_state(&mr.state).into()),
                    updated_at: host_time(mr.updated_at.as_deref()),
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
                // The note's address less its `#note_N` is the merge
                // request's: the same for every comment, so comments do not
                // change the link's address back and forth.
                url: mr
                    .url
                    .or_else(|| {
                        note.url
                            .as_deref()
                            .and_then(|u| u.split('#').next())
                            .map(str::to_string)
                    })
                    .or_else(|| project.merge_request_url(mr.iid))
                    .unwrap_or_default(),
                repo: project.path_with_namespace,
                pr: mr.iid,
                title: mr.title,
                state: Some(gitlab_state(&mr.state).into()),
                updated_at: host_time(mr.updated_at.as_deref()),
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
        .record_pull_request(TeamId(team_id), UserId(secret.created_by), delivery, pr)
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
    fn host_times_are_read_as_each_host_writes_them() {
        let at = |s: &str| host_time(Some(s)).map(|t| t.to_rfc3339());
        let utc = Some("2024-03-12T09:41:07+00:00".to_string());
        assert_eq!(at("2024-03-12T09:41:07Z"), utc, "GitHub");
        assert_eq!(at("2024-03-12 09:41:07 UTC"), utc, "GitLab");
        assert_eq!(at("2024-03-12T10:41:07+01:00"), utc, "Gitea");
        assert_eq!(at("2024-03-12 10:41:07 +0100"), utc, "GitLab, older");
        assert_eq!(at("yesterday"), None);
        assert_eq!(host_time(None), None);
    }

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
