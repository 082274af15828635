//! JSON API.
use super::AppState;
use axum::Router;
/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
