//! Code-host webhook secrets (team admins): each verifies the deliveries
//! of one host's webhook for the team. The secret is returned once, to
//! paste into the code host.

use super::Actor;
use super::tokens::new_secret;
use crate::db::{self, Timestamp, links};
use crate::domain::InvalidInput;
use crate::error::Result;
use crate::ledger::writer::Writer;

/// The code hosts whose webhooks Settled reads.
pub const HOSTS: [&str; 4] = ["github", "gitlab", "gitea", "forgejo"];

/// A code host named in a form (empty means GitHub).
pub fn parse_host(raw: &str) -> Result<&'static str, InvalidInput> {
    let raw = raw.trim();
    let raw = if raw.is_empty() { "github" } else { raw };
    HOSTS
        .into_iter()
        .find(|h| *h == raw)
        .ok_or_else(|| InvalidInput::new("host", "must be github, gitlab, gitea or forgejo"))
}

/// A new webhook secret for `host` (see [`parse_host`]) in the actor's
/// team (admins only); returns the secret.
pub async fn add_secret(writer: &Writer, actor: Actor, host: &'static str) -> Result<String> {
    actor.require_admin()?;
    let secret = new_secret("")?;
    let stored = secret.clone();
    writer
        .submit(move |conn| {
            Box::pin(async move {
                let now = Timestamp(db::now());
                Ok(links::add_secret(conn, actor.team, host, &stored, actor.user, now).await?)
            })
        })
        .await?;
    Ok(secret)
}

/// Removes webhook secret `id` of the actor's team (admins only).
pub async fn remove_secret(writer: &Writer, actor: Actor, id: i64) -> Result<()> {
    actor.require_admin()?;
    writer
        .submit(move |conn| {
            Box::pin(async move {
                links::remove_secret(conn, actor.team, id).await?;
                Ok(())
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_one_of_the_four_and_empty_means_github() {
        assert_eq!(parse_host(""), Ok("github"));
        assert_eq!(parse_host(" gitlab "), Ok("gitlab"));
        assert_eq!(parse_host("forgejo"), Ok("forgejo"));
        let err = parse_host("bitbucket").expect_err("not a host Settled reads");
        assert_eq!(err.field, "host");
    }
}
