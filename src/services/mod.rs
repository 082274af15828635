//! Writes that are not log entries, each with its permission check: one
//! module per area. The browser pages, the JSON API, the CLI and the demo
//! all call these; a web handler parses, calls and renders.
//!
//! Every write runs in the ledger writer's next batch (see
//! [`crate::ledger::writer`]): a running app has one write path, so none
//! waits for SQLite's write lock, and each shares the batch's fsync. A
//! write that changes what a cache holds says so on the bus
//! ([`crate::ledger::note_change`]) inside its job, so the note is rolled
//! back with it.
//!
//! | module | what it writes | who may |
//! |---|---|---|
//! | [`accounts`] | sign-up, profile, password, mail settings, unsubscribe | the account's owner (sign-up: anyone) |
//! | [`invitations`] | invitation links, and their mail | team admins |
//! | [`tokens`] | API tokens, status tokens | the account's owner; team admins |
//! | [`feeds`] | private feed URLs | the member, for themselves |
//! | [`integrations`] | code-host webhook secrets | team admins |
//! | [`health`] | the health check's write probe | the app itself |

pub mod accounts;
pub mod feeds;
pub mod health;
pub mod integrations;
pub mod invitations;
pub mod tokens;

use crate::domain::Violation;
use crate::domain::team::Role;
use crate::error::Result;

/// Someone acting in a team: who, which team, and their role there, as the
/// caller read it from the membership (the web's cached lookup, or the
/// database for the CLI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The acting user.
    pub user: i64,
    /// The team they act in.
    pub team: i64,
    /// Their role in it.
    pub role: Role,
}

impl Actor {
    /// Refuses anyone but a team admin.
    pub fn require_admin(&self) -> Result<()> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(Violation::Forbidden.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_pass_the_admin_check() {
        for role in Role::ALL {
            let actor = Actor {
                user: 1,
                team: 1,
                role,
            };
            assert_eq!(actor.require_admin().is_ok(), role == Role::Admin, "{role}");
        }
    }
}
