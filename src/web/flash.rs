//! One-time messages after a form (POST → 303 → GET: "Your stance is
//! recorded."), carried by a signed cookie rather than the session. Keeping
//! them in the session cost two database writes per form (the message set,
//! then removed by the page that shows it), each queued behind the ledger's
//! writer; a cookie costs none.
//!
//! The cookie holds the message and an HMAC of it under a key derived from
//! the instance secret, so nobody who can plant a cookie (a sibling
//! subdomain, say) can make the app's pages say something it never said.
//! It lives for five minutes at most and is cleared by the page that shows
//! it.

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use tower_sessions::cookie::{self, Cookie, SameSite};

use super::AppState;
use crate::error::Error;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The cookie's name.
pub const COOKIE: &str = "settled_flash";

/// Longest message kept (longer ones are cut at a character boundary).
const MAX_LEN: usize = 1000;

/// The key flash cookies are signed with.
#[derive(Clone)]
pub struct Keys([u8; 32]);

// By hand, so that the key is never printed.
impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// Derives the key from the instance secret (a separate key, so a
    /// cookie's MAC says nothing about the secret or other keys).
    pub fn new(instance_secret: &[u8; 32]) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"settled flash messages v1\0");
        hash.update(instance_secret);
        Self(hash.finalize().into())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length.
        <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts 32-byte keys")
    }

    /// The cookie value for `message`: `message.mac`, both base64url.
    fn seal(&self, message: &str) -> String {
        let mut mac = self.mac();
        mac.update(message.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(message),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The message of a cookie value this instance sealed, else `None`.
    fn open(&self, value: &str) -> Option<String> {
        let (message, tag) = value.split_once('.')?;
        let message = URL_SAFE_NO_PAD.decode(message).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(&message);
        mac.verify_slice(&tag).ok()?;
        String::from_utf8(message).ok()
    }
}

/// The flash of one request: the message it arrived with, which the page
/// that shows it takes, and the one it leaves for the next page.
#[derive(Debug, Clone, Default)]
pub struct Flash(Arc<Mutex<Slot>>);

#[derive(Debug, Default)]
struct Slot {
    arrived: Option<String>,
    taken: bool,
    leave: Option<String>,
}

impl Flash {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        // A panic while holding this lock loses at most a message.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leaves `message` for the next page.
    pub fn set(&self, message: impl Into<String>) {
        let mut message: String = message.into();
        if message.len() > MAX_LEN {
            let mut end = MAX_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        self.slot().leave = Some(message);
    }

    /// The message left by the previous request, once (the response then
    /// clears the cookie).
    pub fn take(&self) -> Option<String> {
        let mut slot = self.slot();
        slot.taken = true;
        slot.arrived.take()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Flash>()
            .cloned()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("flash layer missing")))
    }
}

/// The middleware: reads the request's flash cookie, and sets (a message
/// left) or clears (a message shown) it on the response.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let arrived = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string());
    let flash = Flash::default();
    flash.slot().arrived = arrived.as_deref().and_then(|v| state.flash.open(v));
    request.extensions_mut().insert(flash.clone());
    let mut response = next.run(request).await;
    let slot = std::mem::take(&mut *flash.slot());
    let cookie = match slot.leave {
        Some(message) => Some(
            Cookie::build((COOKIE, state.flash.seal(&message)))
                .max_age(cookie::time::Duration::minutes(5)),
        ),
        // A message shown, or a cookie this instance cannot read: gone.
        None if arrived.is_some() && (slot.taken || slot.arrived.is_none()) => {
            Some(Cookie::build((COOKIE, "")).max_age(cookie::time::Duration::ZERO))
        }
        None => None,
    };
    if let Some(cookie) = cookie {
        let cookie = cookie
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.secure_cookies)
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_message_opens_only_unaltered_and_under_its_key() {
        let keys = Keys::new(&[7; 32]);
        let sealed = keys.seal("Your stance is recorded. Ünïcode; \"quotes\"");
        assert_eq!(
            keys.open(&sealed).as_deref(),
            Some("Your stance is recorded. Ünïcode; \"quotes\"")
        );
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "cookie-safe: {sealed}"
        );
        let (message, tag) = sealed.split_once('.').expect("two parts");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("You were signed out."));
        assert_eq!(keys.open(&forged), None);
        assert_eq!(keys.open(message), None);
        assert_eq!(Keys::new(&[8; 32]).open(&sealed), None);
    }
}
