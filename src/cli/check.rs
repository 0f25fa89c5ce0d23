//! `check`: a readable report of everything `serve` depends on.

use std::process::ExitCode;

use diesel::migration::MigrationSource;
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::auth::org_license_grant;
use crate::config::Settings;
use crate::db::repo::{app_release, licenses, orgs};
use crate::db::{self, migrations, schema_check};
use crate::license;
use crate::provisioning::modes::{self, ModeState};
use crate::provisioning::DeprovisionMode;
use crate::startup;

#[derive(Default)]
struct Report {
    failures: usize,
}

impl Report {
    fn ok(&mut self, topic: &str, text: impl AsRef<str>) {
        println!("  [ok]   {topic}: {}", text.as_ref());
    }
    fn warn(&mut self, topic: &str, text: impl AsRef<str>) {
        println!("  [warn] {topic}: {}", text.as_ref());
    }
    fn fail(&mut self, topic: &str, text: impl AsRef<str>) {
        self.failures += 1;
        println!("  [FAIL] {topic}: {}", text.as_ref());
    }
}

pub async fn run(settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    println!("scim-sidecar {} check", env!("CARGO_PKG_VERSION"));
    report.ok(
        "configuration",
        format!(
            "listen {}, SCIM {}",
            settings.server.listen,
            if settings.server.enabled {
                "enabled"
            } else {
                "DISABLED (SCIM_ENABLED=false)"
            }
        ),
    );
    match &settings.server.public_url {
        Some(url) => report.ok("public URL", url.as_str()),
        None => report.warn(
            "public URL",
            "SCIM_PUBLIC_URL is not set: locations are built from each request's Host header",
        ),
    }
    match settings.encryption_key() {
        Ok(_) => report.ok("encryption key", "set"),
        Err(error) => report.fail("encryption key", error.to_string()),
    }
    check_license(settings, &mut report);

    match settings
        .database_url()
        .and_then(|url| Ok((url, startup::connect_options(settings)?)))
    {
        Err(error) => report.fail("database", error.to_string()),
        Ok((url, target)) => match target.connect().await {
            Err(error) => report.fail(
                "database",
                format!("cannot connect to {}: {error}", db::redacted_url(url)),
            ),
            Ok(mut conn) => check_database(&mut conn, url, settings, &mut report).await,
        },
    }

    if report.failures == 0 {
        println!("All checks passed.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} check(s) failed.", report.failures);
        Ok(ExitCode::FAILURE)
    }
}

fn check_license(settings: &Settings, report: &mut Report) {
    let algorithm = match license::configured_algorithm(&settings.license) {
        Ok(algorithm) => algorithm,
        Err(error) => return report.fail("licence", error.to_string()),
    };
    match license::load_configured(&settings.license, algorithm, license::now_ms()) {
        Ok(Some(claims)) => report.ok(
            "licence",
            format!(
                "key {} ({}), expires {}, entitlements [{}], seats {}",
                claims.sub.as_deref().unwrap_or("without id"),
                settings.license.algorithm,
                license::format_unix(claims.exp),
                claims.entitlements.join(", "),
                claims.seats.map_or("unlimited".to_owned(), |s| s.to_string())
            ),
        ),
        Ok(None) => report.warn(
            "licence",
            "no licence key configured (SCIM_LICENSE_KEY); only orgs whose \"License\" row grants scim can provision",
        ),
        Err(error) => report.fail("licence", error.to_string()),
    }
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn check_database(
    conn: &mut AsyncPgConnection,
    url: &str,
    settings: &Settings,
    report: &mut Report,
) {
    // Raw SQL in `check`: one-off diagnostics and catalogue reads, never on a request path.
    let version = diesel::sql_query("SELECT current_setting('server_version') AS version")
        .get_result::<Version>(conn)
        .await
        .map(|v| v.version)
        .unwrap_or_else(|_| "unknown version".to_owned());
    report.ok(
        "database",
        format!(
            "reachable at {} (PostgreSQL {version})",
            db::redacted_url(url)
        ),
    );

    match schema_check::check_schema(conn).await {
        Ok(schema) if schema.is_ok() => report.ok(
            "schema",
            "every table and column the service uses is present",
        ),
        Ok(schema) => report.fail("schema", format!("\n{}", schema.describe().trim_end())),
        Err(error) => report.fail("schema", format!("cannot read the catalogue: {error}")),
    }

    match pending_migrations(conn).await {
        Ok(pending) if pending.is_empty() => report.ok("migrations", "all applied"),
        Ok(pending) => report.warn(
            "migrations",
            format!(
                "{} pending ({}): run `scim-sidecar migrate`",
                pending.len(),
                pending.join(", ")
            ),
        ),
        Err(error) => report.fail("migrations", format!("cannot read the history: {error}")),
    }

    match schema_check::address_lookup(conn).await {
        Ok(lookup) => match lookup.advice() {
            None => report.ok(
                "address lookups",
                format!(
                    "index {} ready; lower() folds letters beyond ASCII (LC_CTYPE {})",
                    schema_check::ADDRESS_INDEX,
                    lookup.ctype
                ),
            ),
            Some(advice) => report.warn("address lookups", advice),
        },
        Err(error) => report.warn(
            "address lookups",
            format!("cannot read the catalogue: {error}"),
        ),
    }

    check_deprovisioning(conn, settings, report).await;

    if settings.license.key.is_none() {
        // The gate's own rule, so that this count and the requests agree.
        let now = chrono::Utc::now().naive_utc();
        match licenses::all(conn).await {
            Ok(rows) => {
                let granted = rows
                    .iter()
                    .filter(|row| org_license_grant(row, now).is_some())
                    .count();
                report.ok(
                    "org licences",
                    format!("{granted} org(s) have a \"License\" row that grants scim"),
                );
            }
            Err(error) => report.warn(
                "org licences",
                format!("cannot read the \"License\" rows: {error}"),
            ),
        }
    }
}

/// Which deprovisioning mode `serve` would choose and why; and, beside an app that ignores
/// `isActive`, the orgs a removed person could rejoin by signing in.
async fn check_deprovisioning(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    report: &mut Report,
) {
    let release = match app_release::read(conn).await {
        Ok(release) => release,
        Err(error) => {
            report.warn(
                "deprovisioning",
                format!("cannot read the app's migration history: {error}"),
            );
            return;
        }
    };
    let configured = ModeState::new(settings.provisioning.deprovision_mode).configured();
    let decision = modes::decide(configured, &release);
    let summary = format!("{} ({})", modes::mode_name(decision.mode), decision.reason);
    match &decision.warning {
        None => report.ok("deprovisioning", summary),
        Some(warning) => report.warn("deprovisioning", format!("{summary}; {warning}")),
    }
    if decision.mode != DeprovisionMode::Remove {
        return;
    }
    let open = match orgs::has_member_approval(conn).await {
        Ok(true) => orgs::open_orgs_with_tokens(conn).await,
        Ok(false) => {
            report.warn(
                "member approval",
                "this app version has no member approval setting: make sure people cannot join an org by signing in, or a removed person can come back",
            );
            return;
        }
        Err(error) => Err(error),
    };
    match open {
        Ok(open) if open.is_empty() => report.ok(
            "member approval",
            "every org with a SCIM token requires approval to join",
        ),
        Ok(open) => {
            let names: Vec<String> = open
                .iter()
                .map(|(id, name)| format!("{name} (id {id})"))
                .collect();
            let fix = if settings.provisioning.require_member_approval {
                "the service turns it on at each org's next SCIM request (provisioning.require_member_approval)"
            } else {
                "turn member approval on in the app's org settings, or set SCIM__PROVISIONING__REQUIRE_MEMBER_APPROVAL=true to let the service do it"
            };
            report.warn(
                "member approval",
                format!(
                    "{} let(s) people join without approval, so a person removed by SCIM can rejoin by signing in: {fix}",
                    names.join(", ")
                ),
            );
        }
        Err(error) => report.warn("member approval", format!("cannot read the orgs: {error}")),
    }
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Read without creating diesel's history table, so `check` never writes.
async fn pending_migrations(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<String>> {
    let history = format!("{}.__diesel_schema_migrations", migrations::SERVICE_SCHEMA);
    let exists: Count = diesel::sql_query(format!(
        "SELECT count(*) AS count FROM pg_class WHERE oid = to_regclass('{history}')"
    ))
    .get_result(conn)
    .await?;
    let applied: Vec<String> = if exists.count == 0 {
        Vec::new()
    } else {
        diesel::sql_query(format!("SELECT version::text AS version FROM {history}"))
            .load::<AppliedVersion>(conn)
            .await?
            .into_iter()
            .map(|v| v.version)
            .collect()
    };
    let known = MigrationSource::<diesel::pg::Pg>::migrations(&migrations::MIGRATIONS)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(known
        .iter()
        .map(|m| m.name().version().to_string())
        .filter(|version| !applied.contains(version))
        .collect())
}
