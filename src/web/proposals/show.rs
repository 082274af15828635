//! The proposal page (the decision permalink): its page model, the kept
//! renderings of its stance table and comments, and what a refused form
//! typed.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{renamed, rows_for};
use crate::db::proposals::Proposal;
use crate::db::teams::{Member, Team};
use crate::db::users::User;
use crate::domain::proposal::{Position, Status, is_late, overdue_at};
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::format::{When, when};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::field_errors::FieldErrors;
use crate::web::html::Html;
use crate::web::pages::Ctx;
use crate::web::rows::{PageRows, Parts, PartsKey};

pub(super) struct StanceView {
    name: String,
    position: Option<Position>,
    reason: Option<String>,
    taken: Option<When>,
    /// Taken after the window ended.
    late: bool,
    changes: i64,
    comments: i64,
    /// Percentage of all comments on the proposal.
    share: i64,
}

pub(super) struct HistoryView {
    name: String,
    position: Position,
    reason: Option<String>,
    at: When,
    /// Taken after the window ended.
    late: bool,
}

pub(super) struct CommentView {
    author: String,
    html: Html,
    at: When,
    index: i64,
}

pub(super) struct RevisionView {
    revision: i64,
    html: Html,
    at: When,
}

pub(super) struct DeciderChangeView {
    from: String,
    to: String,
    by: String,
    at: When,
}

pub(super) struct Objection {
    user_id: i64,
    name: String,
    reason: String,
}

pub(super) struct DecisionView {
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
pub(super) struct StancesPart<'a> {
    stances: Vec<StanceView>,
    history: Vec<HistoryView>,
    /// Every change of stance, of which `history` holds the latest.
    history_total: usize,
    team_slug: &'a str,
}

/// The comments of a proposal page.
#[derive(Template)]
#[template(path = "proposals/comments_part.html")]
pub(super) struct CommentsPart<'a> {
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
pub(super) struct CommentsHtml {
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
pub(super) struct ProposalPage {
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
    /// "closes in 2 days" or "closed 5 minutes ago".
    window_phrase: String,
    window_open: bool,
    /// The decider may record now: the window ended, or everyone responded.
    ready: bool,
    /// The members for the mention suggestions (JSON).
    mention_list: String,
    /// Who took their current stance after the window ended.
    late: Vec<String>,
    /// Open past the team's period: "has waited 9 days for Bob's decision".
    waited: Option<String>,
    /// Decided: "decided 12 days after its window ended".
    took: Option<String>,
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
pub(super) struct Draft {
    /// The form, named as in the page's `FieldErrors` (`stance`, `decision`, …).
    pub(super) form: &'static str,
    /// Its fields as sent, by name.
    fields: HashMap<String, String>,
}

impl Draft {
    pub(super) fn new(
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

/// Who erased which texts, keyed by (entry, field), and whom the texts
/// can mention.
pub(super) struct Erased(
    HashMap<(i64, String), String>,
    crate::web::mentions::Mentions,
);

impl Erased {
    fn from_rows(
        rows: &[crate::db::log::Erasure],
        tz: Tz,
        now: DateTime<Utc>,
        mentions: crate::web::mentions::Mentions,
    ) -> Self {
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
            mentions,
        )
    }

    /// The Markdown of a text, or the erasure notice in its place.
    fn html(&self, index: i64, field: &str, markdown_text: &str) -> Html {
        match self.0.get(&(index, field.to_string())) {
            Some(notice) => Html::wrap("<p class=\"erased\">", notice, "</p>"),
            None => crate::web::cache::markdown_in(markdown_text, &self.1),
        }
    }

    fn plain(&self, index: i64, field: &str, text: Option<String>) -> Option<String> {
        self.0.get(&(index, field.to_string())).cloned().or(text)
    }
}

pub(super) async fn page(
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
    let now = state.ledger.now();
    let (mentions, mention_list) = rows.mentions.get_or_init(|| {
        let mentions = crate::web::mentions::Mentions::new(&team, &rows.members);
        let list = mentions.suggestions();
        (mentions, list)
    });
    let erased = Erased::from_rows(&rows.erasures, tz, now, mentions.clone());
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
        None => crate::web::cache::markdown_in(&p.body, &erased.1),
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
        window_phrase: crate::format::window(p.closes_at.0, now),
        window_open: now < p.closes_at.0,
        ready: p.status == Status::Open
            && (now >= p.closes_at.0 || rows.table.iter().all(|r| r.position.is_some())),
        mention_list: mention_list.clone(),
        late: rows
            .table
            .iter()
            .filter(|r| r.taken_at.is_some_and(|t| is_late(t.0, p.closes_at.0)))
            .map(|r| r.display_name.clone())
            .collect(),
        waited: (p.status == Status::Open
            && now >= overdue_at(p.closes_at.0, team.decide_within_days, 1))
        .then(|| crate::web::teams::waited(&p, now)),
        took: rows
            .decision
            .as_ref()
            .map(|d| took(d.decided_at.0, p.closes_at.0)),
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

/// How long after (or before) its window's end a decision was recorded.
fn took(decided_at: DateTime<Utc>, closes_at: DateTime<Utc>) -> String {
    let days = |d: chrono::Duration| match d.num_days() {
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    };
    let after = decided_at - closes_at;
    if after >= chrono::Duration::days(1) {
        format!("decided {} after its window ended", days(after))
    } else if -after >= chrono::Duration::days(1) {
        format!(
            "decided {} before its window ended, once everyone had responded",
            days(-after)
        )
    } else {
        "decided within a day of its window's end".to_string()
    }
}

pub(super) async fn show_proposal(
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
                late: r
                    .taken_at
                    .is_some_and(|t| is_late(t.0, self.proposal.closes_at.0)),
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
                late: is_late(h.created_at.0, self.proposal.closes_at.0),
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
