//! Two app instances on one database (issue #3): what a load balancer in
//! front of several `settled` processes relies on. On PostgreSQL this is the
//! supported way to scale out. On SQLite one server serves a file (it keeps
//! what it reads in memory as the file's only writer), so there each test
//! checks that a second server is refused, saying why.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{Api, TestApp, build_beside, in_seconds, on_postgres, spawn, spawn_beside};

/// A second instance beside `a`: on PostgreSQL, started; on SQLite, refused
/// (`None`), with the reason checked.
async fn second_instance(a: &TestApp) -> Option<TestApp> {
    if on_postgres() {
        return Some(spawn_beside(a).await);
    }
    let refused = build_beside(a).await.expect("a second server is refused");
    assert!(
        refused.contains("another settled server is serving")
            && refused.contains("several need PostgreSQL"),
        "{refused}"
    );
    None
}
use crate::live::Stream;

/// A team with Ana (admin), Bob and Cleo, created through instance `a`.
async fn team(a: &TestApp) -> (Api, Api, Api) {
    let ana = a.api_user("ana@example.com", "Ana").await;
    let bob = a.api_user("bob@example.com", "Bob").await;
    let cleo = a.api_user("cleo@example.com", "Cleo").await;
    a.team("TWO", &ana, &[&bob, &cleo], &[]).await;
    (ana, bob, cleo)
}

#[tokio::test]
async fn concurrent_writes_through_two_instances_keep_one_gap_free_verified_log() {
    let a = spawn().await;
    let Some(b) = second_instance(&a).await else {
        return;
    };
    let (ana, bob, cleo) = team(&a).await;
    let mut proposals = Vec::new();
    for n in 0..3 {
        let via = if n % 2 == 0 { &a } else { &b };
        proposals.push(
            ana.via(via)
                .propose(
                    "TWO",
                    &format!("Proposal {n}"),
                    &ana.email,
                    &in_seconds(3600),
                )
                .await,
        );
    }

    // 300 writes, alternating instances, all in flight at once.
    let people = [&ana, &bob, &cleo];
    let mut writes = Vec::new();
    for i in 0..300usize {
        let who = people[i % 3].via(if i % 2 == 0 { &a } else { &b });
        let id = proposals[i % proposals.len()].clone();
        writes.push(tokio::spawn(async move {
            if i % 4 == 0 {
                let position = ["agree", "abstain", "disagree"][i % 3];
                let (status, body) = who.stance(&id, position, None).await;
                (i, status, body, None)
            } else {
                let text = format!("comment {i} through two instances");
                let (status, body) = who
                    .post(
                        &format!("/api/v1/decisions/{id}/comments"),
                        json!({ "body": text }),
                    )
                    .await;
                (i, status, body, Some(text))
            }
        }));
    }
    let mut acknowledged = Vec::new();
    for write in writes {
        let (i, status, body, comment) = write.await.expect("task");
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "write {i}: {status} {body}"
        );
        let index = body["log_index"].as_i64().expect("log index");
        acknowledged.push((index, comment));
    }

    // One log: indices 0..n with no gap and no duplicate.
    let indices: Vec<i64> = on!(a.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries ORDER BY idx"
    )
    .fetch_all(c)
    .await)
    .expect("indices");
    let expected: Vec<i64> = (0..indices.len() as i64).collect();
    assert_eq!(indices, expected, "gap-free, no duplicates");
    // Entry times never go backwards along the log (replay requires it),
    // whichever writer or instance stamped them.
    let times: Vec<settled::db::Timestamp> = on!(a.db.reader(), |c| sqlx::query_scalar(
        "SELECT created_at FROM log_entries ORDER BY idx"
    )
    .fetch_all(c)
    .await)
    .expect("times");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times in log order");
    let distinct: HashSet<i64> = acknowledged.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        distinct.len(),
        300,
        "every acknowledged write has its own index"
    );

    // Every acknowledged comment is stored at the index it was given.
    for (index, comment) in &acknowledged {
        let Some(text) = comment else { continue };
        let stored: Option<String> = on!(b.db.reader(), |c| sqlx::query_scalar(
            "SELECT body FROM comments WHERE log_idx = $1"
        )
        .bind(index)
        .fetch_optional(c)
        .await)
        .expect("comment");
        assert_eq!(stored.as_deref(), Some(text.as_str()), "entry {index}");
    }

    let (ok, output) = a.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn a_session_started_on_one_instance_works_on_the_other() {
    let a = spawn().await;
    let Some(b) = second_instance(&a).await else {
        return;
    };
    let client = a.user("ana@example.com", "Ana").await;
    let (status, html) = b.get(&client, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Ana"),
        "signed in on the other instance: {html}"
    );
    // A form posted to the other instance passes its CSRF check too.
    let response = b
        .post_form(
            &client,
            "/",
            "/teams",
            &[("name", "Shared"), ("key", "SHR")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = a.get(&client, "/t/shared").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the team made through B is served by A"
    );
    // Signing out through B ends the session on A.
    let response = b.post_form(&client, "/", "/sign-out", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = a.get(&client, "/t/shared").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out everywhere");
}

#[tokio::test]
async fn live_events_reach_viewers_on_every_instance() {
    if !on_postgres() {
        // SQLite instances share no notification channel: one process
        // serves a SQLite database, and its own hub tells its viewers.
        let a = spawn().await;
        let (ana, bob, _) = team(&a).await;
        let id = ana
            .propose("TWO", "Live", &ana.email, &in_seconds(3600))
            .await;
        let mut stream =
            Stream::open(&bob.browser, &format!("{}/t/team-two/live", a.base), None).await;
        let (status, _) = bob.stance(&id, "agree", None).await;
        assert_eq!(status, StatusCode::CREATED);
        let event = stream.next().await.expect("event");
        assert_eq!(event.json()["kind"], "stance_taken");
        return;
    }
    let a = spawn().await;
    let Some(b) = second_instance(&a).await else {
        return;
    };
    let (ana, bob, _) = team(&a).await;
    let id = ana
        .propose("TWO", "Live", &ana.email, &in_seconds(3600))
        .await;
    // Bob watches through B; Ana and Bob write through A.
    let mut on_b = Stream::open(&bob.browser, &format!("{}/t/team-two/live", b.base), None).await;
    let mut on_a = Stream::open(&ana.browser, &format!("{}/t/team-two/live", a.base), None).await;
    let (status, body) = bob.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let index = body["log_index"].as_i64().expect("index");
    let (status, body) = ana
        .via(&b)
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({"body": "Seen on both?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for stream in [&mut on_b, &mut on_a] {
        let first = stream.next().await.expect("stance event");
        assert_eq!(first.index(), index);
        assert_eq!(first.json()["kind"], "stance_taken");
        let second = stream.next().await.expect("comment event");
        assert_eq!(second.index(), index + 1, "in log order, once each");
        assert_eq!(second.json()["kind"], "comment_added");
    }
}

#[tokio::test]
async fn each_mail_is_sent_once_whichever_instance_sends_it() {
    let a = spawn().await;
    let Some(b) = second_instance(&a).await else {
        return;
    };
    let (ana, bob, cleo) = team(&a).await;
    // Every proposal names a decider other than its author: one mail each.
    let mut expected = 0;
    for n in 0..40 {
        let decider = if n % 2 == 0 { &bob.email } else { &cleo.email };
        ana.via(if n % 2 == 0 { &a } else { &b })
            .propose("TWO", &format!("Mail {n}"), decider, &in_seconds(3600))
            .await;
        expected += 1;
    }
    // Both workers poll the one outbox until it is drained.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting: i64 = on!(a.db.reader(), |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')"
        )
        .fetch_one(c)
        .await)
        .expect("count");
        if waiting == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{waiting} mails still waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Every row: the named deciders' mails and the reminders of proposals
    // closing within a day.
    let rows: Vec<(i64, String, i64)> = on!(a.db.reader(), |c| sqlx::query_as(
        "SELECT id, kind, attempts FROM outbox WHERE status = 'sent' ORDER BY id"
    )
    .fetch_all(c)
    .await)
    .expect("rows");
    assert_eq!(
        rows.iter()
            .filter(|(_, kind, _)| kind == "decider_named")
            .count(),
        expected
    );
    assert!(
        rows.iter().all(|(_, _, attempts)| *attempts == 1),
        "claimed once each: {rows:?}"
    );
    // The files both instances wrote: one per row, none twice.
    let mut written = Vec::new();
    for dir in [&a.mail_dir, &b.mail_dir] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries {
                let name = entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                if name.ends_with(".eml") {
                    written.push(name);
                }
            }
        }
    }
    written.sort();
    let mut ids: Vec<String> = rows
        .iter()
        .map(|(id, kind, _)| format!("{id:08}-{kind}.eml"))
        .collect();
    ids.sort();
    assert_eq!(written, ids, "one file per mail across both instances");
}
