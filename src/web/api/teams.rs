//! Teams, invitations and members.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiResult, ApiUser, first_error, parse_json, team_for};
use crate::db::teams::{self, Team};
use crate::db::users::{self};
use crate::domain::ids::UserId;
use crate::domain::team::Role;
use crate::web::AppState;
use crate::web::field_errors::FieldErrors;

#[derive(Debug, Serialize)]
pub(super) struct TeamJson {
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
pub(super) struct CreateTeam {
    name: String,
    key: String,
    window_hours: Option<i64>,
}

pub(super) async fn create_team(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    body: Bytes,
) -> ApiResult<Response> {
    let input: CreateTeam = parse_json(&body)?;
    let mut errors = FieldErrors::default();
    let window = input.window_hours.map(|h| h.to_string());
    let new =
        crate::web::teams::parse_team(&input.name, &input.key, window.as_deref(), &mut errors)
            .ok_or_else(|| first_error(errors, &["name", "key", "window_hours"]))?;
    let team = state.ledger.create_team(UserId(user.id), new).await?;
    Ok((StatusCode::CREATED, Json(TeamJson::from(team))).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct CreateInvitation {
    role: String,
    /// Optional: mail the link to this address.
    #[serde(default)]
    email: Option<String>,
}

pub(super) async fn create_invitation(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (team, actor_role) = team_for(&state, &key, &user).await?;
    let input: CreateInvitation = parse_json(&body)?;
    let role: Role = input.role.parse()?;
    let (url, token) = crate::web::teams::invite(
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
        crate::web::NO_STORE,
        Json(invitation_json(
            &state,
            &url,
            &token,
            role,
            input.email.as_deref(),
        )),
    )
        .into_response())
}

/// An invitation as the API answers it. With an address, `mail` says where
/// the invitation went: `delivery` is `smtp` (queued for sending) or
/// `folder` (written to the server's mail folder, since no SMTP server is
/// configured: the caller must pass the link on).
fn invitation_json(
    state: &AppState,
    url: &str,
    token: &str,
    role: Role,
    email: Option<&str>,
) -> serde_json::Value {
    let mut body = json!({ "url": url, "token": token, "role": role });
    if let Some(to) = email.map(str::trim).filter(|e| !e.is_empty()) {
        let delivery = if state.mailer.writes_to_folder() {
            "folder"
        } else {
            "smtp"
        };
        body["mail"] = json!({ "to": to, "delivery": delivery });
    }
    body
}

pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(token): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let team = state
        .ledger
        .accept_invitation(UserId(user.id), &users::token_hash(&token))
        .await?;
    let role = teams::role_of(state.db.reader(), team.id, user.id).await?;
    Ok(Json(json!({ "team": TeamJson::from(team), "role": role })))
}

pub(super) async fn list_members(
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
