//! Proposals, revisions, stances, comments and decision records.

use crate::on;
use sqlx::FromRow;

use super::{Ex, Timestamp};
use crate::domain::proposal::{Outcome, Position, ProposalState, Status, Voter};
use crate::domain::team::Role;

/// A proposal with the names a page needs.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Proposal {
    /// Primary key.
    pub id: i64,
    /// Team.
    pub team_id: i64,
    /// Per-team number.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Current body (Markdown).
    pub body: String,
    /// Area id.
    pub area_id: Option<i64>,
    /// Area name.
    pub area_name: Option<String>,
    /// Author.
    pub author_id: i64,
    /// Author's name.
    pub author_name: String,
    /// Decider.
    pub decider_id: i64,
    /// Decider's name.
    pub decider_name: String,
    /// Opened at.
    pub created_at: Timestamp,
    /// End of the window.
    pub closes_at: Timestamp,
    /// Where it stands.
    pub status: Status,
    /// Why withdrawn.
    pub withdrawn_reason: Option<String>,
    /// Number it supersedes.
    pub supersedes: Option<i64>,
    /// Number that superseded it.
    pub superseded_by: Option<i64>,
    /// When its current decider was told it is ready for their decision.
    pub ready_at: Option<Timestamp>,
    /// When its decider was last reminded it is overdue.
    pub overdue_told_at: Option<Timestamp>,
    /// When its waiting was escalated to the admins.
    pub escalated_at: Option<Timestamp>,
}

impl Proposal {
    /// The facts the rules need.
    pub fn state(&self) -> ProposalState {
        ProposalState {
            status: self.status,
            author: self.author_id,
            decider: self.decider_id,
            closes_at: self.closes_at.0,
        }
    }
}

const PROPOSAL_SELECT: &str =
    "SELECT p.id, p.team_id, p.number, p.title, p.body, p.area_id, a.name AS area_name,
    p.author_id, au.display_name AS author_name, p.decider_id, de.display_name AS decider_name,
    p.created_at, p.closes_at, p.status, p.withdrawn_reason, p.supersedes, p.superseded_by, p.ready_at,
    p.overdue_told_at, p.escalated_at
  FROM proposals p
  JOIN users au ON au.id = p.author_id
  JOIN users de ON de.id = p.decider_id
  LEFT JOIN areas a ON a.id = p.area_id";

/// A proposal by team and number.
pub async fn by_number(
    mut ex: Ex<'_>,
    team_id: i64,
    number: i64,
) -> Result<Option<Proposal>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PROPOSAL_SELECT} WHERE p.team_id = $1 AND p.number = $2"
    )))
    .bind(team_id)
    .bind(number)
    .fetch_optional(c)
    .await)
}

/// A proposal by team and number, with `user`'s role in the team (`None`
/// for a non-member), in one query: what every command on a proposal
/// checks first.
pub async fn by_number_as(
    ex: Ex<'_>,
    team_id: i64,
    number: i64,
    user_id: i64,
) -> Result<Option<(Option<Role>, Proposal)>, sqlx::Error> {
    Ok(as_actor(ex, team_id, number, user_id, false)
        .await?
        .map(|(role, p, _)| (role, p)))
}

/// As [`by_number_as`], and whether `user` has a stance on it yet, in the
/// same query (a stance's command asks, without a statement of its own).
pub async fn by_number_as_voter(
    ex: Ex<'_>,
    team_id: i64,
    number: i64,
    user_id: i64,
) -> Result<Option<(Option<Role>, Proposal, bool)>, sqlx::Error> {
    as_actor(ex, team_id, number, user_id, true).await
}

async fn as_actor(
    mut ex: Ex<'_>,
    team_id: i64,
    number: i64,
    user_id: i64,
    stanced: bool,
) -> Result<Option<(Option<Role>, Proposal, bool)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        proposal: Proposal,
        actor_role: Option<Role>,
        actor_stanced: bool,
    }
    let stanced = if stanced {
        "EXISTS (SELECT 1 FROM stances s WHERE s.proposal_id = q.id AND s.user_id = $3)"
    } else {
        "FALSE"
    };
    let row: Option<Row> = on!(ex, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT q.*, (SELECT m.role FROM memberships m
                      WHERE m.team_id = q.team_id AND m.user_id = $3 AND m.removed_at IS NULL)
                     AS actor_role, {stanced} AS actor_stanced
         FROM ({PROPOSAL_SELECT} WHERE p.team_id = $1 AND p.number = $2) q"
    )))
    .bind(team_id)
    .bind(number)
    .bind(user_id)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|r| (r.actor_role, r.proposal, r.actor_stanced)))
}

/// Several proposals of a team by number (repeats allowed), in one query,
/// by number.
pub async fn by_numbers_map(
    ex: Ex<'_>,
    team_id: i64,
    numbers: impl IntoIterator<Item = i64>,
) -> Result<std::collections::HashMap<i64, Proposal>, sqlx::Error> {
    let mut numbers: Vec<i64> = numbers.into_iter().collect();
    numbers.sort_unstable();
    numbers.dedup();
    Ok(by_numbers(ex, team_id, &numbers)
        .await?
        .into_iter()
        .map(|p| (p.number, p))
        .collect())
}

/// Several proposals of a team by number, in one query (order not kept).
pub async fn by_numbers(
    mut ex: Ex<'_>,
    team_id: i64,
    numbers: &[i64],
) -> Result<Vec<Proposal>, sqlx::Error> {
    on!(
        ex,
        |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PROPOSAL_SELECT} WHERE p.team_id = $1 AND p.number IN (SELECT value FROM json_each($2))"
        )))
        .bind(team_id)
        .bind(serde_json::to_string(numbers).unwrap_or_else(|_| "[]".into()))
        .fetch_all(c)
        .await
        },
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PROPOSAL_SELECT} WHERE p.team_id = $1 AND p.number = ANY($2)"
        )))
        .bind(team_id)
        .bind(numbers)
        .fetch_all(c)
        .await
    )
}

/// Filters for listing proposals.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this area.
    pub area: Option<i64>,
    /// Only titles containing this text (case-insensitive).
    pub text: Option<String>,
    /// Only windows that ended by then (with `status` open: overdue).
    pub closed_by: Option<Timestamp>,
}

/// Proposals of a team, newest first, filtered.
pub async fn list(
    mut ex: Ex<'_>,
    team_id: i64,
    filter: &ListFilter,
    limit: i64,
) -> Result<Vec<Proposal>, sqlx::Error> {
    // Substring search without LIKE, so `%` and `_` in the text are literal.
    let find = if ex.is_pg() { "strpos" } else { "instr" };
    on!(ex, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PROPOSAL_SELECT} WHERE p.team_id = $1
           AND ($2 IS NULL OR p.status = $2)
           AND ($3 IS NULL OR p.area_id = $3)
           AND ($4 IS NULL OR {find}(lower(p.title), lower($4)) > 0)
           AND ($6 IS NULL OR p.closes_at <= $6)
         ORDER BY p.number DESC LIMIT $5"
    )))
    .bind(team_id)
    .bind(filter.status.map(Status::as_str))
    .bind(filter.area)
    .bind(filter.text.as_deref())
    .bind(limit)
    .bind(filter.closed_by)
    .fetch_all(c)
    .await)
}

/// Every open proposal of a team, soonest window end first.
pub async fn open(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<Proposal>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PROPOSAL_SELECT} WHERE p.team_id = $1 AND p.status = 'open' ORDER BY p.closes_at, p.number"
    )))
    .bind(team_id)
    .fetch_all(c)
    .await
    })
}

/// `(proposal id, user id)` for every member who took a stance on an open
/// proposal of the team.
pub async fn stanced_open(mut ex: Ex<'_>, team_id: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT DISTINCT s.proposal_id, s.user_id FROM stances s
         JOIN proposals p ON p.id = s.proposal_id
         WHERE p.team_id = $1 AND p.status = 'open'"
    )
    .bind(team_id)
    .fetch_all(c)
    .await)
}

/// `(proposal id, user id, position)`: every member's current stance on
/// each open proposal of the team.
pub async fn current_stances_open(
    mut ex: Ex<'_>,
    team_id: i64,
) -> Result<Vec<(i64, i64, Position)>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT s.proposal_id, s.user_id, s.position FROM stances s
         JOIN proposals p ON p.id = s.proposal_id
         WHERE p.team_id = $1 AND p.status = 'open'
           AND s.log_idx = (SELECT MAX(s2.log_idx) FROM stances s2
                            WHERE s2.proposal_id = s.proposal_id AND s2.user_id = s.user_id)"
    )
    .bind(team_id)
    .fetch_all(c)
    .await)
}

/// Recently decided proposals, newest decision first.
pub async fn recently_decided(
    mut ex: Ex<'_>,
    team_id: i64,
    limit: i64,
) -> Result<Vec<Proposal>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PROPOSAL_SELECT} JOIN decisions d ON d.proposal_id = p.id WHERE p.team_id = $1
         ORDER BY d.decided_at DESC LIMIT $2"
    )))
    .bind(team_id)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// Voting members (admins and members) with their current positions.
pub async fn voters(
    mut ex: Ex<'_>,
    team_id: i64,
    proposal_id: i64,
) -> Result<Vec<Voter>, sqlx::Error> {
    let rows: Vec<VoterRow> = on!(ex, |c| {
        sqlx::query_as(
        "SELECT u.id, u.display_name,
           (SELECT s.position FROM stances s WHERE s.proposal_id = $2 AND s.user_id = u.id ORDER BY s.log_idx DESC LIMIT 1)
             AS position
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 AND m.removed_at IS NULL AND m.role IN ('admin', 'member')
         ORDER BY u.display_name, u.id",
    )
    .bind(team_id)
    .bind(proposal_id)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| Voter {
            user: r.id,
            name: r.display_name,
            current: r.position,
        })
        .collect())
}

/// Open proposals whose decider has not been told they are ready for a
/// decision although they are: the window ended by `now`, or every voting
/// member responded. `(team_id, number)`, soonest window end first.
pub async fn ready_unprompted(
    mut ex: Ex<'_>,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT p.team_id, p.number FROM proposals p
         WHERE p.status = 'open' AND p.ready_at IS NULL
           AND (p.closes_at <= $1 OR NOT EXISTS (
             SELECT 1 FROM memberships m
             WHERE m.team_id = p.team_id AND m.removed_at IS NULL AND m.role IN ('admin', 'member')
               AND NOT EXISTS (SELECT 1 FROM stances s WHERE s.proposal_id = p.id AND s.user_id = m.user_id)))
         ORDER BY p.closes_at, p.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

/// An open proposal whose window ended a while ago, with what the overdue
/// clock needs to know.
#[derive(Debug, Clone, FromRow)]
pub struct Waiting {
    /// Team.
    pub team_id: i64,
    /// Number.
    pub number: i64,
    /// Decider.
    pub decider_id: i64,
    /// The decider's time zone (IANA name).
    pub time_zone: String,
    /// End of the window.
    pub closes_at: Timestamp,
    /// The team's period.
    pub decide_within_days: i64,
    /// The last overdue reminder.
    pub overdue_told_at: Option<Timestamp>,
    /// The escalation.
    pub escalated_at: Option<Timestamp>,
    /// Whether an escalation would tell anyone: an admin or the area's
    /// default decider other than the decider.
    pub others_to_tell: bool,
}

/// Open proposals whose window ended by `before`, soonest first.
pub async fn waiting(
    mut ex: Ex<'_>,
    before: Timestamp,
    limit: i64,
) -> Result<Vec<Waiting>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT p.team_id, p.number, p.decider_id, u.time_zone, p.closes_at, t.decide_within_days,
                p.overdue_told_at, p.escalated_at,
                (EXISTS (SELECT 1 FROM memberships m
                         WHERE m.team_id = p.team_id AND m.removed_at IS NULL AND m.role = 'admin'
                           AND m.user_id <> p.decider_id)
                 OR EXISTS (SELECT 1 FROM areas a
                            JOIN memberships m ON m.team_id = a.team_id AND m.user_id = a.default_decider_id
                                              AND m.removed_at IS NULL
                            WHERE a.id = p.area_id AND a.default_decider_id <> p.decider_id)) AS others_to_tell
         FROM proposals p JOIN teams t ON t.id = p.team_id JOIN users u ON u.id = p.decider_id
         WHERE p.status = 'open' AND p.closes_at <= $1
         ORDER BY p.closes_at, p.id LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

/// Whether every voting member of `team_id` has a stance on proposal
/// `proposal_id`.
pub async fn all_responded(
    mut ex: Ex<'_>,
    team_id: i64,
    proposal_id: i64,
) -> Result<bool, sqlx::Error> {
    let missing: Option<i64> = on!(ex, |c| {
        sqlx::query_scalar(
        "SELECT m.user_id FROM memberships m
         WHERE m.team_id = $1 AND m.removed_at IS NULL AND m.role IN ('admin', 'member')
           AND NOT EXISTS (SELECT 1 FROM stances s WHERE s.proposal_id = $2 AND s.user_id = m.user_id)
         LIMIT 1",
    )
    .bind(team_id)
    .bind(proposal_id)
    .fetch_optional(c)
    .await
    })?;
    Ok(missing.is_none())
}

/// A voter as read (named columns, so an unreadable position names its
/// column).
#[derive(FromRow)]
struct VoterRow {
    id: i64,
    display_name: String,
    position: Option<Position>,
}

/// One row of the stance table: a voting member, their current stance and
/// their share of the comments.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct StanceRow {
    /// Member.
    pub user_id: i64,
    /// Name.
    pub display_name: String,
    /// Current position, if any.
    pub position: Option<Position>,
    /// Reason given with it.
    pub reason: Option<String>,
    /// When taken.
    pub taken_at: Option<Timestamp>,
    /// How many stances they took in all (history length).
    pub changes: i64,
    /// How many comments they wrote on this proposal.
    pub comments: i64,
}

/// The stance table: one row per current voting member.
pub async fn stance_table(
    mut ex: Ex<'_>,
    team_id: i64,
    proposal_id: i64,
) -> Result<Vec<StanceRow>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT u.id AS user_id, u.display_name, cur.position, cur.reason, cur.created_at AS taken_at,
           (SELECT COUNT(*) FROM stances s WHERE s.proposal_id = $2 AND s.user_id = u.id) AS changes,
           (SELECT COUNT(*) FROM comments c WHERE c.proposal_id = $2 AND c.author_id = u.id) AS comments
         FROM memberships m JOIN users u ON u.id = m.user_id
         LEFT JOIN stances cur ON cur.proposal_id = $2 AND cur.user_id = u.id AND cur.log_idx =
           (SELECT MAX(s2.log_idx) FROM stances s2 WHERE s2.proposal_id = $2 AND s2.user_id = u.id)
         WHERE m.team_id = $1 AND m.removed_at IS NULL AND m.role IN ('admin', 'member')
         ORDER BY u.display_name, u.id",
    )
    .bind(team_id)
    .bind(proposal_id)
    .fetch_all(c)
    .await
    })
}

/// A stance in the history.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct StanceHistory {
    /// Log index.
    pub log_idx: i64,
    /// Member.
    pub user_id: i64,
    /// Name.
    pub display_name: String,
    /// Position.
    pub position: Position,
    /// Reason.
    pub reason: Option<String>,
    /// When.
    pub created_at: Timestamp,
}

/// Every stance ever taken on a proposal, oldest first.
pub async fn stance_history(
    mut ex: Ex<'_>,
    proposal_id: i64,
) -> Result<Vec<StanceHistory>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT s.log_idx, s.user_id, u.display_name, s.position, s.reason, s.created_at
         FROM stances s JOIN users u ON u.id = s.user_id WHERE s.proposal_id = $1 ORDER BY s.log_idx",
    )
    .bind(proposal_id)
    .fetch_all(c)
    .await
    })
}

/// A comment.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Comment {
    /// Log index.
    pub log_idx: i64,
    /// Author.
    pub author_id: i64,
    /// Author's name.
    pub author_name: String,
    /// Markdown.
    pub body: String,
    /// When.
    pub created_at: Timestamp,
}

/// Comments on a proposal, oldest first.
pub async fn comments(mut ex: Ex<'_>, proposal_id: i64) -> Result<Vec<Comment>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT c.log_idx, c.author_id, u.display_name AS author_name, c.body, c.created_at
         FROM comments c JOIN users u ON u.id = c.author_id WHERE c.proposal_id = $1 ORDER BY c.log_idx",
    )
    .bind(proposal_id)
    .fetch_all(c)
    .await
    })
}

/// A revision of a proposal's body.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Revision {
    /// From 1.
    pub revision: i64,
    /// Markdown.
    pub body: String,
    /// When.
    pub created_at: Timestamp,
    /// Log index.
    pub log_idx: i64,
}

/// Every revision of a proposal's body, oldest first.
pub async fn revisions(mut ex: Ex<'_>, proposal_id: i64) -> Result<Vec<Revision>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as("SELECT revision, body, created_at, log_idx FROM proposal_revisions WHERE proposal_id = $1 ORDER BY revision")
        .bind(proposal_id)
        .fetch_all(c)
        .await
    })
}

/// A decider change, for the page.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct DeciderChange {
    /// Log index.
    pub log_idx: i64,
    /// Previous decider's name.
    pub from_name: String,
    /// New decider's name.
    pub to_name: String,
    /// Who changed it.
    pub by_name: String,
    /// When.
    pub changed_at: Timestamp,
}

/// Decider changes of a proposal, oldest first.
pub async fn decider_changes(
    mut ex: Ex<'_>,
    proposal_id: i64,
) -> Result<Vec<DeciderChange>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT c.log_idx, f.display_name AS from_name, t.display_name AS to_name, b.display_name AS by_name, c.changed_at
         FROM decider_changes c JOIN users f ON f.id = c.from_id JOIN users t ON t.id = c.to_id JOIN users b ON b.id = c.changed_by
         WHERE c.proposal_id = $1 ORDER BY c.log_idx",
    )
    .bind(proposal_id)
    .fetch_all(c)
    .await
    })
}

/// The recorded decision.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Decision {
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// What was agreed.
    pub statement: String,
    /// Why.
    pub rationale: String,
    /// The decider.
    pub decided_by: i64,
    /// Decider's name.
    pub decided_by_name: String,
    /// When.
    pub decided_at: Timestamp,
    /// Sealing entry.
    pub log_idx: i64,
    /// Its leaf hash.
    pub leaf_hash: Vec<u8>,
    /// Tree size right after it.
    pub tree_size: i64,
    /// Root at that size.
    pub root_hash: Vec<u8>,
}

/// The decision on a proposal, if recorded.
pub async fn decision(mut ex: Ex<'_>, proposal_id: i64) -> Result<Option<Decision>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT d.outcome, d.statement, d.rationale, d.decided_by, u.display_name AS decided_by_name, d.decided_at,
                d.log_idx, d.leaf_hash, d.tree_size, d.root_hash
         FROM decisions d JOIN users u ON u.id = d.decided_by WHERE d.proposal_id = $1",
    )
    .bind(proposal_id)
    .fetch_optional(c)
    .await
    })
}

/// A response to an objection in a decision record.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Response {
    /// The objector.
    pub user_id: i64,
    /// Their name.
    pub display_name: String,
    /// Their email.
    pub email: String,
    /// The decider's response.
    pub response: String,
}

/// Responses in a decision record.
pub async fn responses(mut ex: Ex<'_>, proposal_id: i64) -> Result<Vec<Response>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT r.user_id, u.display_name, u.email, r.response FROM decision_responses r JOIN users u ON u.id = r.user_id
         WHERE r.proposal_id = $1 ORDER BY u.display_name",
    )
    .bind(proposal_id)
    .fetch_all(c)
    .await
    })
}

// Projection writes -----------------------------------------------------------

/// Values of a new proposal row.
#[derive(Debug, Clone)]
pub struct NewProposalRow<'a> {
    /// Team.
    pub team_id: i64,
    /// Number.
    pub number: i64,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub body: &'a str,
    /// Area.
    pub area_id: Option<i64>,
    /// Author.
    pub author_id: i64,
    /// Decider.
    pub decider_id: i64,
    /// Opened at.
    pub created_at: Timestamp,
    /// Window end.
    pub closes_at: Timestamp,
    /// Superseded number.
    pub supersedes: Option<i64>,
    /// Log index.
    pub log_idx: i64,
}

/// Inserts a proposal with its first revision; returns its id.
pub async fn insert_proposal(mut conn: Ex<'_>, p: &NewProposalRow<'_>) -> Result<i64, sqlx::Error> {
    let id: i64 = on!(conn, |c| {
        sqlx::query_scalar(
        "INSERT INTO proposals (team_id, number, title, body, area_id, author_id, decider_id, created_at, closes_at,
             status, supersedes, log_idx)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11) RETURNING id",
    )
    .bind(p.team_id)
    .bind(p.number)
    .bind(p.title)
    .bind(p.body)
    .bind(p.area_id)
    .bind(p.author_id)
    .bind(p.decider_id)
    .bind(p.created_at)
    .bind(p.closes_at)
    .bind(p.supersedes)
    .bind(p.log_idx)
    .fetch_one(c)
    .await
    })?;
    insert_revision(conn.re(), id, 1, p.body, p.created_at, p.log_idx).await?;
    on!(conn, |c| sqlx::query(
        "UPDATE teams SET next_number = $1 WHERE id = $2 AND next_number <= $1"
    )
    .bind(p.number + 1)
    .bind(p.team_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(id)
}

/// The next proposal number of a team.
pub async fn next_number(mut conn: Ex<'_>, team_id: i64) -> Result<i64, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT next_number FROM teams WHERE id = $1"
    )
    .bind(team_id)
    .fetch_one(c)
    .await)
}

/// Stores a body revision and makes it current.
pub async fn insert_revision(
    mut conn: Ex<'_>,
    proposal_id: i64,
    revision: i64,
    body: &str,
    at: Timestamp,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query("INSERT INTO proposal_revisions (proposal_id, revision, body, created_at, log_idx) VALUES ($1, $2, $3, $4, $5)")
        .bind(proposal_id)
        .bind(revision)
        .bind(body)
        .bind(at)
        .bind(log_idx)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    on!(conn, |c| sqlx::query(
        "UPDATE proposals SET body = $1, log_idx = $2 WHERE id = $3"
    )
    .bind(body)
    .bind(log_idx)
    .bind(proposal_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Number of revisions so far.
pub async fn revision_count(mut conn: Ex<'_>, proposal_id: i64) -> Result<i64, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM proposal_revisions WHERE proposal_id = $1"
    )
    .bind(proposal_id)
    .fetch_one(c)
    .await)
}

/// Names a new decider and records the change.
pub async fn change_decider(
    mut conn: Ex<'_>,
    proposal_id: i64,
    from: i64,
    to: i64,
    by: i64,
    at: Timestamp,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "UPDATE proposals SET decider_id = $1, ready_at = NULL, overdue_told_at = NULL, escalated_at = NULL,
           log_idx = $2 WHERE id = $3"
    )
    .bind(to)
    .bind(log_idx)
    .bind(proposal_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO decider_changes (proposal_id, log_idx, from_id, to_id, changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(proposal_id)
    .bind(log_idx)
    .bind(from)
    .bind(to)
    .bind(by)
    .bind(at)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Moves the window's end.
pub async fn set_closes_at(
    mut conn: Ex<'_>,
    proposal_id: i64,
    closes_at: Timestamp,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "UPDATE proposals SET closes_at = $1, ready_at = NULL, overdue_told_at = NULL, escalated_at = NULL,
           log_idx = $2 WHERE id = $3"
    )
    .bind(closes_at)
    .bind(log_idx)
    .bind(proposal_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// When the decider was told the proposal is ready for their decision
/// (projection of `decision_ready`; a new decider or window clears it).
pub async fn set_ready_at(
    mut conn: Ex<'_>,
    proposal_id: i64,
    ready_at: Option<Timestamp>,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "UPDATE proposals SET ready_at = $1, log_idx = $2 WHERE id = $3"
    )
    .bind(ready_at)
    .bind(log_idx)
    .bind(proposal_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Which prompt of an overdue proposal was given.
#[derive(Debug, Clone, Copy)]
pub enum Told {
    /// The decider's daily reminder (`overdue_told_at`).
    Overdue,
    /// The escalation to the admins (`escalated_at`).
    Escalated,
}

/// Notes when an overdue proposal's decider was last reminded, or its
/// waiting escalated (projections of `decision_overdue` and
/// `decision_escalated`).
pub async fn set_told_at(
    mut conn: Ex<'_>,
    proposal_id: i64,
    told: Told,
    at: Timestamp,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    let sql = match told {
        Told::Overdue => "UPDATE proposals SET overdue_told_at = $1, log_idx = $2 WHERE id = $3",
        Told::Escalated => "UPDATE proposals SET escalated_at = $1, log_idx = $2 WHERE id = $3",
    };
    on!(conn, |c| sqlx::query(sql)
        .bind(at)
        .bind(log_idx)
        .bind(proposal_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sets a proposal's status (and withdrawal reason).
pub async fn set_status(
    mut conn: Ex<'_>,
    proposal_id: i64,
    status: Status,
    withdrawn_reason: Option<&str>,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query("UPDATE proposals SET status = $1, withdrawn_reason = COALESCE($2, withdrawn_reason), log_idx = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(withdrawn_reason)
        .bind(log_idx)
        .bind(proposal_id)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks an accepted proposal superseded by a newer number.
pub async fn mark_superseded(
    mut conn: Ex<'_>,
    team_id: i64,
    number: i64,
    by: i64,
    log_idx: i64,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "UPDATE proposals SET status = 'superseded', superseded_by = $1, log_idx = $2
         WHERE team_id = $3 AND number = $4 AND status = 'accepted'",
    )
    .bind(by)
    .bind(log_idx)
    .bind(team_id)
    .bind(number)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Appends a stance to the history.
pub async fn insert_stance(
    mut conn: Ex<'_>,
    proposal_id: i64,
    log_idx: i64,
    user_id: i64,
    position: Position,
    reason: Option<&str>,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query("INSERT INTO stances (proposal_id, log_idx, user_id, position, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(proposal_id)
        .bind(log_idx)
        .bind(user_id)
        .bind(position.as_str())
        .bind(reason)
        .bind(at)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Appends a comment.
pub async fn insert_comment(
    mut conn: Ex<'_>,
    proposal_id: i64,
    log_idx: i64,
    author_id: i64,
    body: &str,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query("INSERT INTO comments (proposal_id, log_idx, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(proposal_id)
        .bind(log_idx)
        .bind(author_id)
        .bind(body)
        .bind(at)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Values of a decision row.
#[derive(Debug, Clone)]
pub struct DecisionRow<'a> {
    /// Proposal.
    pub proposal_id: i64,
    /// Outcome.
    pub outcome: &'a str,
    /// Statement.
    pub statement: &'a str,
    /// Rationale.
    pub rationale: &'a str,
    /// Decider.
    pub decided_by: i64,
    /// When.
    pub decided_at: Timestamp,
    /// Sealing entry.
    pub log_idx: i64,
    /// Its leaf hash.
    pub leaf_hash: &'a [u8],
    /// Tree size after it.
    pub tree_size: i64,
    /// Root at that size.
    pub root_hash: &'a [u8],
}

/// Stores the decision record.
pub async fn insert_decision(mut conn: Ex<'_>, d: &DecisionRow<'_>) -> Result<(), sqlx::Error> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO decisions (proposal_id, outcome, statement, rationale, decided_by, decided_at, log_idx, leaf_hash, tree_size, root_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(d.proposal_id)
    .bind(d.outcome)
    .bind(d.statement)
    .bind(d.rationale)
    .bind(d.decided_by)
    .bind(d.decided_at)
    .bind(d.log_idx)
    .bind(d.leaf_hash)
    .bind(d.tree_size)
    .bind(d.root_hash)
    .execute(c)
    .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Stores one response to an objection.
pub async fn insert_response(
    mut conn: Ex<'_>,
    proposal_id: i64,
    user_id: i64,
    response: &str,
) -> Result<(), sqlx::Error> {
    on!(conn, |c| sqlx::query(
        "INSERT INTO decision_responses (proposal_id, user_id, response) VALUES ($1, $2, $3)",
    )
    .bind(proposal_id)
    .bind(user_id)
    .bind(response)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Open proposals a member decides (blocks their removal).
pub async fn open_decided_by(
    mut conn: Ex<'_>,
    team_id: i64,
    user_id: i64,
) -> Result<i64, sqlx::Error> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM proposals WHERE team_id = $1 AND decider_id = $2 AND status = 'open'",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_one(c)
    .await)
}

/// Numbers of open proposals that would supersede `number`.
pub async fn pending_supersessions(
    mut ex: Ex<'_>,
    team_id: i64,
    number: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_scalar("SELECT number FROM proposals WHERE team_id = $1 AND supersedes = $2 AND status = 'open' ORDER BY number")
        .bind(team_id)
        .bind(number)
        .fetch_all(c)
        .await
    })
}

/// `user_id`'s current stance on proposal `proposal_id` and its reason.
pub async fn current_stance(
    mut ex: Ex<'_>,
    proposal_id: i64,
    user_id: i64,
) -> Result<Option<(Position, Option<String>)>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT position, reason FROM stances WHERE proposal_id = $1 AND user_id = $2
         ORDER BY log_idx DESC LIMIT 1"
    )
    .bind(proposal_id)
    .bind(user_id)
    .fetch_optional(c)
    .await)
}

/// Whether `user_id` has taken a stance on proposal `proposal_id`.
pub async fn has_stance(
    mut ex: Ex<'_>,
    proposal_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    on!(ex, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM stances WHERE proposal_id = $1 AND user_id = $2)"
    )
    .bind(proposal_id)
    .bind(user_id)
    .fetch_one(c)
    .await)
}
