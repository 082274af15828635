//! Starting the app and driving it like a browser or an API client.

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
    /// The database, for direct checks.
    pub db: Db,
    _dir: tempfile::TempDir,
}

/// Starts the app on a free port with a fresh database.
pub async fn spawn() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("test.db").display());
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let app = Application::build(Config::new(db_url.clone(), bind))
        .await
        .expect("app builds");
    let base = format!("http://{}", app.address());
    let db = app.state().db.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        db,
        _dir: dir,
    }
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

    /// A new browser session signed up as `email`.
    pub async fn user(&self, email: &str, name: &str) -> Client {
        let client = browser();
        self.sign_up(&client, email, name).await;
        client
    }
}
