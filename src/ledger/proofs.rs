//! Inclusion and consistency proofs over a team's stored leaf hashes.

use super::merkle::{self, Hash};
use crate::db::{self, Db};
use crate::domain::InvalidInput;
use crate::error::{Error, Result};

async fn leaves(db: &Db, team_id: i64, size: i64) -> Result<Vec<Hash>> {
    db::log::leaf_hashes(db.reader(), team_id, size)
        .await?
        .into_iter()
        .map(|l| {
            Hash::try_from(l.as_slice())
                .map_err(|_| Error::Internal(anyhow::anyhow!("stored leaf hash is not 32 bytes")))
        })
        .collect()
}

/// The team's current tree size and root.
pub async fn head(db: &Db, team_id: i64) -> Result<(i64, Hash)> {
    let head = db::log::read_head(db.reader(), team_id).await?;
    Ok(match head {
        Some(h) => (
            h.size,
            Hash::try_from(h.root.as_slice())
                .map_err(|_| Error::Internal(anyhow::anyhow!("stored root is not 32 bytes")))?,
        ),
        None => (0, merkle::empty_root()),
    })
}

/// The audit path of entry `index` in the tree of `size` entries, with that
/// tree's root and the entry's leaf hash.
pub async fn inclusion(
    db: &Db,
    team_id: i64,
    index: i64,
    size: i64,
) -> Result<(Vec<Hash>, Hash, Hash)> {
    let (current, _) = head(db, team_id).await?;
    if size < 1 || size > current {
        return Err(InvalidInput::new(
            "size",
            format!("must be between 1 and the log size {current}"),
        )
        .into());
    }
    if index < 0 || index >= size {
        return Err(InvalidInput::new("index", "must be below the tree size").into());
    }
    let leaves = leaves(db, team_id, size).await?;
    let proof = merkle::inclusion_proof(&leaves, index.unsigned_abs())
        .ok_or_else(|| InvalidInput::new("index", "must be below the tree size"))?;
    let leaf = leaves[usize::try_from(index).unwrap_or(0)];
    Ok((proof, merkle::root_from_leaves(&leaves), leaf))
}

/// The consistency proof between the trees of `old` and `new` entries, with
/// both roots.
pub async fn consistency(
    db: &Db,
    team_id: i64,
    old: i64,
    new: i64,
) -> Result<(Vec<Hash>, Hash, Hash)> {
    let (current, _) = head(db, team_id).await?;
    if new < 0 || new > current {
        return Err(
            InvalidInput::new("new", format!("must be at most the log size {current}")).into(),
        );
    }
    if old < 0 || old > new {
        return Err(InvalidInput::new("old", "must be between 0 and new").into());
    }
    let leaves = leaves(db, team_id, new).await?;
    let proof = merkle::consistency_proof(&leaves, old.unsigned_abs(), new.unsigned_abs())
        .ok_or_else(|| InvalidInput::new("old", "must be between 0 and new"))?;
    let old_root = merkle::root_from_leaves(&leaves[..usize::try_from(old).unwrap_or(0)]);
    Ok((proof, old_root, merkle::root_from_leaves(&leaves)))
}
