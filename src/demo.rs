//! `settled demo`: a realistic team, seeded through the ledger (the same
//! write path as the app), so a newcomer sees every rule in the browser.

use chrono::Duration;

use crate::db::{self, Db, users};
use crate::domain::account::{DisplayName, Email, NewPassword};
use crate::domain::ids::TeamKey;
use crate::domain::ids::{Number, TeamId, UserId};
use crate::domain::proposal::{DecisionDraft, Stance};
use crate::domain::team::Role;
use crate::ledger::Ledger;
use crate::ledger::commands::{AreaInput, NewProposal, NewTeam};
use crate::password::Hasher;

/// The password of every demo account.
pub const PASSWORD: &str = "demo-password";

const PEOPLE: [(&str, &str, &str); 5] = [
    ("ana@example.com", "Ana Lima", "Europe/Lisbon"),
    ("bob@example.com", "Bob Okafor", "Europe/Berlin"),
    ("chen@example.com", "Chen Wei", "Asia/Singapore"),
    ("dana@example.com", "Dana Kowalski", "America/New_York"),
    ("olga@example.com", "Olga Berg", "Europe/Stockholm"),
];

/// Seeds the demo team unless it exists already.
pub async fn seed(db: &Db) -> anyhow::Result<()> {
    if users::by_email(db, "ana@example.com").await?.is_some() {
        tracing::info!("demo data already present");
        return Ok(());
    }
    let hasher = Hasher::new(2);
    let ledger = Ledger::new(db.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
    let mut ids = Vec::new();
    for (email, name, tz) in PEOPLE {
        let user = crate::services::accounts::register(
            ledger.writer(),
            &hasher,
            Email::parse(email)?,
            DisplayName::parse(name)?,
            NewPassword::parse(PASSWORD)?,
            crate::domain::account::parse_time_zone(tz)?,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
        ids.push(user.id);
    }
    let [ana, bob, chen, dana, olga] = ids[..] else {
        anyhow::bail!("demo users missing");
    };
    let err = |e: crate::error::Error| anyhow::anyhow!("{}", e.public_message());
    let team = ledger
        .create_team(
            UserId(ana),
            NewTeam {
                name: "Platform".into(),
                slug: "platform".into(),
                key: TeamKey::parse("ARCH")?,
                window_hours: 72,
            },
        )
        .await
        .map_err(err)?;
    for (user, role) in [
        (bob, Role::Member),
        (chen, Role::Member),
        (dana, Role::Member),
        (olga, Role::Observer),
    ] {
        join(&ledger, team.id, ana, user, role).await?;
    }
    let mut areas = Vec::new();
    for (name, description, decider) in [
        (
            "Backend architecture",
            "Services, storage, APIs and how they fit together.",
            bob,
        ),
        ("Hiring", "Roles we open, interview loops and offers.", ana),
        ("Release process", "How code reaches production.", dana),
    ] {
        let input = AreaInput {
            id: None,
            name: name.into(),
            description: description.into(),
            default_decider: decider,
        };
        areas.push(
            ledger
                .save_area(UserId(ana), TeamId(team.id), input)
                .await
                .map_err(err)?,
        );
    }
    let [backend, _hiring, release] = areas[..] else {
        anyhow::bail!("demo areas missing");
    };
    let stance = |p: &str, r: Option<&str>| Stance::parse(p, r);
    let propose = |title: &str, body: &str, area: Option<i64>, decider: Option<i64>, hours: i64| {
        NewProposal {
            title: title.into(),
            body: body.into(),
            area,
            decider,
            closes_at: Some(db::now() + Duration::hours(hours)),
            supersedes: None,
        }
    };

    // 1: decided, accepted, with an objection answered in the record.
    let rest = ledger
        .create_proposal(
            UserId(chen),
            TeamId(team.id),
            propose(
                "Expose a REST API for integrations",
                "Partners ask for programmatic access.\n\n* JSON over HTTPS\n* Personal tokens\n* Versioned under `/v1`",
                Some(backend),
                None,
                72,
            ),
        )
        .await
        .map_err(err)?;
    ledger
        .take_stance(
            UserId(ana),
            TeamId(team.id),
            Number(rest),
            stance("agree", None)?,
        )
        .await
        .map_err(err)?;
    ledger
        .take_stance(
            UserId(bob),
            TeamId(team.id),
            Number(rest),
            stance("agree", Some("Simple and well understood."))?,
        )
        .await
        .map_err(err)?;
    ledger
        .take_stance(
            UserId(chen),
            TeamId(team.id),
            Number(rest),
            stance("agree", None)?,
        )
        .await
        .map_err(err)?;
    ledger
        .take_stance(
            UserId(dana),
            TeamId(team.id),
            Number(rest),
            stance(
                "object",
                Some("We have no rate limiting; one partner could take us down."),
            )?,
        )
        .await
        .map_err(err)?;
    ledger
        .comment(
            UserId(olga),
            TeamId(team.id),
            Number(rest),
            "Support would love this: half our tickets are CSV exports.".into(),
        )
        .await
        .map_err(err)?;
    ledger
        .record(
            UserId(bob),
            TeamId(team.id),
            Number(rest),
            DecisionDraft::parse(
                "accepted",
                "We build a versioned REST API (`/v1`) with personal tokens.",
                "Partners need it this quarter; REST is what they already use.",
                [(dana, "Agreed: rate limits per token ship with the first version, before any partner gets access.".to_string())],
            )?,
        )
        .await
        .map_err(err)?;

    // 2: supersedes 1, open, with an objection standing.
    let graphql = ledger
        .create_proposal(
            UserId(chen),
            TeamId(team.id),
            NewProposal {
                supersedes: Some(rest),
                ..propose(
                    "Replace the REST API with GraphQL",
                    "Partners now build dashboards and fetch 12 endpoints per page. A GraphQL endpoint would cut that to one request.",
                    Some(backend),
                    None,
                    48,
                )
            },
        )
        .await
        .map_err(err)?;
    ledger
        .take_stance(
            UserId(chen),
            TeamId(team.id),
            Number(graphql),
            stance("agree", None)?,
        )
        .await
        .map_err(err)?;
    ledger
        .take_stance(
            UserId(dana),
            TeamId(team.id),
            Number(graphql),
            stance("object", Some("Caching and rate limiting get much harder."))?,
        )
        .await
        .map_err(err)?;
    ledger
        .take_stance(
            UserId(ana),
            TeamId(team.id),
            Number(graphql),
            stance("abstain", None)?,
        )
        .await
        .map_err(err)?;
    ledger
        .comment(
            UserId(bob),
            TeamId(team.id),
            Number(graphql),
            "Could we add a batch endpoint to REST instead?".into(),
        )
        .await
        .map_err(err)?;
    ledger
        .comment(
            UserId(chen),
            TeamId(team.id),
            Number(graphql),
            "Batching helps, but the shapes still differ per dashboard.".into(),
        )
        .await
        .map_err(err)?;

    // 3: open, closing soon, nobody has responded yet.
    ledger
        .create_proposal(
            UserId(dana),
            TeamId(team.id),
            propose(
                "Deploy on Fridays only with a second reviewer",
                "Two incidents this quarter came from Friday deploys. Keep Friday deploys, but require a second reviewer on call.",
                Some(release),
                None,
                20,
            ),
        )
        .await
        .map_err(err)?;

    // 4: rejected.
    let hire = ledger
        .create_proposal(
            UserId(bob),
            TeamId(team.id),
            propose(
                "Open a second backend role now",
                "The on-call rota has four people.",
                None,
                Some(ana),
                72,
            ),
        )
        .await
        .map_err(err)?;
    for (who, pos) in [
        (ana, "disagree"),
        (bob, "agree"),
        (chen, "agree"),
        (dana, "disagree"),
    ] {
        ledger
            .take_stance(
                UserId(who),
                TeamId(team.id),
                Number(hire),
                stance(pos, None)?,
            )
            .await
            .map_err(err)?;
    }
    ledger
        .record(
            UserId(ana),
            TeamId(team.id),
            Number(hire),
            DecisionDraft::parse(
                "rejected",
                "We do not open a second backend role before the budget review in March.",
                "Budget is fixed until March; we revisit with the on-call numbers then.",
                [],
            )?,
        )
        .await
        .map_err(err)?;

    // 5: withdrawn.
    let mono = ledger
        .create_proposal(
            UserId(chen),
            TeamId(team.id),
            propose(
                "Move to a monorepo",
                "One repository for all services.",
                Some(backend),
                None,
                72,
            ),
        )
        .await
        .map_err(err)?;
    ledger
        .withdraw(
            UserId(chen),
            TeamId(team.id),
            Number(mono),
            "Superseded by the build tooling work; will come back with numbers.".into(),
        )
        .await
        .map_err(err)?;

    // 6 and 7: a completed supersession, both records readable and linked.
    let mut previous = None;
    for (title, statement) in [
        (
            "Store files on the application servers",
            "Uploads live on the app servers' disks, backed up nightly.",
        ),
        (
            "Move file storage to object storage",
            "Uploads move to S3-compatible object storage; app servers keep no files.",
        ),
    ] {
        let number = ledger
            .create_proposal(
                UserId(bob),
                TeamId(team.id),
                NewProposal {
                    supersedes: previous,
                    ..propose(title, "See the linked discussion.", Some(backend), None, 72)
                },
            )
            .await
            .map_err(err)?;
        for who in [ana, bob, chen, dana] {
            ledger
                .take_stance(
                    UserId(who),
                    TeamId(team.id),
                    Number(number),
                    stance("agree", None)?,
                )
                .await
                .map_err(err)?;
        }
        ledger
            .record(
                UserId(bob),
                TeamId(team.id),
                Number(number),
                DecisionDraft::parse("accepted", statement, "", [])?,
            )
            .await
            .map_err(err)?;
        previous = Some(number);
    }
    Ok(())
}

/// Adds `user` to `team` through a one-time invitation from `admin`, as a
/// browser would.
pub async fn join(
    ledger: &Ledger,
    team: i64,
    admin: i64,
    user: i64,
    role: Role,
) -> anyhow::Result<()> {
    let admin = crate::services::Actor {
        user: admin,
        team,
        role: Role::Admin,
    };
    let invitation = crate::services::invitations::Invitation {
        role,
        mail_to: None,
        inviter_name: String::new(),
    };
    let (_, token) = crate::services::invitations::create(ledger.writer(), "", admin, invitation)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
    ledger
        .accept_invitation(UserId(user), &users::token_hash(&token))
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
    Ok(())
}
