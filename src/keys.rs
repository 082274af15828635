//! Keys derived from the instance secret (the signing key's seed), one per
//! use: a MAC made with one says nothing about the secret or the others.

use hmac::KeyInit;
use sha2::{Digest, Sha256};

/// HMAC-SHA256.
pub type HmacSha256 = hmac::Hmac<Sha256>;

/// The key of one use.
#[derive(Clone)]
pub struct MacKey([u8; 32]);

// By hand, so that the key is never printed.
impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    /// The key for `purpose` (a fixed label such as
    /// `b"settled unsubscribe links v1"`): SHA-256 of the label, a zero
    /// byte and the secret.
    pub fn derive(purpose: &[u8], instance_secret: &[u8; 32]) -> Self {
        let mut hash = Sha256::new();
        hash.update(purpose);
        hash.update([0]);
        hash.update(instance_secret);
        Self(hash.finalize().into())
    }

    /// A new HMAC under this key.
    pub fn hmac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derivation is part of every unsubscribe link already mailed: it
    /// must not change (SHA-256 of the label, a zero byte, the secret).
    #[test]
    fn the_derivation_is_stable() {
        let key = MacKey::derive(b"settled unsubscribe links v1", &[7; 32]);
        assert_eq!(
            hex::encode(key.0),
            "3ff4eb725d9331f47ec72c8386a1fb4b1ff79284e9c2887c21d17c731caf5787"
        );
        assert_ne!(
            MacKey::derive(b"settled flash messages v1", &[7; 32]).0,
            key.0,
            "one key per use"
        );
        assert_eq!(format!("{key:?}"), "MacKey(..)");
    }
}
