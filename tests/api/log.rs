//! The append-only log: database guards, verification and rebuild.

use reqwest::StatusCode;
use serde_json::json;
use settled::ledger::merkle;
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, spawn};

async fn busy_team(app: &TestApp) -> (Api, Api) {
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("LOG", &ana, &[&bob], &[]).await;
    let a = ana
        .propose("LOG", "First", &ana.email, &in_seconds(3600))
        .await;
    let b = ana
        .propose("LOG", "Second", &bob.email, &in_seconds(3600))
        .await;
    bob.stance(&a, "object", Some("Not yet")).await;
    bob.stance(&a, "agree", Some("Fine now")).await;
    ana.stance(&a, "agree", None).await;
    bob.post(
        &format!("/api/v1/decisions/{a}/comments"),
        json!({"body": "Ship it"}),
    )
    .await;
    ana.post(
        &format!("/api/v1/decisions/{a}/decision"),
        json!({"outcome": "accepted", "statement": "Done.", "rationale": "All agree."}),
    )
    .await;
    ana.stance(&b, "object", Some("Costly")).await;
    bob.stance(&b, "agree", None).await;
    let (status, body) = bob
        .post(&format!("/api/v1/decisions/{b}/decision"), json!({"outcome": "rejected", "statement": "Not now.", "responses": {"ana@example.com": "Agreed, too costly."}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (ana, bob)
}

#[tokio::test]
async fn update_and_delete_on_the_log_are_refused_by_the_database() {
    let app = spawn().await;
    busy_team(&app).await;
    let update = on!(app.db.writer(), |c| sqlx::query(
        "UPDATE log_entries SET payload = '{}' WHERE idx = 1"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()));
    let delete = on!(app.db.writer(), |c| sqlx::query(
        "DELETE FROM log_entries WHERE idx = 1"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()));
    for result in [update, delete] {
        let err = result.expect_err("refused").to_string();
        assert!(err.contains("append-only"), "{err}");
    }
}

#[tokio::test]
async fn the_api_log_hashes_to_its_root_and_verify_passes() {
    let app = spawn().await;
    let (ana, _) = busy_team(&app).await;
    let (status, log) = ana.get("/api/v1/teams/LOG/log").await;
    assert_eq!(status, StatusCode::OK);
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(log["size"].as_i64(), Some(entries.len() as i64));
    let mut leaves = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"].as_u64(), Some(i as u64), "gap-free from 0");
        let payload = e["payload"].as_str().expect("payload");
        let leaf = merkle::leaf_hash(payload.as_bytes());
        assert_eq!(e["leaf_hash"].as_str(), Some(hex::encode(leaf).as_str()));
        let parsed: serde_json::Value = serde_json::from_str(payload).expect("json");
        assert_eq!(
            serde_json::to_string(&parsed).expect("json"),
            payload,
            "canonical: sorted keys, no whitespace"
        );
        assert!(
            !payload.contains("Not yet") && !payload.contains("Ship it"),
            "free text only as commitments"
        );
        leaves.push(leaf);
    }
    assert_eq!(
        log["root"].as_str(),
        Some(hex::encode(merkle::root_from_leaves(&leaves)).as_str())
    );
    let (_, page) = ana.get("/api/v1/teams/LOG/log?from=3&limit=2").await;
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["entries"][0]["index"], 3);

    let (ok, output) = app.verify();
    assert!(ok, "{output}");
    assert!(output.contains("1 team log(s)"), "{output}");
}

#[tokio::test]
async fn after_tampering_with_a_log_row_verify_names_that_entry() {
    let app = spawn().await;
    busy_team(&app).await;
    assert!(app.verify().0);
    on!(
        app.db.writer(),
        |c| sqlx::raw_sql("DROP TRIGGER log_entries_no_update")
            .execute(c)
            .await
            .map(|_| ()),
        sqlx::raw_sql("DROP TRIGGER log_entries_no_update ON log_entries")
            .execute(c)
            .await
            .map(|_| ())
    )
    .expect("drop trigger");
    on!(app.db.writer(), |c| sqlx::query("UPDATE log_entries SET payload = replace(payload, '\"position\":\"object\"', '\"position\":\"agree\"') WHERE idx = 4")
        .execute(c)
        .await.map(|r| r.rows_affected()))
        .expect("tamper");
    let (ok, output) = app.verify();
    assert!(!ok);
    assert!(
        output.contains("team LOG entry 4: leaf hash does not match its payload"),
        "{output}"
    );
}

#[tokio::test]
async fn tampering_with_stored_text_or_read_tables_is_caught() {
    let app = spawn().await;
    busy_team(&app).await;
    on!(app.db.writer(), |c| sqlx::query("UPDATE log_contents SET text = 'Rewritten' WHERE field = 'statement' AND idx = (SELECT MIN(idx) FROM log_entries WHERE kind = 'decision_recorded')")
        .execute(c)
        .await.map(|r| r.rows_affected()))
        .expect("tamper");
    let (ok, output) = app.verify();
    assert!(!ok);
    assert!(
        output.contains("stored text of statement does not match its commitment"),
        "{output}"
    );
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE log_contents SET text = 'Done.' WHERE field = 'statement' AND text = 'Rewritten'",
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("restore");
    assert!(app.verify().0);

    let idx: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT log_idx FROM decisions WHERE statement = 'Done.'"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE decisions SET statement = 'We never agreed to this.' WHERE statement = 'Done.'",
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .expect("tamper table");
    let (ok, output) = app.verify();
    assert!(!ok);
    assert!(
        output.contains(&format!(
            "team LOG entry {idx}: table decisions differs from the log"
        )),
        "{output}"
    );
}

#[tokio::test]
async fn rebuilding_the_read_tables_from_the_log_matches_the_live_tables() {
    let app = spawn().await;
    busy_team(&app).await;
    // A second team interleaved with the first, and membership changes.
    let cem = app.api_user("cem@example.com", "Cem").await;
    app.team("TWO", &cem, &[], &[]).await;
    let id = cem
        .propose("TWO", "Other team", &cem.email, &in_seconds(3600))
        .await;
    cem.post(
        &format!("/api/v1/decisions/{id}/comments"),
        json!({"body": "Hello"}),
    )
    .await;
    let report = settled::ledger::verify::verify(&app.db)
        .await
        .expect("verifies");
    assert_eq!(report.teams, 2);
    assert!(report.rows > 20, "{report:?}");
    assert!(report.commitments > 10, "{report:?}");
    // LOG's twelve, two of the server telling a decider everyone
    // responded, and TWO's three.
    assert_eq!(report.entries, 12 + 2 + 3, "{report:?}");
}

#[tokio::test]
async fn a_backup_taken_while_serving_verifies_and_serves() {
    let app = spawn().await;
    let (ana, _) = busy_team(&app).await;
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("backup.db");
    // Writes continue while the backup runs.
    let writer = {
        let id = ana
            .propose("LOG", "During backup", &ana.email, &in_seconds(3600))
            .await;
        let base = app.base.clone();
        let token = ana.token.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..20 {
                let r = client
                    .post(format!("{base}/api/v1/decisions/{id}/comments"))
                    .bearer_auth(&token)
                    .json(&json!({"body": format!("comment {i}")}))
                    .send()
                    .await
                    .expect("POST");
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
        .args([
            "--database",
            &app.db_url,
            "backup",
            "--to",
            copy.to_str().expect("path"),
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    writer.await.expect("writes finished");
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
        .args([
            "--database",
            &app.db_url,
            "backup",
            "--to",
            copy.to_str().expect("path"),
        ])
        .output()
        .expect("runs");
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );

    // Restore: SQLite serves from the copy itself; PostgreSQL restores the
    // dump into an empty database.
    let url = if crate::helpers::on_postgres() {
        let server = std::env::var("SETTLED_TEST_DATABASE_URL").expect("set");
        let url = crate::helpers::fresh_postgres(&server).await;
        let out = std::process::Command::new("pg_restore")
            .args(["--no-owner", "--exit-on-error", "--dbname", &url])
            .arg(&copy)
            .output()
            .expect("pg_restore runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        url
    } else {
        format!("sqlite://{}", copy.display())
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["--database", &url, "verify"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = settled::db::Db::connect(&url).await.expect("opens");
    let entries: i64 = on!(restored.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert!(
        entries >= 13,
        "the backup holds at least everything written before it started: {entries}"
    );
}

#[tokio::test]
async fn concurrent_writes_are_all_acknowledged_and_a_rejected_one_spoils_no_neighbour() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    let olga = app.api_user("olga@example.com", "Olga").await;
    app.team("LOAD", &ana, &[&bob], &[&olga]).await;
    let id = ana
        .propose("LOAD", "Under load", &ana.email, &in_seconds(3600))
        .await;
    let before: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)
    .expect("q");

    let mut tasks = Vec::new();
    for i in 0..150 {
        let (who, base, id) = match i % 3 {
            0 => (ana.token.clone(), app.base.clone(), id.clone()),
            1 => (bob.token.clone(), app.base.clone(), id.clone()),
            _ => (olga.token.clone(), app.base.clone(), id.clone()),
        };
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            // Olga is an observer: her stances are refused, her comments not.
            let (path, body) = if i % 2 == 0 {
                (
                    format!("{base}/api/v1/decisions/{id}/stances"),
                    json!({"position": "agree", "reason": format!("r{i}")}),
                )
            } else {
                (
                    format!("{base}/api/v1/decisions/{id}/comments"),
                    json!({"body": format!("c{i}")}),
                )
            };
            let r = client
                .post(path)
                .bearer_auth(who)
                .json(&body)
                .send()
                .await
                .expect("POST");
            (i, r.status())
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        let (i, status) = t.await.expect("task");
        if i % 3 == 2 && i % 2 == 0 {
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "observer stance {i}"
            );
        } else {
            assert_eq!(status, StatusCode::CREATED, "write {i}");
            accepted += 1;
        }
    }
    let after: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    // The server told the decider once, when the last voter (Bob) first
    // responded.
    let told: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_entries WHERE kind = 'decision_ready'"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(told, 1, "ready once");
    assert_eq!(
        after - before - told,
        accepted,
        "every acknowledged write, and nothing else, is in the log"
    );
    let indices: Vec<i64> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries ORDER BY idx"
    )
    .fetch_all(c)
    .await)
    .expect("q");
    assert!(
        indices.iter().enumerate().all(|(i, idx)| *idx == i as i64),
        "gap-free"
    );
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}

#[tokio::test]
async fn verify_passes_while_the_server_keeps_writing() {
    // `settled verify` reads the logs and the tables as of one moment, so
    // writes landing while it runs are neither half seen nor reported.
    let app = spawn().await;
    let (ana, _) = busy_team(&app).await;
    let id = ana
        .propose(
            "LOG",
            "Written during verify",
            &ana.email,
            &in_seconds(3600),
        )
        .await;
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (base, token, writing) = (app.base.clone(), ana.token.clone(), writing.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut written = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .post(format!("{base}/api/v1/decisions/{id}/comments"))
                    .bearer_auth(&token)
                    .json(&json!({"body": format!("comment {written}")}))
                    .send()
                    .await
                    .expect("POST");
                assert_eq!(r.status(), StatusCode::CREATED);
                written += 1;
            }
            written
        })
    };
    for _ in 0..4 {
        let url = app.db_url.clone();
        let (ok, output) = tokio::task::spawn_blocking(move || crate::helpers::verify_at(&url))
            .await
            .expect("verify ran");
        assert!(ok, "{output}");
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.expect("writer");
    assert!(written > 0, "the writes overlapped the checks");
}

/// Runs one statement against the app's database as an operator with
/// direct access would.
async fn operator(app: &TestApp, sql: &str) {
    let sql = sql.to_string();
    on!(app.db.writer(), |c| sqlx::raw_sql(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .execute(c)
    .await
    .map(|_| ()))
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Drops the trigger that refuses updates of log entries, on either backend.
async fn drop_update_guard(app: &TestApp) {
    let on_table = if crate::helpers::on_postgres() {
        " ON log_entries"
    } else {
        ""
    };
    operator(
        app,
        &format!("DROP TRIGGER log_entries_no_update{on_table}"),
    )
    .await;
}

/// The entry index of the comment "Ship it" in the busy team's log.
async fn comment_index(app: &TestApp) -> i64 {
    on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries WHERE kind = 'comment_added'"
    )
    .fetch_one(c)
    .await)
    .expect("the comment's entry")
}

#[tokio::test]
async fn a_text_deleted_behind_the_logs_back_fails_verify_naming_its_entry() {
    let app = spawn().await;
    busy_team(&app).await;
    let idx = comment_index(&app).await;
    // Text and salt set to NULL, as an erasure leaves them, and the comment
    // blanked as the re-projection after an erasure blanks it, but with no
    // content_erased entry saying who erased what.
    operator(
        &app,
        &format!("UPDATE log_contents SET text = NULL, salt = NULL WHERE idx = {idx}"),
    )
    .await;
    operator(
        &app,
        &format!("UPDATE comments SET body = '' WHERE log_idx = {idx}"),
    )
    .await;
    let (ok, output) = app.verify();
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "team LOG entry {idx}: the text of body is missing, and no content_erased entry erased it"
        )),
        "{output}"
    );
    // Deleting the row instead is the same silent erasure.
    operator(&app, &format!("DELETE FROM log_contents WHERE idx = {idx}")).await;
    let (ok, output) = app.verify();
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "team LOG entry {idx}: the text of body is missing"
        )),
        "{output}"
    );
}

#[tokio::test]
async fn an_erased_text_whose_text_or_salt_is_still_stored_fails_verify() {
    let app = spawn().await;
    let (ana, _) = busy_team(&app).await;
    let idx = comment_index(&app).await;
    let (salt, text): (Vec<u8>, String) = on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT salt, text FROM log_contents WHERE idx = $1 AND field = 'body'"
    )
    .bind(idx)
    .fetch_one(c)
    .await)
    .expect("the comment's text");
    let (status, body) = ana
        .post(
            "/api/v1/teams/LOG/erasures",
            json!({"index": idx, "field": "body"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (ok, output) = app.verify();
    assert!(ok, "an erasure through the app verifies: {output}");
    let erasure: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries WHERE kind = 'content_erased'"
    )
    .fetch_one(c)
    .await)
    .expect("the erasure's entry");

    // The text put back (the comment too, so the tables agree with the
    // stored text): the log says it is erased, the database still has it.
    let restore = |salt: Option<Vec<u8>>, text: Option<String>| {
        let db = app.db.clone();
        async move {
            on!(db.writer(), |c| sqlx::query(
                "UPDATE log_contents SET salt = $1, text = $2 WHERE idx = $3 AND field = 'body'"
            )
            .bind(&salt)
            .bind(&text)
            .bind(idx)
            .execute(c)
            .await
            .map(|_| ()))
            .expect("restore");
            on!(db.writer(), |c| sqlx::query(
                "UPDATE comments SET body = $1 WHERE log_idx = $2"
            )
            .bind(text.unwrap_or_default())
            .bind(idx)
            .execute(c)
            .await
            .map(|_| ()))
            .expect("restore the comment");
        }
    };
    restore(Some(salt.clone()), Some(text)).await;
    let (ok, output) = app.verify();
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "team LOG entry {erasure}: erases body of entry {idx}, but that text is still stored"
        )),
        "{output}"
    );
    // Only the salt kept: the text is gone but can be guessed and checked
    // against its commitment.
    restore(Some(salt), None).await;
    let (ok, output) = app.verify();
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "team LOG entry {idx}: the salt of body is still stored although its text is gone"
        )),
        "{output}"
    );
}

#[tokio::test]
async fn verify_names_an_append_only_trigger_that_was_dropped_or_disabled() {
    let app = spawn().await;
    busy_team(&app).await;
    assert!(app.verify().0);
    let pg = crate::helpers::on_postgres();
    let on_table = if pg { " ON log_entries" } else { "" };
    operator(
        &app,
        &format!("DROP TRIGGER log_entries_no_delete{on_table}"),
    )
    .await;
    let (ok, output) = app.verify();
    assert!(!ok, "{output}");
    assert!(
        output.contains("the append-only trigger log_entries_no_delete on log_entries is missing"),
        "{output}"
    );
    if pg {
        operator(
            &app,
            "CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries
             FOR EACH ROW EXECUTE FUNCTION log_entries_append_only()",
        )
        .await;
        assert!(app.verify().0, "restored");
        operator(
            &app,
            "ALTER TABLE log_entries DISABLE TRIGGER log_entries_no_truncate",
        )
        .await;
        let (ok, output) = app.verify();
        assert!(!ok, "{output}");
        assert!(output.contains("log_entries_no_truncate"), "{output}");
    } else {
        // Re-created with a body that lets every change through.
        operator(
            &app,
            "CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries BEGIN SELECT 1; END",
        )
        .await;
        let (ok, output) = app.verify();
        assert!(!ok, "{output}");
        assert!(output.contains("log_entries_no_delete"), "{output}");
    }
}

#[tokio::test]
async fn a_payload_rewritten_with_its_leaf_hash_is_named_against_the_seal_and_the_head() {
    let app = spawn().await;
    busy_team(&app).await;
    // Entry 4 is Bob's objection to the first proposal, which decision
    // LOG-1 sealed later. An operator turns it into agreement and gives it
    // the matching leaf hash, so the entry checks out on its own.
    let (idx, payload): (i64, String) = on!(app.db.reader(), |c| sqlx::query_as(
        "SELECT idx, payload FROM log_entries WHERE idx = 4"
    )
    .fetch_one(c)
    .await)
    .expect("entry 4");
    assert!(payload.contains("\"position\":\"object\""), "{payload}");
    let forged = payload.replace("\"position\":\"object\"", "\"position\":\"agree\"");
    drop_update_guard(&app).await;
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE log_entries SET payload = $1, leaf_hash = $2 WHERE idx = $3"
    )
    .bind(&forged)
    .bind(merkle::leaf_hash(forged.as_bytes()).to_vec())
    .bind(idx)
    .execute(c)
    .await
    .map(|_| ()))
    .expect("rewrite");
    let (ok, output) = app.verify();
    assert!(!ok, "{output}");
    assert!(
        output.contains("team LOG entry 4: the log was changed after it was sealed"),
        "{output}"
    );
    assert!(
        output.contains("disagrees with the seal of decision LOG-1")
            && output.contains("the stored head"),
        "{output}"
    );

    // The head rewritten too: the decisions' seals still tell.
    let leaves: Vec<Vec<u8>> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT leaf_hash FROM log_entries ORDER BY idx"
    )
    .fetch_all(c)
    .await)
    .expect("leaves");
    let mut frontier = merkle::Frontier::new();
    for leaf in &leaves {
        frontier.push(leaf.as_slice().try_into().expect("32 bytes"));
    }
    on!(app.db.writer(), |c| sqlx::query(
        "UPDATE log_heads SET root = $1, frontier = $2"
    )
    .bind(frontier.root().to_vec())
    .bind(frontier.to_bytes())
    .execute(c)
    .await
    .map(|_| ()))
    .expect("rewrite the head");
    let (ok, output) = app.verify();
    assert!(!ok, "{output}");
    assert!(
        output.contains("team LOG entry 4: the log was changed after it was sealed")
            && output.contains("disagrees with the seal of decision LOG-1"),
        "{output}"
    );
    assert!(!output.contains("stored head"), "{output}");
}
