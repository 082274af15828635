//! Building and running the server: binds its own listener (port 0 in tests)
//! and reports its address.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tower_sessions::ExpiredDeletion;

use crate::config::Config;
use crate::db::Db;
use crate::ledger::Ledger;
use crate::password::Hasher;
use crate::web::sessions::SessionStore;
use crate::web::{self, AppState};

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    store: SessionStore,
    /// This server's claim on a SQLite file, held while it runs.
    claim: Option<std::fs::File>,
}

impl Application {
    /// Opens the database (running migrations) and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url).await?;
        let claim = db.claim_for_serving()?;
        let listener = TcpListener::bind(config.bind).await?;
        let address = listener.local_addr()?;
        let base_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"))
            .trim_end_matches('/')
            .to_string();
        let signer = crate::ledger::checkpoint::load_or_create(
            &db,
            &crate::ledger::checkpoint::name_from_base_url(&base_url),
        )
        .await?;
        let bench_ceiling = match &config.bench_ceiling {
            Some(path) => Some(axum::body::Bytes::from(std::fs::read(path)?)),
            None => None,
        };
        let hasher = Hasher::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
        hasher.warm_up();
        let mailer = crate::mail::Mailer::new(config.mail.clone(), &base_url)?;
        // A SQLite database is served by one server, whose writer is its
        // only writer: rows it reads can be kept (see `web::cache`).
        let sole_writer = db.backend() == crate::db::Backend::Sqlite;
        let ledger = Ledger::new(db.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
        if config.clock_ahead > chrono::Duration::zero() {
            ledger.clock().advance(config.clock_ahead);
            tracing::warn!(
                ahead = %config.clock_ahead,
                now = %ledger.now(),
                "the clock runs ahead of the system clock (--clock-ahead: tests and drills only)"
            );
        }
        let caches = Arc::new(web::cache::Caches::new(sole_writer));
        ledger.bus().attach(caches.clone());
        let store = SessionStore::new(db.clone(), ledger.writer().clone(), caches.clone());
        let state = AppState::new(web::App {
            db,
            ledger,
            hasher,
            base_url: Arc::from(base_url),
            secure_cookies: config.secure_cookies,
            sign_in_limiter: web::auth::SignInLimiter::new(config.sign_in_per_minute),
            health: web::health::Probe::default(),
            sign_up_limiter: web::auth::Limiter::per_hour(config.sign_ups_per_hour),
            trusted_proxies: Arc::from(config.trusted_proxies.clone()),
            reset_client_limiter: web::auth::Limiter::per_hour(config.resets_per_hour_per_client),
            reset_address_limiter: web::auth::Limiter::per_hour(config.resets_per_hour_per_address),
            webhook_limiter: web::auth::Limiter::new(config.webhooks_per_minute),
            webhook_attempt_limiter: web::auth::Limiter::new(config.unverified_webhooks_per_minute),
            invitation_mail_limiter: web::auth::Limiter::new(config.invitation_mails_per_minute),
            mailer,
            caches,
            unsubscribe: crate::mail::unsubscribe::Keys::new(&signer.seed()),
            flash: web::flash::Keys::new(&signer.seed()),
            signer: Arc::new(signer),
            bench_ceiling,
        });
        Ok(Self {
            listener,
            address,
            store,
            state,
            claim,
        })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The shared state (tests use it to reach the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let claim = self.claim;
        let store = self.store.clone();
        let ledger = self.state.ledger.clone();
        let sweeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                if let Err(err) = store.delete_expired().await {
                    tracing::warn!(error = %err, "could not delete expired sessions");
                }
                let stale = ledger.now() - crate::domain::account::SIGN_IN_FAILURES_KEPT;
                let swept = ledger
                    .writer()
                    .submit(move |mut conn| {
                        Box::pin(async move {
                            Ok(crate::db::users::sweep_sign_in_failures(conn.re(), stale).await?)
                        })
                    })
                    .await;
                if let Err(err) = swept {
                    tracing::warn!(error = %err, "could not sweep old sign-in failures");
                }
            }
        });
        let watch = self
            .state
            .caches
            .sessions
            .is_some()
            .then(|| tokio::spawn(watch_other_writers(self.state.clone())));
        // The worker wakes on committed entries (their mail is queued in
        // the same transaction) as well as on its poll tick.
        let changes = self.state.ledger.bus().subscribe();
        let mail = tokio::spawn(self.state.mail_worker().run(changes));
        let db = self.state.db.clone();
        let bus = self.state.ledger.bus().clone();
        let app = web::router(self.state, self.store);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Live streams never end on their own: end them, or graceful
            // shutdown would wait for every open page.
            bus.close();
        })
        .await?;
        sweeper.abort();
        mail.abort();
        if let Some(watch) = watch {
            watch.abort();
        }
        db.close().await;
        // Another server may take the file once this one has closed it.
        drop(claim);
        Ok(())
    }
}

/// How often a SQLite server looks whether another process wrote.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A SQLite server keeps rows it read (`web::cache`) because it is the
/// file's only writer. An operator's command on the same file (`settled
/// user set-password`, `token create`, …) writes beside it: within a second
/// of such a commit this forgets everything kept, so a session that command
/// ended stops working at once. SQLite's `data_version`, read on the
/// server's own writer connection, changes only for other connections'
/// commits.
async fn watch_other_writers(state: AppState) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        every.tick().await;
        let version = state
            .ledger
            .writer()
            .submit(|mut conn| {
                Box::pin(async move { Ok(crate::db::data_version(conn.re()).await?) })
            })
            .await;
        match version {
            Ok(v) => {
                if last.is_some_and(|l| l != v) {
                    tracing::info!("another process wrote to the database: kept rows forgotten");
                    state.caches.forget_all();
                }
                last = Some(v);
            }
            Err(err) => tracing::warn!(error = %err, "cannot read the database's data_version"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Structured logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
