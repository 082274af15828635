//! Who carries what (issue #19): each decider's open, waiting and overdue
//! proposals, and how fast their recent decisions came.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::on;

use super::{Ex, Timestamp};

/// Days of decisions a decider's pace is measured over.
pub const RECENT_DAYS: i64 = 90;

/// One decider's load in a team.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Load {
    /// The decider.
    pub user_id: i64,
    /// Their name.
    pub name: String,
    /// Open proposals they decide.
    pub open: i64,
    /// Of those, ready for their decision (window ended, or everyone
    /// responded).
    pub waiting: i64,
    /// Of those, past the team's period after the window.
    pub overdue: i64,
    /// Decisions they recorded in the last [`RECENT_DAYS`].
    pub decided: i64,
    /// Median days from a window's end to the decision, over those (a
    /// decision before the window ended counts as 0).
    pub median_days: Option<f64>,
}

/// The load of everyone who decides an open proposal of the team, decided
/// one in the last [`RECENT_DAYS`], or is an area's default decider (still
/// a member); the heaviest first. `days`: the team's period after the
/// window.
pub async fn of_team(
    mut ex: Ex<'_>,
    team_id: i64,
    now: DateTime<Utc>,
    days: i64,
) -> Result<Vec<Load>, sqlx::Error> {
    let open: Vec<(i64, String, Timestamp, Option<Timestamp>)> = on!(ex, |c| sqlx::query_as(
        "SELECT p.decider_id, u.display_name, p.closes_at, p.ready_at
         FROM proposals p JOIN users u ON u.id = p.decider_id
         WHERE p.team_id = $1 AND p.status = 'open'"
    )
    .bind(team_id)
    .fetch_all(c)
    .await)?;
    let decided: Vec<(i64, String, Timestamp, Timestamp)> = on!(ex, |c| {
        sqlx::query_as(
        "SELECT d.decided_by, u.display_name, d.decided_at, p.closes_at
         FROM decisions d JOIN proposals p ON p.id = d.proposal_id JOIN users u ON u.id = d.decided_by
         WHERE p.team_id = $1 AND d.decided_at >= $2"
    )
    .bind(team_id)
    .bind(Timestamp(now - Duration::days(RECENT_DAYS)))
    .fetch_all(c)
    .await
    })?;
    let defaults: Vec<(i64, String)> = on!(ex, |c| {
        sqlx::query_as(
        "SELECT DISTINCT a.default_decider_id, u.display_name
         FROM areas a JOIN users u ON u.id = a.default_decider_id
         JOIN memberships m ON m.team_id = a.team_id AND m.user_id = a.default_decider_id AND m.removed_at IS NULL
         WHERE a.team_id = $1"
    )
    .bind(team_id)
    .fetch_all(c)
    .await
    })?;
    let mut by_user: BTreeMap<i64, Load> = BTreeMap::new();
    fn entry<'m>(by_user: &'m mut BTreeMap<i64, Load>, user: i64, name: &str) -> &'m mut Load {
        by_user.entry(user).or_insert_with(|| Load {
            user_id: user,
            name: name.to_string(),
            ..Load::default()
        })
    }
    for (user, name) in &defaults {
        entry(&mut by_user, *user, name);
    }
    let mut paces: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (user, name, closes_at, ready_at) in &open {
        let load = entry(&mut by_user, *user, name);
        load.open += 1;
        if closes_at.0 <= now || ready_at.is_some() {
            load.waiting += 1;
        }
        if now >= closes_at.0 + Duration::days(days) {
            load.overdue += 1;
        }
    }
    for (user, name, decided_at, closes_at) in &decided {
        entry(&mut by_user, *user, name).decided += 1;
        let after = (decided_at.0 - closes_at.0).num_seconds().max(0);
        paces
            .entry(*user)
            .or_default()
            .push(after as f64 / 86_400.0);
    }
    for (user, mut days) in paces {
        if let Some(load) = by_user.get_mut(&user) {
            load.median_days = median(&mut days);
        }
    }
    let mut loads: Vec<Load> = by_user.into_values().collect();
    loads.sort_by(|a, b| {
        (b.overdue, b.waiting, b.open, b.decided)
            .cmp(&(a.overdue, a.waiting, a.open, a.decided))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(loads)
}

/// The median of `values` (sorted in place), if any.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_or_the_mean_of_the_two_middles() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [9.0, 1.0, 4.0]), Some(4.0));
        assert_eq!(median(&mut [1.0, 4.0, 2.0, 10.0]), Some(3.0));
    }
}
