//! The events of the log and their canonical payloads.
//!
//! A payload is canonical JSON (UTF-8, keys sorted, no insignificant
//! whitespace) of the event's fields plus `team`, `index`, `time`, `actor`
//! and `kind`. Free text appears only as a salted commitment
//! SHA-256(salt || text); the text and salt are stored beside the entry so
//! they can be erased later without breaking any hash.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::db::Timestamp;
use crate::domain::change::EntryKind;
use crate::domain::proposal::{Outcome, Position};
use crate::domain::team::Role;

/// Free text in an event: its commitment is in the payload; the text and its
/// salt travel beside the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// SHA-256(salt || text).
    pub commitment: [u8; 32],
    /// The text and salt; `None` when read back from a payload alone, or
    /// once erased.
    pub opening: Option<Opening>,
}

/// What opens a commitment: the salt and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// 16 random bytes.
    pub salt: [u8; 16],
    /// The text itself.
    pub text: String,
}

impl Content {
    /// Commits to `text` with a fresh random salt.
    pub fn new(text: impl Into<String>) -> Result<Self, getrandom::Error> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)?;
        Ok(Self::with_salt(salt, text.into()))
    }

    /// Commits to `text` with a given salt.
    pub fn with_salt(salt: [u8; 16], text: String) -> Self {
        Self {
            commitment: commit(&salt, &text),
            opening: Some(Opening { salt, text }),
        }
    }

    /// The text, or an empty string if it is not known (erased).
    pub fn text(&self) -> &str {
        self.opening.as_ref().map_or("", |o| o.text.as_str())
    }
}

/// SHA-256(salt || text).
pub fn commit(salt: &[u8], text: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.commitment))
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let commitment = deserializer.deserialize_str(Text(|text: &str| {
            // Lower-case only, so one commitment has one spelling.
            super::canonical::hex_array::<32>(text, true)
                .ok_or_else(|| "commitments are 64 lower-case hex digits".to_string())
        }))?;
        Ok(Self {
            commitment,
            opening: None,
        })
    }
}

/// Reads a string field through `F` without copying it when the input can
/// lend it.
struct Text<F>(F);

impl<T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'_> for Text<F> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
}

/// Timestamps inside payloads: the same fixed-width text as in the tables.
mod instant {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Timestamp(*t).to_text())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_str(Text(|text: &str| {
            parse(text).ok_or_else(|| "times are RFC 3339 UTC with microseconds".to_string())
        }))
    }

    /// Parses only the one spelling we write (`2026-01-31T09:05:00.000000Z`,
    /// every field fixed width), so one instant has one text.
    pub fn parse(text: &str) -> Option<DateTime<Utc>> {
        let b = text.as_bytes();
        let shape = b"0000-00-00T00:00:00.000000Z";
        if b.len() != shape.len() {
            return None;
        }
        for (&have, &want) in b.iter().zip(shape) {
            let ok = if want == b'0' {
                have.is_ascii_digit()
            } else {
                have == want
            };
            if !ok {
                return None;
            }
        }
        let num = |from: usize, to: usize| {
            b[from..to]
                .iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
        };
        let date =
            chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)).ok()?, num(5, 7), num(8, 10))?;
        let time = chrono::NaiveTime::from_hms_micro_opt(
            num(11, 13),
            num(14, 16),
            num(17, 19),
            num(20, 26),
        )?;
        Some(date.and_time(time).and_utc())
    }
}

/// Optional fields must be present (as `null` when empty): with serde's
/// default, a missing key would also read as `None`, giving one event two
/// spellings.
fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Collects `(path, content)` for every free-text field of an event; one
/// body serves both shared and mutable access (match ergonomics pick `&` or
/// `&mut`).
macro_rules! visit_contents {
    ($event:expr, $out:ident) => {
        match $event {
            Event::AreaSaved { description, .. } => {
                $out.push(("description".to_string(), description))
            }
            Event::ProposalCreated { title, body, .. } => {
                $out.push(("title".to_string(), title));
                $out.push(("body".to_string(), body));
            }
            Event::PrReferenced { title, .. } => $out.push(("title".to_string(), title)),
            Event::ProposalRevised { body, .. } | Event::CommentAdded { body, .. } => {
                $out.push(("body".to_string(), body))
            }
            Event::ProposalWithdrawn { reason, .. }
            | Event::StanceTaken {
                reason: Some(reason),
                ..
            } => $out.push(("reason".to_string(), reason)),
            Event::DecisionRecorded {
                statement,
                rationale,
                responses,
                ..
            } => {
                $out.push(("statement".to_string(), statement));
                $out.push(("rationale".to_string(), rationale));
                for (user, response) in responses {
                    $out.push((format!("responses.{user}"), response));
                }
            }
            _ => {}
        }
    };
}

/// Something that happened in a team. The variant name (snake case) is the
/// entry's `kind`.
///
/// In Rust the enum is externally tagged (`{"stance_taken": {..}}`);
/// [`canonical_payload`] and [`parse_payload`] flatten that into the payload's
/// `kind` field. Serde's internally tagged form would buffer every field
/// before choosing the variant, which made reading payloads twice as slow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The team was created; the actor becomes its first admin.
    TeamCreated {
        /// Display name.
        name: String,
        /// URL slug.
        slug: String,
        /// Key used in decision ids.
        key: String,
        /// Default window length in hours.
        window_hours: i64,
    },
    /// Someone joined (or re-joined) the team.
    MemberJoined {
        /// The new member.
        user: i64,
        /// Their role.
        role: Role,
    },
    /// A member's role changed.
    RoleChanged {
        /// The member.
        user: i64,
        /// The new role.
        role: Role,
    },
    /// A member was removed; their history stays.
    MemberRemoved {
        /// The former member.
        user: i64,
    },
    /// An area was created or edited.
    AreaSaved {
        /// The area's id.
        area: i64,
        /// Its name.
        name: String,
        /// What it covers.
        description: Content,
        /// Who decides in it by default.
        default_decider: i64,
    },
    /// A proposal was opened.
    ProposalCreated {
        /// Per-team number (the N of KEY-N).
        number: i64,
        /// Title.
        title: Content,
        /// Markdown body, revision 1.
        body: Content,
        /// Area, if any.
        #[serde(deserialize_with = "required")]
        area: Option<i64>,
        /// The named decider.
        decider: i64,
        /// End of the asynchronous window.
        #[serde(with = "instant")]
        closes_at: DateTime<Utc>,
        /// Number of the accepted proposal this one would replace.
        #[serde(deserialize_with = "required")]
        supersedes: Option<i64>,
    },
    /// The author revised the body.
    ProposalRevised {
        /// The proposal.
        number: i64,
        /// Revision number, from 2.
        revision: i64,
        /// The new body.
        body: Content,
    },
    /// A new decider was named.
    DeciderChanged {
        /// The proposal.
        number: i64,
        /// The previous decider.
        from: i64,
        /// The new decider.
        to: i64,
    },
    /// The decider extended the window.
    DeadlineExtended {
        /// The proposal.
        number: i64,
        /// The new end of the window.
        #[serde(with = "instant")]
        closes_at: DateTime<Utc>,
    },
    /// The server told the decider the proposal is ready for their
    /// decision: its window ended, or every voting member responded. The
    /// server's clock appends it; the envelope's actor is the decider told.
    DecisionReady {
        /// The proposal.
        number: i64,
    },
    /// The server reminded the decider that the proposal is overdue: its
    /// window ended more than the team's period ago (at most once a day,
    /// in the decider's local morning). The envelope's actor is the decider.
    DecisionOverdue {
        /// The proposal.
        number: i64,
    },
    /// The server told the team's admins and the area's default decider
    /// that the proposal has waited two periods for its decision. The
    /// envelope's actor is the decider waited for.
    DecisionEscalated {
        /// The proposal.
        number: i64,
        /// Who was told (user ids).
        told: Vec<i64>,
    },
    /// An admin set how many days a decision may wait after its window.
    DecisionPeriodSet {
        /// Days.
        days: i64,
    },
    /// The proposal was withdrawn.
    ProposalWithdrawn {
        /// The proposal.
        number: i64,
        /// Why.
        reason: Content,
    },
    /// A member took (or changed) their stance.
    StanceTaken {
        /// The proposal.
        number: i64,
        /// The position.
        position: Position,
        /// Why, if given (always for an objection).
        #[serde(deserialize_with = "required")]
        reason: Option<Content>,
    },
    /// A comment was added.
    CommentAdded {
        /// The proposal.
        number: i64,
        /// Markdown text.
        body: Content,
    },
    /// A pull request on a code host references a decision (first seen, or
    /// its title or state changed). Recorded from a verified webhook; the
    /// actor is the admin who set up that webhook's secret.
    PrReferenced {
        /// The decision.
        number: i64,
        /// `github`, `gitlab`, `gitea` or `forgejo`.
        host: String,
        /// `owner/name`.
        repo: String,
        /// The pull request's number.
        pr: i64,
        /// Its web address.
        url: String,
        /// Its title.
        title: Content,
        /// `open`, `closed` or `merged`.
        state: String,
        /// `pr` (its title or body) or `comment`.
        via: String,
    },
    /// An edit of a pull request's title or body removed its mention of a
    /// decision (mentions in comments stay).
    PrUnreferenced {
        /// The decision.
        number: i64,
        /// Code host.
        host: String,
        /// `owner/name`.
        repo: String,
        /// The pull request's number.
        pr: i64,
    },
    /// An admin renamed the team's key; the old key stays an alias.
    KeyRenamed {
        /// The new key.
        key: String,
    },
    /// An admin made the status (not the contents) of the team's decisions
    /// public, or private again.
    StatusVisibilityChanged {
        /// Whether anyone may read status and badges.
        public: bool,
    },
    /// An admin erased the text (and salt) of one commitment of an earlier
    /// entry; the commitment, the entry and every proof stay valid.
    ContentErased {
        /// The entry whose text was erased (not `index`: that key is the
        /// envelope's).
        entry: i64,
        /// The field's path in that entry's payload.
        field: String,
    },
    /// The decider recorded the outcome: the immutable record.
    DecisionRecorded {
        /// The proposal.
        number: i64,
        /// Accepted or rejected.
        outcome: Outcome,
        /// What was agreed.
        statement: Content,
        /// Why.
        rationale: Content,
        /// A response per objector (user id as text → response).
        responses: BTreeMap<String, Content>,
    },
}

impl Event {
    /// The entry kind (the serde tag).
    pub fn kind(&self) -> EntryKind {
        match self {
            Self::TeamCreated { .. } => EntryKind::TeamCreated,
            Self::MemberJoined { .. } => EntryKind::MemberJoined,
            Self::RoleChanged { .. } => EntryKind::RoleChanged,
            Self::MemberRemoved { .. } => EntryKind::MemberRemoved,
            Self::AreaSaved { .. } => EntryKind::AreaSaved,
            Self::ProposalCreated { .. } => EntryKind::ProposalCreated,
            Self::ProposalRevised { .. } => EntryKind::ProposalRevised,
            Self::DeciderChanged { .. } => EntryKind::DeciderChanged,
            Self::DeadlineExtended { .. } => EntryKind::DeadlineExtended,
            Self::DecisionReady { .. } => EntryKind::DecisionReady,
            Self::DecisionOverdue { .. } => EntryKind::DecisionOverdue,
            Self::DecisionEscalated { .. } => EntryKind::DecisionEscalated,
            Self::DecisionPeriodSet { .. } => EntryKind::DecisionPeriodSet,
            Self::ProposalWithdrawn { .. } => EntryKind::ProposalWithdrawn,
            Self::StanceTaken { .. } => EntryKind::StanceTaken,
            Self::CommentAdded { .. } => EntryKind::CommentAdded,
            Self::DecisionRecorded { .. } => EntryKind::DecisionRecorded,
            Self::ContentErased { .. } => EntryKind::ContentErased,
            Self::StatusVisibilityChanged { .. } => EntryKind::StatusVisibilityChanged,
            Self::PrReferenced { .. } => EntryKind::PrReferenced,
            Self::KeyRenamed { .. } => EntryKind::KeyRenamed,
            Self::PrUnreferenced { .. } => EntryKind::PrUnreferenced,
        }
    }

    /// The proposal number this event is about, if any.
    pub fn proposal_number(&self) -> Option<i64> {
        match self {
            Self::ProposalCreated { number, .. }
            | Self::ProposalRevised { number, .. }
            | Self::DeciderChanged { number, .. }
            | Self::DeadlineExtended { number, .. }
            | Self::DecisionReady { number }
            | Self::DecisionOverdue { number }
            | Self::DecisionEscalated { number, .. }
            | Self::ProposalWithdrawn { number, .. }
            | Self::StanceTaken { number, .. }
            | Self::CommentAdded { number, .. }
            | Self::DecisionRecorded { number, .. }
            | Self::PrReferenced { number, .. }
            | Self::PrUnreferenced { number, .. } => Some(*number),
            _ => None,
        }
    }

    /// Every free-text field with its path in the payload.
    pub fn contents(&self) -> Vec<(String, &Content)> {
        let mut out = Vec::new();
        visit_contents!(self, out);
        out
    }

    /// Mutable access to the free-text fields, to attach stored openings to
    /// an event read back from its payload.
    pub fn contents_mut(&mut self) -> Vec<(String, &mut Content)> {
        let mut out = Vec::new();
        visit_contents!(self, out);
        out
    }
}

/// The envelope every payload carries besides the event's own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Team id.
    pub team: i64,
    /// Index in the team's log, from 0.
    pub index: i64,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Who did it.
    pub actor: i64,
}

/// Reasons a payload cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or not an event.
    #[error("payload is not a valid event: {0}")]
    Json(#[from] serde_json::Error),
    /// A required envelope field is missing or mistyped.
    #[error("payload envelope field {0:?} is missing or invalid")]
    Envelope(&'static str),
    /// The text is not canonical JSON (first offending byte offset).
    #[error("payload is not canonical JSON (at byte {0})")]
    NotCanonical(usize),
}

/// The canonical payload text of `event` in `envelope`.
pub fn canonical_payload(envelope: &Envelope, event: &Event) -> Result<String, serde_json::Error> {
    let mut value = match serde_json::to_value(event)? {
        serde_json::Value::Object(tagged) => {
            let mut fields = serde_json::Map::new();
            for (kind, inner) in tagged {
                if let serde_json::Value::Object(inner) = inner {
                    fields = inner;
                }
                if fields.insert("kind".into(), kind.into()).is_some() {
                    return Err(<serde_json::Error as serde::ser::Error>::custom(
                        "event field \"kind\" collides with the envelope",
                    ));
                }
            }
            serde_json::Value::Object(fields)
        }
        other => other,
    };
    if let serde_json::Value::Object(map) = &mut value {
        // An event field named like an envelope key would be silently
        // overwritten and lost: refuse rather than hash the wrong thing.
        if let Some(key) = ["team", "index", "time", "actor"]
            .into_iter()
            .find(|k| map.contains_key(*k))
        {
            return Err(<serde_json::Error as serde::ser::Error>::custom(format!(
                "event field {key:?} collides with the envelope"
            )));
        }
        map.insert("team".into(), envelope.team.into());
        map.insert("index".into(), envelope.index.into());
        map.insert("time".into(), Timestamp(envelope.time).to_text().into());
        map.insert("actor".into(), envelope.actor.into());
    }
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out
    // sorted, and `to_string` emits no whitespace.
    serde_json::to_string(&value)
}

/// Reads a payload back into its envelope and event, and checks it is
/// exactly the canonical form (so two texts can never hash one event).
///
/// One pass checks the text is canonical JSON and splits its top-level
/// members; the event's own members are then read straight into the typed
/// event, with no intermediate `serde_json::Value`. The event types add the
/// rest of canonicity: every field present, one spelling per value.
pub fn parse_payload(payload: &str) -> Result<(Envelope, Event), PayloadError> {
    let members = super::canonical::object_members(payload)
        .map_err(|super::canonical::NotCanonical(at)| PayloadError::NotCanonical(at))?;
    let int = |key: &'static str| {
        members
            .get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or(PayloadError::Envelope(key))
    };
    let string = |key: &'static str| {
        members
            .get(key)
            .and_then(|v| v.strip_prefix('"')?.strip_suffix('"'))
            .filter(|s| !s.contains('\\'))
            .ok_or(PayloadError::Envelope(key))
    };
    let team = int("team")?;
    let index = int("index")?;
    let actor = int("actor")?;
    let time = instant::parse(string("time")?).ok_or(PayloadError::Envelope("time"))?;
    let kind = string("kind")?;
    // `{"<kind>":{<the event's members>}}`: the externally tagged form.
    let mut tagged = String::with_capacity(payload.len() + 8);
    tagged.push_str("{\"");
    tagged.push_str(kind);
    tagged.push_str("\":{");
    let mut first = true;
    for (key, value) in members.iter() {
        if ENVELOPE.contains(&key) {
            continue;
        }
        if !first {
            tagged.push(',');
        }
        first = false;
        tagged.push('"');
        tagged.push_str(key);
        tagged.push_str("\":");
        tagged.push_str(value);
    }
    tagged.push_str("}}");
    let event: Event = serde_json::from_str(&tagged)?;
    Ok((
        Envelope {
            team,
            index,
            time,
            actor,
        },
        event,
    ))
}

/// The keys every payload has besides the event's own fields.
const ENVELOPE: [&str; 5] = ["actor", "index", "kind", "team", "time"];

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that only compares what is written with the expected bytes,
    /// failing at the first difference: checks a text is canonical without
    /// building the canonical text.
    struct SameBytes<'a> {
        expected: &'a [u8],
        matched: usize,
    }

    impl std::io::Write for SameBytes<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let end = self.matched + buf.len();
            if self.expected.get(self.matched..end) == Some(buf) {
                self.matched = end;
                Ok(buf.len())
            } else {
                Err(std::io::Error::other("not canonical"))
            }
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The earlier reader, kept as an oracle: parse into a `Value`, check
    /// printing it gives the same bytes, then read the event from the value.
    fn reference_parse(payload: &str) -> Option<(Envelope, Event)> {
        let mut value: serde_json::Value = serde_json::from_str(payload).ok()?;
        let mut same = SameBytes {
            expected: payload.as_bytes(),
            matched: 0,
        };
        if serde_json::to_writer(&mut same, &value).is_err() || same.matched != payload.len() {
            return None;
        }
        let map = value.as_object_mut()?;
        let team = map.remove("team")?.as_i64()?;
        let index = map.remove("index")?.as_i64()?;
        let actor = map.remove("actor")?.as_i64()?;
        let time = instant::parse(map.remove("time")?.as_str()?)?;
        let serde_json::Value::String(kind) = map.remove("kind")? else {
            return None;
        };
        let mut tagged = serde_json::Map::new();
        tagged.insert(kind, serde_json::Value::Object(std::mem::take(map)));
        let event = serde_json::from_value(serde_json::Value::Object(tagged)).ok()?;
        Some((
            Envelope {
                team,
                index,
                time,
                actor,
            },
            event,
        ))
    }

    fn envelope() -> Envelope {
        Envelope {
            team: 1,
            index: 7,
            time: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default(),
            actor: 3,
        }
    }

    /// One event of every kind, with texts that need escaping.
    fn one_of_each() -> Vec<Event> {
        let c = |t: &str| Content::with_salt([7; 16], t.to_string());
        let time = DateTime::from_timestamp_micros(1_800_000_000_000_001).unwrap_or_default();
        vec![
            Event::TeamCreated {
                name: "Plat\"form\\ \u{1} é".into(),
                slug: "platform".into(),
                key: "ARCH".into(),
                window_hours: 72,
            },
            Event::MemberJoined {
                user: 2,
                role: Role::Member,
            },
            Event::RoleChanged {
                user: 2,
                role: Role::Observer,
            },
            Event::MemberRemoved { user: 2 },
            Event::AreaSaved {
                area: 1,
                name: "Infra\n".into(),
                description: c("d"),
                default_decider: 1,
            },
            Event::ProposalCreated {
                number: 1,
                title: c("t"),
                body: c("b"),
                area: Some(1),
                decider: 1,
                closes_at: time,
                supersedes: None,
            },
            Event::ProposalRevised {
                number: 1,
                revision: 2,
                body: c("b2"),
            },
            Event::DeciderChanged {
                number: 1,
                from: 1,
                to: -3,
            },
            Event::DeadlineExtended {
                number: 1,
                closes_at: time,
            },
            Event::DecisionReady { number: 1 },
            Event::DecisionOverdue { number: 1 },
            Event::DecisionEscalated {
                number: 1,
                told: vec![1, 2],
            },
            Event::DecisionPeriodSet { days: 7 },
            Event::ProposalWithdrawn {
                number: 1,
                reason: c("r"),
            },
            Event::StanceTaken {
                number: 1,
                position: Position::Object,
                reason: Some(c("no")),
            },
            Event::CommentAdded {
                number: 1,
                body: c("hi"),
            },
            Event::PrReferenced {
                number: 1,
                host: "github".into(),
                repo: "o/r".into(),
                pr: 9,
                url: "https://example.com/o/r/pull/9".into(),
                title: c("pr"),
                state: "open".into(),
                via: "pr".into(),
            },
            Event::PrUnreferenced {
                number: 1,
                host: "github".into(),
                repo: "o/r".into(),
                pr: 9,
            },
            Event::KeyRenamed { key: "PLAT".into() },
            Event::StatusVisibilityChanged { public: true },
            Event::ContentErased {
                entry: 3,
                field: "body".into(),
            },
            Event::DecisionRecorded {
                number: 1,
                outcome: Outcome::Accepted,
                statement: c("s"),
                rationale: c("r"),
                responses: [("2".to_string(), c("a")), ("10".to_string(), c("b"))].into(),
            },
        ]
    }

    #[test]
    fn the_one_pass_reader_agrees_with_the_value_reader_on_every_mutation() {
        let events = one_of_each();
        let kinds: std::collections::HashSet<_> = events.iter().map(Event::kind).collect();
        assert_eq!(kinds.len(), EntryKind::ALL.len(), "one sample per kind");
        let mut accepted = 0;
        for event in &events {
            let payload = canonical_payload(&envelope(), event).expect("serialises");
            let parsed = parse_payload(&payload).expect("a canonical payload reads back");
            assert_eq!(parsed.1.kind(), event.kind());
            assert_eq!(
                canonical_payload(&parsed.0, &parsed.1).expect("serialises"),
                payload
            );
            // Every insertion, deletion and replacement of one byte by a
            // character that matters to JSON.
            let bytes = payload.as_bytes();
            let mut variants = Vec::new();
            for at in 0..=bytes.len() {
                for ch in [b' ', b'"', b'\\', b',', b'0', b'1', b'-', b'e', b'A', b'}'] {
                    let mut inserted = bytes.to_vec();
                    inserted.insert(at, ch);
                    variants.push(inserted);
                    if at < bytes.len() {
                        let mut replaced = bytes.to_vec();
                        replaced[at] = ch;
                        variants.push(replaced);
                    }
                }
                if at < bytes.len() {
                    let mut deleted = bytes.to_vec();
                    deleted.remove(at);
                    variants.push(deleted);
                }
            }
            for variant in variants {
                let Ok(text) = String::from_utf8(variant) else {
                    continue;
                };
                let fast = parse_payload(&text).ok();
                let slow = reference_parse(&text);
                assert_eq!(fast, slow, "readers disagree on {text}");
                accepted += usize::from(fast.is_some() && text != payload);
            }
        }
        // Some mutations are new valid payloads (another number, say): the
        // two readers must accept exactly the same ones.
        assert!(accepted > 0);
    }

    #[test]
    fn instants_read_back_only_in_the_spelling_we_write() {
        for micros in [
            0,
            1,
            -62_135_596_800_000_000, // 0001-01-01
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
            1_709_164_800_000_000,   // 2024-02-29
            1_800_000_000_123_456,
        ] {
            let t = DateTime::from_timestamp_micros(micros).expect("in range");
            let text = Timestamp(t).to_text();
            assert_eq!(instant::parse(&text), Some(t), "{text}");
        }
        for bad in [
            "2023-02-29T00:00:00.000000Z",
            "2023-11-14T24:00:00.000000Z",
            "2023-11-14T23:60:00.000000Z",
            "2023-11-14T23:59:60.000000Z",
            "2023-11-14T22:13:20.123456+00:00",
            "2023-11-14T22:13:20.123Z",
            "2023-11-14t22:13:20.123456Z",
            "2023-11-14T22:13:20.12345+Z",
            "+2023-11-14T22:13:20.123456Z",
            "2023-11-14T22:13:20.123456z",
        ] {
            assert_eq!(instant::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn payloads_are_canonical_and_commit_to_text() {
        let event = Event::StanceTaken {
            number: 4,
            position: Position::Object,
            reason: Some(Content::with_salt([0u8; 16], "Too costly".into())),
        };
        let payload = canonical_payload(&envelope(), &event).expect("serialises");
        let expected_commit = hex::encode(commit(&[0u8; 16], "Too costly"));
        assert_eq!(
            payload,
            format!(
                r#"{{"actor":3,"index":7,"kind":"stance_taken","number":4,"position":"object","reason":"{expected_commit}","team":1,"time":"2023-11-14T22:13:20.123456Z"}}"#
            )
        );
        assert!(!payload.contains("Too costly"));
        let (env, back) = parse_payload(&payload).expect("parses");
        assert_eq!(env, envelope());
        assert_eq!(back.kind(), EntryKind::StanceTaken);
        assert_eq!(
            back.contents()[0].1.commitment,
            commit(&[0u8; 16], "Too costly")
        );
    }

    #[test]
    fn a_payload_with_extra_whitespace_or_fields_is_refused() {
        let event = Event::MemberRemoved { user: 9 };
        let payload = canonical_payload(&envelope(), &event).expect("serialises");
        assert!(parse_payload(&payload).is_ok());
        assert!(matches!(
            parse_payload(&payload.replace(',', ", ")),
            Err(PayloadError::NotCanonical(_))
        ));
        assert!(parse_payload(&payload.replace("\"user\":9", "\"user\":9,\"x\":1")).is_err());
    }

    #[test]
    fn each_event_has_exactly_one_spelling() {
        let event = Event::StanceTaken {
            number: 4,
            position: Position::Agree,
            reason: None,
        };
        let payload = canonical_payload(&envelope(), &event).expect("serialises");
        assert!(payload.contains("\"reason\":null"));
        assert!(parse_payload(&payload).is_ok());
        let missing = payload.replace(",\"reason\":null", "");
        assert!(
            parse_payload(&missing).is_err(),
            "an absent optional field is not the same text"
        );
        let other_time = payload.replace(
            "2023-11-14T22:13:20.123456Z",
            "2023-11-14T22:13:20.123456+00:00",
        );
        assert_ne!(other_time, payload);
        assert!(
            parse_payload(&other_time).is_err(),
            "one spelling per instant"
        );
        let with_reason = Event::StanceTaken {
            number: 4,
            position: Position::Object,
            reason: Some(Content::with_salt([1; 16], "x".into())),
        };
        let payload = canonical_payload(&envelope(), &with_reason).expect("serialises");
        let hex_lower = hex::encode(commit(&[1; 16], "x"));
        let upper = payload.replace(&hex_lower, &hex_lower.to_uppercase());
        assert!(
            parse_payload(&upper).is_err(),
            "one spelling per commitment"
        );
    }
}
