//! Digests (issue #4): daily or weekly (Mondays), at the hour each member
//! chose, in their own time zone.
//!
//! The digest clock asks, for each member with digests on, for the latest
//! *slot* at or before now: today's (or, weekly, this Monday's) local hour,
//! taken through the member's IANA zone, so it stays at 08:00 local across a
//! daylight-saving change (an hour that does not exist that night moves to
//! the first instant after the gap; one that exists twice, to the first).
//! A member whose last handled slot is older is due: per team, their digest
//! is built (what needs their stance, what closes within 48 hours, what was
//! decided since their last digest, new comments where they take part) and
//! queued as one outbox row, unless it would say nothing. The slot is
//! recorded either way, in the same transaction, and a row per member, team
//! and slot is unique, so each slot is handled once even with several
//! instances. A server that was down at the slot sends it when it is back,
//! once (older slots are not replayed).
//!
//! Digests are built team by team from a few set queries, not member by
//! member, so 10,000 members cost about as many queries as one team has
//! (the queries are `db::digest`). What a row holds is
//! [`DigestData`](super::compose::DigestData), beside the composer that
//! reads it back.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::compose::{Composer, DigestData, DigestView};
use crate::db::digest::{self as rows, NewDigest, OpenProposal};
use crate::db::{Db, Ex, teams, users};
use crate::error::{Error, Result};
use crate::ledger::writer::Writer;

/// How often digests come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Every day.
    Daily,
    /// Every Monday.
    Weekly,
}

impl Cadence {
    /// From the stored setting (`None` for `off`).
    pub fn parse(setting: &str) -> Option<Self> {
        match setting {
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            _ => None,
        }
    }

    /// The longest a digest looks back when there was no earlier one.
    fn period(self) -> Duration {
        match self {
            Self::Daily => Duration::days(1),
            Self::Weekly => Duration::days(7),
        }
    }

    /// For subjects: "daily", "weekly".
    pub fn word(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }
}

/// `hour:00` on `date` in `tz`, as an instant: the first instant after a
/// gap (spring forward), the earlier of two (fall back).
pub fn local_instant(tz: Tz, date: NaiveDate, hour: u32) -> Option<DateTime<Utc>> {
    let naive = date.and_hms_opt(hour.min(23), 0, 0)?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            // Gaps are at most a few hours: walk to the first local time
            // that exists, and take the start of that hour.
            (1..=3).find_map(|h| {
                tz.from_local_datetime(&(naive + Duration::hours(h)))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            })
        }
    }
}

/// The latest digest slot at or before `now`.
pub fn last_slot(now: DateTime<Utc>, tz: Tz, hour: u32, cadence: Cadence) -> Option<DateTime<Utc>> {
    let mut date = now.with_timezone(&tz).date_naive();
    for _ in 0..9 {
        if (cadence == Cadence::Daily || date.weekday() == Weekday::Mon)
            && let Some(at) = local_instant(tz, date, hour).filter(|at| *at <= now)
        {
            return Some(at);
        }
        date = date.pred_opt()?;
    }
    None
}

/// A member due for a digest slot.
#[derive(Debug, Clone)]
pub struct Due {
    /// The member.
    pub user_id: i64,
    /// Their address.
    pub email: String,
    /// Daily or weekly.
    pub cadence: Cadence,
    /// What the digest covers: since (exclusive) …
    pub since: DateTime<Utc>,
    /// … until the slot.
    pub slot: DateTime<Utc>,
    /// Whether opening notices are folded into this digest.
    pub opened: bool,
}

/// What one run of the clock did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    /// Members whose slot was due.
    pub due: usize,
    /// Digests queued (members × teams with something to say).
    pub queued: usize,
}

/// Members whose digest slot has come since their last one.
pub async fn due_members(pool: Ex<'_>, now: DateTime<Utc>) -> Result<Vec<Due>> {
    let subscribers = rows::subscribers(pool).await?;
    Ok(subscribers
        .into_iter()
        .filter_map(|s| {
            let cadence = Cadence::parse(s.digest.as_str())?;
            let tz = s.time_zone;
            let hour = u32::try_from(s.digest_hour).ok()?;
            let slot = last_slot(now, tz, hour, cadence)?;
            let last = s.last_digest_at.map(|t| t.0);
            if last.is_some_and(|l| l >= slot) {
                return None;
            }
            let since = last
                .unwrap_or(slot - cadence.period())
                .max(slot - cadence.period());
            Some(Due {
                user_id: s.id,
                email: s.email,
                cadence,
                since,
                slot,
                opened: s.digest_opened,
            })
        })
        .collect())
}

/// One team's recent activity, loaded once for all its due members.
struct TeamActivity {
    open: Vec<OpenProposal>,
    stances: HashSet<(i64, i64)>,
    /// (number, decided at), newest first.
    decided: Vec<(i64, DateTime<Utc>)>,
    /// (proposal id, number, author, at).
    comments: Vec<(i64, i64, i64, DateTime<Utc>)>,
    /// Who takes part in each proposal with new comments.
    takes_part: HashMap<i64, HashSet<i64>>,
}

async fn team_activity(
    pool: Ex<'_>,
    team_id: i64,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<TeamActivity> {
    let read = rows::activity(pool, team_id, since, until).await?;
    let mut takes_part: HashMap<i64, HashSet<i64>> = HashMap::new();
    for p in read.takes_part {
        takes_part
            .entry(p.proposal_id)
            .or_default()
            .insert(p.user_id);
    }
    Ok(TeamActivity {
        open: read.open,
        stances: read.stances.into_iter().collect(),
        decided: read
            .decided
            .into_iter()
            .map(|d| (d.number, d.decided_at.0))
            .collect(),
        comments: read
            .comments
            .into_iter()
            .map(|c| (c.proposal_id, c.number, c.author_id, c.created_at.0))
            .collect(),
        takes_part,
    })
}

impl TeamActivity {
    /// The digest of `user` (voting or not) for `(since, until]`.
    fn digest_for(
        &self,
        user: i64,
        votes: bool,
        folds_opened: bool,
        cadence: Cadence,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> DigestData {
        // Opened in the window by someone else and still open: said once,
        // under "Opened", not again under the sections below.
        let opened: Vec<i64> = if folds_opened {
            self.open
                .iter()
                .filter(|p| {
                    p.created_at.0 > since && p.created_at.0 <= until && p.author_id != user
                })
                .map(|p| p.number)
                .collect()
        } else {
            Vec::new()
        };
        let still_open: Vec<&OpenProposal> = self
            .open
            .iter()
            .filter(|p| p.closes_at.0 > until && !opened.contains(&p.number))
            .collect();
        let needs_stance: Vec<i64> = if votes {
            still_open
                .iter()
                .filter(|p| !self.stances.contains(&(p.id, user)))
                .map(|p| p.number)
                .collect()
        } else {
            Vec::new()
        };
        let soon = until + Duration::hours(48);
        let closing_soon = still_open
            .iter()
            .filter(|p| p.closes_at.0 <= soon && !needs_stance.contains(&p.number))
            .map(|p| p.number)
            .collect();
        let decided = self
            .decided
            .iter()
            .filter(|(_, at)| *at > since && *at <= until)
            .map(|(n, _)| *n)
            .collect();
        let mut counts: Vec<(i64, i64)> = Vec::new();
        for (proposal, number, author, at) in &self.comments {
            // Author and decider are among the people who take part.
            let involved = self
                .takes_part
                .get(proposal)
                .is_some_and(|people| people.contains(&user));
            if *author == user || *at <= since || *at > until || !involved {
                continue;
            }
            match counts.iter_mut().find(|(n, _)| n == number) {
                Some((_, c)) => *c += 1,
                None => counts.push((*number, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        DigestData {
            cadence: cadence.word().to_string(),
            since,
            until,
            opened,
            needs_stance,
            closing_soon,
            decided,
            comments: counts,
        }
    }
}

/// Builds and queues the digests due at `now`; records each due member's
/// slot. Returns how many members were due and digests queued.
pub async fn queue_due(db: &Db, writer: &Writer, now: DateTime<Utc>) -> Result<Run> {
    let mut pool = db.reader();
    let due = due_members(pool.re(), now).await?;
    if due.is_empty() {
        return Ok(Run::default());
    }
    let by_user: HashMap<i64, &Due> = due.iter().map(|d| (d.user_id, d)).collect();
    let mut by_team: HashMap<i64, Vec<(&Due, bool)>> = HashMap::new();
    for m in rows::memberships(pool.re()).await? {
        if let Some(d) = by_user.get(&m.user_id) {
            by_team
                .entry(m.team_id)
                .or_default()
                .push((d, m.role.can_vote()));
        }
    }
    let mut digests = Vec::new();
    let mut team_ids: Vec<i64> = by_team.keys().copied().collect();
    team_ids.sort_unstable();
    for team_id in team_ids {
        let members = &by_team[&team_id];
        let since = members.iter().map(|(d, _)| d.since).min().unwrap_or(now);
        let until = members.iter().map(|(d, _)| d.slot).max().unwrap_or(now);
        let activity = team_activity(pool.re(), team_id, since, until).await?;
        for (d, votes) in members {
            let digest =
                activity.digest_for(d.user_id, *votes, d.opened, d.cadence, d.since, d.slot);
            if digest.is_empty() {
                continue;
            }
            digests.push(NewDigest {
                user_id: d.user_id,
                email: d.email.clone(),
                team_id,
                slot: d.slot,
                data: serde_json::to_string(&digest).map_err(anyhow::Error::from)?,
            });
        }
    }
    let handled: Vec<(i64, DateTime<Utc>)> = due.iter().map(|d| (d.user_id, d.slot)).collect();
    let run = Run {
        due: due.len(),
        queued: digests.len(),
    };
    writer
        .submit(move |mut conn| {
            Box::pin(async move {
                rows::store(conn.re(), &digests, &handled, now).await?;
                Ok(())
            })
        })
        .await?;
    Ok(run)
}

/// The digest `user` would get now from each of their teams, as it would
/// be sent (`None`: nothing to say, no mail). With digests off, a daily one.
pub async fn previews(
    composer: &Composer,
    user: &users::User,
    now: DateTime<Utc>,
) -> Result<Vec<(teams::Team, Option<DigestView>)>> {
    let db = &composer.db;
    let settings = users::mail_settings(db, user.id)
        .await?
        .ok_or(Error::NotFound)?;
    let cadence = Cadence::parse(settings.digest.as_str()).unwrap_or(Cadence::Daily);
    // Since their last digest, or one period back.
    let since = rows::last_digest_at(db.reader(), user.id)
        .await?
        .map_or(now - cadence.period(), |t| t.0)
        .max(now - cadence.period());
    let mut out = Vec::new();
    for (team, role) in teams::of_user(db.reader(), user.id).await? {
        let activity = team_activity(db.reader(), team.id, since, now).await?;
        let data = activity.digest_for(
            user.id,
            role.can_vote(),
            settings.digest_opened,
            cadence,
            since,
            now,
        );
        let view = if data.is_empty() {
            None
        } else {
            Some(
                composer
                    .digest(&team, &data, user.id, user.time_zone, now)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        };
        out.push((team, view));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn daily_slots_keep_the_local_hour_across_daylight_saving() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        // US daylight saving ends on 1 November 2026: 08:00 EDT is 12:00Z
        // before, 08:00 EST is 13:00Z after.
        assert_eq!(
            last_slot(utc("2026-10-31T20:00:00Z"), ny, 8, Cadence::Daily),
            Some(utc("2026-10-31T12:00:00Z"))
        );
        assert_eq!(
            last_slot(utc("2026-11-01T12:30:00Z"), ny, 8, Cadence::Daily),
            Some(utc("2026-10-31T12:00:00Z")),
            "07:30 EST on the 1st: the day's slot has not come"
        );
        assert_eq!(
            last_slot(utc("2026-11-01T13:00:00Z"), ny, 8, Cadence::Daily),
            Some(utc("2026-11-01T13:00:00Z"))
        );
    }

    #[test]
    fn a_slot_in_a_gap_moves_past_it_and_a_repeated_hour_takes_the_first() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        // 29 March 2026: 02:00 does not exist in Berlin (02:00 -> 03:00).
        let date = NaiveDate::from_ymd_opt(2026, 3, 29).expect("date");
        assert_eq!(
            local_instant(berlin, date, 2),
            Some(utc("2026-03-29T01:00:00Z")),
            "03:00 CEST"
        );
        // 25 October 2026: 02:00 happens twice; the first is CEST.
        let date = NaiveDate::from_ymd_opt(2026, 10, 25).expect("date");
        assert_eq!(
            local_instant(berlin, date, 2),
            Some(utc("2026-10-25T00:00:00Z"))
        );
    }

    #[test]
    fn weekly_slots_are_on_mondays() {
        let tokyo: Tz = "Asia/Tokyo".parse().expect("zone");
        // Tuesday 24 November 2026, 10:00 in Tokyo: the slot was Monday
        // 23 November, 09:00 JST = 00:00Z.
        assert_eq!(
            last_slot(utc("2026-11-24T01:00:00Z"), tokyo, 9, Cadence::Weekly),
            Some(utc("2026-11-23T00:00:00Z"))
        );
    }
}
