//! The edge check every request passes before anything reads it: no
//! control characters (NUL above all) in the path, the query, a form or a
//! JSON body. PostgreSQL cannot store or even compare a NUL byte in text,
//! so one that reached a query answered 500; SQLite would keep it. Refused
//! here with a clear 400 on both backends, before a session or the
//! database is touched. Tab, line feed and carriage return stay allowed in
//! queries and bodies (a multi-line text has them); the domain's parsers
//! decide where a text may have them.
//!
//! Webhook bodies are not checked here: they are signed by the code host
//! and read only for references (`hooks.rs`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::BODY_LIMIT;
use crate::error::Error;

/// Where a refused character was found: a field name or a part of the URL.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Path,
    Field(String),
}

/// Refuses a request that carries a control character anywhere a handler
/// would read text from.
pub async fn refuse_control_characters(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let refuse = |found: Found| refusal(found, api);
    if has_control(&percent_decoded(request.uri().path()), false) {
        return refuse(Found::Path);
    }
    if let Some(query) = request.uri().query()
        && let Some(field) = bad_form_field(query.as_bytes())
    {
        return refuse(Found::Field(field));
    }
    let kind = body_kind(&request);
    if kind == BodyKind::Other || request.uri().path().starts_with("/hooks/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let bad = match kind {
        BodyKind::Form => bad_form_field(&bytes),
        BodyKind::Json => bad_json_field(&bytes),
        BodyKind::Other => None,
    };
    if let Some(field) = bad {
        return refuse(Found::Field(field));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
    Other,
}

fn body_kind(request: &Request) -> BodyKind {
    let kind = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if kind.starts_with("application/x-www-form-urlencoded") {
        BodyKind::Form
    } else if kind.starts_with("application/json") {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

fn refusal(found: Found, api: bool) -> Response {
    let (field, message) = match found {
        Found::Path => (
            "path".to_string(),
            "The address you asked for contains a control character (such as a NUL byte), \
             which Settled does not accept. Check the link and try again."
                .to_string(),
        ),
        Found::Field(name) => {
            let message = format!(
                "The field \u{201c}{name}\u{201d} contains a control character (such as a NUL \
                 byte), which Settled does not accept. Remove it and try again."
            );
            (name, message)
        }
    };
    let error = Error::BadRequest { field, message };
    if api {
        super::api::ApiError(error).into_response()
    } else {
        error.into_response()
    }
}

/// A control character other than tab, line feed and carriage return
/// (those only when `text_breaks` allows them).
fn has_control(text: &str, text_breaks: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(text_breaks && matches!(c, '\t' | '\n' | '\r')))
}

/// `%XX` escapes decoded (a malformed one is kept as it is); the bytes
/// read as UTF-8, invalid sequences replaced.
fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first field of an `application/x-www-form-urlencoded` text (a form
/// body or a query) whose name or value has a control character.
fn bad_form_field(raw: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
        .ok()?
        .into_iter()
        .find(|(name, value)| has_control(name, false) || has_control(value, true))
        .map(|(name, _)| printable(&name))
}

/// The first member of a JSON body (by its key, `/`-joined from the top)
/// whose key or text has a control character. A body that does not parse
/// is left to the handler, which says why.
fn bad_json_field(raw: &[u8]) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        match value {
            serde_json::Value::String(text) if has_control(text, true) => Some(path.to_string()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &join(path, &i.to_string()))),
            serde_json::Value::Object(members) => members.iter().find_map(|(k, v)| {
                if has_control(k, false) {
                    Some(join(path, &printable(k)))
                } else {
                    walk(v, &join(path, k))
                }
            }),
            _ => None,
        }
    }
    fn join(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}/{key}")
        }
    }
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    walk(&value, "").map(|p| if p.is_empty() { "body".into() } else { p })
}

/// A field name fit to show: control characters as `\u{..}` escapes.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_in_a_path_is_found_however_it_is_written() {
        assert!(has_control(&percent_decoded("/t/al%00pha"), false));
        assert!(
            has_control(&percent_decoded("/t/al%c2%85pha"), false),
            "C1 control"
        );
        assert!(has_control(&percent_decoded("/t/a%09b"), false), "tab");
        assert!(!has_control(&percent_decoded("/t/alpha%20team/%zz"), false));
    }

    #[test]
    fn form_fields_may_break_lines_but_not_hold_a_nul() {
        assert_eq!(
            bad_form_field(b"email=a%00%40x.example&name=A"),
            Some("email".into())
        );
        assert_eq!(bad_form_field(b"body=line%0D%0Anext%09tab"), None);
        assert_eq!(bad_form_field(b"na%01me=x"), Some("na\\u{1}me".into()));
    }

    #[test]
    fn json_members_are_named_by_their_path() {
        assert_eq!(
            bad_json_field(br#"{"decider":"a\u0000@x.example"}"#),
            Some("decider".into())
        );
        assert_eq!(
            bad_json_field(br#"{"list":[{"ok":"a\nb"},{"bad":"\u007f"}]}"#),
            Some("list/1/bad".into())
        );
        assert_eq!(
            bad_json_field(br#"{"text":"a \\u0000 is only text"}"#),
            None
        );
        assert_eq!(bad_json_field(b"not json"), None);
    }
}
