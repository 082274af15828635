//! Private feed URLs (Atom decisions, iCalendar deadlines): a member makes
//! and revokes their own, for a team they belong to.

use super::Actor;
use super::tokens::new_secret;
use crate::db::feeds::{self, FeedKind};
use crate::db::users::token_hash;
use crate::db::{self, Timestamp};
use crate::error::Result;
use crate::ledger::writer::Writer;

/// Prefix of feed tokens, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "stf_";

/// A new feed of `kind` for the actor in their team, labelled `label`
/// (cleaned); returns its token.
pub async fn create(
    writer: &Writer,
    actor: Actor,
    kind: FeedKind,
    label: String,
) -> Result<String> {
    let token = new_secret(TOKEN_PREFIX)?;
    let hash = token_hash(&token);
    writer
        .submit(move |conn| {
            Box::pin(async move {
                let now = Timestamp(db::now());
                feeds::insert(conn, actor.team, actor.user, kind, &label, &hash, now).await?;
                Ok(())
            })
        })
        .await?;
    Ok(token)
}

/// Revokes the actor's feed `id` in their team; whether it was still live
/// (someone else's feed, or one revoked already, is left alone).
pub async fn revoke(writer: &Writer, actor: Actor, id: i64) -> Result<bool> {
    writer
        .submit(move |conn| {
            Box::pin(async move { Ok(feeds::revoke(conn, actor.team, actor.user, id).await?) })
        })
        .await
}
