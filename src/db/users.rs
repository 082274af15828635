//! Accounts and personal API tokens.

use crate::on;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest as _, Sha256};
use sqlx::FromRow;

use super::decode::ZoneName;
use super::{Db, Ex, Timestamp};
use crate::domain::InvalidInput;
use crate::domain::mail::Scope;

/// A user as the app sees them (no password hash).
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Email as typed.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Their time zone (stored as its IANA name): times are shown in it.
    #[sqlx(try_from = "ZoneName")]
    pub time_zone: Tz,
    /// Instance admin.
    pub is_admin: bool,
}

const USER_COLUMNS: &str = "id, email, display_name, time_zone, is_admin";

/// Inserts a user; the first user of an instance becomes instance admin.
/// Fails with a unique violation if the email is taken.
pub async fn insert(
    mut conn: Ex<'_>,
    email: &str,
    email_norm: &str,
    display_name: &str,
    password_hash: &str,
    time_zone: &str,
    now: Timestamp,
) -> Result<User, sqlx::Error> {
    // The first account becomes the instance admin: on PostgreSQL, two
    // sign-ups at once must not both find the table empty.
    super::lock(conn.re(), super::Lock::Accounts).await?;
    on!(conn, |c| {
        sqlx::query_as(
        "INSERT INTO users (email, email_norm, display_name, password_hash, time_zone, is_admin, created_at)
         VALUES ($1, $2, $3, $4, $5, NOT EXISTS (SELECT 1 FROM users), $6)
         RETURNING id, email, display_name, time_zone, is_admin",
    )
    .bind(email)
    .bind(email_norm)
    .bind(display_name)
    .bind(password_hash)
    .bind(time_zone)
    .bind(now)
    .fetch_one(c)
    .await
    })
}

/// Finds a user by id.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
        format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")
    ))
    .bind(id)
    .fetch_optional(c)
    .await)
}

/// Finds a user by (case-insensitive) email.
pub async fn by_email(db: &Db, email_norm: &str) -> Result<Option<User>, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_as(sqlx::AssertSqlSafe(
        format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = $1")
    ))
    .bind(email_norm)
    .fetch_optional(c)
    .await)
}

/// A user's id and password hash, for sign-in.
pub async fn credentials(db: &Db, email_norm: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE email_norm = $1"
    )
    .bind(email_norm)
    .fetch_optional(c)
    .await)
}

/// A user's password hash.
pub async fn password_hash(db: &Db, id: i64) -> Result<Option<String>, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT password_hash FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)
}

/// Replaces a user's password hash.
pub async fn set_password_hash(mut ex: Ex<'_>, id: i64, hash: &str) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "UPDATE users SET password_hash = $1 WHERE id = $2"
    )
    .bind(hash)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Updates profile settings.
pub async fn update_profile(
    mut ex: Ex<'_>,
    id: i64,
    display_name: &str,
    time_zone: &str,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "UPDATE users SET display_name = $1, time_zone = $2 WHERE id = $3"
    )
    .bind(display_name)
    .bind(time_zone)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Whether any account exists (first-run detection).
pub async fn any(db: &Db) -> Result<bool, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users)"
    )
    .fetch_one(c)
    .await)
}

/// SHA-256 of an API token: tokens are 256 random bits, so a fast hash is
/// safe and lets a look-up be one indexed query.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new personal API token (only its hash).
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// Its owner.
    pub user_id: i64,
    /// What the owner calls it.
    pub label: &'a str,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// It can only read.
    pub read_only: bool,
    /// When made.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
}

/// Stores a new API token's hash.
pub async fn insert_token(mut ex: Ex<'_>, new: NewToken<'_>) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "INSERT INTO api_tokens (user_id, label, token_hash, created_at, scope, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new.user_id)
    .bind(new.label)
    .bind(new.token_hash)
    .bind(new.created_at)
    .bind(if new.read_only { "read" } else { "write" })
    .bind(new.expires_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A personal API token as its owner sees it (never the token itself).
#[derive(Debug, Clone, FromRow)]
pub struct Token {
    /// Primary key.
    pub id: i64,
    /// What the owner calls it.
    pub label: String,
    /// `read` or `write`.
    pub scope: String,
    /// When made.
    pub created_at: Timestamp,
    /// When last used (to within an hour).
    pub last_used_at: Option<Timestamp>,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
}

/// `user`'s API tokens, newest first (expired ones too, until revoked).
pub async fn tokens(db: &Db, user: i64) -> Result<Vec<Token>, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_as(
        "SELECT id, label, scope, created_at, last_used_at, expires_at FROM api_tokens
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user)
    .fetch_all(c)
    .await)
}

/// Deletes `user`'s token `id`; whether it was theirs.
pub async fn delete_token(mut ex: Ex<'_>, user: i64, id: i64) -> Result<bool, sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "DELETE FROM api_tokens WHERE user_id = $1 AND id = $2"
    )
    .bind(user)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Notes that token `id` was used at `now`.
pub async fn touch_token(mut ex: Ex<'_>, id: i64, now: Timestamp) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

/// A token presented to the API, with its owner.
#[derive(Debug, Clone, FromRow)]
pub struct Presented {
    /// The token's id.
    pub token_id: i64,
    /// `read` or `write`.
    pub scope: String,
    /// When last used.
    pub last_used_at: Option<Timestamp>,
    /// The owner.
    #[sqlx(flatten)]
    pub user: User,
}

/// The token `token` and its owner, if it exists and has not expired at
/// `now`.
pub async fn by_token(
    db: &Db,
    token: &str,
    now: Timestamp,
) -> Result<Option<Presented>, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_as(
        "SELECT t.id AS token_id, t.scope, t.last_used_at,
                u.id, u.email, u.display_name, u.time_zone, u.is_admin
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(token_hash(token))
    .bind(now)
    .fetch_optional(c)
    .await)
}

/// A member's mail settings (issue #4).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct MailSettings {
    /// Mail when named decider.
    pub notify_decider: bool,
    /// Mail when a proposal of one's teams is decided or withdrawn.
    pub notify_decided: bool,
    /// Mail when a proposal opens or changes its decider or deadline.
    pub notify_opened: bool,
    /// With a digest on: opening notices come in the digest instead.
    pub digest_opened: bool,
    /// A reminder a day before a deadline without one's stance.
    pub notify_reminder: bool,
    /// Mail when a proposal of one's teams waits too long for its decision.
    pub notify_overdue: bool,
    /// Mail when someone mentions one (@name).
    pub notify_mentioned: bool,
    /// Whether digests come, and how often.
    pub digest: Digest,
    /// The local hour digests go out at.
    pub digest_hour: i64,
}

/// How often a member's digest comes (`digest` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// No digests.
    Off,
    /// Every day, at the member's hour.
    Daily,
    /// Every Monday, at the member's hour.
    Weekly,
}

impl Digest {
    /// Every setting.
    pub const ALL: [Self; 3] = [Self::Off, Self::Daily, Self::Weekly];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Digest {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| InvalidInput::new("digest", "must be off, daily or weekly"))
    }
}

/// The mail settings of `id`.
pub async fn mail_settings(db: &Db, id: i64) -> Result<Option<MailSettings>, sqlx::Error> {
    on!(db.reader(), |c| {
        sqlx::query_as(
        "SELECT notify_decider, notify_decided, notify_opened, digest_opened, notify_reminder, notify_overdue,
                notify_mentioned, digest, digest_hour
         FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await
    })
}

/// Saves the mail settings of `id`.
pub async fn set_mail_settings(
    mut ex: Ex<'_>,
    id: i64,
    s: &MailSettings,
) -> Result<(), sqlx::Error> {
    // Turning digests on starts from now: the first one comes at the next
    // slot, not at one already past.
    on!(ex, |c| {
        sqlx::query(
        "UPDATE users SET notify_decider = $1, notify_decided = $2, notify_reminder = $3,
                last_digest_at = CASE WHEN digest = 'off' AND $4 <> 'off' THEN $7 ELSE last_digest_at END,
                digest = $4, digest_hour = $5, notify_opened = $8, digest_opened = $9, notify_overdue = $10,
                notify_mentioned = $11
         WHERE id = $6",
    )
    .bind(s.notify_decider)
    .bind(s.notify_decided)
    .bind(s.notify_reminder)
    .bind(s.digest.as_str())
    .bind(s.digest_hour)
    .bind(id)
    .bind(Timestamp(super::now()))
    .bind(s.notify_opened)
    .bind(s.digest_opened)
    .bind(s.notify_overdue)
    .bind(s.notify_mentioned)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Turns one kind of mail off for `id` (an unsubscribe link); whether the
/// account exists.
pub async fn unsubscribe(mut ex: Ex<'_>, id: i64, scope: Scope) -> Result<bool, sqlx::Error> {
    let sql = match scope {
        Scope::Decider => "UPDATE users SET notify_decider = FALSE WHERE id = $1",
        Scope::Decided => "UPDATE users SET notify_decided = FALSE WHERE id = $1",
        Scope::Opened => "UPDATE users SET notify_opened = FALSE WHERE id = $1",
        Scope::Reminder => "UPDATE users SET notify_reminder = FALSE WHERE id = $1",
        Scope::Overdue => "UPDATE users SET notify_overdue = FALSE WHERE id = $1",
        Scope::Mentioned => "UPDATE users SET notify_mentioned = FALSE WHERE id = $1",
        Scope::Digest => "UPDATE users SET digest = 'off' WHERE id = $1",
    };
    Ok(on!(ex, |c| sqlx::query(sql)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?
        == 1)
}

super::decode::text_column!(Digest, "digest setting");

/// Stores a password reset link's token hash for `user`, valid until
/// `expires`.
pub async fn insert_reset(
    mut ex: Ex<'_>,
    user: i64,
    hash: &[u8],
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)"
    )
    .bind(hash)
    .bind(user)
    .bind(Timestamp(now))
    .bind(Timestamp(expires))
    .execute(c)
    .await
    .map(|_| ()))
}

/// The account whose reset link has token hash `hash`, if the link is still
/// valid at `now`.
pub async fn reset_user(
    mut ex: Ex<'_>,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    on!(ex, |c| sqlx::query_scalar(
        "SELECT user_id FROM password_resets WHERE token_hash = $1 AND expires_at > $2"
    )
    .bind(hash)
    .bind(Timestamp(now))
    .fetch_optional(c)
    .await)
}

/// Deletes every reset link of `user` (the password was set), and any
/// expired link of anyone.
pub async fn delete_resets(
    mut ex: Ex<'_>,
    user: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "DELETE FROM password_resets WHERE user_id = $1 OR expires_at <= $2"
    )
    .bind(user)
    .bind(Timestamp(now))
    .execute(c)
    .await
    .map(|_| ()))
}

/// Failed sign-ins for an email address: how many, and the latest.
#[derive(Debug, Clone, FromRow)]
pub struct Failures {
    /// Failures in a row.
    pub failures: i64,
    /// The latest.
    pub last_at: Timestamp,
}

/// The failed sign-ins recorded for `email_norm`.
pub async fn sign_in_failures(db: &Db, email_norm: &str) -> Result<Option<Failures>, sqlx::Error> {
    on!(db.reader(), |c| sqlx::query_as(
        "SELECT failures, last_at FROM sign_in_failures WHERE email_norm = $1"
    )
    .bind(email_norm)
    .fetch_optional(c)
    .await)
}

/// Counts a failed sign-in for `email_norm` at `now`; a count whose latest
/// failure is before `stale` starts again at one.
pub async fn fail_sign_in(
    mut ex: Ex<'_>,
    email_norm: &str,
    now: DateTime<Utc>,
    stale: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "INSERT INTO sign_in_failures (email_norm, failures, last_at) VALUES ($1, 1, $2)
         ON CONFLICT (email_norm) DO UPDATE SET
             failures = CASE WHEN sign_in_failures.last_at < $3 THEN 1
                             ELSE sign_in_failures.failures + 1 END,
             last_at = $2"
    )
    .bind(email_norm)
    .bind(Timestamp(now))
    .bind(Timestamp(stale))
    .execute(c)
    .await
    .map(|_| ()))
}

/// Forgets the failed sign-ins of `email_norm` (it signed in).
pub async fn clear_sign_in_failures(mut ex: Ex<'_>, email_norm: &str) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "DELETE FROM sign_in_failures WHERE email_norm = $1"
    )
    .bind(email_norm)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Deletes failure counts whose latest failure is before `stale`.
pub async fn sweep_sign_in_failures(
    mut ex: Ex<'_>,
    stale: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on!(ex, |c| sqlx::query(
        "DELETE FROM sign_in_failures WHERE last_at < $1"
    )
    .bind(Timestamp(stale))
    .execute(c)
    .await
    .map(|_| ()))
}

/// An account as the instance admin page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct Account {
    /// Primary key.
    pub id: i64,
    /// Email as typed.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Instance admin.
    pub is_admin: bool,
    /// Teams it belongs to now.
    pub teams: i64,
    /// The latest write of any of its sessions (Unix seconds).
    pub last_seen: Option<i64>,
}

/// Every account (the first `limit`), by name.
pub async fn accounts(db: &Db, limit: i64) -> Result<Vec<Account>, sqlx::Error> {
    on!(db.reader(), |c| {
        sqlx::query_as(
        "SELECT u.id, u.email, u.display_name, u.is_admin,
                (SELECT COUNT(*) FROM memberships m WHERE m.user_id = u.id AND m.removed_at IS NULL) AS teams,
                (SELECT MAX(s.seen_at) FROM sessions s WHERE s.user_id = u.id) AS last_seen
         FROM users u ORDER BY u.display_name, u.id LIMIT $1"
    )
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

/// Grants or revokes instance admin for `user`, unless that would leave
/// the instance without one; whether it changed. Run it in a transaction:
/// on PostgreSQL it first locks the admins' rows, so two admins revoking
/// each other at once on two instances cannot both succeed (SQLite has one
/// writer).
pub async fn set_instance_admin(
    mut ex: Ex<'_>,
    user: i64,
    admin: bool,
) -> Result<bool, sqlx::Error> {
    on!(
        ex,
        |_c| Ok::<(), sqlx::Error>(()),
        sqlx::query("SELECT id FROM users WHERE is_admin ORDER BY id FOR UPDATE")
            .execute(_c)
            .await
            .map(|_| ())
    )?;
    on!(ex, |c| sqlx::query(
        "UPDATE users SET is_admin = $2
         WHERE id = $1 AND is_admin <> $2
           AND ($2 OR EXISTS (SELECT 1 FROM users o WHERE o.is_admin AND o.id <> $1))"
    )
    .bind(user)
    .bind(admin)
    .execute(c)
    .await
    .map(|r| r.rows_affected() == 1))
}
