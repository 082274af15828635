//! The command line: `settled serve | migrate | verify | user add | token create | demo`.

use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, DEFAULT_DATABASE_URL};
use crate::db::{self, Db};
use crate::domain::account::{DisplayName, Email, NewPassword};

/// Settled: record how your team decides.
#[derive(Debug, Parser)]
#[command(name = "settled", version, about)]
pub struct Cli {
    /// Database URL (a SQLite file is created if missing).
    #[arg(long = "database", env = "SETTLED_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app (runs migrations first).
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Check every log in the database (leaf hashes, commitments, rules,
    /// roots, and the read tables rebuilt from the log), or, with `--file`,
    /// an exported log offline. Exits non-zero naming the first bad entry.
    Verify(VerifyArgs),
    /// Write a team's log (JSON Lines plus a signed checkpoint) for offline
    /// verification.
    Export {
        /// The team's key.
        #[arg(long)]
        team: String,
        /// Output file (default: standard output).
        #[arg(long)]
        to: Option<std::path::PathBuf>,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Seed a demo team (see the README), then exit.
    Demo,
    /// Print the digest a member would get now, one per team, exactly as
    /// it would be sent (plain-text part); the server sends digests itself.
    Digest {
        /// Print, do not send (the only mode).
        #[arg(long, required = true)]
        preview: bool,
        /// The member's email.
        #[arg(long)]
        email: String,
        /// Public base URL for the links (as `serve --base-url`).
        #[arg(
            long,
            env = "SETTLED_BASE_URL",
            default_value = "http://127.0.0.1:3000"
        )]
        base_url: String,
    },
    /// Write a consistent copy of the database to FILE, safe while the
    /// server runs. SQLite: `VACUUM INTO`, restore by serving from the copy.
    /// PostgreSQL: `pg_dump --format=custom` (which must be installed),
    /// restore with `pg_restore --dbname=URL FILE` into an empty database.
    Backup {
        /// The file to create (must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
    },
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SETTLED_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// Public base URL for links (default: http://<bind>). An https URL
    /// marks cookies Secure.
    #[arg(long, env = "SETTLED_BASE_URL")]
    pub base_url: Option<String>,
    /// Seed the demo team before serving.
    #[arg(long)]
    pub demo: bool,
    /// Benchmarks only: serve this file at /bench/ceiling through the same
    /// layers as every page (the ceiling of `bash bench/run.sh`).
    #[arg(long, hide = true)]
    pub bench_ceiling: Option<std::path::PathBuf>,
    /// SMTP server for mail: `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (implicit TLS) or
    /// `smtp://host:25` (no TLS). Without it, mail is written as .eml files
    /// to --mail-dir.
    #[arg(long, env = "SETTLED_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Folder for .eml files when no SMTP server is set.
    #[arg(long, env = "SETTLED_MAIL_DIR", default_value = "mail")]
    pub mail_dir: std::path::PathBuf,
    /// The sender of mail (default: `Settled <settled@HOST>`, HOST from the
    /// base URL).
    #[arg(long, env = "SETTLED_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// A reverse proxy in front of the server, as an address or CIDR range
    /// (repeat it, or separate with commas): from it, the client's address
    /// is read from `X-Forwarded-For`. Without it the header is ignored.
    #[arg(long = "trusted-proxy", env = "SETTLED_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Tests and fault drills only: run the server's clock this far ahead
    /// of the system clock (`90m`, `36h`, `9d`), to see what a team sees
    /// once windows have closed and decisions are overdue. The log's times
    /// never go backwards: after a run ahead, entries keep the last time
    /// until the system clock catches up.
    #[arg(long, hide = true, env = "SETTLED_CLOCK_AHEAD", value_parser = parse_ahead)]
    pub clock_ahead: Option<chrono::Duration>,
}

/// `10.0.0.0/8`, `::1/128` or a single address (`127.0.0.1`).
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or CIDR range such as 10.0.0.0/8"))
}

/// `90m`, `36h`, `9d` (a whole number and its unit, at most ten years) as
/// a duration.
fn parse_ahead(text: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 90m, 36h or 9d");
    let unit = text.chars().last().ok_or_else(bad)?;
    let number: u32 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let minutes = i64::from(number)
        * match unit {
            'm' => 1,
            'h' => 60,
            'd' => 24 * 60,
            _ => return Err(bad()),
        };
    if minutes > 3650 * 24 * 60 {
        return Err(format!("{text:?} is too far ahead: at most 3650 days"));
    }
    Ok(chrono::Duration::minutes(minutes))
}

/// Options of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check an exported log file instead of the database (no database needed).
    #[arg(long)]
    pub file: Option<std::path::PathBuf>,
    /// The instance's verifier key (`name+keyid+base64`) you trust; without
    /// it, the key inside the file is used, which proves only consistency.
    #[arg(long)]
    pub key: Option<String>,
    /// Prove that the checkpoint in file OLD (a checkpoint note or an older
    /// export) is a prefix of the export NEW.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    pub consistency: Option<Vec<std::path::PathBuf>>,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; the password is read from standard input.
    Add {
        /// Email address.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// IANA time zone.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
    /// Set an account's password, read from standard input; signs the
    /// account out everywhere.
    SetPassword {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token and print it once.
    Create {
        /// The owner's email.
        #[arg(long)]
        email: String,
        /// A label to recognise the token by.
        #[arg(long)]
        name: String,
        /// The token may only read: every write answers 403.
        #[arg(long)]
        read_only: bool,
        /// The token stops working after this many days (default: never).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=3650))]
        expires_days: Option<i64>,
    },
    /// List an account's API tokens (never the tokens themselves).
    List {
        /// The owner's email.
        #[arg(long)]
        email: String,
    },
    /// Revoke one of an account's API tokens: it answers 401 at once.
    Revoke {
        /// The owner's email.
        #[arg(long)]
        email: String,
        /// The token's id, from `settled token list`.
        #[arg(long)]
        id: i64,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    crate::startup::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Key name used when a CLI command creates the instance key before the
/// server ever ran (the server derives it from its base URL).
const DEFAULT_KEY_NAME: &str = "settled";

/// `verify --file` and `verify --consistency`: no database involved.
fn verify_offline(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    use crate::ledger::export;
    use crate::ledger::note::Verifier;
    let key = args.key.as_deref().map(Verifier::parse).transpose()?;
    let open = |path: &std::path::Path| -> anyhow::Result<std::io::BufReader<std::fs::File>> {
        Ok(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        ))
    };
    let report = |r: &export::FileReport| {
        println!(
            "ok: team {} log, {} entries, {} text commitments, checkpoint size {} root {}",
            r.team.key,
            r.entries,
            r.commitments,
            r.checkpoint.size,
            hex::encode(r.checkpoint.root)
        );
        if !r.key_given {
            eprintln!(
                "note: checked with the key inside the file ({}); pass --key with the key you trust to rule out a forged export",
                r.verifier
            );
        }
    };
    if let Some(paths) = args.consistency {
        let [old_path, new_path] = &paths[..] else {
            anyhow::bail!("--consistency takes two files: OLD NEW");
        };
        let new = match export::verify_file(open(new_path)?, key.as_ref()) {
            Ok(r) => r,
            Err(err) => {
                eprintln!("verification failed: {err}");
                return Ok(ExitCode::FAILURE);
            }
        };
        let verifier = match &key {
            Some(k) => k.clone(),
            None => Verifier::parse(&new.verifier)?,
        };
        let old_note = read_checkpoint(old_path)?;
        return match export::verify_consistency(&old_note, &new, &verifier) {
            Ok((old, size)) => {
                report(&new);
                println!("ok: the checkpoint of size {old} is a prefix of the log of size {size}");
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("verification failed: {err}");
                Ok(ExitCode::FAILURE)
            }
        };
    }
    let Some(path) = args.file else {
        anyhow::bail!("nothing to verify");
    };
    match export::verify_file(open(&path)?, key.as_ref()) {
        Ok(r) => {
            report(&r);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("verification failed: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A checkpoint note from a file holding either the note itself or an export.
fn read_checkpoint(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if text.starts_with('{') {
        for line in text.lines().rev() {
            if let Ok(crate::ledger::export::Line::Checkpoint { note }) = serde_json::from_str(line)
            {
                return Ok(note);
            }
        }
        anyhow::bail!("{}: no checkpoint in this export", path.display());
    }
    Ok(text)
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let mut config = Config::new(cli.database, args.bind);
            config.secure_cookies = args
                .base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
            config.base_url = args.base_url;
            config.bench_ceiling = args.bench_ceiling;
            config.mail.smtp_url = args.smtp_url;
            config.mail.folder = args.mail_dir;
            config.mail.from = args.mail_from;
            config.clock_ahead = args.clock_ahead.unwrap_or_default();
            config.trusted_proxies = args.trusted_proxies;
            if args.demo {
                let db = Db::connect(&config.database_url).await?;
                crate::demo::seed(&db).await?;
                db.close().await;
            }
            let app = crate::startup::Application::build(config).await?;
            tracing::info!(address = %app.address(), "listening");
            println!("Settled is running at http://{}", app.address());
            app.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let db = Db::connect(&cli.database).await?;
            db.close().await;
            println!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) if args.file.is_some() || args.consistency.is_some() => {
            verify_offline(args)
        }
        Command::Export { team, to } => {
            let db = Db::connect(&cli.database).await?;
            let key = crate::domain::ids::TeamKey::parse(&team)?;
            let team = db::teams::by_key(db.reader(), key.as_str())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no team with key {key}"))?;
            let signer = crate::ledger::checkpoint::load_or_create(&db, DEFAULT_KEY_NAME).await?;
            let size = match to {
                Some(path) => {
                    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    let size = crate::ledger::export::write(&db, &signer, &team, &mut out).await?;
                    std::io::Write::flush(&mut out)?;
                    size
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    let size = crate::ledger::export::write(&db, &signer, &team, &mut out).await?;
                    std::io::Write::flush(&mut out)?;
                    size
                }
            };
            db.close().await;
            eprintln!(
                "exported {size} entries of {}; verifier key {}",
                team.key,
                signer.verifier().encode()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(_) => {
            let db = Db::connect(&cli.database).await?;
            let outcome = crate::ledger::verify::verify(&db).await;
            db.close().await;
            match outcome {
                Ok(report) => {
                    println!(
                        "ok: {} team log(s), {} entries, {} text commitments, {} table rows match the log",
                        report.teams, report.entries, report.commitments, report.rows
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    eprintln!("verification failed: {err}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::User(UserCommand::SetPassword { email }) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = NewPassword::parse(password.trim_end_matches(['\n', '\r']))
                .map_err(|e| anyhow::anyhow!("the password {}", e.message))?;
            let db = Db::connect(&cli.database).await?;
            let user = db::users::by_email(&db, &Email::parse(&email)?.normalized())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account uses the email {email}"))?;
            let ledger = crate::ledger::Ledger::new(db.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            let ended = crate::services::accounts::set_password(
                ledger.writer(),
                &crate::password::Hasher::new(1),
                user.id,
                password,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            db.close().await;
            let sessions = match ended {
                1 => "its 1 session was".to_string(),
                n => format!("its {n} sessions were"),
            };
            println!("password set for {}; {sessions} signed out", user.email);
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Add {
            email,
            name,
            time_zone,
        }) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            let db = Db::connect(&cli.database).await?;
            let ledger = crate::ledger::Ledger::new(db.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            let user = crate::services::accounts::register(
                ledger.writer(),
                &crate::password::Hasher::new(1),
                Email::parse(&email)?,
                DisplayName::parse(&name)?,
                NewPassword::parse(password)?,
                crate::domain::account::parse_time_zone(&time_zone)?,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            db.close().await;
            println!(
                "added {} (id {}){}",
                user.email,
                user.id,
                if user.is_admin {
                    ", instance admin"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::List { email }) => {
            let db = Db::connect(&cli.database).await?;
            let user = db::users::by_email(&db, &Email::parse(&email)?.normalized())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let tokens = db::users::tokens(&db, user.id).await?;
            db.close().await;
            if tokens.is_empty() {
                println!("{} has no API token.", user.email);
            }
            let day = |t: &db::Timestamp| t.0.format("%Y-%m-%d %H:%M UTC").to_string();
            for t in tokens {
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}\texpires {}",
                    t.id,
                    t.label,
                    if t.scope == "read" {
                        "read only"
                    } else {
                        "read and write"
                    },
                    day(&t.created_at),
                    t.last_used_at.as_ref().map_or("never".into(), day),
                    t.expires_at.as_ref().map_or("never".into(), day),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Revoke { email, id }) => {
            let db = Db::connect(&cli.database).await?;
            let user = db::users::by_email(&db, &Email::parse(&email)?.normalized())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let ledger = crate::ledger::Ledger::new(db.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            let done = crate::services::tokens::revoke_token(ledger.writer(), user.id, id)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            db.close().await;
            if !done {
                anyhow::bail!("{} has no API token with id {id}", user.email);
            }
            println!("token {id} of {} revoked", user.email);
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Create {
            email,
            name,
            read_only,
            expires_days,
        }) => {
            let db = Db::connect(&cli.database).await?;
            let user = db::users::by_email(&db, &Email::parse(&email)?.normalized())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let label = crate::domain::clean_label(&name)?;
            let ledger = crate::ledger::Ledger::new(db.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            let rights = crate::services::tokens::TokenRights {
                read_only,
                days: expires_days,
            };
            let token =
                crate::services::tokens::create_token(ledger.writer(), user.id, label, rights)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            db.close().await;
            println!("{token}");
            eprintln!("Store this token now: it is shown only once.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Digest {
            preview: _,
            email,
            base_url,
        } => {
            let db = Db::connect(&cli.database).await?;
            let user = db::users::by_email(&db, &Email::parse(&email)?.normalized())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let base_url = base_url.trim_end_matches('/').to_string();
            let signer = crate::ledger::checkpoint::load_or_create(
                &db,
                &crate::ledger::checkpoint::name_from_base_url(&base_url),
            )
            .await?;
            let composer = crate::mail::compose::Composer {
                db: db.clone(),
                keys: crate::mail::unsubscribe::Keys::new(&signer.seed()),
                base_url,
                clock: crate::ledger::clock::Clock::default(),
            };
            let previews =
                crate::mail::digest::previews(&composer, &user, chrono::Utc::now()).await?;
            db.close().await;
            if previews.is_empty() {
                println!("{email} is not in a team: no digest.");
            }
            for (team, view) in previews {
                match view {
                    Some(view) => {
                        println!("To: {}", user.email);
                        println!("Subject: {}", view.subject);
                        println!();
                        println!("{}", view.text().map_err(|e| anyhow::anyhow!("{e}"))?);
                    }
                    None => println!("{}: nothing to say, no mail.\n", team.name),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { to } => {
            if to.exists() {
                anyhow::bail!("{} exists already; choose a new file", to.display());
            }
            if crate::db::Backend::of(&cli.database)? == crate::db::Backend::Postgres {
                // pg_dump reads one snapshot, so writers may keep going.
                let status = std::process::Command::new("pg_dump")
                    .arg("--format=custom")
                    .arg("--no-owner")
                    .arg("--no-privileges")
                    .arg("--file")
                    .arg(&to)
                    .arg("--dbname")
                    .arg(&cli.database)
                    .status()
                    .map_err(|e| {
                        anyhow::anyhow!("could not run pg_dump (is it installed?): {e}")
                    })?;
                if !status.success() {
                    anyhow::bail!("pg_dump failed ({status}); nothing was written");
                }
            } else {
                let db = Db::connect(&cli.database).await?;
                db.backup_to(&to).await?;
                db.close().await;
            }
            println!("backup written to {}", to.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            let db = Db::connect(&cli.database).await?;
            crate::demo::seed(&db).await?;
            db.close().await;
            println!(
                "demo data seeded; run `settled serve` and sign in as ana@example.com / demo-password"
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ahead;
    use chrono::Duration;

    #[test]
    fn a_trusted_proxy_is_an_address_or_a_range() {
        use super::parse_net;
        assert_eq!(
            parse_net("10.0.0.0/8"),
            Ok("10.0.0.0/8".parse().expect("net"))
        );
        assert_eq!(
            parse_net(" 127.0.0.1"),
            Ok("127.0.0.1/32".parse().expect("net"))
        );
        assert_eq!(parse_net("::1"), Ok("::1/128".parse().expect("net")));
        assert!(
            parse_net("10.0.0.0/33").is_err_and(|e| e.contains("is not an address or CIDR range"))
        );
        assert!(parse_net("proxy.internal").is_err());
    }

    #[test]
    fn a_clock_ahead_is_a_number_and_a_unit() {
        assert_eq!(parse_ahead("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_ahead("36h"), Ok(Duration::hours(36)));
        assert_eq!(parse_ahead("9d"), Ok(Duration::days(9)));
        assert_eq!(parse_ahead("0d"), Ok(Duration::zero()));
        for bad in ["", "d", "9", "-5d", "9w", "1.5d", "9 d"] {
            let err = parse_ahead(bad).expect_err(bad);
            assert!(
                err.contains("is not a duration such as 90m"),
                "{bad}: {err}"
            );
        }
        assert!(parse_ahead("3651d").is_err_and(|e| e.contains("at most 3650 days")));
        assert_eq!(parse_ahead("3650d"), Ok(Duration::days(3650)));
    }
}
