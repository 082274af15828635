//! Live-update benchmark (issue #8), run by `bash bench/live.sh`.
//!
//! Against a running server (`BENCH_BASE`, process `BENCH_PID`): N viewers
//! (`BENCH_VIEWERS`, default 1,000) of one proposal hold its team's event
//! stream open, each on its own connection with a real session; then, round
//! after round, another member posts a stance through the API and the time
//! from sending that POST until each viewer has the entry's event is
//! measured. Reports the time until the last viewer has it (p50/p99/max over
//! the rounds), every delivery's latency, and the server's memory per open
//! stream (RSS from /proc before and after the viewers connect). Fails if
//! any viewer misses an event.
//!
//! The poster's and viewer's API tokens (`BENCH_POSTER_TOKEN`,
//! `BENCH_VIEWER_TOKEN`) and the viewer's password come from the script.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use reqwest::Client;
use reqwest::header::{COOKIE, HeaderValue, SET_COOKIE};
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

fn env_or(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

fn rss_kb(pid: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for process {pid}"))
}

struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "POST {path}: {status} {answer}");
        Ok(answer)
    }
}

/// Signs in through the form like a browser; returns the session cookie.
async fn sign_in(base: &str, email: &str, password: &str) -> Result<String> {
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = client.get(format!("{base}/sign-in")).send().await?;
    let cookie = session_cookie(page.headers()).context("no session cookie on /sign-in")?;
    let html = page.text().await?;
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).context("no CSRF field")? + marker.len();
    let csrf: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let r = client
        .post(format!("{base}/sign-in"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await?;
    ensure!(r.status().is_redirection(), "sign-in: {}", r.status());
    Ok(session_cookie(r.headers()).unwrap_or(cookie))
}

fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("settled_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// One viewer: holds the stream open and reports each event id with the
/// moment it was complete, or, with `refetch` (what `static/live.js` does),
/// the moment the page fetched again after it had arrived.
async fn viewer(
    client: Client,
    url: String,
    cookie: HeaderValue,
    refetch: Option<(Client, String)>,
    connected: mpsc::Sender<()>,
    heard: mpsc::UnboundedSender<(i64, Instant)>,
) -> Result<()> {
    let mut response = client
        .get(&url)
        .header(COOKIE, cookie.clone())
        .header("accept", "text/event-stream")
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "stream: {}",
        response.status()
    );
    connected.send(()).await.ok();
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        let at = Instant::now();
        buffer.push_str(std::str::from_utf8(&chunk)?);
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(id) = block
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .and_then(|v| v.trim().parse::<i64>().ok())
            {
                let at = match &refetch {
                    Some((pages, page)) => {
                        let r = pages
                            .get(page)
                            .header(COOKIE, cookie.clone())
                            .send()
                            .await?;
                        ensure!(r.status().is_success(), "page: {}", r.status());
                        r.bytes().await?;
                        Instant::now()
                    }
                    None => at,
                };
                let _ = heard.send((id, at));
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let base = env("BENCH_BASE")?;
    let pid = env("BENCH_PID")?;
    let viewers = env_or("BENCH_VIEWERS", 1000)?;
    let rounds = env_or("BENCH_ROUNDS", 30)?;
    let refetch = std::env::var("BENCH_REFETCH").is_ok_and(|v| v == "1");
    let client = Client::builder().pool_max_idle_per_host(0).build()?;
    let poster = Api {
        client: client.clone(),
        base: base.clone(),
        token: env("BENCH_POSTER_TOKEN")?,
    };
    let watcher = Api {
        client: client.clone(),
        base: base.clone(),
        token: env("BENCH_VIEWER_TOKEN")?,
    };

    // A team of two and one open proposal.
    let team = poster
        .post(
            "/api/v1/teams",
            json!({"name": "Live bench", "key": "LIVE"}),
        )
        .await?;
    let slug = team["slug"].as_str().context("team slug")?.to_string();
    let invitation = poster
        .post("/api/v1/teams/LIVE/invitations", json!({"role": "member"}))
        .await?;
    let token = invitation["token"].as_str().context("invitation token")?;
    watcher
        .post(&format!("/api/v1/invitations/{token}/accept"), json!({}))
        .await?;
    let closes = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let proposal = poster
        .post(
            "/api/v1/teams/LIVE/proposals",
            json!({"title": "Watched by many", "body": "Live.", "decider": env("BENCH_POSTER_EMAIL")?, "closes_at": closes}),
        )
        .await?;
    let id = proposal["id"].as_str().context("proposal id")?.to_string();

    let cookie = sign_in(
        &base,
        &env("BENCH_VIEWER_EMAIL")?,
        &env("BENCH_VIEWER_PASSWORD")?,
    )
    .await?;
    let cookie = HeaderValue::from_str(&cookie)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kb(&pid)?;

    // The viewers connect.
    let url = format!("{base}/t/{slug}/live");
    let (connected_tx, mut connected) = mpsc::channel(viewers);
    let (heard_tx, mut heard) = mpsc::unbounded_channel();
    let streams = Client::builder().pool_max_idle_per_host(0).build()?;
    let pages = Client::builder().pool_max_idle_per_host(64).build()?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        tasks.push(tokio::spawn(viewer(
            streams.clone(),
            url.clone(),
            cookie.clone(),
            refetch.then(|| (pages.clone(), format!("{base}/d/{id}"))),
            connected_tx.clone(),
            heard_tx.clone(),
        )));
    }
    drop(connected_tx);
    for n in 0..viewers {
        tokio::time::timeout(Duration::from_secs(30), connected.recv())
            .await
            .map_err(|_| anyhow!("only {n} of {viewers} viewers connected within 30 s"))?
            .ok_or_else(|| anyhow!("a viewer failed to connect"))?;
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss_kb(&pid)?;

    // Rounds: a stance, then every viewer must hear of it.
    let mut last_viewer = Vec::with_capacity(rounds);
    let mut deliveries = Vec::with_capacity(rounds * viewers);
    let mut early: HashMap<i64, Vec<Instant>> = HashMap::new();
    for round in 0..rounds {
        let position = ["agree", "disagree", "abstain"][round % 3];
        let sent = Instant::now();
        let answer = poster
            .post(
                &format!("/api/v1/decisions/{id}/stances"),
                json!({"position": position, "reason": format!("round {round}")}),
            )
            .await?;
        let index = answer["log_index"].as_i64().context("log index")?;
        let mut times = early.remove(&index).unwrap_or_default();
        let deadline = sent + Duration::from_secs(10);
        while times.len() < viewers {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some((heard_id, at))) = tokio::time::timeout(left, heard.recv()).await else {
                bail!(
                    "round {round}: only {} of {viewers} viewers heard entry {index} within 10 s",
                    times.len()
                );
            };
            if heard_id == index {
                times.push(at);
            } else {
                early.entry(heard_id).or_default().push(at);
            }
        }
        let mut latencies: Vec<Duration> = times.iter().map(|t| *t - sent).collect();
        latencies.sort();
        last_viewer.push(*latencies.last().unwrap_or(&Duration::ZERO));
        deliveries.extend(latencies);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_after = rss_kb(&pid)?;
    for task in &tasks {
        task.abort();
    }

    last_viewer.sort();
    deliveries.sort();
    let per_connection = (rss_connected.saturating_sub(rss_before)) as f64 / viewers as f64;
    println!("| measure | result |");
    println!("|---|---|");
    println!("| viewers (one connection and stream each) | {viewers} |");
    println!("| all viewers connected in | {} ms |", ms(connect_time));
    println!("| rounds (one stance POST each) | {rounds} |");
    let what = if refetch {
        "the page fetched again"
    } else {
        "the event"
    };
    println!(
        "| until the last viewer has {what}: p50 / p99 / max | {} / {} / {} ms |",
        ms(percentile(&last_viewer, 50.0)),
        ms(percentile(&last_viewer, 99.0)),
        ms(percentile(&last_viewer, 100.0))
    );
    println!(
        "| every delivery ({}): p50 / p99 | {} / {} ms |",
        deliveries.len(),
        ms(percentile(&deliveries, 50.0)),
        ms(percentile(&deliveries, 99.0))
    );
    println!(
        "| server RSS: before / with the viewers / after the rounds | {} / {} / {} MB |",
        rss_before / 1024,
        rss_connected / 1024,
        rss_after / 1024
    );
    println!("| server memory per open stream | {per_connection:.1} KB |");
    Ok(())
}
