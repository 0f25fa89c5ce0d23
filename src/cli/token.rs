//! `token create|list|revoke`: the same hashing as request authentication.

use std::process::ExitCode;

use anyhow::{bail, Context};

use super::TokenCommand;
use crate::auth::token::{mint, TokenHasher};
use crate::config::Settings;
use crate::db;
use crate::db::repo::{orgs, tokens};
use crate::startup;

const MAX_NAME_LEN: usize = 100;

pub async fn run(settings: &Settings, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let url = settings.database_url()?;
    let mut conn = startup::connect_options(settings)?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", db::redacted_url(url)))?;
    match command {
        TokenCommand::Create { org, name } => {
            let hasher = TokenHasher::new(settings.encryption_key()?);
            let token = create(&mut conn, &hasher, org, &name).await?;
            eprintln!("Created SCIM token {name:?} for org {org}. It is shown once; store it in your IdP now:");
            println!("{token}");
        }
        TokenCommand::List { org } => {
            ensure_org(&mut conn, org).await?;
            let list = tokens::list(&mut conn, org).await?;
            if list.is_empty() {
                println!("Org {org} has no SCIM token.");
            }
            for token in list {
                let last_used = token
                    .last_used_at
                    .map(|t| format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S")))
                    .unwrap_or_else(|| "never".to_owned());
                println!(
                    "{}\tcreated {}Z\tlast used {last_used}",
                    token.name,
                    token.created_at.format("%Y-%m-%dT%H:%M:%S")
                );
            }
        }
        TokenCommand::Revoke { org, name } => {
            ensure_org(&mut conn, org).await?;
            if tokens::revoke(&mut conn, org, &name).await? == 0 {
                bail!("org {org} has no SCIM token named {name:?}");
            }
            println!("Revoked SCIM token {name:?} of org {org}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Mints and stores a token; returns the plaintext, which exists nowhere else.
pub async fn create(
    conn: &mut diesel_async::AsyncPgConnection,
    hasher: &TokenHasher,
    org: i32,
    name: &str,
) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        bail!("a token name must be 1 to {MAX_NAME_LEN} printable characters");
    }
    ensure_org(conn, org).await?;
    let minted = mint(hasher);
    tokens::insert(
        conn,
        org,
        name,
        &minted.hash,
        chrono::Utc::now().naive_utc(),
    )
    .await?;
    Ok(minted.token)
}

async fn ensure_org(conn: &mut diesel_async::AsyncPgConnection, org: i32) -> anyhow::Result<()> {
    if !orgs::exists(conn, org).await? {
        bail!("org {org} does not exist");
    }
    Ok(())
}
