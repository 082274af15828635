//! Proposals and decisions: list, open, show, stances, comments, the decision.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, ApiUser, moved, parse_json, proposal_for, team_for};
use crate::db::Timestamp;
use crate::db::proposals::{self, ListFilter, Proposal};
use crate::db::teams::{self, Team};
use crate::db::users::{self};
use crate::domain::InvalidInput;
use crate::domain::account::normalize_email;
use crate::domain::ids::DecisionId;
use crate::domain::ids::{Number, TeamId, UserId};
use crate::domain::proposal::{
    DecisionDraft, Stance, Status, is_late, parse_body, parse_comment, parse_title,
};
use crate::error::Error;
use crate::ledger::commands::NewProposal;
use crate::web::AppState;

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
pub(super) struct ListQuery {
    status: Option<String>,
}

pub(super) async fn list_proposals(
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
pub(super) struct CreateProposal {
    title: String,
    body: String,
    decider: Option<String>,
    closes_at: Option<String>,
    area: Option<String>,
    supersedes: Option<String>,
}

pub(super) async fn create_proposal(
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
            UserId(user.id),
            TeamId(team.id),
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

pub(super) async fn show_decision(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (team, _, _, rows) = match crate::web::proposals::rows_for(&state, &id, &user).await {
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
                "late": s.taken_at.is_some_and(|t| is_late(t.0, p.closes_at.0)),
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

pub(super) fn appended_json(a: &crate::ledger::Appended) -> serde_json::Value {
    json!({ "log_index": a.index, "leaf_hash": hex::encode(a.leaf_hash), "tree_size": a.tree_size, "root_hash": hex::encode(a.root) })
}

#[derive(Debug, Deserialize)]
pub(super) struct StanceInput {
    position: String,
    reason: Option<String>,
}

pub(super) async fn take_stance(
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
        .take_stance(UserId(user.id), TeamId(team.id), Number(p.number), stance)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct CommentInput {
    body: String,
}

pub(super) async fn add_comment(
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
        .comment(UserId(user.id), TeamId(team.id), Number(p.number), text)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct DecisionInput {
    outcome: String,
    statement: String,
    rationale: Option<String>,
    #[serde(default)]
    responses: BTreeMap<String, String>,
}

pub(super) async fn record_decision(
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
        .record(UserId(user.id), TeamId(team.id), Number(p.number), draft)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}
