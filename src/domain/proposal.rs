//! Proposals: their state machine and who may do what, when.
//!
//! Every rule takes the stored state it needs as arguments and the time of
//! the action (`now`), so the same checks run on the live write path and
//! when `settled verify` replays the log with each entry's own time.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::team::Role;
use super::{InvalidInput, Violation, clean_text};

/// Where a proposal stands: `open → accepted | rejected | withdrawn`, and
/// `accepted → superseded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Collecting stances and comments.
    Open,
    /// Decided: accepted.
    Accepted,
    /// Decided: rejected.
    Rejected,
    /// Withdrawn by its author or decider before a decision.
    Withdrawn,
    /// Accepted, then replaced by a later accepted proposal.
    Superseded,
}

impl Status {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Superseded => "superseded",
        }
    }

    /// Every status, for filters.
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::Accepted,
        Status::Rejected,
        Status::Withdrawn,
        Status::Superseded,
    ];
}

impl FromStr for Status {
    type Err = InvalidInput;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| {
                InvalidInput::new(
                    "status",
                    "must be open, accepted, rejected, withdrawn or superseded",
                )
            })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's stance on a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// In favour.
    Agree,
    /// Against, but will not block.
    Disagree,
    /// Deliberately no opinion.
    Abstain,
    /// A blocking concern the decider must answer in writing.
    Object,
}

impl Position {
    /// The position as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agree => "agree",
            Self::Disagree => "disagree",
            Self::Abstain => "abstain",
            Self::Object => "object",
        }
    }

    /// Every position, for forms.
    pub const ALL: [Position; 4] = [
        Position::Agree,
        Position::Disagree,
        Position::Abstain,
        Position::Object,
    ];
}

impl FromStr for Position {
    type Err = InvalidInput;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| {
                InvalidInput::new("position", "must be agree, disagree, abstain or object")
            })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome the decider records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The proposal is adopted.
    Accepted,
    /// The proposal is declined.
    Rejected,
}

impl Outcome {
    /// Both outcomes.
    pub const ALL: [Outcome; 2] = [Outcome::Accepted, Outcome::Rejected];

    /// The outcome as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    /// The proposal status this outcome leads to.
    pub fn status(self) -> Status {
        match self {
            Self::Accepted => Status::Accepted,
            Self::Rejected => Status::Rejected,
        }
    }
}

impl FromStr for Outcome {
    type Err = InvalidInput;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "accepted" => Ok(Self::Accepted),
            "rejected" => Ok(Self::Rejected),
            _ => Err(InvalidInput::new("outcome", "must be accepted or rejected")),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposal title: 1 to 200 characters.
pub fn parse_title(raw: &str) -> Result<String, InvalidInput> {
    clean_text("title", raw, 1, 200, false)
}

/// A proposal body (Markdown): 1 to 100,000 characters.
pub fn parse_body(raw: &str) -> Result<String, InvalidInput> {
    clean_text("body", raw, 1, 100_000, true)
}

/// A comment (Markdown): 1 to 20,000 characters.
pub fn parse_comment(raw: &str) -> Result<String, InvalidInput> {
    clean_text("body", raw, 1, 20_000, true)
}

/// A stance with its optional reason; an objection must give one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stance {
    /// The position taken.
    pub position: Position,
    /// Why; required for an objection.
    pub reason: Option<String>,
}

impl Stance {
    /// Parses a stance from its position and reason fields.
    pub fn parse(position: &str, reason: Option<&str>) -> Result<Self, InvalidInput> {
        let position = position.parse::<Position>()?;
        let reason = clean_text("reason", reason.unwrap_or(""), 0, 5_000, true)?;
        let reason = (!reason.is_empty()).then_some(reason);
        if position == Position::Object && reason.is_none() {
            return Err(InvalidInput::new("reason", "an objection needs a reason"));
        }
        Ok(Self { position, reason })
    }
}

/// What the decider writes into the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionDraft {
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// What was agreed, in one or a few sentences. Required.
    pub statement: String,
    /// Why; may be empty.
    pub rationale: String,
    /// A written response per objector (user id → text).
    pub responses: BTreeMap<i64, String>,
}

impl DecisionDraft {
    /// Parses the decider's form. Empty responses are dropped, so that a
    /// missing answer is caught by the objection rule, with names.
    pub fn parse(
        outcome: &str,
        statement: &str,
        rationale: &str,
        responses: impl IntoIterator<Item = (i64, String)>,
    ) -> Result<Self, InvalidInput> {
        let outcome = outcome.parse::<Outcome>()?;
        let statement = clean_text("statement", statement, 1, 10_000, true)?;
        let rationale = clean_text("rationale", rationale, 0, 50_000, true)?;
        let mut parsed = BTreeMap::new();
        for (user, text) in responses {
            let text = clean_text("responses", &text, 0, 10_000, true)?;
            if !text.is_empty() {
                parsed.insert(user, text);
            }
        }
        Ok(Self {
            outcome,
            statement,
            rationale,
            responses: parsed,
        })
    }
}

/// The stored facts about a proposal that the rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalState {
    /// Current status.
    pub status: Status,
    /// Who proposed it.
    pub author: i64,
    /// The one named decider.
    pub decider: i64,
    /// End of the asynchronous window.
    pub closes_at: DateTime<Utc>,
}

/// A voting member and their current stance, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// User id.
    pub user: i64,
    /// Display name, for messages.
    pub name: String,
    /// Their latest stance, if they have taken one.
    pub current: Option<Position>,
}

/// Days a decision may wait after its window unless the team sets other.
pub const DEFAULT_DECIDE_WITHIN_DAYS: i64 = 7;

/// Checks a team's "decide within N days after the window" setting.
pub fn parse_decide_within_days(days: i64) -> Result<i64, InvalidInput> {
    if (1..=365).contains(&days) {
        Ok(days)
    } else {
        Err(InvalidInput::new(
            "decide_within_days",
            "must be a whole number of days from 1 to 365",
        ))
    }
}

/// When a proposal whose window ends at `closes_at` becomes overdue, and
/// (`periods` = 2) when its waiting is escalated.
pub fn overdue_at(closes_at: DateTime<Utc>, days: i64, periods: i32) -> DateTime<Utc> {
    closes_at + chrono::Duration::days(days.saturating_mul(i64::from(periods)))
}

/// The hours of a decider's local morning, when an overdue reminder goes.
pub const MORNING: std::ops::Range<u32> = 8..12;

/// Whether the decider's daily overdue reminder is due at `now`: the
/// proposal is overdue, it is morning where the decider is (`tz`), and
/// they were not reminded on this local day yet (`last`).
pub fn overdue_reminder_due(
    closes_at: DateTime<Utc>,
    days: i64,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> bool {
    use chrono::Timelike;
    let local = now.with_timezone(&tz);
    now >= overdue_at(closes_at, days, 1)
        && MORNING.contains(&local.hour())
        && last.is_none_or(|t| t.with_timezone(&tz).date_naive() < local.date_naive())
}

/// Whether a stance taken at `taken` came after the window ending at
/// `closes_at`: it still counts (stances stay open until the decision), and
/// is marked "late" wherever it is shown.
pub fn is_late(taken: DateTime<Utc>, closes_at: DateTime<Utc>) -> bool {
    taken > closes_at
}

impl ProposalState {
    /// Whether the decider may record now (rule 2): the window has ended, or
    /// every voting member has responded.
    pub fn ready(&self, now: DateTime<Utc>, voters: &[Voter]) -> bool {
        self.status == Status::Open
            && (now >= self.closes_at || voters.iter().all(|v| v.current.is_some()))
    }

    /// Whether the server may tell `actor` the proposal is ready for their
    /// decision (a `decision_ready` entry): they decide it, and it is ready.
    pub fn check_ready(
        &self,
        actor: i64,
        now: DateTime<Utc>,
        voters: &[Voter],
    ) -> Result<(), Violation> {
        self.require_open()?;
        if actor != self.decider {
            return Err(Violation::NotDecider);
        }
        if !self.ready(now, voters) {
            return Err(Violation::WindowOpen {
                closes_at: self.closes_at,
                missing: voters.iter().filter(|v| v.current.is_none()).count(),
            });
        }
        Ok(())
    }

    /// Whether the server may remind `actor` that the proposal is overdue
    /// (`periods` = 1) or tell the admins it waits (`periods` = 2): they
    /// decide it, it is open, and `days` × `periods` have passed since its
    /// window ended.
    pub fn check_overdue(
        &self,
        actor: i64,
        now: DateTime<Utc>,
        days: i64,
        periods: i32,
    ) -> Result<(), Violation> {
        self.require_open()?;
        if actor != self.decider {
            return Err(Violation::NotDecider);
        }
        let due_at = overdue_at(self.closes_at, days, periods);
        if now < due_at {
            return Err(Violation::NotOverdue { due_at });
        }
        Ok(())
    }

    fn require_open(&self) -> Result<(), Violation> {
        if self.status == Status::Open {
            Ok(())
        } else {
            Err(Violation::NotOpen {
                status: self.status.to_string(),
            })
        }
    }

    /// Rules 2 and 4: only the decider, only after the window (or once every
    /// voting member has a stance), and every standing objection answered.
    pub fn check_record(
        &self,
        actor: i64,
        now: DateTime<Utc>,
        voters: &[Voter],
        draft: &DecisionDraft,
    ) -> Result<(), Violation> {
        self.require_open()?;
        if actor != self.decider {
            return Err(Violation::NotDecider);
        }
        let missing = voters.iter().filter(|v| v.current.is_none()).count();
        if now < self.closes_at && missing > 0 {
            return Err(Violation::WindowOpen {
                closes_at: self.closes_at,
                missing,
            });
        }
        let objectors: Vec<&Voter> = voters
            .iter()
            .filter(|v| v.current == Some(Position::Object))
            .collect();
        let unanswered: Vec<&str> = objectors
            .iter()
            .filter(|v| !draft.responses.contains_key(&v.user))
            .map(|v| v.name.as_str())
            .collect();
        if !unanswered.is_empty() {
            return Err(Violation::ObjectionUnanswered {
                names: unanswered.join(", "),
            });
        }
        if draft
            .responses
            .keys()
            .any(|user| !objectors.iter().any(|v| v.user == *user))
        {
            return Err(Violation::ResponseWithoutObjection);
        }
        Ok(())
    }

    /// Rule 3: voting members take stances while the proposal is open.
    pub fn check_stance(&self, role: Role) -> Result<(), Violation> {
        self.require_open()?;
        if !role.can_vote() {
            return Err(Violation::ObserverCannotVote);
        }
        Ok(())
    }

    /// Any member may comment while the proposal is open.
    pub fn check_comment(&self) -> Result<(), Violation> {
        self.require_open()
    }

    /// Only the author revises the body, while open.
    pub fn check_revise(&self, actor: i64) -> Result<(), Violation> {
        self.require_open()?;
        if actor != self.author {
            return Err(Violation::Forbidden);
        }
        Ok(())
    }

    /// The author or the decider may withdraw, while open.
    pub fn check_withdraw(&self, actor: i64) -> Result<(), Violation> {
        self.require_open()?;
        if actor != self.author && actor != self.decider {
            return Err(Violation::Forbidden);
        }
        Ok(())
    }

    /// The decider may extend the window to a later, future time.
    pub fn check_extend(
        &self,
        actor: i64,
        new_closes_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Violation> {
        self.require_open()?;
        if actor != self.decider {
            return Err(Violation::NotDecider);
        }
        if new_closes_at <= now {
            return Err(Violation::DeadlineInPast);
        }
        if new_closes_at <= self.closes_at {
            return Err(Violation::DeadlineNotLater);
        }
        Ok(())
    }

    /// Rule 1: the author or a team admin names another voting member as
    /// decider, while open.
    pub fn check_change_decider(
        &self,
        actor: i64,
        actor_role: Role,
        new_decider: i64,
        new_decider_role: Option<Role>,
    ) -> Result<(), Violation> {
        self.require_open()?;
        if actor != self.author && actor_role != Role::Admin {
            return Err(Violation::Forbidden);
        }
        if !new_decider_role.is_some_and(Role::can_vote) {
            return Err(Violation::DeciderNotMember);
        }
        if new_decider == self.decider {
            return Err(Violation::NoChange);
        }
        Ok(())
    }
}

/// Rules for a new proposal: a voting author, a voting decider, a future
/// deadline, and only an accepted decision may be superseded.
pub fn check_new_proposal(
    author_role: Role,
    decider_role: Option<Role>,
    closes_at: DateTime<Utc>,
    now: DateTime<Utc>,
    supersedes: Option<Status>,
) -> Result<(), Violation> {
    if !author_role.can_vote() {
        return Err(Violation::Forbidden);
    }
    if !decider_role.is_some_and(Role::can_vote) {
        return Err(Violation::DeciderNotMember);
    }
    if closes_at <= now {
        return Err(Violation::DeadlineInPast);
    }
    if let Some(status) = supersedes
        && status != Status::Accepted
    {
        return Err(Violation::SupersedesNotAccepted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn open(now: DateTime<Utc>) -> ProposalState {
        ProposalState {
            status: Status::Open,
            author: 1,
            decider: 2,
            closes_at: now + Duration::days(3),
        }
    }

    fn voter(user: i64, current: Option<Position>) -> Voter {
        Voter {
            user,
            name: format!("user{user}"),
            current,
        }
    }

    fn draft(responses: &[(i64, &str)]) -> DecisionDraft {
        DecisionDraft::parse(
            "accepted",
            "We do it.",
            "",
            responses.iter().map(|(u, t)| (*u, t.to_string())),
        )
        .expect("valid draft")
    }

    #[test]
    fn only_the_decider_records() {
        let now = Utc::now();
        let p = open(now);
        let voters = [
            voter(1, Some(Position::Agree)),
            voter(2, Some(Position::Agree)),
        ];
        assert_eq!(
            p.check_record(1, now, &voters, &draft(&[])),
            Err(Violation::NotDecider)
        );
        assert_eq!(p.check_record(2, now, &voters, &draft(&[])), Ok(()));
    }

    #[test]
    fn the_window_holds_until_everyone_responded_or_it_closes() {
        let now = Utc::now();
        let p = open(now);
        let voters = [
            voter(1, Some(Position::Agree)),
            voter(2, None),
            voter(3, None),
        ];
        let err = p
            .check_record(2, now, &voters, &draft(&[]))
            .expect_err("window open");
        assert_eq!(err.code(), "window_open");
        assert!(err.to_string().contains("2 voting member"), "{err}");
        let after = p.closes_at + Duration::seconds(1);
        assert_eq!(p.check_record(2, after, &voters, &draft(&[])), Ok(()));
        assert_eq!(p.check_record(2, p.closes_at, &voters, &draft(&[])), Ok(()));
    }

    #[test]
    fn every_objection_needs_a_response_naming_no_one_else() {
        let now = Utc::now();
        let p = open(now);
        let voters = [
            voter(1, Some(Position::Object)),
            voter(2, Some(Position::Agree)),
            voter(3, Some(Position::Object)),
        ];
        let err = p
            .check_record(2, now, &voters, &draft(&[(1, "Because.")]))
            .expect_err("unanswered");
        assert_eq!(
            err,
            Violation::ObjectionUnanswered {
                names: "user3".into()
            }
        );
        assert_eq!(
            p.check_record(2, now, &voters, &draft(&[(1, "a"), (3, "b")])),
            Ok(())
        );
        assert_eq!(
            p.check_record(2, now, &voters, &draft(&[(1, "a"), (3, "b"), (2, "c")])),
            Err(Violation::ResponseWithoutObjection)
        );
        // A blank response is no response.
        let err = p
            .check_record(2, now, &voters, &draft(&[(1, "a"), (3, "   ")]))
            .expect_err("blank");
        assert_eq!(err.code(), "objection_unanswered");
    }

    #[test]
    fn a_decided_proposal_accepts_nothing_more() {
        let now = Utc::now();
        let mut p = open(now);
        p.status = Status::Accepted;
        let voters = [voter(1, Some(Position::Agree))];
        assert_eq!(
            p.check_record(2, now, &voters, &draft(&[]))
                .map_err(|e| e.code()),
            Err("not_open")
        );
        assert_eq!(
            p.check_stance(Role::Member).map_err(|e| e.code()),
            Err("not_open")
        );
        assert_eq!(p.check_comment().map_err(|e| e.code()), Err("not_open"));
        assert_eq!(p.check_revise(1).map_err(|e| e.code()), Err("not_open"));
        assert_eq!(p.check_withdraw(1).map_err(|e| e.code()), Err("not_open"));
    }

    #[test]
    fn observers_take_no_stance_and_objections_need_reasons() {
        let now = Utc::now();
        assert_eq!(
            open(now).check_stance(Role::Observer),
            Err(Violation::ObserverCannotVote)
        );
        assert!(Stance::parse("object", Some("  ")).is_err());
        assert_eq!(
            Stance::parse("object", Some("Too costly")),
            Ok(Stance {
                position: Position::Object,
                reason: Some("Too costly".into())
            })
        );
        assert_eq!(Stance::parse("agree", None).map(|s| s.reason), Ok(None));
    }

    #[test]
    fn extending_and_naming_a_new_decider_follow_their_rules() {
        let now = Utc::now();
        let p = open(now);
        assert_eq!(
            p.check_extend(1, p.closes_at + Duration::hours(1), now),
            Err(Violation::NotDecider)
        );
        assert_eq!(
            p.check_extend(2, p.closes_at - Duration::hours(1), now),
            Err(Violation::DeadlineNotLater)
        );
        assert_eq!(
            p.check_extend(2, p.closes_at + Duration::hours(1), now),
            Ok(())
        );
        assert_eq!(
            p.check_change_decider(3, Role::Member, 3, Some(Role::Member)),
            Err(Violation::Forbidden)
        );
        assert_eq!(
            p.check_change_decider(3, Role::Admin, 4, Some(Role::Observer)),
            Err(Violation::DeciderNotMember)
        );
        assert_eq!(
            p.check_change_decider(1, Role::Member, 2, Some(Role::Member)),
            Err(Violation::NoChange)
        );
        assert_eq!(
            p.check_change_decider(1, Role::Member, 3, Some(Role::Member)),
            Ok(())
        );
    }

    #[test]
    fn new_proposals_need_a_voting_decider_and_a_future_deadline() {
        let now = Utc::now();
        let later = now + Duration::hours(1);
        assert_eq!(
            check_new_proposal(Role::Observer, Some(Role::Member), later, now, None),
            Err(Violation::Forbidden)
        );
        assert_eq!(
            check_new_proposal(Role::Member, None, later, now, None),
            Err(Violation::DeciderNotMember)
        );
        assert_eq!(
            check_new_proposal(Role::Member, Some(Role::Member), now, now, None),
            Err(Violation::DeadlineInPast)
        );
        assert_eq!(
            check_new_proposal(
                Role::Member,
                Some(Role::Admin),
                later,
                now,
                Some(Status::Rejected)
            ),
            Err(Violation::SupersedesNotAccepted)
        );
        assert_eq!(
            check_new_proposal(
                Role::Member,
                Some(Role::Admin),
                later,
                now,
                Some(Status::Accepted)
            ),
            Ok(())
        );
    }
}
