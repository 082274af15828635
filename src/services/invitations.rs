//! Invitation links (team admins): a random token whose hash is stored
//! with the role it grants, good for [`INVITATION_DAYS`], and optionally
//! mailed, the mail queued in the invitation's own transaction. Joining
//! through a link is a log entry (`Ledger::accept_invitation`).

use chrono::Duration;

use super::Actor;
use super::tokens::new_secret;
use crate::db::users::token_hash;
use crate::db::{self, Timestamp, teams};
use crate::domain::account::Email;
use crate::domain::team::Role;
use crate::error::Result;
use crate::ledger::writer::Writer;

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;

/// Who is invited, and how they hear of it.
#[derive(Debug)]
pub struct Invitation {
    /// The role joining grants.
    pub role: Role,
    /// Mail the link to this address (checked by the caller, who also
    /// limits how much mail one member may send).
    pub mail_to: Option<Email>,
    /// The inviter's name, for the mail.
    pub inviter_name: String,
}

/// Creates an invitation to the actor's team (admins only). Returns the
/// link (under `base_url`) and its token.
pub async fn create(
    writer: &Writer,
    base_url: &str,
    actor: Actor,
    invitation: Invitation,
) -> Result<(String, String)> {
    actor.require_admin()?;
    let token = new_secret("")?;
    let now = db::now();
    let expires = now + Duration::days(INVITATION_DAYS);
    let (hash, role) = (token_hash(&token), invitation.role);
    let url = format!("{base_url}/invite/{token}");
    let mail = match invitation.mail_to {
        Some(to) => {
            let data = crate::mail::compose::InvitationData {
                link: url.clone(),
                role: role.to_string(),
                by: invitation.inviter_name,
                expires_at: expires,
            };
            Some((to.as_str().to_string(), serde_json::to_string(&data)?))
        }
        None => None,
    };
    let email = mail.as_ref().map(|(to, _)| to.clone());
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                teams::insert_invitation(
                    conn.re(),
                    teams::NewInvitation {
                        team_id: actor.team,
                        token_hash: &hash,
                        role,
                        created_by: actor.user,
                        created_at: Timestamp(now),
                        expires_at: Timestamp(expires),
                        email: email.as_deref(),
                    },
                )
                .await?;
                if let Some((to, data)) = mail {
                    db::outbox::invitation(conn, actor.team, &to, &data, now).await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok((url, token))
}

/// Revokes pending invitation `id` of the actor's team (admins only): its
/// link stops working and says so. Whether it was pending.
pub async fn revoke(writer: &Writer, actor: Actor, id: i64) -> Result<bool> {
    actor.require_admin()?;
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                Ok(
                    teams::revoke_invitation(conn.re(), actor.team, id, Timestamp(db::now()))
                        .await?,
                )
            })
        })
        .await
}

/// Mails pending invitation `id` of the actor's team again, to the address
/// it was made for (admins only), under a new link good for another
/// [`INVITATION_DAYS`]: only the token's hash is stored, so the old link
/// cannot be sent again and stops working. The new link, or `None` if the
/// invitation is no longer pending or has no address.
pub async fn resend(
    writer: &Writer,
    base_url: &str,
    actor: Actor,
    id: i64,
    inviter_name: String,
) -> Result<Option<String>> {
    actor.require_admin()?;
    let token = new_secret("")?;
    let url = format!("{base_url}/invite/{token}");
    let hash = token_hash(&token);
    let link = url.clone();
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                let Some(invitation) = teams::invitation_by_id(conn.re(), actor.team, id).await?
                else {
                    return Ok(None);
                };
                let Some(to) = invitation.email else {
                    return Ok(None);
                };
                let now = db::now();
                let expires = now + Duration::days(INVITATION_DAYS);
                if !teams::renew_invitation(conn.re(), actor.team, id, &hash, Timestamp(expires))
                    .await?
                {
                    return Ok(None);
                }
                let data = crate::mail::compose::InvitationData {
                    link,
                    role: invitation.role.to_string(),
                    by: inviter_name,
                    expires_at: expires,
                };
                db::outbox::invitation(conn, actor.team, &to, &serde_json::to_string(&data)?, now)
                    .await?;
                Ok(Some(url))
            })
        })
        .await
}
