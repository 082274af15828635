//! The team log: entries, checkpoints, proofs, export and erasure.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::decisions::appended_json;
use super::{ApiError, ApiResult, ApiUser, moved, parse_json, proposal_for, team_for};
use crate::db::proposals::{self};
use crate::db::{self};
use crate::domain::ids::{TeamId, UserId};
use crate::error::Error;
use crate::web::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct LogQuery {
    from: Option<i64>,
    limit: Option<i64>,
}

pub(super) async fn log(
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
pub(super) async fn checkpoint(
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
pub(super) struct InclusionQuery {
    index: i64,
    size: Option<i64>,
}

pub(super) async fn inclusion_proof(
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
pub(super) struct ConsistencyQuery {
    old: i64,
    new: Option<i64>,
}

pub(super) async fn consistency_proof(
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
pub(super) async fn export(
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
pub(super) async fn decision_proof(
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
pub(super) struct EraseInput {
    index: i64,
    field: String,
}

/// Erases one text of an earlier entry (admins only); proofs stay valid.
pub(super) async fn erase_content(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, _) = team_for(&state, &key, &user).await?;
    let input: EraseInput = parse_json(&body)?;
    let appended = state
        .ledger
        .erase(UserId(user.id), TeamId(team.id), input.index, &input.field)
        .await?;
    Ok((StatusCode::CREATED, Json(appended_json(&appended))).into_response())
}
