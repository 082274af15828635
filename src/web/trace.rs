//! The request log: one span per request with its method, its URI and its
//! request id. Some URIs carry a secret (an invitation link's token, a feed
//! or status token in `?token=`, an unsubscribe link's signature), and logs
//! are read, kept and shipped by more people than those secrets are meant
//! for, so the span shows those parts as `[redacted]`.

use axum::http::{Request, Uri};
use tracing::Span;

/// What a secret is replaced with in the log.
pub const REDACTED: &str = "[redacted]";

/// A path segment that follows one of these is a secret: `/invite/{token}`,
/// `/api/v1/invitations/{token}/accept`, `/password/reset/{token}`.
const SECRET_AFTER: &[&str] = &["invite", "invitations", "reset"];

/// Query parameters whose values are secrets: feed and status tokens
/// (`token`), unsubscribe signatures (`t`), and the page to return to after
/// signing in (`next`), which may be an invitation link.
const SECRET_PARAMS: &[&str] = &["token", "t", "next"];

/// The span of one request.
pub fn request_span<B>(req: &Request<B>) -> Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        uri = %loggable(req.uri()),
        request_id = %id,
    )
}

/// `uri`'s path and query with their secrets redacted.
pub fn loggable(uri: &Uri) -> String {
    let mut out = String::new();
    let mut secret_next = false;
    for (i, segment) in uri.path().split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if secret_next && !segment.is_empty() {
            out.push_str(REDACTED);
        } else {
            out.push_str(segment);
        }
        secret_next = SECRET_AFTER.contains(&segment);
    }
    let Some(query) = uri.query() else {
        return out;
    };
    out.push('?');
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        // Unreadable, so its secrets cannot be told apart: none of it.
        out.push_str(REDACTED);
        return out;
    };
    let shown: Vec<String> = pairs
        .into_iter()
        .map(|(key, value)| {
            if SECRET_PARAMS.contains(&key.as_str()) {
                let key = serde_urlencoded::to_string([(key, "")]).unwrap_or_default();
                format!("{key}{REDACTED}")
            } else {
                serde_urlencoded::to_string([(key, value)]).unwrap_or_default()
            }
        })
        .collect();
    out.push_str(&shown.join("&"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(uri: &str) -> String {
        loggable(&uri.parse().expect("uri"))
    }

    #[test]
    fn secrets_in_paths_and_queries_are_redacted_and_the_rest_kept() {
        assert_eq!(shown("/invite/abc_DEF-1"), "/invite/[redacted]");
        assert_eq!(
            shown("/password/reset/abc_DEF-1"),
            "/password/reset/[redacted]"
        );
        assert_eq!(
            shown("/api/v1/invitations/abc/accept"),
            "/api/v1/invitations/[redacted]/accept"
        );
        assert_eq!(shown("/t/platform/invitations"), "/t/platform/invitations");
        assert_eq!(
            shown("/feeds/decisions.atom?token=stf_x"),
            "/feeds/decisions.atom?token=[redacted]"
        );
        assert_eq!(
            shown("/unsubscribe?u=3&s=digest&t=sig"),
            "/unsubscribe?u=3&s=digest&t=[redacted]"
        );
        assert_eq!(
            shown("/sign-in?next=%2Finvite%2Fabc"),
            "/sign-in?next=[redacted]"
        );
        assert_eq!(
            shown("/t/x/decisions?status=open&q=a+b"),
            "/t/x/decisions?status=open&q=a+b"
        );
        assert_eq!(shown("/d/ARCH-1"), "/d/ARCH-1");
    }
}
