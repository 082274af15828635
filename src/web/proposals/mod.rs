//! Proposal pages: new proposal (`new`), the proposal page, which is also
//! the decision permalink `/d/KEY-N` (`show`), and its forms (`actions`).
//! This module holds the router and what the three share: finding a
//! proposal for a member, and ids under a team's former key.

mod actions;
mod new;
mod show;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::AppState;
use super::rows::PageRows;
use crate::db::proposals::{self, Proposal};
use crate::db::teams::{self, Team};
use crate::db::users::User;
use crate::domain::InvalidInput;
use crate::domain::ids::DecisionId;
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::web::Membership;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}/proposals/new", get(new::new_proposal_form))
        .route("/t/{slug}/proposals", post(new::create_proposal))
        .route("/d/{id}", get(show::show_proposal))
        .route("/d/{id}/stance", post(actions::take_stance))
        .route("/d/{id}/comments", post(actions::add_comment))
        .route("/d/{id}/decision", post(actions::record_decision))
        .route("/d/{id}/revise", post(actions::revise_proposal))
        .route("/d/{id}/withdraw", post(actions::withdraw_proposal))
        .route("/d/{id}/extend", post(actions::extend_deadline))
        .route("/d/{id}/decider", post(actions::change_decider))
}

/// Parses a `datetime-local` value in the viewer's zone (or RFC 3339).
pub fn parse_local_datetime(
    raw: &str,
    tz: Tz,
    field: &'static str,
) -> Result<DateTime<Utc>, InvalidInput> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| InvalidInput::new(field, "must be a date and time like 2026-12-01T17:00"))?;
    // In a DST gap, take the earliest valid instant rather than failing.
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| InvalidInput::new(field, "does not exist in your time zone"))
}

/// Loads a proposal by its public id for a member; 404 otherwise.
pub async fn find(state: &AppState, raw_id: &str, user: &User) -> Result<(Team, Role, Proposal)> {
    let id: DecisionId = raw_id.parse().map_err(|_| Error::NotFound)?;
    let Membership { team, role, .. } = state
        .as_member(teams::TeamRef::Key(id.key.as_str()), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let proposal = proposals::by_number(state.db.reader(), team.id, id.number)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((team, role, proposal))
}

/// The team of a decision id whose team the user belongs to, and the
/// proposal's number: what a form needs before its command, which reads the
/// proposal itself (and answers `NotFound` if there is none).
pub(super) async fn team_of(state: &AppState, raw_id: &str, user: &User) -> Result<(Team, i64)> {
    let id: DecisionId = raw_id.parse().map_err(|_| Error::NotFound)?;
    let Membership { team, .. } = state
        .as_member(teams::TeamRef::Key(id.key.as_str()), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((team, id.number))
}

/// The team of decision `raw_id`, the user's role in it, the team's log
/// size and the proposal's rows (kept while the log does not grow): what
/// the page and the API's decision both show.
pub async fn rows_for(
    state: &AppState,
    raw_id: &str,
    user: &User,
) -> Result<(Team, Role, i64, std::sync::Arc<PageRows>)> {
    let id: DecisionId = raw_id.parse().map_err(|_| Error::NotFound)?;
    // The log size is read before the rows: whatever a page misses, its
    // stream replays; and it tells whether rows read for an earlier view
    // still hold.
    let Membership {
        team,
        role,
        log_size,
    } = state
        .as_member(teams::TeamRef::Key(id.key.as_str()), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let rows = state
        .caches
        .page_rows(&state.db, team.id, id.number, log_size)
        .await?;
    Ok((team, role, log_size, rows))
}

/// A decision id under a team's former key (`ARCH-12` once ARCH became
/// PLAT): the team that had the key, and the proposal's number.
///
/// Finding one says nothing about who may follow it: the redirect names the
/// team's current key, so it must only reach someone who may read the
/// decision, and anyone else gets what an unknown id gets. [`renamed`] does
/// that for members; the status endpoints check their own readers.
pub struct FormerId {
    /// The team, under its current key.
    pub team: Team,
    number: i64,
}

impl FormerId {
    /// `None` when `raw_id` is not a decision id under a former key (a
    /// current key wins, should a former one ever be taken again).
    pub async fn find(state: &AppState, raw_id: &str) -> Result<Option<Self>> {
        let Ok(id) = raw_id.parse::<DecisionId>() else {
            return Ok(None);
        };
        let mut pool = state.db.reader();
        if teams::by_key(pool.re(), id.key.as_str()).await?.is_some() {
            return Ok(None);
        }
        Ok(teams::by_alias(pool.re(), id.key.as_str())
            .await?
            .map(|team| Self {
                team,
                number: id.number,
            }))
    }

    /// A permanent redirect to `{prefix}{KEY-N}{suffix}` under the current
    /// key, with the request's query (`?token=` of a status reader, say).
    pub fn redirect(&self, prefix: &str, suffix: &str, query: Option<&str>) -> Response {
        let query = query
            .filter(|q| !q.is_empty())
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        axum::response::Redirect::permanent(&format!(
            "{prefix}{}-{}{suffix}{query}",
            self.team.key, self.number
        ))
        .into_response()
    }
}

/// The permanent redirect from an id under a team's former key to
/// `{prefix}{KEY-N}{suffix}` under its current key (query kept), for a
/// member of the team. `None` when the id is not under a former key or
/// `user` is not a member, so a non-member learns nothing a made-up id
/// would not tell them.
pub async fn renamed(
    state: &AppState,
    raw_id: &str,
    user: &User,
    prefix: &str,
    suffix: &str,
    query: Option<&str>,
) -> Result<Option<Response>> {
    let Some(former) = FormerId::find(state, raw_id).await? else {
        return Ok(None);
    };
    let role = teams::role_of(state.db.reader(), former.team.id, user.id).await?;
    Ok(role.map(|_| former.redirect(prefix, suffix, query)))
}
