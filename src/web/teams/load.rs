//! Who carries what: every decider's open, waiting and overdue proposals,
//! their recent decisions and how long those took.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};

use crate::db::load::{self, Load};
use crate::db::teams::Team;
use crate::error::Result;
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::extract::membership;
use crate::web::pages::Ctx;

#[derive(Template, WebTemplate)]
#[template(path = "teams/load.html")]
pub(super) struct LoadPage {
    ctx: Ctx,
    team: Team,
    loads: Vec<Load>,
    recent_days: i64,
}

/// "2.5 days", "under a day", or "no decisions yet".
pub fn pace(load: &Load) -> String {
    match load.median_days {
        Some(d) if d < 1.0 => "under a day".to_string(),
        Some(d) => format!("{d:.1} days"),
        None => "no decisions yet".to_string(),
    }
}

/// The team's loads as of the instance's clock.
pub async fn loads(state: &AppState, team: &Team) -> Result<Vec<Load>> {
    Ok(load::of_team(
        state.db.reader(),
        team.id,
        state.ledger.now(),
        team.decide_within_days,
    )
    .await?)
}

pub(super) async fn load_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
) -> Result<LoadPage> {
    let (team, _) = membership(&state, &slug, &user).await?;
    Ok(LoadPage {
        loads: loads(&state, &team).await?,
        recent_days: load::RECENT_DAYS,
        ctx,
        team,
    })
}
