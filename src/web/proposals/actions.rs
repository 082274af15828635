//! The proposal page's forms: stance, comment, decision, revision,
//! withdrawal, new deadline and new decider. Each answers 303 back to the
//! page, or the page again with the message and what was typed.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;

use super::show::{Draft, page};
use super::{parse_local_datetime, team_of};
use crate::db::users::User;
use crate::domain::ids::{Number, TeamId, UserId};
use crate::domain::proposal::{DecisionDraft, Stance, parse_body, parse_comment};
use crate::domain::{InvalidInput, Violation};
use crate::error::{Error, Result};
use crate::format::when;
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::field_errors::FieldErrors;
use crate::web::flash::Flash;
use crate::web::pages::{Ctx, see_other};

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
            "the decider can record from {}, when the window ends, or earlier once every voting member has responded; {missing} voting member(s) have not responded yet",
            when(*closes_at, tz, Utc::now()).local
        ),
        other => other.to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct StanceForm {
    #[serde(default)]
    position: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn take_stance(
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
            .take_stance(UserId(user.id), TeamId(team.id), Number(number), stance)
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
pub(super) struct CommentForm {
    #[serde(default)]
    body: String,
}

pub(super) async fn add_comment(
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
        state
            .ledger
            .comment(UserId(user.id), TeamId(team.id), Number(number), body)
            .await?;
        Ok("Comment added.")
    }
    .await;
    let draft = Draft::new("comment", [("body", form.body)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

pub(super) async fn record_decision(
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
        state
            .ledger
            .record(UserId(user.id), TeamId(team.id), Number(number), draft)
            .await?;
        Ok("Decision recorded. The record is sealed in the log and cannot change.")
    }
    .await;
    let draft = Draft::new("decision", form);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
pub(super) struct ReviseForm {
    #[serde(default)]
    body: String,
}

pub(super) async fn revise_proposal(
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
        state
            .ledger
            .revise(UserId(user.id), TeamId(team.id), Number(number), body)
            .await?;
        Ok("Proposal revised; the earlier text stays in its history.")
    }
    .await;
    let draft = Draft::new("revise", [("body", form.body)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
pub(super) struct WithdrawForm {
    #[serde(default)]
    reason: String,
}

pub(super) async fn withdraw_proposal(
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
            .withdraw(UserId(user.id), TeamId(team.id), Number(number), reason)
            .await?;
        Ok("Proposal withdrawn.")
    }
    .await;
    let draft = Draft::new("withdraw", [("reason", form.reason)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
pub(super) struct ExtendForm {
    #[serde(default)]
    closes_at: String,
}

pub(super) async fn extend_deadline(
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
            .extend(UserId(user.id), TeamId(team.id), Number(number), closes_at)
            .await?;
        Ok("Deadline extended.")
    }
    .await;
    let draft = Draft::new("extend", [("closes_at", form.closes_at)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[derive(Debug, Deserialize)]
pub(super) struct DeciderForm {
    #[serde(default)]
    decider: String,
}

pub(super) async fn change_decider(
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
            .change_decider(UserId(user.id), TeamId(team.id), Number(number), UserId(to))
            .await?;
        Ok("New decider named; the change is in the log.")
    }
    .await;
    let draft = Draft::new("decider", [("decider", form.decider)]);
    respond(&state, &flash, ctx, &user, &id, draft, outcome).await
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

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
