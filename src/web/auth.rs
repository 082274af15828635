//! Who is calling: sessions, API tokens, CSRF tokens and the sign-in limit.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::AppState;
use crate::db::users::User;
use crate::error::Error;

pub use super::sessions::{ADDRESS_KEY, AGENT_KEY, USER_KEY};
/// Session key holding the CSRF token.
pub const CSRF_KEY: &str = "csrf";
/// Form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// Header carrying the CSRF token for session-authenticated API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub use crate::services::tokens::new_secret;

/// Constant-time equality of two secrets.
pub fn secrets_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, Error> {
    let existing: Option<String> = session.get(CSRF_KEY).await.map_err(session_error)?;
    if let Some(token) = existing {
        return Ok(token);
    }
    let token = new_secret("")?;
    session
        .insert(CSRF_KEY, &token)
        .await
        .map_err(session_error)?;
    Ok(token)
}

/// Starts a signed-in session for `user`: a new session id (the old one,
/// which a page may have seen before sign-in, ends) and a new CSRF token,
/// with the browser and address it was signed in from (listed in the
/// account's settings).
pub async fn start_signed_in(session: &Session, user: i64, from: &Origin) -> Result<(), Error> {
    session.cycle_id().await.map_err(session_error)?;
    // A new CSRF token, in the session's first write under its new id.
    session
        .insert(CSRF_KEY, new_secret("")?)
        .await
        .map_err(session_error)?;
    session
        .insert(USER_KEY, user)
        .await
        .map_err(session_error)?;
    session
        .insert(AGENT_KEY, &from.agent)
        .await
        .map_err(session_error)?;
    session
        .insert(ADDRESS_KEY, from.address.to_string())
        .await
        .map_err(session_error)?;
    Ok(())
}

/// Where a request comes from: the client address and its browser's
/// User-Agent (cut to 300 characters).
#[derive(Debug, Clone)]
pub struct Origin {
    /// The client address.
    pub address: IpAddr,
    /// The User-Agent header, or empty.
    pub agent: String,
}

impl FromRequestParts<AppState> for Origin {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(address) = ClientIp::from_request_parts(parts, state).await?;
        let agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        Ok(Self { address, agent })
    }
}

/// The client's address: the peer's, or, when the peer is one of the
/// trusted reverse proxies (`--trusted-proxy`), the nearest address in
/// `X-Forwarded-For` that is not a trusted proxy. Entries further left
/// were written by the client itself and prove nothing, so they are never
/// read past an untrusted one.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no client address")))?;
        Ok(Self(client_address(
            peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// See [`ClientIp`].
pub fn client_address(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |addr: &IpAddr| trusted.iter().any(|net| net.contains(addr));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(addr) = hop.parse::<IpAddr>() else {
            break;
        };
        client = addr;
        if !is_trusted(&addr) {
            break;
        }
    }
    client
}

/// "Firefox on Linux", from a User-Agent header.
pub fn describe_agent(agent: &str) -> String {
    const BROWSERS: [(&str, &str); 8] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("Wget/", "Wget"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let find = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(token, _)| agent.contains(token))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) => "An unknown browser".to_string(),
    }
}

/// Maps a session-store failure to an internal error.
pub fn session_error(err: tower_sessions::session::Error) -> Error {
    Error::Internal(anyhow::anyhow!("session store: {err}"))
}

/// Refuses state-changing browser requests whose form lacks the session's
/// CSRF token. API routes check their own (header or bearer token).
pub async fn csrf_guard(
    State(_): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method();
    // The API checks its own token; webhooks are authenticated by their
    // HMAC signature and come from code hosts, never from our pages; an
    // unsubscribe link carries its own signature and comes from a mail
    // client (RFC 8058), which has no session.
    let path = req.uri().path();
    if method.is_safe()
        || path.starts_with("/api/")
        || path.starts_with("/hooks/")
        || path == "/unsubscribe"
    {
        return next.run(req).await;
    }
    let expected: Option<String> = match session.get(CSRF_KEY).await {
        Ok(token) => token,
        Err(err) => return session_error(err).into_response(),
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::BODY_LIMIT).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )
            .into_response();
    };
    let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
        });
    match (expected, sent) {
        (Some(expected), Some(sent)) if secrets_match(&expected, &sent) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => Error::Csrf.into_response(),
    }
}

/// The signed-in user of a browser request. Without one, pages redirect to
/// the sign-in form.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("session layer missing")))?;
        let id: Option<i64> = session.get(USER_KEY).await.map_err(session_error)?;
        let user = match id {
            Some(id) => state.user(id).await?,
            None => None,
        };
        let Some(user) = user else {
            return Err(Error::SignInRequired {
                next: return_path(parts),
            });
        };
        // The page context needs the same user: load it once per request.
        parts.extensions.insert(Self(user.clone()));
        Ok(Self(user))
    }
}

/// Where to come back to after signing in: the page asked for, when it is a
/// page (GET) other than the home page the sign-in leads to anyway.
fn return_path(parts: &Parts) -> Option<String> {
    if parts.method != axum::http::Method::GET {
        return None;
    }
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| *p != "/")
        .and_then(local_path)
        .map(str::to_string)
}

/// `raw` if it is a path on this site, safe to redirect to after signing in;
/// `None` for anything that could lead elsewhere (`//host`, `https://…`,
/// `/\host`, which browsers read as `//host`) or that is not a plain ASCII
/// path (browsers drop tabs and newlines, so `/\t/host` would become `//host`).
pub fn local_path(raw: &str) -> Option<&str> {
    let bytes = raw.as_bytes();
    let single_slash = bytes.first() == Some(&b'/') && !matches!(bytes.get(1), Some(b'/'));
    let plain = bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
    (single_slash && plain && raw.len() <= 2048).then_some(raw)
}

/// `page` (the sign-in or sign-up form) asked to come back to `next` (a
/// [`local_path`]) afterwards.
pub fn with_next(page: &str, next: Option<&str>) -> String {
    match next.and_then(local_path) {
        Some(next) => format!(
            "{page}?{}",
            serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
        ),
        None => page.to_string(),
    }
}

/// A per-key rate limit (sign-ins per client address, webhook deliveries
/// per team).
#[derive(Clone)]
pub struct Limiter<K: std::hash::Hash + Eq + Clone>(Arc<DefaultKeyedRateLimiter<K>>);

/// Sign-in attempts allowed per client address.
pub type SignInLimiter = Limiter<IpAddr>;

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    /// Allows `per_minute` attempts per key per minute (bursts included).
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self(Arc::new(RateLimiter::keyed(quota)))
    }

    /// Allows `per_hour` attempts per key per hour (bursts included).
    pub fn per_hour(per_hour: u32) -> Self {
        let quota = Quota::per_hour(NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN));
        Self(Arc::new(RateLimiter::keyed(quota)))
    }

    /// Counts an attempt; `Err` when over the limit.
    pub fn check(&self, key: &K) -> Result<(), Error> {
        self.0.check_key(key).map_err(|_| Error::RateLimited)
    }

    /// Counts an attempt; when over the limit, how long until the next one
    /// is allowed.
    pub fn wait(&self, key: &K) -> Result<(), std::time::Duration> {
        use governor::clock::{Clock, DefaultClock};
        self.0
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed_after_sign_in() {
        for ok in [
            "/invite/abc",
            "/d/ARCH-1?x=1",
            "/t/platform/decisions?status=open&q=a%20b",
        ] {
            assert_eq!(local_path(ok), Some(ok));
        }
        for bad in [
            "",
            "invite/abc",
            "//evil.example",
            "///evil.example",
            "https://evil.example",
            "/\\evil",
            "\\/evil",
            "/\t/evil.example",
            "/ /evil",
            "/caf\u{e9}",
            "javascript:alert(1)",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_client_address_is_read_past_trusted_proxies_only() {
        use axum::http::{HeaderMap, HeaderValue};
        let trusted: Vec<ipnet::IpNet> = vec![
            "10.0.0.0/8".parse().expect("net"),
            "::1/128".parse().expect("net"),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
            }
            h
        };
        // Not from a trusted proxy: the header is the client's own words.
        let forged = with(&["198.51.100.7"]);
        assert_eq!(
            client_address(ip("203.0.113.9"), &forged, &trusted),
            ip("203.0.113.9")
        );
        // From a proxy: the nearest untrusted hop, never what lies left of it.
        let chain = with(&["1.1.1.1, 198.51.100.7, 10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.3"), &chain, &trusted),
            ip("198.51.100.7")
        );
        let split = with(&["1.1.1.1", "198.51.100.7"]);
        assert_eq!(
            client_address(ip("::1"), &split, &trusted),
            ip("198.51.100.7")
        );
        // A garbled hop: the nearest address known.
        let garbled = with(&["198.51.100.7, nonsense, 10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.3"), &garbled, &trusted),
            ip("10.0.0.2")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.3"), &HeaderMap::new(), &trusted),
            ip("10.0.0.3")
        );
        // Nothing trusted: always the peer.
        assert_eq!(client_address(ip("10.0.0.3"), &chain, &[]), ip("10.0.0.3"));
    }

    #[test]
    fn a_user_agent_reads_as_a_browser_and_a_system() {
        for (agent, seen) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            ("curl/8.11.0", "curl"),
            ("", "An unknown browser"),
        ] {
            assert_eq!(describe_agent(agent), seen, "{agent}");
        }
    }

    #[test]
    fn the_return_path_is_carried_encoded() {
        assert_eq!(
            with_next("/sign-in", Some("/invite/a-b_c")),
            "/sign-in?next=%2Finvite%2Fa-b_c"
        );
        assert_eq!(
            with_next("/sign-up", Some("/d/X-1?a=1&b=2")),
            "/sign-up?next=%2Fd%2FX-1%3Fa%3D1%26b%3D2"
        );
        assert_eq!(with_next("/sign-in", Some("//evil.example")), "/sign-in");
        assert_eq!(with_next("/sign-in", None), "/sign-in");
    }
}
