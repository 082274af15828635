//! Invitation links: creating one (and mailing it), and joining a team
//! through one.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::show_once;
use crate::db::teams;
use crate::db::teams::Team;
use crate::db::users::{User, token_hash};
use crate::domain::ids::UserId;
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::extract::membership;
use crate::web::flash::Flash;
use crate::web::pages::{Ctx, see_other};

/// Creates an invitation link for `role` (admins only), mailed to `email`
/// if one is given, which counts against the inviter's mail limit; returns
/// the URL and token. Shared by the settings page and the API.
pub async fn invite(
    state: &AppState,
    team: &Team,
    role: Role,
    actor_role: Role,
    actor: &User,
    email: Option<&str>,
) -> Result<(String, String)> {
    let acting = crate::web::extract::actor(team, actor_role, actor);
    // The service checks again; here it comes first so that a refused
    // request counts nothing against the inviter's mail limit.
    acting.require_admin()?;
    // The address is checked before anything is stored.
    let mail_to = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(raw) => {
            state.invitation_mail_limiter.check(&actor.id)?;
            let parsed = crate::domain::account::Email::parse(raw)?;
            raw.parse::<lettre::Address>().map_err(|_| {
                crate::domain::InvalidInput::new(
                    "email",
                    "must be an email address like ana@example.com",
                )
            })?;
            Some(parsed)
        }
        None => None,
    };
    let invitation = crate::services::invitations::Invitation {
        role,
        mail_to,
        inviter_name: actor.display_name.clone(),
    };
    crate::services::invitations::create(state.ledger.writer(), &state.base_url, acting, invitation)
        .await
}

#[derive(Debug, Deserialize)]
pub(super) struct InvitationForm {
    role: String,
    /// Optional: mail the link to this address.
    #[serde(default)]
    email: String,
}

pub(super) async fn create_invitation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<InvitationForm>,
) -> Result<Response> {
    let (team, actor_role) = membership(&state, &slug, &user).await?;
    let role: Role = form.role.parse()?;
    let email = form.email.trim();
    let (url, _) = match invite(&state, &team, role, actor_role, &user, Some(email)).await {
        Ok(created) => created,
        Err(Error::Invalid(e)) => {
            flash.set(format!("No invitation created: the email {}.", e.message));
            return Ok(see_other(&format!("/t/{}/settings", team.slug)));
        }
        Err(e) => return Err(e),
    };
    let message = if email.is_empty() {
        format!("Invitation link created (role: {role}). Copy it now: it is shown once.")
    } else if state.mailer.writes_to_folder() {
        format!(
            "Invitation link created (role: {role}). The invitation to {email} was written to the server's mail folder, not sent, because this server has no SMTP server configured: copy the link now and send it yourself. It is shown once."
        )
    } else {
        format!(
            "Invitation link created (role: {role}) and mailed to {email}. You can also copy it now: it is shown once."
        )
    };
    show_once(&session, &flash, "new_invitation", url, &message).await?;
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/invitation.html")]
pub(super) struct InvitationPage {
    ctx: Ctx,
    token: String,
    team_name: String,
    inviter: String,
    article: &'static str,
    role: String,
    error: Option<String>,
}

/// GET /invite/{token}: who invites you to which team, as what. Signed
/// out, the page offers to create an account or sign in, each coming back
/// here; signed in, it joins.
pub(super) async fn invitation_page(
    State(state): State<AppState>,
    mut ctx: Ctx,
    Path(token): Path<String>,
) -> Result<Response> {
    ctx.next = Some(format!("/invite/{token}"));
    let invitation = teams::invitation_by_hash(state.db.reader(), &token_hash(&token)).await?;
    let now = state.ledger.now();
    let why_not = match &invitation {
        None => Some("it was never made, or it was replaced by a newer link"),
        Some(i) if i.revoked_at.is_some() => Some("an admin of the team revoked it"),
        Some(i) if i.accepted_by.is_some() => Some("it was used already"),
        Some(i) if i.expires_at.0 <= now => Some("it has expired"),
        Some(_) => None,
    };
    let (Some(invitation), None) = (invitation, why_not) else {
        let page = InvitationPage {
            ctx,
            token,
            team_name: String::new(),
            inviter: String::new(),
            article: "",
            role: String::new(),
            error: Some(format!(
                "This invitation link is no longer valid: {}. Ask an admin of the team for a new one.",
                why_not.unwrap_or_default()
            )),
        };
        return Ok((StatusCode::GONE, page).into_response());
    };
    let team = teams::by_id(state.db.reader(), invitation.team_id)
        .await?
        .ok_or(Error::NotFound)?;
    let role = invitation.role.to_string();
    Ok(InvitationPage {
        ctx,
        token,
        team_name: team.name,
        inviter: invitation.inviter,
        article: if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        },
        role,
        error: None,
    }
    .into_response())
}

/// POST /t/{slug}/invitations/{id}/revoke (admins): the link stops working.
pub(super) async fn revoke_invitation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response> {
    let (team, actor_role) = membership(&state, &slug, &user).await?;
    let acting = crate::web::extract::actor(&team, actor_role, &user);
    let done = crate::services::invitations::revoke(state.ledger.writer(), acting, id).await?;
    flash.set(if done {
        "Invitation revoked: its link no longer works."
    } else {
        "That invitation was no longer pending: it was used, revoked or had expired."
    });
    Ok(see_other(&format!(
        "/t/{}/settings#invite-heading",
        team.slug
    )))
}

/// POST /t/{slug}/invitations/{id}/resend (admins): mails the invitation
/// again under a new link; the old one stops working.
pub(super) async fn resend_invitation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response> {
    let (team, actor_role) = membership(&state, &slug, &user).await?;
    let acting = crate::web::extract::actor(&team, actor_role, &user);
    acting.require_admin()?;
    state.invitation_mail_limiter.check(&user.id)?;
    let pending = teams::invitation_by_id(state.db.reader(), team.id, id).await?;
    let sent = crate::services::invitations::resend(
        state.ledger.writer(),
        &state.base_url,
        acting,
        id,
        user.display_name.clone(),
    )
    .await?;
    let to = pending.and_then(|i| i.email).unwrap_or_default();
    flash.set(match sent {
        Some(_) if state.mailer.writes_to_folder() => format!(
            "A new link for {to} was written to the server's mail folder (this server sends no mail yet); the old link no longer works."
        ),
        Some(_) => format!("A new link was mailed to {to}; the old link no longer works."),
        None => "That invitation can no longer be sent: it was used, revoked or had expired, or it has no address. Create a new one.".into(),
    });
    Ok(see_other(&format!(
        "/t/{}/settings#invite-heading",
        team.slug
    )))
}

pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(token): Path<String>,
) -> Result<Response> {
    match state
        .ledger
        .accept_invitation(UserId(user.id), &token_hash(&token))
        .await
    {
        Ok(team) => {
            flash.set(format!("Welcome to {}.", team.name));
            Ok(see_other(&format!("/t/{}", team.slug)))
        }
        Err(Error::Rule(v)) => {
            flash.set(format!("Could not join: {v}."));
            Ok(see_other("/"))
        }
        Err(err) => Err(err),
    }
}
