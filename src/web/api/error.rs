//! The app's error, answered as JSON: `{"error": {"code", "message", "field"?}}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// The app's error, answered as JSON.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let mut error = json!({ "code": self.0.code(), "message": self.0.public_message() });
        if let Error::Invalid(e) = &self.0 {
            error["field"] = e.field.into();
        }
        if let Error::Taken { field, .. } = &self.0 {
            error["field"] = (*field).into();
        }
        if let Error::BadRequest { field, .. } = &self.0 {
            error["field"] = field.as_str().into();
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

/// What an API handler returns.
pub type ApiResult<T> = Result<T, ApiError>;
