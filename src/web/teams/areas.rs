//! Who decides what: the team's areas.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::db::teams;
use crate::db::teams::{Area, Member, Team};
use crate::db::users::User;
use crate::domain::ids::{TeamId, UserId};
use crate::domain::team::{self, Role};
use crate::error::Result;
use crate::ledger::commands::AreaInput;
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::extract::membership;
use crate::web::field_errors::FieldErrors;
use crate::web::flash::Flash;
use crate::web::pages::{Ctx, see_other};

#[derive(Template, WebTemplate)]
#[template(path = "teams/areas.html")]
pub(super) struct AreasPage {
    ctx: Ctx,
    team: Team,
    role: Role,
    areas: Vec<Area>,
    voters: Vec<Member>,
    errors: FieldErrors,
    /// The "who decides" box: what was asked and the answer.
    who: crate::web::search::WhoDecides,
    /// Each decider's load.
    loads: Vec<crate::db::load::Load>,
}

impl AreasPage {
    /// The load of `user`, if they carry any.
    fn load_of(&self, user: &i64) -> Option<&crate::db::load::Load> {
        self.loads.iter().find(|l| l.user_id == *user)
    }
}

pub(super) async fn areas_view(
    state: &AppState,
    ctx: Ctx,
    team: Team,
    role: Role,
    errors: FieldErrors,
) -> Result<AreasPage> {
    let mut pool = state.db.reader();
    let voters = teams::members(pool.re(), team.id)
        .await?
        .into_iter()
        .filter(|m| m.role.can_vote())
        .collect();
    Ok(AreasPage {
        loads: super::load::loads(state, &team).await?,
        areas: teams::areas(pool.re(), team.id).await?,
        voters,
        ctx,
        team,
        role,
        errors,
        who: crate::web::search::WhoDecides::default(),
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct WhoQuery {
    #[serde(default)]
    q: String,
}

pub(super) async fn areas_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
    who: std::result::Result<Query<WhoQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<AreasPage> {
    let (team, role) = membership(&state, &slug, &user).await?;
    // An odd query string asks nothing rather than failing the page.
    let q = who.map(|Query(w)| w.q).unwrap_or_default();
    let who = crate::web::search::who_decides(&state, &team, &q, &ctx).await?;
    let mut page = areas_view(&state, ctx, team, role, FieldErrors::default()).await?;
    page.who = who;
    Ok(page)
}

#[derive(Debug, Deserialize)]
pub(super) struct AreaForm {
    name: String,
    #[serde(default)]
    description: String,
    default_decider: String,
}

pub(super) async fn save_area(
    state: AppState,
    user: User,
    flash: Flash,
    ctx: Ctx,
    slug: String,
    id: Option<i64>,
    form: AreaForm,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let mut errors = FieldErrors::default();
    let name = errors.check(team::parse_area_name(&form.name));
    let description = errors.check(team::parse_area_description(&form.description));
    let decider = errors.check(
        form.default_decider
            .parse::<i64>()
            .map_err(|_| crate::domain::InvalidInput::new("default_decider", "choose a member")),
    );
    if let (Some(name), Some(description), Some(decider)) = (name, description, decider) {
        let input = AreaInput {
            id,
            name,
            description,
            default_decider: decider,
        };
        match state
            .ledger
            .save_area(UserId(user.id), TeamId(team.id), input)
            .await
        {
            Ok(_) => {
                flash.set("Area saved.");
                return Ok(see_other(&format!("/t/{}/areas", team.slug)));
            }
            Err(err) => errors.absorb(err, "default_decider")?,
        }
    }
    let page = areas_view(&state, ctx, team, role, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

pub(super) async fn create_area(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(slug): Path<String>,
    Form(form): Form<AreaForm>,
) -> Result<Response> {
    save_area(state, user, flash, ctx, slug, None, form).await
}

pub(super) async fn edit_area(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path((slug, id)): Path<(String, i64)>,
    Form(form): Form<AreaForm>,
) -> Result<Response> {
    save_area(state, user, flash, ctx, slug, Some(id), form).await
}
