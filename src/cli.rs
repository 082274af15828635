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
    /// Check every log: leaf hashes, commitments, roots, and the read tables
    /// rebuilt from the log. Exits non-zero naming the first bad entry.
    Verify,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Seed a demo team (see the README), then exit.
    Demo,
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

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let mut config = Config::new(cli.database, args.bind);
            config.secure_cookies = args
                .base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
            config.base_url = args.base_url;
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
        Command::Verify => {
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
        Command::User(UserCommand::Add {
            email,
            name,
            time_zone,
        }) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            let db = Db::connect(&cli.database).await?;
            let user = crate::web::accounts::register(
                &db,
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
        Command::Token(TokenCommand::Create { email, name }) => {
            let db = Db::connect(&cli.database).await?;
            let user = db::users::by_email(&db, &Email::parse(&email)?.normalized())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account with email {email}"))?;
            let label = crate::domain::clean_label(&name)?;
            let token = crate::web::auth::new_secret("stl_")?;
            db::users::insert_token(&db, user.id, &label, &token, db::Timestamp(db::now())).await?;
            db.close().await;
            println!("{token}");
            eprintln!("Store this token now: it is shown only once.");
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
