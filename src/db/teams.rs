//! Teams, memberships, invitations and areas.

use crate::on;
use sqlx::FromRow;

use super::{Ex, Timestamp};
use crate::domain::team::Role;

/// A team.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Team {
    /// Primary key.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// URL slug.
    pub slug: String,
    /// Key used in decision ids.
    pub key: String,
    /// Default window in hours.
    pub window_hours: i64,
    /// When created.
    pub created_at: Timestamp,
    /// Who created it.
    pub created_by: i64,
    /// Days a decision may wait after its window before it is overdue.
    pub decide_within_days: i64,
}

const TEAM_COLUMNS: &str =
    "id, name, slug, key, window_hours, created_at, created_by, decide_within_days";

/// A member with their role.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Member {
    /// User id.
    pub user_id: i64,
    /// Display name.
    pub display_name: String,
    /// Email.
    pub email: String,
    /// Role in this team.
    pub role: Role,
    /// When they (last) joined.
    pub joined_at: Timestamp,
}

/// The id the next team gets (writes are serialised, so this is safe).
pub async fn next_team_id(mut conn: Ex<'_>) -> Result<i64, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT COALESCE(MAX(id), 0) + 1 FROM teams"
    )
    .fetch_one(c)
    .await)
}

/// The id the next area gets.
pub async fn next_area_id(mut conn: Ex<'_>) -> Result<i64, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT COALESCE(MAX(id), 0) + 1 FROM areas"
    )
    .fetch_one(c)
    .await)
}

/// Inserts a team row (projection of `team_created`).
pub async fn insert_team(mut conn: Ex<'_>, team: &Team) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO teams (id, name, slug, key, window_hours, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug, key = excluded.key,
             window_hours = excluded.window_hours, created_at = excluded.created_at, created_by = excluded.created_by",
    )
    .bind(team.id)
    .bind(&team.name)
    .bind(&team.slug)
    .bind(&team.key)
    .bind(team.window_hours)
    .bind(team.created_at)
    .bind(team.created_by)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Whether a slug or key is already used by another team.
pub async fn slug_or_key_taken(
    mut conn: Ex<'_>,
    slug: &str,
    key: &str,
) -> Result<(bool, bool), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM teams WHERE slug = $1), EXISTS (SELECT 1 FROM teams WHERE key = $2)")
        .bind(slug)
        .bind(key)
        .fetch_one(c)
        .await
    })
}

/// A team by key.
pub async fn by_key(mut ex: Ex<'_>, key: &str) -> Result<Option<Team>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TEAM_COLUMNS} FROM teams WHERE key = $1"
    )))
    .bind(key)
    .fetch_optional(c)
    .await)
}

/// A team by slug.
pub async fn by_slug(mut ex: Ex<'_>, slug: &str) -> Result<Option<Team>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TEAM_COLUMNS} FROM teams WHERE slug = $1"
    )))
    .bind(slug)
    .fetch_optional(c)
    .await)
}

/// A team by id.
pub async fn by_id(mut ex: Ex<'_>, id: i64) -> Result<Option<Team>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await)
}

/// The teams a user belongs to, with their role, by name.
pub async fn of_user(mut ex: Ex<'_>, user_id: i64) -> Result<Vec<(Team, Role)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        team: Team,
        role: Role,
    }
    let rows: Vec<Row> = on!(ex, |c| {
        sqlx::query_as(
        "SELECT t.id, t.name, t.slug, t.key, t.window_hours, t.created_at, t.created_by, t.decide_within_days, m.role
         FROM teams t JOIN memberships m ON m.team_id = t.id
         WHERE m.user_id = $1 AND m.removed_at IS NULL ORDER BY t.name",
    )
    .bind(user_id)
    .fetch_all(c)
    .await
    })?;
    Ok(rows.into_iter().map(|r| (r.team, r.role)).collect())
}

/// How a team is named in a URL.
#[derive(Debug, Clone, Copy)]
pub enum TeamRef<'a> {
    /// `/d/KEY-N`.
    Key(&'a str),
    /// `/t/slug`.
    Slug(&'a str),
}

/// A member's view of a team: the team, their role in it, and the team's
/// log size when this was read.
#[derive(Clone, Debug)]
pub struct Membership {
    /// The team.
    pub team: Team,
    /// The member's role in it.
    pub role: Role,
    /// The team's log size when this was read.
    pub log_size: i64,
}

/// The team, the user's role in it and the size of its log, in one query
/// (`None`: no such team, or the user is not a member): what every team
/// page needs first.
pub async fn as_member(
    mut ex: Ex<'_>,
    team: TeamRef<'_>,
    user_id: i64,
) -> Result<Option<Membership>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        team: Team,
        role: Role,
        log_size: i64,
    }
    let (column, value) = match team {
        TeamRef::Key(key) => ("key", key),
        TeamRef::Slug(slug) => ("slug", slug),
    };
    let row: Option<Row> = on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.id, t.name, t.slug, t.key, t.window_hours, t.created_at, t.created_by, t.decide_within_days, m.role,
                COALESCE(h.size, 0) AS log_size
         FROM teams t
         JOIN memberships m ON m.team_id = t.id AND m.user_id = $2 AND m.removed_at IS NULL
         LEFT JOIN log_heads h ON h.team_id = t.id
         WHERE t.{column} = $1"
    )))
    .bind(value)
    .bind(user_id)
    .fetch_optional(c)
    .await
    })?;
    Ok(row.map(|r| Membership {
        team: r.team,
        role: r.role,
        log_size: r.log_size,
    }))
}

/// A user's current role in a team (`None`: not a member, or removed).
pub async fn role_of(
    mut ex: Ex<'_>,
    team_id: i64,
    user_id: i64,
) -> Result<Option<Role>, sqlx::Error> {
    // A named column, so an unreadable role names it.
    #[derive(FromRow)]
    struct Row {
        role: Role,
    }
    let row: Option<Row> = on!(ex, |c| {
        sqlx::query_as(
        "SELECT role FROM memberships WHERE team_id = $1 AND user_id = $2 AND removed_at IS NULL",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(c)
    .await
    })?;
    Ok(row.map(|r| r.role))
}

/// Current members, admins first, then by name.
pub async fn members(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<Member>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT u.id AS user_id, u.display_name, u.email, m.role, m.joined_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 AND m.removed_at IS NULL
         ORDER BY CASE m.role WHEN 'admin' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, u.display_name, u.id",
    )
    .bind(team_id)
    .fetch_all(c)
    .await
    })
}

/// Sets the days a decision may wait after its window (projection of
/// `decision_period_set`).
pub async fn set_decide_within_days(
    mut conn: Ex<'_>,
    team_id: i64,
    days: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "UPDATE teams SET decide_within_days = $1 WHERE id = $2"
    )
    .bind(days)
    .bind(team_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

impl Member {
    /// The member as someone a text can mention.
    pub fn mentionable(&self) -> crate::domain::mention::Mentionable {
        crate::domain::mention::Mentionable {
            user_id: self.user_id,
            display_name: self.display_name.clone(),
            email: self.email.clone(),
        }
    }
}

/// Adds a member, or re-activates a removed one with a new role.
pub async fn upsert_membership(
    mut conn: Ex<'_>,
    team_id: i64,
    user_id: i64,
    role: Role,
    at: Timestamp,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO memberships (team_id, user_id, role, joined_at, removed_at, log_idx) VALUES ($1, $2, $3, $4, NULL, $5)
         ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at,
             removed_at = NULL, log_idx = excluded.log_idx",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(at)
    .bind(log_idx)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Changes a member's role.
pub async fn set_role(
    mut conn: Ex<'_>,
    team_id: i64,
    user_id: i64,
    role: Role,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "UPDATE memberships SET role = $1, log_idx = $2 WHERE team_id = $3 AND user_id = $4",
    )
    .bind(role.as_str())
    .bind(log_idx)
    .bind(team_id)
    .bind(user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Marks a member removed (history stays).
pub async fn remove_member(
    mut conn: Ex<'_>,
    team_id: i64,
    user_id: i64,
    at: Timestamp,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "UPDATE memberships SET removed_at = $1, log_idx = $2 WHERE team_id = $3 AND user_id = $4",
    )
    .bind(at)
    .bind(log_idx)
    .bind(team_id)
    .bind(user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Number of current admins.
pub async fn admin_count(mut conn: Ex<'_>, team_id: i64) -> Result<i64, sqlx::Error> {
    on!(conn, |c| {
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE team_id = $1 AND role = 'admin' AND removed_at IS NULL")
        .bind(team_id)
        .fetch_one(c)
        .await
    })
}

// Invitations ---------------------------------------------------------------

/// A pending or used invitation.
#[derive(Debug, Clone, FromRow)]
pub struct Invitation {
    /// Primary key.
    pub id: i64,
    /// Team.
    pub team_id: i64,
    /// Role granted.
    pub role: Role,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Who used it, if anyone.
    pub accepted_by: Option<i64>,
    /// When created.
    pub created_at: Timestamp,
    /// The address it was mailed to, if any.
    pub email: Option<String>,
    /// When an admin revoked it, if one did.
    pub revoked_at: Option<Timestamp>,
    /// Who made it (display name).
    pub inviter: String,
}

/// The columns of [`Invitation`], from `invitations i JOIN users u`.
const INVITATION_COLUMNS: &str = "i.id, i.team_id, i.role, i.expires_at, i.accepted_by, i.created_at, \
     i.email, i.revoked_at, u.display_name AS inviter";

/// A new invitation (only its token's hash).
#[derive(Debug, Clone, Copy)]
pub struct NewInvitation<'a> {
    /// Team.
    pub team_id: i64,
    /// SHA-256 of the link's token.
    pub token_hash: &'a [u8],
    /// The role joining grants.
    pub role: Role,
    /// The admin who made it.
    pub created_by: i64,
    /// When.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// The address it is mailed to, if any.
    pub email: Option<&'a str>,
}

/// Stores a new invitation.
pub async fn insert_invitation(mut ex: Ex<'_>, new: NewInvitation<'_>) -> Result<(), sqlx::Error> {
    on!(ex, |c| {
        sqlx::query(
        "INSERT INTO invitations (team_id, token_hash, role, created_by, created_at, expires_at, email)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.team_id)
    .bind(new.token_hash)
    .bind(new.role.as_str())
    .bind(new.created_by)
    .bind(new.created_at)
    .bind(new.expires_at)
    .bind(new.email)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// An invitation by its token hash.
pub async fn invitation_by_hash(
    mut ex: Ex<'_>,
    token_hash: &[u8],
) -> Result<Option<Invitation>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN users u ON u.id = i.created_by
             WHERE i.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(c)
        .await
    })
}

/// Invitation `id` of `team_id`.
pub async fn invitation_by_id(
    mut ex: Ex<'_>,
    team_id: i64,
    id: i64,
) -> Result<Option<Invitation>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN users u ON u.id = i.created_by
             WHERE i.team_id = $1 AND i.id = $2"
        )))
        .bind(team_id)
        .bind(id)
        .fetch_optional(c)
        .await
    })
}

/// Revokes pending invitation `id` of `team_id`; whether it was pending.
pub async fn revoke_invitation(
    mut ex: Ex<'_>,
    team_id: i64,
    id: i64,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "UPDATE invitations SET revoked_at = $3
         WHERE team_id = $1 AND id = $2 AND accepted_by IS NULL AND revoked_at IS NULL"
    )
    .bind(team_id)
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Gives pending invitation `id` of `team_id` a new token and expiry (the
/// old link stops working); whether it was pending.
pub async fn renew_invitation(
    mut ex: Ex<'_>,
    team_id: i64,
    id: i64,
    token_hash: &[u8],
    expires_at: Timestamp,
) -> Result<bool, sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "UPDATE invitations SET token_hash = $3, expires_at = $4
         WHERE team_id = $1 AND id = $2 AND accepted_by IS NULL AND revoked_at IS NULL"
    )
    .bind(team_id)
    .bind(id)
    .bind(token_hash)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Marks an invitation used; false if it was used meanwhile.
pub async fn accept_invitation(
    mut conn: Ex<'_>,
    id: i64,
    user_id: i64,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = on!(conn, |c| {
        sqlx::query(
            "UPDATE invitations SET accepted_by = $1, accepted_at = $2
         WHERE id = $3 AND accepted_by IS NULL AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Unused, unexpired invitations of a team, newest first.
pub async fn pending_invitations(
    mut ex: Ex<'_>,
    team_id: i64,
    now: Timestamp,
) -> Result<Vec<Invitation>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN users u ON u.id = i.created_by
         WHERE i.team_id = $1 AND i.accepted_by IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2
         ORDER BY i.created_at DESC, i.id DESC",
    )))
    .bind(team_id)
    .bind(now)
    .fetch_all(c)
    .await
    })
}

// Areas ---------------------------------------------------------------------

/// An area and who decides in it.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Area {
    /// Primary key.
    pub id: i64,
    /// Team.
    pub team_id: i64,
    /// Name.
    pub name: String,
    /// What it covers.
    pub description: String,
    /// Default decider.
    pub default_decider_id: i64,
    /// Default decider's name.
    pub decider_name: String,
}

/// Inserts or replaces an area (projection of `area_saved`).
pub async fn save_area(
    mut conn: Ex<'_>,
    id: i64,
    team_id: i64,
    name: &str,
    description: &str,
    default_decider: i64,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO areas (id, team_id, name, description, default_decider_id, log_idx) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
             default_decider_id = excluded.default_decider_id, log_idx = excluded.log_idx",
    )
    .bind(id)
    .bind(team_id)
    .bind(name)
    .bind(description)
    .bind(default_decider)
    .bind(log_idx)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The areas of a team, by name.
pub async fn areas(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<Area>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT a.id, a.team_id, a.name, a.description, a.default_decider_id, u.display_name AS decider_name
         FROM areas a JOIN users u ON u.id = a.default_decider_id WHERE a.team_id = $1 ORDER BY a.name",
    )
    .bind(team_id)
    .fetch_all(c)
    .await
    })
}

/// One area of a team.
pub async fn area(mut ex: Ex<'_>, team_id: i64, id: i64) -> Result<Option<Area>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT a.id, a.team_id, a.name, a.description, a.default_decider_id, u.display_name AS decider_name
         FROM areas a JOIN users u ON u.id = a.default_decider_id WHERE a.team_id = $1 AND a.id = $2",
    )
    .bind(team_id)
    .bind(id)
    .fetch_optional(c)
    .await
    })
}

/// Whether another area of the team has this name.
pub async fn area_name_taken(
    mut conn: Ex<'_>,
    team_id: i64,
    name: &str,
    except: i64,
) -> Result<bool, sqlx::Error> {
    on!(conn, |c| {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM areas WHERE team_id = $1 AND lower(name) = lower($2) AND id <> $3)")
        .bind(team_id)
        .bind(name)
        .bind(except)
        .fetch_one(c)
        .await
    })
}

/// Sets whether the team's decision status is public (projection).
pub async fn set_status_public(
    mut conn: Ex<'_>,
    team_id: i64,
    public: bool,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "UPDATE teams SET status_public = $1 WHERE id = $2"
    )
    .bind(public)
    .bind(team_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Whether the team's decision status is public.
pub async fn status_public(mut ex: Ex<'_>, team_id: i64) -> Result<bool, sqlx::Error> {
    on!(ex, |c| sqlx::query_scalar(
        "SELECT status_public FROM teams WHERE id = $1"
    )
    .bind(team_id)
    .fetch_one(c)
    .await)
}

/// Stores a status token's hash.
pub async fn insert_status_token(
    mut ex: Ex<'_>,
    team_id: i64,
    label: &str,
    token_hash: &[u8],
    created_by: i64,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| {
        sqlx::query("INSERT INTO status_tokens (team_id, label, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(team_id)
        .bind(label)
        .bind(token_hash)
        .bind(created_by)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Whether a status token belongs to the team.
pub async fn status_token_valid(
    mut ex: Ex<'_>,
    team_id: i64,
    token_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    on!(ex, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM status_tokens WHERE team_id = $1 AND token_hash = $2)",
    )
    .bind(team_id)
    .bind(token_hash)
    .fetch_one(c)
    .await)
}

/// Labels of a team's status tokens, newest first.
pub async fn status_token_labels(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<String>, sqlx::Error> {
    on!(ex, |c| sqlx::query_scalar(
        "SELECT label FROM status_tokens WHERE team_id = $1 ORDER BY id DESC"
    )
    .bind(team_id)
    .fetch_all(c)
    .await)
}

/// Renames a team's key, keeping the old one as an alias (projection).
pub async fn rename_key(
    mut conn: Ex<'_>,
    team_id: i64,
    key: &str,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO team_key_aliases (key, team_id, log_idx) SELECT key, id, $1 FROM teams WHERE id = $2
         ON CONFLICT (key) DO UPDATE SET team_id = excluded.team_id, log_idx = excluded.log_idx",
    )
    .bind(log_idx)
    .bind(team_id)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    // A team taking back one of its former keys: it is no longer an alias.
    on!(conn, |c| sqlx::query(
        "DELETE FROM team_key_aliases WHERE key = $1 AND team_id = $2"
    )
    .bind(key)
    .bind(team_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    on!(conn, |c| sqlx::query(
        "UPDATE teams SET key = $1 WHERE id = $2"
    )
    .bind(key)
    .bind(team_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The team a former key belonged to.
pub async fn by_alias(mut ex: Ex<'_>, key: &str) -> Result<Option<Team>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TEAM_COLUMNS} FROM teams WHERE id = (SELECT team_id FROM team_key_aliases WHERE key = $1)"
    )))
    .bind(key)
    .fetch_optional(c)
    .await
    })
}

/// Every key a team answers to: its current key first, then former ones.
pub async fn keys(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<String>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_scalar(
        "SELECT key FROM (SELECT key, 0 AS o FROM teams WHERE id = $1
                          UNION ALL SELECT key, 1 AS o FROM team_key_aliases WHERE team_id = $1) AS k ORDER BY o, key",
    )
    .bind(team_id)
    .fetch_all(c)
    .await
    })
}

/// Whether a key is taken by any team, as current key or alias, other than `team_id`.
pub async fn key_taken(mut conn: Ex<'_>, key: &str, team_id: i64) -> Result<bool, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM teams WHERE key = $1 AND id <> $2)
             OR EXISTS (SELECT 1 FROM team_key_aliases WHERE key = $1 AND team_id <> $2)",
    )
    .bind(key)
    .bind(team_id)
    .fetch_one(c)
    .await)
}
