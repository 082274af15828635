//! Teams, roles and areas.

use std::fmt;
use std::str::FromStr;

use super::{InvalidInput, clean_name, clean_text};

/// A member's role in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages members, invitations, areas and settings; also votes.
    Admin,
    /// Proposes, comments, takes stances, may be decider.
    Member,
    /// Reads and comments; takes no stance and decides nothing.
    Observer,
}

impl Role {
    /// The role as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Observer => "observer",
        }
    }

    /// Whether this role has a voice (a stance) and may propose or decide.
    pub fn can_vote(self) -> bool {
        matches!(self, Self::Admin | Self::Member)
    }

    /// All roles, for forms.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Observer];
}

impl FromStr for Role {
    type Err = InvalidInput;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            "observer" => Ok(Self::Observer),
            _ => Err(InvalidInput::new(
                "role",
                "must be admin, member or observer",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A team's name: 1 to 80 characters.
pub fn parse_team_name(raw: &str) -> Result<String, InvalidInput> {
    clean_name("name", raw, 1, 80)
}

/// A team's URL slug: lower-case letters, digits and dashes, 2 to 40
/// characters, starting with a letter or digit.
pub fn parse_slug(raw: &str) -> Result<String, InvalidInput> {
    let slug = raw.trim().to_ascii_lowercase();
    let ok = (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok {
        Ok(slug)
    } else {
        Err(InvalidInput::new(
            "slug",
            "must be 2 to 40 lower-case letters, digits or dashes",
        ))
    }
}

/// Derives a slug from a team name (`Platform Team` → `platform-team`).
pub fn slug_from_name(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let mut slug: String = slug.chars().take(40).collect();
    while slug.len() < 2 {
        slug.push('x');
    }
    slug.trim_end_matches('-').to_string()
}

/// The default window length in hours: 1 hour to 60 days.
pub fn parse_window_hours(raw: &str) -> Result<i64, InvalidInput> {
    let invalid = || {
        InvalidInput::new(
            "window_hours",
            "must be a whole number of hours from 1 to 1440",
        )
    };
    let hours = raw.trim().parse::<i64>().map_err(|_| invalid())?;
    if (1..=1440).contains(&hours) {
        Ok(hours)
    } else {
        Err(invalid())
    }
}

/// An area's name: 1 to 80 characters.
pub fn parse_area_name(raw: &str) -> Result<String, InvalidInput> {
    clean_name("name", raw, 1, 80)
}

/// An area's description: up to 2,000 characters, may be empty.
pub fn parse_area_description(raw: &str) -> Result<String, InvalidInput> {
    clean_text("description", raw, 0, 2000, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observers_have_no_vote() {
        assert!(Role::Admin.can_vote());
        assert!(Role::Member.can_vote());
        assert!(!Role::Observer.can_vote());
        assert_eq!("observer".parse::<Role>(), Ok(Role::Observer));
        assert!("owner".parse::<Role>().is_err());
    }

    #[test]
    fn slugs_derive_from_names() {
        assert_eq!(slug_from_name("Platform Team!"), "platform-team");
        assert_eq!(slug_from_name("Ü"), "xx");
        assert!(parse_slug("platform-team").is_ok());
        assert!(parse_slug("-x").is_err());
        assert!(parse_slug("Has Space").is_err());
    }

    #[test]
    fn window_is_bounded() {
        assert_eq!(parse_window_hours("72"), Ok(72));
        assert!(parse_window_hours("0").is_err());
        assert!(parse_window_hours("lots").is_err());
    }
}
