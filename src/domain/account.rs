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

/// Failed sign-ins allowed for one email address before it must wait.
pub const FREE_SIGN_IN_FAILURES: i64 = 5;

/// The longest wait after failed sign-ins.
pub const MAX_SIGN_IN_WAIT: chrono::Duration = chrono::Duration::minutes(15);

/// How long failures are remembered after the latest one.
pub const SIGN_IN_FAILURES_KEPT: chrono::Duration = chrono::Duration::hours(24);

/// How long an email address must wait after `failures` failed sign-ins in
/// a row, counted from the latest: nothing for the first
/// [`FREE_SIGN_IN_FAILURES`], then 15 s, doubling with each further
/// failure, up to [`MAX_SIGN_IN_WAIT`].
pub fn sign_in_wait(failures: i64) -> chrono::Duration {
    if failures < FREE_SIGN_IN_FAILURES {
        return chrono::Duration::zero();
    }
    let doublings = u32::try_from(failures - FREE_SIGN_IN_FAILURES)
        .unwrap_or(u32::MAX)
        .min(16);
    (chrono::Duration::seconds(15) * 2_i32.pow(doublings)).min(MAX_SIGN_IN_WAIT)
}

#[cfg(test)]
mod wait_tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn failed_sign_ins_wait_longer_each_time_up_to_fifteen_minutes() {
        for f in 0..FREE_SIGN_IN_FAILURES {
            assert_eq!(sign_in_wait(f), Duration::zero(), "{f}");
        }
        assert_eq!(sign_in_wait(5), Duration::seconds(15));
        assert_eq!(sign_in_wait(6), Duration::seconds(30));
        assert_eq!(sign_in_wait(8), Duration::minutes(2));
        assert_eq!(sign_in_wait(11), MAX_SIGN_IN_WAIT);
        assert_eq!(sign_in_wait(1_000_000), MAX_SIGN_IN_WAIT);
    }
}
