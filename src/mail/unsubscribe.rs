//! Signed unsubscribe links: `/unsubscribe?u=USER&s=SCOPE&t=TOKEN`, where
//! the token is an HMAC-SHA256 of user and scope under a key derived from
//! the instance's secret. It works without signing in, changes only that
//! member's one setting, and cannot be forged or moved to another member.

use hmac::Mac;

use crate::keys::{HmacSha256, MacKey};

/// What a link turns off (a domain type: `db` stores it too).
use crate::domain::mail::Scope;

/// The key links are signed with.
#[derive(Clone, Debug)]
pub struct Keys(MacKey);

impl Keys {
    /// Derives the key from the instance secret (the signing key's seed).
    pub fn new(instance_secret: &[u8; 32]) -> Self {
        Self(MacKey::derive(
            b"settled unsubscribe links v1",
            instance_secret,
        ))
    }

    fn mac(&self, user: i64, scope: Scope) -> HmacSha256 {
        let mut mac = self.0.hmac();
        mac.update(format!("{user}:{}", scope.as_str()).as_bytes());
        mac
    }

    /// The token for `user` and `scope`.
    pub fn token(&self, user: i64, scope: Scope) -> String {
        hex::encode(self.mac(user, scope).finalize().into_bytes())
    }

    /// Whether `token` is the one for `user` and `scope` (constant time).
    pub fn check(&self, user: i64, scope: Scope, token: &str) -> bool {
        match hex::decode(token) {
            Ok(bytes) => self.mac(user, scope).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }

    /// The link, under `base_url`.
    pub fn link(&self, base_url: &str, user: i64, scope: Scope) -> String {
        format!(
            "{base_url}/unsubscribe?u={user}&s={}&t={}",
            scope.as_str(),
            self.token(user, scope)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_fits_one_member_and_one_scope() {
        let keys = Keys::new(&[7; 32]);
        let token = keys.token(12, Scope::Digest);
        assert!(keys.check(12, Scope::Digest, &token));
        assert!(!keys.check(13, Scope::Digest, &token), "another member");
        assert!(!keys.check(12, Scope::Decided, &token), "another scope");
        assert!(
            !Keys::new(&[8; 32]).check(12, Scope::Digest, &token),
            "another instance"
        );
        let mut altered = token.clone().into_bytes();
        altered[0] = if altered[0] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).expect("hex");
        assert!(!keys.check(12, Scope::Digest, &altered));
        assert!(!keys.check(12, Scope::Digest, "not hex"));
        assert!(!keys.check(12, Scope::Digest, ""));
        assert!(!keys.check(12, Scope::Digest, &token[..32]), "truncated");
    }
}
