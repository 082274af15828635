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
use crate::db::outbox::Row;
use crate::db::{Db, proposals, teams, users};
use crate::domain::mail::Scope;
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
        self.needs_stance.is_empty()
            && self.closing_soon.is_empty()
            && self.decided.is_empty()
            && self.comments.is_empty()
    }
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
        let now = Utc::now();
        // An unsubscribe applies to mail already queued, too.
        if let Some(u) = &user
            && let Some(settings) = users::mail_settings(&self.db, u.id).await?
        {
            let wanted = match row.kind.as_str() {
                "decider_named" => settings.notify_decider,
                "decided" => settings.notify_decided,
                "reminder" => settings.notify_reminder,
                "digest" => settings.digest != users::Digest::Off,
                _ => true,
            };
            if !wanted {
                return Ok(Outcome::Skip("turned off by the member".into()));
            }
            // A member who left no longer hears of the team.
            if teams::role_of(pool.re(), team.id, u.id).await?.is_none() {
                return Ok(Outcome::Skip("no longer a member".into()));
            }
        }
        if row.kind == crate::db::outbox::MailKind::Digest {
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
        let notice = match row.kind.as_str() {
            "invitation" => self.invitation(&team, row)?,
            "decider_named" | "decided" | "reminder" => {
                let number = row
                    .proposal_number
                    .ok_or_else(|| ComposeError::Broken("no proposal number".into()))?;
                let Some(p) = proposals::by_number(pool.re(), team.id, number).await? else {
                    return Ok(Outcome::Skip(format!("{}-{number} is gone", team.key)));
                };
                let member = user
                    .as_ref()
                    .ok_or_else(|| ComposeError::Broken("no recipient member".into()))?;
                match row.kind.as_str() {
                    "decider_named" => self.decider_named(&team, &p, member.id, tz, now)?,
                    "decided" => match proposals::decision(pool.re(), p.id).await? {
                        Some(d) => self.decided(&team, &p, &d, member.id, tz, now),
                        None => return Ok(Outcome::Skip("no decision recorded".into())),
                    },
                    _ => {
                        if p.status != crate::domain::proposal::Status::Open || p.closes_at.0 <= now
                        {
                            return Ok(Outcome::Skip("the stance window is closed".into()));
                        }
                        if proposals::has_stance(pool.re(), p.id, member.id).await? {
                            return Ok(Outcome::Skip("a stance was taken meanwhile".into()));
                        }
                        self.reminder(&team, &p, member.id, tz, now)
                    }
                }
            }
            other => return Err(ComposeError::Broken(format!("unknown mail kind {other}"))),
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
        let mut numbers: Vec<i64> = data
            .needs_stance
            .iter()
            .chain(&data.closing_soon)
            .chain(&data.decided)
            .copied()
            .chain(data.comments.iter().map(|(n, _)| *n))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let found: std::collections::HashMap<i64, proposals::Proposal> =
            proposals::by_numbers(pool.re(), team.id, &numbers)
                .await?
                .into_iter()
                .map(|p| (p.number, p))
                .collect();
        let open = |n: &i64| {
            found
                .get(n)
                .filter(|p| p.status == crate::domain::proposal::Status::Open)
        };
        let closes_item = |p: &proposals::Proposal, with_decider: bool| {
            let closes = when(p.closes_at.0, tz, now);
            let mut detail = format!("closes {} ({})", closes.local, closes.relative);
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
        let expires = when(data.expires_at, chrono_tz::UTC, Utc::now());
        Ok(Notice {
            team: team.name.clone(),
            subject: format!("[{}] {} invites you to join on Settled", team.name, data.by),
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
                    "Members take their stances until {} ({}). You record what was agreed once the window closes or every voting member has a stance, and answer each standing objection in writing.",
                    closes.local, closes.relative
                ),
            ],
            quotes: vec![("The proposal".into(), excerpt(&p.body, 1200))],
            action: (format!("Open {id}"), self.permalink(team, p.number)),
            why: "You get this because you were named decider.".into(),
            unsubscribe: self.unsubscribe(user, Scope::Decider),
        })
    }

    fn decided(
        &self,
        team: &teams::Team,
        p: &proposals::Proposal,
        d: &proposals::Decision,
        user: i64,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Notice {
        let id = format!("{}-{}", team.key, p.number);
        let at = when(d.decided_at.0, tz, now);
        let mut quotes = vec![("What was agreed".to_string(), d.statement.clone())];
        if !d.rationale.trim().is_empty() {
            quotes.push(("Rationale".into(), d.rationale.clone()));
        }
        Notice {
            team: team.name.clone(),
            subject: format!("[{}] {id} {}: {}", team.name, d.outcome, p.title),
            heading: format!("{id} {}: {}", d.outcome, p.title),
            paragraphs: vec![format!(
                "{} recorded the decision on {}. The record is sealed in the team's log and will not change.",
                d.decided_by_name, at.local
            )],
            quotes,
            action: (
                format!("Read the record of {id}"),
                self.permalink(team, p.number),
            ),
            why: "You get this because you took part in this proposal.".into(),
            unsubscribe: self.unsubscribe(user, Scope::Decided),
        }
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
                    "The stance window closes {} ({}), and you have not taken a stance yet.",
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
    let text = NoticeText { n: notice }
        .render()
        .map_err(|e| ComposeError::Broken(format!("text template: {e}")))?;
    let html = NoticeHtml { n: notice }
        .render()
        .map_err(|e| ComposeError::Broken(format!("HTML template: {e}")))?;
    headers(mailer, row, to, notice)?
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| ComposeError::Broken(format!("message: {e}")))
}

/// From, To, Subject, Message-ID and the list headers of `notice`.
fn headers(
    mailer: &Mailer,
    row: &Row,
    to: Mailbox,
    notice: &Notice,
) -> Result<lettre::message::MessageBuilder, ComposeError> {
    let mut builder = Message::builder()
        .from(mailer.from().clone())
        .to(to)
        .subject(notice.subject.clone())
        .message_id(Some(
            mailer.message_id(row.id, row.created_at.0.timestamp()),
        ))
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
    headers(mailer, row, to, &notice)?
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
    fn display_names_cannot_break_the_header() {
        assert_eq!(quote_name("Ana \"The\" Boss"), "\"Ana The Boss\"");
        assert_eq!(quote_name("A\r\nBcc: x@y"), "\"A  Bcc: x@y\"");
    }
}
