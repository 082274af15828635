//! Secrets a person holds: personal API tokens (the account's owner) and a
//! team's status tokens for CI (team admins). Only a hash is stored; the
//! token is returned once, for the caller to show once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Actor;
use crate::db::users::token_hash;
use crate::db::{self, Timestamp, teams, users};
use crate::error::Result;
use crate::ledger::writer::Writer;

/// A random secret: `prefix` + 256 bits in URL-safe base64.
pub fn new_secret(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Gives `user` a new personal API token labelled `label` (already
/// cleaned, see [`crate::domain::clean_label`]); returns the token.
pub async fn create_api_token(writer: &Writer, user: i64, label: String) -> Result<String> {
    let token = new_secret("stl_")?;
    let hash = token_hash(&token);
    writer
        .submit(move |conn| {
            Box::pin(async move {
                Ok(users::insert_token(conn, user, &label, &hash, Timestamp(db::now())).await?)
            })
        })
        .await?;
    Ok(token)
}

/// A new status token of the actor's team (admins only); returns the token.
pub async fn create_status_token(writer: &Writer, actor: Actor, label: String) -> Result<String> {
    actor.require_admin()?;
    let token = new_secret("sts_")?;
    let hash = token_hash(&token);
    writer
        .submit(move |conn| {
            Box::pin(async move {
                let now = Timestamp(db::now());
                Ok(
                    teams::insert_status_token(conn, actor.team, &label, &hash, actor.user, now)
                        .await?,
                )
            })
        })
        .await?;
    Ok(token)
}
