//! Password hashing with argon2id at the OWASP minimum (19 MiB, t=2, p=1).
//!
//! A hash costs ~25 ms of CPU and 19 MiB of memory, so it runs on the
//! blocking pool behind a semaphore: a burst of sign-ins cannot starve the
//! async threads that serve pages, nor exhaust memory.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

/// Hashes verified when an account does not exist, so an unknown email costs
/// the same time as a wrong password (no account enumeration by timing).
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"settled-dummy-password")
        .ok()
        .map(|h| h.to_string())
});

/// Shared, cheap-to-clone password hasher.
#[derive(Clone, Debug)]
pub struct Hasher {
    /// Bounds concurrent hashes (each holds 19 MiB).
    permits: Arc<Semaphore>,
}

/// Hashing failed (a bug or a blocking-pool failure, never the user's input).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Hasher {
    /// A hasher allowing `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
        .map_err(|e| HashError(e.to_string()))?
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// account) a dummy hash is verified anyway and `false` returned.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            let known = stored.is_some();
            let Some(hash) = stored.or_else(|| DUMMY_HASH.clone()) else {
                return false;
            };
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            ok && known
        })
        .await
        .unwrap_or(false)
    }

    /// Warms the dummy hash so the first unknown-email sign-in is not slower.
    pub fn warm_up(&self) {
        LazyLock::force(&DUMMY_HASH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = Hasher::new(2);
        let hash = hasher.hash("correct horse".into()).await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await
        );
        assert!(!hasher.verify("wrong horse".into(), Some(hash)).await);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = Hasher::new(1);
        assert!(!hasher.verify("settled-dummy-password".into(), None).await);
    }
}
