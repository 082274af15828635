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

/// What a new personal API token may do, and for how long.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenRights {
    /// It can only read: every write answers 403.
    pub read_only: bool,
    /// It stops working after this many days; `None`: never.
    pub days: Option<i64>,
}

/// Gives `user` a new personal API token labelled `label` (already
/// cleaned, see [`crate::domain::clean_label`]), that reads and writes and
/// never expires; returns the token.
pub async fn create_api_token(writer: &Writer, user: i64, label: String) -> Result<String> {
    create_token(writer, user, label, TokenRights::default()).await
}

/// Gives `user` a new personal API token with `rights`; returns the token,
/// shown once: only its hash is stored.
pub async fn create_token(
    writer: &Writer,
    user: i64,
    label: String,
    rights: TokenRights,
) -> Result<String> {
    let token = new_secret("stl_")?;
    let hash = token_hash(&token);
    let now = db::now();
    let expires = rights
        .days
        .map(|d| Timestamp(now + chrono::Duration::days(d)));
    writer
        .submit(move |conn| {
            Box::pin(async move {
                let new = users::NewToken {
                    user_id: user,
                    label: &label,
                    token_hash: &hash,
                    read_only: rights.read_only,
                    created_at: Timestamp(now),
                    expires_at: expires,
                };
                Ok(users::insert_token(conn, new).await?)
            })
        })
        .await?;
    Ok(token)
}

/// Revokes `user`'s token `id`: it answers 401 from the next request, on
/// every instance. Whether it was theirs.
pub async fn revoke_token(writer: &Writer, user: i64, id: i64) -> Result<bool> {
    writer
        .submit(move |conn| Box::pin(async move { Ok(users::delete_token(conn, user, id).await?) }))
        .await
}

/// How stale a token's "last used" may get before a request writes it.
const LAST_USED_GRAIN: chrono::Duration = chrono::Duration::hours(1);

/// The owner of API token `token`, if it exists and has not expired, and
/// whether it may only read; notes its use (at most once an hour).
pub async fn present(
    db: &db::Db,
    writer: &Writer,
    token: &str,
) -> Result<Option<(users::User, bool)>> {
    let now = db::now();
    let Some(found) = users::by_token(db, token, Timestamp(now)).await? else {
        return Ok(None);
    };
    if found
        .last_used_at
        .is_none_or(|t| t.0 + LAST_USED_GRAIN < now)
    {
        let id = found.token_id;
        let touched = writer
            .submit(move |conn| {
                Box::pin(async move { Ok(users::touch_token(conn, id, Timestamp(now)).await?) })
            })
            .await;
        match touched {
            Ok(()) => {}
            // A read must still answer while the disk is full or read-only:
            // only "last used" is not noted (a write fails on its own).
            Err(crate::error::Error::Unwritable) => {
                tracing::warn!("a token's last use was not noted: the database cannot be written");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(Some((found.user, found.scope == "read")))
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
