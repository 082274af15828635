//! Team settings: members and roles, erasure, status visibility and
//! tokens, webhook secrets and the team key.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use tower_sessions::Session;

use super::show_once;
use crate::db::teams::{Member, Team};
use crate::db::{Timestamp, teams};
use crate::domain::ids::TeamKey;
use crate::domain::ids::{TeamId, UserId};
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::format::{When, when};
use crate::services;
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::extract::{actor, membership};
use crate::web::flash::Flash;
use crate::web::pages::{Ctx, see_other};

/// A pending invitation as shown to admins.
pub(super) struct InvitationItem {
    id: i64,
    role: String,
    email: Option<String>,
    inviter: String,
    created: When,
    expires: When,
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/settings.html")]
pub(super) struct SettingsPage {
    ctx: Ctx,
    team: Team,
    role: Role,
    members: Vec<Member>,
    roles: [Role; 3],
    invitations: Vec<InvitationItem>,
    new_link: Option<String>,
    base_url: String,
    status_public: bool,
    status_tokens: Vec<String>,
    new_status_token: Option<String>,
    webhook_secrets: Vec<(i64, String, When)>,
    new_webhook_secret: Option<String>,
}

pub(super) async fn settings_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    ctx: Ctx,
    Path(slug): Path<String>,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let mut pool = state.db.reader();
    let now = Utc::now();
    let invitations = if role == Role::Admin {
        teams::pending_invitations(pool.re(), team.id, Timestamp(now))
            .await?
            .into_iter()
            .map(|i| InvitationItem {
                id: i.id,
                role: i.role.to_string(),
                email: i.email,
                inviter: i.inviter,
                created: when(i.created_at.0, ctx.tz(), now),
                expires: when(i.expires_at.0, ctx.tz(), now),
            })
            .collect()
    } else {
        Vec::new()
    };
    // The link is shown once, right after it was made.
    let new_link: Option<String> = session
        .remove("new_invitation")
        .await
        .map_err(crate::web::auth::session_error)?;
    let new_status_token: Option<String> = session
        .remove("new_status_token")
        .await
        .map_err(crate::web::auth::session_error)?;
    let new_webhook_secret: Option<String> = session
        .remove("new_webhook_secret")
        .await
        .map_err(crate::web::auth::session_error)?;
    let mut webhook_secrets = Vec::new();
    if role == Role::Admin {
        for host in ["github", "gitlab", "gitea", "forgejo"] {
            for s in crate::db::links::secrets(pool.re(), team.id, host).await? {
                webhook_secrets.push((s.id, host.to_string(), when(s.created_at.0, ctx.tz(), now)));
            }
        }
    }
    // The page shows new secrets (see `show_once`).
    let page = SettingsPage {
        webhook_secrets,
        new_webhook_secret,
        status_public: teams::status_public(pool.re(), team.id).await?,
        status_tokens: teams::status_token_labels(pool.re(), team.id).await?,
        new_status_token,
        members: teams::members(pool.re(), team.id).await?,
        roles: Role::ALL,
        invitations,
        new_link,
        base_url: state.base_url.to_string(),
        ctx,
        team,
        role,
    };
    Ok((crate::web::NO_STORE, page).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct RoleForm {
    role: String,
}

pub(super) async fn change_role(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, member)): Path<(String, i64)>,
    Form(form): Form<RoleForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let role: Role = form.role.parse()?;
    match state
        .ledger
        .change_role(UserId(user.id), TeamId(team.id), UserId(member), role)
        .await
    {
        Ok(_) => flash.set("Role changed."),
        Err(Error::Rule(v)) => flash.set(format!("Role not changed: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, member)): Path<(String, i64)>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    match state
        .ledger
        .remove_member(UserId(user.id), TeamId(team.id), UserId(member))
        .await
    {
        Ok(_) if member == user.id => {
            flash.set(format!("You left {}.", team.name));
            return Ok(see_other("/"));
        }
        Ok(_) => flash.set("Member removed. Their stances and comments stay in the record."),
        Err(Error::Rule(v)) => flash.set(format!("Not removed: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
pub(super) struct EraseForm {
    index: String,
    field: String,
    #[serde(default)]
    back: String,
}

/// Erases one text of an earlier entry (admins only), then returns to the
/// page the form was on.
pub(super) async fn erase_content(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<EraseForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let back = if form.back.starts_with("/d/") || form.back.starts_with("/t/") {
        form.back.clone()
    } else {
        format!("/t/{}/log", team.slug)
    };
    let index = form
        .index
        .trim()
        .parse::<i64>()
        .map_err(|_| crate::domain::InvalidInput::new("index", "must be an entry number"));
    let outcome = match index {
        Ok(index) => state
            .ledger
            .erase(UserId(user.id), TeamId(team.id), index, form.field.trim())
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => flash.set("Content erased. The entry, its hash and every proof stay valid."),
        Err(Error::Invalid(e)) => flash.set(format!("Not erased: {} {}.", e.field, e.message)),
        Err(Error::Rule(v)) => flash.set(format!("Not erased: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&back))
}

#[derive(Debug, Deserialize)]
pub(super) struct VisibilityForm {
    public: String,
}

pub(super) async fn set_status_visibility(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<VisibilityForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let public = form.public == "true";
    match state
        .ledger
        .set_status_public(UserId(user.id), TeamId(team.id), public)
        .await
    {
        Ok(_) if public => flash.set("Decision status is now public (contents stay private)."),
        Ok(_) => flash.set("Decision status is private again."),
        Err(Error::Rule(v)) => flash.set(format!("Not changed: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
pub(super) struct DecideWithinForm {
    days: String,
}

pub(super) async fn set_decide_within(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<DecideWithinForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let refused = "Not changed: the days after the window must be a whole number from 1 to 365.";
    match form.days.trim().parse::<i64>() {
        Err(_) => flash.set(refused),
        Ok(days) => match state
            .ledger
            .set_decision_period(UserId(user.id), TeamId(team.id), days)
            .await
        {
            Ok(_) => flash.set(format!(
                "Decisions are now due within {days} days after the window."
            )),
            Err(Error::Invalid(_)) => flash.set(refused),
            Err(Error::Rule(v)) => flash.set(format!("Not changed: {v}.")),
            Err(err) => return Err(err),
        },
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
pub(super) struct StatusTokenForm {
    label: String,
}

pub(super) async fn create_status_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<StatusTokenForm>,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let label = crate::domain::clean_label(&form.label)?;
    let actor = actor(&team, role, &user);
    let token = services::tokens::create_status_token(state.ledger.writer(), actor, label).await?;
    show_once(
        &session,
        &flash,
        "new_status_token",
        token,
        "Status token created. Copy it now: it is shown once.",
    )
    .await?;
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
pub(super) struct WebhookForm {
    #[serde(default)]
    host: String,
}

pub(super) async fn add_webhook_secret(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<WebhookForm>,
) -> Result<Response> {
    let host = services::integrations::parse_host(&form.host)?;
    let (team, role) = membership(&state, &slug, &user).await?;
    let actor = actor(&team, role, &user);
    let secret = services::integrations::add_secret(state.ledger.writer(), actor, host).await?;
    show_once(
        &session,
        &flash,
        "new_webhook_secret",
        secret,
        "Webhook secret created. Paste it into the code host now: it is shown once.",
    )
    .await?;
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

pub(super) async fn remove_webhook_secret(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let actor = actor(&team, role, &user);
    services::integrations::remove_secret(state.ledger.writer(), actor, id).await?;
    flash.set("Webhook secret removed; deliveries signed with it are refused from now on.");
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
pub(super) struct KeyForm {
    key: String,
}

pub(super) async fn rename_key(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<KeyForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let outcome = match TeamKey::parse(&form.key) {
        Ok(key) => state
            .ledger
            .rename_key(UserId(user.id), TeamId(team.id), key)
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => flash.set("Key renamed. Old decision ids keep redirecting to the new ones."),
        Err(err @ (Error::Invalid(_) | Error::Rule(_) | Error::Taken { .. })) => {
            flash.set(format!("Key not renamed: {err}."))
        }
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}
