//! Accounts: sign-up, profile, password, mail settings and unsubscribing.
//! Each acts on the caller's own account; sign-up is open to anyone (the
//! web rate-limits it).

use crate::db::{self, Timestamp, users};
use crate::domain::account::{DisplayName, Email, NewPassword};
use crate::domain::mail::Scope;
use crate::error::{Error, Result};
use crate::ledger::bus::{Change, UserPart};
use crate::ledger::note_change;
use crate::ledger::writer::Writer;
use crate::password::Hasher;

/// Creates an account; the first one is the instance admin.
pub async fn register(
    writer: &Writer,
    hasher: &Hasher,
    email: Email,
    name: DisplayName,
    password: NewPassword,
    tz: chrono_tz::Tz,
) -> Result<users::User> {
    let hash = hasher.hash(password.into_inner()).await?;
    writer
        .submit(move |conn| {
            Box::pin(async move {
                users::insert(
                    conn,
                    email.as_str(),
                    &email.normalized(),
                    name.as_str(),
                    &hash,
                    tz.name(),
                    Timestamp(db::now()),
                )
                .await
                .map_err(|err| {
                    if db::is_unique_violation(&err) {
                        Error::Taken {
                            field: "email",
                            message: "an account with this email already exists; sign in instead"
                                .into(),
                        }
                    } else {
                        err.into()
                    }
                })
            })
        })
        .await
}

/// Sets `user`'s display name and time zone.
pub async fn update_profile(
    writer: &Writer,
    user: i64,
    name: DisplayName,
    tz: chrono_tz::Tz,
) -> Result<()> {
    let (name, tz) = (name.as_str().to_string(), tz.name().to_string());
    writer
        .submit(move |conn| {
            Box::pin(async move {
                users::update_profile(conn, user, &name, &tz).await?;
                note_change(Change::User {
                    user,
                    part: UserPart::Profile,
                });
                Ok(())
            })
        })
        .await
}

/// Whether `current` is `user`'s password now.
pub async fn password_matches(
    db: &db::Db,
    hasher: &Hasher,
    user: i64,
    current: String,
) -> Result<bool> {
    let stored = users::password_hash(db, user).await?;
    Ok(hasher.verify(current, stored).await)
}

/// Replaces `user`'s password, and ends every session of the account and
/// every reset link, in one transaction: a stolen session or an old link
/// stops working on every instance at once. Returns how many sessions
/// ended. The caller checks the current password first
/// ([`password_matches`]) or a reset link ([`reset_password`]), and signs
/// the person in again with a new session.
pub async fn set_password(
    writer: &Writer,
    hasher: &Hasher,
    user: i64,
    new: NewPassword,
) -> Result<usize> {
    let hash = hasher.hash(new.into_inner()).await?;
    writer
        .submit(move |mut conn| {
            Box::pin(async move { store_password(conn.re(), user, &hash, db::now()).await })
        })
        .await
}

/// Stores a password hash, ends the sessions and drops the reset links.
async fn store_password(
    mut conn: db::Ex<'_>,
    user: i64,
    hash: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize> {
    users::set_password_hash(conn.re(), user, hash).await?;
    users::delete_resets(conn.re(), user, now).await?;
    let ended = end_sessions(conn.re(), user, None).await?;
    note_change(Change::User {
        user,
        part: UserPart::Password,
    });
    Ok(ended)
}

/// Deletes `user`'s sessions but `keep`, and tells this instance's kept
/// copies (other instances read sessions from the database).
async fn end_sessions(conn: db::Ex<'_>, user: i64, keep: Option<&str>) -> Result<usize> {
    let ended = db::sessions::delete_of_user(conn, user, keep).await?;
    for id in &ended {
        if let Ok(id) = id.parse::<tower_sessions::session::Id>() {
            note_change(Change::Session { id: id.0 });
        }
    }
    Ok(ended.len())
}

/// Signs `user` out everywhere but the session `keep` (or everywhere);
/// how many sessions ended.
pub async fn sign_out_everywhere(
    writer: &Writer,
    user: i64,
    keep: Option<String>,
) -> Result<usize> {
    writer
        .submit(move |mut conn| {
            Box::pin(async move { end_sessions(conn.re(), user, keep.as_deref()).await })
        })
        .await
}

/// Ends `user`'s session `id`; whether it was one of theirs.
pub async fn sign_out_session(writer: &Writer, user: i64, id: String) -> Result<bool> {
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                let done = db::sessions::delete_one_of_user(conn.re(), user, &id).await?;
                if let Ok(id) = id.parse::<tower_sessions::session::Id>() {
                    note_change(Change::Session { id: id.0 });
                }
                Ok(done)
            })
        })
        .await
}

/// How long a password reset link works.
pub const RESET_VALID: chrono::Duration = chrono::Duration::hours(1);

/// Makes a password reset link's token for `user`, valid for
/// [`RESET_VALID`] from `now`; only its hash is stored.
pub async fn create_reset(
    writer: &Writer,
    user: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let token = crate::services::tokens::new_secret("")?;
    let hash = users::token_hash(&token);
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                users::insert_reset(conn.re(), user, &hash, now, now + RESET_VALID).await?;
                Ok(())
            })
        })
        .await?;
    Ok(token)
}

/// The account a reset link `token` opens, if it is still valid at `now`.
pub async fn reset_link_user(
    db: &db::Db,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<i64>> {
    Ok(users::reset_user(db.reader(), &users::token_hash(token), now).await?)
}

/// Sets a new password through reset link `token`: the link must still be
/// valid when the new password is stored (checked again in the write's
/// transaction, so it works once even when two tabs send it). Ends every
/// session of the account. The account, or `None` if the link is not
/// valid (used, expired or never made).
pub async fn reset_password(
    writer: &Writer,
    hasher: &Hasher,
    db: &db::Db,
    token: &str,
    new: NewPassword,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<i64>> {
    // Hash only for a link that works: anyone can send this form.
    if reset_link_user(db, token, now).await?.is_none() {
        return Ok(None);
    }
    let password = hasher.hash(new.into_inner()).await?;
    let token_hash = users::token_hash(token);
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                let Some(user) = users::reset_user(conn.re(), &token_hash, now).await? else {
                    return Ok(None);
                };
                store_password(conn.re(), user, &password, now).await?;
                Ok(Some(user))
            })
        })
        .await
}

/// Saves `user`'s mail settings.
pub async fn set_mail_settings(
    writer: &Writer,
    user: i64,
    settings: users::MailSettings,
) -> Result<()> {
    writer
        .submit(move |conn| {
            Box::pin(async move {
                users::set_mail_settings(conn, user, &settings).await?;
                note_change(Change::User {
                    user,
                    part: UserPart::MailSettings,
                });
                Ok(())
            })
        })
        .await
}

/// Turns one kind of mail off for `user` (a signed unsubscribe link, which
/// the caller has checked); whether anything changed.
pub async fn unsubscribe(writer: &Writer, user: i64, scope: Scope) -> Result<bool> {
    writer
        .submit(move |conn| {
            Box::pin(async move {
                let done = users::unsubscribe(conn, user, scope).await?;
                note_change(Change::User {
                    user,
                    part: UserPart::MailSettings,
                });
                Ok(done)
            })
        })
        .await
}

/// How long `email_norm` must still wait before its next sign-in attempt
/// at `now`, after failed ones ([`crate::domain::account::sign_in_wait`]);
/// `None` when it may try.
pub async fn sign_in_wait(
    db: &db::Db,
    email_norm: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<chrono::Duration>> {
    use crate::domain::account::{SIGN_IN_FAILURES_KEPT, sign_in_wait};
    let Some(f) = users::sign_in_failures(db, email_norm).await? else {
        return Ok(None);
    };
    if f.last_at.0 + SIGN_IN_FAILURES_KEPT < now {
        return Ok(None);
    }
    let until = f.last_at.0 + sign_in_wait(f.failures);
    Ok((until > now).then(|| until - now))
}

/// Counts a failed sign-in for `email_norm` at `now`.
pub async fn failed_sign_in(
    writer: &Writer,
    email_norm: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let stale = now - crate::domain::account::SIGN_IN_FAILURES_KEPT;
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                users::fail_sign_in(conn.re(), &email_norm, now, stale).await?;
                Ok(())
            })
        })
        .await
}

/// A successful sign-in of `email_norm` forgets its failures (no write
/// when there were none).
pub async fn signed_in(writer: &Writer, db: &db::Db, email_norm: String) -> Result<()> {
    if users::sign_in_failures(db, &email_norm).await?.is_none() {
        return Ok(());
    }
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                users::clear_sign_in_failures(conn.re(), &email_norm).await?;
                Ok(())
            })
        })
        .await
}
