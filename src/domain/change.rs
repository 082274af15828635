//! What a committed write changed, in typed form: the one signal every
//! cache, live stream and background clock listens to (published by the
//! ledger's bus, `ledger::bus`, once the write's transaction has committed).
//!
//! A log entry is a [`Notice`]: where a team's log grew, and with what kind
//! of entry, never its content. A write that is not a log entry (a profile,
//! a password, mail settings) is a [`Change`] of its own kind. Matching is
//! on these enums, never on strings, so a new kind of entry or change is a
//! compile error wherever someone must decide what it means.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new entry in a team's log.
    Entry(Notice),
    /// A user's own settings (their row or their mail settings).
    User {
        /// Whose.
        user: i64,
        /// What.
        part: UserPart,
    },
    /// A browser session was saved or deleted (sign-in, sign-out, a secret
    /// shown once). Only this process hears of it: sessions are kept in
    /// memory only where one server is its database's only writer.
    Session {
        /// The session id (its 128 random bits).
        id: i128,
    },
}

/// The part of a user's settings that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserPart {
    /// Display name or time zone: shown on other people's pages.
    Profile,
    /// The password hash.
    Password,
    /// Which mail they get.
    MailSettings,
}

/// One new log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Team.
    #[serde(skip)]
    pub team_id: i64,
    /// Its log index (the event id on the wire).
    pub index: i64,
    /// The entry kind.
    pub kind: EntryKind,
    /// The proposal it is about, if any.
    pub proposal: Option<i64>,
}

/// The kind of a log entry, as stored in the log (`kind` column) and in
/// every entry's canonical payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The team's first entry.
    TeamCreated,
    /// Someone joined.
    MemberJoined,
    /// A member's role changed.
    RoleChanged,
    /// A member was removed.
    MemberRemoved,
    /// An area was created or edited.
    AreaSaved,
    /// A proposal opened.
    ProposalCreated,
    /// A proposal's text changed.
    ProposalRevised,
    /// A proposal's decider changed.
    DeciderChanged,
    /// A proposal's window was extended.
    DeadlineExtended,
    /// A proposal was withdrawn.
    ProposalWithdrawn,
    /// A member took a stance.
    StanceTaken,
    /// A member commented.
    CommentAdded,
    /// The decider recorded the decision.
    DecisionRecorded,
    /// An earlier entry's text was erased.
    ContentErased,
    /// Who may read the team's status endpoints changed.
    StatusVisibilityChanged,
    /// A pull request cites a decision.
    PrReferenced,
    /// The team's key changed.
    KeyRenamed,
    /// A pull request no longer cites a decision.
    PrUnreferenced,
    /// The server told the decider a proposal is ready for their decision.
    DecisionReady,
    /// The server reminded the decider that a proposal is overdue.
    DecisionOverdue,
    /// The server told the admins a proposal waits two periods.
    DecisionEscalated,
    /// An admin set the days a decision may wait after its window.
    DecisionPeriodSet,
}

impl EntryKind {
    /// Every kind.
    pub const ALL: [Self; 22] = [
        Self::TeamCreated,
        Self::MemberJoined,
        Self::RoleChanged,
        Self::MemberRemoved,
        Self::AreaSaved,
        Self::ProposalCreated,
        Self::ProposalRevised,
        Self::DeciderChanged,
        Self::DeadlineExtended,
        Self::ProposalWithdrawn,
        Self::StanceTaken,
        Self::CommentAdded,
        Self::DecisionRecorded,
        Self::ContentErased,
        Self::StatusVisibilityChanged,
        Self::PrReferenced,
        Self::KeyRenamed,
        Self::PrUnreferenced,
        Self::DecisionReady,
        Self::DecisionOverdue,
        Self::DecisionEscalated,
        Self::DecisionPeriodSet,
    ];

    /// The name stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TeamCreated => "team_created",
            Self::MemberJoined => "member_joined",
            Self::RoleChanged => "role_changed",
            Self::MemberRemoved => "member_removed",
            Self::AreaSaved => "area_saved",
            Self::ProposalCreated => "proposal_created",
            Self::ProposalRevised => "proposal_revised",
            Self::DeciderChanged => "decider_changed",
            Self::DeadlineExtended => "deadline_extended",
            Self::ProposalWithdrawn => "proposal_withdrawn",
            Self::StanceTaken => "stance_taken",
            Self::CommentAdded => "comment_added",
            Self::DecisionRecorded => "decision_recorded",
            Self::ContentErased => "content_erased",
            Self::StatusVisibilityChanged => "status_visibility_changed",
            Self::PrReferenced => "pr_referenced",
            Self::KeyRenamed => "key_renamed",
            Self::PrUnreferenced => "pr_unreferenced",
            Self::DecisionReady => "decision_ready",
            Self::DecisionOverdue => "decision_overdue",
            Self::DecisionEscalated => "decision_escalated",
            Self::DecisionPeriodSet => "decision_period_set",
        }
    }

    /// Whether an entry of this kind may take away someone's access to the
    /// team (a live stream then checks its viewer is still a member).
    pub fn may_revoke_access(self) -> bool {
        match self {
            Self::RoleChanged | Self::MemberRemoved => true,
            Self::TeamCreated
            | Self::MemberJoined
            | Self::AreaSaved
            | Self::ProposalCreated
            | Self::ProposalRevised
            | Self::DeciderChanged
            | Self::DeadlineExtended
            | Self::ProposalWithdrawn
            | Self::StanceTaken
            | Self::CommentAdded
            | Self::DecisionRecorded
            | Self::ContentErased
            | Self::StatusVisibilityChanged
            | Self::PrReferenced
            | Self::KeyRenamed
            | Self::PrUnreferenced
            | Self::DecisionReady
            | Self::DecisionOverdue
            | Self::DecisionEscalated
            | Self::DecisionPeriodSet => false,
        }
    }

    /// Whether the server's clock appends entries of this kind, telling
    /// the entry's actor something (rather than recording their act).
    pub fn by_server(self) -> bool {
        matches!(
            self,
            Self::DecisionReady | Self::DecisionOverdue | Self::DecisionEscalated
        )
    }

    /// Whether an entry of this kind removes text from earlier entries
    /// (nothing in memory may still hold it afterwards).
    pub fn erases_text(self) -> bool {
        self == Self::ContentErased
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log entry kind {0:?}")]
pub struct UnknownKind(pub String);

impl FromStr for EntryKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

impl Change {
    /// The change as a PostgreSQL NOTIFY payload, for the other instances
    /// on the database: an entry as `[team, index, kind, proposal]`, a user
    /// change as `{"user": id, "part": "profile"}` (`None`: no other
    /// instance needs to hear of it).
    pub fn to_payload(&self) -> Option<String> {
        match self {
            Self::Entry(n) => {
                Some(serde_json::json!([n.team_id, n.index, n.kind, n.proposal]).to_string())
            }
            Self::User { user, part } => {
                Some(serde_json::json!({ "user": user, "part": part }).to_string())
            }
            Self::Session { .. } => None,
        }
    }

    /// A change read back from a NOTIFY payload (`None`: not one this
    /// version can read).
    pub fn from_payload(payload: &str) -> Option<Self> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Entry(i64, i64, EntryKind, Option<i64>),
            User { user: i64, part: UserPart },
        }
        Some(match serde_json::from_str::<Wire>(payload).ok()? {
            Wire::Entry(team_id, index, kind, proposal) => Self::Entry(Notice {
                team_id,
                index,
                kind,
                proposal,
            }),
            Wire::User { user, part } => Self::User { user, part },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_as_stored() {
        for kind in EntryKind::ALL {
            assert_eq!(kind.as_str().parse::<EntryKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(kind.as_str()))
            );
        }
        assert_eq!(
            "member_left".parse::<EntryKind>(),
            Err(UnknownKind("member_left".into()))
        );
    }

    #[test]
    fn changes_cross_instances_unchanged() {
        let changes = [
            Change::Entry(Notice {
                team_id: 3,
                index: 41,
                kind: EntryKind::StanceTaken,
                proposal: Some(7),
            }),
            Change::Entry(Notice {
                team_id: 3,
                index: 42,
                kind: EntryKind::MemberRemoved,
                proposal: None,
            }),
            Change::User {
                user: 9,
                part: UserPart::Profile,
            },
        ];
        for change in changes {
            let payload = change.to_payload().expect("sent to other instances");
            assert_eq!(Change::from_payload(&payload), Some(change));
        }
        assert_eq!(Change::Session { id: 1 }.to_payload(), None);
        for bad in ["", "[1,2]", "[1,2,\"nope\",null]", "{\"user\":1}", "{}"] {
            assert_eq!(Change::from_payload(bad), None, "{bad:?} read");
        }
    }
}
