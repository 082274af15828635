//! Subscription feeds (issue #8): a team's recorded decisions as Atom
//! (RFC 4287) for feed readers, and the deadlines still waiting for a
//! member's stance as iCalendar (RFC 5545) for calendars. Neither kind of
//! client can sign in, so each feed lives at a private URL whose token names
//! the member, the team and the feed; members create, list and revoke their
//! own on the team's *Feeds* page.
//!
//! Unknown, revoked or no longer valid tokens (the member left the team)
//! answer 404, like anything else a visitor may not see. The token travels
//! in the query string (`?token=`), as for badges, so request logs (which
//! record the path) never hold it.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower_sessions::Session;

use super::AppState;
use super::auth::{CurrentUser, session_error};
use super::extract::{actor, membership};
use super::flash::Flash;
use super::html::Html;
use super::pages::{Ctx, see_other};
use crate::db::feeds::{self, DeadlineItem, DecidedItem, FeedKind, FeedResponse};
use crate::db::teams::Team;
use crate::db::users::{self, token_hash};
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::format::{When, when};
use crate::services;
use crate::services::feeds::TOKEN_PREFIX;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}/feeds", get(feeds_page).post(create_feed))
        .route("/t/{slug}/feeds/{id}/revoke", post(revoke_feed))
        .route("/feeds/decisions.atom", get(decisions_feed))
        .route("/feeds/deadlines.ics", get(deadlines_feed))
}

/// How many decisions the Atom feed carries (newest first).
pub const DECISIONS_IN_FEED: i64 = 50;
/// How many deadlines the calendar carries (soonest first).
pub const DEADLINES_IN_FEED: i64 = 100;
/// Session key holding a new feed URL until the page has shown it once.
const NEW_FEED_KEY: &str = "new_feed_url";

// The member's page ---------------------------------------------------------

/// One of the member's feed URLs (only its label: the URL itself is not kept).
struct FeedItem {
    id: i64,
    kind: FeedKind,
    label: String,
    created: When,
}

/// A feed URL just created, shown once.
struct NewFeed {
    url: String,
    /// For calendars: the same URL as `webcal://`, which opens the
    /// subscription dialog of most calendar apps.
    webcal: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "feeds/index.html")]
struct FeedsPage {
    ctx: Ctx,
    team: Team,
    role: Role,
    feeds: Vec<FeedItem>,
    new_feed: Option<NewFeed>,
}

async fn feeds_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    ctx: Ctx,
    Path(slug): Path<String>,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let now = Utc::now();
    let feeds = feeds::of_member(state.db.reader(), team.id, user.id)
        .await?
        .into_iter()
        .map(|f| FeedItem {
            id: f.id,
            kind: f.kind,
            label: f.label,
            created: when(f.created_at.0, ctx.tz(), now),
        })
        .collect();
    // The URL is shown once, right after it was made: only its hash is kept.
    let new_url: Option<String> = session.remove(NEW_FEED_KEY).await.map_err(session_error)?;
    let new_feed = new_url.map(|url| NewFeed {
        webcal: url.contains("/feeds/deadlines.ics").then(|| webcal(&url)),
        url,
    });
    let page = FeedsPage {
        ctx,
        team,
        role,
        feeds,
        new_feed,
    };
    Ok((super::NO_STORE, page).into_response())
}

/// `http(s)://…` as `webcal://…`.
fn webcal(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    format!("webcal://{rest}")
}

/// The public URL of a feed with its token.
fn feed_url(base_url: &str, kind: FeedKind, token: &str) -> String {
    let file = match kind {
        FeedKind::Decisions => "decisions.atom",
        FeedKind::Deadlines => "deadlines.ics",
    };
    format!("{base_url}/feeds/{file}?token={token}")
}

#[derive(Debug, Deserialize)]
struct NewFeedForm {
    kind: String,
    #[serde(default)]
    label: String,
}

async fn create_feed(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    session: Session,
    flash: Flash,
    Path(slug): Path<String>,
    Form(form): Form<NewFeedForm>,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let back = format!("/t/{}/feeds", team.slug);
    let parsed = form.kind.parse::<FeedKind>().and_then(|kind| {
        let label = crate::domain::clean_label(&form.label)
            .map_err(|e| crate::domain::InvalidInput::new("label", e.message))?;
        Ok((kind, label))
    });
    let (kind, label) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            flash.set(format!(
                "Feed address not created: the {} {}.",
                e.field, e.message
            ));
            return Ok(see_other(&back));
        }
    };
    let actor = actor(&team, role, &user);
    let token = services::feeds::create(state.ledger.writer(), actor, kind, label).await?;
    session
        .insert(NEW_FEED_KEY, feed_url(&state.base_url, kind, &token))
        .await
        .map_err(session_error)?;
    flash.set("Feed address created. Copy it now: it is shown once. Anyone holding it can read this feed until you revoke it.");
    Ok(see_other(&back))
}

async fn revoke_feed(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response> {
    let (team, role) = membership(&state, &slug, &user).await?;
    let actor = actor(&team, role, &user);
    let revoked = services::feeds::revoke(state.ledger.writer(), actor, id).await?;
    let message = if revoked {
        "Feed address revoked: it answers “not found” from now on."
    } else {
        "That feed address was revoked already."
    };
    flash.set(message);
    Ok(see_other(&format!("/t/{}/feeds", team.slug)))
}

// The feeds ------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Whom a feed request speaks for: the token's member, who must still
/// belong to its team, for this kind of feed. Anything else is 404.
async fn reader(state: &AppState, token: &str, kind: FeedKind) -> Result<(Team, users::User)> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(Error::NotFound);
    }
    let mut pool = state.db.reader();
    let holder = feeds::holder(pool.re(), &token_hash(token))
        .await?
        .filter(|h| h.kind == kind)
        .ok_or(Error::NotFound)?;
    let team = crate::db::teams::by_id(pool.re(), holder.team_id)
        .await?
        .ok_or(Error::NotFound)?;
    let user = users::by_id(&state.db, holder.user_id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((team, user))
}

/// The host part of the base URL, without port: the authority of `tag:` URIs.
fn host(base_url: &str) -> String {
    let name = crate::ledger::checkpoint::name_from_base_url(base_url);
    match name.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_string(),
        _ => name,
    }
}

/// An Atom entry.
struct Entry {
    id: String,
    title: String,
    url: String,
    updated: String,
    author: String,
    /// HTML, escaped by the template.
    content: String,
}

#[derive(Template)]
#[template(path = "feeds/decisions.xml")]
struct AtomFeed {
    id: String,
    title: String,
    updated: String,
    self_url: String,
    team_url: String,
    entries: Vec<Entry>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Erasure notices by (entry, field), in the reader's time zone.
async fn erasures(
    state: &AppState,
    team_id: i64,
    tz: Tz,
) -> Result<HashMap<(i64, String), String>> {
    let now = Utc::now();
    Ok(crate::db::log::erasures(state.db.reader(), team_id)
        .await?
        .into_iter()
        .map(|e| {
            let at = when(e.erased_at.0, tz, now);
            let notice = format!("content erased on {} by {}", at.local, e.erased_by_name);
            ((e.idx, e.field), notice)
        })
        .collect())
}

/// What an entry says: the statement, the rationale, then the decider's
/// answer to each objection, each as sanitised HTML or, once erased, the
/// notice in its place.
fn entry_content(
    d: &DecidedItem,
    responses: &[&FeedResponse],
    erased: &HashMap<(i64, String), String>,
) -> Html {
    let part = |field: &str, text: &str| match erased.get(&(d.log_idx, field.to_string())) {
        Some(notice) => Html::wrap("<p><em>", notice, "</em></p>"),
        None => crate::web::cache::markdown(text),
    };
    let mut html = part("statement", &d.statement);
    let rationale_erased = erased.contains_key(&(d.log_idx, "rationale".to_string()));
    if rationale_erased || !d.rationale.trim().is_empty() {
        html.push(&Html::literal("<h3>Rationale</h3>"));
        html.push(&part("rationale", &d.rationale));
    }
    for r in responses {
        html.push(&Html::wrap(
            "<h3>",
            &format!("Answer to {}'s objection", r.display_name),
            "</h3>",
        ));
        html.push(&part(&format!("responses.{}", r.user_id), &r.response));
    }
    html
}

async fn decisions_feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response> {
    let (team, user) = reader(&state, &query.token, FeedKind::Decisions).await?;
    let list = feeds::decisions(state.db.reader(), team.id, DECISIONS_IN_FEED).await?;
    let erased = erasures(&state, team.id, user.time_zone).await?;
    let oldest = list.iter().map(|d| d.number).min().unwrap_or(i64::MAX);
    let answers = feeds::responses(state.db.reader(), team.id, oldest).await?;
    let base = &state.base_url;
    // Tag URIs (RFC 4151) stay the same when the team's key is renamed.
    let tag = format!(
        "tag:{},{}:settled/team/{}",
        host(base),
        team.created_at.0.format("%Y-%m-%d"),
        team.id
    );
    let entries = list
        .iter()
        .map(|d| {
            let title = match erased.get(&(d.opened_idx, "title".to_string())) {
                Some(_) => "(title erased)",
                None => d.title.as_str(),
            };
            Entry {
                id: format!("{tag}/decision/{}", d.number),
                title: format!("{}-{}: {title} — {}", team.key, d.number, d.outcome),
                url: format!("{base}/d/{}-{}", team.key, d.number),
                updated: rfc3339(d.decided_at.0),
                author: d.decider_name.clone(),
                // Atom's `type="html"` content is HTML written as text:
                // the template escapes it once more.
                content: entry_content(
                    d,
                    &answers
                        .iter()
                        .filter(|r| r.number == d.number)
                        .collect::<Vec<_>>(),
                    &erased,
                )
                .into_string(),
            }
        })
        .collect();
    let feed = AtomFeed {
        id: format!("{tag}/decisions"),
        title: format!("{}: decisions", team.name),
        updated: rfc3339(list.first().map_or(team.created_at.0, |d| d.decided_at.0)),
        self_url: feed_url(base, FeedKind::Decisions, &query.token),
        team_url: format!("{base}/t/{}/decisions", team.slug),
        entries,
    };
    let body = feed
        .render()
        .map_err(|e| Error::Internal(anyhow::anyhow!("rendering the Atom feed: {e}")))?;
    Ok(conditional(
        &headers,
        "application/atom+xml; charset=utf-8",
        body,
    ))
}

async fn deadlines_feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Result<Response> {
    let (team, user) = reader(&state, &query.token, FeedKind::Deadlines).await?;
    let list = feeds::deadlines(state.db.reader(), team.id, user.id, DEADLINES_IN_FEED).await?;
    let body = calendar(&state.base_url, &team, &list);
    Ok(conditional(&headers, "text/calendar; charset=utf-8", body))
}

/// Answers `body`, or 304 when the client already holds it (feed readers
/// and calendars poll; most send `If-None-Match`).
fn conditional(headers: &HeaderMap, content_type: &'static str, body: String) -> Response {
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim().trim_start_matches("W/") == etag);
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    // Private: the feed is one member's view; no shared cache may keep it.
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if fresh {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, etag),
            cache,
        ],
        body,
    )
        .into_response()
}

// iCalendar ------------------------------------------------------------------
//
// Written here rather than with the `icalendar` crate: its 0.17 folding
// leaves a 76-octet continuation line whenever a content line is 150, 224,
// 298… octets long. Escaping and folding are a few lines; the tests read
// the output back with that crate's parser.

/// The deadlines as a VCALENDAR: one VEVENT per proposal, at its deadline.
fn calendar(base_url: &str, team: &Team, list: &[DeadlineItem]) -> String {
    let host = host(base_url);
    let mut ics = Ics::default();
    ics.line("BEGIN", "VCALENDAR");
    ics.line("VERSION", "2.0");
    ics.line("PRODID", "-//Settled//Deadlines//EN");
    ics.line("CALSCALE", "GREGORIAN");
    let name = format!("{}: waiting for your stance", team.name);
    ics.text("NAME", &name);
    ics.text("X-WR-CALNAME", &name);
    ics.line("REFRESH-INTERVAL;VALUE=DURATION", "PT1H");
    ics.line("X-PUBLISHED-TTL", "PT1H");
    for p in list {
        let id = format!("{}-{}", team.key, p.number);
        let url = format!("{base_url}/d/{id}");
        let title = if p.title.is_empty() {
            "(title erased)"
        } else {
            p.title.as_str()
        };
        ics.line("BEGIN", "VEVENT");
        // Stable across key renames and feed URLs: team id and number.
        ics.line(
            "UID",
            &format!("settled-deadline-{}-{}@{host}", team.id, p.number),
        );
        // Without METHOD, DTSTAMP is the event's last change (RFC 5545
        // 3.8.7.2), so an unchanged calendar is byte-for-byte the same.
        ics.line("DTSTAMP", &ics_time(p.changed_at.0));
        ics.line("DTSTART", &ics_time(p.closes_at.0));
        ics.text("SUMMARY", &format!("Stance due: {id} {title}"));
        ics.line("URL", &url);
        ics.text(
            "DESCRIPTION",
            &format!(
                "The window of {id} “{title}” closes; {} decides. Take your stance: {url}",
                p.decider_name
            ),
        );
        // A deadline, not a meeting: it does not make anyone busy.
        ics.line("TRANSP", "TRANSPARENT");
        ics.line("END", "VEVENT");
    }
    ics.line("END", "VCALENDAR");
    ics.0
}

/// A DATE-TIME in UTC (`20261124T144300Z`).
fn ics_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// iCalendar text being written: CRLF line ends, lines folded at 75 octets.
#[derive(Default)]
struct Ics(String);

impl Ics {
    /// A content line `name:value`, `value` already in its type's syntax.
    fn line(&mut self, name: &str, value: &str) {
        fold_into(&mut self.0, &format!("{name}:{value}"));
    }

    /// A content line with a TEXT value.
    fn text(&mut self, name: &str, value: &str) {
        self.line(name, &escape_text(value));
    }
}

/// Escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and
/// line breaks; other control characters, which TEXT does not allow, go.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded (RFC 5545 3.1): no physical line longer than 75
/// octets, the continuation's leading space included, never inside a
/// UTF-8 character; then CRLF.
fn fold_into(out: &mut String, line: &str) {
    const LIMIT: usize = 75;
    let mut used = 0;
    for c in line.chars() {
        if used + c.len_utf8() > LIMIT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_escape_what_rfc_5545_reserves() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\rg\u{7}h\ti: j"),
            "a\\\\b\\;c\\,d\\ne\\nf\\ngh\ti: j"
        );
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        for len in [74, 75, 76, 149, 150, 151, 224, 300] {
            for filler in ["x", "é", "老"] {
                let value: String = filler.repeat(len);
                let mut out = String::new();
                fold_into(&mut out, &format!("SUMMARY:{value}"));
                assert!(out.ends_with("\r\n"));
                let lines: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
                assert!(
                    lines.iter().all(|l| l.len() <= 75),
                    "{len} {filler}: {lines:?}"
                );
                assert!(lines[1..].iter().all(|l| l.starts_with(' ')));
                let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
                assert_eq!(unfolded, format!("SUMMARY:{value}"));
            }
        }
    }

    #[test]
    fn tag_uris_use_the_host_without_port() {
        assert_eq!(host("http://127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(
            host("https://decisions.example.com/"),
            "decisions.example.com"
        );
        assert_eq!(
            webcal("https://a.example/feeds/x"),
            "webcal://a.example/feeds/x"
        );
    }
}
