//! Your teams, and creating a team.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::db::teams;
use crate::db::teams::Team;
use crate::domain::ids::TeamKey;
use crate::domain::ids::UserId;
use crate::domain::team::{self, Role};
use crate::error::Result;
use crate::ledger::commands::NewTeam;
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::field_errors::FieldErrors;
use crate::web::flash::Flash;
use crate::web::pages::{Ctx, see_other};

#[derive(Template, WebTemplate)]
#[template(path = "teams/home.html")]
pub(super) struct HomePage {
    ctx: Ctx,
    teams: Vec<(Team, Role)>,
    name: String,
    key: String,
    window_hours: String,
    errors: FieldErrors,
}

pub(super) async fn home(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
) -> Result<HomePage> {
    Ok(HomePage {
        ctx,
        teams: teams::of_user(state.db.reader(), user.id).await?,
        name: String::new(),
        key: String::new(),
        window_hours: "72".into(),
        errors: FieldErrors::default(),
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct TeamForm {
    name: String,
    key: String,
    #[serde(default)]
    window_hours: String,
}

/// Parses a new team from its fields (shared with the API).
pub fn parse_team(
    name: &str,
    key: &str,
    window_hours: Option<&str>,
    errors: &mut FieldErrors,
) -> Option<NewTeam> {
    let name = errors.check(team::parse_team_name(name));
    let key = errors.check(TeamKey::parse(key));
    let window_hours = errors.check(team::parse_window_hours(window_hours.unwrap_or("72")));
    let (name, key, window_hours) = (name?, key?, window_hours?);
    Some(NewTeam {
        slug: team::slug_from_name(&name),
        name,
        key,
        window_hours,
    })
}

pub(super) async fn create_team(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Form(form): Form<TeamForm>,
) -> Result<Response> {
    let mut errors = FieldErrors::default();
    let window = (!form.window_hours.trim().is_empty()).then_some(form.window_hours.as_str());
    if let Some(new) = parse_team(&form.name, &form.key, window, &mut errors) {
        match state.ledger.create_team(UserId(user.id), new).await {
            Ok(team) => {
                flash.set(format!(
                    "Team {} created. Invite your colleagues from its settings.",
                    team.name
                ));
                return Ok(see_other(&format!("/t/{}", team.slug)));
            }
            Err(err) => errors.absorb(err, "name")?,
        }
    }
    let page = HomePage {
        ctx,
        teams: teams::of_user(state.db.reader(), user.id).await?,
        name: form.name,
        key: form.key,
        window_hours: form.window_hours,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
