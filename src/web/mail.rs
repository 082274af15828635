//! Mail pages: signed unsubscribe links (no session) and the instance
//! admin's view of the outbox.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::auth::CurrentUser;
use super::pages::Ctx;
use crate::db::{outbox, users};
use crate::domain::mail::Scope;
use crate::error::{Error, Result};
use crate::format::{When, when};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/unsubscribe", get(confirm).post(unsubscribe))
        .route("/admin/mail", get(admin))
}

/// The query of an unsubscribe link.
#[derive(Debug, Deserialize)]
struct Link {
    u: Option<String>,
    s: Option<String>,
    t: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/unsubscribe.html")]
struct UnsubscribePage {
    ctx: Ctx,
    /// What the link turns off.
    what: String,
    /// The address it is for.
    email: String,
    /// Done (after the POST) or still to confirm.
    done: bool,
    /// The link's query, posted back.
    query: String,
}

/// The member and scope of a valid link, or the page saying it is not.
async fn check(state: &AppState, link: &Link) -> Result<(users::User, Scope), Response> {
    let user = link.u.as_deref().and_then(|u| u.parse::<i64>().ok());
    let scope = link.s.as_deref().and_then(|s| s.parse::<Scope>().ok());
    let valid = match (user, scope, link.t.as_deref()) {
        (Some(user), Some(scope), Some(token)) => state
            .unsubscribe
            .check(user, scope, token)
            .then_some((user, scope)),
        _ => None,
    };
    let refused = || {
        Error::Invalid(crate::domain::InvalidInput::new(
            "link",
            "This unsubscribe link is not valid: it may have been cut short or changed. \
             Copy the whole link from the mail, or change your mail settings after signing in.",
        ))
        .into_response()
    };
    let Some((id, scope)) = valid else {
        return Err(refused());
    };
    match users::by_id(&state.db, id).await {
        Ok(Some(user)) => Ok((user, scope)),
        Ok(None) => Err(refused()),
        Err(e) => Err(Error::from(e).into_response()),
    }
}

fn query_of(link: &Link) -> String {
    serde_urlencoded::to_string([
        ("u", link.u.as_deref().unwrap_or_default()),
        ("s", link.s.as_deref().unwrap_or_default()),
        ("t", link.t.as_deref().unwrap_or_default()),
    ])
    .unwrap_or_default()
}

/// GET: asks first (mail scanners open links; only the POST changes anything).
async fn confirm(State(state): State<AppState>, ctx: Ctx, Query(link): Query<Link>) -> Response {
    match check(&state, &link).await {
        Ok((user, scope)) => UnsubscribePage {
            ctx,
            what: scope.describe().to_string(),
            email: user.email,
            done: false,
            query: query_of(&link),
        }
        .into_response(),
        Err(refused) => refused,
    }
}

/// POST: the button on the page, or a mail client's RFC 8058 one-click
/// request (`List-Unsubscribe=One-Click` in the body, no cookies).
async fn unsubscribe(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(link): Query<Link>,
) -> Response {
    let (user, scope) = match check(&state, &link).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let id = user.id;
    let done = crate::services::accounts::unsubscribe(state.ledger.writer(), id, scope).await;
    match done {
        Ok(_) => {
            tracing::info!(user = id, scope = scope.as_str(), "unsubscribed");
            UnsubscribePage {
                ctx,
                what: scope.describe().to_string(),
                email: user.email,
                done: true,
                query: query_of(&link),
            }
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct AdminQuery {
    status: Option<String>,
}

/// An outbox row as the admin page shows it.
struct MailRow {
    id: i64,
    kind: String,
    recipient: String,
    status: String,
    attempts: i64,
    created: When,
    next: When,
    sent: Option<When>,
    last_error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/admin.html")]
struct AdminPage {
    ctx: Ctx,
    transport: String,
    counts: Vec<(outbox::OutboxStatus, i64)>,
    status: String,
    statuses: [&'static str; 5],
    rows: Vec<MailRow>,
}

/// GET /admin/mail: queued, sent and failing mail (instance admins).
async fn admin(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
    Query(query): Query<AdminQuery>,
) -> Result<Response> {
    if !user.is_admin {
        return Err(Error::Forbidden);
    }
    const STATUSES: [&str; 5] = ["queued", "sending", "sent", "skipped", "failed"];
    let status = query
        .status
        .filter(|s| STATUSES.contains(&s.as_str()))
        .unwrap_or_default();
    let mut pool = state.db.reader();
    let counts = outbox::counts(pool.re()).await?;
    let filter = (!status.is_empty()).then_some(status.as_str());
    let tz = ctx.tz();
    let now = chrono::Utc::now();
    let rows = outbox::recent(pool.re(), filter, 200)
        .await?
        .into_iter()
        .map(|r| MailRow {
            id: r.id,
            kind: r.kind.to_string(),
            recipient: r.recipient,
            status: r.status.to_string(),
            attempts: r.attempts,
            created: when(r.created_at.0, tz, now),
            next: when(r.next_attempt_at.0, tz, now),
            sent: r.sent_at.map(|t| when(t.0, tz, now)),
            last_error: r.last_error,
        })
        .collect();
    Ok((
        StatusCode::OK,
        AdminPage {
            ctx,
            transport: state.mailer.describe(),
            counts,
            status,
            statuses: STATUSES,
            rows,
        },
    )
        .into_response())
}
