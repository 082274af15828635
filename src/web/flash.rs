//! One-time messages after a form (POST → 303 → GET: "Your stance is
//! recorded."), carried by a signed cookie rather than the session. Keeping
//! them in the session cost two database writes per form (the message set,
//! then removed by the page that shows it), each queued behind the ledger's
//! writer; a cookie costs none.
//!
//! The cookie holds the message, its expiry and an HMAC of both and of the
//! browser's session cookie, under a key derived from the instance secret:
//! nobody who can plant a cookie (a sibling subdomain, say) can make the
//! app's pages say something it never said to that browser, nor replay a
//! message sealed for another. It lives five minutes at most and is
//! cleared by the page that shows it.

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use tower_sessions::cookie::{self, Cookie, SameSite};

use super::AppState;
use crate::error::Error;
use crate::keys::{HmacSha256, MacKey};

/// The cookie's name.
pub const COOKIE: &str = "settled_flash";

/// Longest message kept (longer ones are cut at a character boundary).
const MAX_LEN: usize = 1000;

/// The key flash cookies are signed with.
#[derive(Clone, Debug)]
pub struct Keys(MacKey);

impl Keys {
    /// Derives the key from the instance secret (the signing key's seed).
    pub fn new(instance_secret: &[u8; 32]) -> Self {
        Self(MacKey::derive(
            b"settled flash messages v1",
            instance_secret,
        ))
    }

    /// The MAC of a message for one session until `expires`.
    fn mac(&self, session: &str, expires: i64, message: &[u8]) -> HmacSha256 {
        let mut mac = self.0.hmac();
        for part in [session.as_bytes(), expires.to_string().as_bytes(), message] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The cookie value for `message`, good for `session` (the session
    /// cookie's value, empty without one) until `expires` (Unix seconds):
    /// `message.expires.mac`, message and MAC in base64url.
    fn seal(&self, session: &str, expires: i64, message: &str) -> String {
        format!(
            "{}.{expires}.{}",
            URL_SAFE_NO_PAD.encode(message),
            URL_SAFE_NO_PAD.encode(
                self.mac(session, expires, message.as_bytes())
                    .finalize()
                    .into_bytes()
            )
        )
    }

    /// The message of a cookie value this instance sealed for `session`,
    /// unless expired at `now`; else `None`. So a sealed message cannot be
    /// replayed into another browser, nor later.
    fn open(&self, session: &str, now: i64, value: &str) -> Option<String> {
        let mut parts = value.split('.');
        let (message, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expires: i64 = expires.parse().ok()?;
        if expires <= now {
            return None;
        }
        let message = URL_SAFE_NO_PAD.decode(message).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(session, expires, &message)
            .verify_slice(&tag)
            .ok()?;
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

/// How long a message waits for the page that shows it.
const LIFETIME: i64 = 5 * 60;

/// The values of the request's cookies named `name`.
fn cookies<'a>(request: &'a Request, name: &'a str) -> impl Iterator<Item = String> + 'a {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// The session a response leaves the browser with: the session cookie it
/// sets (a new session, or a new id at sign-in; empty when it ends one), else
/// the request's.
fn session_after(response: &Response, before: &str) -> String {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| Cookie::parse(v).ok())
        .find(|c| c.name() == super::SESSION_COOKIE)
        .map_or_else(
            || before.to_string(),
            |c| {
                let ended = c.max_age().is_some_and(|age| age.is_zero());
                if ended {
                    String::new()
                } else {
                    c.value().to_string()
                }
            },
        )
}

/// The middleware: reads the request's flash cookie, and sets (a message
/// left) or clears (a message shown) it on the response.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let session = cookies(&request, super::SESSION_COOKIE)
        .next()
        .unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // A browser may hold several (one planted with another path, say): the
    // first this instance sealed for this session counts.
    let arrived: Vec<String> = cookies(&request, COOKIE).collect();
    let flash = Flash::default();
    flash.slot().arrived = arrived
        .iter()
        .find_map(|v| state.flash.open(&session, now, v));
    request.extensions_mut().insert(flash.clone());
    let mut response = next.run(request).await;
    let slot = std::mem::take(&mut *flash.slot());
    let cookie = match slot.leave {
        Some(message) => {
            let session = session_after(&response, &session);
            Some(
                Cookie::build((COOKIE, state.flash.seal(&session, now + LIFETIME, &message)))
                    .max_age(cookie::time::Duration::seconds(LIFETIME)),
            )
        }
        // A message shown, or a cookie this instance cannot read: gone.
        None if !arrived.is_empty() && (slot.taken || slot.arrived.is_none()) => {
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
    fn a_sealed_message_opens_only_unaltered_for_its_session_and_in_time() {
        let keys = Keys::new(&[7; 32]);
        let text = "Your stance is recorded. Ünïcode; \"quotes\"";
        let sealed = keys.seal("session-a", 1_000, text);
        assert_eq!(keys.open("session-a", 999, &sealed).as_deref(), Some(text));
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "cookie-safe: {sealed}"
        );
        assert_eq!(keys.open("session-a", 1_000, &sealed), None, "expired");
        assert_eq!(
            keys.open("session-b", 999, &sealed),
            None,
            "another browser"
        );
        assert_eq!(keys.open("", 999, &sealed), None);
        let mut parts = sealed.split('.');
        let (message, _, tag) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let later = format!("{message}.2000.{tag}");
        assert_eq!(
            keys.open("session-a", 999, &later),
            None,
            "expiry is signed"
        );
        let forged = format!("{}.1000.{tag}", URL_SAFE_NO_PAD.encode("Signed out."));
        assert_eq!(keys.open("session-a", 999, &forged), None);
        assert_eq!(Keys::new(&[8; 32]).open("session-a", 999, &sealed), None);
    }
}
