//! Checkpoints, proofs, exports and offline verification (issue #6).

use reqwest::StatusCode;
use serde_json::json;
use settled::ledger::export::verify_file;
use settled::ledger::merkle::{self, Hash};
use settled::ledger::note::Verifier;
use settled::on;

use crate::helpers::{Api, TestApp, in_seconds, spawn};

async fn decided_team(app: &TestApp) -> (Api, Api, String) {
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("VER", &ana, &[&bob], &[]).await;
    let id = ana
        .propose("VER", "Sign the log", &bob.email, &in_seconds(3600))
        .await;
    ana.stance(&id, "object", Some("Keys get lost")).await;
    bob.stance(&id, "agree", None).await;
    bob.post(
        &format!("/api/v1/decisions/{id}/comments"),
        json!({"body": "Backups exist"}),
    )
    .await;
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{id}/decision"),
            json!({"outcome": "accepted", "statement": "We sign checkpoints.", "responses": {"ana@example.com": "The key is backed up with the database."}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (ana, bob, id)
}

async fn export_text(api: &Api) -> String {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/teams/VER/export", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    r.text().await.expect("body")
}

fn hash(hex_text: &serde_json::Value) -> Hash {
    let bytes = hex::decode(hex_text.as_str().expect("hex string")).expect("hex");
    Hash::try_from(bytes.as_slice()).expect("32 bytes")
}

#[tokio::test]
async fn checkpoints_are_signed_and_proofs_verify_against_them() {
    let app = spawn().await;
    let (ana, _, id) = decided_team(&app).await;
    let (_, cp) = ana.get("/api/v1/teams/VER/checkpoint").await;
    let verifier =
        Verifier::parse(cp["verifier"].as_str().expect("verifier")).expect("valid verifier");
    let text = verifier
        .open(cp["checkpoint"].as_str().expect("note"))
        .expect("signature verifies");
    let checkpoint = settled::ledger::note::Checkpoint::parse(&text).expect("checkpoint");
    assert_eq!(checkpoint.size, cp["size"].as_u64().expect("size"));
    assert_eq!(
        hex::encode(checkpoint.root),
        cp["root"].as_str().expect("root")
    );
    let (_, log) = ana.get("/api/v1/teams/VER/log").await;
    assert_eq!(log["root"], cp["root"]);

    let size = checkpoint.size;
    for index in 0..size {
        let (status, p) = ana
            .get(&format!(
                "/api/v1/teams/VER/proofs/inclusion?index={index}&size={size}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        let proof: Vec<Hash> = p["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(hash)
            .collect();
        merkle::verify_inclusion(
            index,
            size,
            &hash(&p["leaf_hash"]),
            &proof,
            &checkpoint.root,
        )
        .expect("inclusion verifies");
    }
    for old in 1..=size {
        let (status, p) = ana
            .get(&format!(
                "/api/v1/teams/VER/proofs/consistency?old={old}&new={size}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        let proof: Vec<Hash> = p["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(hash)
            .collect();
        merkle::verify_consistency(old, size, &proof, &hash(&p["old_root"]), &checkpoint.root)
            .expect("consistency verifies");
    }
    let (status, p) = ana
        .get(&format!("/api/v1/teams/VER/proofs/inclusion?index={size}"))
        .await;
    assert_eq!(
        (status, p["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("index"))
    );

    // The decision's bundle proves its sealing entry against the signed head.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/decisions/{id}/proof", app.base))
        .bearer_auth(&ana.token)
        .send()
        .await
        .expect("GET");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap_or("")
            .contains("attachment")
    );
    let bundle: serde_json::Value = r.json().await.expect("json");
    let payload = bundle["entry"]["payload"].as_str().expect("payload");
    assert!(payload.contains("\"kind\":\"decision_recorded\""));
    let leaf = merkle::leaf_hash(payload.as_bytes());
    let proof: Vec<Hash> = bundle["inclusion"]["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(hash)
        .collect();
    let index = bundle["entry"]["index"].as_u64().expect("index");
    let text = verifier
        .open(bundle["checkpoint"].as_str().expect("note"))
        .expect("signed");
    let signed = settled::ledger::note::Checkpoint::parse(&text).expect("checkpoint");
    merkle::verify_inclusion(index, signed.size, &leaf, &proof, &signed.root)
        .expect("the decision is in the signed log");
    let statement = bundle["entry"]["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .find(|c| c["field"] == "statement")
        .expect("statement opening");
    assert_eq!(statement["text"], "We sign checkpoints.");
}

#[tokio::test]
async fn an_export_verifies_offline_with_the_instance_key_only() {
    let app = spawn().await;
    let (ana, _, _) = decided_team(&app).await;
    let text = export_text(&ana).await;
    let (_, cp) = ana.get("/api/v1/teams/VER/checkpoint").await;
    let key = cp["verifier"].as_str().expect("verifier").to_string();
    let verifier = Verifier::parse(&key).expect("verifier");
    let report = verify_file(text.as_bytes(), Some(&verifier)).expect("verifies");
    assert_eq!(report.entries, cp["size"].as_u64().expect("size"));
    assert!(report.commitments >= 6, "{report:?}");

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ver-log.jsonl");
    std::fs::write(&file, &text).expect("write");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, output) = run(&["verify", "--file", "ver-log.jsonl", "--key", &key]);
    assert!(ok, "{output}");
    assert!(
        !dir.path().join("settled.db").exists(),
        "offline: no database was opened or created"
    );
    // Another instance's key does not verify this export.
    let other = settled::ledger::note::Signer::from_seed("127.0.0.1:1", [7; 32])
        .expect("key")
        .verifier()
        .encode();
    let (ok, output) = run(&["verify", "--file", "ver-log.jsonl", "--key", &other]);
    assert!(!ok);
    assert!(output.contains("checkpoint signature"), "{output}");
    // The CLI export is the same log.
    let exported = dir.path().join("cli.jsonl");
    let (ok, output) = run(&[
        "--database",
        &app.db_url,
        "export",
        "--team",
        "VER",
        "--to",
        exported.to_str().expect("path"),
    ]);
    assert!(ok, "{output}");
    let cli_text = std::fs::read_to_string(&exported).expect("read");
    assert_eq!(cli_text, text, "the same bytes as the download");
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn check(lines: &[String], verifier: &Verifier) -> Result<u64, settled::ledger::verify::Failure> {
    let joined = lines.join("\n") + "\n";
    verify_file(joined.as_bytes(), Some(verifier)).map(|r| r.entries)
}

#[tokio::test]
async fn every_single_change_to_an_export_is_caught_and_named() {
    let app = spawn().await;
    let (ana, bob, id) = decided_team(&app).await;
    let older = export_text(&ana).await;
    bob.post(
        &format!("/api/v1/decisions/{id}/comments"),
        json!({"body": "late"}),
    )
    .await;
    let id2 = ana
        .propose("VER", "Second", &ana.email, &in_seconds(3600))
        .await;
    ana.stance(&id2, "agree", None).await;
    let text = export_text(&ana).await;
    let (_, cp) = ana.get("/api/v1/teams/VER/checkpoint").await;
    let verifier = Verifier::parse(cp["verifier"].as_str().expect("verifier")).expect("verifier");
    let good = lines(&text);
    let entries = good.len() - 2; // header and checkpoint
    assert_eq!(
        check(&good, &verifier).expect("unchanged file verifies"),
        entries as u64
    );
    let line_of = |index: usize| index + 1;

    let expect = |mutated: Vec<String>, index: Option<i64>, words: &str| {
        let err = check(&mutated, &verifier).expect_err("mutation detected");
        assert_eq!(err.index, index, "{err}");
        assert!(err.problem.contains(words), "{err}");
    };
    // Edit one payload byte of entry 4.
    let mut m = good.clone();
    m[line_of(4)] = m[line_of(4)].replacen("\"number\":1", "\"number\":2", 1);
    assert_ne!(m, good);
    expect(m, Some(4), "leaf hash does not match");
    // Delete entry 5.
    let mut m = good.clone();
    m.remove(line_of(5));
    expect(m, Some(5), "missing");
    // Swap entries 6 and 7.
    let mut m = good.clone();
    m.swap(line_of(6), line_of(7));
    expect(m, Some(6), "missing");
    // Insert a copy of entry 3 after itself.
    let mut m = good.clone();
    m.insert(line_of(4), good[line_of(3)].clone());
    expect(m, Some(4), "missing");
    // Truncate the last two entries (keeping the checkpoint).
    let mut m = good.clone();
    m.drain(line_of(entries - 2)..line_of(entries));
    expect(m, Some(entries as i64 - 2), "missing");
    // Swap in an older, genuine checkpoint.
    let mut m = good.clone();
    let old_checkpoint = lines(&older).pop().expect("checkpoint line");
    let last = m.len() - 1;
    m[last] = old_checkpoint;
    let old_size = lines(&older).len() - 2;
    expect(m, Some(old_size as i64), "checkpoint covers only");
    // Change a stored text: its commitment no longer opens.
    let mut m = good.clone();
    let k = m
        .iter()
        .position(|l| l.contains("We sign checkpoints."))
        .expect("statement line");
    m[k] = m[k].replace("We sign checkpoints.", "We never agreed.");
    expect(m, Some(k as i64 - 1), "does not match its commitment");
    // Leave a stored text out, with no erasure entry to say why.
    let mut m = good.clone();
    let mut line: serde_json::Value = serde_json::from_str(&m[k]).expect("entry line");
    line["contents"] = json!([]);
    m[k] = line.to_string();
    expect(
        m,
        Some(k as i64 - 1),
        "is missing, and no content_erased entry erased it",
    );
    // Drop the checkpoint.
    let mut m = good.clone();
    m.pop();
    expect(m, None, "truncated");
}

#[tokio::test]
async fn a_kept_checkpoint_proves_the_newer_log_extends_it() {
    let app = spawn().await;
    let (ana, bob, id) = decided_team(&app).await;
    let (_, cp) = ana.get("/api/v1/teams/VER/checkpoint").await;
    let key = cp["verifier"].as_str().expect("verifier").to_string();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("old.txt"),
        cp["checkpoint"].as_str().expect("note"),
    )
    .expect("write");
    bob.post(
        &format!("/api/v1/decisions/{id}/comments"),
        json!({"body": "later"}),
    )
    .await;
    std::fs::write(dir.path().join("new.jsonl"), export_text(&ana).await).expect("write");
    let run = |old: &str, new: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(["verify", "--consistency", old, new, "--key", &key])
            .current_dir(dir.path())
            .output()
            .expect("runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, output) = run("old.txt", "new.jsonl");
    assert!(ok, "{output}");
    assert!(output.contains("is a prefix"), "{output}");

    // A history rewritten by the operator (same key, different entries) is caught.
    let signer_seed: Vec<u8> = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT seed FROM signing_key"
    )
    .fetch_one(c)
    .await)
    .expect("seed");
    let name: String = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT name FROM signing_key"
    )
    .fetch_one(c)
    .await)
    .expect("name");
    let signer =
        settled::ledger::note::Signer::from_seed(&name, signer_seed.try_into().expect("32 bytes"))
            .expect("signer");
    let (_, log) = ana.get("/api/v1/teams/VER/log").await;
    let mut leaves: Vec<Hash> = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| hash(&e["leaf_hash"]))
        .collect();
    leaves[2] = merkle::leaf_hash(b"rewritten");
    let forged =
        settled::ledger::checkpoint::sign(&signer, 1, 3, &merkle::root_from_leaves(&leaves[..3]))
            .expect("sign");
    std::fs::write(dir.path().join("forged.txt"), forged).expect("write");
    let (ok, output) = run("forged.txt", "new.jsonl");
    assert!(!ok);
    assert!(output.contains("history was rewritten"), "{output}");
}

#[tokio::test]
async fn erasure_keeps_every_proof_valid_and_the_text_is_gone() {
    let app = spawn().await;
    let (ana, bob, id) = decided_team(&app).await;
    let (_, before) = ana.get("/api/v1/teams/VER/checkpoint").await;
    let comment_index: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries WHERE kind = 'comment_added'"
    )
    .fetch_one(c)
    .await)
    .expect("comment entry");
    let decision_index: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_entries WHERE kind = 'decision_recorded'"
    )
    .fetch_one(c)
    .await)
    .expect("decision entry");

    // Only admins erase.
    let (status, _) = bob
        .post(
            "/api/v1/teams/VER/erasures",
            json!({"index": comment_index, "field": "body"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = ana
        .post(
            "/api/v1/teams/VER/erasures",
            json!({"index": comment_index, "field": "body"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let r = app
        .post_form(
            &ana.browser,
            "/t/team-ver/log",
            "/t/team-ver/erase",
            &[
                ("index", &decision_index.to_string()),
                ("field", "statement"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, body) = ana
        .post(
            "/api/v1/teams/VER/erasures",
            json!({"index": comment_index, "field": "body"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("field")),
        "already erased"
    );

    // The page says who erased what; the texts are gone everywhere.
    let (_, html) = app.get(&bob.browser, &format!("/d/{id}")).await;
    assert!(!html.contains("Backups exist") && !html.contains("We sign checkpoints."));
    assert!(
        html.contains("content erased on") && html.contains("by Ana"),
        "erasure notice shown"
    );
    let text = export_text(&ana).await;
    assert!(
        !text.contains("Backups exist") && !text.contains("We sign checkpoints."),
        "not recoverable from the export"
    );
    let (_, d) = bob.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(d["statement"], "");

    // Every earlier proof still holds, the log verifies, and it only grew.
    let (_, after) = ana.get("/api/v1/teams/VER/checkpoint").await;
    let verifier =
        Verifier::parse(after["verifier"].as_str().expect("verifier")).expect("verifier");
    let report =
        verify_file(text.as_bytes(), Some(&verifier)).expect("the export verifies after erasure");
    assert_eq!(report.entries, before["size"].as_u64().expect("size") + 2);
    let old = before["size"].as_u64().expect("size");
    let (_, p) = ana
        .get(&format!("/api/v1/teams/VER/proofs/consistency?old={old}"))
        .await;
    let proof: Vec<Hash> = p["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(hash)
        .collect();
    merkle::verify_consistency(
        old,
        report.entries,
        &proof,
        &hash(&before["root"]),
        &report.checkpoint.root,
    )
    .expect("the old checkpoint is a prefix");
    let (_, p) = ana
        .get(&format!(
            "/api/v1/teams/VER/proofs/inclusion?index={comment_index}&size={old}"
        ))
        .await;
    let proof: Vec<Hash> = p["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(hash)
        .collect();
    merkle::verify_inclusion(
        comment_index.unsigned_abs(),
        old,
        &hash(&p["leaf_hash"]),
        &proof,
        &hash(&before["root"]),
    )
    .expect("the erased entry is still included");
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
    let leftover: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM log_contents WHERE text LIKE '%Backups exist%'"
    )
    .fetch_one(c)
    .await)
    .expect("q");
    assert_eq!(leftover, 0);
}

#[tokio::test]
async fn an_erased_text_is_in_neither_the_database_file_nor_its_write_ahead_log() {
    // PostgreSQL keeps the old row version until VACUUM and its WAL until
    // recycled (see the README); this is about SQLite's two files.
    if crate::helpers::on_postgres() {
        return;
    }
    let app = spawn().await;
    let (ana, bob, _) = decided_team(&app).await;
    let id = ana
        .propose("VER", "Still open", &bob.email, &in_seconds(3600))
        .await;
    let secret = "Quokka Fennel my private phone number";
    let (status, body) = bob
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({"body": secret}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = app
        .db_url
        .strip_prefix("sqlite://")
        .expect("a SQLite URL")
        .to_string();
    let files = [path.clone(), format!("{path}-wal")];
    let holding = || {
        files
            .iter()
            .filter(|f| {
                std::fs::read(f)
                    .is_ok_and(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        !holding().is_empty(),
        "the text is stored before the erasure"
    );
    let index: i64 = on!(app.db.reader(), |c| sqlx::query_scalar(
        "SELECT idx FROM log_contents WHERE text = $1"
    )
    .bind(secret)
    .fetch_one(c)
    .await)
    .expect("the comment's entry");
    let (status, body) = ana
        .post(
            "/api/v1/teams/VER/erasures",
            json!({"index": index, "field": "body"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(holding(), Vec::<String>::new(), "the erased text is gone");
    let (ok, output) = app.verify();
    assert!(ok, "{output}");
}
