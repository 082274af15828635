//! Live updates over Server-Sent Events: `GET /t/{slug}/live`.
//!
//! A member's browser keeps one stream per open team page. Each message is
//! one new log entry of the team: its id is the entry's log index, its data
//! `{"index":N,"kind":"stance_taken","proposal":12}`. The page script
//! (`static/live.js`) then fetches the page again and swaps in what changed;
//! without JavaScript the pages are complete as served.
//!
//! Nothing is lost between page and stream: the page names the log size it
//! was read at (`?after=`), a reconnecting browser sends `Last-Event-ID`,
//! and the stream first replays what the log gained since. A watcher that
//! falls far behind (or asks from an index the log never had) gets one
//! `resync` event instead, and the page reloads its parts from the database.
//! Only members get a stream; a member removed while watching gets `end`.
//!
//! A browser watches with its session; an API client with its personal API
//! token (`Authorization: Bearer …`), as the JSON API takes it, and then
//! gets the API's JSON errors (401 for a bad token, 404 for a team it is not
//! in).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use super::AppState;
use super::api::{ApiError, ApiUser};
use super::auth::CurrentUser;
use super::extract::membership;
use crate::db::users::User;
use crate::db::{log, teams};
use crate::error::Result;
use crate::ledger::bus::{Batch, Change, Notice};

/// Most entries replayed to a watcher; further behind, it resynchronises.
const REPLAY_LIMIT: i64 = 1000;

/// How often an idle stream sends a comment (keeps proxies from closing it).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How often a stream checks that its viewer is still a member, whatever
/// it heard (a removal can hide in a resync).
const RECHECK: Duration = Duration::from_secs(60);

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/t/{slug}/live", get(stream))
}

#[derive(Debug, Deserialize)]
struct Since {
    after: Option<String>,
}

/// The log index a watcher has seen up to: `-1` for none.
fn parse_index(raw: &str) -> Option<i64> {
    raw.trim().parse::<i64>().ok().filter(|i| *i >= -1)
}

/// The resume point asked for: `Last-Event-ID` (the browser's own) wins over
/// `?after=` (the page's). `Err` names the malformed one.
fn resume_point(headers: &HeaderMap, after: Option<&str>) -> Result<Option<i64>, &'static str> {
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(parse_index)
            .map(Some)
            .ok_or("Last-Event-ID"),
        None => after.map(|a| parse_index(a).ok_or("after")).transpose(),
    }
}

/// Who watches: the holder of a personal API token, or the browser's
/// signed-in user (without either, a browser is sent to sign in).
enum Viewer {
    Token(User),
    Browser(User),
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return ApiUser::from_request_parts(parts, state)
                .await
                .map(|ApiUser(user)| Self::Token(user))
                .map_err(IntoResponse::into_response);
        }
        CurrentUser::from_request_parts(parts, state)
            .await
            .map(|CurrentUser(user)| Self::Browser(user))
            .map_err(IntoResponse::into_response)
    }
}

async fn stream(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    Query(since): Query<Since>,
    headers: HeaderMap,
) -> Response {
    match viewer {
        Viewer::Token(user) => open(state, &user, &slug, since, &headers)
            .await
            .unwrap_or_else(|err| ApiError(err).into_response()),
        Viewer::Browser(user) => open(state, &user, &slug, since, &headers)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    }
}

/// The stream of team `slug` for `user`, from the resume point asked for.
async fn open(
    state: AppState,
    user: &User,
    slug: &str,
    since: Since,
    headers: &HeaderMap,
) -> Result<Response> {
    let (team, _) = membership(&state, slug, user).await?;
    let resume = match resume_point(headers, since.after.as_deref()) {
        Ok(resume) => resume,
        Err(what) => {
            let message = format!("{what} must be a log index: a whole number, -1 or more");
            return Ok((StatusCode::BAD_REQUEST, message).into_response());
        }
    };
    // Subscribe before reading the log, so nothing falls between the two.
    let batches = state.ledger.bus().subscribe();
    let size = log::size(state.db.reader(), team.id).await?;
    let mut watcher = Watcher {
        state: state.clone(),
        team_id: team.id,
        user_id: user.id,
        seen: size - 1,
        batches,
        closing: state.ledger.bus().closing(),
        recheck: {
            let mut every =
                tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every
        },
        queue: VecDeque::new(),
        done: false,
    };
    // The first message sets the browser's reconnection delay.
    watcher.queue.push_back(
        Event::default()
            .retry(Duration::from_secs(2))
            .comment("live"),
    );
    match resume {
        Some(after) if after < size - 1 => {
            watcher.seen = after;
            watcher.catch_up(size - 1).await?;
        }
        // Ahead of the log: not this log's index, start over.
        Some(after) if after >= size => watcher.resync(),
        _ => {}
    }
    let mut response = Sse::new(events(watcher))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies must pass each event on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One browser's stream.
struct Watcher {
    state: AppState,
    team_id: i64,
    user_id: i64,
    /// The last index sent (or known to the browser).
    seen: i64,
    batches: broadcast::Receiver<Batch>,
    closing: watch::Receiver<bool>,
    /// When to check membership again.
    recheck: tokio::time::Interval,
    /// Events ready to send.
    queue: VecDeque<Event>,
    /// Whether the stream ends once `queue` is sent.
    done: bool,
}

fn events(watcher: Watcher) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(watcher, |mut w| async move {
        loop {
            if let Some(event) = w.queue.pop_front() {
                return Some((Ok(event), w));
            }
            if w.done {
                return None;
            }
            if let Err(err) = w.wait().await {
                // A database error while catching up: the browser reconnects
                // with its Last-Event-ID and tries again.
                tracing::warn!(error = %err, "live stream ended");
                return None;
            }
        }
    })
}

impl Watcher {
    /// Waits for the team's next entries and queues them.
    async fn wait(&mut self) -> Result<()> {
        let received = tokio::select! {
            r = self.batches.recv() => Some(r),
            _ = self.closing.wait_for(|closing| *closing) => {
                self.done = true;
                return Ok(());
            }
            _ = self.recheck.tick() => None,
        };
        let Some(received) = received else {
            return self.check_membership().await;
        };
        match received {
            Ok(batch) => {
                let mine: Vec<&Notice> = batch
                    .iter()
                    .filter_map(|c| match c {
                        Change::Entry(n) if n.team_id == self.team_id && n.index > self.seen => {
                            Some(n)
                        }
                        _ => None,
                    })
                    .collect();
                let Some(last) = mine.last() else {
                    return Ok(());
                };
                let contiguous = mine
                    .iter()
                    .enumerate()
                    .all(|(i, n)| n.index == self.seen + 1 + i as i64);
                if contiguous {
                    let changes_members = mine.iter().any(|n| n.kind.may_revoke_access());
                    for notice in mine {
                        self.send(notice);
                    }
                    if changes_members {
                        self.check_membership().await?;
                    }
                } else {
                    // Missed some (published before this watcher's replay
                    // ended): the log has them.
                    let upto = last.index;
                    self.catch_up(upto).await?;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let size = log::size(self.state.db.reader(), self.team_id).await?;
                self.catch_up(size - 1).await?;
            }
            Err(broadcast::error::RecvError::Closed) => self.done = true,
        }
        Ok(())
    }

    /// Queues the entries after `seen` up to `upto` from the log, or a
    /// resync when that is too many.
    async fn catch_up(&mut self, upto: i64) -> Result<()> {
        if upto - self.seen > REPLAY_LIMIT {
            self.seen = upto;
            self.resync();
            // What was skipped may have removed the viewer.
            return self.check_membership().await;
        }
        let missed = log::notices(
            self.state.db.reader(),
            self.team_id,
            self.seen,
            upto,
            REPLAY_LIMIT,
        )
        .await?;
        let changes_members = missed.iter().any(|n| n.kind.may_revoke_access());
        for notice in &missed {
            self.send(notice);
        }
        if changes_members {
            self.check_membership().await?;
        }
        Ok(())
    }

    fn send(&mut self, notice: &Notice) {
        self.seen = notice.index;
        let data = serde_json::to_string(notice).unwrap_or_else(|_| "{}".to_string());
        self.queue
            .push_back(Event::default().id(notice.index.to_string()).data(data));
    }

    /// Tells the browser to reload the page's parts (its id moves to the
    /// log's head as the browser knows it).
    fn resync(&mut self) {
        let mut event = Event::default().event("resync").data("{}");
        if self.seen >= 0 {
            event = event.id(self.seen.to_string());
        }
        self.queue.push_back(event);
    }

    /// Ends the stream if the watcher is no longer a member.
    async fn check_membership(&mut self) -> Result<()> {
        let role = teams::role_of(self.state.db.reader(), self.team_id, self.user_id).await?;
        if role.is_none() {
            self.queue
                .push_back(Event::default().event("end").data("{}"));
            self.done = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_points_are_log_indices() {
        assert_eq!(parse_index("41"), Some(41));
        assert_eq!(parse_index(" -1 "), Some(-1));
        for bad in ["", "-2", "x", "1.5", "99999999999999999999"] {
            assert_eq!(parse_index(bad), None, "{bad:?} accepted");
        }
    }
}
