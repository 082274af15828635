//! Starting the app and driving it like a browser or an API client.

use settled::on;
use std::net::SocketAddr;

use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use settled::config::Config;
use settled::db::Db;
use settled::startup::Application;

/// A running app with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The database URL (for `settled verify`).
    pub db_url: String,
    /// The database, for direct checks.
    pub db: Db,
    /// The app's one writer (tests that drive the mail clocks themselves).
    pub writer: settled::ledger::writer::Writer,
    /// The app's ledger (tests that seed many members without a browser).
    pub ledger: settled::ledger::Ledger,
    /// Where this instance writes its mail (`.eml` files).
    pub mail_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts the app on a free port with a fresh database.
pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts another instance of the app on the database of `other` (its own
/// port, mail folder, writer and live hub; shared tables and sessions).
pub async fn spawn_beside(other: &TestApp) -> TestApp {
    start(Some(other.db_url.clone()), |_| {}).await
}

/// Starts the app on the database at `db_url` (already there or not).
pub async fn spawn_on(db_url: String) -> TestApp {
    start(Some(db_url), |_| {}).await
}

/// Tries to build a second server on `other`'s database; the error if it is
/// refused.
pub async fn build_beside(other: &TestApp) -> Option<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(
        other.db_url.clone(),
        "127.0.0.1:0".parse().expect("address"),
    );
    config.mail.folder = dir.path().join("mail");
    Application::build(config)
        .await
        .err()
        .map(|e| e.to_string())
}

/// Starts the app with a configuration changed by `adjust`.
pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    start(None, adjust).await
}

async fn start(db_url: Option<String>, adjust: impl FnOnce(&mut Config)) -> TestApp {
    // Logs show up in the output of a failing test only.
    if std::env::var_os("RUST_LOG").is_some() {
        settled::startup::init_tracing();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = match (db_url, std::env::var("SETTLED_TEST_DATABASE_URL")) {
        (Some(url), _) => url,
        (None, Ok(server)) if !server.is_empty() => fresh_postgres(&server).await,
        _ => format!("sqlite://{}", dir.path().join("test.db").display()),
    };
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let mut config = Config::new(db_url.clone(), bind);
    // Mail goes to the test's own folder unless a test points it elsewhere,
    // and the worker keeps a quick pace.
    config.mail.folder = dir.path().join("mail");
    config.mail.poll = std::time::Duration::from_millis(50);
    config.mail.retry_base = std::time::Duration::from_millis(200);
    config.mail.schedule_every = std::time::Duration::from_millis(200);
    // Every account of a test signs up from the one test address.
    config.sign_ups_per_hour = 10_000;
    adjust(&mut config);
    let mail_dir = config.mail.folder.clone();
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://{}", app.address());
    let db = app.state().db.clone();
    let writer = app.state().ledger.writer().clone();
    let ledger = app.state().ledger.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        db_url,
        db,
        writer,
        ledger,
        mail_dir,
        _dir: dir,
    }
}

/// Whether the suite runs on PostgreSQL (`SETTLED_TEST_DATABASE_URL` set).
pub fn on_postgres() -> bool {
    std::env::var("SETTLED_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty())
}

/// Creates a fresh, empty database on the PostgreSQL server that
/// `server` (a URL of any database there) points to, and returns its URL.
/// A server that cannot be reached fails the test: it is never skipped.
pub async fn fresh_postgres(server: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| {
            panic!("SETTLED_TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
        });
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    let name = format!("settled_test_{}", hex::encode(bytes));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = admin.close().await;
    let (base, _) = server
        .rsplit_once('/')
        .expect("SETTLED_TEST_DATABASE_URL names a database");
    format!("{base}/{name}")
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The value of the first `csrf_token` hidden field in `html`.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page has a CSRF field");
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_string()
}

/// Where a redirect points.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

impl TestApp {
    /// GETs `path` and returns status and body.
    pub async fn get(&self, client: &Client, path: &str) -> (StatusCode, String) {
        let response = client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    /// Fetches a CSRF token by loading `page`.
    pub async fn csrf(&self, client: &Client, page: &str) -> String {
        let (status, html) = self.get(client, page).await;
        assert!(status.is_success(), "GET {page}: {status}");
        csrf_in(&html)
    }

    /// POSTs a form with the session's CSRF token (taken from `page`).
    pub async fn post_form(
        &self,
        client: &Client,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf(client, page).await;
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .expect("POST")
    }

    /// Signs up a new account in `client`'s session.
    pub async fn sign_up(&self, client: &Client, email: &str, name: &str) {
        let response = self
            .post_form(
                client,
                "/sign-up",
                "/sign-up",
                &[
                    ("email", email),
                    ("name", name),
                    ("password", "a long password"),
                    ("time_zone", "Europe/Berlin"),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-up of {email} failed"
        );
    }

    /// The account id of `email` (as typed at sign-up).
    pub async fn user_id(&self, email: &str) -> i64 {
        on!(self.db.reader(), |c| sqlx::query_scalar(
            "SELECT id FROM users WHERE email = $1"
        )
        .bind(email)
        .fetch_one(c)
        .await)
        .expect("the account exists")
    }

    /// A new browser session signed up as `email`.
    pub async fn user(&self, email: &str, name: &str) -> Client {
        let client = browser();
        self.sign_up(&client, email, name).await;
        client
    }
}

/// An API caller holding a personal token.
pub struct Api {
    /// The app's base URL.
    pub base: String,
    /// The bearer token.
    pub token: String,
    /// The account's email.
    pub email: String,
    /// The same account in a browser session.
    pub browser: Client,
    client: Client,
}

impl TestApp {
    /// Signs up `email` and gives it a personal API token (as `settled token create` does).
    pub async fn api_user(&self, email: &str, name: &str) -> Api {
        let browser = self.user(email, name).await;
        let user = settled::db::users::by_email(&self.db, &email.to_lowercase())
            .await
            .expect("query")
            .expect("user exists");
        let token =
            settled::services::tokens::create_api_token(&self.writer, user.id, "tests".into())
                .await
                .expect("token stored");
        Api {
            base: self.base.clone(),
            token,
            email: email.to_string(),
            browser,
            client: Client::new(),
        }
    }

    /// Creates a team owned by `admin` and adds members and observers through invitations.
    pub async fn team(&self, key: &str, admin: &Api, members: &[&Api], observers: &[&Api]) {
        let (status, body) = admin
            .post(
                "/api/v1/teams",
                serde_json::json!({"name": format!("Team {key}"), "key": key}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for (who, role) in members
            .iter()
            .map(|m| (m, "member"))
            .chain(observers.iter().map(|o| (o, "observer")))
        {
            let (status, body) = admin
                .post(
                    &format!("/api/v1/teams/{key}/invitations"),
                    serde_json::json!({"role": role}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let token = body["token"].as_str().expect("token").to_string();
            let (status, body) = who
                .post(
                    &format!("/api/v1/invitations/{token}/accept"),
                    serde_json::json!({}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    /// Runs `settled verify` against this app's database, as an operator would.
    pub fn verify(&self) -> (bool, String) {
        verify_at(&self.db_url)
    }
}

/// Runs `settled verify` on the database at `url`: whether it passed, and
/// what it printed (blocking).
pub fn verify_at(url: &str) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["--database", url, "verify"])
        .output()
        .expect("settled runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

impl Api {
    /// The same account talking to another instance `app`.
    pub fn via(&self, app: &TestApp) -> Api {
        Api {
            base: app.base.clone(),
            token: self.token.clone(),
            email: self.email.clone(),
            browser: self.browser.clone(),
            client: self.client.clone(),
        }
    }

    /// GET returning status and JSON.
    pub async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET");
        let status = r.status();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POST JSON returning status and JSON.
    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = r.status();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Opens a proposal closing at `closes_at` (RFC 3339) with `decider` (email); returns its id.
    pub async fn propose(&self, key: &str, title: &str, decider: &str, closes_at: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/api/v1/teams/{key}/proposals"),
                serde_json::json!({"title": title, "body": "We should do this.", "decider": decider, "closes_at": closes_at}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Takes a stance.
    pub async fn stance(
        &self,
        id: &str,
        position: &str,
        reason: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        self.post(
            &format!("/api/v1/decisions/{id}/stances"),
            serde_json::json!({"position": position, "reason": reason}),
        )
        .await
    }
}

/// An RFC 3339 time `seconds` from now.
pub fn in_seconds(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}

/// The text inside the `<textarea id="{id}">` of `html`, as written in the
/// page (HTML-escaped).
pub fn textarea(html: &str, id: &str) -> String {
    let open = format!("<textarea id=\"{id}\"");
    let start = html.find(&open).expect("page has the textarea");
    let content = html[start..].find('>').expect("end of the start tag") + start + 1;
    let end = html[content..]
        .find("</textarea>")
        .expect("end of the textarea")
        + content;
    html[content..end].to_string()
}

/// An invitation link's token, created by `admin` for team `key` over the API.
pub async fn invitation(admin: &Api, key: &str, role: &str) -> String {
    let (status, body) = admin
        .post(
            &format!("/api/v1/teams/{key}/invitations"),
            serde_json::json!({"role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().expect("token").to_string()
}
