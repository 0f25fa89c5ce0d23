//! `check`: a readable report of everything `serve` depends on.

use std::process::ExitCode;

use diesel::migration::MigrationSource;
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::auth::org_license_grant;
use crate::config::Settings;
use crate::db::repo::licenses;
use crate::db::{self, migrations, schema_check};
use crate::license;
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
