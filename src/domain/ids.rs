//! Team keys (`ARCH`) and public decision ids (`ARCH-42`).

use std::fmt;
use std::str::FromStr;

use super::InvalidInput;

/// A team's short key: an upper-case letter then 1 to 9 upper-case letters or
/// digits (`[A-Z][A-Z0-9]{1,9}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamKey(String);

impl TeamKey {
    /// Parses a key; lower-case input is accepted and upper-cased, since keys
    /// are typed by hand.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let key = raw.trim().to_ascii_uppercase();
        let mut chars = key.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !(first_ok && rest_ok && (2..=10).contains(&key.len())) {
            return Err(InvalidInput::new(
                "key",
                "must be 2 to 10 letters or digits, starting with a letter (e.g. ARCH)",
            ));
        }
        Ok(Self(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TeamKey {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TeamKey> for String {
    fn from(key: TeamKey) -> Self {
        key.0
    }
}

impl fmt::Display for TeamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's id (the key of their account row). The ledger's commands take
/// ids in these types, so an actor cannot be passed where a team belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// A team's id (the key of its row, not its public key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeamId(pub i64);

/// A proposal's number within its team, from 1 (the N of `KEY-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Number(pub i64);

/// The public id of a proposal: team key and per-team number, `ARCH-42`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DecisionId {
    /// The team's key.
    pub key: TeamKey,
    /// The proposal's number within the team, from 1.
    pub number: i64,
}

impl FromStr for DecisionId {
    type Err = InvalidInput;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidInput::new("id", "must look like KEY-N, e.g. ARCH-42");
        let (key, number) = raw.trim().rsplit_once('-').ok_or_else(invalid)?;
        let key = TeamKey::parse(key).map_err(|_| invalid())?;
        if number.is_empty()
            || !number.bytes().all(|b| b.is_ascii_digit())
            || number.starts_with('0')
        {
            return Err(invalid());
        }
        let number = number.parse::<i64>().map_err(|_| invalid())?;
        Ok(Self { key, number })
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.key, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_pattern() {
        assert_eq!(TeamKey::parse("ARCH").map(|k| k.0), Ok("ARCH".into()));
        assert_eq!(TeamKey::parse(" ops2 ").map(|k| k.0), Ok("OPS2".into()));
        for bad in ["A", "2FA", "AB-C", "ABCDEFGHIJK", "", "ÄRCH"] {
            assert!(TeamKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn decision_ids_round_trip_and_reject_garbage() {
        let id: DecisionId = "ARCH-42".parse().expect("valid");
        assert_eq!(id.number, 42);
        assert_eq!(id.to_string(), "ARCH-42");
        assert_eq!(
            "arch-7".parse::<DecisionId>().map(|i| i.to_string()),
            Ok("ARCH-7".into())
        );
        for bad in [
            "ARCH",
            "ARCH-",
            "ARCH-0",
            "ARCH-007",
            "ARCH--1",
            "-1",
            "ARCH-1x",
            "ARCH-99999999999999999999",
        ] {
            assert!(bad.parse::<DecisionId>().is_err(), "{bad:?} accepted");
        }
    }
}
