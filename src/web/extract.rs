//! Shared extractors: the team a signed-in viewer belongs to, by slug.

use super::AppState;
use crate::db::teams::{self, Team};
use crate::db::users::User;
use crate::domain::team::Role;
use crate::error::{Error, Result};
use crate::services::Actor;
use crate::web::Membership;

/// A team the viewer belongs to, with their role. Non-members get 404.
pub async fn membership(state: &AppState, slug: &str, user: &User) -> Result<(Team, Role)> {
    let Membership { team, role, .. } = state
        .as_member(teams::TeamRef::Slug(slug), user.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((team, role))
}

/// The services' view of `user` acting in `team` with `role`.
pub fn actor(team: &Team, role: Role, user: &User) -> Actor {
    Actor {
        user: user.id,
        team: team.id,
        role,
    }
}
