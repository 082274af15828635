//! The JSON API under `/api/v1`, authenticated by a personal API token
//! (`Authorization: Bearer <token>`) or by the browser session (then writes
//! need the `X-CSRF-Token` header). Errors are
//! `{"error": {"code": "...", "message": "..."}}`; non-members get 404 for
//! everything of a team.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use super::AppState;
use super::accounts::FieldErrors;
use super::auth::{CSRF_HEADER, CSRF_KEY, USER_KEY, secrets_match, session_error};
use crate::db::proposals::{self, ListFilter, Proposal};
use crate::db::teams::{self, Team};
use crate::db::users::{self, User};
use crate::db::{self, Timestamp};
use crate::domain::InvalidInput;
use crate::domain::account::normalize_email;
use crate::domain::ids::{DecisionId, TeamKey};
use crate::domain::proposal::{
    DecisionDraft, Stance, Status, parse_body, parse_comment, parse_title,
};
use crate::domain::team::Role;
use crate::error::Error;
use crate::ledger::commands::NewProposal;

/// Routes of this module (nested under `/api/v1`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams", post(create_team))
        .route("/teams/{key}/invitations", post(create_invitation))
        .route("/invitations/{token}/accept", post(accept_invitation))
        .route("/teams/{key}/members", get(list_members))
        .route(
            "/teams/{key}/proposals",
            get(list_proposals).post(create_proposal),
        )
        .route("/teams/{key}/log", get(log))
        .route("/teams/{key}/checkpoint", get(checkpoint))
        .route("/teams/{key}/proofs/inclusion", get(inclusion_proof))
        .route("/teams/{key}/proofs/consistency", get(consistency_proof))
        .route("/teams/{key}/export", get(export))
        .route("/teams/{key}/erasures", post(erase_content))
        .route("/decisions/{id}/proof", get(decision_proof))
        .route("/decisions/{id}", get(show_decision))
        .route("/decisions/{id}/stances", post(take_stance))
        .route("/decisions/{id}/comments", post(add_comment))
        .route("/decisions/{id}/decision", post(record_decision))
        .fallback(|| async { ApiError(Error::NotFound) })
}

/// The app's error, answered as JSON.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let mut error = json!({ "code": self.0.code(), "message": self.0.public_message() });
        if let Error::Invalid(e) = &self.0 {
            error["field"] = e.field.into();
        }
        if let Error::Taken { field, .. } = &self.0 {
            error["field"] = (*field).into();
        }
        if let Error::BadRequest { field, .. } = &self.0 {
            error["field"] = field.as_str().into();
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The caller of an API request.
#[derive(Debug, Clone)]
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(ApiError(Error::Unauthorized))?;
            return users::by_token(&state.db, token)
                .await?
                .map(Self)
                .ok_or(ApiError(Error::Unauthorized));
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("session layer missing")))?;
        let id: Option<i64> = session.get(USER_KEY).await.map_err(session_error)?;
        let id = id.ok_or(Error::Unauthorized)?;
        if !parts.method.is_safe() {
            // A session cookie rides along on cross-site requests; a token
            // from the page proves the request came from our own pages.
            let expected: Option<String> = session.get(CSRF_KEY).await.map_err(session_error)?;
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            match (expected, sent) {
                (Some(e), Some(s)) if secrets_match(&e, s) => {}
                _ => return Err(ApiError(Error::Csrf)),
            }
        }
        state
            .user(id)
            .await?
            .map(Self)
            .ok_or(ApiError(Error::Unauthorized))
    }
}

fn parse_json<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(
            InvalidInput::new("body", format!("is not valid JSON for this request: {e}")).into(),
        )
    })
}

async fn team_for(state: &AppState, key: &str, user: &User) -> ApiResult<(Team, Role)> {
    let key = TeamKey::parse(key).map_err(|_| Error::NotFound)?;
    let (team, role, _) = state
        .as_member(teams::TeamRef::Key(key.as_str()), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((team, role))
}

async fn proposal_for(
    state: &AppState,
    id: &str,
    user: &User,
) -> ApiResult<(Team, Role, Proposal)> {
    super::proposals::find(state, id, user)
        .await
        .map_err(ApiError)
}

/// What a decision route answers when its id names no decision the caller
/// can see: for a member of a team that renamed its key, a 308 to the same
/// route under the current key (query kept; a 308 repeats the method and
/// body), as `/d/` answers; for everyone else the 404 an unknown id gets.
async fn moved(
    state: &AppState,
    id: &str,
    user: &User,
    suffix: &str,
    query: Option<&str>,
) -> ApiResult<Response> {
    super::proposals::renamed(state, id, user, "/api/v1/decisions/", suffix, query)
        .await?
        .ok_or(ApiError(Error::NotFound))
}

fn first_error(errors: FieldErrors, fields: &[&'static str]) -> ApiError {
    for f in fields {
        if let Some(message) = errors.get(f) {
            return ApiError(InvalidInput::new(f, message).into());
        }
    }
    ApiError(InvalidInput::new("body", "is invalid").into())
}

#[derive(Debug, Serialize)]
struct TeamJson {
    key: String,
    name: String,
    slug: String,
    window_hours: i64,
}

impl From<Team> for TeamJson {
    fn from(t: Team) -> Self {
        Self {
            key: t.key,
            name: t.name,
            slug: t.slug,
            window_hours: t.window_hours,
        }
    }
}

#[derive(Debug, Deserialize)]
struct CreateTeam {
    name: String,
    key: String,
    window_hours: Option<i64>,
}

async fn create_team(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    body: Bytes,
) -> ApiResult<Response> {
    let input: CreateTeam = parse_json(&body)?;
    let mut errors = FieldErrors::default();
    let window = input.window_hours.map(|h| h.to_string());
    let new = super::teams::parse_team(&input.name, &input.key, window.as_deref(), &mut errors)
        .ok_or_else(|| first_error(errors, &["name", "key", "window_hours"]))?;
    let team = state.ledger.create_team(user.id, new).await?;
    Ok((StatusCode::CREATED, Json(TeamJson::from(team))).into_response())
}

#[derive(Debug, Deserialize)]
struct CreateInvitation {
    role: String,
    /// Optional: mail the link to this address.
    #[serde(default)]
    email: Option<String>,
}

async fn create_invitation(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, actor_role) = team_for(&state, &key, &user).await?;
    let input: CreateInvitation = parse_json(&body)?;
    let role: Role = input.role.parse()?;
    let (url, token) = super::teams::invite(
        &state,
        &team,
        role,
        actor_role,
        &user,
        input.email.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        super::NO_STORE,
        Json(json!({ "url": url, "token": token, "role": role })),
    )
        .into_response())
}

async fn accept_invitation(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(token): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let team = state
        .ledger
        .accept_invitation(user.id, &users::token_hash(&token))
        .await?;
    let role = teams::role_of(state.db.reader(), team.id, user.id).await?;
    Ok(Json(json!({ "team": TeamJson::from(team), "role": role })))
}

async fn list_members(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let members: Vec<_> = teams::members(state.db.reader(), team.id)
        .await?
        .into_iter()
        .map(|m| json!({ "email": m.email, "name": m.display_name, "role": m.role }))
        .collect();
    Ok(Json(json!({ "members": members })))
}

fn summary(team: &Team, p: &Proposal) -> serde_json::Value {
    json!({
        "id": format!("{}-{}", team.key, p.number),
        "title": p.title,
        "status": p.status,
        "decider": p.decider_name,
        "author": p.author_name,
        "area": p.area_name,
        "created_at": p.created_at.to_text(),
        "closes_at": p.closes_at.to_text(),
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list_proposals(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<Status>)
        .transpose()?;
    let filter = ListFilter {
        status,
        ..ListFilter::default()
    };
    let list = proposals::list(state.db.reader(), team.id, &filter, 1000).await?;
    Ok(Json(
        json!({ "proposals": list.iter().map(|p| summary(&team, p)).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
struct CreateProposal {
    title: String,
    body: String,
    decider: Option<String>,
    closes_at: Option<String>,
    area: Option<String>,
    supersedes: Option<String>,
}

async fn create_proposal(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let input: CreateProposal = parse_json(&body)?;
    let mut pool = state.db.reader();
    let title = parse_title(&input.title)?;
    let body = parse_body(&input.body)?;
    let decider = match &input.decider {
        Some(email) => Some(
            users::by_email(&state.db, &normalize_email(email))
                .await?
                .ok_or_else(|| InvalidInput::new("decider", "is not the email of a team member"))?
                .id,
        ),
        None => None,
    };
    let closes_at = input
        .closes_at
        .as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    InvalidInput::new(
                        "closes_at",
                        "must be an RFC 3339 time such as 2026-12-01T17:00:00Z",
                    )
                })
        })
        .transpose()?;
    let area = match &input.area {
        Some(name) => Some(
            teams::areas(pool.re(), team.id)
                .await?
                .into_iter()
                .find(|a| a.name.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    InvalidInput::new("area", "is not the name of an area of this team")
                })?
                .id,
        ),
        None => None,
    };
    let supersedes = match &input.supersedes {
        Some(raw) => {
            let id: DecisionId = raw
                .parse()
                .map_err(|e: InvalidInput| InvalidInput::new("supersedes", e.message))?;
            if id.key.as_str() != team.key {
                return Err(
                    InvalidInput::new("supersedes", "must be a decision of this team").into(),
                );
            }
            Some(id.number)
        }
        None => None,
    };
    let number = state
        .ledger
        .create_proposal(
            user.id,
            team.id,
            NewProposal {
                title,
                body,
                area,
                decider,
                closes_at,
                supersedes,
            },
        )
        .await?;
    let id = format!("{}-{number}", team.key);
    let url = format!("{}/d/{id}", state.base_url);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, url.clone())],
        Json(json!({ "id": id, "url": url })),
    )
        .into_response())
}

async fn show_decision(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (team, _, _, rows) = match super::proposals::rows_for(&state, &id, &user).await {
        Err(Error::NotFound) => return moved(&state, &id, &user, "", query.as_deref()).await,
        found => found?,
    };
    let p = &rows.proposal;
    let email_of = |id: i64| {
        rows.members
            .iter()
            .find(|m| m.user_id == id)
            .map(|m| m.email.clone())
    };
    let stances: Vec<_> = rows
        .table
        .iter()
        .map(|s| {
            json!({
                "member": email_of(s.user_id),
                "name": s.display_name,
                "position": s.position,
                "reason": s.reason,
                "taken_at": s.taken_at.map(Timestamp::to_text),
                "comments": s.comments,
            })
        })
        .collect();
    let comments: Vec<_> = rows
        .comments
        .iter()
        .map(|c| json!({ "author": c.author_name, "body": c.body, "created_at": c.created_at.to_text(), "log_index": c.log_idx }))
        .collect();
    let decision = match &rows.decision {
        Some(d) => {
            let responses: BTreeMap<&str, &str> = rows
                .responses
                .iter()
                .map(|r| (r.email.as_str(), r.response.as_str()))
                .collect();
            json!({
                "outcome": d.outcome,
                "statement": d.statement,
                "rationale": d.rationale,
                "responses": responses,
                "decided_by": email_of(d.decided_by),
                "decided_at": d.decided_at.to_text(),
                "log_index": d.log_idx,
                "leaf_hash": hex::encode(&d.leaf_hash),
                "tree_size": d.tree_size,
                "root_hash": hex::encode(&d.root_hash),
            })
        }
        None => serde_json::Value::Null,
    };
    let mut body = summary(&team, p);
    let extra = json!({
        "body": p.body,
        "decider_email": email_of(p.decider_id),
        "supersedes": p.supersedes.map(|n| format!("{}-{n}", team.key)),
        "superseded_by": p.superseded_by.map(|n| format!("{}-{n}", team.key)),
        "withdrawn_reason": p.withdrawn_reason,
        "stances": stances,
        "comments": comments,
        "decision": decision,
        "outcome": decision.get("outcome"),
        "statement": decision.get("statement"),
        "rationale": decision.get("rationale"),
        "responses": decision.get("responses"),
        "log_index": decision.get("log_index"),
        "leaf_hash": decision.get("leaf_hash"),
        "url": format!("{}/d/{}-{}", state.base_url, team.key, p.number),
    });
    if let (Some(target), serde_json::Value::Object(more)) = (body.as_object_mut(), extra) {
        target.extend(more);
    }
    Ok(Json(body).into_response())
}

fn appended_json(a: &crate::ledger::Appended) -> serde_json::Value {
    json!({ "log_index": a.index, "leaf_hash": hex::encode(a.leaf_hash), "tree_size": a.tree_size, "root_hash": hex::encode(a.root) })
}

#[derive(Debug, Deserialize)]
struct StanceInput {
    position: String,
    reason: Option<String>,
}

async fn take_stance(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, _, p) = match proposal_for(&state, &id, &user).await {
        Err(ApiError(Error::NotFound)) => {
            return moved(&state, &id, &user, "/stances", query.as_deref()).await;
        }
        found => found?,
    };
    let input: StanceInput = parse_json(&body)?;
    let stance = Stance::parse(&input.position, input.reason.as_deref())?;
    let appended = state
        .ledger
        .take_stance(user.id, team.id, p.number, stance)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}

#[derive(Debug, Deserialize)]
struct CommentInput {
    body: String,
}

async fn add_comment(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, _, p) = match proposal_for(&state, &id, &user).await {
        Err(ApiError(Error::NotFound)) => {
            return moved(&state, &id, &user, "/comments", query.as_deref()).await;
        }
        found => found?,
    };
    let input: CommentInput = parse_json(&body)?;
    let text = parse_comment(&input.body)?;
    let appended = state
        .ledger
        .comment(user.id, team.id, p.number, text)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}

#[derive(Debug, Deserialize)]
struct DecisionInput {
    outcome: String,
    statement: String,
    rationale: Option<String>,
    #[serde(default)]
    responses: BTreeMap<String, String>,
}

async fn record_decision(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, _, p) = match proposal_for(&state, &id, &user).await {
        Err(ApiError(Error::NotFound)) => {
            return moved(&state, &id, &user, "/decision", query.as_deref()).await;
        }
        found => found?,
    };
    let input: DecisionInput = parse_json(&body)?;
    let members = teams::members(state.db.reader(), team.id).await?;
    let mut responses = Vec::new();
    for (email, text) in input.responses {
        let user_id = members
            .iter()
            .find(|m| normalize_email(&m.email) == normalize_email(&email))
            .map(|m| m.user_id)
            .ok_or_else(|| {
                InvalidInput::new("responses", format!("{email} is not a member of this team"))
            })?;
        responses.push((user_id, text));
    }
    let draft = DecisionDraft::parse(
        &input.outcome,
        &input.statement,
        input.rationale.as_deref().unwrap_or(""),
        responses,
    )?;
    let appended = state
        .ledger
        .record(user.id, team.id, p.number, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    from: Option<i64>,
    limit: Option<i64>,
}

async fn log(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    Query(query): Query<LogQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let mut pool = state.db.reader();
    let head = db::log::read_head(pool.re(), team.id).await?;
    let (size, root) = head.map_or((0, hex::encode(crate::ledger::merkle::empty_root())), |h| {
        (h.size, hex::encode(h.root))
    });
    let from = query.from.unwrap_or(0).max(0);
    let limit = query.limit.unwrap_or(1000).clamp(1, 10_000);
    let entries: Vec<_> = db::log::entries(pool.re(), team.id, from, limit)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "index": e.idx,
                "time": e.created_at.to_text(),
                "actor": e.actor_id,
                "kind": e.kind,
                "payload": e.payload,
                "leaf_hash": hex::encode(&e.leaf_hash),
            })
        })
        .collect();
    Ok(Json(
        json!({ "team": team.key, "size": size, "root": root, "entries": entries }),
    ))
}

fn hexes(hashes: &[crate::ledger::merkle::Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// The signed checkpoint of the team's current head.
async fn checkpoint(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let (size, root) = crate::ledger::proofs::head(&state.db, team.id).await?;
    let note = crate::ledger::checkpoint::sign(&state.signer, team.id, size, &root)
        .map_err(|e| Error::Internal(anyhow::anyhow!("signing failed: {e}")))?;
    Ok(Json(json!({
        "origin": crate::ledger::checkpoint::origin(state.signer.name(), team.id),
        "size": size,
        "root": hex::encode(root),
        "checkpoint": note,
        "verifier": state.signer.verifier().encode(),
    })))
}

#[derive(Debug, Deserialize)]
struct InclusionQuery {
    index: i64,
    size: Option<i64>,
}

async fn inclusion_proof(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    Query(query): Query<InclusionQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let size = match query.size {
        Some(size) => size,
        None => crate::ledger::proofs::head(&state.db, team.id).await?.0,
    };
    let (proof, root, leaf) =
        crate::ledger::proofs::inclusion(&state.db, team.id, query.index, size).await?;
    Ok(Json(json!({
        "index": query.index,
        "size": size,
        "leaf_hash": hex::encode(leaf),
        "proof": hexes(&proof),
        "root": hex::encode(root),
    })))
}

#[derive(Debug, Deserialize)]
struct ConsistencyQuery {
    old: i64,
    new: Option<i64>,
}

async fn consistency_proof(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    Query(query): Query<ConsistencyQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let new = match query.new {
        Some(new) => new,
        None => crate::ledger::proofs::head(&state.db, team.id).await?.0,
    };
    let (proof, old_root, new_root) =
        crate::ledger::proofs::consistency(&state.db, team.id, query.old, new).await?;
    Ok(Json(json!({
        "old": query.old,
        "new": new,
        "old_root": hex::encode(old_root),
        "new_root": hex::encode(new_root),
        "proof": hexes(&proof),
    })))
}

/// The whole log as an export file (see `settled verify --file`).
async fn export(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let mut body = Vec::new();
    crate::ledger::export::write(&state.db, &state.signer, &team, &mut body).await?;
    let disposition = format!(
        "attachment; filename=\"{}-log.jsonl\"",
        team.key.to_lowercase()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// A decision's proof bundle: its sealing entry (with openings), an
/// inclusion proof against the current head, and that head's signed
/// checkpoint, so the record can be checked without the server.
async fn decision_proof(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (team, _, p) = match proposal_for(&state, &id, &user).await {
        Err(ApiError(Error::NotFound)) => {
            return moved(&state, &id, &user, "/proof", query.as_deref()).await;
        }
        found => found?,
    };
    let decision = proposals::decision(state.db.reader(), p.id)
        .await?
        .ok_or(Error::NotFound)?;
    let index = decision.log_idx;
    let entry = db::log::entries(state.db.reader(), team.id, index, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)?;
    let contents: Vec<_> = db::log::contents(state.db.reader(), team.id, index, index + 1)
        .await?
        .into_iter()
        .filter_map(|c| match (c.salt, c.text) {
            (Some(salt), Some(text)) => {
                Some(json!({ "field": c.field, "salt": hex::encode(salt), "text": text }))
            }
            _ => None,
        })
        .collect();
    let (size, root) = crate::ledger::proofs::head(&state.db, team.id).await?;
    let (proof, _, leaf) =
        crate::ledger::proofs::inclusion(&state.db, team.id, index, size).await?;
    let note = crate::ledger::checkpoint::sign(&state.signer, team.id, size, &root)
        .map_err(|e| Error::Internal(anyhow::anyhow!("signing failed: {e}")))?;
    let bundle = json!({
        "decision": format!("{}-{}", team.key, p.number),
        "entry": { "index": index, "payload": entry.payload, "leaf_hash": hex::encode(leaf), "contents": contents },
        "sealed": { "tree_size": decision.tree_size, "root": hex::encode(&decision.root_hash) },
        "inclusion": { "size": size, "root": hex::encode(root), "proof": hexes(&proof) },
        "checkpoint": note,
        "verifier": state.signer.verifier().encode(),
    });
    let disposition = format!(
        "attachment; filename=\"{}-{}-proof.json\"",
        team.key.to_lowercase(),
        p.number
    );
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(bundle)).into_response())
}

#[derive(Debug, Deserialize)]
struct EraseInput {
    index: i64,
    field: String,
}

/// Erases one text of an earlier entry (admins only); proofs stay valid.
async fn erase_content(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let input: EraseInput = parse_json(&body)?;
    let appended = state
        .ledger
        .erase(user.id, team.id, input.index, &input.field)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}
