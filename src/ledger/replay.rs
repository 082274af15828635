//! Replays a team's events through the domain rules with no database, so a
//! log can be checked to be a valid history: indices in order, time never
//! going backwards, and every event allowed by the rules at its own time
//! (decisions recorded only by their decider, after the window or once all
//! voted, with every objection answered, and so on).
//!
//! Used by `settled verify` on the live database and on exported files.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::event::{Envelope, Event};
use crate::domain::Violation;
use crate::domain::proposal::{self, DecisionDraft, Position, ProposalState, Status, Voter};
use crate::domain::team::Role;

/// The state of one team as far as the rules need it.
#[derive(Debug, Default)]
pub struct Replay {
    team: Option<i64>,
    next_index: i64,
    last_time: Option<DateTime<Utc>>,
    /// Current members and roles.
    members: BTreeMap<i64, Role>,
    /// Area id → default decider.
    areas: HashMap<i64, i64>,
    proposals: HashMap<i64, ProposalReplay>,
    next_number: i64,
    /// Days a decision may wait after its window.
    decide_within_days: i64,
}

#[derive(Debug)]
struct ProposalReplay {
    state: ProposalState,
    revisions: i64,
    supersedes: Option<i64>,
    current: HashMap<i64, Position>,
}

/// Why an event is not a valid continuation of the history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The index is not the next one.
    #[error("expected index {expected}, found {found}")]
    Index {
        /// The next index.
        expected: i64,
        /// The index found.
        found: i64,
    },
    /// The entry names another team.
    #[error("entry belongs to team {found}, not {expected}")]
    Team {
        /// The log's team.
        expected: i64,
        /// The team named.
        found: i64,
    },
    /// Time went backwards.
    #[error("time {time} is earlier than the previous entry's")]
    Time {
        /// The entry's time.
        time: String,
    },
    /// A rule forbids the event.
    #[error("{kind} breaks a rule: {violation} ({code})", code = violation.code())]
    Rule {
        /// The event kind.
        kind: &'static str,
        /// The rule.
        violation: Violation,
    },
    /// The event refers to something that does not exist or is inconsistent.
    #[error("{kind} is inconsistent with the history: {reason}")]
    Inconsistent {
        /// The event kind.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl Replay {
    /// An empty history.
    pub fn new() -> Self {
        Self {
            next_number: 1,
            decide_within_days: proposal::DEFAULT_DECIDE_WITHIN_DAYS,
            ..Self::default()
        }
    }

    fn role(&self, user: i64) -> Option<Role> {
        self.members.get(&user).copied()
    }

    /// Applies one event, or says why it cannot follow the history so far.
    pub fn apply(&mut self, envelope: &Envelope, event: &Event) -> Result<(), ReplayError> {
        let kind = event.kind().as_str();
        let rule = |violation: Violation| ReplayError::Rule { kind, violation };
        let bad = |reason: &str| ReplayError::Inconsistent {
            kind,
            reason: reason.to_string(),
        };
        if envelope.index != self.next_index {
            return Err(ReplayError::Index {
                expected: self.next_index,
                found: envelope.index,
            });
        }
        match self.team {
            Some(team) if team != envelope.team => {
                return Err(ReplayError::Team {
                    expected: team,
                    found: envelope.team,
                });
            }
            _ => {}
        }
        if self.last_time.is_some_and(|t| envelope.time < t) {
            return Err(ReplayError::Time {
                time: envelope.time.to_rfc3339(),
            });
        }
        let actor = envelope.actor;
        let now = envelope.time;
        let actor_role = self.role(actor);
        if envelope.index == 0 && !matches!(event, Event::TeamCreated { .. }) {
            return Err(bad("a log must start with team_created"));
        }
        match event {
            Event::TeamCreated { .. } => {
                if envelope.index != 0 {
                    return Err(bad("team_created only at index 0"));
                }
                self.team = Some(envelope.team);
                self.members.insert(actor, Role::Admin);
            }
            Event::MemberJoined { user, role } => {
                if *user != actor {
                    return Err(bad("members join themselves, through an invitation"));
                }
                if actor_role.is_some() {
                    return Err(rule(Violation::AlreadyMember));
                }
                self.members.insert(*user, *role);
            }
            Event::RoleChanged { user, role } => {
                if actor_role != Some(Role::Admin) {
                    return Err(rule(Violation::Forbidden));
                }
                let current = self.role(*user).ok_or_else(|| bad("not a member"))?;
                if current == Role::Admin && *role != Role::Admin && self.admins() <= 1 {
                    return Err(rule(Violation::LastAdmin));
                }
                if !role.can_vote() && self.decides_open(*user) {
                    return Err(rule(Violation::DeciderOfOpenProposal));
                }
                self.members.insert(*user, *role);
            }
            Event::MemberRemoved { user } => {
                if actor_role != Some(Role::Admin) && actor != *user {
                    return Err(rule(Violation::Forbidden));
                }
                let current = self.role(*user).ok_or_else(|| bad("not a member"))?;
                if current == Role::Admin && self.admins() <= 1 {
                    return Err(rule(Violation::LastAdmin));
                }
                if self.decides_open(*user) {
                    return Err(rule(Violation::DeciderOfOpenProposal));
                }
                self.members.remove(user);
            }
            Event::AreaSaved {
                area,
                default_decider,
                ..
            } => {
                if actor_role != Some(Role::Admin) {
                    return Err(rule(Violation::Forbidden));
                }
                if !self.role(*default_decider).is_some_and(Role::can_vote) {
                    return Err(rule(Violation::DeciderNotMember));
                }
                self.areas.insert(*area, *default_decider);
            }
            Event::PrReferenced {
                number, state, via, ..
            } => {
                if !self.proposals.contains_key(number) {
                    return Err(bad("references an unknown decision"));
                }
                if !matches!(state.as_str(), "open" | "closed" | "merged")
                    || !matches!(via.as_str(), "pr" | "comment")
                {
                    return Err(bad("unknown pull request state or source"));
                }
            }
            Event::PrUnreferenced { number, .. } => {
                if !self.proposals.contains_key(number) {
                    return Err(bad("references an unknown decision"));
                }
            }
            Event::KeyRenamed { key } => {
                if actor_role != Some(Role::Admin) {
                    return Err(rule(Violation::Forbidden));
                }
                crate::domain::ids::TeamKey::parse(key).map_err(|e| bad(&e.to_string()))?;
            }
            Event::StatusVisibilityChanged { .. } => {
                if actor_role != Some(Role::Admin) {
                    return Err(rule(Violation::Forbidden));
                }
            }
            Event::DecisionPeriodSet { days } => {
                if actor_role != Some(Role::Admin) {
                    return Err(rule(Violation::Forbidden));
                }
                self.decide_within_days =
                    proposal::parse_decide_within_days(*days).map_err(|e| bad(&e.to_string()))?;
            }
            Event::ContentErased { entry: index, .. } => {
                if actor_role != Some(Role::Admin) {
                    return Err(rule(Violation::Forbidden));
                }
                if *index < 0 || *index >= envelope.index {
                    return Err(bad("erases content of an entry that does not precede it"));
                }
            }
            Event::ProposalCreated {
                number,
                area,
                decider,
                closes_at,
                supersedes,
                ..
            } => {
                let author_role = actor_role.ok_or_else(|| bad("the author is not a member"))?;
                if *number != self.next_number {
                    return Err(bad(&format!(
                        "expected proposal number {}",
                        self.next_number
                    )));
                }
                if area.is_some_and(|a| !self.areas.contains_key(&a)) {
                    return Err(bad("unknown area"));
                }
                let superseded = match supersedes {
                    Some(n) => Some(
                        self.proposals
                            .get(n)
                            .ok_or_else(|| bad("supersedes an unknown proposal"))?
                            .state
                            .status,
                    ),
                    None => None,
                };
                proposal::check_new_proposal(
                    author_role,
                    self.role(*decider),
                    *closes_at,
                    now,
                    superseded,
                )
                .map_err(rule)?;
                self.proposals.insert(
                    *number,
                    ProposalReplay {
                        state: ProposalState {
                            status: Status::Open,
                            author: actor,
                            decider: *decider,
                            closes_at: *closes_at,
                        },
                        revisions: 1,
                        supersedes: *supersedes,
                        current: HashMap::new(),
                    },
                );
                self.next_number += 1;
            }
            other => self
                .apply_to_proposal(actor, actor_role, now, other)
                .map_err(|e| match e {
                    Ok(violation) => rule(violation),
                    Err(reason) => bad(&reason),
                })?,
        }
        self.next_index += 1;
        self.last_time = Some(now);
        Ok(())
    }

    fn decides_open(&self, user: i64) -> bool {
        self.proposals
            .values()
            .any(|p| p.state.decider == user && p.state.status == Status::Open)
    }

    fn admins(&self) -> usize {
        self.members.values().filter(|r| **r == Role::Admin).count()
    }

    fn voters(&self, p: &ProposalReplay) -> Vec<Voter> {
        self.members
            .iter()
            .filter(|(_, role)| role.can_vote())
            .map(|(user, _)| Voter {
                user: *user,
                name: format!("user {user}"),
                current: p.current.get(user).copied(),
            })
            .collect()
    }

    /// Events about an existing proposal. `Err(Ok(v))`: a rule; `Err(Err(s))`: inconsistent.
    fn apply_to_proposal(
        &mut self,
        actor: i64,
        actor_role: Option<Role>,
        now: DateTime<Utc>,
        event: &Event,
    ) -> Result<(), Result<Violation, String>> {
        let number = event
            .proposal_number()
            .ok_or_else(|| Err("not about a proposal".to_string()))?;
        let role = actor_role.ok_or_else(|| Err("the actor is not a member".to_string()))?;
        let p = self
            .proposals
            .get(&number)
            .ok_or_else(|| Err(format!("unknown proposal {number}")))?;
        match event {
            Event::ProposalRevised { revision, .. } => {
                p.state.check_revise(actor).map_err(Ok)?;
                if *revision != p.revisions + 1 {
                    return Err(Err(format!("expected revision {}", p.revisions + 1)));
                }
            }
            Event::DeciderChanged { from, to, .. } => {
                if *from != p.state.decider {
                    return Err(Err("names the wrong previous decider".into()));
                }
                p.state
                    .check_change_decider(actor, role, *to, self.role(*to))
                    .map_err(Ok)?;
            }
            Event::DeadlineExtended { closes_at, .. } => {
                p.state.check_extend(actor, *closes_at, now).map_err(Ok)?
            }
            Event::ProposalWithdrawn { .. } => p.state.check_withdraw(actor).map_err(Ok)?,
            Event::DecisionReady { .. } => p
                .state
                .check_ready(actor, now, &self.voters(p))
                .map_err(Ok)?,
            Event::DecisionOverdue { .. } => p
                .state
                .check_overdue(actor, now, self.decide_within_days, 1)
                .map_err(Ok)?,
            Event::DecisionEscalated { told, .. } => {
                p.state
                    .check_overdue(actor, now, self.decide_within_days, 2)
                    .map_err(Ok)?;
                if told.is_empty() || told.iter().any(|u| self.role(*u).is_none()) {
                    return Err(Err("tells no one, or someone outside the team".into()));
                }
            }
            Event::StanceTaken {
                position, reason, ..
            } => {
                p.state.check_stance(role).map_err(Ok)?;
                if *position == Position::Object && reason.is_none() {
                    return Err(Ok(Violation::ReasonRequired));
                }
            }
            Event::CommentAdded { .. } => p.state.check_comment().map_err(Ok)?,
            Event::DecisionRecorded {
                outcome, responses, ..
            } => {
                let mut answered = BTreeMap::new();
                for user in responses.keys() {
                    let user = user
                        .parse::<i64>()
                        .map_err(|_| Err(format!("response key {user:?} is not a user id")))?;
                    answered.insert(user, String::from("(response)"));
                }
                let draft = DecisionDraft {
                    outcome: *outcome,
                    statement: String::new(),
                    rationale: String::new(),
                    responses: answered,
                };
                p.state
                    .check_record(actor, now, &self.voters(p), &draft)
                    .map_err(Ok)?;
            }
            _ => return Err(Err("not about a proposal".into())),
        }
        // The checks passed: apply.
        let supersedes = p.supersedes;
        let p = self
            .proposals
            .get_mut(&number)
            .ok_or_else(|| Err(format!("unknown proposal {number}")))?;
        match event {
            Event::ProposalRevised { .. } => p.revisions += 1,
            Event::DeciderChanged { to, .. } => p.state.decider = *to,
            Event::DeadlineExtended { closes_at, .. } => p.state.closes_at = *closes_at,
            Event::ProposalWithdrawn { .. } => p.state.status = Status::Withdrawn,
            Event::StanceTaken { position, .. } => {
                p.current.insert(actor, *position);
            }
            Event::DecisionRecorded { outcome, .. } => {
                p.state.status = outcome.status();
                if *outcome == proposal::Outcome::Accepted
                    && let Some(old) = supersedes.and_then(|n| self.proposals.get_mut(&n))
                    && old.state.status == Status::Accepted
                {
                    old.state.status = Status::Superseded;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::ledger::event::Content;

    struct Log {
        replay: Replay,
        index: i64,
        time: DateTime<Utc>,
    }

    impl Log {
        fn new() -> Self {
            Self {
                replay: Replay::new(),
                index: 0,
                time: Utc::now(),
            }
        }

        fn push(&mut self, actor: i64, event: Event) -> Result<(), ReplayError> {
            let envelope = Envelope {
                team: 1,
                index: self.index,
                time: self.time,
                actor,
            };
            self.replay.apply(&envelope, &event)?;
            self.index += 1;
            Ok(())
        }
    }

    fn text(t: &str) -> Content {
        Content::with_salt([0; 16], t.into())
    }

    fn started() -> Log {
        let mut log = Log::new();
        let ok = [
            (
                1,
                Event::TeamCreated {
                    name: "T".into(),
                    slug: "t".into(),
                    key: "T".into(),
                    window_hours: 1,
                },
            ),
            (
                2,
                Event::MemberJoined {
                    user: 2,
                    role: Role::Member,
                },
            ),
            (
                3,
                Event::MemberJoined {
                    user: 3,
                    role: Role::Observer,
                },
            ),
        ];
        for (actor, event) in ok {
            assert_eq!(log.push(actor, event), Ok(()));
        }
        let closes_at = log.time + Duration::hours(1);
        let created = Event::ProposalCreated {
            number: 1,
            title: text("t"),
            body: text("b"),
            area: None,
            decider: 2,
            closes_at,
            supersedes: None,
        };
        assert_eq!(log.push(1, created), Ok(()));
        log
    }

    fn code(result: Result<(), ReplayError>) -> Option<&'static str> {
        match result {
            Err(ReplayError::Rule { violation, .. }) => Some(violation.code()),
            _ => None,
        }
    }

    #[test]
    fn a_valid_history_replays() {
        let mut log = started();
        let stance = |position| Event::StanceTaken {
            number: 1,
            position,
            reason: None,
        };
        assert_eq!(log.push(1, stance(Position::Agree)), Ok(()));
        assert_eq!(log.push(2, stance(Position::Agree)), Ok(()));
        let record = Event::DecisionRecorded {
            number: 1,
            outcome: proposal::Outcome::Accepted,
            statement: text("s"),
            rationale: text(""),
            responses: BTreeMap::new(),
        };
        assert_eq!(log.push(2, record), Ok(()));
    }

    #[test]
    fn the_server_tells_only_the_decider_and_only_when_the_proposal_is_ready() {
        let mut log = started();
        let ready = || Event::DecisionReady { number: 1 };
        // Before the window ends, with member 1 silent: not ready.
        assert_eq!(code(log.push(2, ready())), Some("window_open"));
        let agree = |_| Event::StanceTaken {
            number: 1,
            position: Position::Agree,
            reason: None,
        };
        assert_eq!(log.push(2, agree(())), Ok(()));
        assert_eq!(log.push(1, agree(())), Ok(()));
        // Everyone responded: ready, but only its decider (2) is told.
        assert_eq!(code(log.push(1, ready())), Some("not_decider"));
        assert_eq!(log.push(2, ready()), Ok(()));
        // And after the window, a silent team is ready too.
        let mut log = started();
        log.time += Duration::hours(2);
        assert_eq!(log.push(2, ready()), Ok(()));
    }

    #[test]
    fn events_that_break_a_rule_are_named() {
        let record = |responses: BTreeMap<String, Content>| Event::DecisionRecorded {
            number: 1,
            outcome: proposal::Outcome::Accepted,
            statement: text("s"),
            rationale: text(""),
            responses,
        };
        let mut log = started();
        assert_eq!(
            code(log.push(1, record(BTreeMap::new()))),
            Some("not_decider")
        );
        assert_eq!(
            code(log.push(2, record(BTreeMap::new()))),
            Some("window_open")
        );
        let stance = Event::StanceTaken {
            number: 1,
            position: Position::Agree,
            reason: None,
        };
        assert_eq!(code(log.push(3, stance)), Some("observer_cannot_vote"));
        let objection = Event::StanceTaken {
            number: 1,
            position: Position::Object,
            reason: Some(text("no")),
        };
        assert_eq!(log.push(1, objection), Ok(()));
        let agree = Event::StanceTaken {
            number: 1,
            position: Position::Agree,
            reason: None,
        };
        assert_eq!(log.push(2, agree), Ok(()));
        assert_eq!(
            code(log.push(2, record(BTreeMap::new()))),
            Some("objection_unanswered")
        );
        let answered = BTreeMap::from([("1".to_string(), text("answer"))]);
        assert_eq!(log.push(2, record(answered)), Ok(()));
        let late = Event::CommentAdded {
            number: 1,
            body: text("late"),
        };
        assert_eq!(code(log.push(1, late)), Some("not_open"));
    }

    #[test]
    fn order_team_and_time_are_checked() {
        let mut log = started();
        log.index = 9;
        assert!(matches!(
            log.push(1, Event::MemberRemoved { user: 3 }),
            Err(ReplayError::Index {
                expected: 4,
                found: 9
            })
        ));
        log.index = 4;
        log.time -= Duration::seconds(5);
        assert!(matches!(
            log.push(1, Event::MemberRemoved { user: 3 }),
            Err(ReplayError::Time { .. })
        ));
        let mut fresh = Log::new();
        assert!(matches!(
            fresh.push(1, Event::MemberRemoved { user: 1 }),
            Err(ReplayError::Inconsistent { .. })
        ));
    }
}
