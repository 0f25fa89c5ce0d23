//! `demo`: the newcomer's one command. It builds a throw-away `scim_demo` database (app
//! fixture + migrations), an org with `--users` members, a token and a short-lived licence
//! signed by a key that exists only in this process, then runs the ordinary server on it and
//! prints `curl` lines to explore it with. It configures `serve`; it does not bypass any of
//! its checks. Built with the `dev` feature only.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use super::DemoArgs;
use crate::auth::token::TokenHasher;
use crate::config::{MetricsListen, Settings};
use crate::db::repo::orgs;
use crate::db::{migrations, ConnectOptions};
use crate::dev::database;
use crate::dev::license_issuer::EphemeralIssuer;
use crate::dev::seed;
use crate::license::LicenseClaims;
use crate::startup::Application;

const DEMO_LICENSE_HOURS: i64 = 8;
/// Seats beyond the seeded members, so that creating users works out of the box.
const SPARE_SEATS: u32 = 100;

pub async fn run(mut settings: Settings, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let server = database::locate().await?;
    println!("Using PostgreSQL: {}", server.describe());
    let url = server
        .recreate_database(&args.database)
        .await
        .context("creating the demo database")?;
    database::apply_app_schema(&url).await?;
    let target = ConnectOptions::from_url(&url, None)?;
    migrations::run_pending(&target).await?;

    let now = chrono::Utc::now();
    let mut conn = target.connect().await?;
    let org_id = orgs::create(&mut conn, "Demo Org", now.naive_utc()).await?;
    // A key from the environment (SOURCEBOT_ENCRYPTION_KEY) is kept, so that a script can sign
    // list cursors as the service does (tests/bench/run.sh); otherwise one for this run only.
    let encryption_key = match &settings.auth.encryption_key {
        Some(key) => key.expose_secret().to_owned(),
        None => hex::encode(rand::random::<[u8; 16]>()),
    };
    let token = super::token::create(
        &mut conn,
        &TokenHasher::new(encryption_key.as_bytes()),
        org_id,
        "demo",
    )
    .await?;
    if args.users > 0 {
        let started = std::time::Instant::now();
        seed::seed_members(&mut conn, org_id, args.users).await?;
        println!(
            "Seeded {} member(s) in {:.1} s",
            args.users,
            started.elapsed().as_secs_f64()
        );
    }
    drop(conn);

    let seats = args
        .seats
        .unwrap_or_else(|| args.users.saturating_add(SPARE_SEATS));
    let issuer = EphemeralIssuer::generate();
    let license_key = issuer.sign(&LicenseClaims {
        sub: Some("demo".to_owned()),
        exp: now.timestamp() + DEMO_LICENSE_HOURS * 3600,
        nbf: None,
        iat: Some(now.timestamp()),
        entitlements: vec!["scim".to_owned()],
        seats: Some(seats),
    });
    let key_dir = std::env::temp_dir().join(format!("scim-sidecar-demo-{}", std::process::id()));
    std::fs::create_dir_all(&key_dir)?;
    let public_key_file = key_dir.join("license-public.pem");
    std::fs::write(&public_key_file, issuer.public_key_pem())?;

    let listen = available_address(args.listen)?;
    let base_url = format!("http://{listen}/scim/v2");
    settings.server.listen = listen;
    if let MetricsListen::On(metrics) = settings.metrics.listen {
        // Beside the demo's own address, and on another port when the usual one is taken.
        let wanted = SocketAddr::new(listen.ip(), metrics.port());
        settings.metrics.listen = MetricsListen::On(available_address(wanted)?);
    }
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
         \n  Org:           {org_id} (\"Demo Org\"), {} member(s), licence valid {DEMO_LICENSE_HOURS} h, {seats} seats\
         \n  Health:        http://{listen}/healthz  http://{listen}/readyz\
         \n\n{}",
        args.users,
        try_lines(&base_url, &token, args.users)
    );
    app.stop_on_signals();
    app.run_until_stopped().await?;
    std::fs::remove_dir_all(&key_dir).ok();
    Ok(ExitCode::SUCCESS)
}

/// Ready-to-paste `curl` lines: list, filter by userName, create, deactivate, discovery. With
/// seeded members the filter and the deactivation name member 1; without, the user the create
/// line makes.
fn try_lines(base_url: &str, token: &str, users: u32) -> String {
    let auth = format!("curl -sS -H 'Authorization: Bearer {token}'");
    let json = "-H 'Content-Type: application/scim+json'";
    let new_user = "new.person@demo.example";
    let (who, target, deactivate_note) = if users > 0 {
        let id = seed::member_id(1);
        (
            seed::member_user_name(1),
            format!("{base_url}/Users/{id}"),
            format!("deactivate {id} (PATCH active false)"),
        )
    } else {
        (
            new_user.to_owned(),
            format!("{base_url}/Users/ID"),
            "deactivate it (PATCH active false; put the id from the create answer in place of ID)"
                .to_owned(),
        )
    };
    let create = format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{new_user}","name":{{"givenName":"New","familyName":"Person"}},"emails":[{{"value":"{new_user}","type":"work","primary":true}}],"active":true}}"#
    );
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}"#;
    format!(
        "Try (ready to paste):\n\
         \n  # list the first members\
         \n  {auth} '{base_url}/Users?count=5'\n\
         \n  # find one by userName\
         \n  {auth} -G '{base_url}/Users' --data-urlencode 'filter=userName eq \"{who}\"'\n\
         \n  # create a user\
         \n  {auth} {json} '{base_url}/Users' -d '{create}'\n\
         \n  # {deactivate_note}\
         \n  {auth} {json} -X PATCH '{target}' -d '{patch}'\n\
         \n  # what the service supports\
         \n  {auth} '{base_url}/ServiceProviderConfig'\n"
    )
}

/// The requested address, or another port on the same IP when it is taken.
fn available_address(requested: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(requested)
        .or_else(|_| TcpListener::bind(SocketAddr::new(requested.ip(), 0)))
        .with_context(|| format!("cannot listen on {}", requested.ip()))?;
    Ok(listener.local_addr()?)
}
