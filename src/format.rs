//! How people read values: an instant in the reader's time zone and
//! relative to now. Shared by pages (`web`) and mail (`mail`), so it sits
//! below both; nothing here does I/O or knows about requests.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// An instant shown to a person: in their time zone and relative to now,
/// with the exact UTC value for machines (`<time datetime>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// RFC 3339 in UTC.
    pub iso: String,
    /// In the viewer's zone, e.g. `Tue 24 Nov 2026, 15:00 CET`.
    pub local: String,
    /// e.g. `in 2 days`, `3 hours ago`.
    pub relative: String,
}

/// The local format (`Tue 24 Nov 2026, 15:00 CET`), parsed once: a page
/// formats a hundred instants, and parsing the pattern each time was the
/// largest single cost of rendering one.
static LOCAL_FORMAT: LazyLock<Vec<chrono::format::Item<'static>>> = LazyLock::new(|| {
    chrono::format::StrftimeItems::new("%a %-d %b %Y, %H:%M %Z")
        .parse_to_owned()
        .unwrap_or_default()
});

/// Formats `t` for a viewer in `tz` at `now`.
pub fn when(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> When {
    When {
        iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        local: t
            .with_timezone(&tz)
            .format_with_items(LOCAL_FORMAT.iter())
            .to_string(),
        relative: relative(t, now),
    }
}

/// `in 3 hours`, `2 days ago`, `just now`: whole units, rounded down, with
/// months of 30 days.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (t - now).num_seconds();
    let future = seconds > 0;
    let s = seconds.unsigned_abs();
    let amount = match s {
        0..=59 => return "just now".into(),
        60..=3_599 => plural(s / 60, "minute"),
        3_600..=86_399 => plural(s / 3_600, "hour"),
        86_400..=2_591_999 => plural(s / 86_400, "day"),
        _ => plural(s / 2_592_000, "month"),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A window's end relative to `now`: "closes in 2 days" before it,
/// "closed 5 minutes ago" after it.
pub fn window(closes_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let verb = if closes_at > now { "closes" } else { "closed" };
    format!("{verb} {}", relative(closes_at, now))
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_as_closing_or_closed() {
        let now = Utc::now();
        assert_eq!(
            window(now + chrono::Duration::hours(49), now),
            "closes in 2 days"
        );
        assert_eq!(
            window(now - chrono::Duration::minutes(5), now),
            "closed 5 minutes ago"
        );
        assert_eq!(window(now, now), "closed just now");
    }

    #[test]
    fn times_read_naturally() {
        let now = Utc::now();
        assert_eq!(
            relative(now + chrono::Duration::hours(49), now),
            "in 2 days"
        );
        assert_eq!(
            relative(now - chrono::Duration::minutes(1), now),
            "1 minute ago"
        );
        assert_eq!(relative(now, now), "just now");
        let t = DateTime::parse_from_rfc3339("2026-07-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let shown = when(t, chrono_tz::Europe::Berlin, t);
        assert_eq!(shown.local, "Wed 1 Jul 2026, 14:00 CEST");
    }
}
