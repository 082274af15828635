//! HTTP: the router, extractors and pages. Each area owns its routes; this
//! module only merges them and adds the layers every request passes.
//!
//! Routes, every one the app answers (browser pages work without
//! JavaScript; POST → 303 → GET). `{id}` is a decision id, `KEY-N`; a test
//! checks that this list names every route the routers declare.
//!
//! ```text
//! GET  /healthz                         load balancer probe: 503 when the database cannot be read or written (health.rs)
//! GET  /bench/ceiling                   only with `serve --bench-ceiling FILE` (benchmarks)
//! GET  /static/style.css  GET /static/live.js  GET /static/mention.js
//! GET  /search                          ?q=&team=&area=&status=&decider=&date=&from=&to= full-text search of your teams (search.rs)
//! --- accounts (accounts.rs)
//! GET  /sign-up  POST /sign-up          create an account (the first is instance admin)
//! GET  /sign-in  POST /sign-in          sign in (rate limited); `?next=` returns to a local page
//! POST /sign-out
//! GET  /settings                        profile, time zone, password, mail
//! POST /settings/profile  POST /settings/password  POST /settings/mail
//! GET  /settings/digest                 a preview of your next digest
//! POST /settings/sessions/sign-out      end one of your sessions (`session`: its handle)
//! POST /settings/sessions/sign-out-everywhere   end every session of your account
//! POST /settings/tokens  POST /settings/tokens/{id}/revoke   make (shown once) and revoke your API tokens
//! GET  /admin/accounts                  instance admins: every account, its teams, last seen, admin flag
//! POST /admin/accounts/{id}/admin  POST /admin/accounts/{id}/reset   grant/revoke instance admin; mail a reset link
//! GET  /password/forgot  POST           ask for a password reset link by mail (rate limited)
//! GET  /password/reset/{token}  POST    set a new password through the link; ends every other session
//! --- teams (teams/)
//! GET  /                                your teams, create a team (home.rs)
//! POST /teams                           create a team (home.rs)
//! GET  /t/{slug}                        dashboard: needs your stance, closing soon, recently decided (dashboard.rs)
//! GET  /t/{slug}/decisions              decision log (filters: area, status, text) (dashboard.rs)
//! GET  /t/{slug}/deciders             who carries what: each decider's load (load.rs)
//! GET  /t/{slug}/areas                  who decides what; POST creates an area (areas.rs)
//! POST /t/{slug}/areas/{id}             edit an area (areas.rs)
//! GET  /t/{slug}/settings               members, roles, invitations (settings.rs)
//! POST /t/{slug}/members/{user}/role    change a role (settings.rs)
//! POST /t/{slug}/members/{user}/remove  remove a member (settings.rs)
//! POST /t/{slug}/erase                  erase a text from the projection, keeping its hash (settings.rs)
//! POST /t/{slug}/key                    rename the team key; old ids redirect (settings.rs)
//! POST /t/{slug}/decide-within          set the days a decision may wait after its window (settings.rs)
//! POST /t/{slug}/invitations            new invitation link, optionally mailed (invitations.rs)
//! POST /t/{slug}/invitations/{id}/revoke  POST /t/{slug}/invitations/{id}/resend   (admins)
//! GET  /invite/{token}  POST            who invites you, and join (signed out: create an account or sign in, then back)
//! GET  /t/{slug}/log                    log size, root hash, entries (log.rs)
//! --- proposals (proposals/)
//! GET  /t/{slug}/proposals/new  POST /t/{slug}/proposals      (new.rs)
//! GET  /d/{id}                          the proposal and, once decided, its record (permalink) (show.rs)
//! POST /d/{id}/stance  /d/{id}/comments  /d/{id}/decision  /d/{id}/revise
//! POST /d/{id}/withdraw  /d/{id}/extend  /d/{id}/decider     (actions.rs)
//! --- status for CI (status.rs): members, status tokens, or public if the team chose
//! GET  /d/{id}/status.json  GET /d/{id}/badge.svg
//! POST /t/{slug}/status-visibility  POST /t/{slug}/status-tokens   (team settings)
//! --- code-host webhooks (hooks.rs): HMAC- or token-checked, no session, no CSRF
//! POST /hooks/{slug}/github  /hooks/{slug}/gitlab  /hooks/{slug}/gitea  /hooks/{slug}/forgejo
//! POST /t/{slug}/webhooks  POST /t/{slug}/webhooks/{id}/remove   (team settings)
//! --- subscription feeds (feeds.rs): a member's private feed URLs, `?token=stf_…`, no session
//! GET  /t/{slug}/feeds  POST            your feed URLs for the team; create one (shown once)
//! POST /t/{slug}/feeds/{id}/revoke      revoke one of yours
//! GET  /feeds/decisions.atom            ?token= recorded decisions, newest first (Atom)
//! GET  /feeds/deadlines.ics             ?token= deadlines still waiting for your stance (iCalendar)
//! --- live updates (live.rs): Server-Sent Events for members, ids are log indices
//! GET  /t/{slug}/live                   ?after=N the team's new entries; resumes from `Last-Event-ID`
//! --- mail (mail.rs)
//! GET  /unsubscribe  POST               ?u=&s=&t= signed unsubscribe link (no session, no CSRF; RFC 8058 one-click)
//! GET  /admin/mail                      ?status= the outbox: queued, sent, failing (instance admins)
//! --- JSON API (api/), nested under /api/v1; see the README
//! POST /api/v1/teams                                   (teams.rs)
//! POST /api/v1/teams/{key}/invitations  POST /api/v1/invitations/{token}/accept
//! GET  /api/v1/teams/{key}/members
//! GET  /api/v1/teams/{key}/proposals  POST             (decisions.rs)
//! GET  /api/v1/decisions/{id}
//! POST /api/v1/decisions/{id}/stances  /api/v1/decisions/{id}/comments  /api/v1/decisions/{id}/decision
//! GET  /api/v1/teams/{key}/log  GET /api/v1/teams/{key}/checkpoint   (log.rs)
//! GET  /api/v1/teams/{key}/proofs/inclusion  GET /api/v1/teams/{key}/proofs/consistency
//! GET  /api/v1/decisions/{id}/proof  GET /api/v1/teams/{key}/export
//! POST /api/v1/teams/{key}/erasures
//! ```

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod cache;
pub mod extract;
pub mod feeds;
pub mod field_errors;
pub mod flash;
pub mod health;
pub mod hooks;
pub mod html;
pub mod input;
pub mod live;
pub mod mail;
pub mod mentions;
pub mod pages;
pub mod password;
pub mod proposals;
pub mod rows;
pub mod search;
pub mod sessions;
pub mod status;
pub mod teams;
pub mod trace;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::db::Db;
use crate::ledger::Ledger;
use crate::password::Hasher;
use sessions::SessionStore;

/// Everything a handler needs, shared: axum clones the state for every
/// extractor of every request, so it is one reference count.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

impl AppState {
    /// Shares `app` with every handler.
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct App {
    /// The database, for reads.
    pub db: Db,
    /// The one write path for team state.
    pub ledger: Ledger,
    /// Password hashing off the async threads.
    pub hasher: Hasher,
    /// Base URL for links shown to users (no trailing slash).
    pub base_url: Arc<str>,
    /// Whether cookies carry `Secure`.
    pub secure_cookies: bool,
    /// Sign-in attempts per client address.
    pub sign_in_limiter: auth::SignInLimiter,
    /// The health check's last answer (see [`health`]).
    pub health: health::Probe,
    /// Sign-up attempts per client address: each costs a password hash and
    /// may create an account, and anyone can send them.
    pub sign_up_limiter: auth::Limiter<std::net::IpAddr>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Password reset links asked for per client address per hour.
    pub reset_client_limiter: auth::Limiter<std::net::IpAddr>,
    /// Password reset links asked for per (normalised) email per hour.
    pub reset_address_limiter: auth::Limiter<String>,
    /// Verified webhook deliveries per team.
    pub webhook_limiter: auth::Limiter<i64>,
    /// Webhook deliveries that could not be verified (unknown team, wrong
    /// signature), per client address: they must not use up a team's quota.
    pub webhook_attempt_limiter: auth::Limiter<std::net::IpAddr>,
    /// Invitations mailed per inviting member (anyone can make a team and
    /// invite, so mail to strangers is limited).
    pub invitation_mail_limiter: auth::Limiter<i64>,
    /// The instance key that signs checkpoints.
    pub signer: Arc<crate::ledger::note::Signer>,
    /// Benchmarks only: the page served at `/bench/ceiling`.
    pub bench_ceiling: Option<axum::body::Bytes>,
    /// Sends mail (the outbox worker's transport).
    pub mailer: crate::mail::Mailer,
    /// Signs and checks flash cookies.
    pub flash: flash::Keys,
    /// Signs and checks unsubscribe links.
    pub unsubscribe: crate::mail::unsubscribe::Keys,
    /// Every in-memory cache (see [`cache`]), attached to the ledger's bus.
    pub caches: Arc<cache::Caches>,
}

pub use crate::db::teams::Membership;

impl App {
    /// The user with this id (a signed-in user, read once per request).
    pub async fn user(&self, id: i64) -> crate::error::Result<Option<crate::db::users::User>> {
        let Some(kept) = &self.caches.users else {
            return Ok(crate::db::users::by_id(&self.db, id).await?);
        };
        if let Some(user) = kept.get(&id) {
            return Ok(Some(user));
        }
        let version = kept.version();
        let user = crate::db::users::by_id(&self.db, id).await?;
        if let Some(user) = &user {
            kept.keep(id, user.clone(), None, version);
        }
        Ok(user)
    }

    /// The team, the user's role in it and the size of its log (`None`: no
    /// such team, or not a member): what every team page needs first.
    /// Where this server is the database's only writer, a membership read
    /// once is kept while the team's log does not grow (see [`cache`]).
    pub async fn as_member(
        &self,
        team: crate::db::teams::TeamRef<'_>,
        user_id: i64,
    ) -> crate::error::Result<Option<Membership>> {
        use crate::db::teams::{self, TeamRef};
        let Some(kept) = &self.caches.members else {
            let found = teams::as_member(self.db.reader(), team, user_id).await?;
            if let Some(m) = &found {
                self.caches.saw_log_size(m.team.id, m.log_size);
            }
            return Ok(found);
        };
        let key = match team {
            TeamRef::Key(k) => (true, k.to_string(), user_id),
            TeamRef::Slug(s) => (false, s.to_string(), user_id),
        };
        if let Some(m) = kept.get(&key) {
            return Ok(Some(m));
        }
        let version = kept.version();
        let found = teams::as_member(self.db.reader(), team, user_id).await?;
        if let Some(m) = &found {
            self.caches.saw_log_size(m.team.id, m.log_size);
            kept.keep(key, m.clone(), Some((m.team.id, m.log_size)), version);
        }
        Ok(found)
    }

    /// The outbox worker of this app.
    pub fn mail_worker(&self) -> crate::mail::worker::Worker {
        crate::mail::worker::Worker {
            composer: crate::mail::compose::Composer {
                db: self.db.clone(),
                base_url: self.base_url.to_string(),
                keys: self.unsubscribe.clone(),
                clock: self.ledger.clock().clone(),
            },
            mailer: self.mailer.clone(),
            writer: self.ledger.writer().clone(),
            ledger: self.ledger.clone(),
        }
    }
}

/// Headers of a response that shows a secret once (an invitation link, a
/// status token, a webhook secret, a feed URL): no cache, the browser's
/// own included, may keep a copy for the back button or the next user of
/// a shared computer.
pub const NO_STORE: [(HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-store")];

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "settled_session";

/// Largest request body accepted (a long proposal plus form overhead).
pub const BODY_LIMIT: usize = 1024 * 1024;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The whole app with its layers.
pub fn router(state: AppState, store: SessionStore) -> Router {
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_secure(state.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::days(14)));
    let request_id = HeaderName::from_static("x-request-id");
    let security = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ));
    let mut routes = Router::new();
    if let Some(page) = state.bench_ceiling.clone() {
        // The same bytes every time, with no work: what the stack alone
        // costs for a page of that size.
        let html = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
        routes = routes.route("/bench/ceiling", get(move || async move { (html, page) }));
    }
    routes
        .route("/healthz", get(health::healthz))
        .route("/static/style.css", get(style))
        .route("/static/live.js", get(live_script))
        .route("/static/mention.js", get(mention_script))
        .merge(accounts::router())
        .merge(password::router())
        .merge(admin::router())
        .merge(teams::router())
        .merge(proposals::router())
        .merge(status::router())
        .merge(hooks::router())
        .merge(search::router())
        .merge(feeds::router())
        .merge(live::router())
        .merge(mail::router())
        .nest("/api/v1", api::router())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::csrf_guard,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            flash::layer,
        ))
        .layer(axum::middleware::from_fn(input::refuse_control_characters))
        .layer(security)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(trace::request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn live_script() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/live.js"),
    )
}

async fn mention_script() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/mention.js"),
    )
}

async fn style() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every path given to `.route(` in the web sources (under `/api/v1`
    /// for the API's files).
    fn declared_routes(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                let nested = if path.ends_with("api") {
                    "/api/v1"
                } else {
                    prefix
                };
                declared_routes(&path, nested, out);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            // Tests (this one among them) declare no routes.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for piece in code.split(".route(").skip(1) {
                let piece = piece.trim_start();
                if let Some(rest) = piece.strip_prefix('"')
                    && let Some(end) = rest.find('"')
                {
                    out.push(format!("{prefix}{}", &rest[..end]));
                }
            }
        }
    }

    #[test]
    fn the_route_list_names_every_route_the_routers_declare() {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        let mut routes = Vec::new();
        declared_routes(&web, "", &mut routes);
        assert!(routes.len() > 50, "found only {} routes", routes.len());
        let listed: String = include_str!("mod.rs")
            .lines()
            .filter(|l| l.starts_with("//!"))
            .flat_map(|l| l.split_whitespace().map(|w| format!(" {w} ")))
            .collect();
        let missing: Vec<&String> = routes
            .iter()
            .filter(|r| !listed.contains(&format!(" {r} ")))
            .collect();
        assert!(
            missing.is_empty(),
            "not in the route list at the top of web/mod.rs: {missing:?}"
        );
    }
}
