//! What every page shares: the request context (user, CSRF token, flash),
//! the error page, time formatting. Markdown and trusted HTML are in
//! `html`.

use std::sync::LazyLock;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
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
        Ok(Self { user, csrf, flash })
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

/// An instant shown to a person: in their time zone and relative to now,
/// with the exact UTC value for machines (`<time datetime>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// RFC 3339 in UTC.
    pub iso: String,
    /// In the viewer's zone, e.g. `Tue 24 Nov 2026, 15:00 CET`.
    pub local: String,
    /// e.g. `in 2 days`, `3 hours ago`.
    pub relative: String,
}

/// The local format (`Tue 24 Nov 2026, 15:00 CET`), parsed once: a page
/// formats a hundred instants, and parsing the pattern each time was the
/// largest single cost of rendering one.
static LOCAL_FORMAT: LazyLock<Vec<chrono::format::Item<'static>>> = LazyLock::new(|| {
    chrono::format::StrftimeItems::new("%a %-d %b %Y, %H:%M %Z")
        .parse_to_owned()
        .unwrap_or_default()
});

/// Formats `t` for a viewer in `tz` at `now`.
pub fn when(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> When {
    When {
        iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        local: t
            .with_timezone(&tz)
            .format_with_items(LOCAL_FORMAT.iter())
            .to_string(),
        relative: relative(t, now),
    }
}

/// `in 3 hours`, `2 days ago`, `just now`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (t - now).num_seconds();
    let future = seconds > 0;
    let s = seconds.unsigned_abs();
    let amount = match s {
        0..=59 => return "just now".into(),
        60..=3_599 => plural(s / 60, "minute"),
        3_600..=86_399 => plural(s / 3_600, "hour"),
        86_400..=2_591_999 => plural(s / 86_400, "day"),
        _ => plural(s / 2_592_000, "month"),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_naturally() {
        let now = Utc::now();
        assert_eq!(
            relative(now + chrono::Duration::hours(49), now),
            "in 2 days"
        );
        assert_eq!(
            relative(now - chrono::Duration::minutes(1), now),
            "1 minute ago"
        );
        assert_eq!(relative(now, now), "just now");
        let t = DateTime::parse_from_rfc3339("2026-07-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let shown = when(t, chrono_tz::Europe::Berlin, t);
        assert_eq!(shown.local, "Wed 1 Jul 2026, 14:00 CEST");
    }
}
