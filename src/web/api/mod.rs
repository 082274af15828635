//! The JSON API under `/api/v1`, authenticated by a personal API token
//! (`Authorization: Bearer <token>`) or by the browser session (then writes
//! need the `X-CSRF-Token` header). Errors are
//! `{"error": {"code": "...", "message": "..."}}`; non-members get 404 for
//! everything of a team.
//!
//! Files: `error` (the JSON error), `user` (who calls), `teams`, `decisions`
//! (proposals, stances, comments, decisions) and `log` (entries,
//! checkpoints, proofs, export, erasure).

mod decisions;
mod error;
mod log;
mod teams;
mod user;

use axum::Router;
use axum::body::Bytes;
use axum::response::Response;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use super::AppState;
use super::field_errors::FieldErrors;
use crate::db::proposals::Proposal;
use crate::db::teams::{Team, TeamRef};
use crate::db::users::User;
use crate::domain::InvalidInput;
use crate::domain::ids::TeamKey;
use crate::domain::team::Role;
use crate::error::Error;
use crate::web::Membership;

pub use error::{ApiError, ApiResult};
pub use user::ApiUser;

/// Routes of this module (nested under `/api/v1`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams", post(teams::create_team))
        .route("/teams/{key}/invitations", post(teams::create_invitation))
        .route(
            "/invitations/{token}/accept",
            post(teams::accept_invitation),
        )
        .route("/teams/{key}/members", get(teams::list_members))
        .route(
            "/teams/{key}/proposals",
            get(decisions::list_proposals).post(decisions::create_proposal),
        )
        .route("/teams/{key}/log", get(log::log))
        .route("/teams/{key}/checkpoint", get(log::checkpoint))
        .route("/teams/{key}/proofs/inclusion", get(log::inclusion_proof))
        .route(
            "/teams/{key}/proofs/consistency",
            get(log::consistency_proof),
        )
        .route("/teams/{key}/export", get(log::export))
        .route("/teams/{key}/erasures", post(log::erase_content))
        .route("/decisions/{id}/proof", get(log::decision_proof))
        .route("/decisions/{id}", get(decisions::show_decision))
        .route("/decisions/{id}/stances", post(decisions::take_stance))
        .route("/decisions/{id}/comments", post(decisions::add_comment))
        .route("/decisions/{id}/decision", post(decisions::record_decision))
        .fallback(|| async { ApiError(Error::NotFound) })
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
    let Membership { team, role, .. } = state
        .as_member(TeamRef::Key(key.as_str()), user.id)
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
