//! The one error type of the app. Pages render it as `error.html`; the API
//! wraps it in [`crate::web::api::ApiError`] to answer JSON. Internal details
//! go to tracing only, never to the user.

use crate::domain::{InvalidInput, Violation};

/// Everything that can go wrong while handling a request or a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such thing, or not visible to this user (non-members get this for
    /// everything of a team, so a team's existence does not leak).
    #[error("not found")]
    NotFound,
    /// Sign-in required.
    #[error("sign in required")]
    Unauthorized,
    /// A page that needs a signed-in user: the sign-in form, then back to
    /// `next` (the page asked for, a local path).
    #[error("sign in required")]
    SignInRequired {
        /// Where to come back to after signing in.
        next: Option<String>,
    },
    /// Signed in but not allowed.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// A write with a read-only API token.
    #[error(
        "This API token can only read, so it cannot change anything. Make a token that can read and write in your settings."
    )]
    ReadOnlyToken,
    /// Input that does not parse.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// A product rule forbids it.
    #[error(transparent)]
    Rule(#[from] Violation),
    /// A value that must be unique is taken.
    #[error("{message}")]
    Taken {
        /// The field at fault.
        field: &'static str,
        /// What to tell the user.
        message: String,
    },
    /// A request no handler should read, such as one with a NUL byte in
    /// a field: 400, with a message that names the field.
    #[error("{message}")]
    BadRequest {
        /// The field (or `path`) at fault.
        field: String,
        /// What to tell the user, a full sentence.
        message: String,
    },
    /// Too many attempts.
    #[error("too many attempts; wait a minute and try again")]
    RateLimited,
    /// A state-changing browser request without a valid CSRF token.
    #[error("the form expired or did not come from this site; reload the page and try again")]
    Csrf,
    /// The database cannot store anything right now (its disk is full or
    /// read-only; see `db::is_unwritable`). Nothing of the request was
    /// written: every write is one transaction.
    #[error(
        "Settled cannot save your change right now: the server's disk is full or read-only. \
         Nothing was saved; please try again later."
    )]
    Unwritable,
    /// A bug or an outage: logged, shown as a generic message.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_unwritable(&err) {
            // The operator must hear of it; the user gets the sentence.
            tracing::error!(error = %err, "the database cannot be written");
            return Self::Unwritable;
        }
        Self::Internal(err.into())
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<getrandom::Error> for Error {
    fn from(err: getrandom::Error) -> Self {
        Self::Internal(anyhow::anyhow!("random source failed: {err}"))
    }
}

impl From<crate::password::HashError> for Error {
    fn from(err: crate::password::HashError) -> Self {
        Self::Internal(err.into())
    }
}

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized | Self::SignInRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Csrf | Self::ReadOnlyToken => StatusCode::FORBIDDEN,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Rule(Violation::Forbidden) => StatusCode::FORBIDDEN,
            Self::Rule(v) if v.is_conflict() => StatusCode::CONFLICT,
            Self::Rule(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Taken { .. } => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unwritable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code for API bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthorized | Self::SignInRequired { .. } => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::ReadOnlyToken => "read_only_token",
            Self::Invalid(_) | Self::BadRequest { .. } => "invalid_input",
            Self::Rule(v) => v.code(),
            Self::Taken { .. } => "taken",
            Self::RateLimited => "rate_limited",
            Self::Csrf => "csrf",
            Self::Unwritable => "unwritable",
            Self::Internal(_) => "internal",
        }
    }

    /// The message safe to show a user (internal details are logged instead).
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "Something went wrong on our side. It has been logged; please try again.".into()
            }
            other => other.to_string(),
        }
    }
}

/// Result with the app's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
