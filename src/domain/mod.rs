//! The rules of Settled as plain types and functions, with no I/O.
//!
//! Forms and API bodies are parsed into these types at the boundary, so the
//! ledger only ever sees checked input; the rules that depend on stored state
//! (who may record, when) take that state as arguments and answer with a
//! [`Violation`] naming the rule.

pub mod account;
pub mod change;
pub mod ids;
pub mod mail;
pub mod mention;
pub mod proposal;
pub mod refs;
pub mod team;
mod violation;

pub use violation::Violation;

/// Input that failed to parse, with a message fit to show next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    /// The form field (and JSON key) at fault.
    pub field: &'static str,
    /// What is wrong, in words for the person who typed it.
    pub message: String,
}

impl InvalidInput {
    /// An error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims `raw` and checks it holds between `min` and `max` characters with no
/// control characters other than newlines and tabs (when `multiline`).
pub fn clean_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, InvalidInput> {
    let text = raw.trim();
    let len = text.chars().count();
    if len < min {
        return Err(InvalidInput::new(
            field,
            if min == 1 {
                "is required".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if len > max {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'));
    if text.chars().any(bad) {
        return Err(InvalidInput::new(field, "contains control characters"));
    }
    // Normalise line endings so a text hashes the same whoever sent it.
    Ok(text.replace("\r\n", "\n"))
}

/// A short label (API token names): 1 to 80 characters.
pub fn clean_label(raw: &str) -> Result<String, InvalidInput> {
    clean_name("name", raw, 1, 80)
}

/// A name (of a person, team, area or token): one line of text as
/// [`clean_text`] checks it, without the invisible characters that could
/// make it pass for another name or reorder the page around it.
pub fn clean_name(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, InvalidInput> {
    let name = clean_text(field, raw, min, max, false)?;
    if name.chars().any(is_invisible_or_bidi) {
        return Err(InvalidInput::new(
            field,
            "contains an invisible formatting character (a direction override, \
             isolate or zero-width character); type the name without it",
        ));
    }
    Ok(name)
}

/// Direction embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069), zero-width characters and direction marks
/// (U+200B–U+200F, U+2060–U+2064, U+FEFF, U+061C): invisible, yet they
/// change how text around them reads (CVE-2021-42574, "Trojan Source").
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{061C}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_direction_overrides_and_invisible_characters() {
        for sneaky in [
            "Ana\u{202E}nimda",
            "\u{2066}Bob\u{2069}",
            "Chen\u{200B}",
            "Dan\u{200F}",
            "\u{FEFF}Eve",
        ] {
            let refused = clean_name("name", sneaky, 1, 80);
            assert!(refused.is_err(), "{sneaky:?} was accepted");
        }
        assert_eq!(
            clean_name("name", " Zoë Ångström-Nuñez ", 1, 80).as_deref(),
            Ok("Zoë Ångström-Nuñez")
        );
        assert_eq!(clean_name("name", "مريم", 1, 80).as_deref(), Ok("مريم"));
        assert!(
            clean_text(
                "body",
                "An RTL mark \u{200F} in a body is text",
                1,
                80,
                true
            )
            .is_ok(),
            "only names refuse them"
        );
    }
}
