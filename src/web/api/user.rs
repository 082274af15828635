//! Who calls the API: a personal API token, or the browser session with
//! its CSRF header for writes.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use tower_sessions::Session;

use super::ApiError;
use crate::db::users::User;
use crate::error::Error;
use crate::web::AppState;
use crate::web::auth::{CSRF_HEADER, CSRF_KEY, USER_KEY, secrets_match, session_error};

/// The caller of an API request. A read-only token's requests reach a
/// handler only when they read: every other method is refused here, with
/// 403 `read_only_token`.
#[derive(Debug, Clone)]
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(ApiError(Error::Unauthorized))?;
            let (user, read_only) =
                crate::services::tokens::present(&state.db, state.ledger.writer(), token)
                    .await?
                    .ok_or(ApiError(Error::Unauthorized))?;
            if read_only && !parts.method.is_safe() {
                return Err(ApiError(Error::ReadOnlyToken));
            }
            return Ok(Self(user));
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("session layer missing")))?;
        let id: Option<i64> = session.get(USER_KEY).await.map_err(session_error)?;
        let id = id.ok_or(Error::Unauthorized)?;
        if !parts.method.is_safe() {
            // A session cookie rides along on cross-site requests; a token
            // from the page proves the request came from our own pages.
            let expected: Option<String> = session.get(CSRF_KEY).await.map_err(session_error)?;
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            match (expected, sent) {
                (Some(e), Some(s)) if secrets_match(&e, s) => {}
                _ => return Err(ApiError(Error::Csrf)),
            }
        }
        state
            .user(id)
            .await?
            .map(Self)
            .ok_or(ApiError(Error::Unauthorized))
    }
}
