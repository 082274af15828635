//! How values kept as text columns come back as the app's own types: each
//! decodes when its row is read, on either backend, so nothing past `db`
//! sees the stored string, and a value this version cannot read (written
//! by hand, by another version, or a time zone name the bundled database
//! lost) is an error naming the column and the value, never a default.
//! Writes bind each value's `as_str()`.
//!
//! The impls of domain types live here, not beside the types, so `domain`
//! stays free of sqlx (one crate, so the orphan rule allows them); the
//! db's own enums (feed kinds, mail kinds, digest settings, …) invoke
//! [`text_column`] beside their definitions. `chrono_tz::Tz` is
//! another crate's type: a column of it is read through [`ZoneName`].

use chrono_tz::Tz;
use sqlx::error::BoxDynError;

use crate::domain::change::EntryKind;
use crate::domain::proposal::{Outcome, Position, Status};
use crate::domain::team::Role;

/// A stored value this version cannot read. sqlx wraps it in
/// [`sqlx::Error::ColumnDecode`], which names the column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable {what} {value:?}")]
pub struct Unreadable {
    /// What the column holds ("proposal status").
    pub what: &'static str,
    /// The stored text.
    pub value: String,
}

/// `parse(text)`, or an [`Unreadable`] naming `what` and the text.
pub(super) fn read<T>(
    text: &str,
    what: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, BoxDynError> {
    parse(text).ok_or_else(|| {
        Box::new(Unreadable {
            what,
            value: text.to_string(),
        }) as BoxDynError
    })
}

/// Implements `sqlx::Type` and `sqlx::Decode` for both backends for a type
/// stored as text: `text_column!(Type, "what it is", |text| Option<Type>)`,
/// or, for an enum with `ALL` and `as_str`, `text_column!(Type, "what")`,
/// which reads exactly the names `as_str` writes (no trimming, no case
/// folding: the stored text is what this version wrote).
macro_rules! text_column {
    ($ty:ty, $what:literal) => {
        $crate::db::decode::text_column!($ty, $what, |text| <$ty>::ALL
            .into_iter()
            .find(|v| v.as_str() == text));
    };
    ($ty:ty, $what:literal, $parse:expr) => {
        impl ::sqlx::Type<::sqlx::Sqlite> for $ty {
            fn type_info() -> ::sqlx::sqlite::SqliteTypeInfo {
                <String as ::sqlx::Type<::sqlx::Sqlite>>::type_info()
            }
            fn compatible(ty: &::sqlx::sqlite::SqliteTypeInfo) -> bool {
                <String as ::sqlx::Type<::sqlx::Sqlite>>::compatible(ty)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Sqlite> for $ty {
            fn decode(
                value: ::sqlx::sqlite::SqliteValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                $crate::db::decode::read(
                    <&str as ::sqlx::Decode<'r, ::sqlx::Sqlite>>::decode(value)?,
                    $what,
                    $parse,
                )
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $ty {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <String as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <String as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $ty {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                $crate::db::decode::read(
                    <&str as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?,
                    $what,
                    $parse,
                )
            }
        }
    };
}
pub(crate) use text_column;

text_column!(Status, "proposal status");
text_column!(Position, "stance position");
text_column!(Outcome, "decision outcome");
text_column!(Role, "member role");
text_column!(EntryKind, "log entry kind");
text_column!(ZoneName, "time zone", |text| text
    .parse::<Tz>()
    .ok()
    .map(ZoneName));

/// A time zone column as stored (its IANA name), decoded into a
/// `chrono_tz::Tz`. Only a carrier: a field reads it with
/// `#[sqlx(try_from = "ZoneName")] time_zone: Tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneName(pub Tz);

impl From<ZoneName> for Tz {
    fn from(zone: ZoneName) -> Self {
        zone.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::on;

    /// `text` decoded as a `T` by a real query, or the error's words.
    async fn decoded<T>(db: &Db, text: &str) -> Result<T, String>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        on!(
            db.reader(),
            |c| sqlx::query_scalar::<_, T>("SELECT $1 AS stored")
                .bind(text)
                .fetch_one(c)
                .await,
            {
                let _ = c;
                unreachable!("a scratch database is SQLite")
            }
        )
        .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn only_the_names_this_version_writes_are_read() {
        let db = Db::scratch().await.expect("scratch");
        for s in Status::ALL {
            assert_eq!(decoded::<Status>(&db, s.as_str()).await, Ok(s));
        }
        for bad in ["", "Open", " open", "opened"] {
            let read = decoded::<Status>(&db, bad).await;
            assert!(
                read.as_ref()
                    .is_err_and(|e| e.ends_with(&format!("unreadable proposal status {bad:?}"))),
                "{bad:?} read as {read:?}"
            );
        }
        assert_eq!(
            decoded::<ZoneName>(&db, "Europe/Berlin").await,
            Ok(ZoneName(chrono_tz::Europe::Berlin))
        );
        assert!(
            decoded::<ZoneName>(&db, "Mars/Olympus")
                .await
                .is_err_and(|e| e.ends_with("unreadable time zone \"Mars/Olympus\"")),
        );
    }
}
