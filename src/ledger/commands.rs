//! The commands of the ledger, one method each: load state, check the rules,
//! append, project, commit.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::event::{Content, Event};
use super::{Appended, Ledger, append, batch, project};
use crate::db::{self, Ex, Lock, Timestamp, proposals, teams};
use crate::domain::Violation;
use crate::domain::ids::{Number, TeamId, TeamKey, UserId};
use crate::domain::proposal::{self as rules, DecisionDraft, Stance};
use crate::domain::team::Role;
use crate::error::{Error, Result};

/// A team to create, already parsed.
#[derive(Debug, Clone)]
pub struct NewTeam {
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Key.
    pub key: TeamKey,
    /// Default window in hours.
    pub window_hours: i64,
}

/// A proposal to open, already parsed.
#[derive(Debug, Clone)]
pub struct NewProposal {
    /// Title.
    pub title: String,
    /// Markdown body.
    pub body: String,
    /// Area id.
    pub area: Option<i64>,
    /// Decider; `None` takes the area's default decider.
    pub decider: Option<i64>,
    /// Window end; `None` takes now + the team's window.
    pub closes_at: Option<DateTime<Utc>>,
    /// Number of the accepted proposal it replaces.
    pub supersedes: Option<i64>,
}

/// An area to create or edit, already parsed.
#[derive(Debug, Clone)]
pub struct AreaInput {
    /// `None` creates a new area.
    pub id: Option<i64>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Default decider.
    pub default_decider: i64,
}

/// The caller's role, or `NotFound` for non-members (a team's contents and
/// existence are hidden from outsiders).
async fn role(mut conn: Ex<'_>, team_id: i64, actor: i64) -> Result<Role> {
    teams::role_of(conn.re(), team_id, actor)
        .await?
        .ok_or(Error::NotFound)
}

/// The actor's role and the proposal, read inside the write transaction
/// (`NotFound` for a non-member or a missing proposal).
async fn on_proposal(
    mut conn: Ex<'_>,
    actor: i64,
    team_id: i64,
    number: i64,
) -> Result<(Role, proposals::Proposal)> {
    match proposals::by_number_as(conn.re(), team_id, number, actor).await? {
        Some((Some(actor_role), p)) => {
            batch::read_proposal(team_id, number, p.id);
            Ok((actor_role, p))
        }
        _ => Err(Error::NotFound),
    }
}

/// The time of a team's next entry: now, or the team's last entry time if
/// the clock is behind it (another instance's clock, or a clock stepped
/// back), so a log's times never go backwards. Its first call in a
/// transaction takes the team's lock ([`batch::tip`]), so call it before
/// reading the team's state and checking the rules (which then see the
/// entry's own time).
async fn clock(mut tx: Ex<'_>, team_id: i64, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    Ok(match batch::tip(tx.re(), team_id).await?.last_time {
        Some(last) if last > now => last,
        _ => now,
    })
}

/// Appends `event` and projects it (the batch commits later).
async fn apply(
    mut conn: Ex<'_>,
    team_id: i64,
    actor: i64,
    now: DateTime<Utc>,
    event: Event,
) -> Result<Appended> {
    let appended = append(conn.re(), team_id, actor, now, &event).await?;
    project(conn.re(), &appended, &event).await?;
    Ok(appended)
}

impl Ledger {
    /// Runs `command` in the writer with the team's lock held from its first
    /// statement, so the state it checks is the state it appends to, even
    /// when other instances write to the same PostgreSQL database; `command`
    /// gets the time of its entry (see [`clock`]).
    async fn in_team<T, F>(&self, team_id: i64, command: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                Ex<'c>,
                DateTime<Utc>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let wall = self.clock().clone();
        self.writer
            .submit(move |mut tx| {
                Box::pin(async move {
                    let now = clock(tx.re(), team_id, wall.now()).await?;
                    command(tx, now).await
                })
            })
            .await
    }

    /// Creates a team with `actor` as its first admin.
    pub async fn create_team(&self, actor: UserId, team: NewTeam) -> Result<teams::Team> {
        let actor = actor.0;
        let wall = self.clock().clone();
        self.writer
            .submit(move |mut tx| {
                Box::pin(async move {
                    // One team is created at a time (ids come from MAX(id) + 1,
                    // and slugs and keys are checked before they are taken).
                    db::lock(tx.re(), Lock::NewTeams).await?;
                    let (slug_taken, key_taken) =
                        teams::slug_or_key_taken(tx.re(), &team.slug, team.key.as_str()).await?;
                    let key_taken =
                        key_taken || teams::by_alias(tx.re(), team.key.as_str()).await?.is_some();
                    if key_taken {
                        return Err(Error::Taken {
                            field: "key",
                            message: format!(
                                "the key {} is already used by another team",
                                team.key
                            ),
                        });
                    }
                    if slug_taken {
                        return Err(Error::Taken {
                            field: "slug",
                            message: format!(
                                "the address {} is already used by another team",
                                team.slug
                            ),
                        });
                    }
                    let id = teams::next_team_id(tx.re()).await?;
                    let event = Event::TeamCreated {
                        name: team.name,
                        slug: team.slug,
                        key: team.key.to_string(),
                        window_hours: team.window_hours,
                    };
                    apply(tx.re(), id, actor, wall.now(), event).await?;
                    teams::by_id(tx.re(), id).await?.ok_or(Error::NotFound)
                })
            })
            .await
    }

    /// Joins a team through an invitation (single use, unexpired).
    pub async fn accept_invitation(&self, actor: UserId, token_hash: &[u8]) -> Result<teams::Team> {
        let actor = actor.0;
        let token_hash = token_hash.to_vec();
        let wall = self.clock().clone();
        self.writer
            .submit(move |mut tx| {
                Box::pin(async move {
                    let invitation = teams::invitation_by_hash(tx.re(), &token_hash)
                        .await?
                        .ok_or(Violation::InvitationInvalid)?;
                    // The team's lock (taken by `clock`) before its state is
                    // read, as in every team command (two invitations accepted
                    // at once on two instances must not both find the user
                    // outside).
                    let now = clock(tx.re(), invitation.team_id, wall.now()).await?;
                    if invitation.accepted_by.is_some()
                        || invitation.revoked_at.is_some()
                        || invitation.expires_at.0 <= now
                    {
                        return Err(Violation::InvitationInvalid.into());
                    }
                    if teams::role_of(tx.re(), invitation.team_id, actor)
                        .await?
                        .is_some()
                    {
                        return Err(Violation::AlreadyMember.into());
                    }
                    if !teams::accept_invitation(tx.re(), invitation.id, actor, Timestamp(now))
                        .await?
                    {
                        return Err(Violation::InvitationInvalid.into());
                    }
                    let event = Event::MemberJoined {
                        user: actor,
                        role: invitation.role,
                    };
                    apply(tx.re(), invitation.team_id, actor, now, event).await?;
                    teams::by_id(tx.re(), invitation.team_id)
                        .await?
                        .ok_or(Error::NotFound)
                })
            })
            .await
    }

    /// Changes a member's role (admins only; a team keeps at least one admin).
    pub async fn change_role(
        &self,
        actor: UserId,
        team_id: TeamId,
        user: UserId,
        new_role: Role,
    ) -> Result<Appended> {
        let (actor, team_id, user) = (actor.0, team_id.0, user.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if role(tx.re(), team_id, actor).await? != Role::Admin {
                    return Err(Violation::Forbidden.into());
                }
                let current = teams::role_of(tx.re(), team_id, user)
                    .await?
                    .ok_or(Error::NotFound)?;
                if current == new_role {
                    return Err(Violation::NoChange.into());
                }
                if current == Role::Admin && teams::admin_count(tx.re(), team_id).await? <= 1 {
                    return Err(Violation::LastAdmin.into());
                }
                if !new_role.can_vote()
                    && proposals::open_decided_by(tx.re(), team_id, user).await? > 0
                {
                    return Err(Violation::DeciderOfOpenProposal.into());
                }
                let event = Event::RoleChanged {
                    user,
                    role: new_role,
                };
                apply(tx.re(), team_id, actor, now, event).await
            })
        })
        .await
    }

    /// Removes a member (admins only, or anyone leaving); their history stays.
    pub async fn remove_member(
        &self,
        actor: UserId,
        team_id: TeamId,
        user: UserId,
    ) -> Result<Appended> {
        let (actor, team_id, user) = (actor.0, team_id.0, user.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if role(tx.re(), team_id, actor).await? != Role::Admin && actor != user {
                    return Err(Violation::Forbidden.into());
                }
                let current = teams::role_of(tx.re(), team_id, user)
                    .await?
                    .ok_or(Error::NotFound)?;
                if current == Role::Admin && teams::admin_count(tx.re(), team_id).await? <= 1 {
                    return Err(Violation::LastAdmin.into());
                }
                if proposals::open_decided_by(tx.re(), team_id, user).await? > 0 {
                    return Err(Violation::DeciderOfOpenProposal.into());
                }
                apply(tx.re(), team_id, actor, now, Event::MemberRemoved { user }).await
            })
        })
        .await
    }

    /// Creates or edits an area (admins only).
    pub async fn save_area(&self, actor: UserId, team_id: TeamId, input: AreaInput) -> Result<i64> {
        let (actor, team_id) = (actor.0, team_id.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if role(tx.re(), team_id, actor).await? != Role::Admin {
                    return Err(Violation::Forbidden.into());
                }
                let id = match input.id {
                    Some(id) => {
                        teams::area(tx.re(), team_id, id)
                            .await?
                            .ok_or(Error::NotFound)?;
                        id
                    }
                    None => {
                        // Area ids are global: one new area at a time.
                        db::lock(tx.re(), Lock::NewAreas).await?;
                        teams::next_area_id(tx.re()).await?
                    }
                };
                if teams::area_name_taken(tx.re(), team_id, &input.name, id).await? {
                    return Err(Error::Taken {
                        field: "name",
                        message: format!("an area named {} already exists", input.name),
                    });
                }
                if !teams::role_of(tx.re(), team_id, input.default_decider)
                    .await?
                    .is_some_and(Role::can_vote)
                {
                    return Err(Violation::DeciderNotMember.into());
                }
                let event = Event::AreaSaved {
                    area: id,
                    name: input.name,
                    description: Content::new(input.description)?,
                    default_decider: input.default_decider,
                };
                apply(tx.re(), team_id, actor, now, event).await?;
                Ok(id)
            })
        })
        .await
    }

    /// Opens a proposal; returns its number.
    pub async fn create_proposal(
        &self,
        actor: UserId,
        team_id: TeamId,
        input: NewProposal,
    ) -> Result<i64> {
        let (actor, team_id) = (actor.0, team_id.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let author_role = role(tx.re(), team_id, actor).await?;
                let team = teams::by_id(tx.re(), team_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                let area = match input.area {
                    Some(id) => {
                        Some(teams::area(tx.re(), team_id, id).await?.ok_or_else(|| {
                            crate::domain::InvalidInput::new("area", "is not an area of this team")
                        })?)
                    }
                    None => None,
                };
                let decider = input
                    .decider
                    .or(area.as_ref().map(|a| a.default_decider_id))
                    .ok_or_else(|| {
                        crate::domain::InvalidInput::new(
                            "decider",
                            "name a decider (or pick an area that has one)",
                        )
                    })?;
                let decider_role = teams::role_of(tx.re(), team_id, decider).await?;
                let closes_at = input
                    .closes_at
                    .map(db::truncate)
                    .unwrap_or(now + Duration::hours(team.window_hours));
                let supersedes_status = match input.supersedes {
                    Some(number) => Some(
                        proposals::by_number(tx.re(), team_id, number)
                            .await?
                            .ok_or_else(|| {
                                crate::domain::InvalidInput::new(
                                    "supersedes",
                                    "no such decision in this team",
                                )
                            })?
                            .status,
                    ),
                    None => None,
                };
                rules::check_new_proposal(
                    author_role,
                    decider_role,
                    closes_at,
                    now,
                    supersedes_status,
                )?;
                let number = proposals::next_number(tx.re(), team_id).await?;
                let event = Event::ProposalCreated {
                    number,
                    title: Content::new(input.title)?,
                    body: Content::new(input.body)?,
                    area: area.map(|a| a.id),
                    decider,
                    closes_at,
                    supersedes: input.supersedes,
                };
                apply(tx.re(), team_id, actor, now, event).await?;
                Ok(number)
            })
        })
        .await
    }

    /// Revises the body (author only, while open).
    pub async fn revise(
        &self,
        actor: UserId,
        team_id: TeamId,
        number: Number,
        body: String,
    ) -> Result<Appended> {
        let (actor, team_id, number) = (actor.0, team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let (_, p) = on_proposal(tx.re(), actor, team_id, number).await?;
                p.state().check_revise(actor)?;
                if p.body == body {
                    return Err(Violation::NoChange.into());
                }
                let revision = proposals::revision_count(tx.re(), p.id).await? + 1;
                let event = Event::ProposalRevised {
                    number,
                    revision,
                    body: Content::new(body)?,
                };
                apply(tx.re(), team_id, actor, now, event).await
            })
        })
        .await
    }

    /// Names another decider (author or admin, while open).
    pub async fn change_decider(
        &self,
        actor: UserId,
        team_id: TeamId,
        number: Number,
        to: UserId,
    ) -> Result<Appended> {
        let (actor, team_id, number, to) = (actor.0, team_id.0, number.0, to.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let (actor_role, p) = on_proposal(tx.re(), actor, team_id, number).await?;
                let to_role = teams::role_of(tx.re(), team_id, to).await?;
                p.state()
                    .check_change_decider(actor, actor_role, to, to_role)?;
                let event = Event::DeciderChanged {
                    number,
                    from: p.decider_id,
                    to,
                };
                apply(tx.re(), team_id, actor, now, event).await
            })
        })
        .await
    }

    /// Extends the window (decider only, while open).
    pub async fn extend(
        &self,
        actor: UserId,
        team_id: TeamId,
        number: Number,
        closes_at: DateTime<Utc>,
    ) -> Result<Appended> {
        let (actor, team_id, number) = (actor.0, team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let (_, p) = on_proposal(tx.re(), actor, team_id, number).await?;
                let closes_at = db::truncate(closes_at);
                p.state().check_extend(actor, closes_at, now)?;
                apply(
                    tx.re(),
                    team_id,
                    actor,
                    now,
                    Event::DeadlineExtended { number, closes_at },
                )
                .await
            })
        })
        .await
    }

    /// Withdraws a proposal (author or decider, while open).
    pub async fn withdraw(
        &self,
        actor: UserId,
        team_id: TeamId,
        number: Number,
        reason: String,
    ) -> Result<Appended> {
        let (actor, team_id, number) = (actor.0, team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let (_, p) = on_proposal(tx.re(), actor, team_id, number).await?;
                p.state().check_withdraw(actor)?;
                let event = Event::ProposalWithdrawn {
                    number,
                    reason: Content::new(reason)?,
                };
                apply(tx.re(), team_id, actor, now, event).await
            })
        })
        .await
    }

    /// Takes or changes the actor's stance (voting members, while open).
    /// The last voting member's first stance makes the proposal ready for
    /// its decision: the decider is told in the same transaction (a
    /// `decision_ready` entry after the stance's).
    pub async fn take_stance(
        &self,
        actor: UserId,
        team_id: TeamId,
        number: Number,
        stance: Stance,
    ) -> Result<Appended> {
        let (actor, team_id, number) = (actor.0, team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let (actor_role, p, stanced) =
                    match proposals::by_number_as_voter(tx.re(), team_id, number, actor).await? {
                        Some((Some(role), p, stanced)) => {
                            batch::read_proposal(team_id, number, p.id);
                            (role, p, stanced)
                        }
                        _ => return Err(Error::NotFound),
                    };
                p.state().check_stance(actor_role)?;
                // Only a first stance can complete the responses; a told
                // decider, or a window already over (the clock tells), is
                // left alone.
                let may_complete = p.ready_at.is_none() && now < p.closes_at.0 && !stanced;
                let event = Event::StanceTaken {
                    number,
                    position: stance.position,
                    reason: stance.reason.map(Content::new).transpose()?,
                };
                let appended = apply(tx.re(), team_id, actor, now, event).await?;
                if may_complete && proposals::all_responded(tx.re(), team_id, p.id).await? {
                    let ready = Event::DecisionReady { number };
                    apply(tx.re(), team_id, p.decider_id, now, ready).await?;
                }
                Ok(appended)
            })
        })
        .await
    }

    /// Adds a comment (any member, while open).
    pub async fn comment(
        &self,
        actor: UserId,
        team_id: TeamId,
        number: Number,
        body: String,
    ) -> Result<Appended> {
        let (actor, team_id, number) = (actor.0, team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let (_, p) = on_proposal(tx.re(), actor, team_id, number).await?;
                p.state().check_comment()?;
                let event = Event::CommentAdded {
                    number,
                    body: Content::new(body)?,
                };
                apply(tx.re(), team_id, actor, now, event).await
            })
        })
        .await
    }

    /// Tells the decider of proposal `number` that it is ready for their
    /// decision, by the server's clock: appends a `decision_ready` entry
    /// (its mail is queued with it) if the proposal is open and ready and
    /// its current decider has not been told. Whether it did; under the
    /// team's lock, so of several instances one tells.
    pub async fn tell_ready(&self, team_id: TeamId, number: Number) -> Result<bool> {
        let (team_id, number) = (team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let Some(p) = proposals::by_number(tx.re(), team_id, number).await? else {
                    return Ok(false);
                };
                if p.ready_at.is_some() {
                    return Ok(false);
                }
                let voters = proposals::voters(tx.re(), team_id, p.id).await?;
                if p.state().check_ready(p.decider_id, now, &voters).is_err() {
                    return Ok(false);
                }
                batch::read_proposal(team_id, number, p.id);
                let event = Event::DecisionReady { number };
                apply(tx.re(), team_id, p.decider_id, now, event).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Records the decision (the decider only; rules 2 and 4).
    pub async fn record(
        &self,
        actor: UserId,
        team_id: TeamId,
        number: Number,
        draft: DecisionDraft,
    ) -> Result<Appended> {
        let (actor, team_id, number) = (actor.0, team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let (_, p) = on_proposal(tx.re(), actor, team_id, number).await?;
                let voters = proposals::voters(tx.re(), team_id, p.id).await?;
                p.state().check_record(actor, now, &voters, &draft)?;
                let mut responses = BTreeMap::new();
                for (user, text) in draft.responses {
                    responses.insert(user.to_string(), Content::new(text)?);
                }
                let event = Event::DecisionRecorded {
                    number,
                    outcome: draft.outcome,
                    statement: Content::new(draft.statement)?,
                    rationale: Content::new(draft.rationale)?,
                    responses,
                };
                apply(tx.re(), team_id, actor, now, event).await
            })
        })
        .await
    }
}

impl Ledger {
    /// Erases one free-text item of an earlier entry (admins only): its text
    /// and salt are deleted, a `content_erased` entry is appended, and the
    /// team's read tables are re-projected from the log, so they hold exactly
    /// what a rebuild from the log would.
    pub async fn erase(
        &self,
        actor: UserId,
        team_id: TeamId,
        index: i64,
        field: &str,
    ) -> Result<Appended> {
        let (actor, team_id) = (actor.0, team_id.0);
        let field = field.to_string();
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if role(tx.re(), team_id, actor).await? != Role::Admin {
                    return Err(Violation::Forbidden.into());
                }
                if !db::log::erase_content(tx.re(), team_id, index, &field).await? {
                    return Err(crate::domain::InvalidInput::new(
                        "field",
                        "no such text, or it was erased already",
                    )
                    .into());
                }
                let event = Event::ContentErased {
                    entry: index,
                    field,
                };
                let appended = append(tx.re(), team_id, actor, now, &event).await?;
                reproject(tx.re(), team_id).await?;
                Ok(appended)
            })
        })
        .await
    }
}

/// Rebuilds a team's proposal tables by projecting its whole log again, with
/// the texts that remain.
async fn reproject(mut conn: Ex<'_>, team_id: i64) -> Result<()> {
    db::log::clear_projection(conn.re(), team_id).await?;
    batch::forget_proposals();
    let mut chain = super::verify::Chain::new();
    let mut from = 0;
    loop {
        let batch = db::log::entries_with_openings(conn.re(), team_id, from, 2_000).await?;
        let Some(last) = batch.last().map(|(e, _)| e.idx) else {
            return Ok(());
        };
        for (entry, openings) in batch {
            let openings = openings
                .into_iter()
                .map(|o| (o.field, (o.salt, o.text)))
                .collect();
            let checked = chain
                .check(
                    team_id,
                    entry.idx,
                    &entry.payload,
                    &entry.leaf_hash,
                    openings,
                )
                .map_err(|(i, problem)| anyhow::anyhow!("entry {i}: {problem}"))?;
            let appended = Appended {
                team_id,
                index: entry.idx,
                time: checked.envelope.time,
                actor: checked.envelope.actor,
                leaf_hash: checked.leaf,
                tree_size: entry.idx + 1,
                root: chain.root(),
            };
            project(conn.re(), &appended, &checked.event).await?;
        }
        from = last + 1;
    }
}

impl Ledger {
    /// Makes the status of the team's decisions public or private (admins).
    pub async fn set_status_public(
        &self,
        actor: UserId,
        team_id: TeamId,
        public: bool,
    ) -> Result<Appended> {
        let (actor, team_id) = (actor.0, team_id.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if role(tx.re(), team_id, actor).await? != Role::Admin {
                    return Err(Violation::Forbidden.into());
                }
                if teams::status_public(tx.re(), team_id).await? == public {
                    return Err(Violation::NoChange.into());
                }
                apply(
                    tx.re(),
                    team_id,
                    actor,
                    now,
                    Event::StatusVisibilityChanged { public },
                )
                .await
            })
        })
        .await
    }

    /// Sets how many days a decision may wait after its window (admins).
    pub async fn set_decision_period(
        &self,
        actor: UserId,
        team_id: TeamId,
        days: i64,
    ) -> Result<Appended> {
        let (actor, team_id) = (actor.0, team_id.0);
        let days = rules::parse_decide_within_days(days)?;
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if role(tx.re(), team_id, actor).await? != Role::Admin {
                    return Err(Violation::Forbidden.into());
                }
                let team = teams::by_id(tx.re(), team_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                if team.decide_within_days == days {
                    return Err(Violation::NoChange.into());
                }
                apply(
                    tx.re(),
                    team_id,
                    actor,
                    now,
                    Event::DecisionPeriodSet { days },
                )
                .await
            })
        })
        .await
    }

    /// Reminds the decider of overdue proposal `number`, by the server's
    /// clock (a `decision_overdue` entry, its mail queued with it), if it
    /// is their local morning in `tz` and they were not reminded today;
    /// `decider` is who the caller read as its decider. Whether it did;
    /// under the team's lock, so of several instances one reminds.
    pub async fn remind_overdue(
        &self,
        team_id: TeamId,
        number: Number,
        decider: UserId,
        tz: chrono_tz::Tz,
    ) -> Result<bool> {
        let (team_id, number, decider) = (team_id.0, number.0, decider.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let team = teams::by_id(tx.re(), team_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                let Some(p) = proposals::by_number(tx.re(), team_id, number).await? else {
                    return Ok(false);
                };
                let due = p.decider_id == decider
                    && p.state()
                        .check_overdue(decider, now, team.decide_within_days, 1)
                        .is_ok()
                    && rules::overdue_reminder_due(
                        p.closes_at.0,
                        team.decide_within_days,
                        p.overdue_told_at.map(|t| t.0),
                        now,
                        tz,
                    );
                if !due {
                    return Ok(false);
                }
                batch::read_proposal(team_id, number, p.id);
                apply(
                    tx.re(),
                    team_id,
                    decider,
                    now,
                    Event::DecisionOverdue { number },
                )
                .await?;
                Ok(true)
            })
        })
        .await
    }

    /// Tells the team's admins and the area's default decider (each if
    /// another person than the decider) that proposal `number` has waited
    /// two periods after its window, by the server's clock (a
    /// `decision_escalated` entry naming them, their mail queued with it),
    /// once per decider and window. Whether it did.
    pub async fn escalate(&self, team_id: TeamId, number: Number) -> Result<bool> {
        let (team_id, number) = (team_id.0, number.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                let team = teams::by_id(tx.re(), team_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                let Some(p) = proposals::by_number(tx.re(), team_id, number).await? else {
                    return Ok(false);
                };
                if p.escalated_at.is_some()
                    || p.state()
                        .check_overdue(p.decider_id, now, team.decide_within_days, 2)
                        .is_err()
                {
                    return Ok(false);
                }
                let members = teams::members(tx.re(), team_id).await?;
                let mut told: Vec<i64> = members
                    .iter()
                    .filter(|m| m.role == Role::Admin)
                    .map(|m| m.user_id)
                    .collect();
                if let Some(area) = p.area_id
                    && let Some(area) = teams::area(tx.re(), team_id, area).await?
                    && members.iter().any(|m| m.user_id == area.default_decider_id)
                {
                    told.push(area.default_decider_id);
                }
                told.sort_unstable();
                told.dedup();
                told.retain(|u| *u != p.decider_id);
                if told.is_empty() {
                    // The decider is the team's only admin and the area's
                    // default decider: nobody else to tell.
                    return Ok(false);
                }
                batch::read_proposal(team_id, number, p.id);
                let event = Event::DecisionEscalated { number, told };
                apply(tx.re(), team_id, p.decider_id, now, event).await?;
                Ok(true)
            })
        })
        .await
    }
}

/// A pull request as a code-host webhook describes it.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// `github`, `gitlab`, `gitea` or `forgejo`.
    pub host: &'static str,
    /// `owner/name`.
    pub repo: String,
    /// Its number.
    pub pr: i64,
    /// Web address.
    pub url: String,
    /// Title.
    pub title: String,
    /// open, closed or merged; `None` keeps what is known (a comment payload
    /// that does not say whether the PR was merged).
    pub state: Option<String>,
    /// When the host last changed the pull request, as this payload says
    /// (`None`: it does not say). Orders deliveries, which arrive in any
    /// order and may be resent.
    pub updated_at: Option<DateTime<Utc>>,
    /// The texts to search for references (title, body, or a comment).
    pub texts: Vec<String>,
    /// Whether the texts are a comment (whose mentions stay) rather than
    /// the pull request's own title and body (whose edits can remove them).
    pub from_comment: bool,
}

impl Ledger {
    /// Records the decisions a pull request references (a webhook delivery,
    /// handled once per delivery id). Returns how many entries were written.
    ///
    /// The pull request's title and state reach every decision it is
    /// linked to, however the link was made. A delivery older (by the
    /// host's own time) than one already applied changes no state or title,
    /// and a merged pull request stays merged: hosts cannot reopen one, so
    /// anything saying otherwise is an old delivery.
    pub async fn record_pull_request(
        &self,
        team_id: TeamId,
        actor: UserId,
        delivery: Option<String>,
        pr: PullRequest,
    ) -> Result<usize> {
        let (team_id, actor) = (team_id.0, actor.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if !(pr.url.starts_with("https://") || pr.url.starts_with("http://")) {
                    return Err(crate::domain::InvalidInput::new(
                        "url",
                        "a pull request's address must be http(s)",
                    )
                    .into());
                }
                if let Some(id) = &delivery
                    && !db::links::first_delivery(tx.re(), team_id, pr.host, id, Timestamp(now))
                        .await?
                {
                    return Ok(0);
                }
                let newest =
                    db::links::host_updated_at(tx.re(), team_id, pr.host, &pr.repo, pr.pr).await?;
                let stale = matches!((pr.updated_at, newest), (Some(t), Some(n)) if t < n.0);
                if stale && !pr.from_comment {
                    // An older picture of the title, body and state than
                    // one already applied: nothing in it is news.
                    return Ok(0);
                }
                if let (false, Some(_), Some(t)) = (stale, &pr.state, pr.updated_at) {
                    db::links::set_host_updated_at(
                        tx.re(),
                        team_id,
                        pr.host,
                        &pr.repo,
                        pr.pr,
                        Timestamp(db::truncate(t)),
                    )
                    .await?;
                }
                let team = teams::by_id(tx.re(), team_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                // Former keys count too: a PR may cite a decision by its old id.
                let mut keys = teams::keys(tx.re(), team.id).await?;
                if keys.is_empty() {
                    keys.push(team.key.clone());
                }
                let mut numbers = std::collections::BTreeSet::new();
                for text in &pr.texts {
                    for key in &keys {
                        numbers.extend(crate::domain::refs::references(text, key));
                    }
                }
                let links = db::links::for_pr(tx.re(), team_id, pr.host, &pr.repo, pr.pr).await?;
                let merged = links.iter().any(|l| l.state == "merged");
                let mut written = 0;
                let mut targets = std::collections::BTreeMap::new();
                for link in links {
                    if !pr.from_comment && link.via == "pr" && !numbers.contains(&link.number) {
                        // Mentions the title and body no longer make are undone.
                        let event = Event::PrUnreferenced {
                            number: link.number,
                            host: pr.host.to_string(),
                            repo: pr.repo.clone(),
                            pr: pr.pr,
                        };
                        apply(tx.re(), team_id, actor, now, event).await?;
                        written += 1;
                    } else {
                        targets.insert(link.number, Some(link));
                    }
                }
                for &number in &numbers {
                    if !targets.contains_key(&number)
                        && proposals::by_number(tx.re(), team_id, number)
                            .await?
                            .is_some()
                    {
                        targets.insert(number, None);
                    }
                }
                // What the PR's other links know, for a link this delivery
                // cannot say more about.
                let known_state = targets.values().flatten().map(|k| k.state.clone()).next();
                for (number, known) in targets {
                    let state = if merged {
                        "merged".to_string()
                    } else if let (false, Some(s)) = (stale, &pr.state) {
                        s.clone()
                    } else {
                        known
                            .as_ref()
                            .map(|k| k.state.clone())
                            .or_else(|| known_state.clone())
                            .unwrap_or_else(|| "open".into())
                    };
                    let (title, url) = match (&known, stale) {
                        (Some(k), true) => (k.title.clone(), k.url.clone()),
                        _ => (pr.title.clone(), pr.url.clone()),
                    };
                    // A comment's mention is kept for good; links it does
                    // not mention keep how they were made.
                    let via = if known.as_ref().is_some_and(|k| k.via == "comment")
                        || (pr.from_comment && numbers.contains(&number))
                    {
                        "comment"
                    } else {
                        "pr"
                    };
                    if known.as_ref().is_some_and(|k| {
                        k.title == title && k.state == state && k.url == url && k.via == via
                    }) {
                        continue;
                    }
                    let event = Event::PrReferenced {
                        number,
                        host: pr.host.to_string(),
                        repo: pr.repo.clone(),
                        pr: pr.pr,
                        url,
                        title: Content::new(title)?,
                        state,
                        via: via.into(),
                    };
                    apply(tx.re(), team_id, actor, now, event).await?;
                    written += 1;
                }
                Ok(written)
            })
        })
        .await
    }
}

impl Ledger {
    /// Renames the team's key (admins); old ids keep working as aliases.
    pub async fn rename_key(
        &self,
        actor: UserId,
        team_id: TeamId,
        key: TeamKey,
    ) -> Result<Appended> {
        let (actor, team_id) = (actor.0, team_id.0);
        self.in_team(team_id, move |mut tx, now| {
            Box::pin(async move {
                if role(tx.re(), team_id, actor).await? != Role::Admin {
                    return Err(Violation::Forbidden.into());
                }
                let team = teams::by_id(tx.re(), team_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                if team.key == key.as_str() {
                    return Err(Violation::NoChange.into());
                }
                // Keys are unique across teams: one key is claimed at a time
                // (the lock of new teams, always taken after a team's own).
                db::lock(tx.re(), Lock::NewTeams).await?;
                if teams::key_taken(tx.re(), key.as_str(), team_id).await? {
                    return Err(Error::Taken {
                        field: "key",
                        message: format!("the key {key} is used by another team"),
                    });
                }
                apply(
                    tx.re(),
                    team_id,
                    actor,
                    now,
                    Event::KeyRenamed {
                        key: key.to_string(),
                    },
                )
                .await
            })
        })
        .await
    }
}
