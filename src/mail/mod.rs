//! Email (issue #4): transports, composing outbox rows into messages, the
//! delivery worker, and signed unsubscribe links.
//!
//! Nothing sends mail directly. A cause (an entry such as
//! `decision_recorded`, a new invitation, the reminder clock) writes an
//! outbox row in its own transaction (`db::outbox`); `worker` claims due
//! rows, composes each from the tables at that moment (`compose`) and hands
//! it to the transport. A row gets one Message-ID for all its attempts.

pub mod compose;
pub mod digest;
pub mod unsubscribe;
pub mod worker;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes and how the worker paces itself.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// SMTP server (`smtp://user:pass@host:587?tls=required` for STARTTLS,
    /// `smtps://user:pass@host:465` for implicit TLS, `smtp://host:25`
    /// without TLS). `None`: messages are written to `folder`.
    pub smtp_url: Option<String>,
    /// The `.eml` folder used when there is no SMTP server.
    pub folder: PathBuf,
    /// `From:`; `None`: `Settled <settled@HOST>` from the base URL.
    pub from: Option<String>,
    /// Tests: keep messages in memory instead (the worker still runs).
    pub memory: Option<Memory>,
    /// The first retry's delay; each next one doubles (capped at an hour).
    pub retry_base: Duration,
    /// Attempts before a row is marked failed.
    pub max_attempts: i64,
    /// How often the worker looks for due rows.
    pub poll: Duration,
    /// How often the reminder and digest clocks run.
    pub schedule_every: Duration,
    /// Whether the clocks run at all (tests that drive them with a
    /// simulated time turn them off).
    pub clocks: bool,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            folder: PathBuf::from("mail"),
            from: None,
            memory: None,
            retry_base: Duration::from_secs(30),
            max_attempts: 12,
            poll: Duration::from_secs(1),
            schedule_every: Duration::from_secs(60),
            clocks: true,
        }
    }
}

/// A message as sent: envelope recipients and the formatted message.
pub type Sent = (Vec<String>, Vec<u8>);

/// Messages kept in memory (tests).
#[derive(Clone, Debug, Default)]
pub struct Memory(Arc<Mutex<Vec<Sent>>>);

impl Memory {
    /// Everything sent so far.
    pub fn messages(&self) -> Vec<Sent> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// How a message leaves.
#[derive(Clone, Debug)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(PathBuf),
    Memory(Memory),
}

/// A failed delivery.
#[derive(Debug)]
pub struct SendError {
    /// The server refused for good (5xx): retrying cannot help.
    pub permanent: bool,
    /// What happened.
    pub message: String,
}

/// The configured transport and sender. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Mailer {
    transport: Transport,
    from: lettre::message::Mailbox,
    /// The host part of Message-IDs.
    host: String,
    config: MailConfig,
}

impl Mailer {
    /// A mailer for `config`; `base_url` names the host in the default
    /// sender and in Message-IDs.
    pub fn new(config: MailConfig, base_url: &str) -> anyhow::Result<Self> {
        let host = base_url
            .split("://")
            .nth(1)
            .unwrap_or(base_url)
            .split(['/', ':'])
            .next()
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost")
            .to_string();
        let from = match &config.from {
            Some(from) => from
                .parse()
                .map_err(|e| anyhow::anyhow!("the mail sender {from:?} is not an address: {e}"))?,
            // A host that makes no address (an IP literal): localhost.
            None => format!("Settled <settled@{host}>")
                .parse()
                .or_else(|_| "Settled <settled@localhost>".parse())
                .map_err(|e| anyhow::anyhow!("no default sender: {e}"))?,
        };
        let transport = if let Some(memory) = &config.memory {
            Transport::Memory(memory.clone())
        } else if let Some(url) = &config.smtp_url {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| anyhow::anyhow!("the SMTP URL is not usable: {e}"))?
                .timeout(Some(Duration::from_secs(30)))
                .build();
            Transport::Smtp(transport)
        } else {
            Transport::Folder(config.folder.clone())
        };
        Ok(Self {
            transport,
            from,
            host,
            config,
        })
    }

    /// Whether messages are only written to the mail folder (no SMTP URL):
    /// then nothing leaves this server, and pages must not say "mailed".
    pub fn writes_to_folder(&self) -> bool {
        matches!(self.transport, Transport::Folder(_))
    }

    /// Where messages go, in words (start-up log, admin page).
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP".to_string(),
            Transport::Folder(dir) => format!("the folder {}", dir.display()),
            Transport::Memory(_) => "memory (tests)".to_string(),
        }
    }

    /// The sender.
    pub fn from(&self) -> &lettre::message::Mailbox {
        &self.from
    }

    /// The Message-ID of outbox row `id` queued at `created` (seconds): the
    /// same for every attempt.
    pub fn message_id(&self, id: i64, created: i64) -> String {
        format!("<outbox.{id}.{created}@{}>", self.host)
    }

    /// A Message-ID for a mail sent outside the outbox, `local` being
    /// unique to it.
    pub fn message_id_for(&self, local: &str) -> String {
        format!("<{local}@{}>", self.host)
    }

    /// The worker's pacing.
    pub fn config(&self) -> &MailConfig {
        &self.config
    }

    /// Hands `message` to the transport.
    pub async fn send(&self, message: Message, file_stem: &str) -> Result<(), SendError> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
            Transport::Folder(dir) => write_eml(dir, file_stem, &message.formatted())
                .await
                .map_err(|e| SendError {
                    permanent: false,
                    message: format!("cannot write to {}: {e}", dir.display()),
                }),
            Transport::Memory(memory) => {
                let to = message
                    .envelope()
                    .to()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                memory
                    .0
                    .lock()
                    .map_err(|_| SendError {
                        permanent: false,
                        message: "memory transport poisoned".into(),
                    })?
                    .push((to, message.formatted()));
                Ok(())
            }
        }
    }
}

/// Writes `bytes` as `dir/stem.eml`, atomically (a retry replaces the same
/// file, so a row is never there twice).
async fn write_eml(dir: &std::path::Path, stem: &str, bytes: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let path = dir.join(format!("{stem}.eml"));
    let partial = dir.join(format!(".{stem}.eml.partial"));
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, &path).await
}
