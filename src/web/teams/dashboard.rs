//! A team's dashboard and its decision log.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::{ProposalItem, items};
use crate::db::proposals::ListFilter;
use crate::db::teams::{Area, Team};
use crate::db::{proposals, teams};
use crate::domain::proposal::{Status, overdue_at};
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::web::AppState;
use crate::web::Membership;
use crate::web::auth::CurrentUser;
use crate::web::pages::Ctx;
use crate::web::rows::OpenProposal;

#[derive(Template, WebTemplate)]
#[template(path = "teams/dashboard.html")]
pub(super) struct DashboardPage {
    ctx: Ctx,
    team: Team,
    /// The team's last log index when the page was read (live updates resume after it).
    live_after: i64,
    role: Role,
    /// Open proposals the viewer decides that are ready for the decision.
    waiting: Vec<ProposalItem>,
    needs_stance: Vec<ProposalItem>,
    /// Every other open proposal, with the viewer's stance (the soonest
    /// [`OPEN_LISTED`]).
    open_in_team: Vec<ProposalItem>,
    /// How many other open proposals there are in all.
    open_total: usize,
    /// Open proposals past the team's period after their window.
    overdue: Vec<ProposalItem>,
    /// What the overdue section says when it lists none.
    overdue_empty: &'static str,
    /// What others opened and decided since the viewer last looked.
    since: Vec<SinceItem>,
    recently_decided: Vec<ProposalItem>,
}

/// Something that happened since the viewer's last visit.
pub(super) struct SinceItem {
    /// `KEY-N`.
    id: String,
    /// Title.
    title: String,
    /// "opened by Ana, Bob decides" or "accepted by Bob".
    what: String,
    /// The decider's answer to the viewer's own objection.
    answer: Option<String>,
}

/// Entries "Since your last visit" shows at most.
const SINCE_LISTED: i64 = 20;

/// What others opened and decided in the team since `user` last looked,
/// and the answers to their objections; notes this visit.
async fn since_last_visit(
    state: &AppState,
    team: &Team,
    user: i64,
    log_size: i64,
) -> Result<Vec<SinceItem>> {
    if state.caches.has_seen(user, team.id, log_size) {
        return Ok(Vec::new());
    }
    let mut pool = state.db.reader();
    let seen = crate::db::visits::last_seen(pool.re(), user, team.id).await?;
    if seen.is_some_and(|s| s >= log_size) {
        state.caches.note_seen(user, team.id, log_size);
        return Ok(Vec::new());
    }
    let (team_id, at) = (team.id, crate::db::Timestamp(state.ledger.now()));
    state
        .ledger
        .writer()
        .submit(move |mut conn| {
            Box::pin(async move {
                Ok(crate::db::visits::saw(conn.re(), user, team_id, log_size, at).await?)
            })
        })
        .await?;
    state.caches.note_seen(user, team.id, log_size);
    // A first visit starts the count; it lists nothing.
    let Some(from) = seen else {
        return Ok(Vec::new());
    };
    let news = crate::db::visits::news(pool.re(), team.id, from, user, SINCE_LISTED).await?;
    let mentions =
        crate::db::visits::mentions(pool.re(), team.id, from, user, SINCE_LISTED).await?;
    let numbers = news
        .iter()
        .map(|n| n.number)
        .chain(mentions.iter().map(|m| m.1));
    let found = proposals::by_numbers_map(pool.re(), team.id, numbers).await?;
    // The answers to the viewer's objections among those decisions.
    let answers = crate::db::visits::answers(pool.re(), team.id, from, user).await?;
    let mut out = Vec::new();
    for (_, number, by) in mentions {
        if let Some(p) = found.get(&number) {
            out.push(SinceItem {
                id: format!("{}-{}", team.key, p.number),
                title: p.title.clone(),
                what: format!("{by} mentioned you"),
                answer: None,
            });
        }
    }
    for n in news {
        let Some(p) = found.get(&n.number) else {
            continue;
        };
        let (what, answer) = if n.kind == "decision_recorded" {
            let answer = answers.get(&p.number).cloned();
            let outcome = match p.status {
                Status::Rejected => "rejected",
                _ => "accepted",
            };
            (format!("{outcome} by {}", p.decider_name), answer)
        } else {
            (
                format!("opened by {}; {} decides", p.author_name, p.decider_name),
                None,
            )
        };
        out.push(SinceItem {
            id: format!("{}-{}", team.key, p.number),
            title: p.title.clone(),
            what,
            answer,
        });
    }
    Ok(out)
}

/// Other open proposals the dashboard lists (the rest: the decision log).
const OPEN_LISTED: usize = 20;

/// Proposals a dashboard list shows at most.
const DASHBOARD_LIST: usize = 50;

pub(super) async fn dashboard(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
) -> Result<DashboardPage> {
    // The log size before the page's data: whatever it misses, the stream replays.
    let Membership {
        team,
        role,
        log_size,
    } = state
        .as_member(teams::TeamRef::Slug(&slug), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let live_after = log_size - 1;
    let rows = state
        .caches
        .dashboard_rows(&state.db, team.id, log_size)
        .await?;
    let now = state.ledger.now();
    // Each open proposal in one section: waiting for the viewer's
    // decision, else needing their stance, else overdue, else open.
    let overdue_from =
        |p: &OpenProposal| overdue_at(p.proposal.closes_at.0, team.decide_within_days, 1);
    let mut waiting = Vec::new();
    let mut needs = Vec::new();
    let mut overdue = Vec::new();
    let mut others = Vec::new();
    for p in &rows.open {
        if p.proposal.decider_id == user.id && rows.ready(p, now) {
            waiting.push(p);
        } else if role.can_vote() && !p.stances.contains_key(&user.id) {
            needs.push(p);
        } else if now >= overdue_from(p) {
            overdue.push(p);
        } else {
            others.push(p);
        }
    }
    let listed = |list: Vec<&OpenProposal>| {
        let shown: Vec<&OpenProposal> = list.into_iter().take(DASHBOARD_LIST).collect();
        let mut out = items(&team, shown.iter().map(|p| &p.proposal), &ctx, now);
        for (item, p) in out.iter_mut().zip(&shown) {
            item.your_stance = p.stances.get(&user.id).map(|pos| pos.to_string());
            if now >= overdue_from(p) {
                item.waited = Some(super::waited(&p.proposal, now));
            }
        }
        out
    };
    let open_total = others.len();
    others.truncate(OPEN_LISTED);
    let waiting = listed(waiting);
    // The viewer's own overdue ones are listed under "Waiting for your decision".
    let overdue_empty = if waiting.iter().any(|p| p.waited.is_some()) {
        "No other proposal is overdue."
    } else {
        "No decision is overdue."
    };
    let since = since_last_visit(&state, &team, user.id, log_size).await?;
    Ok(DashboardPage {
        open_total,
        since,
        overdue_empty,
        waiting,
        needs_stance: listed(needs),
        overdue: listed(overdue),
        open_in_team: listed(others),
        recently_decided: items(&team, &rows.decided, &ctx, now),
        live_after,
        ctx,
        team,
        role,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/decisions.html")]
pub(super) struct DecisionLogPage {
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

/// The decision log's filter for open proposals past the team's period.
const OVERDUE: &str = "overdue";

#[derive(Debug, Deserialize)]
pub(super) struct LogFilter {
    #[serde(default)]
    area: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
}

pub(super) async fn decision_log(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Path(slug): Path<String>,
    Query(filter): Query<LogFilter>,
) -> Result<DecisionLogPage> {
    let Membership { team, log_size, .. } = state
        .as_member(teams::TeamRef::Slug(&slug), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let area = filter.area.parse::<i64>().ok();
    let now = state.ledger.now();
    // "overdue": open, and the window ended more than the team's period ago.
    let overdue = filter.status == OVERDUE;
    let status = if overdue {
        Some(Status::Open)
    } else {
        filter.status.parse::<Status>().ok()
    };
    let text = filter.q.trim().to_string();
    let filter = ListFilter {
        status,
        area,
        text: (!text.is_empty()).then(|| text.clone()),
        closed_by: overdue
            .then(|| crate::db::Timestamp(now - chrono::Duration::days(team.decide_within_days))),
    };
    // The unfiltered log, the page most often seen, is kept while the
    // team's log does not grow.
    let kept = state.caches.log_rows(&state.db, team.id, log_size).await?;
    let filtered = if filter.status.is_none()
        && filter.area.is_none()
        && filter.text.is_none()
        && filter.closed_by.is_none()
    {
        None
    } else {
        Some(
            proposals::list(
                state.db.reader(),
                team.id,
                &filter,
                crate::web::rows::LOG_LISTED,
            )
            .await?,
        )
    };
    let listed = filtered.as_ref().unwrap_or(&kept.proposals);
    let mut proposals = items(&team, listed, &ctx, now);
    for (item, p) in proposals.iter_mut().zip(listed) {
        if p.status == Status::Open && now >= overdue_at(p.closes_at.0, team.decide_within_days, 1)
        {
            item.waited = Some(super::waited(p, now));
        }
    }
    Ok(DecisionLogPage {
        proposals,
        areas: kept.areas.clone(),
        statuses: Status::ALL
            .iter()
            .map(|s| s.as_str())
            .chain([OVERDUE])
            .collect(),
        area,
        status: if overdue {
            OVERDUE.to_string()
        } else {
            status.map(|s| s.as_str().to_string()).unwrap_or_default()
        },
        text,
        ctx,
        team,
    })
}
