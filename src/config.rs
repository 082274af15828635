//! Run-time configuration shared by the subcommands.

use std::net::SocketAddr;

/// Where the embedded database lives when no URL is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://settled.db";

/// Configuration of a running server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Database URL (`sqlite://path`); SQLite files are created if missing.
    pub database_url: String,
    /// Address to listen on; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Base URL used in links shown to users (invitations, permalinks).
    /// `None`: derived from the bind address.
    pub base_url: Option<String>,
    /// Mark cookies `Secure`. On when the base URL is https.
    pub secure_cookies: bool,
    /// Sign-in attempts allowed per client address per minute.
    pub sign_in_per_minute: u32,
    /// Sign-up attempts allowed per client address per hour.
    pub sign_ups_per_hour: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Password reset links asked for per client address per hour.
    pub resets_per_hour_per_client: u32,
    /// Password reset links asked for per email address per hour.
    pub resets_per_hour_per_address: u32,
    /// Verified webhook deliveries accepted per team per minute.
    pub webhooks_per_minute: u32,
    /// Webhook deliveries that could not be verified, answered per client
    /// address per minute before it is told to wait.
    pub unverified_webhooks_per_minute: u32,
    /// Invitations one member may have mailed per minute.
    pub invitation_mails_per_minute: u32,
    /// Benchmarks only: a page served as is at `/bench/ceiling`, through
    /// the same layers as every page, to measure the stack's ceiling.
    pub bench_ceiling: Option<std::path::PathBuf>,
    /// Tests and fault drills only: how far ahead of the system clock the
    /// server's clock runs (see `ledger::clock`).
    pub clock_ahead: chrono::Duration,
    /// Where mail goes (SMTP, a folder of .eml files, or memory in tests).
    pub mail: crate::mail::MailConfig,
}

impl Config {
    /// A configuration for `database_url` served on `bind`, with production
    /// defaults for everything else.
    pub fn new(database_url: impl Into<String>, bind: SocketAddr) -> Self {
        Self {
            database_url: database_url.into(),
            bind,
            base_url: None,
            secure_cookies: false,
            sign_in_per_minute: 10,
            sign_ups_per_hour: 20,
            trusted_proxies: Vec::new(),
            resets_per_hour_per_client: 20,
            resets_per_hour_per_address: 5,
            webhooks_per_minute: 600,
            unverified_webhooks_per_minute: 60,
            invitation_mails_per_minute: 10,
            bench_ceiling: None,
            clock_ahead: chrono::Duration::zero(),
            mail: crate::mail::MailConfig::default(),
        }
    }
}
