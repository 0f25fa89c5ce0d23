//! Command line: `serve`, `migrate`, `check`, `token …`, `demo`.

mod check;
#[cfg(feature = "dev")]
mod demo;
mod health;
mod token;

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::db::{self, migrations};
use crate::startup::{self, Application};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "scim-sidecar",
    version,
    about = "SCIM 2.0 provisioning sidecar for Sourcebot"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the SCIM API (applies migrations first only if database.migrate_on_start).
    Serve,
    /// Apply the service's database migrations (safe to repeat).
    Migrate,
    /// Report configuration, database, schema, migrations, licence, tokens and the public
    /// URL, with a fix for each problem. Exit 0: all green; 1: a problem that stops `serve`
    /// or provisioning; 2: warnings only.
    Check {
        /// Print one JSON document instead of the readable report (fields in README, "check").
        #[arg(long)]
        json: bool,
    },
    /// Manage an org's SCIM tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a throw-away demo: database, org, token and licence included (development builds
    /// only: `cargo run --release --features dev -- demo`).
    Demo(DemoArgs),
    /// Probe this host's /healthz (the container HEALTHCHECK); exit 0 when it answers 200.
    Health,
}

/// Parsed in every build, so that a production binary can say where `demo` lives.
#[derive(Debug, clap::Args)]
#[cfg_attr(not(feature = "dev"), allow(dead_code))]
pub struct DemoArgs {
    /// Address to serve on; when it is taken, another port on the same address is used.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Members to seed into the demo org (batched SQL; a progress bar on a terminal).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(..=10_000_000))]
    users: u32,
    /// Seat count of the demo licence [default: 100 more than --users].
    #[arg(long)]
    seats: Option<u32>,
    /// The database `demo` drops and recreates.
    #[arg(long, default_value = "scim_demo")]
    database: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token; it is printed once, as the last line of stdout.
    Create {
        #[arg(long)]
        org: i32,
        #[arg(long)]
        name: String,
    },
    /// List an org's tokens (never their secrets).
    List {
        #[arg(long)]
        org: i32,
    },
    /// Revoke an org's token by name.
    Revoke {
        #[arg(long)]
        org: i32,
        #[arg(long)]
        name: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = match (Settings::load(), &cli.command) {
        (Ok(settings), _) => settings,
        // `check` reports an invalid configuration as its finding (JSON included), exit 1.
        (Err(error), Command::Check { json }) => {
            return check::invalid_configuration(&error, *json);
        }
        (Err(error), _) => return Err(error.into()),
    };
    // `check --json` owns stdout (where logs go): one document, nothing else.
    if !matches!(cli.command, Command::Health | Command::Check { json: true }) {
        telemetry::init(&settings.log);
    }
    match cli.command {
        Command::Serve => {
            let app = Application::build(&settings).await?;
            app.stop_on_signals();
            app.run_until_stopped()
                .await
                .context("the HTTP server failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let url = settings.database_url()?;
            let target = startup::connect_options(&settings)?;
            let applied = migrations::run_pending_showing_progress(&target)
                .await
                .with_context(|| format!("migrating {}", db::redacted_url(url)))?;
            if applied.is_empty() {
                println!("Database is up to date; no migration applied.");
            } else {
                println!(
                    "Applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { json } => check::run(&settings, json).await,
        Command::Token(command) => token::run(&settings, command).await,
        #[cfg(feature = "dev")]
        Command::Demo(args) => demo::run(settings, args).await,
        #[cfg(not(feature = "dev"))]
        Command::Demo(_) => anyhow::bail!(
            "`demo` is development tooling and is not built into this binary; \
             from a source checkout, run `cargo run --release --features dev -- demo`"
        ),
        Command::Health => Ok(health::probe(settings.server.listen.port()).await),
    }
}
