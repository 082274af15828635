//! Search (issue #8): one page, `GET /search`, over the texts of the teams
//! the viewer belongs to now, and the "who decides" answers of an areas
//! page. The queries and the index live in `db::search`; here the request
//! becomes a query and filters, and matches become safe HTML.
//!
//! Whatever is typed, the page answers 200: input is never FTS5 syntax, bad
//! filter values are ignored with a note, and no match shows suggestions.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::AppState;
use super::auth::CurrentUser;
use super::html::Html;
use super::pages::Ctx;
use crate::db::search::{
    self, AreaChoice, DateField, Filter, Hit, MARK_END, MARK_START, MatchQuery,
};
use crate::db::{Timestamp, teams};
use crate::domain::proposal::Status;
use crate::error::Result;
use crate::format::{When, when};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/search", get(show_search))
}

/// Results per page.
const PER_PAGE: i64 = 50;
/// The last page offered: past 1,000 results, a narrower query serves better.
const MAX_PAGE: i64 = 20;

/// The query string, read leniently: unknown keys are ignored, a repeated
/// key keeps its first value, and nothing in it can make the page fail.
#[derive(Debug, Default, Clone)]
struct Params {
    q: String,
    team: String,
    area: String,
    status: String,
    decider: String,
    date: String,
    from: String,
    to: String,
    page: String,
}

impl Params {
    fn parse(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default();
        let mut params = Self::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "q" => &mut params.q,
                "team" => &mut params.team,
                "area" => &mut params.area,
                "status" => &mut params.status,
                "decider" => &mut params.decider,
                "date" => &mut params.date,
                "from" => &mut params.from,
                "to" => &mut params.to,
                "page" => &mut params.page,
                _ => continue,
            };
            if slot.is_empty() {
                *slot = value.trim().to_string();
            }
        }
        params
    }

    /// This search's URL with another page number.
    fn url_for_page(&self, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = [
            ("q", &self.q),
            ("team", &self.team),
            ("area", &self.area),
            ("status", &self.status),
            ("decider", &self.decider),
            ("date", &self.date),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect();
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        format!(
            "/search?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

/// Areas of one team, for an `<optgroup>`.
struct AreaGroup {
    team_id: i64,
    team_name: String,
    areas: Vec<AreaChoice>,
}

/// One match as shown.
struct ResultItem {
    /// "Proposal", "Decision record", "Comment", "Stance reason", "Response
    /// to an objection".
    kind: &'static str,
    /// `KEY-N`.
    id: String,
    /// Permalink, with an anchor for records, stances and comments.
    href: String,
    /// Title, escaped, with `<mark>` around matched words.
    title_html: Html,
    status: String,
    team_name: String,
    area: Option<String>,
    decider: String,
    author: Option<String>,
    /// Words around the match, escaped, with `<mark>`.
    snippet_html: Html,
    /// "opened" or "decided".
    date_label: &'static str,
    date: When,
}

/// What the page shows below the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// No query yet: what can be searched, with examples.
    Intro,
    /// Only punctuation or operators: nothing to look for.
    NothingToSearch,
    /// Searched, nothing found: suggestions.
    NoResults,
    /// Results.
    Found,
}

#[derive(Template, WebTemplate)]
#[template(path = "search/index.html")]
struct SearchPage {
    ctx: Ctx,
    params: Params,
    outcome: Outcome,
    /// The query as understood (cleaned), for "results for …".
    understood: String,
    /// Notes about input that was ignored.
    notices: Vec<String>,
    suggestions: Vec<String>,
    results: Vec<ResultItem>,
    previous: Option<String>,
    next: Option<String>,
    teams: Vec<(String, String)>,
    area_groups: Vec<AreaGroup>,
    statuses: Vec<&'static str>,
    deciders: Vec<(i64, String)>,
    examples: Vec<(&'static str, &'static str)>,
}

impl SearchPage {
    fn is_team(&self, slug: &str) -> bool {
        self.params.team == slug
    }

    fn is_area(&self, id: &i64) -> bool {
        self.params.area == id.to_string()
    }

    fn is_status(&self, status: &str) -> bool {
        self.params.status == status
    }

    fn is_decider(&self, id: &i64) -> bool {
        self.params.decider == id.to_string()
    }

    fn dates_decided(&self) -> bool {
        self.params.date == DateField::Decided.as_str()
    }

    fn example_url(&self, query: &str) -> String {
        format!(
            "/search?{}",
            serde_urlencoded::to_string([("q", query)]).unwrap_or_default()
        )
    }
}

/// Queries shown on the empty page, with what each does.
const EXAMPLES: &[(&str, &str)] = &[
    ("postgresql", "every text that mentions PostgreSQL"),
    ("\"code review\"", "the exact phrase"),
    (
        "deploy*",
        "words that start with deploy: deploys, deployment, …",
    ),
    ("rust OR go", "either word"),
    ("database -mysql", "database, but not MySQL"),
];

async fn show_search(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> Result<SearchPage> {
    let mut params = Params::parse(raw.as_deref());
    let mut pool = state.db.reader();
    let my_teams: Vec<(String, String)> = teams::of_user(pool.re(), user.id)
        .await?
        .into_iter()
        .map(|(t, _)| (t.slug, t.name))
        .collect();
    let areas = search::area_choices(pool.re(), user.id).await?;
    let deciders = search::decider_choices(pool.re(), user.id).await?;
    let tz = ctx.tz();
    let (filter, mut notices) = read_filter(&mut params, user.id, &my_teams, &areas, &deciders, tz);
    let page = match params.page.parse::<i64>() {
        Ok(n) if n >= 1 => n.min(MAX_PAGE),
        _ => 1,
    };

    let query = MatchQuery::parse(&params.q);
    if query.truncated {
        notices.push(format!(
            "Only the first {} words (and {} characters) were searched.",
            search::MAX_TERMS,
            search::MAX_INPUT
        ));
    }
    let mut results = Vec::new();
    let mut next = None;
    let outcome = match query.expression_for(&pool) {
        _ if params.q.is_empty() => Outcome::Intro,
        None => Outcome::NothingToSearch,
        Some(expression) => {
            let offset = (page - 1) * PER_PAGE;
            let mut hits =
                search::search(pool.re(), &expression, &filter, PER_PAGE + 1, offset).await?;
            if hits.len() as i64 > PER_PAGE {
                hits.truncate(PER_PAGE as usize);
                if page < MAX_PAGE {
                    next = Some(params.url_for_page(page + 1));
                }
            }
            let now = Utc::now();
            results = hits.into_iter().map(|h| item(h, tz, now)).collect();
            if results.is_empty() {
                Outcome::NoResults
            } else {
                Outcome::Found
            }
        }
    };
    let suggestions = if matches!(outcome, Outcome::NoResults | Outcome::NothingToSearch) {
        suggestions(&query, &filter)
    } else {
        Vec::new()
    };
    let mut area_groups: Vec<AreaGroup> = Vec::new();
    for area in areas {
        match area_groups.last_mut() {
            Some(group) if group.team_id == area.team_id => group.areas.push(area),
            _ => area_groups.push(AreaGroup {
                team_id: area.team_id,
                team_name: area.team_name.clone(),
                areas: vec![area],
            }),
        }
    }
    Ok(SearchPage {
        understood: query.display(),
        previous: (page > 1 && matches!(outcome, Outcome::Found | Outcome::NoResults))
            .then(|| params.url_for_page(page - 1)),
        next,
        outcome,
        notices,
        suggestions,
        results,
        teams: my_teams,
        area_groups,
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        deciders,
        examples: EXAMPLES.to_vec(),
        params,
        ctx,
    })
}

/// The filters of a search, from its parameters. A value that is not one
/// of the viewer's choices is ignored, with a note saying so; dates are
/// written back in the one form a date field shows.
fn read_filter(
    params: &mut Params,
    user_id: i64,
    my_teams: &[(String, String)],
    areas: &[AreaChoice],
    deciders: &[(i64, String)],
    tz: Tz,
) -> (Filter, Vec<String>) {
    let mut notices = Vec::new();
    let mut filter = Filter {
        user_id,
        ..Filter::default()
    };
    if !params.team.is_empty() {
        if my_teams.iter().any(|(slug, _)| *slug == params.team) {
            filter.team = Some(params.team.clone());
        } else {
            notices.push(format!(
                "You are not in a team “{}”, so all your teams were searched.",
                params.team
            ));
        }
    }
    if !params.area.is_empty() {
        match params.area.parse::<i64>() {
            Ok(id) if areas.iter().any(|a| a.id == id) => filter.area = Some(id),
            _ => notices
                .push("That area is not one of your teams' areas; any area was searched.".into()),
        }
    }
    if !params.status.is_empty() {
        match params.status.parse::<Status>() {
            Ok(status) => filter.status = Some(status.as_str().to_string()),
            Err(_) => notices.push(format!(
                "“{}” is not a status; any status was searched.",
                params.status
            )),
        }
    }
    if !params.decider.is_empty() {
        match params.decider.parse::<i64>() {
            Ok(id) if deciders.iter().any(|(d, _)| *d == id) => filter.decider = Some(id),
            _ => notices.push(
                "That person decides nothing in your teams; any decider was searched.".into(),
            ),
        }
    }
    filter.date = if params.date == DateField::Decided.as_str() {
        DateField::Decided
    } else {
        DateField::Created
    };
    let mut from = day(&params.from, "From", &mut notices);
    let mut to = day(&params.to, "To", &mut notices);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        notices.push("“From” was after “To”, so the two dates were swapped.".into());
        (from, to) = (Some(t), Some(f));
    }
    // A date field can only show a date in one form: write back what was
    // understood, forget what was ignored.
    let shown = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    params.from = shown(from);
    params.to = shown(to);
    // Whole days in the viewer's time zone, "to" included.
    filter.from = from.map(|d| start_of(d, tz));
    filter.to = to.and_then(|d| d.succ_opt()).map(|d| start_of(d, tz));
    (filter, notices)
}

/// A date typed as `YYYY-MM-DD` (what `<input type="date">` sends); a note
/// if it is something else.
fn day(text: &str, label: &str, notices: &mut Vec<String>) -> Option<NaiveDate> {
    if text.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) if (1..=9999).contains(&d.year()) => Some(d),
        _ => {
            notices.push(format!(
                "“{label}” must be a date like 2026-03-31; “{text}” was ignored."
            ));
            None
        }
    }
}

/// Midnight starting `day` in the viewer's time zone, as stored.
fn start_of(day: NaiveDate, tz: Tz) -> Timestamp {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let instant = tz
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| DateTime::from_naive_utc_and_offset(midnight, Utc));
    Timestamp(instant)
}

fn item(hit: Hit, tz: Tz, now: DateTime<Utc>) -> ResultItem {
    let id = format!("{}-{}", hit.team_key, hit.number);
    let (kind, href) = match hit.kind.as_str() {
        "decision" => ("Decision record", format!("/d/{id}#record-heading")),
        "comment" => ("Comment", format!("/d/{id}#c{}", hit.log_idx)),
        "stance" => ("Stance reason", format!("/d/{id}#stances-heading")),
        "response" => (
            "Response to an objection",
            format!("/d/{id}#record-heading"),
        ),
        _ => ("Proposal", format!("/d/{id}")),
    };
    let (date_label, date) = match hit.decided_at {
        Some(t) if matches!(hit.kind.as_str(), "decision" | "response") => ("decided", t),
        _ => ("opened", hit.created_at),
    };
    let title_html = if hit.title.is_empty() {
        Html::literal("(title erased)")
    } else {
        marked_html(&hit.title)
    };
    ResultItem {
        kind,
        href,
        id,
        title_html,
        status: hit.status.to_string(),
        team_name: hit.team_name,
        area: hit.area_name,
        decider: hit.decider_name,
        author: hit.author_name,
        snippet_html: marked_html(hit.snippet.trim()),
        date_label,
        date: when(date.0, tz, now),
    }
}

/// Escapes `text` for HTML, then turns the match marks FTS5 put in into
/// `<mark>` elements (see [`Html::marked`]).
pub fn marked_html(text: &str) -> Html {
    Html::marked(text, MARK_START, MARK_END)
}

/// What to try when nothing matched.
fn suggestions(query: &MatchQuery, filter: &Filter) -> Vec<String> {
    let mut out = Vec::new();
    if query.is_empty() {
        out.push("Type a word or two: a title, a name, a technology, a phrase in quotes.".into());
        return out;
    }
    let filtered = filter.team.is_some()
        || filter.area.is_some()
        || filter.status.is_some()
        || filter.decider.is_some()
        || filter.from.is_some()
        || filter.to.is_some();
    if filtered {
        out.push("Remove some filters: they narrow the search to one team, area, status, decider or time.".into());
    }
    let terms: usize = query.groups.iter().map(Vec::len).sum();
    if terms > 1 {
        out.push("Use fewer words: every word must appear (write OR between words where either will do).".into());
    }
    if !query.excluded.is_empty() {
        out.push("Drop the excluded words (those after - or NOT).".into());
    }
    if query.groups.iter().flatten().any(|t| !t.prefix) {
        out.push(
            "Search for the beginning of a word with *, e.g. deploy* finds deployment.".into(),
        );
    }
    out.push("Check the spelling, or try a different word for the same thing.".into());
    out.push(
        "Only teams you belong to are searched; texts erased from the log are not found.".into(),
    );
    out
}

/// The answer of an areas page's "who decides" box.
#[derive(Debug, Default)]
pub struct WhoDecides {
    /// What was asked (empty: nothing asked yet).
    pub q: String,
    /// Whether there was anything to look for in it.
    pub searchable: bool,
    /// Areas whose name or description matches, with their default decider.
    pub areas: Vec<search::AreaMatch>,
    /// Past decisions on the topic, with who decided.
    pub decisions: Vec<PastDecision>,
}

/// A past decision as shown in the "who decides" answer.
#[derive(Debug)]
pub struct PastDecision {
    /// `KEY-N`.
    pub id: String,
    /// Row.
    pub row: search::DecisionMatch,
    /// When decided, for the viewer.
    pub at: When,
}

/// Looks up who decides about `q` in a team: matching areas (ask the
/// default decider) and matching past decisions (ask who decided).
pub async fn who_decides(
    state: &AppState,
    team: &crate::db::teams::Team,
    q: &str,
    ctx: &Ctx,
) -> Result<WhoDecides> {
    let q = q.trim();
    let mut answer = WhoDecides {
        q: q.to_string(),
        ..WhoDecides::default()
    };
    let mut pool = state.db.reader();
    let Some(expression) = MatchQuery::parse(q).expression_for(&pool) else {
        return Ok(answer);
    };
    answer.searchable = true;
    answer.areas = search::matching_areas(pool.re(), team.id, &expression, 10).await?;
    let now = Utc::now();
    answer.decisions = search::matching_decisions(pool.re(), team.id, &expression, 10)
        .await?
        .into_iter()
        .map(|row| PastDecision {
            id: format!("{}-{}", team.key, row.number),
            at: when(row.decided_at.0, ctx.tz(), now),
            row,
        })
        .collect();
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_become_mark_elements_and_text_stays_inert() {
        let text = format!("<script>alert('x')</script> {MARK_START}deploy{MARK_END} & \"go\"");
        assert_eq!(
            marked_html(&text).as_str(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; <mark>deploy</mark> &amp; &quot;go&quot;"
        );
    }

    #[test]
    fn stray_marks_cannot_unbalance_the_html() {
        let text = format!("{MARK_END}a{MARK_START}b{MARK_START}c");
        assert_eq!(marked_html(&text).as_str(), "a<mark>bc</mark>");
    }

    #[test]
    fn params_keep_the_first_value_and_ignore_garbage() {
        let p = Params::parse(Some("q=a&q=b&team=%ZZ&page=x&unknown=1&from"));
        assert_eq!(p.q, "a");
        assert_eq!(p.page, "x");
        assert_eq!(
            p.url_for_page(2),
            format!("/search?q=a&team={}&page=2", "%25ZZ")
        );
    }
}
