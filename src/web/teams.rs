//! Team pages: home, dashboard, decision log, areas, settings, invitations,
//! and the log page.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tower_sessions::Session;

use super::AppState;
use super::accounts::FieldErrors;
use super::auth::{CurrentUser, new_secret};
use super::flash::Flash;
use super::pages::{Ctx, When, see_other, when};
use super::rows::OpenProposal;
use crate::db::proposals::{ListFilter, Proposal};
use crate::db::teams::{Area, Member, Team};
use crate::db::users::{User, token_hash};
use crate::db::{self, Timestamp, proposals, teams};
use crate::domain::ids::TeamKey;
use crate::domain::proposal::Status;
use crate::domain::team::{self, Role};
use crate::error::{Error, Result};
use crate::ledger::commands::{AreaInput, NewTeam};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/teams", post(create_team))
        .route("/t/{slug}", get(dashboard))
        .route("/t/{slug}/decisions", get(decision_log))
        .route("/t/{slug}/areas", get(areas_page).post(create_area))
        .route("/t/{slug}/areas/{id}", post(edit_area))
        .route("/t/{slug}/settings", get(settings_page))
        .route("/t/{slug}/invitations", post(create_invitation))
        .route("/t/{slug}/members/{user}/role", post(change_role))
        .route("/t/{slug}/members/{user}/remove", post(remove_member))
        .route(
            "/invite/{token}",
            get(invitation_page).post(accept_invitation),
        )
        .route("/t/{slug}/log", get(log_page))
        .route("/t/{slug}/erase", post(erase_content))
        .route("/t/{slug}/status-visibility", post(set_status_visibility))
        .route("/t/{slug}/status-tokens", post(create_status_token))
        .route("/t/{slug}/webhooks", post(add_webhook_secret))
        .route("/t/{slug}/key", post(rename_key))
        .route(
            "/t/{slug}/webhooks/{id}/remove",
            post(remove_webhook_secret),
        )
}

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;

/// A team the viewer belongs to, with their role. Non-members get 404.
pub async fn membership(state: &AppState, slug: &str, user: &User) -> Result<(Team, Role)> {
    let (team, role, _) = state
        .as_member(teams::TeamRef::Slug(slug), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((team, role))
}

/// Like [`membership`], for actions only team admins may take.
pub async fn admin_membership(state: &AppState, slug: &str, user: &User) -> Result<Team> {
    let (team, role) = membership(state, slug, user).await?;
    if role != Role::Admin {
        return Err(crate::domain::Violation::Forbidden.into());
    }
    Ok(team)
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
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/home.html")]
struct HomePage {
    ctx: Ctx,
    teams: Vec<(Team, Role)>,
    name: String,
    key: String,
    window_hours: String,
    errors: FieldErrors,
}

async fn home(
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
struct TeamForm {
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

async fn create_team(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Form(form): Form<TeamForm>,
) -> Result<Response> {
    let mut errors = FieldErrors::default();
    let window = (!form.window_hours.trim().is_empty()).then_some(form.window_hours.as_str());
    if let Some(new) = parse_team(&form.name, &form.key, window, &mut errors) {
        match state.ledger.create_team(user.id, new).await {
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

#[derive(Template, WebTemplate)]
#[template(path = "teams/dashboard.html")]
struct DashboardPage {
    ctx: Ctx,
    team: Team,
    /// The team's last log index when the page was read (live updates resume after it).
    live_after: i64,
    role: Role,
    needs_stance: Vec<ProposalItem>,
    closing_soon: Vec<ProposalItem>,
    recently_decided: Vec<ProposalItem>,
}

/// Proposals a dashboard list shows at most.
const DASHBOARD_LIST: usize = 50;

async fn dashboard(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
) -> Result<DashboardPage> {
    // The log size before the page's data: whatever it misses, the stream replays.
    let (team, role, log_size) = state
        .as_member(teams::TeamRef::Slug(&slug), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let live_after = log_size - 1;
    let rows = state
        .caches
        .dashboard_rows(&state.db, team.id, log_size)
        .await?;
    let now = Utc::now();
    let soon = now + Duration::hours(48);
    let listed = |keep: &dyn Fn(&OpenProposal) -> bool| {
        rows.open
            .iter()
            .filter(|p| keep(p))
            .take(DASHBOARD_LIST)
            .map(|p| &p.proposal)
            .collect::<Vec<_>>()
    };
    let needs = if role.can_vote() {
        listed(&|p| !p.stanced.contains(&user.id))
    } else {
        Vec::new()
    };
    let closing = listed(&|p| p.proposal.closes_at.0 <= soon);
    Ok(DashboardPage {
        needs_stance: items(&team, needs, &ctx, now),
        closing_soon: items(&team, closing, &ctx, now),
        recently_decided: items(&team, &rows.decided, &ctx, now),
        live_after,
        ctx,
        team,
        role,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/decisions.html")]
struct DecisionLogPage {
    ctx: Ctx,
    team: Team,
    areas: Vec<Area>,
    statuses: Vec<&'static str>,
    area: Option<i64>,
    status: String,
    text: String,
    proposals: Vec<ProposalItem>,
}

impl DecisionLogPage {
    fn is_area(&self, id: &i64) -> bool {
        self.area == Some(*id)
    }

    fn is_status(&self, status: &str) -> bool {
        self.status == status
    }
}

#[derive(Debug, Deserialize)]
struct LogFilter {
    #[serde(default)]
    area: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
}

async fn decision_log(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
    Query(filter): Query<LogFilter>,
) -> Result<DecisionLogPage> {
    let (team, _, log_size) = state
        .as_member(teams::TeamRef::Slug(&slug), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let area = filter.area.parse::<i64>().ok();
    let status = filter.status.parse::<Status>().ok();
    let text = filter.q.trim().to_string();
    let filter = ListFilter {
        status,
        area,
        text: (!text.is_empty()).then(|| text.clone()),
    };
    // The unfiltered log, the page most often seen, is kept while the
    // team's log does not grow.
    let kept = state.caches.log_rows(&state.db, team.id, log_size).await?;
    let filtered = if filter.status.is_none() && filter.area.is_none() && filter.text.is_none() {
        None
    } else {
        Some(proposals::list(state.db.reader(), team.id, &filter, super::rows::LOG_LISTED).await?)
    };
    let now = Utc::now();
    Ok(DecisionLogPage {
        proposals: items(
            &team,
            filtered.as_ref().unwrap_or(&kept.proposals),
            &ctx,
            now,
        ),
        areas: kept.areas.clone(),
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        area,
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        text,
        ctx,
        team,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/areas.html")]
struct AreasPage {
    ctx: Ctx,
    team: Team,
    role: Role,
    areas: Vec<Area>,
    voters: Vec<Member>,
    errors: FieldErrors,
    /// The "who decides" box: what was asked and the answer.
    who: super::search::WhoDecides,
}

async fn areas_view(
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
        areas: teams::areas(pool.re(), team.id).await?,
        voters,
        ctx,
        team,
        role,
        errors,
        who: super::search::WhoDecides::default(),
    })
}

#[derive(Debug, Deserialize)]
struct WhoQuery {
    #[serde(default)]
    q: String,
}

async fn areas_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
    who: std::result::Result<Query<WhoQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<AreasPage> {
    let (team, role) = membership(&state, &slug, &user).await?;
    // An odd query string asks nothing rather than failing the page.
    let q = who.map(|Query(w)| w.q).unwrap_or_default();
    let who = super::search::who_decides(&state, &team, &q, &ctx).await?;
    let mut page = areas_view(&state, ctx, team, role, FieldErrors::default()).await?;
    page.who = who;
    Ok(page)
}

#[derive(Debug, Deserialize)]
struct AreaForm {
    name: String,
    #[serde(default)]
    description: String,
    default_decider: String,
}

async fn save_area(
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
        match state.ledger.save_area(user.id, team.id, input).await {
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

async fn create_area(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(slug): Path<String>,
    Form(form): Form<AreaForm>,
) -> Result<Response> {
    save_area(state, user, flash, ctx, slug, None, form).await
}

async fn edit_area(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path((slug, id)): Path<(String, i64)>,
    Form(form): Form<AreaForm>,
) -> Result<Response> {
    save_area(state, user, flash, ctx, slug, Some(id), form).await
}

/// A pending invitation as shown to admins.
struct InvitationItem {
    role: String,
    expires: When,
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/settings.html")]
struct SettingsPage {
    ctx: Ctx,
    team: Team,
    role: Role,
    members: Vec<Member>,
    roles: [Role; 3],
    invitations: Vec<InvitationItem>,
    new_link: Option<String>,
    base_url: String,
    status_public: bool,
    status_tokens: Vec<String>,
    new_status_token: Option<String>,
    webhook_secrets: Vec<(i64, String, When)>,
    new_webhook_secret: Option<String>,
}

async fn settings_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    ctx: Ctx,
    Path(slug): Path<String>,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let mut pool = state.db.reader();
    let now = Utc::now();
    let invitations = if role == Role::Admin {
        teams::pending_invitations(pool.re(), team.id, Timestamp(now))
            .await?
            .into_iter()
            .map(|i| InvitationItem {
                role: i.role.to_string(),
                expires: when(i.expires_at.0, ctx.tz(), now),
            })
            .collect()
    } else {
        Vec::new()
    };
    // The link is shown once, right after it was made.
    let new_link: Option<String> = session
        .remove("new_invitation")
        .await
        .map_err(super::auth::session_error)?;
    let new_status_token: Option<String> = session
        .remove("new_status_token")
        .await
        .map_err(super::auth::session_error)?;
    let new_webhook_secret: Option<String> = session
        .remove("new_webhook_secret")
        .await
        .map_err(super::auth::session_error)?;
    let mut webhook_secrets = Vec::new();
    if role == Role::Admin {
        for host in ["github", "gitlab", "gitea", "forgejo"] {
            for s in crate::db::links::secrets(pool.re(), team.id, host).await? {
                webhook_secrets.push((s.id, host.to_string(), when(s.created_at.0, ctx.tz(), now)));
            }
        }
    }
    // The page shows new secrets (see `show_once`).
    let page = SettingsPage {
        webhook_secrets,
        new_webhook_secret,
        status_public: teams::status_public(pool.re(), team.id).await?,
        status_tokens: teams::status_token_labels(pool.re(), team.id).await?,
        new_status_token,
        members: teams::members(pool.re(), team.id).await?,
        roles: Role::ALL,
        invitations,
        new_link,
        base_url: state.base_url.to_string(),
        ctx,
        team,
        role,
    };
    Ok((super::NO_STORE, page).into_response())
}

/// Creates an invitation link for `role` (admins only); returns the URL and token.
pub async fn invite(
    state: &AppState,
    team: &Team,
    role: Role,
    actor_role: Role,
    actor: &User,
    email: Option<&str>,
) -> Result<(String, String)> {
    if actor_role != Role::Admin {
        return Err(crate::domain::Violation::Forbidden.into());
    }
    // The address is checked before anything is stored.
    let recipient = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(raw) => {
            state.invitation_mail_limiter.check(&actor.id)?;
            let parsed = crate::domain::account::Email::parse(raw)?;
            raw.parse::<lettre::Address>().map_err(|_| {
                crate::domain::InvalidInput::new(
                    "email",
                    "must be an email address like ana@example.com",
                )
            })?;
            Some(parsed.as_str().to_string())
        }
        None => None,
    };
    let token = new_secret("")?;
    let now = db::now();
    let expires = now + Duration::days(INVITATION_DAYS);
    let (team_id, hash, actor_id) = (team.id, token_hash(&token), actor.id);
    let url = format!("{}/invite/{token}", state.base_url);
    // The mail is queued in the invitation's own transaction.
    let mail = recipient.map(|to| {
        let data = crate::mail::compose::InvitationData {
            link: url.clone(),
            role: role.to_string(),
            by: actor.display_name.clone(),
            expires_at: expires,
        };
        (to, serde_json::to_string(&data).unwrap_or_default())
    });
    state
        .write(move |mut conn| {
            Box::pin(async move {
                teams::insert_invitation(
                    conn.re(),
                    team_id,
                    &hash,
                    role,
                    actor_id,
                    Timestamp(now),
                    Timestamp(expires),
                )
                .await?;
                if let Some((to, data)) = mail {
                    crate::db::outbox::invitation(conn, team_id, &to, &data, now).await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok((url, token))
}

#[derive(Debug, Deserialize)]
struct InvitationForm {
    role: String,
    /// Optional: mail the link to this address.
    #[serde(default)]
    email: String,
}

async fn create_invitation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<InvitationForm>,
) -> Result<Response> {
    let (team, actor_role) = membership(&state, &slug, &user).await?;
    let role: Role = form.role.parse()?;
    let email = form.email.trim();
    let (url, _) = match invite(&state, &team, role, actor_role, &user, Some(email)).await {
        Ok(created) => created,
        Err(Error::Invalid(e)) => {
            flash.set(format!("No invitation created: the email {}.", e.message));
            return Ok(see_other(&format!("/t/{}/settings", team.slug)));
        }
        Err(e) => return Err(e),
    };
    let message = if email.is_empty() {
        format!("Invitation link created (role: {role}). Copy it now: it is shown once.")
    } else {
        format!(
            "Invitation link created (role: {role}) and mailed to {email}. You can also copy it now: it is shown once."
        )
    };
    show_once(&session, &flash, "new_invitation", url, &message).await?;
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, member)): Path<(String, i64)>,
    Form(form): Form<RoleForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let role: Role = form.role.parse()?;
    match state
        .ledger
        .change_role(user.id, team.id, member, role)
        .await
    {
        Ok(_) => flash.set("Role changed."),
        Err(Error::Rule(v)) => flash.set(format!("Role not changed: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, member)): Path<(String, i64)>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    match state.ledger.remove_member(user.id, team.id, member).await {
        Ok(_) if member == user.id => {
            flash.set(format!("You left {}.", team.name));
            return Ok(see_other("/"));
        }
        Ok(_) => flash.set("Member removed. Their stances and comments stay in the record."),
        Err(Error::Rule(v)) => flash.set(format!("Not removed: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/invitation.html")]
struct InvitationPage {
    ctx: Ctx,
    token: String,
    team_name: String,
    role: String,
    error: Option<String>,
}

async fn invitation_page(
    State(state): State<AppState>,
    CurrentUser(_user): CurrentUser,
    ctx: Ctx,
    Path(token): Path<String>,
) -> Result<Response> {
    let invitation = teams::invitation_by_hash(state.db.reader(), &token_hash(&token)).await?;
    let valid = invitation.filter(|i| i.accepted_by.is_none() && i.expires_at.0 > Utc::now());
    let Some(invitation) = valid else {
        let page = InvitationPage {
            ctx,
            token,
            team_name: String::new(),
            role: String::new(),
            error: Some("This invitation link is no longer valid: it was used already or has expired. Ask an admin for a new one.".into()),
        };
        return Ok((StatusCode::GONE, page).into_response());
    };
    let team = teams::by_id(state.db.reader(), invitation.team_id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(InvitationPage {
        ctx,
        token,
        team_name: team.name,
        role: invitation.role.to_string(),
        error: None,
    }
    .into_response())
}

async fn accept_invitation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(token): Path<String>,
) -> Result<Response> {
    match state
        .ledger
        .accept_invitation(user.id, &token_hash(&token))
        .await
    {
        Ok(team) => {
            flash.set(format!("Welcome to {}.", team.name));
            Ok(see_other(&format!("/t/{}", team.slug)))
        }
        Err(Error::Rule(v)) => {
            flash.set(format!("Could not join: {v}."));
            Ok(see_other("/"))
        }
        Err(err) => Err(err),
    }
}

/// One log entry as shown on the log page.
struct EntryItem {
    index: i64,
    kind: String,
    actor: String,
    at: When,
    leaf_hash: String,
    payload: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/log.html")]
struct LogPage {
    ctx: Ctx,
    team: Team,
    size: i64,
    root: String,
    verifier: String,
    checkpoint: String,
    is_admin: bool,
    entries: Vec<EntryItem>,
    from: i64,
    next: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Page {
    from: Option<i64>,
}

async fn log_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
    Query(page): Query<Page>,
) -> Result<LogPage> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let mut pool = state.db.reader();
    let head = db::log::read_head(pool.re(), team.id).await?;
    let (size, root) = head.map_or((0, String::new()), |h| (h.size, hex::encode(h.root)));
    const PER_PAGE: i64 = 100;
    let from = page.from.unwrap_or(0).clamp(0, size.max(0));
    let rows = db::log::entries(pool.re(), team.id, from, PER_PAGE).await?;
    let names: HashMap<i64, String> = teams::members(pool.re(), team.id)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.display_name))
        .collect();
    let now = Utc::now();
    let entries = rows
        .into_iter()
        .map(|e| EntryItem {
            index: e.idx,
            kind: e.kind.as_str().replace('_', " "),
            actor: names
                .get(&e.actor_id)
                .cloned()
                .unwrap_or_else(|| format!("user {}", e.actor_id)),
            at: when(e.created_at.0, ctx.tz(), now),
            leaf_hash: hex::encode(e.leaf_hash),
            payload: e.payload,
        })
        .collect();
    let (_, root_hash) = crate::ledger::proofs::head(&state.db, team.id).await?;
    let checkpoint = crate::ledger::checkpoint::sign(&state.signer, team.id, size, &root_hash)
        .map_err(|e| Error::Internal(anyhow::anyhow!("signing failed: {e}")))?;
    Ok(LogPage {
        verifier: state.signer.verifier().encode(),
        checkpoint,
        is_admin: role == Role::Admin,
        next: (from + PER_PAGE < size).then_some(from + PER_PAGE),
        ctx,
        team,
        size,
        root,
        entries,
        from,
    })
}

#[derive(Debug, Deserialize)]
struct EraseForm {
    index: String,
    field: String,
    #[serde(default)]
    back: String,
}

/// Erases one text of an earlier entry (admins only), then returns to the
/// page the form was on.
async fn erase_content(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<EraseForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let back = if form.back.starts_with("/d/") || form.back.starts_with("/t/") {
        form.back.clone()
    } else {
        format!("/t/{}/log", team.slug)
    };
    let index = form
        .index
        .trim()
        .parse::<i64>()
        .map_err(|_| crate::domain::InvalidInput::new("index", "must be an entry number"));
    let outcome = match index {
        Ok(index) => state
            .ledger
            .erase(user.id, team.id, index, form.field.trim())
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => flash.set("Content erased. The entry, its hash and every proof stay valid."),
        Err(Error::Invalid(e)) => flash.set(format!("Not erased: {} {}.", e.field, e.message)),
        Err(Error::Rule(v)) => flash.set(format!("Not erased: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&back))
}

#[derive(Debug, Deserialize)]
struct VisibilityForm {
    public: String,
}

async fn set_status_visibility(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<VisibilityForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let public = form.public == "true";
    match state
        .ledger
        .set_status_public(user.id, team.id, public)
        .await
    {
        Ok(_) if public => flash.set("Decision status is now public (contents stay private)."),
        Ok(_) => flash.set("Decision status is private again."),
        Err(Error::Rule(v)) => flash.set(format!("Not changed: {v}.")),
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
struct StatusTokenForm {
    label: String,
}

async fn create_status_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<StatusTokenForm>,
) -> Result<Response> {
    let team = admin_membership(&state, &slug, &user).await?;
    let label = crate::domain::clean_label(&form.label)?;
    let token = new_secret("sts_")?;
    let (team_id, hash, by) = (team.id, token_hash(&token), user.id);
    state
        .write(move |conn| {
            Box::pin(async move {
                teams::insert_status_token(conn, team_id, &label, &hash, by, Timestamp(db::now()))
                    .await
            })
        })
        .await?;
    show_once(
        &session,
        &flash,
        "new_status_token",
        token,
        "Status token created. Copy it now: it is shown once.",
    )
    .await?;
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
struct WebhookForm {
    #[serde(default)]
    host: String,
}

async fn add_webhook_secret(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<WebhookForm>,
) -> Result<Response> {
    let host = match form.host.as_str() {
        "" | "github" => "github",
        "gitlab" => "gitlab",
        "gitea" => "gitea",
        "forgejo" => "forgejo",
        _ => {
            let message = "must be github, gitlab, gitea or forgejo";
            return Err(crate::domain::InvalidInput::new("host", message).into());
        }
    };
    let team = admin_membership(&state, &slug, &user).await?;
    let secret = new_secret("")?;
    let (team_id, stored, by) = (team.id, secret.clone(), user.id);
    state
        .write(move |conn| {
            Box::pin(async move {
                crate::db::links::add_secret(conn, team_id, host, &stored, by, Timestamp(db::now()))
                    .await
            })
        })
        .await?;
    show_once(
        &session,
        &flash,
        "new_webhook_secret",
        secret,
        "Webhook secret created. Paste it into the code host now: it is shown once.",
    )
    .await?;
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

async fn remove_webhook_secret(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response> {
    let team = admin_membership(&state, &slug, &user).await?;
    let team_id = team.id;
    state
        .write(move |conn| {
            Box::pin(async move { crate::db::links::remove_secret(conn, team_id, id).await })
        })
        .await?;
    flash.set("Webhook secret removed; deliveries signed with it are refused from now on.");
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}

#[derive(Debug, Deserialize)]
struct KeyForm {
    key: String,
}

async fn rename_key(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<KeyForm>,
) -> Result<Response> {
    let (team, _) = membership(&state, &slug, &user).await?;
    let outcome = match TeamKey::parse(&form.key) {
        Ok(key) => state
            .ledger
            .rename_key(user.id, team.id, key)
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => flash.set("Key renamed. Old decision ids keep redirecting to the new ones."),
        Err(err @ (Error::Invalid(_) | Error::Rule(_) | Error::Taken { .. })) => {
            flash.set(format!("Key not renamed: {err}."))
        }
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("/t/{}/settings", team.slug)))
}
