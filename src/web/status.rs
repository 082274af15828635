//! Decision status for CI and badges: `/d/{KEY-N}/status.json` and
//! `/d/{KEY-N}/badge.svg`. They reveal the status, never the contents, and
//! only to members, holders of a team status token (header or `?token=`), or
//! anyone when the team made status public. Everyone else gets 404.

use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::AppState;
use super::auth::USER_KEY;
use crate::db::{proposals, teams, users};
use crate::domain::ids::DecisionId;
use crate::error::{Error, Result};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/d/{id}/status.json", get(status_json))
        .route("/d/{id}/badge.svg", get(badge))
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// What a status reader may learn about one decision.
struct Status {
    id: String,
    status: String,
    outcome: Option<String>,
    decided_at: Option<String>,
    url: String,
}

/// Whether this request may read the status of `team`'s decisions: the team
/// made status public, or the request carries a status token of the team or
/// a member's API token (header or `?token=`), or a member's session.
async fn may_read(
    state: &AppState,
    team: &teams::Team,
    headers: &HeaderMap,
    query: &TokenQuery,
    session: &Session,
) -> Result<bool> {
    let mut pool = state.db.reader();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let mut allowed = teams::status_public(pool.re(), team.id).await?;
    for token in bearer.into_iter().chain(query.token.as_deref()) {
        if allowed {
            break;
        }
        let hash = users::token_hash(token);
        allowed = teams::status_token_valid(pool.re(), team.id, &hash).await?
            || match users::by_token(&state.db, token, crate::db::Timestamp(crate::db::now()))
                .await?
            {
                Some(found) => teams::role_of(pool.re(), team.id, found.user.id)
                    .await?
                    .is_some(),
                None => false,
            };
    }
    if !allowed {
        let user: Option<i64> = session
            .get(USER_KEY)
            .await
            .map_err(super::auth::session_error)?;
        if let Some(user) = user {
            allowed = teams::role_of(pool.re(), team.id, user).await?.is_some();
        }
    }
    Ok(allowed)
}

/// Finds the decision if this request may read its status.
async fn readable(
    state: &AppState,
    raw_id: &str,
    headers: &HeaderMap,
    query: &TokenQuery,
    session: &Session,
) -> Result<Status> {
    let id: DecisionId = raw_id.parse().map_err(|_| Error::NotFound)?;
    let mut pool = state.db.reader();
    let team = teams::by_key(pool.re(), id.key.as_str())
        .await?
        .ok_or(Error::NotFound)?;
    if !may_read(state, &team, headers, query, session).await? {
        return Err(Error::NotFound);
    }
    let p = proposals::by_number(pool.re(), team.id, id.number)
        .await?
        .ok_or(Error::NotFound)?;
    let decision = proposals::decision(pool.re(), p.id).await?;
    let public_id = format!("{}-{}", team.key, p.number);
    Ok(Status {
        url: format!("{}/d/{public_id}", state.base_url),
        id: public_id,
        status: p.status.to_string(),
        outcome: decision.as_ref().map(|d| d.outcome.to_string()),
        decided_at: decision.map(|d| d.decided_at.to_text()),
    })
}

/// What a status request gets: the status, or for an id under the team's
/// former key, the redirect to the same `suffix` under the current key.
enum Answer {
    Status(Status),
    Moved(Response),
}

/// The status if this request may read it; else, for an id under a former
/// key, the redirect (query kept: `?token=` must follow), but only to a
/// request that may read the status. Everyone else gets the 404 of an
/// unknown id and does not learn the new key. Current ids are tried first:
/// they are what CI polls.
async fn answer(
    state: &AppState,
    raw_id: &str,
    suffix: &str,
    headers: &HeaderMap,
    query: &TokenQuery,
    raw_query: Option<&str>,
    session: &Session,
) -> Result<Answer> {
    match readable(state, raw_id, headers, query, session).await {
        Err(Error::NotFound) => {}
        found => return found.map(Answer::Status),
    }
    let Some(former) = super::proposals::FormerId::find(state, raw_id).await? else {
        return Err(Error::NotFound);
    };
    if !may_read(state, &former.team, headers, query, session).await? {
        return Err(Error::NotFound);
    }
    Ok(Answer::Moved(former.redirect("/d/", suffix, raw_query)))
}

async fn status_json(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    RawQuery(raw): RawQuery,
    Path(id): Path<String>,
) -> Response {
    let raw = raw.as_deref();
    match answer(&state, &id, "/status.json", &headers, &query, raw, &session).await {
        Ok(Answer::Status(s)) => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({
                "id": s.id,
                "status": s.status,
                "accepted": s.status == "accepted",
                "outcome": s.outcome,
                "decided_at": s.decided_at,
                "url": s.url,
            })),
        )
            .into_response(),
        Ok(Answer::Moved(moved)) => moved,
        Err(err) => super::api::ApiError(err).into_response(),
    }
}

fn color(status: &str) -> &'static str {
    match status {
        "accepted" => "#1e7a46",
        "rejected" => "#b3261e",
        "open" => "#1f5fbf",
        _ => "#5b6478",
    }
}

/// A flat badge: "decision | KEY-N status". Text widths are estimated
/// (monospace-ish 7 px per character) since no font metrics are at hand.
/// Askama escapes the text, as anywhere else.
#[derive(askama::Template)]
#[template(path = "status/badge.svg")]
struct Badge<'a> {
    left: &'static str,
    right: String,
    lw: usize,
    rw: usize,
    color: &'a str,
}

fn svg(id: &str, status: &str) -> Result<String> {
    let left = "decision";
    let right = format!("{id} {status}");
    let badge = Badge {
        lw: 10 + 7 * left.len(),
        rw: 10 + 7 * right.chars().count(),
        left,
        right,
        color: color(status),
    };
    askama::Template::render(&badge)
        .map_err(|e| crate::error::Error::Internal(anyhow::anyhow!("badge template: {e}")))
}

async fn badge(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    RawQuery(raw): RawQuery,
    Path(id): Path<String>,
) -> Result<Response> {
    let raw = raw.as_deref();
    let s = match answer(&state, &id, "/badge.svg", &headers, &query, raw, &session).await? {
        Answer::Status(s) => s,
        Answer::Moved(moved) => return Ok(moved),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        svg(&s.id, &s.status)?,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_name_the_decision_and_its_status() {
        let b = svg("ARCH-7", "accepted").unwrap_or_default();
        assert!(b.starts_with("<svg") && b.contains("ARCH-7 accepted") && b.contains("#1e7a46"));
        assert!(
            svg("ARCH-8", "open")
                .unwrap_or_default()
                .contains("#1f5fbf")
        );
        let typed = svg("<b>", "open").unwrap_or_default();
        assert!(
            !typed.contains("<b>") && typed.contains("&#60;b&#62;"),
            "{typed}"
        );
    }
}
