//! Account input: email, display name, password, time zone.

use super::{InvalidInput, clean_name};

/// An email address, kept as typed; compared by its lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, something on each side, a dot in the
    /// domain, no spaces, at most 254 characters. Deliverability is the mail
    /// server's business.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let email = raw.trim();
        let invalid =
            || InvalidInput::new("email", "must be an email address like ana@example.com");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(invalid());
        }
        Ok(Self(email.to_string()))
    }

    /// The address as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness and look-ups.
    pub fn normalized(&self) -> String {
        normalize_email(&self.0)
    }
}

/// Lower-cases an address for look-ups (emails are unique case-insensitively).
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// A person's display name: 1 to 80 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a display name.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        clean_name("name", raw, 1, 80).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10 to 1024 characters (long passphrases welcome; the
/// upper bound only stops absurd inputs from costing hash time).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

impl NewPassword {
    /// Parses a new password. Not trimmed: spaces are part of a passphrase.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let len = raw.chars().count();
        if len < 10 {
            return Err(InvalidInput::new(
                "password",
                "must be at least 10 characters",
            ));
        }
        if len > 1024 {
            return Err(InvalidInput::new(
                "password",
                "must be at most 1024 characters",
            ));
        }
        Ok(Self(raw.to_string()))
    }

    /// The password, for hashing.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An IANA time zone such as `Europe/Berlin`.
pub fn parse_time_zone(raw: &str) -> Result<chrono_tz::Tz, InvalidInput> {
    raw.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        InvalidInput::new(
            "time_zone",
            "must be an IANA time zone such as Europe/Berlin",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_unique_regardless_of_case() {
        let a = Email::parse(" Ana@Example.COM ").expect("valid");
        assert_eq!(a.as_str(), "Ana@Example.COM");
        assert_eq!(a.normalized(), "ana@example.com");
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn short_passwords_and_unknown_zones_are_refused() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("long enough pass").is_ok());
        assert!(parse_time_zone("Europe/Berlin").is_ok());
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
