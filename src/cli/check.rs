//! `check`: a doctor's report of everything `serve` and the IdP depend on, each finding with
//! the fix for its problem; as text for people or, with `--json`, one document for machines
//! (its fields are documented in README, "check"). Secrets are never printed: the database
//! URL is redacted, the encryption and licence keys are only said to be set.
//!
//! Exit codes: 0 every check passed; 1 a failure (`serve` would refuse to start, or would fail
//! requests it should answer); 2 warnings only (`serve` runs, something deserves a look).

use std::process::ExitCode;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::migration::MigrationSource;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::org_license_grant;
use crate::config::{MetricsListen, Settings};
use crate::db::repo::app_release;
use crate::db::repo::licenses::OrgLicenseRow;
use crate::db::repo::orgs;
use crate::db::schema_check::{self, IndexState};
use crate::db::{self, migrations};
use crate::license::{self, LicenseClaims, LicenseError};
use crate::provisioning::modes::{self, ModeState};
use crate::provisioning::DeprovisionMode;
use crate::startup;

/// A licence key this close to its end is reported, so that it is renewed in time.
const EXPIRY_WARNING: TimeDelta = TimeDelta::days(14);

/// The oldest PostgreSQL the migrations run on (`normalize()` appeared in 13).
const MIN_SERVER_VERSION: i32 = 130000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the report. `id` is stable (the JSON document's key for machines); the text
/// report shows `label`.
#[derive(Debug, Serialize)]
struct Finding {
    id: &'static str,
    status: Status,
    summary: String,
    fix: Option<String>,
    details: Value,
}

#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn add(
        &mut self,
        id: &'static str,
        status: Status,
        summary: impl Into<String>,
        fix: Option<String>,
        details: Value,
    ) {
        self.findings.push(Finding {
            id,
            status,
            summary: summary.into(),
            fix,
            details,
        });
    }

    fn ok(&mut self, id: &'static str, summary: impl Into<String>, details: Value) {
        self.add(id, Status::Ok, summary, None, details);
    }

    fn warn(&mut self, id: &'static str, summary: impl Into<String>, fix: impl Into<String>) {
        self.add(id, Status::Warn, summary, Some(fix.into()), Value::Null);
    }

    fn fail(&mut self, id: &'static str, summary: impl Into<String>, fix: impl Into<String>) {
        self.add(id, Status::Fail, summary, Some(fix.into()), Value::Null);
    }

    /// Attaches details to the finding added last.
    fn with_details(&mut self, details: Value) {
        if let Some(last) = self.findings.last_mut() {
            last.details = details;
        }
    }

    fn status(&self) -> Status {
        self.findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    fn exit_code(&self) -> u8 {
        match self.status() {
            Status::Ok => 0,
            Status::Fail => 1,
            Status::Warn => 2,
        }
    }

    fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    fn print_text(&self) {
        println!("scim-sidecar {} check", env!("CARGO_PKG_VERSION"));
        for finding in &self.findings {
            let mark = match finding.status {
                Status::Ok => "[ok]  ",
                Status::Warn => "[warn]",
                Status::Fail => "[FAIL]",
            };
            println!("  {mark} {}: {}", label(finding.id), finding.summary);
            if let Some(fix) = &finding.fix {
                println!("         fix: {fix}");
            }
        }
        let (warnings, failures) = (self.count(Status::Warn), self.count(Status::Fail));
        match self.status() {
            Status::Ok => println!("All checks passed."),
            Status::Warn => println!(
                "No failure; {warnings} warning(s) (exit 2): `serve` runs, but see the fixes above."
            ),
            Status::Fail => println!(
                "{failures} check(s) failed, {warnings} warning(s) (exit 1): fix the failures before serving."
            ),
        }
    }

    fn print_json(&self) -> anyhow::Result<()> {
        let document = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "status": self.status(),
            "exit_code": self.exit_code(),
            "checks": self.findings,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
        Ok(())
    }
}

/// The text report's name for each finding id.
fn label(id: &str) -> &str {
    match id {
        "public_url" => "public URL",
        "encryption_key" => "encryption key",
        "address_index" => "address lookups",
        "deprovisioning" => "deprovisioning",
        "member_approval" => "member approval",
        other => other,
    }
}

pub async fn run(settings: &Settings, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    check_configuration(settings, &mut report);
    check_public_url(settings, &mut report);
    match settings.encryption_key() {
        Ok(_) => report.ok(
            "encryption_key",
            "set (never printed)",
            json!({ "set": true }),
        ),
        Err(error) => report.fail(
            "encryption_key",
            error.to_string(),
            "set SOURCEBOT_ENCRYPTION_KEY to the app's own SOURCEBOT_ENCRYPTION_KEY: token hashes are keyed with it",
        ),
    }
    let key = verify_license_key(settings);

    match settings
        .database_url()
        .and_then(|url| Ok((url, startup::connect_options(settings)?)))
    {
        Err(error) => {
            report.fail(
                "database",
                error.to_string(),
                "set DATABASE_URL to the app's PostgreSQL database (the app's own Prisma URL works)",
            );
            report_license(settings, &key, None, &mut report);
        }
        Ok((url, target)) => match target.connect().await {
            Err(error) => {
                report.fail(
                    "database",
                    format!("cannot connect to {}: {error}", db::redacted_url(url)),
                    "check DATABASE_URL (host, port, database, credentials, sslmode) and that PostgreSQL accepts connections from this host",
                );
                report_license(settings, &key, None, &mut report);
            }
            Ok(mut conn) => check_database(&mut conn, url, settings, &key, &mut report).await,
        },
    }

    if as_json {
        report.print_json()?;
    } else {
        report.print_text();
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// The report when the configuration does not load: nothing else can be checked.
pub fn invalid_configuration(
    error: &crate::config::SettingsError,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    report.fail(
        "configuration",
        error.to_string(),
        "correct the setting named above (README, \"Configuration\", lists each with its variables)",
    );
    if as_json {
        report.print_json()?;
    } else {
        report.print_text();
    }
    Ok(ExitCode::from(report.exit_code()))
}

fn check_configuration(settings: &Settings, report: &mut Report) {
    let metrics = match settings.metrics.listen {
        MetricsListen::On(address) => Some(address.to_string()),
        MetricsListen::Off => None,
    };
    let details = json!({
        "listen": settings.server.listen.to_string(),
        "metrics_listen": metrics,
        "scim_enabled": settings.server.enabled,
        "read_only": settings.server.read_only,
        "migrate_on_start": settings.database.migrate_on_start,
        "environment": std::env::var("SCIM_ENV").ok(),
    });
    let summary = format!(
        "valid; listen {}, metrics {}, SCIM {}",
        settings.server.listen,
        metrics.as_deref().unwrap_or("off"),
        if settings.server.enabled {
            "enabled"
        } else {
            "DISABLED"
        }
    );
    if !settings.server.enabled {
        report.warn(
            "configuration",
            format!("{summary}: every SCIM request answers 403 (SCIM_ENABLED=false)"),
            "set SCIM_ENABLED=true when provisioning should run again",
        );
        report.with_details(details);
    } else if settings.server.read_only {
        report.warn(
            "configuration",
            format!("{summary}, read-only: every write answers 503 (SCIM_READ_ONLY=true)"),
            "set SCIM_READ_ONLY=false (or remove it) and restart once the maintenance is over",
        );
        report.with_details(details);
    } else {
        report.ok("configuration", summary, details);
    }
}

/// The base URL the IdP is given, and what would make an IdP refuse it or resources point
/// elsewhere.
fn check_public_url(settings: &Settings, report: &mut Report) {
    let Some(url) = &settings.server.public_url else {
        report.warn(
            "public_url",
            "not set: resource locations are built from each request's scheme and Host header, which a proxy may change",
            "set SCIM_PUBLIC_URL to the SCIM base URL entered in the IdP, e.g. https://sourcebot.example.com/scim/v2",
        );
        report.with_details(json!({ "url": null, "users_endpoint": null }));
        return;
    };
    let base = url.as_str().trim_end_matches('/').to_owned();
    let details = json!({
        "url": base,
        "users_endpoint": format!("{base}/Users"),
    });
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    if url.scheme() != "https" && !loopback {
        report.warn(
            "public_url",
            format!("{base} is not https: Okta and Entra ID only provision over https"),
            "serve the SCIM base URL over https (TLS at the proxy) and set SCIM_PUBLIC_URL to it",
        );
    } else if !url.path().trim_end_matches('/').ends_with("/scim/v2") {
        report.warn(
            "public_url",
            format!("{base} does not end with /scim/v2, where the service answers"),
            "end SCIM_PUBLIC_URL with /scim/v2 (unless your proxy rewrites that path to the service's /scim/v2)",
        );
    } else {
        report.ok(
            "public_url",
            format!("{base} (enter it in the IdP as the SCIM base URL)"),
            details,
        );
        return;
    }
    report.with_details(details);
}

/// The configured licence key, verified as `serve` verifies it.
enum KeyState {
    Absent,
    Valid(LicenseClaims),
    /// What is wrong, and its fix.
    Refused(String, &'static str),
}

fn verify_license_key(settings: &Settings) -> KeyState {
    let algorithm = match license::configured_algorithm(&settings.license) {
        Ok(algorithm) => algorithm,
        Err(error) => {
            return KeyState::Refused(
                error.to_string(),
                "set SCIM__LICENSE__ALGORITHM to the algorithm of the vendor's key (EdDSA unless told otherwise)",
            )
        }
    };
    match license::load_configured(&settings.license, algorithm, license::now_ms()) {
        Ok(Some(claims)) => KeyState::Valid(claims),
        Ok(None) => KeyState::Absent,
        Err(error) => KeyState::Refused(error.to_string(), license_fix(&error)),
    }
}

fn license_fix(error: &LicenseError) -> &'static str {
    match error {
        LicenseError::PublicKeyUnreadable(..) | LicenseError::PublicKeyInvalid(_) => {
            "point SCIM_LICENSE_PUBLIC_KEY_FILE at the vendor's public key (PEM)"
        }
        LicenseError::WrongAlgorithm(_) | LicenseError::BadSignature => {
            "check that SCIM_LICENSE_KEY, SCIM_LICENSE_PUBLIC_KEY_FILE and SCIM__LICENSE__ALGORITHM come from the same vendor key"
        }
        LicenseError::Expired(_) | LicenseError::NotYetValid(_) => {
            "ask the vendor for a current key and set SCIM_LICENSE_KEY to it"
        }
        LicenseError::Malformed | LicenseError::NoScimEntitlement => {
            "set SCIM_LICENSE_KEY to a key that includes `scim` (or unset it to rely on the orgs' \"License\" rows)"
        }
    }
}

/// Seats in use, as the seat cap counts them (see `provisioning::ensure_seat_available`).
struct SeatUse {
    /// Distinct active users of the deployment (a licence key's seats).
    deployment: i64,
    orgs: Vec<OrgLicense>,
}

fn report_license(
    settings: &Settings,
    key: &KeyState,
    seats: Option<&SeatUse>,
    report: &mut Report,
) {
    match key {
        KeyState::Refused(problem, fix) => {
            report.fail("licence", problem.as_str(), *fix);
            report.with_details(json!({ "source": "licence_key" }));
        }
        KeyState::Valid(claims) => report_license_key(settings, claims, seats, report),
        KeyState::Absent => report_org_licences(seats, report),
    }
}

fn report_license_key(
    settings: &Settings,
    claims: &LicenseClaims,
    seats: Option<&SeatUse>,
    report: &mut Report,
) {
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
    let left = expires - chrono::Utc::now();
    let used = seats.map(|s| s.deployment);
    let available = claims
        .seats
        .zip(used)
        .map(|(cap, used)| (i64::from(cap) - used).max(0));
    let details = json!({
        "source": "licence_key",
        "id": claims.sub,
        "algorithm": settings.license.algorithm,
        "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "days_left": left.num_days(),
        "entitlements": claims.entitlements,
        "seats": claims.seats,
        "seats_used": used,
        "seats_available": available,
    });
    let seat_text = match (claims.seats, used) {
        (None, Some(used)) => format!("unlimited seats, {used} in use"),
        (None, None) => "unlimited seats".to_owned(),
        (Some(cap), Some(used)) => format!(
            "seats {cap}: {used} in use, {} available",
            available.unwrap_or(0)
        ),
        (Some(cap), None) => format!("seats {cap}"),
    };
    let summary = format!(
        "key {} ({}), entitlements [{}], expires {} (in {} day(s)), {seat_text}",
        claims.sub.as_deref().unwrap_or("without id"),
        settings.license.algorithm,
        claims.entitlements.join(", "),
        license::format_unix(claims.exp),
        left.num_days()
    );
    if left < EXPIRY_WARNING {
        report.warn(
            "licence",
            format!("{summary}: it expires soon, and provisioning stops then"),
            "ask the vendor for a renewed key and set SCIM_LICENSE_KEY to it",
        );
    } else if available == Some(0) {
        report.warn(
            "licence",
            format!("{summary}: no seat left, new and reactivated members are refused"),
            "deactivate people who left in the IdP, or get a key with more seats",
        );
    } else {
        report.ok("licence", summary, details);
        return;
    }
    report.with_details(details);
}

fn report_org_licences(seats: Option<&SeatUse>, report: &mut Report) {
    let Some(seats) = seats else {
        report.warn(
            "licence",
            "no licence key configured (SCIM_LICENSE_KEY), and the orgs' \"License\" rows cannot be read",
            "set SCIM_LICENSE_KEY and SCIM_LICENSE_PUBLIC_KEY_FILE, or fix the database first",
        );
        report.with_details(json!({ "source": "org_licence_rows", "orgs": [] }));
        return;
    };
    let orgs: Vec<Value> = seats
        .orgs
        .iter()
        .map(|org| {
            json!({
                "org_id": org.org_id,
                "org_name": org.org_name,
                "grants_scim": org.grants_scim(),
                "status": org.status,
                "seats": org.seats,
                "seats_used": org.active_members,
                "seats_available": org.seats.map(|cap| (i64::from(cap) - org.active_members).max(0)),
                "last_sync_at": org.last_sync_at.map(rfc3339),
            })
        })
        .collect();
    let details = json!({ "source": "org_licence_rows", "orgs": orgs });
    let granted: Vec<String> = seats
        .orgs
        .iter()
        .filter(|org| org.grants_scim())
        .map(|org| match org.seats {
            Some(cap) => format!(
                "{} (id {}): seats {cap}: {} in use, {} available",
                org.org_name,
                org.org_id,
                org.active_members,
                (i64::from(cap) - org.active_members).max(0)
            ),
            None => format!(
                "{} (id {}): unlimited seats, {} in use",
                org.org_name, org.org_id, org.active_members
            ),
        })
        .collect();
    let full: Vec<String> = seats
        .orgs
        .iter()
        .filter(|org| {
            org.grants_scim()
                && org
                    .seats
                    .is_some_and(|cap| org.active_members >= i64::from(cap))
        })
        .map(|org| format!("{} (id {})", org.org_name, org.org_id))
        .collect();
    if granted.is_empty() {
        report.warn(
            "licence",
            "no licence key configured (SCIM_LICENSE_KEY), and no org's \"License\" row grants scim: every SCIM request answers 403",
            "set SCIM_LICENSE_KEY and SCIM_LICENSE_PUBLIC_KEY_FILE, or let the app sync a licence that includes scim (status active, synced within 7 days)",
        );
    } else if !full.is_empty() {
        report.warn(
            "licence",
            format!(
                "the orgs' \"License\" rows grant scim to {}; no seat left in {}",
                granted.join("; "),
                full.join(", ")
            ),
            "deactivate people who left in the IdP, or raise the seats of the org's licence",
        );
    } else {
        report.ok(
            "licence",
            format!(
                "no licence key; the orgs' \"License\" rows grant scim to {}",
                granted.join("; ")
            ),
            details,
        );
        return;
    }
    report.with_details(details);
}

#[derive(QueryableByName)]
struct ServerFacts {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Integer)]
    version_num: i32,
    #[diesel(sql_type = Text)]
    ctype: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// An org's `"License"` row with its active members, as read.
#[derive(QueryableByName)]
struct OrgLicenseRead {
    #[diesel(sql_type = Integer)]
    org_id: i32,
    #[diesel(sql_type = Text)]
    org_name: String,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    entitlements: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<Integer>)]
    seats_row: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_sync_at: Option<NaiveDateTime>,
    #[diesel(sql_type = BigInt)]
    active_members: i64,
}

/// An org's `"License"` row: whether it grants scim now, and its seats.
struct OrgLicense {
    org_id: i32,
    org_name: String,
    status: Option<String>,
    seats: Option<u32>,
    last_sync_at: Option<NaiveDateTime>,
    active_members: i64,
    grant: bool,
}

impl OrgLicense {
    fn grants_scim(&self) -> bool {
        self.grant
    }
}

/// An org's SCIM tokens.
#[derive(QueryableByName)]
struct OrgTokens {
    #[diesel(sql_type = Integer)]
    org_id: i32,
    #[diesel(sql_type = Text)]
    org_name: String,
    #[diesel(sql_type = BigInt)]
    tokens: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_used_at: Option<NaiveDateTime>,
}

fn rfc3339(at: NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn readable(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn check_database(
    conn: &mut AsyncPgConnection,
    url: &str,
    settings: &Settings,
    key: &KeyState,
    report: &mut Report,
) {
    // Raw SQL in `check`: one-off diagnostics and catalogue reads, never on a request path.
    let facts = diesel::sql_query(
        "SELECT current_setting('server_version') AS version, \
                current_setting('server_version_num')::int AS version_num, \
                current_setting('lc_ctype') AS ctype",
    )
    .get_result::<ServerFacts>(conn)
    .await;
    let facts = match facts {
        Ok(facts) => facts,
        Err(error) => {
            report.fail(
                "database",
                format!("connected, but cannot read the server's settings: {error}"),
                "check that DATABASE_URL's role may log in and read pg_settings",
            );
            return report_license(settings, key, None, report);
        }
    };
    let ascii_only = matches!(facts.ctype.as_str(), "C" | "POSIX");
    let summary = format!(
        "reachable at {} (PostgreSQL {}, LC_CTYPE {})",
        db::redacted_url(url),
        facts.version,
        facts.ctype
    );
    let details = json!({
        "url": db::redacted_url(url),
        "server_version": facts.version,
        "lc_ctype": facts.ctype,
        "lower_folds_beyond_ascii": !ascii_only,
    });
    let status = if facts.version_num < MIN_SERVER_VERSION {
        report.fail(
            "database",
            format!("{summary}: the service needs PostgreSQL 13 or newer (its migrations use normalize())"),
            "upgrade PostgreSQL to 13 or newer",
        );
        Status::Fail
    } else if ascii_only {
        report.warn(
            "database",
            format!(
                "{summary}: lower() folds only ASCII letters under LC_CTYPE {}, so `Ünal@` and `ünal@` count as two addresses",
                facts.ctype
            ),
            "nothing to do while addresses are ASCII; otherwise move the database to one created with a UTF-8 LC_CTYPE such as C.UTF-8 (dump and restore)",
        );
        Status::Warn
    } else {
        Status::Ok
    };
    if status == Status::Ok {
        report.ok("database", summary, details);
    } else {
        report.with_details(details);
    }

    let schema_ok = check_schema(conn, report).await;
    let pending = check_migrations(conn, settings, report).await;
    check_address_index(conn, &pending, report).await;

    let seats = if schema_ok {
        seat_use(conn).await.ok()
    } else {
        None
    };
    report_license(settings, key, seats.as_ref(), report);
    // Both read the app's and the service's tables: without them, the schema's fix comes first.
    if schema_ok {
        check_deprovisioning(conn, settings, report).await;
        check_tokens(conn, key, seats.as_ref(), report).await;
    }
}

/// Whether every table and column the service uses is present.
async fn check_schema(conn: &mut AsyncPgConnection, report: &mut Report) -> bool {
    match schema_check::check_schema(conn).await {
        Ok(schema) if schema.is_ok() => {
            report.ok(
                "schema",
                "every table and column the service uses is present",
                json!({ "problems": [] }),
            );
            true
        }
        Ok(schema) => {
            let problems: Vec<String> = schema.problems.iter().map(ToString::to_string).collect();
            // `describe` lists the problems, then what to do about them.
            let fix: Vec<String> = schema
                .describe()
                .lines()
                .filter(|line| !line.trim_start().starts_with("- "))
                .map(|line| line.trim().to_owned())
                .collect();
            report.fail(
                "schema",
                format!(
                    "the database lacks what the service needs:\n           - {}",
                    problems.join("\n           - ")
                ),
                fix.join(" "),
            );
            report.with_details(json!({ "problems": problems }));
            false
        }
        Err(error) => {
            report.fail(
                "schema",
                format!("cannot read the catalogue: {error}"),
                "grant DATABASE_URL's role read access to information_schema and pg_catalog",
            );
            false
        }
    }
}

/// Returns the pending migrations' names.
async fn check_migrations(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    report: &mut Report,
) -> Vec<String> {
    match migration_state(conn).await {
        Ok((applied, pending)) if pending.is_empty() => {
            report.ok(
                "migrations",
                format!("all {applied} applied"),
                json!({ "applied": applied, "pending": [] }),
            );
            pending
        }
        Ok((applied, pending)) => {
            let summary = format!("{} pending: {}", pending.len(), pending.join(", "));
            if settings.database.migrate_on_start {
                report.warn(
                    "migrations",
                    format!("{summary}; `serve` applies them at start (database.migrate_on_start)"),
                    "nothing, or run `scim-sidecar migrate` now to apply them outside start-up",
                );
            } else {
                report.fail(
                    "migrations",
                    format!("{summary}: requests that need them would fail"),
                    "run `scim-sidecar migrate` (or set SCIM__DATABASE__MIGRATE_ON_START=true)",
                );
            }
            report.with_details(json!({ "applied": applied, "pending": pending }));
            pending
        }
        Err(error) => {
            report.fail(
                "migrations",
                format!("cannot read the migration history: {error}"),
                "grant DATABASE_URL's role read access to the scim_sidecar schema",
            );
            Vec::new()
        }
    }
}

/// The migration that builds the address index, and the statement it runs: once that
/// migration is recorded, `migrate` no longer builds the index, so a dropped or invalid index
/// is rebuilt by hand.
const ADDRESS_INDEX_MIGRATION: &str = "user_address_index";
const CREATE_ADDRESS_INDEX: &str = "CREATE INDEX CONCURRENTLY IF NOT EXISTS \
    scim_user_email_identity_idx ON public.\"User\" (translate(lower(normalize(email, NFKC)), 'ς', 'σ'));";

async fn check_address_index(
    conn: &mut AsyncPgConnection,
    pending: &[String],
    report: &mut Report,
) {
    let index = schema_check::ADDRESS_INDEX;
    let lookup = match schema_check::address_lookup(conn).await {
        Ok(lookup) => lookup,
        Err(error) => {
            return report.warn(
                "address_index",
                format!("cannot read the catalogue: {error}"),
                "grant DATABASE_URL's role read access to pg_catalog",
            )
        }
    };
    let state = match lookup.index {
        IndexState::Ready => "ready",
        IndexState::Invalid => "invalid",
        IndexState::Missing => "missing",
    };
    let details = json!({ "name": index, "state": state });
    let by_migrate = pending
        .iter()
        .any(|name| name.ends_with(ADDRESS_INDEX_MIGRATION));
    match lookup.index {
        IndexState::Ready => report.ok(
            "address_index",
            format!("index {index} ready: finding an app account by address uses it"),
            details,
        ),
        IndexState::Invalid => {
            report.warn(
                "address_index",
                format!("index {index} is invalid (an interrupted concurrent build) and unused: address lookups scan \"User\""),
                format!("rebuild it without blocking the app, in psql on DATABASE_URL: DROP INDEX CONCURRENTLY public.{index}; {CREATE_ADDRESS_INDEX}"),
            );
            report.with_details(details);
        }
        IndexState::Missing => {
            let fix = if by_migrate {
                "run `scim-sidecar migrate` (it builds the index CONCURRENTLY, without blocking the app)".to_owned()
            } else {
                format!("its migration is recorded as applied, so `migrate` will not build it again: in psql on DATABASE_URL, run {CREATE_ADDRESS_INDEX}")
            };
            report.warn(
                "address_index",
                format!("index {index} is missing: address lookups scan \"User\""),
                fix,
            );
            report.with_details(details);
        }
    }
}

async fn seat_use(conn: &mut AsyncPgConnection) -> diesel::QueryResult<SeatUse> {
    // Raw SQL, as the other reads of `check`: run once per invocation, so nothing to cache.
    let deployment: Count = diesel::sql_query(
        "SELECT count(DISTINCT \"userId\") AS count FROM public.\"UserToOrg\" WHERE \"isActive\"",
    )
    .get_result(conn)
    .await?;
    let rows: Vec<OrgLicenseRead> = diesel::sql_query(
        "SELECT o.id AS org_id, o.name AS org_name, l.entitlements, l.seats AS seats_row, \
                l.status, l.\"lastSyncAt\" AS last_sync_at, \
                (SELECT count(*) FROM public.\"UserToOrg\" m \
                 WHERE m.\"orgId\" = o.id AND m.\"isActive\") AS active_members \
         FROM public.\"License\" l JOIN public.\"Org\" o ON o.id = l.\"orgId\" \
         ORDER BY o.id",
    )
    .load(conn)
    .await?;
    // The gate's own rule, so that this report and the requests agree.
    let now = chrono::Utc::now().naive_utc();
    let orgs = rows
        .into_iter()
        .map(|read| {
            let row = OrgLicenseRow {
                entitlements: read.entitlements,
                seats: read.seats_row,
                status: read.status,
                last_sync_at: read.last_sync_at,
            };
            OrgLicense {
                org_id: read.org_id,
                org_name: read.org_name,
                grant: org_license_grant(&row, now).is_some(),
                seats: row.seats.and_then(|s| u32::try_from(s).ok()),
                status: row.status,
                last_sync_at: row.last_sync_at,
                active_members: read.active_members,
            }
        })
        .collect();
    Ok(SeatUse {
        deployment: deployment.count,
        orgs,
    })
}

/// Tokens per org, and orgs whose IdP holds a token that no licence lets through.
async fn check_tokens(
    conn: &mut AsyncPgConnection,
    key: &KeyState,
    seats: Option<&SeatUse>,
    report: &mut Report,
) {
    // Raw SQL, as the other reads of `check`: run once per invocation, so nothing to cache.
    let rows: Vec<OrgTokens> = match diesel::sql_query(
        "SELECT o.id AS org_id, o.name AS org_name, count(*) AS tokens, \
                max(t.\"lastUsedAt\") AS last_used_at \
         FROM public.\"ScimToken\" t JOIN public.\"Org\" o ON o.id = t.\"orgId\" \
         GROUP BY o.id, o.name ORDER BY o.id",
    )
    .load(conn)
    .await
    {
        Ok(rows) => rows,
        Err(error) => {
            return report.warn(
                "tokens",
                format!("cannot read \"ScimToken\": {error}"),
                "grant DATABASE_URL's role read access to \"ScimToken\"",
            )
        }
    };
    let licensed = |org_id: i32| match key {
        KeyState::Valid(_) => true,
        _ => seats.is_some_and(|s| s.orgs.iter().any(|o| o.org_id == org_id && o.grant)),
    };
    let orgs: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "org_id": row.org_id,
                "org_name": row.org_name,
                "tokens": row.tokens,
                "last_used_at": row.last_used_at.map(rfc3339),
                "licensed": licensed(row.org_id),
            })
        })
        .collect();
    let details = json!({ "orgs": orgs });
    if rows.is_empty() {
        report.warn(
            "tokens",
            "no org has a SCIM token: no IdP can connect yet",
            "create one per IdP: `scim-sidecar token create --org ID --name okta` (the token is printed once)",
        );
        return report.with_details(details);
    }
    let summary = rows
        .iter()
        .map(|row| {
            format!(
                "{} (id {}): {} token(s), last used {}",
                row.org_name,
                row.org_id,
                row.tokens,
                row.last_used_at.map_or("never".to_owned(), readable)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let unlicensed: Vec<String> = rows
        .iter()
        .filter(|row| !licensed(row.org_id))
        .map(|row| format!("{} (id {})", row.org_name, row.org_id))
        .collect();
    if unlicensed.is_empty() {
        report.ok("tokens", summary, details);
    } else {
        report.warn(
            "tokens",
            format!(
                "{summary}; no licence grants scim to {}, so their IdP gets 403",
                unlicensed.join(", ")
            ),
            "configure a licence key (SCIM_LICENSE_KEY), or let the app sync a licence that includes scim for these orgs",
        );
        report.with_details(details);
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
            return report.warn(
                "deprovisioning",
                format!("cannot read the app's migration history: {error}"),
                "grant DATABASE_URL's role read access to _prisma_migrations",
            );
        }
    };
    let configured = ModeState::new(settings.provisioning.deprovision_mode).configured();
    let decision = modes::decide(configured, &release);
    let summary = format!("{} ({})", modes::mode_name(decision.mode), decision.reason);
    let details = json!({
        "configured": configured.map_or("auto", modes::mode_name),
        "mode": modes::mode_name(decision.mode),
        "reason": decision.reason,
    });
    match &decision.warning {
        None => report.ok("deprovisioning", summary, details),
        Some(warning) => {
            report.warn("deprovisioning", summary, warning.clone());
            report.with_details(details);
        }
    }
    if decision.mode != DeprovisionMode::Remove {
        return;
    }
    let open = match orgs::has_member_approval(conn).await {
        Ok(true) => orgs::open_orgs_with_tokens(conn).await,
        Ok(false) => {
            return report.warn(
                "member_approval",
                "this app version has no member approval setting, so a person removed by SCIM can come back by signing in",
                "make sure people cannot join an org by signing in (e.g. restrict sign-up in the app)",
            );
        }
        Err(error) => Err(error),
    };
    match open {
        Ok(open) if open.is_empty() => report.ok(
            "member_approval",
            "every org with a SCIM token requires approval to join",
            json!({ "open_orgs": [] }),
        ),
        Ok(open) => {
            let names: Vec<String> = open
                .iter()
                .map(|(id, name)| format!("{name} (id {id})"))
                .collect();
            let fix = if settings.provisioning.require_member_approval {
                "nothing: the service turns it on at each org's next SCIM request (provisioning.require_member_approval)"
            } else {
                "turn member approval on in the app's org settings, or set SCIM__PROVISIONING__REQUIRE_MEMBER_APPROVAL=true to let the service do it"
            };
            report.warn(
                "member_approval",
                format!(
                    "{} let(s) people join without approval, so a person removed by SCIM can rejoin by signing in",
                    names.join(", ")
                ),
                fix,
            );
            let open: Vec<Value> = open
                .iter()
                .map(|(id, name)| json!({ "org_id": id, "org_name": name }))
                .collect();
            report.with_details(json!({ "open_orgs": open }));
        }
        Err(error) => report.warn(
            "member_approval",
            format!("cannot read the orgs: {error}"),
            "grant DATABASE_URL's role read access to \"Org\"",
        ),
    }
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

/// How many migrations are applied, and the names of those pending. Reads without creating
/// diesel's history table, so `check` never writes.
async fn migration_state(conn: &mut AsyncPgConnection) -> anyhow::Result<(usize, Vec<String>)> {
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
    let pending: Vec<String> = known
        .iter()
        .filter(|m| !applied.contains(&m.name().version().to_string()))
        .map(|m| m.name().to_string())
        .collect();
    Ok((known.len() - pending.len(), pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement `check` hands out is the migration's own.
    #[test]
    fn the_index_fix_builds_the_index_the_migration_builds() {
        let migration =
            include_str!("../../migrations/2026-11-29-000004_user_address_index/up.sql");
        let normalise = |sql: &str| sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let statement = normalise(CREATE_ADDRESS_INDEX);
        assert!(normalise(migration).contains(&statement), "{statement}");
        assert!(
            MigrationSource::<diesel::pg::Pg>::migrations(&migrations::MIGRATIONS)
                .unwrap()
                .iter()
                .any(|m| m.name().to_string().ends_with(ADDRESS_INDEX_MIGRATION))
        );
    }

    #[test]
    fn the_worst_finding_sets_the_exit_code() {
        let mut report = Report::default();
        report.ok("a", "fine", Value::Null);
        assert_eq!(report.exit_code(), 0);
        report.warn("b", "hm", "do this");
        assert_eq!(report.exit_code(), 2);
        report.fail("c", "broken", "do that");
        report.warn("d", "hm", "do this");
        assert_eq!(report.exit_code(), 1);
    }
}
