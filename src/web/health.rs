//! `GET /healthz`, the load balancer's probe: 200 while the database both
//! answers a read and takes a write, else 503. A full or read-only disk
//! still answers reads, so a read alone would keep sending people to an
//! instance that cannot save their changes.
//!
//! The write is one row rewritten through the ledger's writer (it shares a
//! batch and its fsync with whatever else is being written); its answer is
//! kept for [`FRESH`], so a probe every second costs a write every few.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use crate::services::health::Health;

/// How long an answer is kept.
const FRESH: Duration = Duration::from_secs(2);

/// A probe not answered by then counts as failed (a stalled disk).
const PATIENCE: Duration = Duration::from_secs(5);

/// The last answer and when it was found. One probe runs at a time; other
/// requests wait for it and share its answer.
#[derive(Debug, Default)]
pub struct Probe(tokio::sync::Mutex<Option<(Instant, Health)>>);

/// What the probe's finding answers.
fn answer(health: Health) -> (StatusCode, &'static str) {
    match health {
        Health::Ok => (StatusCode::OK, "ok"),
        Health::Unreadable => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
        Health::Unwritable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database cannot be written (disk full or read-only)",
        ),
    }
}

/// The handler.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let mut last = state.health.0.lock().await;
    if let Some((at, health)) = *last
        && at.elapsed() < FRESH
    {
        return answer(health);
    }
    let health = tokio::time::timeout(
        PATIENCE,
        crate::services::health::probe(&state.db, state.ledger.writer()),
    )
    .await
    .unwrap_or(Health::Unwritable);
    *last = Some((Instant::now(), health));
    answer(health)
}
