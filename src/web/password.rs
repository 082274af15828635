//! "Forgot your password?": a single-use link by mail, and the page that
//! sets the new password and ends every other session of the account.
//!
//! The request page answers the same whether or not an account uses the
//! address, and at the same speed: the lookup, the link and the mail happen
//! after the answer. Requests are limited per address and per client. The
//! link's token is 256 random bits; only its SHA-256 is stored, and the mail
//! is sent at once rather than queued, so the token is stored nowhere.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use super::AppState;
use super::auth::{ClientIp, Origin, start_signed_in};
use super::field_errors::FieldErrors;
use super::flash::Flash;
use super::pages::{Ctx, FormCtx, see_other};
use crate::db::users;
use crate::domain::account::{Email, NewPassword};
use crate::error::Result;
use crate::services::accounts;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/password/forgot", get(forgot_form).post(forgot))
        .route("/password/reset/{token}", get(reset_form).post(reset))
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/forgot.html")]
struct ForgotPage {
    ctx: Ctx,
    email: String,
    /// What happened to the request, once sent.
    answer: Option<String>,
    error: Option<String>,
}

async fn forgot_form(FormCtx(ctx): FormCtx) -> ForgotPage {
    ForgotPage {
        ctx,
        email: String::new(),
        answer: None,
        error: None,
    }
}

#[derive(Debug, Deserialize)]
struct ForgotForm {
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    FormCtx(ctx): FormCtx,
    Form(form): Form<ForgotForm>,
) -> Result<Response> {
    let email = form.email.trim().to_string();
    let refuse = |status: StatusCode, error: &str| {
        let page = ForgotPage {
            ctx: ctx.clone(),
            email: email.clone(),
            answer: None,
            error: Some(error.to_string()),
        };
        Ok((status, page).into_response())
    };
    // The same check as sign-up's: an address no account could have is told.
    let Ok(parsed) = Email::parse(&email) else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Email must be the address you signed up with, such as ana@example.com.",
        );
    };
    let normalized = parsed.normalized();
    // Both limits count every request, whether or not an account uses the
    // address: their answer says nothing about accounts.
    if state.reset_client_limiter.check(&client).is_err()
        || state.reset_address_limiter.check(&normalized).is_err()
    {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "You have asked for several links in a short time. Use the link in the latest mail, or wait an hour and ask again.",
        );
    }
    let app = state.clone();
    tokio::spawn(async move {
        if let Err(err) = send_link(&app, &normalized).await {
            tracing::warn!(error = %err, "could not send a password reset link");
        }
    });
    let answer = if state.mailer.writes_to_folder() {
        format!(
            "If an account uses {email}, a link to set a new password was written to this server's mail folder: this server sends no mail yet, so ask its operator for the link. The link works once, for one hour."
        )
    } else {
        format!(
            "If an account uses {email}, Settled has mailed it a link to set a new password. The link works once, for one hour. If no mail comes within a few minutes, check the address and your spam folder."
        )
    };
    Ok(ForgotPage {
        ctx,
        email,
        answer: Some(answer),
        error: None,
    }
    .into_response())
}

/// Mails a reset link to the account using `normalized`, if there is one.
pub async fn send_link(state: &AppState, normalized: &str) -> Result<bool> {
    let Some(user) = users::by_email(&state.db, normalized).await? else {
        return Ok(false);
    };
    let now = state.ledger.now();
    let token = accounts::create_reset(state.ledger.writer(), user.id, now).await?;
    let link = format!("{}/password/reset/{token}", state.base_url);
    let expires = crate::format::when(now + accounts::RESET_VALID, user.time_zone, now);
    let message = crate::mail::compose::password_reset(
        &state.mailer,
        &user.display_name,
        &user.email,
        link,
        &format!("{} ({})", expires.local, user.time_zone.name()),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stem = format!("{}-password_reset", now.timestamp_micros());
    state
        .mailer
        .send(message, &stem)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    Ok(true)
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/reset.html")]
struct ResetPage {
    ctx: Ctx,
    token: String,
    /// The link works.
    valid: bool,
    errors: FieldErrors,
}

async fn reset_form(
    State(state): State<AppState>,
    FormCtx(ctx): FormCtx,
    Path(token): Path<String>,
) -> Result<Response> {
    let valid = accounts::reset_link_user(&state.db, &token, state.ledger.now())
        .await?
        .is_some();
    let page = ResetPage {
        ctx,
        token,
        valid,
        errors: FieldErrors::default(),
    };
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    Ok((status, page).into_response())
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    password: String,
}

async fn reset(
    State(state): State<AppState>,
    from: Origin,
    session: Session,
    flash: Flash,
    FormCtx(ctx): FormCtx,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<Response> {
    let mut errors = FieldErrors::default();
    let Some(password) = errors.check(NewPassword::parse(&form.password)) else {
        let page = ResetPage {
            ctx,
            token,
            valid: true,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let now = state.ledger.now();
    let user = accounts::reset_password(
        state.ledger.writer(),
        &state.hasher,
        &state.db,
        &token,
        password,
        now,
    )
    .await?;
    let Some(user) = user else {
        let page = ResetPage {
            ctx,
            token,
            valid: false,
            errors,
        };
        return Ok((StatusCode::GONE, page).into_response());
    };
    start_signed_in(&session, user, &from).await?;
    flash.set(
        "Your new password is set, and you are signed in. Every other session of your account was signed out.",
    );
    Ok(see_other("/"))
}
