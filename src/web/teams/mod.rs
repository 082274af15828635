//! Team pages, one file per page: home and new team (`home`), dashboard
//! and decision log (`dashboard`), areas, settings (members, roles,
//! status, webhooks, key), invitations, and the log page (`log`). This
//! module holds the router and the list items they share.

mod areas;
mod dashboard;
mod home;
mod invitations;
pub mod load;
mod log;
mod settings;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tower_sessions::Session;

use super::AppState;
use super::flash::Flash;
use super::pages::Ctx;
use crate::db::proposals::Proposal;
use crate::db::teams::Team;
use crate::error::Result;
use crate::format::{When, when};

pub use home::parse_team;
pub use invitations::invite;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/teams", post(home::create_team))
        .route("/t/{slug}", get(dashboard::dashboard))
        .route("/t/{slug}/decisions", get(dashboard::decision_log))
        .route(
            "/t/{slug}/areas",
            get(areas::areas_page).post(areas::create_area),
        )
        .route("/t/{slug}/areas/{id}", post(areas::edit_area))
        .route("/t/{slug}/deciders", get(load::load_page))
        .route("/t/{slug}/settings", get(settings::settings_page))
        .route(
            "/t/{slug}/invitations",
            post(invitations::create_invitation),
        )
        .route(
            "/t/{slug}/invitations/{id}/revoke",
            post(invitations::revoke_invitation),
        )
        .route(
            "/t/{slug}/invitations/{id}/resend",
            post(invitations::resend_invitation),
        )
        .route("/t/{slug}/members/{user}/role", post(settings::change_role))
        .route(
            "/t/{slug}/members/{user}/remove",
            post(settings::remove_member),
        )
        .route(
            "/invite/{token}",
            get(invitations::invitation_page).post(invitations::accept_invitation),
        )
        .route("/t/{slug}/log", get(log::log_page))
        .route("/t/{slug}/erase", post(settings::erase_content))
        .route(
            "/t/{slug}/status-visibility",
            post(settings::set_status_visibility),
        )
        .route(
            "/t/{slug}/status-tokens",
            post(settings::create_status_token),
        )
        .route("/t/{slug}/webhooks", post(settings::add_webhook_secret))
        .route("/t/{slug}/key", post(settings::rename_key))
        .route("/t/{slug}/decide-within", post(settings::set_decide_within))
        .route(
            "/t/{slug}/webhooks/{id}/remove",
            post(settings::remove_webhook_secret),
        )
}

/// Keeps a new secret in the session so the next settings page shows it
/// once, then forgets it.
async fn show_once(
    session: &Session,
    flash: &Flash,
    key: &str,
    secret: String,
    message: &str,
) -> Result<()> {
    session
        .insert(key, secret)
        .await
        .map_err(super::auth::session_error)?;
    flash.set(message);
    Ok(())
}

/// A proposal as a list item.
pub struct ProposalItem {
    /// `KEY-N`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Decider's name.
    pub decider: String,
    /// Area name.
    pub area: Option<String>,
    /// Window end.
    pub closes: When,
    /// "closes in 2 days" or "closed 5 minutes ago".
    pub window: String,
    /// The viewer's current stance, where a list shows it.
    pub your_stance: Option<String>,
    /// How long an overdue proposal has waited, where a list shows it.
    pub waited: Option<String>,
}

/// "has waited 9 days for Bob's decision" for a proposal whose window
/// ended at `closes_at`.
pub fn waited(p: &Proposal, now: DateTime<Utc>) -> String {
    let days = (now - p.closes_at.0).num_days().max(0);
    let days = if days == 1 {
        "1 day".to_string()
    } else {
        format!("{days} days")
    };
    format!("has waited {days} for {}'s decision", p.decider_name)
}

/// Builds list items for the viewer.
pub fn items<'a>(
    team: &Team,
    list: impl IntoIterator<Item = &'a Proposal>,
    ctx: &Ctx,
    now: DateTime<Utc>,
) -> Vec<ProposalItem> {
    let tz = ctx.tz();
    list.into_iter()
        .map(|p| ProposalItem {
            id: format!("{}-{}", team.key, p.number),
            title: p.title.clone(),
            status: p.status.to_string(),
            decider: p.decider_name.clone(),
            area: p.area_name.clone(),
            closes: when(p.closes_at.0, tz, now),
            window: crate::format::window(p.closes_at.0, now),
            your_stance: None,
            waited: None,
        })
        .collect()
}
