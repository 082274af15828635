//! The instance's signing key and the checkpoints it signs: a team's tree
//! head as a C2SP `tlog-checkpoint`, signed as a C2SP note with Ed25519.
//!
//! Ed25519 signatures are deterministic, so the checkpoint of a given head is
//! the same note whenever it is asked for: there is one checkpoint per tree
//! size, signed on demand rather than stored.

use super::merkle::Hash;
use super::note::{Checkpoint, NoteError, Signer};
use crate::db::{self, Db, Timestamp};

/// The origin line of a team's log: the key name and the team's id (ids,
/// unlike keys, never change).
pub fn origin(key_name: &str, team_id: i64) -> String {
    format!("{key_name}/team/{team_id}")
}

/// Loads the instance key, creating it on first start with `name`.
pub async fn load_or_create(db: &Db, name: &str) -> anyhow::Result<Signer> {
    if db::log::signing_key(db.writer()).await?.is_none() {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
        // Checks the name before storing it.
        Signer::from_seed(name, seed)?;
        db::log::insert_signing_key(db.writer(), name, &seed, Timestamp(db::now())).await?;
    }
    let (name, seed) = db::log::signing_key(db.writer())
        .await?
        .ok_or_else(|| anyhow::anyhow!("signing key missing after creation"))?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| anyhow::anyhow!("stored signing key is not 32 bytes"))?;
    Ok(Signer::from_seed(&name, seed)?)
}

/// A key name derived from a base URL: its host (and port), e.g.
/// `decisions.example.com`.
pub fn name_from_base_url(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    let clean: String = host
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '+')
        .collect();
    if clean.is_empty() {
        "settled".into()
    } else {
        clean
    }
}

/// The signed checkpoint of a team's log at `size` with `root`.
pub fn sign(signer: &Signer, team_id: i64, size: i64, root: &Hash) -> Result<String, NoteError> {
    let checkpoint = Checkpoint {
        origin: origin(signer.name(), team_id),
        size: u64::try_from(size).unwrap_or(0),
        root: *root,
        extensions: Vec::new(),
    };
    signer.sign(&checkpoint.to_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_come_from_the_host() {
        assert_eq!(
            name_from_base_url("https://decisions.example.com/"),
            "decisions.example.com"
        );
        assert_eq!(
            name_from_base_url("http://127.0.0.1:3000"),
            "127.0.0.1:3000"
        );
        assert_eq!(name_from_base_url(""), "settled");
    }
}
