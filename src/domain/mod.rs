//! The rules of Settled as plain types and functions, with no I/O.
//!
//! Forms and API bodies are parsed into these types at the boundary, so the
//! ledger only ever sees checked input; the rules that depend on stored state
//! (who may record, when) take that state as arguments and answer with a
//! [`Violation`] naming the rule.

pub mod account;
pub mod ids;
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
    clean_text("name", raw, 1, 80, false)
}
