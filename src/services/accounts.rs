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

/// Replaces `user`'s password. The caller checks the current one first
/// ([`password_matches`]) and starts a new session.
pub async fn set_password(
    writer: &Writer,
    hasher: &Hasher,
    user: i64,
    new: NewPassword,
) -> Result<()> {
    let hash = hasher.hash(new.into_inner()).await?;
    writer
        .submit(move |conn| {
            Box::pin(async move {
                users::set_password_hash(conn, user, &hash).await?;
                note_change(Change::User {
                    user,
                    part: UserPart::Password,
                });
                Ok(())
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
