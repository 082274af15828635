//! Who is calling: sessions, API tokens, CSRF tokens and the sign-in limit.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::AppState;
use crate::db::users::{self, User};
use crate::error::Error;

/// Session key holding the signed-in user's id.
pub const USER_KEY: &str = "user_id";
/// Session key holding the CSRF token.
pub const CSRF_KEY: &str = "csrf";
/// Form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// Header carrying the CSRF token for session-authenticated API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A random secret: `prefix` + 256 bits in URL-safe base64.
pub fn new_secret(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Constant-time equality of two secrets.
pub fn secrets_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, Error> {
    let existing: Option<String> = session.get(CSRF_KEY).await.map_err(session_error)?;
    if let Some(token) = existing {
        return Ok(token);
    }
    let token = new_secret("")?;
    session
        .insert(CSRF_KEY, &token)
        .await
        .map_err(session_error)?;
    Ok(token)
}

/// Maps a session-store failure to an internal error.
pub fn session_error(err: tower_sessions::session::Error) -> Error {
    Error::Internal(anyhow::anyhow!("session store: {err}"))
}

/// Refuses state-changing browser requests whose form lacks the session's
/// CSRF token. API routes check their own (header or bearer token).
pub async fn csrf_guard(
    State(_): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method();
    // The API checks its own token; webhooks are authenticated by their
    // HMAC signature and come from code hosts, never from our pages.
    let path = req.uri().path();
    if method.is_safe() || path.starts_with("/api/") || path.starts_with("/hooks/") {
        return next.run(req).await;
    }
    let expected: Option<String> = match session.get(CSRF_KEY).await {
        Ok(token) => token,
        Err(err) => return session_error(err).into_response(),
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::BODY_LIMIT).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )
            .into_response();
    };
    let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
        });
    match (expected, sent) {
        (Some(expected), Some(sent)) if secrets_match(&expected, &sent) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => Error::Csrf.into_response(),
    }
}

/// The signed-in user of a browser request. Without one, pages redirect to
/// the sign-in form.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("session layer missing")))?;
        let id: Option<i64> = session.get(USER_KEY).await.map_err(session_error)?;
        let id = id.ok_or(Error::Unauthorized)?;
        let user = users::by_id(&state.db, id)
            .await?
            .ok_or(Error::Unauthorized)?;
        // The page context needs the same user: load it once per request.
        parts.extensions.insert(Self(user.clone()));
        Ok(Self(user))
    }
}

/// A per-key rate limit (sign-ins per client address, webhook deliveries
/// per team).
#[derive(Clone)]
pub struct Limiter<K: std::hash::Hash + Eq + Clone>(Arc<DefaultKeyedRateLimiter<K>>);

/// Sign-in attempts allowed per client address.
pub type SignInLimiter = Limiter<IpAddr>;

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    /// Allows `per_minute` attempts per key per minute (bursts included).
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self(Arc::new(RateLimiter::keyed(quota)))
    }

    /// Counts an attempt; `Err` when over the limit.
    pub fn check(&self, key: &K) -> Result<(), Error> {
        self.0.check_key(key).map_err(|_| Error::RateLimited)
    }
}
