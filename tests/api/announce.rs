//! No one is left out (issue #19): every member and observer hears that a
//! proposal opened, changed its decider or deadline, was withdrawn or was
//! decided, once each, by default. The mail goes through the real folder
//! transport, and the tests read the `.eml` files back as a mail client
//! would.

use std::collections::BTreeMap;

use chrono::{Duration, DurationRound, Utc};
use reqwest::{Client, StatusCode};
use serde_json::json;
use settled::domain::ids::{Number, TeamId, UserId};
use settled::domain::team::Role;
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, on_postgres, spawn, spawn_beside};
use crate::mail::{drained, header, text_part};

/// One message the app wrote to its mail folder.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) text: String,
    pub(crate) unsubscribe: String,
}

/// Every message in `app`'s mail folder (none yet: empty).
pub(crate) fn folder(app: &TestApp) -> Vec<Mail> {
    let Ok(dir) = std::fs::read_dir(&app.mail_dir) else {
        return Vec::new();
    };
    let mut mails: Vec<(std::time::SystemTime, Mail)> = dir
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read");
            let m = mail_parser::MessageParser::default()
                .parse(&bytes)
                .expect("a parseable message");
            let to = header(&m, "To");
            let to = to
                .rsplit_once('<')
                .map_or(to.as_str(), |(_, a)| a.trim_end_matches('>'))
                .to_string();
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .expect("mtime");
            (
                modified,
                Mail {
                    to,
                    subject: m.subject().unwrap_or_default().to_string(),
                    text: text_part(&m),
                    unsubscribe: header(&m, "List-Unsubscribe"),
                },
            )
        })
        .collect();
    mails.sort_by_key(|(at, _)| *at);
    mails.into_iter().map(|(_, m)| m).collect()
}

/// The messages to `address`.
fn to<'a>(mails: &'a [Mail], address: &str) -> Vec<&'a Mail> {
    mails.iter().filter(|m| m.to == address).collect()
}

/// The one message to `address` whose subject is `subject`.
pub(crate) fn only<'a>(mails: &'a [Mail], address: &str, subject: &str) -> &'a Mail {
    let found: Vec<&Mail> = to(mails, address)
        .into_iter()
        .filter(|m| m.subject == subject)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{address}: {:?}",
        to(mails, address)
            .iter()
            .map(|m| &m.subject)
            .collect::<Vec<_>>()
    );
    found[0]
}

/// The mail written since `before` messages were in the folder.
pub(crate) async fn new_mail(app: &TestApp, before: &mut usize) -> Vec<Mail> {
    drained(app).await;
    let all = folder(app);
    let fresh = all[*before..].to_vec();
    *before = all.len();
    fresh
}

#[tokio::test]
async fn an_opening_reaches_every_member_and_observer_but_its_author() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    let olive = app.api_user("olive@example.com", "Olive").await;
    app.team("OPEN", &ana, &[&bob, &chen, &dan], &[&olive])
        .await;
    // Chen reads in Tokyo, Dan in UTC.
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE users SET time_zone = CASE WHEN email = 'chen@example.com' THEN 'Asia/Tokyo' ELSE 'UTC' END
         WHERE email IN ('chen@example.com', 'dan@example.com')"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("time zone");
    let closes = (Utc::now() + Duration::days(3))
        .duration_trunc(Duration::minutes(1))
        .expect("minute");
    let (status, body) = ana
        .post(
            "/api/v1/teams/OPEN/proposals",
            json!({
                "title": "Move CI to our own runners",
                "body": "We **move** CI to [our runners](https://ci.example).\n\n<b>Costs</b> halve.",
                "decider": bob.email,
                "closes_at": closes.to_rfc3339(),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    drained(&app).await;
    let mails = folder(&app);

    assert!(to(&mails, &ana.email).is_empty(), "not to its author");
    // The decider hears "you decide", not the opening notice too.
    assert_eq!(to(&mails, &bob.email).len(), 1);
    only(
        &mails,
        &bob.email,
        "[Team OPEN] You decide OPEN-1: Move CI to our own runners",
    );
    let subject = "[Team OPEN] New proposal OPEN-1: Move CI to our own runners";
    for who in [&chen, &dan, &olive] {
        assert_eq!(to(&mails, &who.email).len(), 1, "{}", who.email);
        let m = only(&mails, &who.email, subject);
        assert!(
            m.text.contains("Ana opened this proposal. Bob decides it."),
            "{}",
            m.text
        );
        // The body as plain text: no Markdown marks, no HTML.
        assert!(
            m.text.contains("> We move CI to our runners."),
            "{}",
            m.text
        );
        assert!(m.text.contains("> Costs halve."), "{}", m.text);
        assert!(
            !m.text.contains("**") && !m.text.contains("<b>"),
            "{}",
            m.text
        );
        assert!(
            m.text.contains(&format!("{}/d/OPEN-1", app.base)),
            "{}",
            m.text
        );
        assert!(m.unsubscribe.contains("&s=opened&"), "{}", m.unsubscribe);
    }
    // The deadline in the reader's own time zone.
    let tokyo = settled::format::when(closes, chrono_tz::Asia::Tokyo, Utc::now()).local;
    let utc = settled::format::when(closes, chrono_tz::UTC, Utc::now()).local;
    assert_ne!(tokyo, utc);
    assert!(
        only(&mails, &chen.email, subject).text.contains(&tokyo),
        "{tokyo}"
    );
    let voter = &only(&mails, &dan.email, subject).text;
    assert!(voter.contains(&utc), "{utc}\n{voter}");
    // A voter is asked for a stance; an observer is not.
    assert!(voter.contains("take your stance"), "{voter}");
    let observer = &only(&mails, &olive.email, subject).text;
    assert!(observer.contains("As an observer"), "{observer}");
    assert!(!observer.contains("take your stance"), "{observer}");
    assert!(
        observer.contains("because you observe Team OPEN"),
        "{observer}"
    );
}

#[tokio::test]
async fn the_outcome_reaches_every_member_once_and_an_objector_reads_the_answer_first() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    let sam = app.api_user("sam@example.com", "Sam").await;
    let olive = app.api_user("olive@example.com", "Olive").await;
    app.team("OUT", &ana, &[&bob, &chen, &dan, &sam], &[&olive])
        .await;
    // The window closes in two seconds: Sam stays silent through it.
    let id = ana
        .propose("OUT", "Adopt a four-day week", &bob.email, &in_seconds(2))
        .await;
    let mut seen = 0;
    new_mail(&app, &mut seen).await;
    let (status, _) = dan.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = chen
        .stance(
            &id,
            "object",
            Some("Support rota is not covered on Fridays."),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({
                "outcome": "accepted",
                "statement": "We work Monday to Thursday.",
                "rationale": "Longer focus time.",
                "responses": {"chen@example.com": "The rota moves to Mondays; Dan covers the first month."},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Everyone, the silent Sam and the observer too, but the decider (the
    // short window also reminded the silent: not counted here).
    let subject = "[Team OUT] OUT-1 accepted: Adopt a four-day week";
    let mails: Vec<Mail> = new_mail(&app, &mut seen)
        .await
        .into_iter()
        .filter(|m| m.subject == subject)
        .collect();
    let mut recipients: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(
        recipients,
        [
            "ana@example.com",
            "chen@example.com",
            "dan@example.com",
            "olive@example.com",
            "sam@example.com"
        ]
    );

    // The objector: their objection and its answer, then what was agreed.
    let objector = &only(&mails, &chen.email, subject).text;
    let at = |text: &str, part: &str| {
        text.find(part)
            .unwrap_or_else(|| panic!("{part:?} missing from:\n{text}"))
    };
    assert!(
        objector.contains("You objected to this proposal"),
        "{objector}"
    );
    let order = [
        at(objector, "Your objection"),
        at(objector, "Support rota is not covered on Fridays."),
        at(objector, "Bob's answer to your objection"),
        at(objector, "The rota moves to Mondays"),
        at(objector, "What was agreed"),
        at(objector, "We work Monday to Thursday."),
        at(objector, "Longer focus time."),
    ];
    assert!(order.is_sorted(), "{order:?}\n{objector}");

    // The others read the answer after what was agreed.
    let silent = &only(&mails, &sam.email, subject).text;
    assert!(
        at(silent, "What was agreed") < at(silent, "Bob's answer to Chen's objection"),
        "{silent}"
    );
    assert!(silent.contains("> The rota moves to Mondays"), "{silent}");
    assert!(!silent.contains("You objected"), "{silent}");
    assert!(
        silent.contains("You get this because you are a member of Team OUT."),
        "{silent}"
    );
    assert!(
        only(&mails, &olive.email, subject)
            .text
            .contains("because you observe Team OUT"),
    );
    let _ = (ana, olive);
}

#[tokio::test]
async fn a_new_decider_a_later_deadline_and_a_withdrawal_are_announced() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    app.team("CHG", &ana, &[&bob, &chen, &dan], &[]).await;
    // Bob turns opening notices off in his settings.
    let r = app
        .post_form(
            &bob.browser,
            "/settings",
            "/settings/mail",
            &[
                ("notify_decider", "on"),
                ("notify_decided", "on"),
                ("notify_reminder", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = ana
        .propose(
            "CHG",
            "Rename the product",
            &bob.email,
            &in_seconds(3 * 86400),
        )
        .await;
    let mut seen = 0;
    let opened = new_mail(&app, &mut seen).await;
    assert_eq!(opened.len(), 3, "Bob decides, Chen and Dan hear it opened");

    // A new decider: the former one hears it even with the kind off.
    let chen_id = app.user_id(&chen.email).await.to_string();
    let page = format!("/d/{id}");
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &format!("{page}/decider"),
            &[("decider", chen_id.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let changed = new_mail(&app, &mut seen).await;
    assert_eq!(changed.len(), 3, "{changed:?}");
    let former = only(
        &changed,
        &bob.email,
        "[Team CHG] You no longer decide CHG-1: Rename the product",
    );
    assert!(
        former
            .text
            .contains("Ana named Chen decider of this proposal instead of you."),
        "{}",
        former.text
    );
    only(
        &changed,
        &chen.email,
        "[Team CHG] You decide CHG-1: Rename the product",
    );
    let told = only(
        &changed,
        &dan.email,
        "[Team CHG] CHG-1 has a new decider: Chen",
    );
    assert!(
        told.text
            .contains("Ana named Chen decider of this proposal instead of Bob."),
        "{}",
        told.text
    );

    // A later deadline, set by the new decider: Ana and Dan hear it; Bob
    // turned the kind off.
    let later = (Utc::now() + Duration::days(6))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app
        .post_form(
            &chen.browser,
            &page,
            &format!("{page}/extend"),
            &[("closes_at", later.as_str())],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let extended = new_mail(&app, &mut seen).await;
    let mut recipients: Vec<&str> = extended.iter().map(|m| m.to.as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(recipients, ["ana@example.com", "dan@example.com"]);
    for m in &extended {
        assert!(
            m.subject.starts_with("[Team CHG] CHG-1 now closes "),
            "{}",
            m.subject
        );
        assert!(m.text.contains("was extended. It now closes"), "{}", m.text);
    }

    // Dan, who turned "you decide" mail off, still learns that he now
    // decides, from the update itself.
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE users SET notify_decider = FALSE WHERE email = 'dan@example.com'"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("setting");
    let dan_id = app.user_id(&dan.email).await.to_string();
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &format!("{page}/decider"),
            &[("decider", dan_id.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let again = new_mail(&app, &mut seen).await;
    assert_eq!(again.len(), 2, "{again:?}");
    only(
        &again,
        &chen.email,
        "[Team CHG] You no longer decide CHG-1: Rename the product",
    );
    let now_decides = only(
        &again,
        &dan.email,
        "[Team CHG] You now decide CHG-1: Rename the product",
    );
    assert!(
        now_decides
            .text
            .contains("Ana named you decider of this proposal instead of Chen."),
        "{}",
        now_decides.text
    );

    // The withdrawal: who and why, to everyone but Ana.
    let r = app
        .post_form(
            &ana.browser,
            &page,
            &format!("{page}/withdraw"),
            &[("reason", "The name stays; customers know it.")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let withdrawn = new_mail(&app, &mut seen).await;
    assert_eq!(withdrawn.len(), 3, "{withdrawn:?}");
    for who in [&bob, &chen, &dan] {
        let m = only(
            &withdrawn,
            &who.email,
            "[Team CHG] CHG-1 withdrawn: Rename the product",
        );
        assert!(m.text.contains("Ana withdrew this proposal."), "{}", m.text);
        assert!(
            m.text.contains("> The name stays; customers know it."),
            "{}",
            m.text
        );
        assert!(m.unsubscribe.contains("&s=decided&"), "{}", m.unsubscribe);
    }
}

#[tokio::test]
async fn opening_notices_stop_with_their_one_click_unsubscribe() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let dan = app.api_user("dan@example.com", "Dan").await;
    app.team("UNO", &ana, &[&dan], &[]).await;
    ana.propose("UNO", "First", &ana.email, &in_seconds(3 * 86400))
        .await;
    let mut seen = 0;
    let mails = new_mail(&app, &mut seen).await;
    let m = only(&mails, &dan.email, "[Team UNO] New proposal UNO-1: First");
    let link = m.unsubscribe.trim_matches(['<', '>']).to_string();
    let r = Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    let flags: (bool, bool, bool) = on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT notify_opened, notify_decided, notify_decider FROM users WHERE email = $1"
    )
    .bind(&dan.email)
    .fetch_one(c)
    .await)
    .expect("flags");
    assert_eq!(flags, (false, true, true), "only opening notices stop");

    ana.propose("UNO", "Second", &ana.email, &in_seconds(3 * 86400))
        .await;
    assert!(new_mail(&app, &mut seen).await.is_empty());
    let queued: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'opened' AND proposal_number = 2"
    )
    .fetch_one(c)
    .await)
    .expect("count");
    assert_eq!(queued, 0, "nothing is queued for a kind turned off");
}

/// A team of `size` through the ledger: `admin` and accounts inserted
/// directly (a password hash per member is not what is tested), every
/// tenth an observer. Returns the members' ids and emails, admin first.
async fn big_team(app: &TestApp, admin: &Api, key: &str, size: usize) -> (i64, Vec<(i64, String)>) {
    let (status, body) = admin
        .post(
            "/api/v1/teams",
            json!({"name": format!("Team {key}"), "key": key}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let team: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM teams WHERE key = $1"
    )
    .bind(key)
    .fetch_one(c)
    .await)
    .expect("team");
    let admin_id = app.user_id(&admin.email).await;
    let emails: Vec<String> = (1..size).map(|i| format!("m{i}@big.example")).collect();
    let inserted = emails.clone();
    let ids: Vec<i64> = app
        .writer
        .submit(move |mut conn| {
            Box::pin(async move {
                let mut ids = Vec::new();
                for (i, email) in inserted.iter().enumerate() {
                    let user = settled::db::users::insert(
                        conn.re(),
                        email,
                        email,
                        &format!("Member {}", i + 1),
                        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                        "UTC",
                        settled::db::Timestamp(Utc::now()),
                    )
                    .await?;
                    ids.push(user.id);
                }
                Ok(ids)
            })
        })
        .await
        .expect("accounts");
    for (i, id) in ids.iter().enumerate() {
        let role = if i % 10 == 9 {
            Role::Observer
        } else {
            Role::Member
        };
        settled::demo::join(&app.ledger, team, admin_id, *id, role)
            .await
            .expect("joins");
    }
    let mut members = vec![(admin_id, admin.email.clone())];
    members.extend(ids.into_iter().zip(emails));
    (team, members)
}

#[tokio::test]
async fn a_team_of_fifty_gets_one_mail_of_each_kind_each_with_two_instances() {
    let app = spawn().await;
    // On PostgreSQL a second instance on the same database expands and
    // sends too (one server serves a SQLite file).
    let other = if on_postgres() {
        Some(spawn_beside(&app).await)
    } else {
        None
    };
    let ana = app.api_user("ana@example.com", "Ana").await;
    let (team, members) = big_team(&app, &ana, "BIG", 50).await;
    let (ana_id, decider) = (members[0].0, members[1].0);
    let t = TeamId(team);
    let open = |title: &str| settled::ledger::commands::NewProposal {
        title: title.into(),
        body: "Everyone should hear of this.".into(),
        area: None,
        decider: Some(decider),
        closes_at: Some(Utc::now() + Duration::days(3)),
        supersedes: None,
    };
    // One proposal is extended and decided, another withdrawn; each step
    // waits for its mail, so none is skipped as out of date.
    let first = app
        .ledger
        .create_proposal(UserId(ana_id), t, open("Decided one"))
        .await
        .expect("opened");
    drained(&app).await;
    app.ledger
        .extend(
            UserId(decider),
            t,
            Number(first),
            Utc::now() + Duration::days(5),
        )
        .await
        .expect("extended");
    drained(&app).await;
    // Every voter agrees (observers are every tenth after Ana), so the
    // decision need not wait for the window.
    for (i, (id, _)) in members.iter().enumerate() {
        if i == 0 || i % 10 != 0 {
            let stance = settled::domain::proposal::Stance::parse("agree", None).expect("stance");
            app.ledger
                .take_stance(UserId(*id), t, Number(first), stance)
                .await
                .expect("stance taken");
        }
    }
    // Everyone responded: the decider is told it is ready (sent before
    // the decision makes it moot). Then Ana names every member once.
    drained(&app).await;
    let everyone: Vec<String> = members
        .iter()
        .skip(1)
        .map(|(_, email)| format!("@{}", email.split('@').next().unwrap_or_default()))
        .collect();
    app.ledger
        .comment(
            UserId(ana_id),
            t,
            Number(first),
            format!("Thanks, {}.", everyone.join(" ")),
        )
        .await
        .expect("commented");
    drained(&app).await;
    let draft = settled::domain::proposal::DecisionDraft::parse("accepted", "We do it.", "", [])
        .expect("draft");
    app.ledger
        .record(UserId(decider), t, Number(first), draft)
        .await
        .expect("decided");
    drained(&app).await;
    let second = app
        .ledger
        .create_proposal(UserId(ana_id), t, open("Withdrawn one"))
        .await
        .expect("opened");
    drained(&app).await;
    app.ledger
        .withdraw(UserId(ana_id), t, Number(second), "Not needed.".into())
        .await
        .expect("withdrawn");
    drained(&app).await;

    // Expanding everything again, as a restart halfway would, queues nothing.
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE announcements SET done_at = NULL"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("reset");
    drained(&app).await;

    let mut mails = folder(&app);
    if let Some(other) = &other {
        mails.extend(folder(other));
    }
    let mut count: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in &mails {
        *count.entry((m.to.clone(), m.subject.clone())).or_default() += 1;
    }
    assert!(
        count.values().all(|n| *n == 1),
        "a mail twice: {:?}",
        count.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let mentioned = "[Team BIG] Ana mentioned you on BIG-1: Decided one";
    let subjects = [
        "[Team BIG] New proposal BIG-1: Decided one",
        "[Team BIG] BIG-1 accepted: Decided one",
        "[Team BIG] New proposal BIG-2: Withdrawn one",
        "[Team BIG] BIG-2 withdrawn: Withdrawn one",
    ];
    for (id, email) in &members {
        let got: Vec<&str> = to(&mails, email)
            .iter()
            .map(|m| m.subject.as_str())
            .collect();
        let expected: Vec<&str> = if *id == ana_id {
            // The author acted each time but on the decision.
            vec![subjects[1]]
        } else if *id == decider {
            // "You decide" for both instead of the opening notices,
            // "ready" once everyone responded, the mention, and no outcome
            // for the decision the decider recorded.
            vec![
                "[Team BIG] You decide BIG-1: Decided one",
                "[Team BIG] BIG-1 is ready for your decision: Decided one",
                mentioned,
                "[Team BIG] You decide BIG-2: Withdrawn one",
                subjects[3],
            ]
        } else {
            let mut all = subjects.to_vec();
            all.push(mentioned);
            all
        };
        let extension = got
            .iter()
            .filter(|s| s.starts_with("[Team BIG] BIG-1 now closes "))
            .count();
        let rest: Vec<&str> = got
            .iter()
            .copied()
            .filter(|s| !s.starts_with("[Team BIG] BIG-1 now closes "))
            .collect();
        let mut rest_sorted = rest.clone();
        rest_sorted.sort_unstable();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort_unstable();
        assert_eq!(rest_sorted, expected_sorted, "{email}");
        assert_eq!(
            extension,
            usize::from(*id != decider),
            "{email}: the extension"
        );
    }
    // 49 opening notices less the decider's, twice; 49 extensions; 49
    // outcomes; 49 withdrawals; 49 mentions; 2 "you decide"; 1 "ready".
    assert_eq!(mails.len(), 48 * 2 + 49 * 4 + 2 + 1);
}

#[tokio::test]
async fn a_member_who_joins_after_the_fact_is_not_told_of_it() {
    // The ledger alone, no mail worker: the announcement waits.
    let dir = tempfile::tempdir().expect("dir");
    let url = match std::env::var("SETTLED_TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => crate::helpers::fresh_postgres(&server).await,
        _ => format!("sqlite://{}", dir.path().join("late.db").display()),
    };
    let db = settled::db::Db::connect(&url).await.expect("db");
    let ledger = settled::ledger::Ledger::new(db.clone())
        .await
        .expect("ledger");
    let now = settled::db::Timestamp(Utc::now());
    let mut ids = Vec::new();
    for name in ["ana", "bob", "late"] {
        let email = format!("{name}@late.example");
        let user = settled::db::users::insert(db.writer(), &email, &email, name, "h", "UTC", now)
            .await
            .expect("account");
        ids.push(user.id);
    }
    let (ana, bob, late) = (ids[0], ids[1], ids[2]);
    let team = ledger
        .create_team(
            UserId(ana),
            settled::ledger::commands::NewTeam {
                name: "Late".into(),
                slug: "late".into(),
                key: settled::domain::ids::TeamKey::parse("LATE").expect("key"),
                window_hours: 72,
            },
        )
        .await
        .expect("team")
        .id;
    settled::demo::join(&ledger, team, ana, bob, Role::Member)
        .await
        .expect("bob joins");
    ledger
        .create_proposal(
            UserId(ana),
            TeamId(team),
            settled::ledger::commands::NewProposal {
                title: "Before Late joined".into(),
                body: "Body.".into(),
                area: None,
                decider: Some(ana),
                closes_at: Some(Utc::now() + Duration::days(3)),
                supersedes: None,
            },
        )
        .await
        .expect("proposal");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    settled::demo::join(&ledger, team, ana, late, Role::Member)
        .await
        .expect("late joins");

    let pending = settled::db::announcements::pending(db.reader(), 10)
        .await
        .expect("pending");
    assert_eq!(pending.len(), 1);
    let a = pending[0].clone();
    let queued = ledger
        .writer()
        .submit(move |mut conn| {
            Box::pin(async move {
                Ok(settled::db::announcements::expand(conn.re(), &a, Utc::now()).await?)
            })
        })
        .await
        .expect("expanded");
    assert_eq!(queued, 1, "Bob only");
    let told: Vec<i64> = on!(db.reader(), |c| sqlx::query_scalar(
        "SELECT user_id FROM outbox WHERE kind = 'opened'"
    )
    .fetch_all(c)
    .await)
    .expect("rows");
    assert_eq!(told, [bob]);
}
