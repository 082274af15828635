//! Composing an outbox row into a message, from the tables as they are when
//! it is sent: multipart plain text and HTML (inline styles), a subject that
//! names the team, a stable Message-ID, and for member mail the RFC 8058
//! one-click unsubscribe headers.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use serde::{Deserialize, Serialize};

use super::Mailer;
use super::unsubscribe::Keys;
use crate::db::announcements::Detail;
use crate::db::outbox::{MailKind, Row};
use crate::db::{Db, proposals, teams, users};
use crate::domain::mail::Scope;
use crate::domain::proposal::Status;
use crate::domain::team::Role;
use crate::format::when;

/// What a mail says, in both formats.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The team's name (subject prefix, footer).
    pub team: String,
    /// Subject line.
    pub subject: String,
    /// The first line, as a heading.
    pub heading: String,
    /// Plain paragraphs.
    pub paragraphs: Vec<String>,
    /// Quoted texts with their label ("What was agreed").
    pub quotes: Vec<(String, String)>,
    /// The one link that matters: label and URL.
    pub action: (String, String),
    /// Why the recipient gets this.
    pub why: String,
    /// What an unsubscribe stops, and its link.
    pub unsubscribe: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    n: &'a Notice,
}

impl NoticeText<'_> {
    /// `text` with every line quoted.
    fn quoted(&self, text: &str) -> String {
        quote(text, "")
    }
}

/// `text` with every line quoted (`> `) after `indent`, as mail clients
/// show quotations in plain text.
fn quote(text: &str, indent: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                format!("{indent}>")
            } else {
                format!("{indent}> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeHtml<'a> {
    n: &'a Notice,
}

/// The data of an invitation row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationData {
    /// The link (its token is the secret).
    pub link: String,
    /// The role offered.
    pub role: String,
    /// Who invited.
    pub by: String,
    /// When the link expires.
    pub expires_at: DateTime<Utc>,
}

/// The data of a digest row: proposal numbers per section and the window
/// it covers (built by the digest clock, `super::digest`; the titles and
/// texts are read again when the row is sent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestData {
    /// `daily` or `weekly`.
    pub cadence: String,
    /// Since (exclusive).
    pub since: DateTime<Utc>,
    /// Until (inclusive): the slot.
    pub until: DateTime<Utc>,
    /// Opened in the window by others and still open, for members who
    /// fold opening notices into their digest (older rows lack it).
    #[serde(default)]
    pub opened: Vec<i64>,
    /// Open, no stance of the member, by deadline.
    pub needs_stance: Vec<i64>,
    /// Open, closing within 48 hours of `until`, not in `needs_stance`.
    pub closing_soon: Vec<i64>,
    /// Decided in the window, newest first.
    pub decided: Vec<i64>,
    /// Proposals the member takes part in with others' new comments: number
    /// and how many.
    pub comments: Vec<(i64, i64)>,
}

impl DigestData {
    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty()
            && self.needs_stance.is_empty()
            && self.closing_soon.is_empty()
            && self.decided.is_empty()
            && self.comments.is_empty()
    }
}

/// Who reads a mail about a proposal.
#[derive(Debug, Clone, Copy)]
struct Reader {
    /// Their user id.
    id: i64,
    /// Whether they observe the team (no stance, no decision).
    observer: bool,
    /// Their time zone.
    tz: Tz,
    /// Now.
    now: DateTime<Utc>,
}

/// What to do with a due row.
#[derive(Debug)]
pub enum Outcome {
    /// Send this.
    Send(Box<Message>),
    /// Nothing to send any more (the reason is recorded).
    Skip(String),
}

/// Everything composing needs.
#[derive(Clone, Debug)]
pub struct Composer {
    /// Reads.
    pub db: Db,
    /// Base URL for links.
    pub base_url: String,
    /// Unsubscribe link keys.
    pub keys: Keys,
    /// The instance's clock (relative times, what is still due).
    pub clock: crate::ledger::clock::Clock,
}

/// Why a row cannot be composed (a bug or a broken row: not retried).
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A database error (retried).
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The row cannot become a message.
    #[error("{0}")]
    Broken(String),
}

impl Composer {
    /// The message for `row`, or why there is none.
    pub async fn compose(&self, mailer: &Mailer, row: &Row) -> Result<Outcome, ComposeError> {
        let mut pool = self.db.reader();
        let team = teams::by_id(pool.re(), row.team_id)
            .await?
            .ok_or_else(|| ComposeError::Broken(format!("team {} is gone", row.team_id)))?;
        let user = match row.user_id {
            Some(id) => Some(
                users::by_id(&self.db, id)
                    .await?
                    .ok_or_else(|| ComposeError::Broken(format!("user {id} is gone")))?,
            ),
            None => None,
        };
        let tz = user.as_ref().map_or(chrono_tz::UTC, |u| u.time_zone);
        let now = self.clock.now();
        let detail: Option<Detail> = row
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let mut role = None;
        // An unsubscribe applies to mail already queued, too.
        if let Some(u) = &user
            && let Some(settings) = users::mail_settings(&self.db, u.id).await?
        {
            let digest_on = settings.digest != users::Digest::Off;
            let wanted = match row.kind {
                MailKind::DeciderNamed | MailKind::Ready => settings.notify_decider,
                MailKind::Decided | MailKind::Withdrawn => settings.notify_decided,
                MailKind::Opened => {
                    settings.notify_opened && !(digest_on && settings.digest_opened)
                }
                // The former decider hears that they no longer decide.
                MailKind::Updated => {
                    settings.notify_opened
                        || matches!(detail, Some(Detail::Decider { from, .. }) if from == u.id)
                }
                MailKind::Reminder => settings.notify_reminder,
                MailKind::Overdue | MailKind::Escalated => settings.notify_overdue,
                MailKind::Mentioned => settings.notify_mentioned,
                MailKind::Digest => digest_on,
                MailKind::Invitation => true,
            };
            if !wanted {
                return Ok(Outcome::Skip("turned off by the member".into()));
            }
            // A member who left no longer hears of the team.
            role = teams::role_of(pool.re(), team.id, u.id).await?;
            if role.is_none() {
                return Ok(Outcome::Skip("no longer a member".into()));
            }
        }
        let notice = match row.kind {
            MailKind::Invitation => self.invitation(&team, row)?,
            MailKind::Digest => {
                let member = user
                    .as_ref()
                    .ok_or_else(|| ComposeError::Broken("no recipient member".into()))?;
                let data: DigestData = row
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .ok_or_else(|| ComposeError::Broken("digest without its contents".into()))?;
                let view = self.digest(&team, &data, member.id, tz, now).await?;
                if view.sections.is_empty() {
                    return Ok(Outcome::Skip("nothing left to say".into()));
                }
                let to = mailbox(&member.display_name, &row.recipient)?;
                return Ok(Outcome::Send(Box::new(build_digest(
                    mailer, row, to, &view,
                )?)));
            }
            kind => {
                let number = row
                    .proposal_number
                    .ok_or_else(|| ComposeError::Broken("no proposal number".into()))?;
                let Some(p) = proposals::by_number(pool.re(), team.id, number).await? else {
                    return Ok(Outcome::Skip(format!("{}-{number} is gone", team.key)));
                };
                let member = user
                    .as_ref()
                    .ok_or_else(|| ComposeError::Broken("no recipient member".into()))?;
                let reader = Reader {
                    id: member.id,
                    observer: role == Some(Role::Observer),
                    tz,
                    now,
                };
                match kind {
                    MailKind::DeciderNamed => self.decider_named(&team, &p, member.id, tz, now)?,
                    MailKind::Decided => match proposals::decision(pool.re(), p.id).await? {
                        Some(d) => self.decided(&team, &p, &d, &reader).await?,
                        None => return Ok(Outcome::Skip("no decision recorded".into())),
                    },
                    MailKind::Opened => {
                        if p.status != Status::Open {
                            return Ok(Outcome::Skip("the proposal is no longer open".into()));
                        }
                        self.opened(&team, &p, &reader)
                    }
                    MailKind::Updated => {
                        let Some(detail) = &detail else {
                            return Err(ComposeError::Broken("update without its change".into()));
                        };
                        if p.status != Status::Open {
                            return Ok(Outcome::Skip("the proposal is no longer open".into()));
                        }
                        self.updated(&team, &p, detail, row, &reader).await?
                    }
                    MailKind::Withdrawn => {
                        if p.status != Status::Withdrawn {
                            return Ok(Outcome::Skip("the proposal is not withdrawn".into()));
                        }
                        let by = row
                            .log_idx
                            .map(|idx| crate::db::log::actor_name(pool.re(), team.id, idx));
                        let by = match by {
                            Some(query) => query.await?,
                            None => None,
                        };
                        self.withdrawn(&team, &p, by.as_deref(), &reader)
                    }
                    MailKind::Ready => {
                        if p.status != Status::Open {
                            return Ok(Outcome::Skip("the proposal is no longer open".into()));
                        }
                        if p.decider_id != member.id {
                            return Ok(Outcome::Skip("another member decides it now".into()));
                        }
                        let table = proposals::stance_table(pool.re(), team.id, p.id).await?;
                        self.ready(&team, &p, &table, &reader)
                    }
                    MailKind::Overdue | MailKind::Escalated => {
                        if p.status != Status::Open {
                            return Ok(Outcome::Skip("the proposal is no longer open".into()));
                        }
                        let escalated = kind == MailKind::Escalated;
                        if !escalated && p.decider_id != member.id {
                            return Ok(Outcome::Skip("another member decides it now".into()));
                        }
                        let table = proposals::stance_table(pool.re(), team.id, p.id).await?;
                        self.overdue(&team, &p, &table, escalated, row.created_at.0, &reader)
                    }
                    MailKind::Mentioned => {
                        let idx = row.log_idx.ok_or_else(|| {
                            ComposeError::Broken("a mention without its entry".into())
                        })?;
                        let by = crate::db::log::actor_name(pool.re(), team.id, idx).await?;
                        let comment = proposals::comments(pool.re(), p.id)
                            .await?
                            .into_iter()
                            .find(|c| c.log_idx == idx);
                        let (in_comment, text) = match comment {
                            Some(c) => (Some(idx), c.body),
                            None => {
                                let body = proposals::revisions(pool.re(), p.id)
                                    .await?
                                    .into_iter()
                                    .find(|r| r.log_idx == idx)
                                    .map_or_else(|| p.body.clone(), |r| r.body);
                                (None, body)
                            }
                        };
                        let by = by.unwrap_or_else(|| "A member".into());
                        self.mentioned(&team, &p, &by, &text, in_comment, &reader)
                    }
                    MailKind::Reminder => {
                        if p.status != Status::Open || p.closes_at.0 <= now {
                            return Ok(Outcome::Skip("the stance window is closed".into()));
                        }
                        if proposals::has_stance(pool.re(), p.id, member.id).await? {
                            return Ok(Outcome::Skip("a stance was taken meanwhile".into()));
                        }
                        self.reminder(&team, &p, member.id, tz, now)
                    }
                    MailKind::Invitation | MailKind::Digest => {
                        return Err(ComposeError::Broken(format!(
                            "{kind} mail about a proposal"
                        )));
                    }
                }
            }
        };
        let to = match &user {
            Some(u) => mailbox(&u.display_name, &row.recipient)?,
            None => row.recipient.parse().map_err(|e| {
                ComposeError::Broken(format!("bad recipient {}: {e}", row.recipient))
            })?,
        };
        let message = build(mailer, row, to, &notice)?;
        Ok(Outcome::Send(Box::new(message)))
    }

    /// The digest of `data` as `user` reads it.
    pub async fn digest(
        &self,
        team: &teams::Team,
        data: &DigestData,
        user: i64,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<DigestView, ComposeError> {
        let mut pool = self.db.reader();
        let mut sections = Vec::new();
        let id = |n: i64| format!("{}-{n}", team.key);
        // Every proposal the digest names, in one query.
        let numbers = data
            .opened
            .iter()
            .chain(&data.needs_stance)
            .chain(&data.closing_soon)
            .chain(&data.decided)
            .copied()
            .chain(data.comments.iter().map(|(n, _)| *n));
        let found = proposals::by_numbers_map(pool.re(), team.id, numbers).await?;
        let open = |n: &i64| {
            found
                .get(n)
                .filter(|p| p.status == crate::domain::proposal::Status::Open)
        };
        let closes_item = |p: &proposals::Proposal, with_decider: bool| {
            let closes = when(p.closes_at.0, tz, now);
            let mut detail = format!(
                "window {} ({})",
                crate::format::window(p.closes_at.0, now),
                closes.local
            );
            if with_decider {
                detail.push_str(&format!("; {} decides", p.decider_name));
            }
            DigestItem {
                id: id(p.number),
                title: p.title.clone(),
                detail,
                quote: None,
                link: self.permalink(team, p.number),
            }
        };
        let opened: Vec<DigestItem> = data
            .opened
            .iter()
            .filter_map(&open)
            .map(|p| {
                let mut item = closes_item(p, true);
                item.detail = format!("opened by {}; {}", p.author_name, item.detail);
                item.quote = Some(excerpt(&plain_text(&p.body), 300));
                item
            })
            .collect();
        let needs: Vec<DigestItem> = data
            .needs_stance
            .iter()
            .filter_map(&open)
            .map(|p| closes_item(p, true))
            .collect();
        let closing: Vec<DigestItem> = data
            .closing_soon
            .iter()
            .filter_map(&open)
            .map(|p| closes_item(p, false))
            .collect();
        let mut decided = Vec::new();
        for p in data.decided.iter().filter_map(|n| found.get(n)) {
            if let Some(d) = proposals::decision(pool.re(), p.id).await? {
                decided.push(DigestItem {
                    id: id(p.number),
                    title: p.title.clone(),
                    detail: format!("{} by {}", d.outcome, d.decided_by_name),
                    quote: Some(d.statement),
                    link: self.permalink(team, p.number),
                });
            }
        }
        let comments: Vec<DigestItem> = data
            .comments
            .iter()
            .filter_map(|(n, count)| found.get(n).map(|p| (p, *count)))
            .map(|(p, count)| DigestItem {
                id: id(p.number),
                title: p.title.clone(),
                detail: if count == 1 {
                    "1 new comment".into()
                } else {
                    format!("{count} new comments")
                },
                quote: None,
                link: self.permalink(team, p.number),
            })
            .collect();
        let mut summary = Vec::new();
        if !opened.is_empty() {
            summary.push(format!("{} opened", opened.len()));
        }
        if !needs.is_empty() {
            summary.push(format!(
                "{} need{} your stance",
                needs.len(),
                if needs.len() == 1 { "s" } else { "" }
            ));
        }
        if !closing.is_empty() {
            summary.push(format!("{} closing soon", closing.len()));
        }
        if !decided.is_empty() {
            summary.push(format!("{} decided", decided.len()));
        }
        if !comments.is_empty() {
            summary.push(format!("new comments on {}", comments.len()));
        }
        for (title, items) in [
            ("Opened since your last digest", opened),
            ("Needs your stance", needs),
            ("Closing within 48 hours", closing),
            ("Decided since your last digest", decided),
            ("New comments where you take part", comments),
        ] {
            if !items.is_empty() {
                sections.push(DigestSection {
                    title: title.into(),
                    items,
                });
            }
        }
        let cadence = if data.cadence == "weekly" {
            "weekly"
        } else {
            "daily"
        };
        Ok(DigestView {
            team: team.name.clone(),
            subject: format!(
                "[{}] Your {cadence} digest: {}",
                team.name,
                summary.join(", ")
            ),
            heading: format!("Your {cadence} digest for {}", team.name),
            sections,
            why: format!("You get this because you chose a {cadence} digest."),
            unsubscribe: self.unsubscribe(user, Scope::Digest),
        })
    }

    fn permalink(&self, team: &teams::Team, number: i64) -> String {
        format!("{}/d/{}-{number}", self.base_url, team.key)
    }

    fn unsubscribe(&self, user: i64, scope: Scope) -> Option<(String, String)> {
        Some((
            scope.describe().to_string(),
            self.keys.link(&self.base_url, user, scope),
        ))
    }

    fn invitation(&self, team: &teams::Team, row: &Row) -> Result<Notice, ComposeError> {
        let data: InvitationData = row
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or_else(|| ComposeError::Broken("invitation without its link".into()))?;
        let expires = when(data.expires_at, chrono_tz::UTC, self.clock.now());
        Ok(Notice {
            team: team.name.clone(),
            subject: format!("{} invites you to join {} on Settled", data.by, team.name),
            heading: format!("Join {} on Settled", team.name),
            paragraphs: vec![
                format!(
                    "{} invites you to {} as {} {}. Settled is where the team records how it decides: proposals, stances, one named decider, and a log of what was agreed.",
                    data.by,
                    team.name,
                    article(&data.role),
                    data.role
                ),
                format!(
                    "The link works once and until {}. If you do not have an account yet, you can create one on the way.",
                    expires.local
                ),
            ],
            quotes: Vec::new(),
            action: (format!("Join {}", team.name), data.link),
            why: format!(
                "You get this because {} typed your address when inviting you. If you do not want to join, ignore this mail.",
                data.by
            ),
            unsubscribe: None,
        })
    }

    fn decider_named(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        user: i64,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<Notice, ComposeError> {
        let id = format!("{}-{}", team.key, p.number);
        let closes = when(p.closes_at.0, tz, now);
        Ok(Notice {
            team: team.name.clone(),
            subject: format!("[{}] You decide {id}: {}", team.name, p.title),
            heading: format!("You decide {id}: {}", p.title),
            paragraphs: vec![
                format!(
                    "{} named you decider of this proposal{}.",
                    p.author_name,
                    p.area_name
                        .as_deref()
                        .map(|a| format!(" in the area {a}"))
                        .unwrap_or_default()
                ),
                format!(
                    "The window for stances closes {} ({}). From then on you may record what was agreed, or earlier once every voting member has responded, and you answer each standing objection in writing.",
                    closes.local, closes.relative
                ),
            ],
            quotes: vec![("The proposal".into(), excerpt(&p.body, 1200))],
            action: (format!("Open {id}"), self.permalink(team, p.number)),
            why: "You get this because you were named decider.".into(),
            unsubscribe: self.unsubscribe(user, Scope::Decider),
        })
    }

    /// "Ready for your decision": why it is ready, who responded and who
    /// did not, and every standing objection, which the decider answers.
    fn ready(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        table: &[proposals::StanceRow],
        reader: &Reader,
    ) -> Notice {
        let id = format!("{}-{}", team.key, p.number);
        let closes = when(p.closes_at.0, reader.tz, reader.now);
        let why_ready = if p.closes_at.0 <= reader.now {
            format!(
                "Its window for stances {} ({}): you can record the decision now.",
                crate::format::window(p.closes_at.0, reader.now),
                closes.local
            )
        } else {
            format!(
                "Every voting member has responded, so you can record the decision now, before its window ends {} ({}).",
                closes.local, closes.relative
            )
        };
        let responded: Vec<String> = table
            .iter()
            .filter_map(|s| s.position.map(|pos| format!("{} ({pos})", s.display_name)))
            .collect();
        let missing: Vec<&str> = table
            .iter()
            .filter(|s| s.position.is_none())
            .map(|s| s.display_name.as_str())
            .collect();
        let mut paragraphs = vec![why_ready];
        paragraphs.push(if responded.is_empty() {
            "Nobody has responded yet.".to_string()
        } else {
            format!("Responded ({}): {}.", responded.len(), responded.join(", "))
        });
        paragraphs.push(if missing.is_empty() {
            "Every voting member has responded.".to_string()
        } else {
            format!("Not responded ({}): {}.", missing.len(), missing.join(", "))
        });
        let quotes: Vec<(String, String)> = table
            .iter()
            .filter(|s| s.position == Some(crate::domain::proposal::Position::Object))
            .map(|s| {
                (
                    format!("{} objects", s.display_name),
                    or_erased(s.reason.as_deref().unwrap_or_default()),
                )
            })
            .collect();
        paragraphs.push(if quotes.is_empty() {
            "There are no standing objections.".to_string()
        } else {
            format!(
                "{} standing objection(s), quoted below: you answer each in writing when you record.",
                quotes.len()
            )
        });
        paragraphs.push(if p.closes_at.0 <= reader.now {
            "Stances and comments stay open until you record; a stance taken from now on is marked late.".to_string()
        } else {
            "Stances and comments stay open until you record.".to_string()
        });
        Notice {
            team: team.name.clone(),
            subject: format!(
                "[{}] {id} is ready for your decision: {}",
                team.name, p.title
            ),
            heading: format!("{id} is ready for your decision: {}", p.title),
            paragraphs,
            quotes,
            action: (
                format!("Record the decision on {id}"),
                format!("{}#record-form-heading", self.permalink(team, p.number)),
            ),
            why: "You get this because you decide this proposal.".into(),
            unsubscribe: self.unsubscribe(reader.id, Scope::Decider),
        }
    }

    /// An overdue proposal: to its decider ("overdue"), or to the admins
    /// and the area's default decider ("waits for Bob's decision"), with
    /// how long it has waited since its window ended at `at` (the entry's
    /// time), who responded and the standing objections.
    fn overdue(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        table: &[proposals::StanceRow],
        escalated: bool,
        at: DateTime<Utc>,
        reader: &Reader,
    ) -> Notice {
        let id = format!("{}-{}", team.key, p.number);
        let days = (at - p.closes_at.0).num_days().max(0);
        let waited = if days == 1 {
            "1 day".to_string()
        } else {
            format!("{days} days")
        };
        let closed = when(p.closes_at.0, reader.tz, reader.now);
        let responded = table.iter().filter(|s| s.position.is_some()).count();
        let objections = table
            .iter()
            .filter(|s| s.position == Some(crate::domain::proposal::Position::Object))
            .count();
        let standing = format!(
            "{responded} of {} voting members responded; {objections} standing objection(s).",
            table.len()
        );
        let limit = team.decide_within_days;
        if escalated {
            Notice {
                team: team.name.clone(),
                subject: format!(
                    "[{}] {id} has waited {waited} for {}'s decision",
                    team.name, p.decider_name
                ),
                heading: format!(
                    "{id} has waited {waited} for {}'s decision: {}",
                    p.decider_name, p.title
                ),
                paragraphs: vec![
                    format!(
                        "Its window ended {} ({}). {} decides within {limit} days after the window, and {} has been reminded each morning since.",
                        closed.local, closed.relative, team.name, p.decider_name
                    ),
                    standing,
                    format!(
                        "You can ask {} to record it, or, as the proposal's author or a team admin, name another decider on the proposal's page.",
                        p.decider_name
                    ),
                ],
                quotes: Vec::new(),
                action: (format!("Open {id}"), self.permalink(team, p.number)),
                why: "You get this because you are an admin of the team or the default decider of the proposal's area.".into(),
                unsubscribe: self.unsubscribe(reader.id, Scope::Overdue),
            }
        } else {
            Notice {
                team: team.name.clone(),
                subject: format!(
                    "[{}] {id} is overdue: it waits {waited} for your decision",
                    team.name
                ),
                heading: format!("{id} waits for your decision: {}", p.title),
                paragraphs: vec![
                    format!(
                        "Its window ended {} ({}), and {} decides within {limit} days after the window: this proposal is overdue.",
                        closed.local, closed.relative, team.name
                    ),
                    standing,
                    format!(
                        "Record the decision, extend the window if the team needs more time, or withdraw the proposal. If it waits another {limit} days, the team's admins are told."
                    ),
                ],
                quotes: Vec::new(),
                action: (
                    format!("Record the decision on {id}"),
                    format!("{}#record-form-heading", self.permalink(team, p.number)),
                ),
                why: "You get this because you decide this proposal.".into(),
                unsubscribe: self.unsubscribe(reader.id, Scope::Overdue),
            }
        }
    }

    /// "Ana mentioned you on ARCH-5", with the text that mentions: the
    /// comment at log index `in_comment`, or the proposal's own text.
    fn mentioned(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        by: &str,
        text: &str,
        in_comment: Option<i64>,
        reader: &Reader,
    ) -> Notice {
        let id = format!("{}-{}", team.key, p.number);
        let (place, anchor) = match in_comment {
            Some(idx) => ("a comment on", format!("#c{idx}")),
            None => ("the text of", String::new()),
        };
        Notice {
            team: team.name.clone(),
            subject: format!("[{}] {by} mentioned you on {id}: {}", team.name, p.title),
            heading: format!("{by} mentioned you on {id}: {}", p.title),
            paragraphs: vec![format!("{by} mentioned you in {place} this proposal.")],
            quotes: vec![(
                format!("{by} wrote"),
                or_erased(&excerpt(&plain_text(text), 800)),
            )],
            action: (
                format!("Open {id}"),
                format!("{}{anchor}", self.permalink(team, p.number)),
            ),
            why: format!(
                "You get this because {by} mentioned you (@name) in {}.",
                team.name
            ),
            unsubscribe: self.unsubscribe(reader.id, Scope::Mentioned),
        }
    }

    /// "Member of" or "observer of" the team, for the line saying why.
    fn membership(team: &teams::Team, reader: &Reader) -> String {
        if reader.observer {
            format!("You get this because you observe {}.", team.name)
        } else {
            format!("You get this because you are a member of {}.", team.name)
        }
    }

    fn opened(&self, team: &teams::Team, p: &proposals::Proposal, reader: &Reader) -> Notice {
        let id = format!("{}-{}", team.key, p.number);
        let closes = when(p.closes_at.0, reader.tz, reader.now);
        let area = p
            .area_name
            .as_deref()
            .map(|a| format!(" in the area {a}"))
            .unwrap_or_default();
        let decider = if p.decider_id == reader.id {
            "You decide it".to_string()
        } else {
            format!("{} decides it", p.decider_name)
        };
        let next = if reader.observer {
            format!(
                "The window for stances closes {} ({}); from then on the decider may record the decision, or earlier once every voting member has responded. As an observer you can read the proposal and follow it to its decision.",
                closes.local, closes.relative
            )
        } else {
            format!(
                "The window for stances closes {} ({}); from then on the decider may record the decision, or earlier once every voting member has responded. You can take a stance and comment until the decision is recorded: agree, disagree, abstain, or object with a reason, and every objection must be answered in writing.",
                closes.local, closes.relative
            )
        };
        Notice {
            team: team.name.clone(),
            subject: format!("[{}] New proposal {id}: {}", team.name, p.title),
            heading: format!("{id}: {}", p.title),
            paragraphs: vec![
                format!("{} opened this proposal{area}. {decider}.", p.author_name),
                next,
            ],
            quotes: vec![(
                "The proposal begins".into(),
                or_erased(&excerpt(&plain_text(&p.body), 600)),
            )],
            action: if reader.observer {
                (format!("Read {id}"), self.permalink(team, p.number))
            } else {
                (
                    format!("Read {id} and take your stance"),
                    self.permalink(team, p.number),
                )
            },
            why: Self::membership(team, reader),
            unsubscribe: self.unsubscribe(reader.id, Scope::Opened),
        }
    }

    async fn updated(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        detail: &Detail,
        row: &Row,
        reader: &Reader,
    ) -> Result<Notice, ComposeError> {
        let id = format!("{}-{}", team.key, p.number);
        let link = self.permalink(team, p.number);
        let notice = |subject: String, paragraphs: Vec<String>, why: String| Notice {
            team: team.name.clone(),
            subject: format!("[{}] {subject}", team.name),
            heading: format!("{id}: {}", p.title),
            paragraphs,
            quotes: Vec::new(),
            action: (format!("Open {id}"), link.clone()),
            why,
            unsubscribe: self.unsubscribe(reader.id, Scope::Opened),
        };
        match detail {
            Detail::Decider { from, to } => {
                let mut pool = self.db.reader();
                let change = proposals::decider_changes(pool.re(), p.id)
                    .await?
                    .into_iter()
                    .find(|c| Some(c.log_idx) == row.log_idx);
                let Some(change) = change else {
                    return Err(ComposeError::Broken("decider change not found".into()));
                };
                Ok(if *from == reader.id {
                    notice(
                        format!("You no longer decide {id}: {}", p.title),
                        vec![format!(
                            "{} named {} decider of this proposal instead of you. You no longer record its decision; you can still take your stance and comment.",
                            change.by_name, change.to_name
                        )],
                        "You get this because you were its decider.".into(),
                    )
                } else if *to == reader.id {
                    // The new decider who turned "you decide" mail off.
                    notice(
                        format!("You now decide {id}: {}", p.title),
                        vec![format!(
                            "{} named you decider of this proposal instead of {}.",
                            change.by_name, change.from_name
                        )],
                        Self::membership(team, reader),
                    )
                } else {
                    notice(
                        format!("{id} has a new decider: {}", change.to_name),
                        vec![format!(
                            "{} named {} decider of this proposal instead of {}.",
                            change.by_name, change.to_name, change.from_name
                        )],
                        Self::membership(team, reader),
                    )
                })
            }
            Detail::Deadline { closes_at } => {
                let closes = when(*closes_at, reader.tz, reader.now);
                let decides = if p.decider_id == reader.id {
                    "you decide".to_string()
                } else {
                    format!("{} decides", p.decider_name)
                };
                Ok(notice(
                    format!("{id} now closes {}: {}", closes.local, p.title),
                    vec![format!(
                        "The window for stances on this proposal was extended. It now closes {} ({}); {decides} from then on, or earlier once every voting member has responded.",
                        closes.local, closes.relative
                    )],
                    Self::membership(team, reader),
                ))
            }
            _ => Err(ComposeError::Broken("not an update".into())),
        }
    }

    fn withdrawn(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        by: Option<&str>,
        reader: &Reader,
    ) -> Notice {
        let id = format!("{}-{}", team.key, p.number);
        let by = by.unwrap_or(&p.author_name);
        let reason = p.withdrawn_reason.clone().unwrap_or_default();
        Notice {
            team: team.name.clone(),
            subject: format!("[{}] {id} withdrawn: {}", team.name, p.title),
            heading: format!("{id} withdrawn: {}", p.title),
            paragraphs: vec![format!(
                "{by} withdrew this proposal. No decision will be recorded on it; the withdrawal is sealed in the team's log."
            )],
            quotes: vec![("Why it was withdrawn".into(), or_erased(&reason))],
            action: (format!("Read {id}"), self.permalink(team, p.number)),
            why: Self::membership(team, reader),
            unsubscribe: self.unsubscribe(reader.id, Scope::Decided),
        }
    }

    async fn decided(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        d: &proposals::Decision,
        reader: &Reader,
    ) -> Result<Notice, ComposeError> {
        let mut pool = self.db.reader();
        let id = format!("{}-{}", team.key, p.number);
        let at = when(d.decided_at.0, reader.tz, reader.now);
        let responses = proposals::responses(pool.re(), p.id).await?;
        let mut paragraphs = Vec::new();
        let mut quotes = Vec::new();
        // The objector reads the answer to their own objection first.
        if let Some(own) = responses.iter().find(|r| r.user_id == reader.id) {
            paragraphs.push(format!(
                "You objected to this proposal, and {} answered your objection in writing.",
                d.decided_by_name
            ));
            if let Some((_, Some(reason))) =
                proposals::current_stance(pool.re(), p.id, reader.id).await?
            {
                quotes.push(("Your objection".to_string(), or_erased(&reason)));
            }
            quotes.push((
                format!("{}'s answer to your objection", d.decided_by_name),
                or_erased(&own.response),
            ));
        }
        paragraphs.push(format!(
            "{} recorded the decision on {}. The record is sealed in the team's log and will not change.",
            d.decided_by_name, at.local
        ));
        quotes.push(("What was agreed".to_string(), or_erased(&d.statement)));
        if !d.rationale.trim().is_empty() {
            quotes.push(("Rationale".into(), d.rationale.clone()));
        }
        for r in responses.iter().filter(|r| r.user_id != reader.id) {
            quotes.push((
                format!(
                    "{}'s answer to {}'s objection",
                    d.decided_by_name, r.display_name
                ),
                or_erased(&r.response),
            ));
        }
        Ok(Notice {
            team: team.name.clone(),
            subject: format!("[{}] {id} {}: {}", team.name, d.outcome, p.title),
            heading: format!("{id} {}: {}", d.outcome, p.title),
            paragraphs,
            quotes,
            action: (
                format!("Read the record of {id}"),
                self.permalink(team, p.number),
            ),
            why: Self::membership(team, reader),
            unsubscribe: self.unsubscribe(reader.id, Scope::Decided),
        })
    }

    fn reminder(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        user: i64,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Notice {
        let id = format!("{}-{}", team.key, p.number);
        let closes = when(p.closes_at.0, tz, now);
        Notice {
            team: team.name.clone(),
            subject: format!(
                "[{}] {id} closes {}: your stance is missing",
                team.name, closes.relative
            ),
            heading: format!("Your stance on {id}: {}", p.title),
            paragraphs: vec![
                format!(
                    "The window for stances closes {} ({}), and you have not taken a stance yet.",
                    closes.local, closes.relative
                ),
                format!(
                    "Agree, disagree, abstain, or object with a reason: {} decides, and every objection must be answered in writing.",
                    p.decider_name
                ),
            ],
            quotes: vec![("The proposal".into(), excerpt(&p.body, 600))],
            action: (
                format!("Take your stance on {id}"),
                self.permalink(team, p.number),
            ),
            why: "You get this because you are a voting member of the team.".into(),
            unsubscribe: self.unsubscribe(user, Scope::Reminder),
        }
    }
}

/// The message for `row` saying `notice`.
pub fn build(
    mailer: &Mailer,
    row: &Row,
    to: Mailbox,
    notice: &Notice,
) -> Result<Message, ComposeError> {
    let id = mailer.message_id(row.id, row.created_at.0.timestamp());
    build_with_id(mailer, id, to, notice)
}

/// A mail with a password reset link to `name <address>`, valid until
/// `expires` (already in the reader's words). It is sent at once and never
/// queued: the link's token is stored nowhere, not even in the outbox.
pub fn password_reset(
    mailer: &Mailer,
    name: &str,
    address: &str,
    link: String,
    expires: &str,
) -> Result<Message, ComposeError> {
    let notice = Notice {
        team: "your account".into(),
        subject: "Set a new password for Settled".into(),
        heading: "Set a new password".into(),
        paragraphs: vec![
            format!("Someone, probably you, asked to set a new password for the Settled account of {address}."),
            format!(
                "The link works once, until {expires}. Setting a new password signs your account out everywhere else."
            ),
        ],
        quotes: Vec::new(),
        action: ("Set a new password".into(), link),
        why: "You get this because the address was typed on the \"Forgot your password?\" page. If that was not you, ignore this mail: your password stays as it is.".into(),
        unsubscribe: None,
    };
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|e| ComposeError::Broken(format!("random: {e}")))?;
    let id = mailer.message_id_for(&format!("reset.{}", hex::encode(random)));
    build_with_id(mailer, id, mailbox(name, address)?, &notice)
}

/// The message with Message-ID `id` saying `notice`.
fn build_with_id(
    mailer: &Mailer,
    id: String,
    to: Mailbox,
    notice: &Notice,
) -> Result<Message, ComposeError> {
    let text = NoticeText { n: notice }
        .render()
        .map_err(|e| ComposeError::Broken(format!("text template: {e}")))?;
    let html = NoticeHtml { n: notice }
        .render()
        .map_err(|e| ComposeError::Broken(format!("HTML template: {e}")))?;
    headers(mailer, id, to, notice)?
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| ComposeError::Broken(format!("message: {e}")))
}

/// From, To, Subject, Message-ID and the list headers of `notice`.
fn headers(
    mailer: &Mailer,
    message_id: String,
    to: Mailbox,
    notice: &Notice,
) -> Result<lettre::message::MessageBuilder, ComposeError> {
    let mut builder = Message::builder()
        .from(mailer.from().clone())
        .to(to)
        .subject(notice.subject.clone())
        .message_id(Some(message_id))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ));
    if let Some((_, link)) = &notice.unsubscribe {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{link}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
    }
    Ok(builder)
}

/// The recipient `Name <address>`.
fn mailbox(name: &str, address: &str) -> Result<Mailbox, ComposeError> {
    format!("{} <{address}>", quote_name(name))
        .parse()
        .map_err(|e| ComposeError::Broken(format!("bad recipient {address}: {e}")))
}

/// A digest, in both formats.
#[derive(Debug, Clone)]
pub struct DigestView {
    /// The team's name.
    pub team: String,
    /// Subject line.
    pub subject: String,
    /// First line.
    pub heading: String,
    /// The sections with something in them.
    pub sections: Vec<DigestSection>,
    /// Why the recipient gets this.
    pub why: String,
    /// What an unsubscribe stops, and its link.
    pub unsubscribe: Option<(String, String)>,
}

/// One section of a digest.
#[derive(Debug, Clone)]
pub struct DigestSection {
    /// Its title.
    pub title: String,
    /// Its items.
    pub items: Vec<DigestItem>,
}

/// One proposal in a digest.
#[derive(Debug, Clone)]
pub struct DigestItem {
    /// `KEY-N`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Deadline, outcome or comment count.
    pub detail: String,
    /// What was agreed, for decisions.
    pub quote: Option<String>,
    /// Its permalink.
    pub link: String,
}

#[derive(Template)]
#[template(path = "mail/digest.txt")]
struct DigestText<'a> {
    d: &'a DigestView,
}

impl DigestText<'_> {
    fn quoted(&self, text: &str) -> String {
        quote(text, "   ")
    }
}

#[derive(Template)]
#[template(path = "mail/digest.html")]
struct DigestHtml<'a> {
    d: &'a DigestView,
}

impl DigestView {
    /// The plain-text body, exactly as sent (preview page, CLI).
    pub fn text(&self) -> Result<String, ComposeError> {
        DigestText { d: self }
            .render()
            .map_err(|e| ComposeError::Broken(format!("text template: {e}")))
    }
}

/// The message for a digest row.
pub fn build_digest(
    mailer: &Mailer,
    row: &Row,
    to: Mailbox,
    view: &DigestView,
) -> Result<Message, ComposeError> {
    let text = view.text()?;
    let html = DigestHtml { d: view }
        .render()
        .map_err(|e| ComposeError::Broken(format!("HTML template: {e}")))?;
    let notice = Notice {
        team: view.team.clone(),
        subject: view.subject.clone(),
        heading: view.heading.clone(),
        paragraphs: Vec::new(),
        quotes: Vec::new(),
        action: (String::new(), String::new()),
        why: view.why.clone(),
        unsubscribe: view.unsubscribe.clone(),
    };
    headers(
        mailer,
        mailer.message_id(row.id, row.created_at.0.timestamp()),
        to,
        &notice,
    )?
    .multipart(MultiPart::alternative_plain_html(text, html))
    .map_err(|e| ComposeError::Broken(format!("message: {e}")))
}

/// A display name safe inside a mailbox (`"Ana \"A\" B" <a@b>`).
fn quote_name(name: &str) -> String {
    format!(
        "\"{}\"",
        name.replace(['\\', '"'], "").replace(['\r', '\n'], " ")
    )
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// `text`, or a line saying it was erased (erasure empties it).
fn or_erased(text: &str) -> String {
    if text.trim().is_empty() {
        "(This text was erased.)".into()
    } else {
        text.to_string()
    }
}

/// The words of Markdown `source` without its markup, for plain-text mail:
/// blocks become paragraphs, list items lines of their own, links their
/// text; raw HTML is dropped.
pub fn plain_text(source: &str) -> String {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut out = String::new();
    for event in Parser::new(source) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) => out.push_str("- "),
            Event::End(TagEnd::Item) => out.push('\n'),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::List(_),
            ) => out.push_str("\n\n"),
            _ => {}
        }
    }
    let mut text = String::new();
    let mut blank = 0;
    for line in out.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !text.is_empty() {
            text.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        text.push_str(line);
    }
    text
}

/// The first `max` characters of `text`, cut at a paragraph or word, with
/// an ellipsis when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let end = cut
        .rfind("\n\n")
        .filter(|i| *i > max / 2)
        .or_else(|| cut.rfind(' '))
        .unwrap_or(cut.len());
    format!("{} …", cut[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_at_a_word_and_say_so() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three four", 10), "one two …");
        let long = format!("{}\n\nsecond paragraph", "word ".repeat(10));
        assert_eq!(
            excerpt(&long, 60),
            format!("{} …", "word ".repeat(10).trim_end())
        );
    }

    #[test]
    fn plain_text_drops_markup_and_html() {
        let md = "# Use *Postgres*\n\nWe [move](https://x.example) the `db`.\nSoon.\n\n- one\n- two\n\n<script>alert(1)</script>\n\nEnd.";
        assert_eq!(
            plain_text(md),
            "Use Postgres\n\nWe move the db. Soon.\n\n- one\n- two\n\nEnd."
        );
    }

    #[test]
    fn display_names_cannot_break_the_header() {
        assert_eq!(quote_name("Ana \"The\" Boss"), "\"Ana The Boss\"");
        assert_eq!(quote_name("A\r\nBcc: x@y"), "\"A  Bcc: x@y\"");
    }
}
