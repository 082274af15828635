//! Crash durability (issue #7): an acknowledged write survives `kill -9`.
//!
//! The test runs the real `settled` binary as a child process on one SQLite
//! file and repeats a cycle: many concurrent API clients post comments and
//! stances, the server is killed with SIGKILL after a random delay, and a
//! fresh server is started on the same file. After every restart it checks
//! that
//!
//! - every write that was answered 2xx (in this or any earlier cycle) is
//!   there: over the API (`GET /api/v1/decisions/{KEY-N}` lists every
//!   acknowledged comment) and directly in SQLite (the entry at the returned
//!   `log_index` is that comment or stance, with its text);
//! - the team's log indices are gap-free (`COUNT(*) == MAX(idx) + 1`, equal
//!   to the size in `log_heads`) and no comment was stored twice;
//! - `settled verify` exits 0.
//!
//! Each cycle must acknowledge at least one write, so the test cannot pass
//! vacuously. Writes that were in flight when the server died may or may not
//! be there; both are fine.
//!
//! SIGKILL leaves whatever the process already wrote in the operating
//! system's page cache, so this catches a write answered before it reached
//! SQLite (a reply sent too early, a queue lost with the process), not a
//! missing fsync; that is `synchronous=FULL`'s job and needs a power cut to
//! test.
//!
//! ```sh
//! cargo test --locked --test crash                               # 5 cycles
//! SETTLED_CRASH_CYCLES=20 cargo test --locked --test crash -- --nocapture
//! SETTLED_CRASH_SEED=1234 cargo test --locked --test crash       # same kill delays and write mix
//! ```
//!
//! A one-line summary per cycle goes to stderr (shown with `--nocapture` or
//! when the test fails).
//!
//! The same file checks the other end of a process's life: SIGTERM with a
//! live-update stream open ends the stream and the process within seconds.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// Concurrent API clients per cycle.
const CLIENTS: usize = 16;
/// The team every write goes to.
const KEY: &str = "CRASH";
/// The proposal every write goes to.
const PROPOSAL: &str = "CRASH-1";
const EMAIL: &str = "crash@example.com";

/// The `settled` binary built for this test run.
fn settled() -> Command {
    Command::new(env!("CARGO_BIN_EXE_settled"))
}

/// A running `settled serve`, killed with SIGKILL when dropped (also when
/// the test panics).
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server on a free port and waits until `/healthz` answers.
    async fn start(db_url: &str, log: &Path, client: &Client) -> Server {
        let stderr = std::fs::File::create(log).expect("server log file can be created");
        let mut child = settled()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("SETTLED_DATABASE_URL", db_url)
            .env(
                "SETTLED_MAIL_DIR",
                log.parent().unwrap_or(Path::new(".")).join("mail"),
            )
            .env_remove("SETTLED_BIND")
            .env_remove("SETTLED_BASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("settled serve starts");
        // The server prints its address once it listens (port 0 lets the OS
        // pick a free port with no race). Keep draining stdout afterwards so
        // the child never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.strip_prefix("Settled is running at ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(address.trim().to_string());
                }
            }
        });
        // From here on the guard kills the child if anything below panics.
        let mut server = Server {
            child,
            base: String::new(),
        };
        server.base = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .expect("join")
            .unwrap_or_else(|_| {
                panic!(
                    "settled serve did not report its address within 30 s; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ok {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "/healthz did not answer 200 within 30 s; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap the process.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What an acknowledged write was.
#[derive(Debug, Clone)]
enum Sent {
    Comment { body: String },
    Stance { position: String, reason: String },
}

/// A write the server answered 2xx.
#[derive(Debug, Clone)]
struct Ack {
    write: Sent,
    /// From the response; `None` if the body could not be read after a 2xx
    /// status (still acknowledged).
    log_index: Option<i64>,
}

/// splitmix64: a tiny seeded PRNG, enough for kill delays and write mixes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}"))
    })
}

/// Runs a CLI command with `SETTLED_DATABASE_URL`, feeding `stdin`; returns stdout.
fn cli(db_url: &str, args: &[&str], stdin: &str) -> String {
    let mut child = settled()
        .args(args)
        .env("SETTLED_DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("settled runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    let output = child.wait_with_output().expect("settled finishes");
    assert!(
        output.status.success(),
        "settled {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

async fn post(client: &Client, base: &str, token: &str, path: &str, body: Value) -> Value {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {body}");
    body
}

/// What the clients of one cycle share.
#[derive(Clone)]
struct Load {
    client: Client,
    base: String,
    token: String,
    cycle: usize,
    /// Set right after the kill: clients stop at their next failure.
    stop: Arc<AtomicBool>,
    /// Writes acknowledged so far in this cycle.
    acked: Arc<AtomicUsize>,
    /// Non-2xx answers (none are expected).
    refused: Arc<Mutex<Vec<String>>>,
}

/// One client's write loop; ends once the server is gone and `stop` is set.
async fn load(shared: Load, task: usize, seed: u64) -> Vec<Ack> {
    const POSITIONS: [&str; 4] = ["agree", "disagree", "abstain", "object"];
    let Load {
        client,
        base,
        token,
        cycle,
        stop,
        acked,
        refused,
    } = shared;
    let mut rng = Rng(seed);
    let mut acks = Vec::new();
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let text = format!("crash-{cycle}-{task}-{n}");
        n += 1;
        let (path, write, body) = if rng.next().is_multiple_of(4) {
            let position = POSITIONS[(rng.next() % 4) as usize].to_string();
            let body = json!({"position": position, "reason": text});
            let write = Sent::Stance {
                position,
                reason: text,
            };
            ("stances", write, body)
        } else {
            let body = json!({"body": text});
            ("comments", Sent::Comment { body: text }, body)
        };
        let sent = client
            .post(format!("{base}/api/v1/decisions/{PROPOSAL}/{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            // The server was killed (or the request timed out): not acknowledged.
            Err(_) => {
                if !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
        };
        let status = response.status();
        if status.is_success() {
            // The status line means the write committed, even if the body
            // is cut off by the kill.
            let log_index = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["log_index"].as_i64());
            acks.push(Ack { write, log_index });
            acked.fetch_add(1, Ordering::SeqCst);
        } else {
            let text = response.text().await.unwrap_or_default();
            refused
                .lock()
                .expect("lock")
                .push(format!("{status} {text}"));
        }
    }
    acks
}

/// What a check found.
struct Checked {
    log_size: i64,
}

/// Every acknowledged write is present, over the API and in SQLite; the log is
/// gap-free; `settled verify` passes.
async fn check(
    db_url: &str,
    server: &Server,
    client: &Client,
    token: &str,
    acks: &[Ack],
) -> Checked {
    // Over the API: every acknowledged comment is on the decision.
    let response = client
        .get(format!("{}/api/v1/decisions/{PROPOSAL}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET decision");
    assert_eq!(response.status(), StatusCode::OK);
    let decision: Value = response.json().await.expect("decision JSON");
    let listed: HashSet<&str> = decision["comments"]
        .as_array()
        .expect("comments array")
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    let missing: Vec<_> = acks
        .iter()
        .filter(|a| matches!(&a.write, Sent::Comment { body } if !listed.contains(body.as_str())))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged comment(s) missing from GET {PROPOSAL} after the crash, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    // In SQLite, beside the running server (WAL: readers do not block).
    let options = SqliteConnectOptions::from_str(db_url)
        .expect("database URL")
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10));
    let mut db = SqliteConnection::connect_with(&options)
        .await
        .expect("open the database");
    let (team_id, proposal_id): (i64, i64) = sqlx::query_as(
        "SELECT t.id, p.id FROM teams t JOIN proposals p ON p.team_id = t.id
         WHERE t.key = $1 AND p.number = 1",
    )
    .bind(KEY)
    .fetch_one(&mut db)
    .await
    .expect("team and proposal");
    let (count, min, max): (i64, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MIN(idx), MAX(idx) FROM log_entries WHERE team_id = $1")
            .bind(team_id)
            .fetch_one(&mut db)
            .await
            .expect("log bounds");
    let (head,): (i64,) = sqlx::query_as("SELECT size FROM log_heads WHERE team_id = $1")
        .bind(team_id)
        .fetch_one(&mut db)
        .await
        .expect("log head");
    assert_eq!(min, Some(0), "the log starts at index 0");
    assert_eq!(
        Some(count - 1),
        max,
        "log indices have a gap: {count} entries, highest index {max:?}"
    );
    assert_eq!(head, count, "log_heads.size disagrees with the entries");

    let kinds: HashMap<i64, String> =
        sqlx::query_as::<_, (i64, String)>("SELECT idx, kind FROM log_entries WHERE team_id = $1")
            .bind(team_id)
            .fetch_all(&mut db)
            .await
            .expect("log kinds")
            .into_iter()
            .collect();
    let comments: HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(
        "SELECT log_idx, body FROM comments WHERE proposal_id = $1",
    )
    .bind(proposal_id)
    .fetch_all(&mut db)
    .await
    .expect("comments")
    .into_iter()
    .collect();
    let stances: HashMap<i64, (String, Option<String>)> =
        sqlx::query_as::<_, (i64, String, Option<String>)>(
            "SELECT log_idx, position, reason FROM stances WHERE proposal_id = $1",
        )
        .bind(proposal_id)
        .fetch_all(&mut db)
        .await
        .expect("stances")
        .into_iter()
        .map(|(i, p, r)| (i, (p, r)))
        .collect();
    let twice: Vec<(String, i64)> = sqlx::query_as(
        "SELECT body, COUNT(*) FROM comments WHERE proposal_id = $1 GROUP BY body HAVING COUNT(*) > 1",
    )
    .bind(proposal_id)
    .fetch_all(&mut db)
    .await
    .expect("duplicates");
    db.close().await.expect("close the database");
    assert!(twice.is_empty(), "comments stored twice: {twice:?}");

    let bodies: HashSet<&str> = comments.values().map(String::as_str).collect();
    let mut indices = HashSet::new();
    for ack in acks {
        if let Some(i) = ack.log_index {
            assert!(
                indices.insert(i),
                "two acknowledged writes got log index {i}"
            );
            assert!(
                i < count,
                "acknowledged {ack:?} beyond the log size {count}"
            );
        }
        match (&ack.write, ack.log_index) {
            (Sent::Comment { body }, Some(i)) => {
                assert_eq!(
                    kinds.get(&i).map(String::as_str),
                    Some("comment_added"),
                    "{ack:?}"
                );
                assert_eq!(comments.get(&i), Some(body), "acknowledged {ack:?} lost");
            }
            (Sent::Comment { body }, None) => {
                assert!(bodies.contains(body.as_str()), "acknowledged {ack:?} lost");
            }
            (Sent::Stance { position, reason }, Some(i)) => {
                assert_eq!(
                    kinds.get(&i).map(String::as_str),
                    Some("stance_taken"),
                    "{ack:?}"
                );
                assert_eq!(
                    stances.get(&i),
                    Some(&(position.clone(), Some(reason.clone()))),
                    "acknowledged {ack:?} lost"
                );
            }
            (Sent::Stance { position, reason }, None) => {
                assert!(
                    stances
                        .values()
                        .any(|(p, r)| p == position && r.as_deref() == Some(reason.as_str())),
                    "acknowledged {ack:?} lost"
                );
            }
        }
    }

    // `settled verify`: hashes, roots, rules, and the read tables rebuilt
    // from the log. No write is in flight while it runs.
    let url = db_url.to_string();
    let output = tokio::task::spawn_blocking(move || {
        settled()
            .arg("verify")
            .env("SETTLED_DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("settled verify runs")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "settled verify failed after the crash:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Checked { log_size: count }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let cycles = env_number("SETTLED_CRASH_CYCLES").unwrap_or(5) as usize;
    assert!(cycles > 0, "SETTLED_CRASH_CYCLES must be at least 1");
    let seed =
        env_number("SETTLED_CRASH_SEED").unwrap_or_else(|| getrandom::u64().expect("random seed"));
    eprintln!("crash test: {cycles} cycles, SETTLED_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");

    // An account and a token, as an operator would create them.
    cli(
        &db_url,
        &["user", "add", "--email", EMAIL, "--name", "Crash"],
        "a long password\n",
    );
    let token = cli(
        &db_url,
        &["token", "create", "--email", EMAIL, "--name", "crash"],
        "",
    )
    .trim()
    .to_string();
    assert!(token.starts_with("stl_"), "token: {token:?}");

    let started = Instant::now();
    let mut starts = 0usize;
    let mut log_path = || {
        starts += 1;
        dir.path().join(format!("server-{starts}.log"))
    };
    let mut server = Server::start(&db_url, &log_path(), &client).await;
    post(
        &client,
        &server.base,
        &token,
        "/api/v1/teams",
        json!({"name": "Crash test", "key": KEY}),
    )
    .await;
    let closes_at = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    let proposal = post(
        &client,
        &server.base,
        &token,
        &format!("/api/v1/teams/{KEY}/proposals"),
        json!({"title": "Survive kill -9", "body": "Acknowledged means on disk.", "decider": EMAIL, "closes_at": closes_at}),
    )
    .await;
    assert_eq!(proposal["id"], PROPOSAL);

    let mut all_acks: Vec<Ack> = Vec::new();
    let mut summaries = Vec::new();
    for cycle in 1..=cycles {
        let cycle_started = Instant::now();
        let shared = Load {
            client: client.clone(),
            base: server.base.clone(),
            token: token.clone(),
            cycle,
            stop: Arc::new(AtomicBool::new(false)),
            acked: Arc::new(AtomicUsize::new(0)),
            refused: Arc::new(Mutex::new(Vec::new())),
        };
        let Load {
            stop,
            acked,
            refused,
            ..
        } = shared.clone();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|task| tokio::spawn(load(shared.clone(), task, rng.next())))
            .collect();
        // Kill only once something was acknowledged, so no cycle is vacuous
        // however slow the machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: no write acknowledged within 30 s; refused: {:?}",
                refused.lock().expect("lock").first()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let delay = Duration::from_millis(rng.range(100, 1500));
        tokio::time::sleep(delay).await;
        server.kill();
        stop.store(true, Ordering::SeqCst);
        let mut acks = Vec::new();
        for task in tasks {
            acks.extend(task.await.expect("client task"));
        }
        let refused = std::mem::take(&mut *refused.lock().expect("lock"));
        assert!(
            refused.is_empty(),
            "cycle {cycle}: {} write(s) refused before the kill, e.g. {}",
            refused.len(),
            refused[0]
        );
        assert!(!acks.is_empty(), "cycle {cycle}: no write acknowledged");
        let cycle_acks = acks.len();
        all_acks.extend(acks);

        // Restart on the same file and check everything acknowledged so far.
        server = Server::start(&db_url, &log_path(), &client).await;
        let checked = check(&db_url, &server, &client, &token, &all_acks).await;
        let summary = format!(
            "cycle {cycle}: killed {} ms after the first ack, {cycle_acks} writes acknowledged \
             ({} in total), log size {}, {:.1} s",
            delay.as_millis(),
            all_acks.len(),
            checked.log_size,
            cycle_started.elapsed().as_secs_f64()
        );
        eprintln!("{summary}");
        summaries.push(summary);
    }
    server.kill();
    eprintln!(
        "crash test: {cycles} cycles in {:.1} s (seed {seed})",
        started.elapsed().as_secs_f64()
    );
    for summary in &summaries {
        eprintln!("  {summary}");
    }
}

/// SIGTERM while a browser holds a live-update stream open (issue #8): the
/// stream is ended by the server and the process exits cleanly and soon,
/// instead of waiting for the browser to hang up.
#[tokio::test]
async fn sigterm_ends_open_live_streams_and_stops_promptly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("stop.db").display());
    cli(
        &db_url,
        &["user", "add", "--email", EMAIL, "--name", "Stop"],
        "a long password\n",
    );
    let token = cli(
        &db_url,
        &["token", "create", "--email", EMAIL, "--name", "stop"],
        "",
    )
    .trim()
    .to_string();
    let browser = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let log = dir.path().join("server.log");
    let mut server = Server::start(&db_url, &log, &browser).await;
    post(
        &browser,
        &server.base,
        &token,
        "/api/v1/teams",
        json!({"name": "Stop test", "key": "STOP"}),
    )
    .await;
    // Sign in through the form, as a browser does.
    let page = browser
        .get(format!("{}/sign-in", server.base))
        .send()
        .await
        .expect("sign-in page")
        .text()
        .await
        .expect("body");
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).expect("CSRF field") + marker.len();
    let csrf: String = page[start..].chars().take_while(|c| *c != '"').collect();
    let signed_in = browser
        .post(format!("{}/sign-in", server.base))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", EMAIL),
            ("password", "a long password"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let mut stream = browser
        .get(format!("{}/t/stop-test/live", server.base))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);

    let stopped = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    // The stream ends (the server closes it), rather than hanging.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the live stream was still open 10 s after SIGTERM"
    );
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "the server was still running 10 s after SIGTERM; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit}");
}
