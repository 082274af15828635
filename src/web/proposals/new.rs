//! The new-proposal form and its POST.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::parse_local_datetime;
use crate::db::proposals::{self, ListFilter, Proposal};
use crate::db::teams::{self, Area, Member, Team};
use crate::domain::InvalidInput;
use crate::domain::ids::{TeamId, UserId};
use crate::domain::proposal::{Status, parse_body, parse_title};
use crate::error::{Error, Result};
use crate::ledger::commands::NewProposal;
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::extract::membership;
use crate::web::field_errors::FieldErrors;
use crate::web::flash::Flash;
use crate::web::pages::{Ctx, see_other};

#[derive(Template, WebTemplate)]
#[template(path = "proposals/new.html")]
pub(super) struct NewProposalPage {
    ctx: Ctx,
    team: Team,
    areas: Vec<Area>,
    voters: Vec<Member>,
    accepted: Vec<Proposal>,
    form: ProposalForm,
    errors: FieldErrors,
    /// Overdue decisions per decider who has any.
    overdue: std::collections::HashMap<i64, i64>,
    /// The members for the mention suggestions (JSON).
    mention_list: String,
}

impl NewProposalPage {
    fn selected(&self, value: &str, id: &i64) -> bool {
        value == id.to_string()
    }

    /// How many overdue decisions `user` has (0: none).
    fn overdue_of(&self, user: &i64) -> i64 {
        self.overdue.get(user).copied().unwrap_or(0)
    }

    /// "Bob has 2 overdue decisions; Chen has 1.", if anyone has.
    fn overdue_warning(&self) -> Option<String> {
        let mut named: Vec<(String, i64)> = self
            .voters
            .iter()
            .filter_map(|m| {
                let n = self.overdue_of(&m.user_id);
                (n > 0).then(|| (m.display_name.clone(), n))
            })
            .collect();
        if named.is_empty() {
            return None;
        }
        named.sort();
        let parts: Vec<String> = named
            .into_iter()
            .map(|(name, n)| {
                let decisions = if n == 1 { "decision" } else { "decisions" };
                format!("{name} has {n} overdue {decisions}")
            })
            .collect();
        Some(format!(
            "{}. Naming someone else may get you an answer sooner.",
            parts.join("; ")
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ProposalForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    decider: String,
    #[serde(default)]
    closes_at: String,
    #[serde(default)]
    supersedes: String,
}

async fn new_page(
    state: &AppState,
    ctx: Ctx,
    team: Team,
    form: ProposalForm,
    errors: FieldErrors,
) -> Result<NewProposalPage> {
    let mut pool = state.db.reader();
    let overdue = crate::web::teams::load::loads(state, &team)
        .await?
        .into_iter()
        .filter(|l| l.overdue > 0)
        .map(|l| (l.user_id, l.overdue))
        .collect();
    let members = teams::members(pool.re(), team.id).await?;
    Ok(NewProposalPage {
        mention_list: crate::web::mentions::Mentions::new(&team, &members).suggestions(),
        overdue,
        areas: teams::areas(pool.re(), team.id).await?,
        voters: teams::members(pool.re(), team.id)
            .await?
            .into_iter()
            .filter(|m| m.role.can_vote())
            .collect(),
        accepted: proposals::list(
            pool.re(),
            team.id,
            &ListFilter {
                status: Some(Status::Accepted),
                ..ListFilter::default()
            },
            200,
        )
        .await?,
        ctx,
        team,
        form,
        errors,
    })
}

pub(super) async fn new_proposal_form(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
) -> Result<NewProposalPage> {
    let (team, role) = membership(&state, &slug, &user).await?;
    if !role.can_vote() {
        return Err(crate::domain::Violation::Forbidden.into());
    }
    new_page(
        &state,
        ctx,
        team,
        ProposalForm::default(),
        FieldErrors::default(),
    )
    .await
}

fn optional_id(raw: &str, field: &'static str) -> Result<Option<i64>, InvalidInput> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .map(Some)
        .map_err(|_| InvalidInput::new(field, "choose one from the list"))
}

pub(super) async fn create_proposal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(slug): Path<String>,
    Form(form): Form<ProposalForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let mut errors = FieldErrors::default();
    let title = errors.check(parse_title(&form.title));
    let body = errors.check(parse_body(&form.body));
    let area = errors.check(optional_id(&form.area, "area"));
    let decider = errors.check(optional_id(&form.decider, "decider"));
    let supersedes = errors.check(optional_id(&form.supersedes, "supersedes"));
    let closes_at = if form.closes_at.trim().is_empty() {
        Some(None)
    } else {
        errors.check(parse_local_datetime(&form.closes_at, user.time_zone, "closes_at").map(Some))
    };
    if let (Some(title), Some(body), Some(area), Some(decider), Some(supersedes), Some(closes_at)) =
        (title, body, area, decider, supersedes, closes_at)
    {
        let input = NewProposal {
            title,
            body,
            area,
            decider,
            closes_at,
            supersedes,
        };
        match state
            .ledger
            .create_proposal(UserId(user.id), TeamId(team.id), input)
            .await
        {
            Ok(number) => {
                flash.set("Proposal opened. Members can now take their stance.");
                return Ok(see_other(&format!("/d/{}-{number}", team.key)));
            }
            Err(Error::Rule(v)) => {
                match v.code() {
                    // Shown after the field's name, as its parse errors are.
                    "deadline_in_past" => errors.add("closes_at", "must be in the future."),
                    "supersedes_not_accepted" => errors.add("supersedes", v.to_string()),
                    "decider_not_member" => errors.add("decider", v.to_string()),
                    _ => errors.add("title", v.to_string()),
                }
            }
            Err(err) => errors.absorb(err, "title")?,
        }
    }
    let page = new_page(&state, ctx, team, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
