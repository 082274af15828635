//! Field errors: the messages a refused form shows next to its fields.

use crate::domain::InvalidInput;
use crate::error::{Error, Result};

/// Field errors shown next to their fields.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// The error for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Adds an error.
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Collects the error of a parse result, returning its value.
    pub fn check<T>(&mut self, result: Result<T, InvalidInput>) -> Option<T> {
        result.map_err(|e| self.add(e.field, e.message)).ok()
    }

    /// Turns an error into field errors where it names a field; other
    /// errors are returned for the caller to raise.
    pub fn absorb(&mut self, err: Error, default_field: &'static str) -> Result<()> {
        match err {
            Error::Invalid(e) => self.add(e.field, e.message),
            Error::Taken { field, message } => self.add(field, message),
            Error::Rule(v) => self.add(default_field, v.to_string()),
            other => return Err(other),
        }
        Ok(())
    }
}
