//! What every page shares: the request context (user, CSRF token, flash)
//! and the error page. Markdown and trusted HTML are in `html`; times as
//! people read them in `crate::format`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono_tz::Tz;
use tower_sessions::Session;

use super::AppState;
use super::auth::{CSRF_KEY, USER_KEY, csrf_token, session_error, with_next};
use super::flash::Flash;
use crate::db::users::User;
use crate::error::Error;

/// The per-request context every page template receives.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// The signed-in user, if any.
    pub user: Option<User>,
    /// The CSRF token to embed in forms; empty for a signed-out visitor
    /// whose page has no form that needs one (see [`FormCtx`]).
    pub csrf: String,
    /// A one-time message from the previous POST.
    pub flash: Option<String>,
    /// No SMTP server is configured: mail is only written to the server's
    /// mail folder (instance admins see a banner, mail settings say so).
    pub mail_unsent: bool,
    /// Where the header's "Sign in" and "Sign up" links come back to (an
    /// invitation, say), as `?next=…` (a local path, already checked).
    pub next: Option<String>,
}

impl Ctx {
    /// `page` (`/sign-in` or `/sign-up`) coming back to [`Ctx::next`].
    pub fn with_next(&self, page: &str) -> String {
        super::auth::with_next(page, self.next.as_deref())
    }
}

impl Ctx {
    /// The viewer's time zone (UTC when signed out).
    pub fn tz(&self) -> Tz {
        self.user.as_ref().map_or(chrono_tz::UTC, |u| u.time_zone)
    }
}

/// Session key: the last day (days since the epoch) the user was seen.
const SEEN_DAY_KEY: &str = "seen_day";

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("session layer missing")))?;
        let user_id: Option<i64> = session.get(USER_KEY).await.map_err(session_error)?;
        let loaded = parts
            .extensions
            .get::<super::auth::CurrentUser>()
            .map(|u| u.0.clone());
        let user = match (loaded, user_id) {
            (Some(user), Some(id)) if user.id == id => Some(user),
            (_, Some(id)) => state.user(id).await?,
            (_, None) => None,
        };
        // A new token must be stored, and storing it creates a session row:
        // only for a signed-in user (whose row exists anyway) or a page
        // with a form (`FormCtx`). Other signed-out views store nothing.
        let csrf = if user.is_some() {
            csrf_token(&session).await?
        } else {
            session
                .get(CSRF_KEY)
                .await
                .map_err(session_error)?
                .unwrap_or_default()
        };
        let flash = Flash::from_request_parts(parts, state).await?.take();
        // The inactivity expiry moves only when the session is written:
        // touch it once a day while its user is active.
        if user.is_some() {
            let today = chrono::Utc::now().timestamp().div_euclid(86_400);
            let seen: Option<i64> = session.get(SEEN_DAY_KEY).await.map_err(session_error)?;
            if seen != Some(today) {
                session
                    .insert(SEEN_DAY_KEY, today)
                    .await
                    .map_err(session_error)?;
            }
        }
        Ok(Self {
            user,
            csrf,
            flash,
            mail_unsent: state.mailer.writes_to_folder(),
            next: None,
        })
    }
}

/// The context of a page that shows a signed-out visitor a form that
/// posts back here (sign in, sign up): its CSRF token must exist, so the
/// session is stored even without a user.
#[derive(Debug, Clone)]
pub struct FormCtx(pub Ctx);

impl FromRequestParts<AppState> for FormCtx {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut ctx = Ctx::from_request_parts(parts, state).await?;
        if ctx.csrf.is_empty() {
            let session = Session::from_request_parts(parts, state)
                .await
                .map_err(|_| Error::Internal(anyhow::anyhow!("session layer missing")))?;
            ctx.csrf = csrf_token(&session).await?;
        }
        Ok(Self(ctx))
    }
}

/// POST → 303 → GET.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The error page.
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Context (empty: errors can happen before it is known).
    pub ctx: Ctx,
    /// HTTP status code.
    pub status: u16,
    /// Heading.
    pub title: String,
    /// What happened, safe to show.
    pub message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Unauthorized => return Redirect::to("/sign-in").into_response(),
            Error::SignInRequired { next } => {
                return Redirect::to(&with_next("/sign-in", next.as_deref())).into_response();
            }
            _ => {}
        }
        let status = self.status();
        let page = ErrorPage {
            ctx: Ctx::default(),
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            message: self.public_message(),
        };
        let mut response = (status, page).into_response();
        if matches!(self, Error::RateLimited) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
        }
        response
    }
}

/// The fallback for unknown paths.
pub async fn not_found() -> Response {
    let mut response = Error::NotFound.into_response();
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
