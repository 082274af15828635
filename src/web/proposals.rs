//! Proposal pages: new proposal, the proposal page (which is also the
//! decision permalink `/d/KEY-N`), and its forms.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::AppState;
use super::accounts::FieldErrors;
use super::auth::CurrentUser;
use super::flash::Flash;
use super::html::Html;
use super::pages::{Ctx, When, see_other, when};
use super::rows::{PageRows, Parts, PartsKey};
use super::teams::membership;
use crate::db::proposals::{self, ListFilter, Proposal};
use crate::db::teams::{self, Area, Member, Team};
use crate::db::users::User;
use crate::domain::ids::DecisionId;
use crate::domain::proposal::{
    DecisionDraft, Position, Stance, Status, parse_body, parse_comment, parse_title,
};
use crate::domain::team::Role;
use crate::domain::{InvalidInput, Violation};
use crate::error::{Error, Result};
use crate::ledger::commands::NewProposal;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}/proposals/new", get(new_proposal_form))
        .route("/t/{slug}/proposals", post(create_proposal))
        .route("/d/{id}", get(show_proposal))
        .route("/d/{id}/stance", post(take_stance))
        .route("/d/{id}/comments", post(add_comment))
        .route("/d/{id}/decision", post(record_decision))
        .route("/d/{id}/revise", post(revise_proposal))
        .route("/d/{id}/withdraw", post(withdraw_proposal))
        .route("/d/{id}/extend", post(extend_deadline))
        .route("/d/{id}/decider", post(change_decider))
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

// New proposal ------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "proposals/new.html")]
struct NewProposalPage {
    ctx: Ctx,
    team: Team,
    areas: Vec<Area>,
    voters: Vec<Member>,
    accepted: Vec<Proposal>,
    form: ProposalForm,
    errors: FieldErrors,
}

impl NewProposalPage {
    fn selected(&self, value: &str, id: &i64) -> bool {
        value == id.to_string()
    }
}

#[derive(Debug, Default, Deserialize)]
struct ProposalForm {
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
    Ok(NewProposalPage {
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

async fn new_proposal_form(
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

async fn create_proposal(
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
        match state.ledger.create_proposal(user.id, team.id, input).await {
            Ok(number) => {
                flash.set("Proposal opened. Members can now take their stance.");
                return Ok(see_other(&format!("/d/{}-{number}", team.key)));
            }
            Err(Error::Rule(v)) => {
                let field = match v.code() {
                    "deadline_in_past" => "closes_at",
                    "supersedes_not_accepted" => "supersedes",
                    "decider_not_member" => "decider",
                    _ => "title",
                };
                errors.add(field, v.to_string());
            }
            Err(err) => errors.absorb(err, "title")?,
        }
    }
    let page = new_page(&state, ctx, team, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

// The proposal page ----------------------------------------------------------

struct StanceView {
    name: String,
    position: Option<Position>,
    reason: Option<String>,
    taken: Option<When>,
    changes: i64,
    comments: i64,
    /// Percentage of all comments on the proposal.
    share: i64,
}

struct HistoryView {
    name: String,
    position: Position,
    reason: Option<String>,
    at: When,
}

struct CommentView {
    author: String,
    html: Html,
    at: When,
    index: i64,
}

struct RevisionView {
    revision: i64,
    html: Html,
    at: When,
}

struct DeciderChangeView {
    from: String,
    to: String,
    by: String,
    at: When,
}

struct Objection {
    user_id: i64,
    name: String,
    reason: String,
}

struct DecisionView {
    outcome: String,
    statement_html: Html,
    rationale_html: Html,
    decided_by: String,
    at: When,
    log_idx: i64,
    leaf_hash: String,
    tree_size: i64,
    root: String,
    responses: Vec<(String, Html)>,
}

/// The stance table and history of a proposal page.
#[derive(Template)]
#[template(path = "proposals/stances_part.html")]
struct StancesPart<'a> {
    stances: Vec<StanceView>,
    history: Vec<HistoryView>,
    /// Every change of stance, of which `history` holds the latest.
    history_total: usize,
    team_slug: &'a str,
}

/// The comments of a proposal page.
#[derive(Template)]
#[template(path = "proposals/comments_part.html")]
struct CommentsPart<'a> {
    comments: Vec<CommentView>,
    is_admin_view: bool,
    team_slug: &'a str,
    id: &'a str,
    csrf: &'a str,
}

/// Renderings kept per page rows (time zones and admin views in use).
const PARTS_KEPT: usize = 8;

/// Stands for the viewer's CSRF token in kept renderings: random per
/// process, so no text anyone typed can contain it.
fn csrf_slot() -> &'static str {
    static SLOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SLOT.get_or_init(|| {
        let mut bytes = [0u8; 16];
        // Without randomness, a fixed slot still works (it only has to be
        // absent from rendered text, which escaping mostly ensures).
        let _ = getrandom::fill(&mut bytes);
        format!("csrf-slot-{}", hex::encode(bytes))
    })
}

/// The kept comments with the viewer's CSRF token written between their
/// pieces (admins' erase forms), straight into the page: no copy of the
/// comments per view.
struct CommentsHtml {
    pieces: std::sync::Arc<[Html]>,
    /// The viewer's CSRF token, escaped.
    csrf: Html,
}

/// Pieces of trusted HTML joined by an escaped token are trusted HTML.
impl askama::filters::HtmlSafe for CommentsHtml {}

impl CommentsHtml {
    fn len(&self) -> usize {
        self.pieces.iter().map(|p| p.len() + self.csrf.len()).sum()
    }
}

impl std::fmt::Display for CommentsHtml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                f.write_str(self.csrf.as_str())?;
            }
            f.write_str(piece.as_str())?;
        }
        Ok(())
    }
}

#[derive(Template)]
#[template(path = "proposals/show.html")]
struct ProposalPage {
    ctx: Ctx,
    team: Team,
    /// The team's last log index when the page was read (live updates resume after it).
    live_after: i64,
    id: String,
    proposal: Proposal,
    body_html: Html,
    title_erased: Option<String>,
    created: When,
    closes: When,
    window_open: bool,
    is_open: bool,
    is_author: bool,
    is_decider: bool,
    can_vote: bool,
    is_admin: bool,
    my_position: String,
    /// The stance table, history and comments, rendered for this state of
    /// the log (shared by every viewer in the same time zone).
    parts: std::sync::Arc<Parts>,
    /// The comments, with the viewer's CSRF token in place.
    comments_html: CommentsHtml,
    missing: Vec<String>,
    revisions: Vec<RevisionView>,
    decider_changes: Vec<DeciderChangeView>,
    objections: Vec<Objection>,
    decision: Option<DecisionView>,
    pull_requests: Vec<crate::db::links::PrLink>,
    replacements: Vec<i64>,
    voters: Vec<Member>,
    positions: [Position; 4],
    permalink: String,
    markdown_link: String,
    errors: FieldErrors,
    draft: Draft,
}

impl IntoResponse for ProposalPage {
    /// Renders into one buffer sized for the kept parts (the page is mostly
    /// them), so a large page is not copied over and over as it grows.
    fn into_response(self) -> Response {
        let size = self.parts.stances_html.len()
            + self.comments_html.len()
            + self.body_html.len()
            + 16 * 1024;
        let mut html = String::with_capacity(size);
        match self.render_into(&mut html) {
            Ok(()) => (
                [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(err) => Error::Internal(anyhow::anyhow!("rendering the proposal page: {err}"))
                .into_response(),
        }
    }
}

impl ProposalPage {
    /// A code host's web address, if it is one a browser may follow: a
    /// webhook payload could carry a `javascript:` or `data:` URL.
    fn web_link<'u>(&self, url: &'u str) -> Option<&'u str> {
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
    }

    /// What the viewer typed into `field` of `form` before it was refused.
    fn typed(&self, form: &str, field: &str) -> &str {
        self.draft.get(form, field).unwrap_or_default()
    }

    /// The typed response to the objection of `user_id`.
    fn response(&self, user_id: &i64) -> &str {
        self.typed("decision", &format!("response_{user_id}"))
    }

    /// Whether `user_id` is the one selected in the form naming another
    /// decider: the one typed, else the current decider.
    fn decider_selected(&self, user_id: &i64) -> bool {
        match self.draft.get("decider", "decider") {
            Some(typed) => typed.trim() == user_id.to_string(),
            None => *user_id == self.proposal.decider_id,
        }
    }
}

/// What the viewer typed into one of the page's forms. A refused POST shows
/// the page again with it in place, so nothing typed is lost.
#[derive(Debug, Default)]
struct Draft {
    /// The form, named as in the page's `FieldErrors` (`stance`, `decision`, …).
    form: &'static str,
    /// Its fields as sent, by name.
    fields: HashMap<String, String>,
}

impl Draft {
    fn new(
        form: &'static str,
        fields: impl IntoIterator<Item = (impl Into<String>, String)>,
    ) -> Self {
        Self {
            form,
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
    }

    fn get(&self, form: &str, field: &str) -> Option<&str> {
        if self.form != form {
            return None;
        }
        self.fields.get(field).map(String::as_str)
    }
}

/// Who erased which texts, keyed by (entry, field).
struct Erased(HashMap<(i64, String), String>);

impl Erased {
    fn from_rows(rows: &[crate::db::log::Erasure], tz: Tz, now: DateTime<Utc>) -> Self {
        Self(
            rows.iter()
                .map(|e| {
                    let at = when(e.erased_at.0, tz, now);
                    (
                        (e.idx, e.field.clone()),
                        format!("content erased on {} by {}", at.local, e.erased_by_name),
                    )
                })
                .collect(),
        )
    }

    /// The Markdown of a text, or the erasure notice in its place.
    fn html(&self, index: i64, field: &str, markdown_text: &str) -> Html {
        match self.0.get(&(index, field.to_string())) {
            Some(notice) => Html::wrap("<p class=\"erased\">", notice, "</p>"),
            None => Html::markdown(markdown_text),
        }
    }

    fn plain(&self, index: i64, field: &str, text: Option<String>) -> Option<String> {
        self.0.get(&(index, field.to_string())).cloned().or(text)
    }
}

/// Loads a proposal by its public id for a member; 404 otherwise.
pub async fn find(state: &AppState, raw_id: &str, user: &User) -> Result<(Team, Role, Proposal)> {
    let id: DecisionId = raw_id.parse().map_err(|_| Error::NotFound)?;
    let (team, role, _) = state
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
async fn team_of(state: &AppState, raw_id: &str, user: &User) -> Result<(Team, i64)> {
    let id: DecisionId = raw_id.parse().map_err(|_| Error::NotFound)?;
    let (team, _, _) = state
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
    let (team, role, log_size) = state
        .as_member(teams::TeamRef::Key(id.key.as_str()), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let rows = state
        .caches
        .page_rows(&state.db, team.id, id.number, log_size)
        .await?;
    Ok((team, role, log_size, rows))
}

async fn page(
    state: &AppState,
    ctx: Ctx,
    user: &User,
    raw_id: &str,
    errors: FieldErrors,
    draft: Draft,
) -> Result<ProposalPage> {
    let (team, role, log_size, rows) = rows_for(state, raw_id, user).await?;
    let live_after = log_size - 1;
    let p = rows.proposal.clone();
    let tz = ctx.tz();
    let now = Utc::now();
    let erased = Erased::from_rows(&rows.erasures, tz, now);
    let table = &rows.table;
    let missing = table
        .iter()
        .filter(|r| r.position.is_none())
        .map(|r| r.display_name.clone())
        .collect();
    let objections = table
        .iter()
        .filter(|r| r.position == Some(Position::Object))
        .map(|r| Objection {
            user_id: r.user_id,
            name: r.display_name.clone(),
            reason: r.reason.clone().unwrap_or_default(),
        })
        .collect();
    let my_position = match draft.get("stance", "position") {
        Some(typed) => typed.to_string(),
        None => table
            .iter()
            .find(|r| r.user_id == user.id)
            .and_then(|r| r.position)
            .map(|p| p.to_string())
            .unwrap_or_default(),
    };
    let id = format!("{}-{}", team.key, p.number);
    let is_admin_view = role == Role::Admin;
    let parts = rows.parts(tz, is_admin_view, now, &team.slug, &id, &erased)?;
    let comments_html = CommentsHtml {
        pieces: parts.comments_html.clone(),
        csrf: Html::escape(&ctx.csrf),
    };
    let revision_rows = rows.revisions.clone();
    let body_html = match revision_rows.last() {
        Some(r) => erased.html(r.log_idx, "body", &p.body),
        None => Html::markdown(&p.body),
    };
    let title_erased = revision_rows
        .first()
        .and_then(|r| erased.0.get(&(r.log_idx, "title".to_string())).cloned());
    let revisions = revision_rows
        .into_iter()
        .map(|r| RevisionView {
            revision: r.revision,
            html: erased.html(r.log_idx, "body", &r.body),
            at: when(r.created_at.0, tz, now),
        })
        .collect();
    let decider_changes = rows
        .decider_changes
        .iter()
        .cloned()
        .map(|c| DeciderChangeView {
            from: c.from_name,
            to: c.to_name,
            by: c.by_name,
            at: when(c.changed_at.0, tz, now),
        })
        .collect();
    let decision = match rows.decision.clone() {
        Some(d) => Some(DecisionView {
            statement_html: erased.html(d.log_idx, "statement", &d.statement),
            rationale_html: if d.rationale.is_empty() {
                Html::default()
            } else {
                erased.html(d.log_idx, "rationale", &d.rationale)
            },
            outcome: d.outcome.to_string(),
            decided_by: d.decided_by_name,
            at: when(d.decided_at.0, tz, now),
            log_idx: d.log_idx,
            leaf_hash: hex::encode(d.leaf_hash),
            tree_size: d.tree_size,
            root: hex::encode(d.root_hash),
            responses: rows
                .responses
                .iter()
                .cloned()
                .map(|r| {
                    (
                        r.display_name,
                        erased.html(d.log_idx, &format!("responses.{}", r.user_id), &r.response),
                    )
                })
                .collect(),
        }),
        None => None,
    };
    let voters = rows
        .members
        .iter()
        .filter(|m| m.role.can_vote())
        .cloned()
        .collect();
    let replacements = rows.replacements.clone();
    let pull_requests = rows.pull_requests.clone();
    let permalink = format!("{}/d/{id}", state.base_url);
    Ok(ProposalPage {
        markdown_link: format!("[{id}: {}]({permalink})", p.title.replace(['[', ']'], "")),
        permalink,
        live_after,
        body_html,
        title_erased,
        created: when(p.created_at.0, tz, now),
        closes: when(p.closes_at.0, tz, now),
        window_open: now < p.closes_at.0,
        is_open: p.status == Status::Open,
        is_author: p.author_id == user.id,
        is_decider: p.decider_id == user.id,
        can_vote: role.can_vote(),
        is_admin: role == Role::Admin,
        my_position,
        parts,
        comments_html,
        missing,
        revisions,
        decider_changes,
        objections,
        decision,
        pull_requests,
        replacements,
        voters,
        positions: Position::ALL,
        errors,
        draft,
        id,
        ctx,
        team,
        proposal: p,
    })
}

async fn show_proposal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    match page(
        &state,
        ctx,
        &user,
        &id,
        FieldErrors::default(),
        Draft::default(),
    )
    .await
    {
        Ok(page) => Ok(page.into_response()),
        // Not under a current key: perhaps under a former one.
        Err(Error::NotFound) => {
            match renamed(&state, &id, &user, "/d/", "", query.as_deref()).await? {
                Some(moved) => Ok(moved),
                None => Err(Error::NotFound),
            }
        }
        Err(e) => Err(e),
    }
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

/// After a POST of the `draft`'s form on the proposal page: 303 back on
/// success; on bad input or a broken rule, the page again with the message
/// next to the form and what was typed still in it.
async fn respond(
    state: &AppState,
    flash: &Flash,
    ctx: Ctx,
    user: &User,
    id: &str,
    draft: Draft,
    outcome: Result<&'static str>,
) -> Result<Response> {
    let (status, message) = match outcome {
        Ok(message) => {
            flash.set(message);
            return Ok(see_other(&format!("/d/{id}")));
        }
        Err(Error::Invalid(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} {}", e.field.replace('_', " "), e.message),
        ),
        Err(err @ Error::Rule(_)) => (err.status(), rule_message(&err, ctx.tz())),
        Err(err @ Error::Taken { .. }) => (err.status(), err.to_string()),
        // What was typed stays in the form, to send again later.
        Err(err @ Error::Unwritable) => (err.status(), err.to_string()),
        Err(err) => return Err(err),
    };
    let mut errors = FieldErrors::default();
    errors.add(draft.form, message);
    let page = page(state, ctx, user, id, errors, draft).await?;
    Ok((status, page).into_response())
}

/// A broken rule in words for the viewer, with its instants in their time
/// zone as everywhere else on the page (the rule's own message says UTC).
fn rule_message(err: &Error, tz: Tz) -> String {
    match err {
        Error::Rule(Violation::WindowOpen { closes_at, missing }) => format!(
            "the window is open until {}; still waiting for a stance from {missing} voting member(s)",
            when(*closes_at, tz, Utc::now()).local
        ),
        other => other.to_string(),
    }
}

#[derive(Debug, Deserialize)]
struct StanceForm {
    #[serde(default)]
    position: String,
    #[serde(default)]
    reason: String,
}

async fn take_stance(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<StanceForm>,
) -> Result<Response> {
    let (team, number) = team_of(&state, &id, &user).await?;
    let outcome = async {
        let stance = Stance::parse(&form.position, Some(&form.reason))?;
        state
            .ledger
            .take_stance(user.id, team.id, number, stance)
            .await?;
        Ok("Your stance is recorded.")
    }
    .await;
    let draft = Draft::new(
        "stance",
        [("position", form.position), ("reason", form.reason)],
    );
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
struct CommentForm {
    #[serde(default)]
    body: String,
}

async fn add_comment(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response> {
    let (team, number) = team_of(&state, &id, &user).await?;
    let outcome = async {
        let body = parse_comment(&form.body)?;
        state.ledger.comment(user.id, team.id, number, body).await?;
        Ok("Comment added.")
    }
    .await;
    let draft = Draft::new("comment", [("body", form.body)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

async fn record_decision(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response> {
    let (team, number) = team_of(&state, &id, &user).await?;
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    let outcome = async {
        let responses = form.iter().filter_map(|(k, v)| {
            k.strip_prefix("response_")
                .and_then(|u| u.parse::<i64>().ok())
                .map(|u| (u, v.clone()))
        });
        let draft = DecisionDraft::parse(
            field("outcome"),
            field("statement"),
            field("rationale"),
            responses,
        )?;
        state.ledger.record(user.id, team.id, number, draft).await?;
        Ok("Decision recorded. The record is sealed in the log and cannot change.")
    }
    .await;
    let draft = Draft::new("decision", form);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
struct ReviseForm {
    #[serde(default)]
    body: String,
}

async fn revise_proposal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<ReviseForm>,
) -> Result<Response> {
    let (team, number) = team_of(&state, &id, &user).await?;
    let outcome = async {
        let body = parse_body(&form.body)?;
        state.ledger.revise(user.id, team.id, number, body).await?;
        Ok("Proposal revised; the earlier text stays in its history.")
    }
    .await;
    let draft = Draft::new("revise", [("body", form.body)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
struct WithdrawForm {
    #[serde(default)]
    reason: String,
}

async fn withdraw_proposal(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<WithdrawForm>,
) -> Result<Response> {
    let (team, number) = team_of(&state, &id, &user).await?;
    let outcome = async {
        let reason = crate::domain::clean_text("reason", &form.reason, 1, 5_000, true)?;
        state
            .ledger
            .withdraw(user.id, team.id, number, reason)
            .await?;
        Ok("Proposal withdrawn.")
    }
    .await;
    let draft = Draft::new("withdraw", [("reason", form.reason)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
struct ExtendForm {
    #[serde(default)]
    closes_at: String,
}

async fn extend_deadline(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<ExtendForm>,
) -> Result<Response> {
    let (team, number) = team_of(&state, &id, &user).await?;
    let outcome = async {
        let closes_at = parse_local_datetime(&form.closes_at, user.time_zone, "closes_at")?;
        state
            .ledger
            .extend(user.id, team.id, number, closes_at)
            .await?;
        Ok("Deadline extended.")
    }
    .await;
    let draft = Draft::new("extend", [("closes_at", form.closes_at)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
struct DeciderForm {
    #[serde(default)]
    decider: String,
}

async fn change_decider(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<DeciderForm>,
) -> Result<Response> {
    let (team, number) = team_of(&state, &id, &user).await?;
    let outcome = async {
        let to = form
            .decider
            .trim()
            .parse::<i64>()
            .map_err(|_| InvalidInput::new("decider", "choose a member"))?;
        state
            .ledger
            .change_decider(user.id, team.id, number, to)
            .await?;
        Ok("New decider named; the change is in the log.")
    }
    .await;
    let draft = Draft::new("decider", [("decider", form.decider)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

/// Changes of stance shown on a proposal page (the latest).
const HISTORY_SHOWN: usize = 100;

impl PageRows {
    /// The stance table, history and comments rendered for time zone `tz`
    /// at `now` (to the minute), kept for the next view like it.
    fn parts(
        &self,
        tz: Tz,
        is_admin_view: bool,
        now: chrono::DateTime<Utc>,
        team_slug: &str,
        id: &str,
        erased: &Erased,
    ) -> Result<std::sync::Arc<Parts>> {
        let minute = now.timestamp().div_euclid(60);
        let key = (tz, is_admin_view, minute);
        let kept = |parts: &std::sync::Mutex<Vec<(PartsKey, std::sync::Arc<Parts>)>>| {
            parts
                .lock()
                .ok()
                .and_then(|list| list.iter().find(|(k, _)| *k == key).map(|(_, p)| p.clone()))
        };
        if let Some(hit) = kept(&self.parts) {
            return Ok(hit);
        }
        // Every view in the same minute shows the same relative times.
        let now = chrono::DateTime::from_timestamp(minute * 60, 0).unwrap_or(now);
        let total_comments: i64 = self.table.iter().map(|r| r.comments).sum();
        let stances = self
            .table
            .iter()
            .cloned()
            .map(|r| StanceView {
                share: if total_comments == 0 {
                    0
                } else {
                    (r.comments * 100 + total_comments / 2) / total_comments
                },
                name: r.display_name,
                position: r.position,
                reason: r.reason,
                taken: r.taken_at.map(|t| when(t.0, tz, now)),
                changes: r.changes,
                comments: r.comments,
            })
            .collect();
        // The latest changes; a proposal argued over for weeks keeps every
        // one in the log, but the page stays readable (and light).
        let history_total = self.history.len();
        let history = self
            .history
            .iter()
            .skip(history_total.saturating_sub(HISTORY_SHOWN))
            .cloned()
            .map(|h| HistoryView {
                reason: erased.plain(h.log_idx, "reason", h.reason),
                name: h.display_name,
                position: h.position,
                at: when(h.created_at.0, tz, now),
            })
            .collect();
        let comments = self
            .comments
            .iter()
            .cloned()
            .map(|c| CommentView {
                author: c.author_name,
                html: erased.html(c.log_idx, "body", &c.body),
                at: when(c.created_at.0, tz, now),
                index: c.log_idx,
            })
            .collect();
        let render = |e: askama::Error| Error::Internal(anyhow::anyhow!("template: {e}"));
        let parts = std::sync::Arc::new(Parts {
            stances_html: Html::render(&StancesPart {
                stances,
                history,
                history_total,
                team_slug,
            })
            .map_err(render)?,
            comments_html: Html::render(&CommentsPart {
                comments,
                is_admin_view,
                team_slug,
                id,
                csrf: csrf_slot(),
            })
            .map_err(render)?
            .split(csrf_slot())
            .into(),
        });
        if let Ok(mut list) = self.parts.lock() {
            if list.len() >= PARTS_KEPT {
                list.remove(0);
            }
            list.push((key, parts.clone()));
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_message_reads_as_the_rule_says_with_the_viewers_time() {
        let closes_at = DateTime::parse_from_rfc3339("2030-07-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        let rule = Violation::WindowOpen {
            closes_at,
            missing: 2,
        };
        let shown = rule_message(&Error::Rule(rule.clone()), chrono_tz::Asia::Tokyo);
        assert_eq!(
            shown,
            rule.to_string()
                .replace(&closes_at.to_string(), "Mon 1 Jul 2030, 21:00 JST"),
            "same words as the rule, only the time differs"
        );
    }
}
