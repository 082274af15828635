//! The instance admin's accounts page: every account with its teams, when
//! it was last seen and whether it administers the instance; grant and
//! revoke instance admin (never the last one), and send a password reset
//! link.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::AppState;
use super::auth::CurrentUser;
use super::flash::Flash;
use super::pages::{Ctx, see_other};
use crate::db::users;
use crate::error::{Error, Result};
use crate::ledger::bus::{Change, UserPart};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/accounts", get(accounts_page))
        .route("/admin/accounts/{id}/admin", post(set_admin))
        .route("/admin/accounts/{id}/reset", post(send_reset))
}

/// Accounts listed at most.
const LISTED: i64 = 1_000;

struct AccountRow {
    id: i64,
    name: String,
    email: String,
    teams: i64,
    last_seen: Option<crate::format::When>,
    is_admin: bool,
    is_me: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/accounts.html")]
struct AccountsPage {
    ctx: Ctx,
    accounts: Vec<AccountRow>,
    more: bool,
}

fn require_admin(user: &users::User) -> Result<()> {
    if user.is_admin {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

async fn accounts_page(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ctx: Ctx,
) -> Result<Response> {
    require_admin(&user)?;
    let now = state.ledger.now();
    let tz = ctx.tz();
    let mut rows = users::accounts(&state.db, LISTED + 1).await?;
    let more = rows.len() > LISTED as usize;
    rows.truncate(LISTED as usize);
    let accounts = rows
        .into_iter()
        .map(|a| AccountRow {
            is_me: a.id == user.id,
            id: a.id,
            name: a.display_name,
            email: a.email,
            teams: a.teams,
            last_seen: a
                .last_seen
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| crate::format::when(t, tz, now.max(t))),
            is_admin: a.is_admin,
        })
        .collect();
    Ok(AccountsPage {
        ctx,
        accounts,
        more,
    }
    .into_response())
}

#[derive(Debug, Deserialize)]
struct AdminForm {
    admin: String,
}

/// POST /admin/accounts/{id}/admin: `admin=yes` grants, `admin=no`
/// revokes instance admin (never the last one).
async fn set_admin(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(id): Path<i64>,
    Form(form): Form<AdminForm>,
) -> Result<Response> {
    require_admin(&user)?;
    let grant = match form.admin.as_str() {
        "yes" => true,
        "no" => false,
        _ => {
            return Err(crate::domain::InvalidInput::new(
                "admin",
                "must be yes (grant) or no (revoke)",
            )
            .into());
        }
    };
    let account = users::by_id(&state.db, id).await?.ok_or(Error::NotFound)?;
    let changed = state
        .ledger
        .writer()
        .submit(move |mut conn| {
            Box::pin(async move {
                let changed = users::set_instance_admin(conn.re(), id, grant).await?;
                crate::ledger::note_change(Change::User {
                    user: id,
                    part: UserPart::Profile,
                });
                Ok(changed)
            })
        })
        .await?;
    flash.set(match (changed, grant) {
        (true, true) => format!("{} now administers this instance.", account.display_name),
        (true, false) => format!(
            "{} no longer administers this instance.",
            account.display_name
        ),
        (false, true) => format!(
            "{} administers this instance already.",
            account.display_name
        ),
        (false, false) if account.is_admin => {
            "The instance must keep at least one admin: grant it to someone else first.".to_string()
        }
        (false, false) => format!(
            "{} does not administer this instance.",
            account.display_name
        ),
    });
    Ok(see_other("/admin/accounts"))
}

/// POST /admin/accounts/{id}/reset: mails the account a link to set a new
/// password (as "Forgot your password?" does).
async fn send_reset(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    flash: Flash,
    Path(id): Path<i64>,
) -> Result<Response> {
    require_admin(&user)?;
    let account = users::by_id(&state.db, id).await?.ok_or(Error::NotFound)?;
    let normalized = crate::domain::account::normalize_email(&account.email);
    state.reset_address_limiter.check(&normalized)?;
    super::password::send_link(&state, &normalized).await?;
    flash.set(if state.mailer.writes_to_folder() {
        format!(
            "A link to set a new password for {} was written to the server's mail folder (this server sends no mail yet). It works once, for one hour.",
            account.email
        )
    } else {
        format!(
            "A link to set a new password was mailed to {}. It works once, for one hour.",
            account.email
        )
    });
    Ok(see_other("/admin/accounts"))
}
