//! Search (issue #8): ranking, scoping to the viewer's current teams,
//! filters, erasure, odd input, escaping, the migration's backfill, and the
//! "who decides" box of the areas page.

use reqwest::StatusCode;
use serde_json::json;
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, spawn};

/// Opens a proposal with a body of our choosing; returns `KEY-N`.
async fn propose(api: &Api, key: &str, fields: serde_json::Value) -> String {
    let mut body = json!({"decider": api.email, "closes_at": in_seconds(3600)});
    for (k, v) in fields.as_object().expect("object") {
        body[k] = v.clone();
    }
    let (status, answer) = api
        .post(&format!("/api/v1/teams/{key}/proposals"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["id"].as_str().expect("id").to_string()
}

/// Comments on `id`; returns the comment's log index.
async fn comment(api: &Api, id: &str, body: &str) -> i64 {
    let (status, answer) = api
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({ "body": body }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["log_index"].as_i64().expect("log index")
}

/// Every voter agrees, then `decider` records an acceptance.
async fn decide(decider: &Api, voters: &[&Api], id: &str, statement: &str, rationale: &str) {
    for voter in voters {
        let (status, body) = voter.stance(id, "agree", None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = decider
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": statement, "rationale": rationale}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// GETs `/search?` with `query` (form-encoded pairs) as `who`.
async fn search(app: &TestApp, who: &Api, query: &[(&str, &str)]) -> (StatusCode, String) {
    let query = serde_urlencoded::to_string(query).expect("query");
    app.get(&who.browser, &format!("/search?{query}")).await
}

/// The `KEY-N` of each result, in order.
fn result_ids(html: &str) -> Vec<String> {
    html.split("<span class=\"id\">")
        .skip(1)
        .map(|rest| rest[..rest.find('<').expect("end of id")].to_string())
        .collect()
}

/// FTS5's own check that the index holds exactly the tokens of the texts it
/// points at (an external-content index told the wrong old text drifts).
/// On PostgreSQL: every stored document equals the one its text gives now.
async fn index_is_consistent(app: &TestApp) {
    if crate::helpers::on_postgres() {
        let stale: (i64, i64) = on!(app.db.reader(), |c| {
            sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM search_docs s JOIN search_text t ON t.id = s.id
                     WHERE s.document <> search_document(t.title, t.body)),
                    (SELECT COUNT(*) FROM areas a LEFT JOIN areas_search x ON x.area_id = a.id
                     WHERE x.document IS DISTINCT FROM search_area_document(a.name, a.description))"
        )
        .fetch_one(c)
        .await
        })
        .expect("check");
        assert_eq!(
            stale,
            (0, 0),
            "search documents out of step with their texts"
        );
        return;
    }
    for table in ["search_fts", "areas_fts"] {
        on!(app.db.writer(), |c| sqlx::query(sqlx::AssertSqlSafe(
            format!("INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
        ))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .unwrap_or_else(|e| panic!("{table} out of step with its texts: {e}"));
    }
}

#[tokio::test]
async fn a_title_match_ranks_above_a_body_only_match() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("ARCH", &ana, &[], &[]).await;
    let body_only = propose(
        &ana,
        "ARCH",
        json!({"title": "Cluster plan", "body": "Move every service to Kubernetes. Kubernetes needs an operator; Kubernetes upgrades quarterly."}),
    )
    .await;
    let title = propose(
        &ana,
        "ARCH",
        json!({"title": "Kubernetes for staging", "body": "A small cluster first."}),
    )
    .await;
    propose(
        &ana,
        "ARCH",
        json!({"title": "Unrelated", "body": "Nothing to see."}),
    )
    .await;

    let (status, html) = search(&app, &ana, &[("q", "kubernetes")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        result_ids(&html),
        vec![title.clone(), body_only.clone()],
        "{html}"
    );
    assert!(
        html.contains("<mark>Kubernetes</mark> for staging"),
        "the matched title word is marked"
    );
    assert!(html.contains(&format!("href=\"/d/{title}\"")), "permalink");
    // Stemming: another form of a word finds it ("upgrades").
    let (_, html) = search(&app, &ana, &[("q", "upgrade")]).await;
    assert_eq!(result_ids(&html), vec![body_only.clone()], "{html}");
}

#[tokio::test]
async fn members_never_find_text_of_teams_they_are_not_in() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let carl = app.api_user("carl@example.com", "Carl").await;
    app.team("AAA", &ana, &[&carl], &[]).await;
    app.team("BBB", &bob, &[], &[]).await;
    let secret = propose(
        &bob,
        "BBB",
        json!({"title": "Zanzibar acquisition", "body": "Confidential: we buy Zanzibar Corp."}),
    )
    .await;
    comment(&bob, &secret, "Zanzibar board meets Friday").await;
    let ours = propose(
        &ana,
        "AAA",
        json!({"title": "Quokka rollout", "body": "Roll out Quokka."}),
    )
    .await;

    // Bob finds his team's texts.
    let (_, html) = search(&app, &bob, &[("q", "zanzibar")]).await;
    assert_eq!(result_ids(&html), vec![secret.clone(), secret.clone()]);

    // Ana does not, even with B's exact words or B's team as a filter.
    for query in [
        vec![("q", "zanzibar")],
        vec![("q", "\"Zanzibar board meets Friday\"")],
        vec![("q", "Confidential"), ("team", "team-bbb")],
    ] {
        let (status, html) = search(&app, &ana, &query).await;
        assert_eq!(status, StatusCode::OK);
        assert!(result_ids(&html).is_empty(), "{query:?}: {html}");
        assert!(!html.contains("Zanzibar acquisition") && !html.contains("we buy"));
        assert!(!html.contains("Team BBB"), "not even the team's name");
    }

    // A member sees the team's texts until removed, then no longer.
    let (_, html) = search(&app, &carl, &[("q", "quokka")]).await;
    assert_eq!(result_ids(&html), vec![ours.clone()]);
    let carl_id = app.user_id("carl@example.com").await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-aaa/settings",
            &format!("/t/team-aaa/members/{carl_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, html) = search(&app, &carl, &[("q", "quokka")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(result_ids(&html).is_empty(), "{html}");
    assert!(!html.contains("Quokka rollout"));
    let (_, html) = search(&app, &carl, &[("q", "quokka"), ("team", "team-aaa")]).await;
    assert!(result_ids(&html).is_empty(), "{html}");
}

#[tokio::test]
async fn filters_narrow_by_team_area_status_decider_and_dates() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ARCH", &ana, &[&bob], &[]).await;
    app.team("OPS", &ana, &[], &[]).await;
    let bob_id = app.user_id("bob@example.com").await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-arch/areas",
            "/t/team-arch/areas",
            &[
                ("name", "Storage"),
                ("description", "Databases and backups"),
                ("default_decider", &bob_id.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let area_id: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT id FROM areas WHERE name = 'Storage'"
    )
    .fetch_one(c)
    .await)
    .expect("area");

    let in_area = propose(
        &ana,
        "ARCH",
        json!({"title": "Walrus database", "body": "Adopt it.", "area": "Storage", "decider": bob.email}),
    )
    .await;
    let decided = propose(
        &ana,
        "ARCH",
        json!({"title": "Walrus training", "body": "Everyone learns it."}),
    )
    .await;
    decide(
        &ana,
        &[&ana, &bob],
        &decided,
        "We train on Walrus.",
        "It is worth it.",
    )
    .await;
    let other_team = propose(
        &ana,
        "OPS",
        json!({"title": "Walrus monitoring", "body": "Dashboards."}),
    )
    .await;

    let all = |html: &str| {
        let mut ids = result_ids(html);
        ids.sort();
        ids.dedup();
        ids
    };
    let (_, html) = search(&app, &ana, &[("q", "walrus")]).await;
    assert_eq!(
        all(&html),
        vec![in_area.clone(), decided.clone(), other_team.clone()]
    );
    assert!(
        html.contains("Decision record"),
        "the record is a result of its own"
    );

    let (_, html) = search(&app, &ana, &[("q", "walrus"), ("team", "team-ops")]).await;
    assert_eq!(all(&html), vec![other_team.clone()]);
    let area = area_id.to_string();
    let (_, html) = search(&app, &ana, &[("q", "walrus"), ("area", &area)]).await;
    assert_eq!(all(&html), vec![in_area.clone()]);
    let (_, html) = search(&app, &ana, &[("q", "walrus"), ("status", "accepted")]).await;
    assert_eq!(all(&html), vec![decided.clone()]);
    let bob = bob_id.to_string();
    let (_, html) = search(&app, &ana, &[("q", "walrus"), ("decider", &bob)]).await;
    assert_eq!(all(&html), vec![in_area.clone()]);

    // Dates are whole days in the viewer's time zone (Europe/Berlin here).
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let (yesterday, tomorrow) = (
        (today - chrono::Days::new(1)).to_string(),
        (today + chrono::Days::new(1)).to_string(),
    );
    let today = today.to_string();
    let (_, html) = search(
        &app,
        &ana,
        &[("q", "walrus"), ("from", &today), ("to", &today)],
    )
    .await;
    assert_eq!(all(&html).len(), 3, "{html}");
    let (_, html) = search(&app, &ana, &[("q", "walrus"), ("from", &tomorrow)]).await;
    assert!(all(&html).is_empty(), "{html}");
    let (_, html) = search(&app, &ana, &[("q", "walrus"), ("to", &yesterday)]).await;
    assert!(all(&html).is_empty(), "{html}");
    let (_, html) = search(
        &app,
        &ana,
        &[("q", "walrus"), ("date", "decided"), ("from", &today)],
    )
    .await;
    assert_eq!(
        all(&html),
        vec![decided.clone()],
        "only decided ones have a decision date"
    );
    // Swapped dates are put in order rather than refused.
    let (status, html) = search(
        &app,
        &ana,
        &[("q", "walrus"), ("from", &tomorrow), ("to", &yesterday)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all(&html).len(), 3);
    assert!(html.contains("swapped"));

    // The form shows what was chosen, with labelled controls.
    let (_, html) = search(&app, &ana, &[("q", "walrus"), ("status", "accepted")]).await;
    assert!(html.contains("<label for=\"status\">Status</label>"));
    assert!(html.contains("<option value=\"accepted\" selected>"));
}

#[tokio::test]
async fn an_erased_comment_can_no_longer_be_found() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ERA", &ana, &[&bob], &[]).await;
    let id = propose(
        &ana,
        "ERA",
        json!({"title": "Office move", "body": "Where next?"}),
    )
    .await;
    let index = comment(&bob, &id, "My flamingo sanctuary address is 12 Elm Road").await;
    comment(&bob, &id, "Flamingo pink walls, please").await;
    let (_, html) = search(&app, &ana, &[("q", "sanctuary")]).await;
    assert_eq!(result_ids(&html), vec![id.clone()]);

    let (status, body) = ana
        .post(
            "/api/v1/teams/ERA/erasures",
            json!({"index": index, "field": "body"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    for who in [&ana, &bob] {
        let (status, html) = search(&app, who, &[("q", "sanctuary")]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(result_ids(&html).is_empty(), "{html}");
        assert!(!html.contains("Elm Road"));
    }
    let (_, html) = search(&app, &ana, &[("q", "\"12 Elm Road\"")]).await;
    assert!(result_ids(&html).is_empty(), "{html}");
    // The rest of the team's texts are still found after the re-projection.
    let (_, html) = search(&app, &ana, &[("q", "flamingo")]).await;
    assert_eq!(result_ids(&html), vec![id.clone()], "{html}");
    assert!(html.contains("pink walls"));
    let (_, html) = search(&app, &ana, &[("q", "office")]).await;
    assert_eq!(result_ids(&html), vec![id.clone()]);

    index_is_consistent(&app).await;
    let (ok, output) = app.verify();
    assert!(ok, "verify passes with the search index in place: {output}");
}

#[tokio::test]
async fn stance_reasons_and_responses_to_objections_are_found_until_erased() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("OBJ", &ana, &[&bob], &[]).await;
    let bob_id = app.user_id("bob@example.com").await;
    let id = propose(
        &ana,
        "OBJ",
        json!({"title": "Shared build cache", "body": "One cache for all of us."}),
    )
    .await;
    let (status, answer) = bob
        .stance(
            &id,
            "object",
            Some("Flamingo mirrors would slow the runners"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let stance_index = answer["log_index"].as_i64().expect("log index");
    let (status, answer) = ana.stance(&id, "agree", None).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let (_, html) = search(&app, &ana, &[("q", "flamingo")]).await;
    assert_eq!(result_ids(&html), vec![id.clone()], "{html}");
    assert!(
        html.contains(&format!("href=\"/d/{id}#stances-heading\"")),
        "a stance reason links to the proposal's stances: {html}"
    );
    assert!(html.contains("Stance reason by <bdi>Bob</bdi>"), "{html}");
    assert!(html.contains("<mark>Flamingo</mark> mirrors"), "{html}");

    let (status, answer) = ana
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We share one cache.",
                   "responses": {"bob@example.com": "A pelican proxy sits in front of the mirrors."}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let decision_index = answer["log_index"].as_i64().expect("log index");
    let (_, html) = search(&app, &bob, &[("q", "pelican")]).await;
    assert_eq!(result_ids(&html), vec![id.clone()], "{html}");
    assert!(
        html.contains(&format!("href=\"/d/{id}#record-heading\"")),
        "a response links to the decision record: {html}"
    );
    assert!(
        html.contains("Response to an objection by <bdi>Bob</bdi>"),
        "{html}"
    );
    index_is_consistent(&app).await;

    // Erasing either text takes it out of the index; the rest stays.
    for (index, field, word) in [
        (stance_index, "reason".to_string(), "flamingo"),
        (decision_index, format!("responses.{bob_id}"), "pelican"),
    ] {
        let (status, body) = ana
            .post(
                "/api/v1/teams/OBJ/erasures",
                json!({"index": index, "field": field}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for who in [&ana, &bob] {
            let (status, html) = search(&app, who, &[("q", word)]).await;
            assert_eq!(status, StatusCode::OK);
            assert!(result_ids(&html).is_empty(), "{word}: {html}");
        }
        index_is_consistent(&app).await;
    }
    let (_, html) = search(&app, &ana, &[("q", "runners OR mirrors")]).await;
    assert!(result_ids(&html).is_empty(), "{html}");
    let (_, html) = search(&app, &ana, &[("q", "cache")]).await;
    assert_eq!(result_ids(&html), vec![id.clone(), id.clone()], "{html}");
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn a_revised_body_is_found_by_its_new_words_only() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("REV", &ana, &[], &[]).await;
    let id = propose(
        &ana,
        "REV",
        json!({"title": "Logging", "body": "Use syslog everywhere."}),
    )
    .await;
    let r = app
        .post_form(
            &ana.browser,
            &format!("/d/{id}"),
            &format!("/d/{id}/revise"),
            &[("body", "Use journald everywhere.")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = search(&app, &ana, &[("q", "journald")]).await;
    assert_eq!(result_ids(&html), vec![id.clone()]);
    let (_, html) = search(&app, &ana, &[("q", "syslog")]).await;
    assert!(result_ids(&html).is_empty(), "{html}");
    index_is_consistent(&app).await;
}

#[tokio::test]
async fn odd_queries_answer_with_help_instead_of_an_error() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("ODD", &ana, &[], &[]).await;
    propose(
        &ana,
        "ODD",
        json!({"title": "Tabs or spaces", "body": "Spaces (four)."}),
    )
    .await;

    let (status, html) = search(&app, &ana, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("What you can search"), "{html}");
    assert!(html.contains("Examples"));
    let (status, html) = search(&app, &ana, &[("q", "   ")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("What you can search"));

    let long = "spaces ".repeat(2_000);
    let odd = [
        "\"",
        "\"spaces",
        "*",
        "-",
        "--spaces",
        "AND",
        "spaces AND",
        "OR spaces OR",
        "NOT",
        "(",
        "spaces)",
        "((spaces",
        "spaces AND (tabs",
        "NEAR(spaces tabs, 2)",
        "title:spaces",
        "^spaces",
        "!!!",
        "?*&%$#@",
        "\u{E000}spaces\u{E001}",
        "🎉",
        long.as_str(),
    ];
    for q in odd {
        let (status, html) = search(&app, &ana, &[("q", q)]).await;
        assert_eq!(status, StatusCode::OK, "{q:?}");
        assert!(
            html.contains("Results for")
                || html.contains("No results for")
                || html.contains("Nothing to search for"),
            "{q:?}: {html}"
        );
    }
    // A NUL is refused at the edge, before the search (tests/api/input.rs).
    let (status, _) = search(&app, &ana, &[("q", "spaces\u{0}tabs")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, html) = search(&app, &ana, &[("q", "!!!")]).await;
    assert!(html.contains("Nothing to search for") && html.contains("Type a word"));
    let (_, html) = search(&app, &ana, &[("q", "spaces AND (tabs")]).await;
    assert_eq!(
        result_ids(&html).len(),
        1,
        "AND is implied, brackets are text"
    );
    let (_, html) = search(&app, &ana, &[("q", &long)]).await;
    assert!(html.contains("Only the first"), "says the input was cut");
    let (_, html) = search(&app, &ana, &[("q", "giraffe")]).await;
    assert!(html.contains("No results for <span class=\"prose\" dir=\"auto\">giraffe</span>"));
    assert!(html.contains("Check the spelling"), "suggestions");

    // Bad filter values are ignored with a note, never an error.
    for query in [
        vec![("q", "spaces"), ("from", "yesterday")],
        vec![("q", "spaces"), ("to", "2026-02-31")],
        vec![("q", "spaces"), ("area", "x")],
        vec![("q", "spaces"), ("decider", "99999")],
        vec![("q", "spaces"), ("status", "maybe")],
        vec![("q", "spaces"), ("team", "nope")],
        vec![("q", "spaces"), ("page", "-3")],
        vec![("q", "spaces"), ("page", "999999999999999999999")],
        vec![("q", "spaces"), ("q", "tabs")],
    ] {
        let (status, html) = search(&app, &ana, &query).await;
        assert_eq!(status, StatusCode::OK, "{query:?}");
        assert_eq!(result_ids(&html).len(), 1, "{query:?}");
    }
    let (status, _) = app.get(&ana.browser, "/search?q=%ZZ&team=%&&=&page").await;
    assert_eq!(status, StatusCode::OK, "a malformed query string");

    // Signed out: the sign-in page, then back here.
    let (status, _) = app
        .get(&crate::helpers::browser(), "/search?q=spaces")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn snippets_show_user_text_escaped_with_marked_matches() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    app.team("ESC", &ana, &[], &[]).await;
    let id = propose(
        &ana,
        "ESC",
        json!({"title": "<b>Bold</b> pelican", "body": "Plain."}),
    )
    .await;
    comment(
        &ana,
        &id,
        "<script>alert(\"owned\")</script> the pelican & <img src=x onerror=alert(1)> flies",
    )
    .await;
    let (_, html) = search(&app, &ana, &[("q", "pelican")]).await;
    assert_eq!(result_ids(&html), vec![id.clone(), id.clone()], "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<b>Bold"), "{html}");
    if crate::helpers::on_postgres() {
        // ts_headline leaves tag-like words (`<script>`) out of a snippet;
        // the rest is shown as text.
        assert!(html.contains("alert(&quot;owned&quot;)"), "{html}");
    } else {
        assert!(
            html.contains("&lt;script&gt;alert(&quot;owned&quot;)&lt;&#x2F;script&gt;")
                || html.contains("&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;"),
            "{html}"
        );
    }
    assert!(
        html.contains("the <mark>pelican</mark> &amp; &lt;img"),
        "{html}"
    );
    assert!(
        html.contains("&lt;b&gt;Bold&lt;/b&gt; <mark>pelican</mark>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/d/{id}#c")),
        "comment permalink with anchor"
    );
}

#[tokio::test]
async fn the_migration_indexes_rows_that_were_already_there() {
    // A database at version 7 with a team's rows in it, as an older
    // release left it; opening it runs migration 0008.
    let dir = tempfile::tempdir().expect("temp dir");
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).expect("dir");
    for entry in std::fs::read_dir("migrations/sqlite").expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.as_str() < "0008" {
            std::fs::copy(&path, old.join(&name)).expect("copy");
        }
    }
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .expect("url")
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .expect("old migrations")
            .run(&pool)
            .await
            .expect("migrate to 7");
        for sql in [
            "INSERT INTO users (id, email, email_norm, display_name, password_hash, created_at)
             VALUES (1, 'ana@example.com', 'ana@example.com', 'Ana', '', '2026-01-01T00:00:00.000000Z')",
            "INSERT INTO teams (id, name, slug, key, window_hours, created_at, created_by)
             VALUES (1, 'Old', 'old', 'OLD', 72, '2026-01-01T00:00:00.000000Z', 1)",
            "INSERT INTO memberships (team_id, user_id, role, joined_at, log_idx)
             VALUES (1, 1, 'admin', '2026-01-01T00:00:00.000000Z', 0)",
            "INSERT INTO areas (id, team_id, name, description, default_decider_id, log_idx)
             VALUES (1, 1, 'Hedgehogs', 'garden visitors', 1, 1)",
            "INSERT INTO proposals (id, team_id, number, title, body, author_id, decider_id, created_at, closes_at, status, log_idx)
             VALUES (1, 1, 1, 'Hedgehog house', 'Build one.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-04T00:00:00.000000Z', 'accepted', 3)",
            "INSERT INTO comments (proposal_id, log_idx, author_id, body, created_at)
             VALUES (1, 2, 1, 'Straw inside', '2026-01-02T00:00:00.000000Z')",
            "INSERT INTO decisions (proposal_id, outcome, statement, rationale, decided_by, decided_at, log_idx, leaf_hash, tree_size, root_hash)
             VALUES (1, 'accepted', 'We build a larch hut.', 'Larch lasts.', 1, '2026-01-05T00:00:00.000000Z', 3, x'00', 4, x'00')",
        ] {
            sqlx::query(sql).execute(&pool).await.expect("row");
        }
        pool.close().await;
    }

    let db = settled::db::Db::connect(&url).await.expect("upgrade");
    let filter = settled::db::search::Filter {
        user_id: 1,
        ..Default::default()
    };
    for (word, kind) in [
        ("hedgehog", "proposal"),
        ("straw", "comment"),
        ("larch", "decision"),
    ] {
        let expression = settled::db::search::MatchQuery::parse(word)
            .expression()
            .expect("expression");
        let hits = settled::db::search::search(db.reader(), &expression, &filter, 10, 0)
            .await
            .expect("search");
        assert_eq!(
            hits.iter().map(|h| h.kind.as_str()).collect::<Vec<_>>(),
            vec![kind],
            "{word}"
        );
    }
    let expression = settled::db::search::MatchQuery::parse("garden")
        .expression()
        .expect("expression");
    let areas = settled::db::search::matching_areas(db.reader(), 1, &expression, 10)
        .await
        .expect("areas");
    assert_eq!(areas.len(), 1);
    assert_eq!(areas[0].name, "Hedgehogs");
}

#[tokio::test]
async fn the_upgrade_indexes_stance_reasons_and_responses_already_there() {
    // A database as the release before migration 0012 left it, with a
    // stance reason and a response in it; opening it runs 0012.
    let dir = tempfile::tempdir().expect("temp dir");
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).expect("dir");
    let (folder, url) = if crate::helpers::on_postgres() {
        let server = std::env::var("SETTLED_TEST_DATABASE_URL").expect("server");
        (
            "migrations/postgres",
            crate::helpers::fresh_postgres(&server).await,
        )
    } else {
        (
            "migrations/sqlite",
            format!("sqlite://{}", dir.path().join("old.db").display()),
        )
    };
    for entry in std::fs::read_dir(folder).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.as_str() < "0012" {
            std::fs::copy(&path, old.join(&name)).expect("copy");
        }
    }
    let hash = if crate::helpers::on_postgres() {
        "decode('00', 'hex')"
    } else {
        "x'00'"
    };
    let rows = [
        "INSERT INTO users (id, email, email_norm, display_name, password_hash, created_at)
         VALUES (1, 'ana@example.com', 'ana@example.com', 'Ana', '', '2026-01-01T00:00:00.000000Z'),
                (2, 'bob@example.com', 'bob@example.com', 'Bob', '', '2026-01-01T00:00:00.000000Z')"
            .to_string(),
        "INSERT INTO teams (id, name, slug, key, window_hours, created_at, created_by)
         VALUES (1, 'Old', 'old', 'OLD', 72, '2026-01-01T00:00:00.000000Z', 1)"
            .to_string(),
        "INSERT INTO memberships (team_id, user_id, role, joined_at, log_idx)
         VALUES (1, 1, 'admin', '2026-01-01T00:00:00.000000Z', 0),
                (1, 2, 'member', '2026-01-01T00:00:00.000000Z', 1)"
            .to_string(),
        "INSERT INTO proposals (id, team_id, number, title, body, author_id, decider_id, created_at, closes_at, status, log_idx)
         VALUES (1, 1, 1, 'Hedgehog house', 'Build one.', 1, 1, '2026-01-01T00:00:00.000000Z', '2026-01-04T00:00:00.000000Z', 'accepted', 2)"
            .to_string(),
        "INSERT INTO stances (proposal_id, log_idx, user_id, position, reason, created_at)
         VALUES (1, 3, 2, 'object', 'Foxes dig under pine', '2026-01-02T00:00:00.000000Z'),
                (1, 4, 1, 'agree', NULL, '2026-01-02T00:00:00.000000Z')"
            .to_string(),
        format!(
            "INSERT INTO decisions (proposal_id, outcome, statement, rationale, decided_by, decided_at, log_idx, leaf_hash, tree_size, root_hash)
             VALUES (1, 'accepted', 'We build a hut.', '', 1, '2026-01-05T00:00:00.000000Z', 5, {hash}, 6, {hash})"
        ),
        "INSERT INTO decision_responses (proposal_id, user_id, response)
         VALUES (1, 2, 'A wire mesh floor keeps them out')"
            .to_string(),
    ];
    if crate::helpers::on_postgres() {
        let pool = sqlx::PgPool::connect(&url).await.expect("open");
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .expect("old migrations")
            .run(&pool)
            .await
            .expect("migrate to 11");
        for sql in &rows {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&pool)
                .await
                .expect("row");
        }
        pool.close().await;
    } else {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .expect("url")
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .expect("old migrations")
            .run(&pool)
            .await
            .expect("migrate to 11");
        for sql in &rows {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&pool)
                .await
                .expect("row");
        }
        pool.close().await;
    }

    let db = settled::db::Db::connect(&url).await.expect("upgrade");
    for (word, kind) in [
        ("hedgehog", "proposal"),
        ("foxes", "stance"),
        ("mesh", "response"),
    ] {
        let q = settled::db::search::MatchQuery::parse(word);
        let expression = q.expression_for(&db.reader()).expect("expression");
        let hits = settled::db::search::search(
            db.reader(),
            &expression,
            &settled::db::search::Filter {
                user_id: 2,
                ..Default::default()
            },
            10,
            0,
        )
        .await
        .expect("search");
        assert_eq!(
            hits.iter()
                .map(|h| (h.kind.as_str(), h.author_name.as_deref()))
                .collect::<Vec<_>>(),
            vec![(kind, (kind != "proposal").then_some("Bob"))],
            "{word}"
        );
    }
}

#[tokio::test]
async fn the_areas_page_answers_who_decides_a_topic() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let chen = app.api_user("chen@example.com", "Chen").await;
    app.team("WHO", &ana, &[&bob, &chen], &[]).await;
    let bob_id = app.user_id("bob@example.com").await;
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-who/areas",
            "/t/team-who/areas",
            &[
                ("name", "Deployments"),
                ("description", "Release trains, rollbacks and feature flags"),
                ("default_decider", &bob_id.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = propose(
        &ana,
        "WHO",
        json!({"title": "Rollback policy", "body": "Automatic rollbacks on failed health checks.", "decider": chen.email}),
    )
    .await;
    decide(
        &chen,
        &[&ana, &bob, &chen],
        &id,
        "Roll back automatically.",
        "Fewer pages at night.",
    )
    .await;
    // An open proposal is not a past decision.
    propose(
        &ana,
        "WHO",
        json!({"title": "Rollback drills", "body": "Monthly."}),
    )
    .await;

    let (status, html) = app.get(&ana.browser, "/t/team-who/areas?q=rollback").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<label for=\"who-q\">Topic</label>"),
        "{html}"
    );
    assert!(html.contains("value=\"rollback\""), "keeps the question");
    assert!(
        html.contains("<a href=\"#area-")
            && html.contains("><bdi>Deployments</bdi></a>: ask <strong><bdi>Bob</bdi></strong>"),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"/d/{id}\"")), "{html}");
    assert!(
        html.contains("decided by <strong><bdi>Chen</bdi></strong>"),
        "{html}"
    );
    assert!(
        !html.contains("Rollback drills"),
        "open proposals are not past decisions"
    );

    // The description alone is enough; the decision text alone is enough.
    let (_, html) = app
        .get(&ana.browser, "/t/team-who/areas?q=feature+flags")
        .await;
    assert!(
        html.contains("ask <strong><bdi>Bob</bdi></strong>"),
        "{html}"
    );
    assert!(!html.contains("decided by"), "{html}");
    let (_, html) = app.get(&ana.browser, "/t/team-who/areas?q=night").await;
    assert!(
        html.contains("decided by <strong><bdi>Chen</bdi></strong>"),
        "{html}"
    );
    assert!(
        !html.contains("ask <strong><bdi>Bob</bdi></strong>"),
        "{html}"
    );

    // Nothing found, nothing to look for, odd input: an answer, not an error.
    let (status, html) = app.get(&ana.browser, "/t/team-who/areas?q=payroll").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Nothing about “payroll” yet"), "{html}");
    for q in ["%22", "(", "AND", "q&q=x", "%E0%A4%A"] {
        let (status, _) = app
            .get(&ana.browser, &format!("/t/team-who/areas?q={q}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{q}");
    }
    // Other teams' members get nothing.
    let (status, _) = app
        .get(&crate::helpers::browser(), "/t/team-who/areas?q=rollback")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let eve = app.api_user("eve@example.com", "Eve").await;
    let (status, html) = app.get(&eve.browser, "/t/team-who/areas?q=rollback").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("Rollback policy"));
}
