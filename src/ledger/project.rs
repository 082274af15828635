//! Projection of log entries onto the read tables.
//!
//! The same function runs on the live write path and when `settled verify`
//! rebuilds the tables from the log, so the two cannot drift apart.

use super::Appended;
use super::event::Event;
use crate::db::proposals::{self, DecisionRow, NewProposalRow};
use crate::db::{Ex, Timestamp, teams};
use crate::domain::team::Role;
use crate::error::{Error, Result};

/// Applies one appended event to the read tables.
pub async fn project(mut conn: Ex<'_>, entry: &Appended, event: &Event) -> Result<()> {
    let team = entry.team_id;
    let at = Timestamp(entry.time);
    let idx = entry.index;
    match event {
        Event::TeamCreated {
            name,
            slug,
            key,
            window_hours,
        } => {
            teams::insert_team(
                conn.re(),
                &teams::Team {
                    id: team,
                    name: name.clone(),
                    slug: slug.clone(),
                    key: key.clone(),
                    window_hours: *window_hours,
                    created_at: at,
                    created_by: entry.actor,
                    decide_within_days: crate::domain::proposal::DEFAULT_DECIDE_WITHIN_DAYS,
                },
            )
            .await?;
            teams::upsert_membership(conn.re(), team, entry.actor, Role::Admin, at, idx).await?;
        }
        Event::MemberJoined { user, role } => {
            teams::upsert_membership(conn.re(), team, *user, *role, at, idx).await?
        }
        Event::RoleChanged { user, role } => {
            teams::set_role(conn.re(), team, *user, *role, idx).await?
        }
        Event::MemberRemoved { user } => {
            teams::remove_member(conn.re(), team, *user, at, idx).await?
        }
        Event::AreaSaved {
            area,
            name,
            description,
            default_decider,
        } => {
            teams::save_area(
                conn.re(),
                *area,
                team,
                name,
                description.text(),
                *default_decider,
                idx,
            )
            .await?
        }
        Event::ProposalCreated {
            number,
            title,
            body,
            area,
            decider,
            closes_at,
            supersedes,
        } => {
            proposals::insert_proposal(
                conn.re(),
                &NewProposalRow {
                    team_id: team,
                    number: *number,
                    title: title.text(),
                    body: body.text(),
                    area_id: *area,
                    author_id: entry.actor,
                    decider_id: *decider,
                    created_at: at,
                    closes_at: Timestamp(*closes_at),
                    supersedes: *supersedes,
                    log_idx: idx,
                },
            )
            .await?;
        }
        Event::ProposalRevised {
            number,
            revision,
            body,
        } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::insert_revision(conn.re(), id, *revision, body.text(), at, idx).await?;
        }
        Event::DeciderChanged { number, from, to } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::change_decider(conn.re(), id, *from, *to, entry.actor, at, idx).await?;
        }
        Event::DeadlineExtended { number, closes_at } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::set_closes_at(conn.re(), id, Timestamp(*closes_at), idx).await?;
        }
        Event::DecisionReady { number } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::set_ready_at(conn.re(), id, Some(at), idx).await?;
        }
        Event::DecisionOverdue { number } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::set_told_at(conn.re(), id, proposals::Told::Overdue, at, idx).await?;
        }
        Event::DecisionEscalated { number, .. } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::set_told_at(conn.re(), id, proposals::Told::Escalated, at, idx).await?;
        }
        Event::DecisionPeriodSet { days } => {
            teams::set_decide_within_days(conn.re(), team, *days).await?
        }
        Event::ProposalWithdrawn { number, reason } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::set_status(
                conn.re(),
                id,
                crate::domain::proposal::Status::Withdrawn,
                Some(reason.text()),
                idx,
            )
            .await?;
        }
        Event::StanceTaken {
            number,
            position,
            reason,
        } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            let reason = reason.as_ref().map(|r| r.text());
            proposals::insert_stance(conn.re(), id, idx, entry.actor, *position, reason, at)
                .await?;
        }
        Event::CommentAdded { number, body } => {
            let id = proposal_id(conn.re(), team, *number).await?;
            proposals::insert_comment(conn.re(), id, idx, entry.actor, body.text(), at).await?;
        }
        Event::PrReferenced {
            number,
            host,
            repo,
            pr,
            url,
            title,
            state,
            via,
        } => {
            crate::db::links::upsert(
                conn.re(),
                &crate::db::links::PrLink {
                    number: *number,
                    host: host.clone(),
                    repo: repo.clone(),
                    pr: *pr,
                    url: url.clone(),
                    title: title.text().to_string(),
                    state: state.clone(),
                    first_seen: at,
                    via: via.clone(),
                },
                team,
                idx,
            )
            .await?
        }
        Event::PrUnreferenced {
            number,
            host,
            repo,
            pr,
        } => crate::db::links::delete(conn.re(), team, *number, host, repo, *pr).await?,
        Event::KeyRenamed { key } => teams::rename_key(conn.re(), team, key, idx).await?,
        Event::StatusVisibilityChanged { public } => {
            teams::set_status_public(conn.re(), team, *public).await?
        }
        Event::ContentErased {
            entry: erased,
            field,
        } => {
            crate::db::log::insert_erasure(conn.re(), team, *erased, field, at, entry.actor, idx)
                .await?;
        }
        Event::DecisionRecorded {
            number,
            outcome,
            statement,
            rationale,
            responses,
        } => {
            let proposal = proposals::by_number(conn.re(), team, *number)
                .await?
                .ok_or(Error::NotFound)?;
            proposals::insert_decision(
                conn.re(),
                &DecisionRow {
                    proposal_id: proposal.id,
                    outcome: outcome.as_str(),
                    statement: statement.text(),
                    rationale: rationale.text(),
                    decided_by: entry.actor,
                    decided_at: at,
                    log_idx: idx,
                    leaf_hash: &entry.leaf_hash,
                    tree_size: entry.tree_size,
                    root_hash: &entry.root,
                },
            )
            .await?;
            for (user, response) in responses {
                let user: i64 = user
                    .parse()
                    .map_err(|_| anyhow::anyhow!("response key {user:?} is not a user id"))?;
                proposals::insert_response(conn.re(), proposal.id, user, response.text()).await?;
            }
            proposals::set_status(conn.re(), proposal.id, outcome.status(), None, idx).await?;
            if let (crate::domain::proposal::Outcome::Accepted, Some(old)) =
                (outcome, proposal.supersedes)
            {
                proposals::mark_superseded(conn.re(), team, old, *number, idx).await?;
            }
        }
    }
    Ok(())
}

async fn proposal_id(mut conn: Ex<'_>, team: i64, number: i64) -> Result<i64> {
    if let Some(id) = super::batch::proposal_read(team, number) {
        return Ok(id);
    }
    proposals::by_number(conn.re(), team, number)
        .await?
        .map(|p| p.id)
        .ok_or(Error::NotFound)
}
