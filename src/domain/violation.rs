//! Violations of the product's rules, each with a stable code for the API.

use chrono::{DateTime, Utc};

/// A rule that forbids what was asked. The code is part of the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Only the named decider records the outcome.
    #[error("only the decider can do this")]
    NotDecider,
    /// The asynchronous window is still open and some members have not responded.
    #[error(
        "the decider can record from {closes_at}, when the window ends, or earlier once every voting member has responded; {missing} voting member(s) have not responded yet"
    )]
    WindowOpen {
        /// When the window closes.
        closes_at: DateTime<Utc>,
        /// How many voting members have no stance yet.
        missing: usize,
    },
    /// A standing objection has no written response.
    #[error("every standing objection needs a written response (missing: {names})")]
    ObjectionUnanswered {
        /// Display names of the objectors without a response.
        names: String,
    },
    /// The proposal is no longer open.
    #[error("the proposal is {status}, not open")]
    NotOpen {
        /// Its current status.
        status: String,
    },
    /// Observers read and comment but take no stance.
    #[error("observers cannot take a stance")]
    ObserverCannotVote,
    /// The actor's role does not allow this.
    #[error("your role does not allow this")]
    Forbidden,
    /// An objection without its reason.
    #[error("an objection needs a reason")]
    ReasonRequired,
    /// The decider named is not a voting member of the team.
    #[error("the decider must be a voting member (admin or member) of the team")]
    DeciderNotMember,
    /// A deadline that has already passed.
    #[error("the earliest decision must be in the future")]
    DeadlineInPast,
    /// An extension that does not extend.
    #[error("the new earliest decision must be later than the current one")]
    DeadlineNotLater,
    /// A reminder or escalation before the proposal is overdue.
    #[error("the proposal is not overdue until {due_at}")]
    NotOverdue {
        /// When it becomes overdue (or escalates).
        due_at: DateTime<Utc>,
    },
    /// Only an accepted decision can be superseded.
    #[error("only an accepted decision can be superseded")]
    SupersedesNotAccepted,
    /// The team would be left without an admin.
    #[error("a team needs at least one admin")]
    LastAdmin,
    /// Removing a member who still decides open proposals.
    #[error("this member is the decider of open proposals; name another decider first")]
    DeciderOfOpenProposal,
    /// The person is already a member.
    #[error("already a member of this team")]
    AlreadyMember,
    /// An invitation used, expired or unknown.
    #[error("this invitation is no longer valid")]
    InvitationInvalid,
    /// Nothing would change.
    #[error("nothing to change")]
    NoChange,
    /// A response was given for someone who does not object.
    #[error("a response was given for someone who has no standing objection")]
    ResponseWithoutObjection,
}

impl Violation {
    /// The stable machine-readable code, as used in API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotDecider => "not_decider",
            Self::WindowOpen { .. } => "window_open",
            Self::ObjectionUnanswered { .. } => "objection_unanswered",
            Self::NotOpen { .. } => "not_open",
            Self::ObserverCannotVote => "observer_cannot_vote",
            Self::Forbidden => "forbidden",
            Self::ReasonRequired => "reason_required",
            Self::DeciderNotMember => "decider_not_member",
            Self::DeadlineInPast => "deadline_in_past",
            Self::NotOverdue { .. } => "not_overdue",
            Self::DeadlineNotLater => "deadline_not_later",
            Self::SupersedesNotAccepted => "supersedes_not_accepted",
            Self::LastAdmin => "last_admin",
            Self::DeciderOfOpenProposal => "decider_of_open_proposal",
            Self::AlreadyMember => "already_member",
            Self::InvitationInvalid => "invitation_invalid",
            Self::NoChange => "no_change",
            Self::ResponseWithoutObjection => "response_without_objection",
        }
    }

    /// Whether the request conflicts with the current state (409) rather
    /// than being unacceptable as sent (422).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::WindowOpen { .. }
                | Self::NotOpen { .. }
                | Self::LastAdmin
                | Self::DeciderOfOpenProposal
                | Self::AlreadyMember
                | Self::InvitationInvalid
                | Self::SupersedesNotAccepted
        )
    }
}
