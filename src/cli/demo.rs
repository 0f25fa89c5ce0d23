//! `demo`: the newcomer's one command. It builds a throw-away `scim_demo` database (app
//! fixture + migrations), an org, a token and a short-lived licence signed by a key that
//! exists only in this process, then runs the ordinary server on it. It configures `serve`;
//! it does not bypass any of its checks. Built with the `dev` feature only.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use anyhow::Context;
use secrecy::SecretString;

use super::DemoArgs;
use crate::auth::token::TokenHasher;
use crate::config::Settings;
use crate::db::repo::orgs;
use crate::db::{migrations, ConnectOptions};
use crate::dev::database;
use crate::dev::license_issuer::EphemeralIssuer;
use crate::license::LicenseClaims;
use crate::startup::Application;

const DEMO_DATABASE: &str = "scim_demo";
const DEMO_LICENSE_HOURS: i64 = 8;

pub async fn run(mut settings: Settings, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let server = database::locate().await?;
    println!("Using PostgreSQL: {}", server.describe());
    let url = server
        .recreate_database(DEMO_DATABASE)
        .await
        .context("creating the demo database")?;
    database::apply_app_schema(&url).await?;
    let target = ConnectOptions::from_url(&url, None)?;
    migrations::run_pending(&target).await?;

    let now = chrono::Utc::now();
    let mut conn = target.connect().await?;
    let org_id = orgs::create(&mut conn, "Demo Org", now.naive_utc()).await?;
    let encryption_key = hex::encode(rand::random::<[u8; 16]>());
    let token = super::token::create(
        &mut conn,
        &TokenHasher::new(encryption_key.as_bytes()),
        org_id,
        "demo",
    )
    .await?;
    drop(conn);

    let issuer = EphemeralIssuer::generate();
    let license_key = issuer.sign(&LicenseClaims {
        sub: Some("demo".to_owned()),
        exp: now.timestamp() + DEMO_LICENSE_HOURS * 3600,
        nbf: None,
        iat: Some(now.timestamp()),
        entitlements: vec!["scim".to_owned()],
        seats: Some(args.seats),
    });
    let key_dir = std::env::temp_dir().join(format!("scim-sidecar-demo-{}", std::process::id()));
    std::fs::create_dir_all(&key_dir)?;
    let public_key_file = key_dir.join("license-public.pem");
    std::fs::write(&public_key_file, issuer.public_key_pem())?;

    let seats = args.seats;
    let listen = available_address(args.listen)?;
    let base_url = format!("http://{listen}/scim/v2");
    settings.server.listen = listen;
    settings.server.enabled = true;
    settings.server.public_url = Some(base_url.parse()?);
    settings.database.url = Some(SecretString::from(url));
    settings.database.migrate_on_start = false;
    settings.auth.encryption_key = Some(SecretString::from(encryption_key));
    settings.license.key = Some(SecretString::from(license_key));
    settings.license.public_key_file = Some(public_key_file);
    settings.license.algorithm = "EdDSA".to_owned();

    let app = Application::build(&settings).await?;
    println!(
        "\nscim-sidecar demo is running (Ctrl-C stops it).\n\
         \n  SCIM base URL: {base_url}\
         \n  Bearer token:  {token}\
         \n  Org:           {org_id} (\"Demo Org\"), licence valid {DEMO_LICENSE_HOURS} h, {seats} seats\
         \n  Health:        http://{listen}/healthz  http://{listen}/readyz\
         \n\nTry:\n  curl -H \"Authorization: Bearer {token}\" {base_url}/ServiceProviderConfig\n"
    );
    app.stop_on_signals();
    app.run_until_stopped().await?;
    std::fs::remove_dir_all(&key_dir).ok();
    Ok(ExitCode::SUCCESS)
}

/// The requested address, or another port on the same IP when it is taken.
fn available_address(requested: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(requested)
        .or_else(|_| TcpListener::bind(SocketAddr::new(requested.ip(), 0)))
        .with_context(|| format!("cannot listen on {}", requested.ip()))?;
    Ok(listener.local_addr()?)
}
