//! The ledger: the only write path for team state, and the log.
//!
//! Every command runs in one write transaction: load state, check the rules
//! (`domain`), append a log entry ([`append`]), update the read tables
//! ([`project`]), commit. Log and tables therefore never diverge, and
//! `settled verify` can rebuild the tables by projecting the log again.

mod batch;
pub mod bus;
pub mod checkpoint;
pub mod clock;
pub mod commands;
pub mod event;
pub mod export;
pub mod project;
pub mod proofs;
pub mod replay;
pub mod verify;
pub mod writer;

// The pure log code lives in its own crate so other tools can verify a log
// without the app; re-exported so `ledger::merkle::…` paths keep working.
pub use settled_log::{canonical, merkle, note};

use chrono::{DateTime, Utc};

use crate::db::{self, Db, Ex, Timestamp};
use crate::error::Result;
use event::{Envelope, Event};
use merkle::Hash;

pub use project::project;

/// Writer connections per instance on PostgreSQL.
const PG_WRITERS: usize = 4;

/// The single write path. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ledger {
    db: Db,
    /// The writer task that batches commands into group commits.
    writer: writer::Writer,
    /// Where committed changes are announced.
    bus: bus::Bus,
    /// The instance's clock (entry times and every clock that reads it).
    clock: clock::Clock,
}

/// What an append produced: the entry's place and the tree head after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Team.
    pub team_id: i64,
    /// The entry's index.
    pub index: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// Who.
    pub actor: i64,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// Tree size after the append (index + 1).
    pub tree_size: i64,
    /// Root at that size.
    pub root: Hash,
}

impl Ledger {
    /// A ledger writing to `db` through its own write connection.
    pub async fn new(db: Db) -> Result<Self> {
        // SQLite has one writer; PostgreSQL takes several, each with its
        // own connection, and groups their commits itself.
        let writers = match db.backend() {
            db::Backend::Sqlite => 1,
            db::Backend::Postgres => PG_WRITERS,
        };
        let mut conns = Vec::with_capacity(writers);
        for _ in 0..writers {
            conns.push(db.connect_writer().await?);
        }
        let bus = bus::Bus::new();
        if let Some(listener) = db.pg_listener().await? {
            tokio::spawn(bus::listen(listener, bus.clone()));
        }
        Ok(Self {
            writer: writer::Writer::start(conns, bus.clone()),
            bus,
            db,
            clock: clock::Clock::default(),
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The group-commit writer, for other small writes (sessions) that
    /// should share its transactions rather than take the write lock on
    /// their own.
    pub fn writer(&self) -> &writer::Writer {
        &self.writer
    }

    /// The instance's clock.
    pub fn clock(&self) -> &clock::Clock {
        &self.clock
    }

    /// Now, by the instance's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The bus announcing every committed change (see [`bus`]).
    pub fn bus(&self) -> &bus::Bus {
        &self.bus
    }
}

/// Notes what a write that is not a log entry changed (a profile, a
/// password): called inside a writer job, the change is published on the
/// bus once the job's batch commits, and dropped if the job is rolled back.
pub fn note_change(change: bus::Change) {
    batch::note(change);
}

/// Appends `event` to the team's log: canonical payload, leaf hash, stored
/// openings of its free text, and the new tree head.
pub async fn append(
    mut conn: Ex<'_>,
    team_id: i64,
    actor: i64,
    time: DateTime<Utc>,
    event: &Event,
) -> Result<Appended> {
    let mut tip = batch::tip(conn.re(), team_id).await?;
    let index = i64::try_from(tip.frontier.size()).map_err(anyhow::Error::from)?;
    let envelope = Envelope {
        team: team_id,
        index,
        time,
        actor,
    };
    let payload = event::canonical_payload(&envelope, event)?;
    let leaf_hash = merkle::leaf_hash(payload.as_bytes());
    db::log::insert_entry(
        conn.re(),
        &db::log::Entry {
            team_id,
            idx: index,
            created_at: Timestamp(time),
            actor_id: actor,
            kind: event.kind(),
            proposal_number: event.proposal_number(),
            payload,
            leaf_hash: leaf_hash.to_vec(),
        },
    )
    .await?;
    for (field, content) in event.contents() {
        if let Some(opening) = &content.opening {
            db::log::insert_content(
                conn.re(),
                team_id,
                index,
                &field,
                &opening.salt,
                &opening.text,
            )
            .await?;
        }
    }
    notify(conn.re(), team_id, index, actor, time, event).await?;
    batch::note(bus::Change::Entry(bus::Notice {
        team_id,
        index,
        kind: event.kind(),
        proposal: event.proposal_number(),
    }));
    tip.frontier.push(leaf_hash);
    tip.last_time = Some(time);
    let root = tip.frontier.root();
    batch::advance(conn.re(), team_id, tip).await?;
    Ok(Appended {
        team_id,
        index,
        time,
        actor,
        leaf_hash,
        tree_size: index + 1,
        root,
    })
}

/// Queues a "you were mentioned" mail for each member a proposal's text or
/// a comment newly mentions (`@name`), but the author: a revision tells
/// only those its earlier text did not mention. Runs before the entry is
/// projected, so the proposal's body is still the earlier one.
async fn mentions(
    mut conn: Ex<'_>,
    team_id: i64,
    index: i64,
    actor: i64,
    time: DateTime<Utc>,
    event: &Event,
) -> Result<()> {
    use crate::domain::mention::mentioned;
    let (number, text, before) = match event {
        Event::ProposalCreated {
            number,
            title,
            body,
            ..
        } => (*number, format!("{}\n{}", title.text(), body.text()), None),
        Event::ProposalRevised { number, body, .. } => {
            (*number, body.text().to_string(), Some(*number))
        }
        Event::CommentAdded { number, body } => (*number, body.text().to_string(), None),
        _ => return Ok(()),
    };
    if !text.contains('@') {
        return Ok(());
    }
    let members: Vec<_> = db::teams::members(conn.re(), team_id)
        .await?
        .iter()
        .map(db::teams::Member::mentionable)
        .collect();
    let mut told = mentioned(&text, &members);
    if let Some(number) = before
        && let Some(p) = db::proposals::by_number(conn.re(), team_id, number).await?
    {
        let earlier = mentioned(&p.body, &members);
        told.retain(|u| !earlier.contains(u));
    }
    told.retain(|u| *u != actor);
    if !told.is_empty() {
        let kind = db::outbox::MailKind::Mentioned;
        db::outbox::tell(conn.re(), kind, team_id, number, index, &told, time).await?;
    }
    Ok(())
}

/// Queues the mail an entry causes, in the entry's transaction: a named
/// decider hears of it at once (issue #4), and what the whole team hears of
/// (issue #19) is one announcement row, expanded into a mail per member by
/// the mail worker off this path, so a team of a thousand costs the writer
/// one row.
async fn notify(
    mut conn: Ex<'_>,
    team_id: i64,
    index: i64,
    actor: i64,
    time: DateTime<Utc>,
    event: &Event,
) -> Result<()> {
    use db::announcements::Detail;
    mentions(conn.re(), team_id, index, actor, time, event).await?;
    let (number, detail) = match event {
        Event::ProposalCreated {
            number, decider, ..
        } => {
            db::outbox::decider_named(conn.re(), team_id, *number, index, actor, *decider, time)
                .await?;
            (*number, Detail::Opened { decider: *decider })
        }
        Event::DeciderChanged { number, from, to } => {
            db::outbox::decider_named(conn.re(), team_id, *number, index, actor, *to, time).await?;
            (
                *number,
                Detail::Decider {
                    from: *from,
                    to: *to,
                },
            )
        }
        Event::DeadlineExtended { number, closes_at } => (
            *number,
            Detail::Deadline {
                closes_at: *closes_at,
            },
        ),
        // What the server's clock appends tells the decider (its actor),
        // or whom the escalation names.
        Event::DecisionReady { number }
        | Event::DecisionOverdue { number }
        | Event::DecisionEscalated { number, .. } => {
            use db::outbox::MailKind;
            let (kind, told) = match event {
                Event::DecisionEscalated { told, .. } => (MailKind::Escalated, told.clone()),
                Event::DecisionOverdue { .. } => (MailKind::Overdue, vec![actor]),
                _ => (MailKind::Ready, vec![actor]),
            };
            db::outbox::tell(conn.re(), kind, team_id, *number, index, &told, time).await?;
            return Ok(());
        }
        Event::DecisionRecorded { number, .. } => (*number, Detail::Decided),
        Event::ProposalWithdrawn { number, .. } => (*number, Detail::Withdrawn),
        _ => return Ok(()),
    };
    db::announcements::announce(conn.re(), team_id, index, number, actor, &detail, time).await?;
    Ok(())
}
