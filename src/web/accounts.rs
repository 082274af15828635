//! Accounts: sign up, sign in, sign out, and user settings.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use super::AppState;
use super::auth::{
    CurrentUser, Origin, describe_agent, local_path, session_error, start_signed_in, with_next,
};
use super::field_errors::FieldErrors;
use super::flash::Flash;
use super::pages::{Ctx, FormCtx, see_other};
use crate::db::users;
use crate::domain::InvalidInput;
use crate::domain::account::{DisplayName, Email, NewPassword, normalize_email, parse_time_zone};
use crate::error::{Error, Result};
use crate::services::accounts;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-up", get(sign_up_form).post(sign_up))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/settings", get(settings_page))
        .route("/settings/profile", post(update_profile))
        .route("/settings/password", post(change_password))
        .route("/settings/mail", post(update_mail))
        .route("/settings/sessions/sign-out", post(sign_out_session))
        .route("/settings/tokens", post(create_token))
        .route("/settings/tokens/{id}/revoke", post(revoke_token))
        .route(
            "/settings/sessions/sign-out-everywhere",
            post(sign_out_everywhere),
        )
        .route("/settings/digest", get(digest_preview))
}

/// Where to go after signing in or up: `?next=` on the forms' pages (set by
/// a page that needed a signed-in user), then a hidden field in the forms.
#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The return path if it is a path on this site; anything else is dropped,
/// so signing in never leads to another site.
fn return_path(raw: &str) -> Option<String> {
    local_path(raw).map(str::to_string)
}

/// After signing in or up: back to the page that asked, or home.
fn signed_in_redirect(next: Option<&str>) -> Response {
    see_other(next.unwrap_or("/"))
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/sign_up.html")]
struct SignUpPage {
    ctx: Ctx,
    first_run: bool,
    next: Option<String>,
    email: String,
    name: String,
    time_zone: String,
    errors: FieldErrors,
}

#[derive(Debug, Deserialize)]
struct SignUpForm {
    email: String,
    name: String,
    password: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    next: String,
}

async fn sign_up_form(
    State(state): State<AppState>,
    FormCtx(mut ctx): FormCtx,
    Query(query): Query<NextQuery>,
) -> Result<SignUpPage> {
    // The header's links keep where to come back to.
    ctx.next = return_path(&query.next);
    Ok(SignUpPage {
        ctx,
        first_run: !users::any(&state.db).await?,
        next: return_path(&query.next),
        email: String::new(),
        name: String::new(),
        time_zone: "UTC".into(),
        errors: FieldErrors::default(),
    })
}

async fn sign_up(
    State(state): State<AppState>,
    from: Origin,
    session: Session,
    flash: Flash,
    ctx: Ctx,
    Form(form): Form<SignUpForm>,
) -> Result<Response> {
    // Every attempt counts, made or refused: each can cost a password hash,
    // and anyone can send them.
    if let Err(wait) = state.sign_up_limiter.wait(&from.address) {
        let mut errors = FieldErrors::default();
        errors.add(
            "form",
            "You have sent too many sign-ups from your network address in a short time. \
             Wait a few minutes, then try again.",
        );
        let page = SignUpPage {
            ctx,
            first_run: !users::any(&state.db).await?,
            next: return_path(&form.next),
            email: form.email,
            name: form.name,
            time_zone: form.time_zone,
            errors,
        };
        let retry_after = wait.as_secs().max(1).to_string();
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, retry_after)],
            page,
        )
            .into_response());
    }
    let mut errors = FieldErrors::default();
    let email = errors.check(Email::parse(&form.email));
    let name = errors.check(DisplayName::parse(&form.name));
    let password = errors.check(NewPassword::parse(&form.password));
    let tz_raw = if form.time_zone.trim().is_empty() {
        "UTC"
    } else {
        form.time_zone.as_str()
    };
    let tz = errors.check(parse_time_zone(tz_raw));
    let next = return_path(&form.next);
    if let (Some(email), Some(name), Some(password), Some(tz)) = (email, name, password, tz) {
        match accounts::register(
            state.ledger.writer(),
            &state.hasher,
            email,
            name,
            password,
            tz,
        )
        .await
        {
            Ok(user) => {
                start_signed_in(&session, user.id, &from).await?;
                flash.set(format!("Welcome, {}.", user.display_name));
                return Ok(signed_in_redirect(next.as_deref()));
            }
            Err(err) => errors.absorb(err, "email")?,
        }
    }
    let page = SignUpPage {
        ctx,
        first_run: !users::any(&state.db).await?,
        next,
        email: form.email,
        name: form.name,
        time_zone: form.time_zone,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/sign_in.html")]
struct SignInPage {
    ctx: Ctx,
    email: String,
    error: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn sign_in_form(
    State(state): State<AppState>,
    FormCtx(mut ctx): FormCtx,
    Query(query): Query<NextQuery>,
) -> Result<Response> {
    let next = return_path(&query.next);
    ctx.next = next.clone();
    if !users::any(&state.db).await? {
        return Ok(see_other(&with_next("/sign-up", next.as_deref())));
    }
    Ok(SignInPage {
        ctx,
        next,
        email: String::new(),
        error: None,
    }
    .into_response())
}

async fn sign_in(
    State(state): State<AppState>,
    from: Origin,
    session: Session,
    ctx: Ctx,
    Form(form): Form<SignInForm>,
) -> Result<Response> {
    state.sign_in_limiter.check(&from.address)?;
    let next = return_path(&form.next);
    let email = normalize_email(&form.email);
    let refused = |ctx: Ctx, next: Option<String>, email: String, wait: chrono::Duration| {
        // Rounded up: a client that waits this long is let in.
        let seconds = (wait.num_milliseconds() + 999) / 1000;
        let minutes = (seconds + 59) / 60;
        let page = SignInPage {
            ctx,
            next,
            email,
            error: Some(format!(
                "There were too many failed sign-ins for this email address. Wait {}, then try again; the right password works again then.",
                match minutes {
                    1 => "a minute".to_string(),
                    m => format!("{m} minutes"),
                }
            )),
        };
        let retry_after = seconds.max(1).to_string();
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, retry_after)],
            page,
        )
            .into_response()
    };
    // Per address, with or without an account (the answer is the same):
    // after a few failures, even the right password waits out the back-off.
    let now = state.ledger.now();
    if let Some(wait) = accounts::sign_in_wait(&state.db, &email, now).await? {
        return Ok(refused(ctx, next, form.email, wait));
    }
    let credentials = users::credentials(&state.db, &email).await?;
    let (id, hash) = credentials.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
    // An unknown email verifies a dummy hash: same answer, similar time.
    if state.hasher.verify(form.password, hash).await
        && let Some(id) = id
    {
        accounts::signed_in(state.ledger.writer(), &state.db, email).await?;
        start_signed_in(&session, id, &from).await?;
        return Ok(signed_in_redirect(next.as_deref()));
    }
    accounts::failed_sign_in(state.ledger.writer(), email, now).await?;
    let page = SignInPage {
        ctx,
        next,
        email: form.email,
        error: Some("That email and password do not match an account.".into()),
    };
    Ok((StatusCode::UNAUTHORIZED, page).into_response())
}

async fn sign_out(session: Session) -> Result<Response> {
    session.flush().await.map_err(session_error)?;
    Ok(see_other("/sign-in"))
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/settings.html")]
struct SettingsPage {
    ctx: Ctx,
    name: String,
    time_zone: String,
    mail: users::MailSettings,
    /// Where the account is signed in, this browser first.
    sessions: Vec<SignedIn>,
    /// Personal API tokens.
    tokens: Vec<TokenRow>,
    /// A token just made, shown this once.
    new_token: Option<String>,
    errors: FieldErrors,
}

/// A personal API token on the settings page.
struct TokenRow {
    id: i64,
    label: String,
    read_only: bool,
    created: crate::format::When,
    last_used: Option<crate::format::When>,
    expires: Option<crate::format::When>,
    expired: bool,
}

async fn token_rows(state: &AppState, user: &users::User) -> Result<Vec<TokenRow>> {
    let now = state.ledger.now();
    let tz = user.time_zone;
    Ok(users::tokens(&state.db, user.id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            label: t.label,
            read_only: t.scope == "read",
            created: crate::format::when(t.created_at.0, tz, now),
            last_used: t.last_used_at.map(|u| crate::format::when(u.0, tz, now)),
            expired: t.expires_at.is_some_and(|e| e.0 <= now),
            expires: t.expires_at.map(|e| crate::format::when(e.0, tz, now)),
        })
        .collect())
}

/// One signed-in session on the settings page.
struct SignedIn {
    /// A public name for the session (its id is a secret).
    handle: String,
    browser: String,
    /// The raw User-Agent, as a tooltip.
    agent: String,
    address: String,
    seen: Option<crate::format::When>,
    this_browser: bool,
}

/// The public name of session `id`: the start of its SHA-256.
fn handle(id: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(id.as_bytes())[..8])
}

/// `user`'s signed-in sessions, `session` (this browser's) first.
async fn signed_in(
    state: &AppState,
    user: &users::User,
    session: &Session,
) -> Result<Vec<SignedIn>> {
    let now = state.ledger.now();
    let mine = session.id().map(|id| id.to_string());
    let rows = crate::db::sessions::of_user(
        state.db.reader(),
        user.id,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )
    .await?;
    let mut list: Vec<SignedIn> = rows
        .into_iter()
        .map(|r| {
            let agent = r.agent.unwrap_or_default();
            SignedIn {
                handle: handle(&r.id),
                browser: describe_agent(&agent),
                agent,
                address: r.address.unwrap_or_else(|| "unknown".into()),
                seen: r
                    .seen_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| crate::format::when(t, user.time_zone, now.max(t))),
                this_browser: mine.as_deref() == Some(r.id.as_str()),
            }
        })
        .collect();
    list.sort_by_key(|s| !s.this_browser);
    Ok(list)
}

async fn mail_settings(state: &AppState, user: &users::User) -> Result<users::MailSettings> {
    users::mail_settings(&state.db, user.id)
        .await?
        .ok_or(Error::NotFound)
}

async fn settings_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    ctx: Ctx,
) -> Result<Response> {
    // Read first: a removal writes the session even when nothing is there,
    // and a page view must not write it.
    let new_token: Option<String> = session.get("new_api_token").await.map_err(session_error)?;
    if new_token.is_some() {
        session
            .remove_value("new_api_token")
            .await
            .map_err(session_error)?;
    }
    let page = SettingsPage {
        ctx,
        mail: mail_settings(&state, &user).await?,
        sessions: signed_in(&state, &user, &session).await?,
        tokens: token_rows(&state, &user).await?,
        new_token,
        name: user.display_name,
        time_zone: user.time_zone.name().to_string(),
        errors: FieldErrors::default(),
    };
    // The page may show a new token: no cache may keep it.
    Ok((super::NO_STORE, page).into_response())
}

/// The mail settings form: a checkbox is sent only when ticked.
#[derive(Debug, Deserialize)]
struct MailForm {
    notify_decider: Option<String>,
    notify_decided: Option<String>,
    notify_opened: Option<String>,
    digest_opened: Option<String>,
    notify_reminder: Option<String>,
    notify_overdue: Option<String>,
    notify_mentioned: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    digest_hour: Option<String>,
}

async fn update_mail(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Form(form): Form<MailForm>,
) -> Result<Response> {
    let current = mail_settings(&state, &user).await?;
    let digest = match form.digest.as_deref() {
        None => current.digest,
        Some(d) => d.parse()?,
    };
    let digest_hour = match form.digest_hour.as_deref() {
        None => current.digest_hour,
        Some(h) => h
            .parse::<i64>()
            .ok()
            .filter(|h| (0..24).contains(h))
            .ok_or_else(|| InvalidInput::new("digest_hour", "must be an hour from 0 to 23"))?,
    };
    let settings = users::MailSettings {
        notify_decider: form.notify_decider.is_some(),
        notify_decided: form.notify_decided.is_some(),
        notify_opened: form.notify_opened.is_some(),
        digest_opened: form.digest_opened.is_some(),
        notify_reminder: form.notify_reminder.is_some(),
        notify_overdue: form.notify_overdue.is_some(),
        notify_mentioned: form.notify_mentioned.is_some(),
        digest,
        digest_hour,
    };
    accounts::set_mail_settings(state.ledger.writer(), user.id, settings).await?;
    flash.set("Mail settings saved.");
    Ok(see_other("/settings"))
}

#[derive(Debug, Deserialize)]
struct ProfileForm {
    name: String,
    time_zone: String,
}

async fn update_profile(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    ctx: Ctx,
    Form(form): Form<ProfileForm>,
) -> Result<Response> {
    let mut errors = FieldErrors::default();
    let name = errors.check(DisplayName::parse(&form.name));
    let tz = errors.check(parse_time_zone(&form.time_zone));
    if let (Some(name), Some(tz)) = (name, tz) {
        accounts::update_profile(state.ledger.writer(), user.id, name, tz).await?;
        flash.set("Settings saved.");
        return Ok(see_other("/settings"));
    }
    let page = SettingsPage {
        ctx,
        mail: mail_settings(&state, &user).await?,
        sessions: signed_in(&state, &user, &session).await?,
        tokens: token_rows(&state, &user).await?,
        new_token: None,
        name: form.name,
        time_zone: form.time_zone,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

async fn change_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    ctx: Ctx,
    Form(form): Form<PasswordForm>,
) -> Result<Response> {
    let mut errors = FieldErrors::default();
    if !accounts::password_matches(&state.db, &state.hasher, user.id, form.current).await? {
        errors.add("current", "is not your current password");
    }
    let new = errors
        .check(NewPassword::parse(&form.new).map_err(|e| InvalidInput::new("new", e.message)));
    if let (true, Some(new)) = (errors.is_empty(), new) {
        let ended =
            accounts::set_password(state.ledger.writer(), &state.hasher, user.id, new).await?;
        // Every session of the account ended, this one too: it goes on
        // under a new id.
        session.cycle_id().await.map_err(session_error)?;
        flash.set(match ended.saturating_sub(1) {
            0 => "Your password is changed.".to_string(),
            1 => "Your password is changed, and your other session was signed out.".to_string(),
            n => format!("Your password is changed, and your {n} other sessions were signed out."),
        });
        return Ok(see_other("/settings"));
    }
    let page = SettingsPage {
        ctx,
        mail: mail_settings(&state, &user).await?,
        sessions: signed_in(&state, &user, &session).await?,
        tokens: token_rows(&state, &user).await?,
        new_token: None,
        name: user.display_name,
        time_zone: user.time_zone.name().to_string(),
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Debug, Deserialize)]
struct SessionForm {
    session: String,
}

/// POST /settings/sessions/sign-out: ends one of the account's sessions,
/// named by its handle.
async fn sign_out_session(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Form(form): Form<SessionForm>,
) -> Result<Response> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let rows = crate::db::sessions::of_user(state.db.reader(), user.id, now).await?;
    let Some(row) = rows.into_iter().find(|r| handle(&r.id) == form.session) else {
        flash.set("That session had ended already.");
        return Ok(see_other("/settings#sessions-heading"));
    };
    let mine = session.id().is_some_and(|id| id.to_string() == row.id);
    accounts::sign_out_session(state.ledger.writer(), user.id, row.id).await?;
    if mine {
        session.flush().await.map_err(session_error)?;
        return Ok(see_other("/sign-in"));
    }
    flash.set(format!(
        "{} is signed out.",
        describe_agent(row.agent.as_deref().unwrap_or(""))
    ));
    Ok(see_other("/settings#sessions-heading"))
}

/// POST /settings/sessions/sign-out-everywhere: ends every session of the
/// account, this one too.
async fn sign_out_everywhere(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
) -> Result<Response> {
    accounts::sign_out_everywhere(state.ledger.writer(), user.id, None).await?;
    session.flush().await.map_err(session_error)?;
    flash.set("You are signed out everywhere, in this browser too.");
    Ok(see_other("/sign-in"))
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    name: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    expires: String,
}

/// POST /settings/tokens: a new personal API token, shown once.
async fn create_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Form(form): Form<TokenForm>,
) -> Result<Response> {
    let refuse = |why: &str| {
        flash.set(format!("No token was created: {why}."));
        Ok(see_other("/settings#tokens-heading"))
    };
    let label = match crate::domain::clean_label(&form.name) {
        Ok(label) => label,
        Err(e) => return refuse(&format!("the token's name {}", e.message)),
    };
    let read_only = match form.access.as_str() {
        "read" => true,
        "write" => false,
        _ => return refuse("choose whether it may only read, or read and write"),
    };
    let days = match form.expires.as_str() {
        "never" => None,
        d => match d.parse::<i64>().ok().filter(|d| [30, 90, 365].contains(d)) {
            Some(d) => Some(d),
            None => return refuse("it expires never, in 30 days, in 90 days or in a year"),
        },
    };
    let token = crate::services::tokens::create_token(
        state.ledger.writer(),
        user.id,
        label,
        crate::services::tokens::TokenRights { read_only, days },
    )
    .await?;
    session
        .insert("new_api_token", token)
        .await
        .map_err(session_error)?;
    flash.set("API token created. Copy it now: it is shown once.");
    Ok(see_other("/settings#tokens-heading"))
}

/// POST /settings/tokens/{id}/revoke: the token stops working at once.
async fn revoke_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response> {
    let done = crate::services::tokens::revoke_token(state.ledger.writer(), user.id, id).await?;
    flash.set(if done {
        "API token revoked: it no longer works, on any instance."
    } else {
        "That API token had been revoked already."
    });
    Ok(see_other("/settings#tokens-heading"))
}

/// One team's next digest on the preview page.
struct PreviewItem {
    team: String,
    subject: Option<String>,
    text: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/digest.html")]
struct DigestPreviewPage {
    ctx: Ctx,
    cadence: String,
    hour: i64,
    items: Vec<PreviewItem>,
}

/// GET /settings/digest: the next digest of each team, as it would be sent.
async fn digest_preview(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
) -> Result<DigestPreviewPage> {
    let settings = mail_settings(&state, &user).await?;
    let composer = state.mail_worker().composer;
    let mut items = Vec::new();
    for (team, view) in crate::mail::digest::previews(&composer, &user, chrono::Utc::now()).await? {
        let (subject, text) = match view {
            Some(v) => (
                Some(v.subject.clone()),
                Some(v.text().map_err(|e| anyhow::anyhow!("{e}"))?),
            ),
            None => (None, None),
        };
        items.push(PreviewItem {
            team: team.name,
            subject,
            text,
        });
    }
    Ok(DigestPreviewPage {
        ctx,
        cadence: settings.digest.to_string(),
        hour: settings.digest_hour,
        items,
    })
}
