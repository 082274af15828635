//! The rows pages are built from, read in one go for one state of a team's
//! log, so that `web::cache` can keep them while the log does not grow.

use chrono_tz::Tz;

use super::html::Html;
use crate::db::Db;
use crate::db::proposals::{self, Proposal};
use crate::db::teams::{self, Member};
use crate::error::{Error, Result};

/// The heavy, viewer-independent parts of a proposal page, rendered once per
/// state of the log, time zone, admin view and minute (relative times are
/// shown to the minute) and kept with the page's rows.
#[derive(Debug)]
pub struct Parts {
    /// The stance table and history.
    pub stances_html: Html,
    /// The comments, cut where the viewer's CSRF token goes (admin views'
    /// erase forms; a member's view is one piece).
    pub comments_html: std::sync::Arc<[Html]>,
}

/// Which rendering of the parts a view can use: time zone, admin view,
/// minute.
pub type PartsKey = (Tz, bool, i64);

/// The rows a proposal page is built from, for one state of its team's log
/// (everything on the page but the viewer's own parts and the clock).
#[derive(Debug)]
pub struct PageRows {
    pub proposal: Proposal,
    pub erasures: Vec<crate::db::log::Erasure>,
    pub table: Vec<proposals::StanceRow>,
    pub history: Vec<proposals::StanceHistory>,
    pub comments: Vec<proposals::Comment>,
    pub revisions: Vec<proposals::Revision>,
    pub decider_changes: Vec<proposals::DeciderChange>,
    pub decision: Option<proposals::Decision>,
    pub responses: Vec<proposals::Response>,
    pub members: Vec<Member>,
    pub replacements: Vec<i64>,
    pub pull_requests: Vec<crate::db::links::PrLink>,
    /// Renderings of the heavy parts made from these rows.
    pub parts: std::sync::Mutex<Vec<(PartsKey, std::sync::Arc<Parts>)>>,
    /// Whom the texts can mention and the suggestion list, made once.
    pub mentions: std::sync::OnceLock<(crate::web::mentions::Mentions, String)>,
}

impl PageRows {
    /// A proposal's rows with nothing around it (tests of the caches).
    #[cfg(test)]
    pub fn empty(proposal: Proposal) -> Self {
        Self {
            proposal,
            erasures: Vec::new(),
            table: Vec::new(),
            history: Vec::new(),
            comments: Vec::new(),
            revisions: Vec::new(),
            decider_changes: Vec::new(),
            decision: None,
            responses: Vec::new(),
            members: Vec::new(),
            replacements: Vec::new(),
            pull_requests: Vec::new(),
            parts: std::sync::Mutex::default(),
            mentions: std::sync::OnceLock::new(),
        }
    }

    /// Reads the rows of proposal `number` of `team_id`.
    pub async fn load(db: &Db, team_id: i64, number: i64) -> Result<Self> {
        let mut pool = db.reader();
        let proposal = proposals::by_number(pool.re(), team_id, number)
            .await?
            .ok_or(Error::NotFound)?;
        let decision = proposals::decision(pool.re(), proposal.id).await?;
        let responses = match decision {
            Some(_) => proposals::responses(pool.re(), proposal.id).await?,
            None => Vec::new(),
        };
        Ok(Self {
            erasures: crate::db::log::erasures(pool.re(), team_id).await?,
            table: proposals::stance_table(pool.re(), team_id, proposal.id).await?,
            history: proposals::stance_history(pool.re(), proposal.id).await?,
            comments: proposals::comments(pool.re(), proposal.id).await?,
            revisions: proposals::revisions(pool.re(), proposal.id).await?,
            decider_changes: proposals::decider_changes(pool.re(), proposal.id).await?,
            members: teams::members(pool.re(), team_id).await?,
            replacements: proposals::pending_supersessions(pool.re(), team_id, number).await?,
            pull_requests: crate::db::links::for_decision(pool.re(), team_id, number).await?,
            decision,
            responses,
            proposal,
            parts: std::sync::Mutex::default(),
            mentions: std::sync::OnceLock::new(),
        })
    }
}

/// What a team's dashboard lists.
#[derive(Debug, Default)]
pub struct TeamRows {
    /// Open proposals, soonest window end first.
    pub open: Vec<OpenProposal>,
    /// The latest decisions, newest first.
    pub decided: Vec<Proposal>,
    /// The team's voting members.
    pub voters: Vec<i64>,
}

/// An open proposal and the stances taken on it.
#[derive(Debug)]
pub struct OpenProposal {
    /// The proposal.
    pub proposal: Proposal,
    /// Each member's current stance.
    pub stances: std::collections::HashMap<i64, crate::domain::proposal::Position>,
}

impl TeamRows {
    /// Whether `p`'s decider may record at `now` (rule 2): its window
    /// ended, or every voting member responded.
    pub fn ready(&self, p: &OpenProposal, now: chrono::DateTime<chrono::Utc>) -> bool {
        p.proposal.closes_at.0 <= now || self.voters.iter().all(|v| p.stances.contains_key(v))
    }
}

/// Decisions the dashboard lists.
const RECENTLY_DECIDED: i64 = 10;

/// Proposals the decision log lists at most.
pub const LOG_LISTED: i64 = 200;

/// What a team's decision log shows unfiltered, kept like a proposal
/// page's rows.
#[derive(Debug, Default)]
pub struct LogRows {
    /// The latest proposals, newest first.
    pub proposals: Vec<Proposal>,
    /// The team's areas (for the filter).
    pub areas: Vec<crate::db::teams::Area>,
}

impl LogRows {
    /// Reads them.
    pub async fn load(db: &Db, team_id: i64) -> Result<Self> {
        let mut pool = db.reader();
        Ok(Self {
            proposals: proposals::list(
                pool.re(),
                team_id,
                &proposals::ListFilter::default(),
                LOG_LISTED,
            )
            .await?,
            areas: teams::areas(pool.re(), team_id).await?,
        })
    }
}

impl TeamRows {
    /// Reads them.
    pub async fn load(db: &Db, team_id: i64) -> Result<Self> {
        let mut pool = db.reader();
        let mut stances: std::collections::HashMap<i64, std::collections::HashMap<_, _>> =
            std::collections::HashMap::new();
        for (proposal, user, position) in
            proposals::current_stances_open(pool.re(), team_id).await?
        {
            stances.entry(proposal).or_default().insert(user, position);
        }
        Ok(Self {
            voters: teams::members(pool.re(), team_id)
                .await?
                .into_iter()
                .filter(|m| m.role.can_vote())
                .map(|m| m.user_id)
                .collect(),
            open: proposals::open(pool.re(), team_id)
                .await?
                .into_iter()
                .map(|proposal| OpenProposal {
                    stances: stances.remove(&proposal.id).unwrap_or_default(),
                    proposal,
                })
                .collect(),
            decided: proposals::recently_decided(pool.re(), team_id, RECENTLY_DECIDED).await?,
        })
    }
}
