//! The log page: size, root hash and entries.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::Utc;
use serde::Deserialize;

use crate::db::teams::Team;
use crate::db::{self, teams};
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::format::{When, when};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::extract::membership;
use crate::web::pages::Ctx;

/// One log entry as shown on the log page.
pub(super) struct EntryItem {
    index: i64,
    kind: String,
    actor: String,
    /// Appended by the server's clock, telling `actor` (not their act).
    by_server: bool,
    at: When,
    leaf_hash: String,
    payload: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "teams/log.html")]
pub(super) struct LogPage {
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
pub(super) struct Page {
    from: Option<i64>,
}

pub(super) async fn log_page(
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
            by_server: e.kind.by_server(),
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
