//! The binary as an operator runs it: `migrate`, `check`, `serve` refusals, `token …`,
//! `demo`.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::{
    eventually, until_connections_are_refused, TestDb, ENCRYPTION_KEY, MANIFEST_DIR,
};

const BIN: &str = env!("CARGO_BIN_EXE_scim-sidecar");

/// Runs the binary with a clean environment plus `vars` (so the developer's own variables
/// never leak in) and waits for it to exit.
fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    command(args, vars).output().expect("run scim-sidecar")
}

fn command(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(MANIFEST_DIR)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn db_vars(db: &TestDb) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.url.clone()),
        ("SOURCEBOT_ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
    ]
}

fn with<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The variables that serve `db` on `listen`.
fn serve_vars(db: &TestDb, listen: &str) -> Vec<(&'static str, String)> {
    let mut vars = db_vars(db);
    vars.push(("SCIM_LISTEN", listen.to_owned()));
    // Tests serve side by side: the metrics listener's default port would be taken.
    vars.push(("SCIM_METRICS_LISTEN", "127.0.0.1:0".to_owned()));
    vars
}

/// Starts `serve` in the background, its output discarded.
fn start_serve(vars: &[(&'static str, String)]) -> std::process::Child {
    command(&["serve"], &with(vars))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs `serve`, which is expected to stop by itself, and collects its output.
fn serve_until_exit(vars: &[(&'static str, String)]) -> Output {
    let serve = command(&["serve"], &with(vars))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_with_deadline(serve, Duration::from_secs(30))
}

#[tokio::test]
async fn migrate_twice_succeeds_and_creates_the_scim_additions() {
    let db = TestDb::with_app_schema().await;
    let vars = db_vars(&db);
    let first = run(&["migrate"], &with(&vars));
    assert!(first.status.success(), "{}", stderr(&first));
    // Not on a terminal: no progress drawn.
    assert_eq!(stderr(&first), "");
    let migrations = std::fs::read_dir(format!("{MANIFEST_DIR}/migrations"))
        .unwrap()
        .count();
    assert!(
        stdout(&first).contains(&format!("Applied {migrations} migration")),
        "{}",
        stdout(&first)
    );
    let second = run(&["migrate"], &with(&vars));
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("up to date"),
        "{}",
        stdout(&second)
    );
    assert_eq!(
        db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'UserToOrg' AND column_name IN ('isActive', 'scimExternalId')").await,
        2
    );
    assert_eq!(db.count("SELECT count(*) FROM pg_indexes WHERE indexname IN ('UserToOrg_orgId_scimExternalId_idx', 'ScimToken_orgId_idx')").await, 2);
    // Diesel's history lives in the service's schema, not the app's.
    assert_eq!(db.count("SELECT count(*) FROM pg_tables WHERE tablename = '__diesel_schema_migrations' AND schemaname = 'scim_sidecar'").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM pg_tables WHERE tablename = '__diesel_schema_migrations' AND schemaname = 'public'").await, 0);
    // Migrated, but no public URL, licence or token yet: warnings only.
    let check = run(&["check"], &with(&vars));
    assert_eq!(check.status.code(), Some(2), "{}", stdout(&check));
    assert!(
        stdout(&check).contains(&format!("[ok]   migrations: all {migrations} applied")),
        "{}",
        stdout(&check)
    );
}

#[tokio::test]
async fn migrate_succeeds_where_the_app_created_the_scim_additions_first() {
    let db = TestDb::with_app_schema().await;
    db.run_sql(include_str!("../fixtures/app-scim-additions.sql"))
        .await;
    let org = db.create_org("Acme").await;
    let token = db.create_token(org, "app-minted").await;
    let vars = db_vars(&db);
    let migrate = run(&["migrate"], &with(&vars));
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert!(run(&["migrate"], &with(&vars)).status.success());
    // Nothing the app created was replaced: its token row is still there.
    assert_eq!(db.count("SELECT count(*) FROM \"ScimToken\"").await, 1);
    assert!(!token.is_empty());
    let check = run(&["check"], &with(&vars));
    assert_eq!(check.status.code(), Some(2), "{}", stdout(&check));
}

#[tokio::test]
async fn check_and_serve_refuse_a_database_without_the_app_tables() {
    let db = TestDb::empty().await;
    let vars = serve_vars(&db, "127.0.0.1:0");
    let check = run(&["check"], &with(&vars));
    assert!(!check.status.success());
    let report = stdout(&check);
    for table in [
        "Org",
        "User",
        "UserToOrg",
        "ApiKey",
        "OAuthToken",
        "OAuthRefreshToken",
        "OAuthAuthorizationCode",
        "Audit",
        "License",
        "ScimToken",
    ] {
        assert!(
            report.contains(&format!("table public.\"{table}\" is missing")),
            "{table}: {report}"
        );
    }
    let output = serve_until_exit(&vars);
    assert!(!output.status.success());
    let message = stderr(&output);
    for table in ["Org", "User", "UserToOrg", "ScimToken"] {
        assert!(
            message.contains(&format!("table public.\"{table}\" is missing")),
            "{table}: {message}"
        );
    }
}

#[tokio::test]
async fn serve_refuses_missing_scim_additions_and_names_the_fix() {
    let db = TestDb::with_app_schema().await;
    let vars = serve_vars(&db, "127.0.0.1:0");
    let output = serve_until_exit(&vars);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("column \"UserToOrg\".\"isActive\" is missing"),
        "{message}"
    );
    assert!(message.contains("scim-sidecar migrate"), "{message}");
}

#[tokio::test]
async fn serve_migrates_on_start_when_configured() {
    let db = TestDb::with_app_schema().await;
    let mut vars = serve_vars(&db, "127.0.0.1:0");
    vars.push(("SCIM__DATABASE__MIGRATE_ON_START", "true".into()));
    let mut serve = start_serve(&vars);
    let migrated = eventually(Duration::from_secs(30), || async {
        db.count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'ScimToken'")
            .await
            == 1
    })
    .await;
    assert!(migrated.is_some(), "serve did not apply migrations");
    assert!(
        serve.try_wait().unwrap().is_none(),
        "serve exited after migrating"
    );
    terminate(&mut serve);
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm_and_the_health_probe_follows_it() {
    let db = TestDb::migrated().await;
    let port = free_port();
    let vars = serve_vars(&db, &format!("127.0.0.1:{port}"));
    let mut serve = start_serve(&vars);
    wait_until_serving(&reqwest::Client::new(), port).await;
    let listen = format!("127.0.0.1:{port}");
    let probe = run(&["health"], &[("SCIM_LISTEN", &listen)]);
    assert!(probe.status.success(), "{}", stderr(&probe));
    let status = terminate(&mut serve);
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let probe = run(&["health"], &[("SCIM_LISTEN", &listen)]);
    assert!(
        !probe.status.success(),
        "health probe passed with the server stopped"
    );
}

#[tokio::test]
async fn invalid_configuration_stops_start_up_naming_the_setting() {
    let db = TestDb::migrated().await;
    let vars = serve_vars(&db, "localhost-eighty");
    let output = run(&["serve"], &with(&vars));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("SCIM_LISTEN"),
        "{}",
        stderr(&output)
    );

    let missing = run(&["serve"], &[("SCIM_LISTEN", "127.0.0.1:0")]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("DATABASE_URL"),
        "{}",
        stderr(&missing)
    );

    let secret_url = format!("{}?password=hunter2", db.url);
    let no_key = run(
        &["serve"],
        &[
            ("DATABASE_URL", &secret_url),
            ("SCIM_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!no_key.status.success());
    assert!(
        stderr(&no_key).contains("SOURCEBOT_ENCRYPTION_KEY"),
        "{}",
        stderr(&no_key)
    );
    assert!(!stderr(&no_key).contains("hunter2"));
}

#[tokio::test]
async fn token_create_prints_a_token_once_and_stores_only_its_app_compatible_hash() {
    let db = TestDb::migrated().await;
    let org = db.create_org("Acme").await;
    let vars = db_vars(&db);
    let org_arg = org.to_string();
    let created = run(
        &["token", "create", "--org", &org_arg, "--name", "okta"],
        &with(&vars),
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let out = stdout(&created);
    let token = out.lines().last().expect("token line").trim().to_owned();
    let secret = token.strip_prefix("sbscim_").expect("sbscim_ prefix");
    assert_eq!(secret.len(), 64);
    // The stored hash is the app's: hex(HMAC-SHA256(key, secret)).
    let expected = {
        use hmac::{KeyInit, Mac};
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(ENCRYPTION_KEY.as_bytes()).unwrap();
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let stored = db
        .text(&format!(
            "SELECT hash FROM \"ScimToken\" WHERE \"orgId\" = {org}"
        ))
        .await;
    assert_eq!(stored.as_deref(), Some(expected.as_str()));
    assert_eq!(db.count(&format!("SELECT count(*) FROM \"ScimToken\" WHERE hash LIKE '%{secret}%' OR name LIKE '%{secret}%'")).await, 0);

    let duplicate = run(
        &["token", "create", "--org", &org_arg, "--name", "okta"],
        &with(&vars),
    );
    assert!(!duplicate.status.success());
    assert!(
        stderr(&duplicate).contains("already has a SCIM token named"),
        "{}",
        stderr(&duplicate)
    );
    assert_eq!(db.count("SELECT count(*) FROM \"ScimToken\"").await, 1);

    let list = run(&["token", "list", "--org", &org_arg], &with(&vars));
    assert!(list.status.success());
    assert!(stdout(&list).contains("okta"));
    assert!(stdout(&list).contains("last used never"));
    assert!(!stdout(&list).contains(secret));

    let unknown_org = run(
        &["token", "create", "--org", "999999", "--name", "x"],
        &with(&vars),
    );
    assert!(!unknown_org.status.success());
    assert!(stderr(&unknown_org).contains("org 999999 does not exist"));

    let revoke = run(
        &["token", "revoke", "--org", &org_arg, "--name", "okta"],
        &with(&vars),
    );
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    assert_eq!(db.count("SELECT count(*) FROM \"ScimToken\"").await, 0);
    let again = run(
        &["token", "revoke", "--org", &org_arg, "--name", "okta"],
        &with(&vars),
    );
    assert!(!again.status.success());
}

fn wait_with_deadline(mut child: std::process::Child, deadline: Duration) -> Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    // SAFETY: sending a signal to a child process we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("process ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A migrated database with an org, its token "okta", and the variables that serve it on a
/// free port with a valid licence.
struct Licensed {
    db: TestDb,
    token: String,
    port: u16,
    vars: Vec<(&'static str, String)>,
}

async fn licensed() -> Licensed {
    let db = TestDb::migrated().await;
    let org = db.create_org("Acme").await;
    let token = db.create_token(org, "okta").await;
    let (issuer, public_key) = crate::helpers::issuer();
    let port = free_port();
    let mut vars = serve_vars(&db, &format!("127.0.0.1:{port}"));
    vars.push((
        "SCIM_LICENSE_KEY",
        issuer.sign(&crate::helpers::valid_claims()),
    ));
    vars.push((
        "SCIM_LICENSE_PUBLIC_KEY_FILE",
        public_key.display().to_string(),
    ));
    Licensed {
        db,
        token,
        port,
        vars,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_serving(client: &reqwest::Client, port: u16) {
    let serving = eventually(Duration::from_secs(30), || async {
        client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(serving.is_some(), "serve never answered /healthz");
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    use diesel_async::SimpleAsyncConnection;
    let Licensed {
        db,
        token,
        port,
        vars,
    } = licensed().await;
    let mut serve = start_serve(&vars);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&client, port).await;

    // Hold a lock that the list query must wait for, so the request is in flight.
    let mut blocker = db.lock_table("User").await;
    let in_flight = tokio::spawn(
        client
            .get(format!("{base}/scim/v2/Users"))
            .bearer_auth(token)
            .send(),
    );
    db.until_a_query_waits_for_a_lock().await;
    // SAFETY: sending a signal to a child process we own.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    // The listener closes once the signal is handled; the process must stay for the request.
    until_connections_are_refused(&base).await;
    assert!(
        serve.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    blocker.batch_execute("COMMIT").await.unwrap();
    let answer = in_flight.await.unwrap().expect("an answer");
    assert_eq!(answer.status().as_u16(), 200);
    // Nothing else is in flight: the process ends by itself, without a second signal.
    let exited = wait_with_deadline(serve, Duration::from_secs(15));
    assert!(exited.status.success(), "{}", exited.status);
}

/// Sends raw bytes to the server on `port` and returns what it answered before closing (or
/// within five seconds).
async fn raw_exchange(port: u16, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn logs_never_contain_tokens_e_mails_or_bodies_even_at_trace_level() {
    let Licensed {
        db,
        token,
        port,
        mut vars,
    } = licensed().await;
    vars.push(("SCIM_LOG_FORMAT", "json".into()));
    vars.push(("RUST_LOG", "trace".into()));
    // Logs go to a file: at trace level a pipe nobody reads would fill up and stall the server.
    let log_path = std::env::temp_dir().join(format!("scim-log-test-{}.log", db.name));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut serve = command(&["serve"], &with(&vars))
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&client, port).await;

    let created = client
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(&token)
        .header("user-agent", "Okta SCIM Client 1.0.0")
        .json(&crate::helpers::okta_user(
            "secret.person@example.com",
            "ext-secret",
            "Privy",
            "Person",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let found = client
        .get(format!("{base}/scim/v2/Users"))
        .query(&[("filter", "userName eq \"secret.person@example.com\"")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(found.status().as_u16(), 200);
    let refused = client
        .get(format!("{base}/scim/v2/Users"))
        .bearer_auth("sbscim_0000000000000000000000000000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // An address where an id goes, and in a query string: neither path nor query is logged.
    let by_address = client
        .get(format!(
            "{base}/scim/v2/Users/secret.person%40example.com?note=secret.person@example.com"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_address.status().as_u16(), 404);
    // Client errors, before and after authentication: never logged at ERROR.
    for path in ["/scim/v2/Me", "/scim/v2/Bulk"] {
        let refused = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 501);
    }
    let huge_header = raw_exchange(
        port,
        &format!(
            "GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(300_000)
        ),
    )
    .await;
    assert!(huge_header.starts_with("HTTP/1.1 431"), "{huge_header}");
    let long_uri = raw_exchange(
        port,
        &format!(
            "GET /scim/v2/{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(300_000)
        ),
    )
    .await;
    assert!(long_uri.starts_with("HTTP/1.1 431"), "{long_uri}");
    let bad_header = raw_exchange(
        port,
        "GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    )
    .await;
    assert!(bad_header.starts_with("HTTP/1.1 400"), "{bad_header}");
    let status = terminate(&mut serve);
    assert!(status.success());
    let logs = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_file(&log_path).ok();
    assert!(
        logs.contains("request finished"),
        "no request logs: {}",
        &logs[..logs.len().min(2000)]
    );
    assert!(
        logs.contains("\"http.route\":\"/scim/v2/Users/{id}\""),
        "no route pattern in the logs"
    );
    // One line per request, with who asked; one audit line per membership change.
    let created_line = logs
        .lines()
        .find(|line| line.contains("request finished") && line.contains("\"http.status\":201"))
        .expect("the create's request line");
    for field in [
        "\"request.id\":",
        "\"http.method\":\"POST\"",
        "\"http.route\":\"/scim/v2/Users\"",
        "\"latency_us\":",
        "\"org.id\":",
        "\"token.name\":\"okta\"",
        "\"idp\":\"okta\"",
    ] {
        assert!(
            created_line.contains(field),
            "{field} not in {created_line}"
        );
    }
    let audit_lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("membership changed"))
        .collect();
    assert_eq!(audit_lines.len(), 1, "{audit_lines:?}");
    for field in [
        "\"level\":\"INFO\"",
        "\"audit.action\":\"org.member_added\"",
        "\"provisioning.event\":\"created\"",
        "\"user.id\":",
        "\"org.id\":",
        "\"token.name\":\"okta\"",
    ] {
        assert!(
            audit_lines[0].contains(field),
            "{field} not in {}",
            audit_lines[0]
        );
    }
    let errors: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(
        errors.is_empty(),
        "client errors logged at ERROR: {errors:?}"
    );
    let secret = token.strip_prefix("sbscim_").unwrap();
    // Drivers print bound parameters as byte lists, e.g. [115, 101, 99, ...].
    let as_bytes = |text: &str| {
        text.bytes()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for needle in [as_bytes("secret.person"), as_bytes("ext-secret")] {
        assert!(
            !logs.contains(&needle),
            "the bytes of {needle:?} reached the logs"
        );
    }
    for needle in [
        "secret.person",
        "ext-secret",
        "Privy",
        secret,
        "0000000000000000000000000000000000000000",
        "1mP0ssible",
        "not-stored",
    ] {
        assert!(!logs.contains(needle), "{needle:?} reached the logs");
    }
}

#[tokio::test]
async fn check_says_which_deprovisioning_mode_applies_and_why() {
    let db = TestDb::with_app_schema().await;
    let vars = db_vars(&db);
    assert!(run(&["migrate"], &with(&vars)).status.success());
    let open = db.create_org("Open Org").await;
    db.create_token(open, "okta").await;
    db.run_sql(&format!(
        "UPDATE \"Org\" SET \"memberApprovalRequired\" = false WHERE id = {open}"
    ))
    .await;

    // Before the app's SCIM release: remove, and a warning naming the open org and the fix.
    let check = run(&["check"], &with(&vars));
    let report = stdout(&check);
    assert_eq!(check.status.code(), Some(2), "{report}");
    assert!(
        report.contains("[ok]   deprovisioning: remove (auto: the app's migration history has no *_add_scim_users_support migration"),
        "{report}"
    );
    assert!(
        report.contains("[warn] member approval: Open Org (id"),
        "{report}"
    );
    assert!(report.contains("turn member approval on"), "{report}");
    assert!(
        report.contains("[ok]   address lookups: index scim_user_email_identity_idx ready"),
        "{report}"
    );

    // Forcing deactivate there is warned about.
    let mut forced = vars.clone();
    forced.push(("SCIM_DEPROVISION_MODE", "deactivate".to_owned()));
    let report = stdout(&run(&["check"], &with(&forced)));
    assert!(
        report.contains("[warn] deprovisioning: deactivate (set by provisioning.deprovision_mode)"),
        "{report}"
    );
    assert!(report.contains("can still sign in"), "{report}");

    // With the app's SCIM release: deactivate, and no member approval warning.
    db.run_sql(
        "INSERT INTO \"_prisma_migrations\" (id, checksum, finished_at, migration_name, applied_steps_count) \
         VALUES ('00000000-0000-4000-8000-0000000000bb', 'x', now(), '20250801000000_add_scim_users_support', 1)",
    )
    .await;
    let report = stdout(&run(&["check"], &with(&vars)));
    assert!(
        report.contains("[ok]   deprovisioning: deactivate (auto: the app's migration history has 20250801000000_add_scim_users_support"),
        "{report}"
    );
    assert!(!report.contains("member approval"), "{report}");

    // An interrupted index build is reported with the fix.
    db.run_sql("DROP INDEX scim_user_email_identity_idx").await;
    let report = stdout(&run(&["check"], &with(&vars)));
    assert!(
        report.contains("[warn] address lookups: index scim_user_email_identity_idx is missing"),
        "{report}"
    );
}

/// `count` creates of distinct people, each on its own connection, started at once.
fn spawn_creates(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    count: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>> {
    (0..count)
        .map(|i| {
            let email = format!("stop{i}@example.com");
            tokio::spawn(
                client
                    .post(format!("{base}/scim/v2/Users"))
                    .bearer_auth(token)
                    // An idle kept-alive connection would hold the stop up until its timeout.
                    .header("connection", "close")
                    .json(&crate::helpers::okta_user(
                        &email,
                        &format!("00u-stop{i}"),
                        "Stop",
                        "Test",
                    ))
                    .send(),
            )
        })
        .collect()
}

/// Returns once `count` sessions of the service wait on a lock (table or advisory).
async fn until_sessions_wait(db: &TestDb, count: i64) {
    let waiting = eventually(Duration::from_secs(20), || async {
        db.service_sessions("waiting").await >= count
    })
    .await;
    assert!(
        waiting.is_some(),
        "fewer than {count} requests reached the database"
    );
}

#[tokio::test]
async fn sigterm_under_load_finishes_every_request_and_leaves_no_transaction_open() {
    use diesel_async::SimpleAsyncConnection;
    let Licensed {
        db,
        token,
        port,
        mut vars,
    } = licensed().await;
    vars.push(("SCIM__SERVER__SHUTDOWN_TIMEOUT_SECS", "30".into()));
    vars.push(("SCIM__DATABASE__POOL_MAX_SIZE", "24".into()));
    let mut serve = start_serve(&vars);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&client, port).await;

    let mut blocker = db.lock_table("UserToOrg").await;
    let creates = spawn_creates(&client, &base, &token, 20);
    until_sessions_wait(&db, 20).await;
    // SAFETY: sending a signal to a child process we own.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    until_connections_are_refused(&base).await;
    assert!(
        serve.try_wait().unwrap().is_none(),
        "exited with requests in flight"
    );
    blocker.batch_execute("COMMIT").await.unwrap();
    for create in creates {
        let response = create.await.unwrap().expect("an answer");
        assert_eq!(response.status().as_u16(), 201);
    }
    // Well inside the 30 s grace period: the last request ends the stop.
    let exited = wait_with_deadline(serve, Duration::from_secs(15));
    assert!(exited.status.success(), "{}", exited.status);
    assert_eq!(db.count("SELECT count(*) FROM \"UserToOrg\"").await, 20);
    let gone = eventually(Duration::from_secs(10), || async {
        db.count(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'scim-sidecar'",
        )
        .await
            == 0
    })
    .await;
    assert!(gone.is_some(), "the service left sessions behind");
}

#[tokio::test]
async fn sigterm_with_requests_past_the_grace_period_exits_in_time_and_writes_nothing() {
    use diesel_async::SimpleAsyncConnection;
    let Licensed {
        db,
        token,
        port,
        mut vars,
    } = licensed().await;
    vars.push(("SCIM__SERVER__SHUTDOWN_TIMEOUT_SECS", "2".into()));
    let serve = start_serve(&vars);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&client, port).await;

    let mut blocker = db.lock_table("UserToOrg").await;
    let creates = spawn_creates(&client, &base, &token, 5);
    until_sessions_wait(&db, 5).await;
    let signalled = std::time::Instant::now();
    // SAFETY: sending a signal to a child process we own.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let exited = wait_with_deadline(serve, Duration::from_secs(10));
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(6), "exited after {took:?}");
    assert!(exited.status.success(), "{}", exited.status);
    for create in creates {
        // Cut off: no answer, or a refusal; never a success.
        if let Ok(response) = create.await.unwrap() {
            assert_ne!(response.status().as_u16(), 201);
        }
    }
    // PostgreSQL ends the abandoned backends (their client is gone) without waiting for the
    // lock, and rolls their transactions back.
    let gone = eventually(Duration::from_secs(10), || async {
        db.count(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'scim-sidecar'",
        )
        .await
            == 0
    })
    .await;
    assert!(
        gone.is_some(),
        "sessions of the stopped service are still open"
    );
    blocker.batch_execute("COMMIT").await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM \"User\"").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM \"UserToOrg\"").await, 0);
}

/// `licensed()`'s variables with a licence key valid for a year (an hour's key is reported as
/// expiring soon) and a public URL.
fn long_licence(mut vars: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let (issuer, _) = crate::helpers::issuer();
    let mut claims = crate::helpers::valid_claims();
    claims.exp = crate::helpers::now_secs() + 365 * 86_400;
    vars.retain(|(k, _)| *k != "SCIM_LICENSE_KEY");
    vars.push(("SCIM_LICENSE_KEY", issuer.sign(&claims)));
    vars.push((
        "SCIM_PUBLIC_URL",
        "https://sourcebot.example.com/scim/v2".into(),
    ));
    vars
}

/// `check --json`, parsed.
fn check_json(vars: &[(&'static str, String)]) -> (Option<i32>, serde_json::Value) {
    let output = run(&["check", "--json"], &with(vars));
    let document = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", stdout(&output)));
    (output.status.code(), document)
}

/// The finding `id` of a `check --json` document.
fn finding<'a>(document: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    document["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}: {document:#}"))
}

#[tokio::test]
async fn check_is_green_on_a_ready_deployment_in_text_and_json_and_prints_no_secret() {
    let Licensed {
        db, token, vars, ..
    } = licensed().await;
    // The hour-long key of `licensed()` is reported as expiring soon.
    let short = run(&["check"], &with(&vars));
    assert_eq!(short.status.code(), Some(2));
    assert!(
        stdout(&short).contains("it expires soon"),
        "{}",
        stdout(&short)
    );
    let vars = long_licence(vars);
    let org = db
        .count("SELECT id::bigint FROM \"Org\" WHERE name = 'Acme'")
        .await;
    for i in 0..3 {
        db.create_member(
            org as i32,
            &format!("u{i}"),
            &format!("p{i}@example.com"),
            "P",
            None,
        )
        .await;
    }
    // One inactive member holds no seat.
    db.create_member(org as i32, "gone", "gone@example.com", "G", None)
        .await;
    db.run_sql("UPDATE \"UserToOrg\" SET \"isActive\" = false WHERE \"userId\" = 'gone'")
        .await;
    db.run_sql("UPDATE \"ScimToken\" SET \"lastUsedAt\" = '2026-11-01 10:00:00'")
        .await;

    let text = run(&["check"], &with(&vars));
    let report = stdout(&text);
    assert_eq!(text.status.code(), Some(0), "{report}");
    for line in [
        "[ok]   public URL: https://sourcebot.example.com/scim/v2 (enter it in the IdP",
        "[ok]   database: reachable at",
        "LC_CTYPE",
        "[ok]   licence: key lic_test (EdDSA), entitlements [scim], expires",
        "seats 50: 3 in use, 47 available",
        "[ok]   tokens: Acme (id ",
        "1 token(s), last used 2026-11-01 10:00 UTC",
        "[ok]   address lookups: index scim_user_email_identity_idx ready",
        "All checks passed.",
    ] {
        assert!(report.contains(line), "{line:?} missing from:\n{report}");
    }
    assert!(!report.contains("fix:"), "{report}");

    let (code, document) = check_json(&vars);
    assert_eq!(code, Some(0), "{document:#}");
    assert_eq!(document["status"], "ok");
    assert_eq!(document["exit_code"], 0);
    let ids: Vec<&str> = document["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "configuration",
            "public_url",
            "encryption_key",
            "database",
            "schema",
            "migrations",
            "address_index",
            "licence",
            "deprovisioning",
            "member_approval",
            "tokens",
        ]
    );
    for check in document["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "ok", "{check:#}");
        assert!(check["fix"].is_null(), "{check:#}");
    }
    let licence = &finding(&document, "licence")["details"];
    assert_eq!(licence["source"], "licence_key");
    assert_eq!(licence["seats"], 50);
    assert_eq!(licence["seats_used"], 3);
    assert_eq!(licence["seats_available"], 47);
    assert!(licence["days_left"].as_i64().is_some());
    let tokens = &finding(&document, "tokens")["details"]["orgs"][0];
    assert_eq!(tokens["org_id"], org);
    assert_eq!(tokens["tokens"], 1);
    assert_eq!(tokens["last_used_at"], "2026-11-01T10:00:00Z");
    assert_eq!(tokens["licensed"], true);
    assert_eq!(
        finding(&document, "public_url")["details"]["users_endpoint"],
        "https://sourcebot.example.com/scim/v2/Users"
    );
    assert_eq!(
        finding(&document, "address_index")["details"]["state"],
        "ready"
    );
    assert_eq!(
        finding(&document, "migrations")["details"]["pending"],
        serde_json::json!([])
    );
    assert!(finding(&document, "database")["details"]["server_version"].is_string());

    // Secrets are never printed: the encryption key, the licence key, the token.
    let licence_key = &vars
        .iter()
        .find(|(k, _)| *k == "SCIM_LICENSE_KEY")
        .unwrap()
        .1;
    let everything = format!("{report}{document}");
    for secret in [ENCRYPTION_KEY, licence_key.as_str(), token.as_str()] {
        assert!(!everything.contains(secret), "a secret was printed");
    }
}

#[tokio::test]
async fn check_exits_1_on_a_bad_licence_or_pending_migrations_and_2_on_a_missing_index() {
    let Licensed { db, vars, .. } = licensed().await;
    let mut vars = long_licence(vars);
    let (issuer, _) = crate::helpers::issuer();
    let mut expired = crate::helpers::valid_claims();
    expired.exp = crate::helpers::now_secs() - 3600;
    let mut bad = vars.clone();
    bad.retain(|(k, _)| *k != "SCIM_LICENSE_KEY");
    bad.push(("SCIM_LICENSE_KEY", issuer.sign(&expired)));

    let text = run(&["check"], &with(&bad));
    let report = stdout(&text);
    assert_eq!(text.status.code(), Some(1), "{report}");
    assert!(
        report.contains("[FAIL] licence: the licence key has expired (exp "),
        "{report}"
    );
    assert!(
        report.contains("fix: ask the vendor for a current key and set SCIM_LICENSE_KEY to it"),
        "{report}"
    );
    assert!(report.contains("1 check(s) failed"), "{report}");
    let (code, document) = check_json(&bad);
    assert_eq!(code, Some(1));
    assert_eq!(document["status"], "fail");
    assert_eq!(document["exit_code"], 1);
    let licence = finding(&document, "licence");
    assert_eq!(licence["status"], "fail");
    assert!(licence["fix"]
        .as_str()
        .unwrap()
        .contains("SCIM_LICENSE_KEY"));

    // A dropped index: `serve` runs, lookups scan; a warning with its fix, exit 2.
    db.run_sql("DROP INDEX scim_user_email_identity_idx").await;
    let text = run(&["check"], &with(&vars));
    let report = stdout(&text);
    assert_eq!(text.status.code(), Some(2), "{report}");
    assert!(
        report.contains("[warn] address lookups: index scim_user_email_identity_idx is missing"),
        "{report}"
    );
    // Its migration is recorded: `migrate` would not build it again, the fix is the statement.
    assert!(
        report.contains("`migrate` will not build it again: in psql on DATABASE_URL, run CREATE INDEX CONCURRENTLY IF NOT EXISTS scim_user_email_identity_idx"),
        "{report}"
    );
    assert!(
        report.contains("No failure; 1 warning(s) (exit 2)"),
        "{report}"
    );
    let (code, document) = check_json(&vars);
    assert_eq!(code, Some(2));
    assert_eq!(document["status"], "warn");
    let index = finding(&document, "address_index");
    assert_eq!(index["status"], "warn");
    assert_eq!(index["details"]["state"], "missing");
    assert_eq!(index["details"]["name"], "scim_user_email_identity_idx");

    // A migration the history lacks is pending: requests would fail, exit 1.
    db.run_sql(
        "DELETE FROM scim_sidecar.__diesel_schema_migrations \
         WHERE version = (SELECT max(version) FROM scim_sidecar.__diesel_schema_migrations)",
    )
    .await;
    let (code, document) = check_json(&vars);
    assert_eq!(code, Some(1), "{document:#}");
    let migrations = finding(&document, "migrations");
    assert_eq!(migrations["status"], "fail");
    assert_eq!(
        migrations["details"]["pending"].as_array().unwrap().len(),
        1
    );
    assert!(migrations["fix"]
        .as_str()
        .unwrap()
        .contains("scim-sidecar migrate"));
    // Unless `serve` applies it at start.
    vars.push(("SCIM__DATABASE__MIGRATE_ON_START", "true".into()));
    let (code, document) = check_json(&vars);
    assert_eq!(code, Some(2), "{document:#}");
    assert_eq!(finding(&document, "migrations")["status"], "warn");
}

#[tokio::test]
async fn check_reports_an_unreachable_database_or_a_bad_setting_with_exit_1() {
    let vars = vec![
        (
            "DATABASE_URL",
            "postgres://scim:hunter2@127.0.0.1:1/app".to_owned(),
        ),
        ("SOURCEBOT_ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
    ];
    let (code, document) = check_json(&vars);
    assert_eq!(code, Some(1), "{document:#}");
    let database = finding(&document, "database");
    assert_eq!(database["status"], "fail");
    assert!(database["fix"].as_str().unwrap().contains("DATABASE_URL"));
    assert!(!document.to_string().contains("hunter2"));
    // What needs the database is not reported; the licence still is.
    assert!(document["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["id"] != "tokens" && f["id"] != "schema"));
    assert_eq!(finding(&document, "licence")["status"], "warn");

    // A configuration that does not load is a finding too, still one JSON document.
    let (code, document) = check_json(&[("SCIM_LISTEN", "localhost-eighty".to_owned())]);
    assert_eq!(code, Some(1), "{document:#}");
    let configuration = finding(&document, "configuration");
    assert_eq!(configuration["status"], "fail");
    assert!(configuration["summary"]
        .as_str()
        .unwrap()
        .contains("SCIM_LISTEN"));
}

/// Runs `script` so that `command` gets a terminal; returns the child, its output collected
/// by a thread into the returned buffer.
fn on_a_terminal(
    command_line: &str,
    vars: &[(&str, &str)],
) -> (
    std::process::Child,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    let mut script = Command::new("script");
    script
        .args(["-qefc", command_line, "/dev/null"])
        .current_dir(MANIFEST_DIR)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        script.env(name, value);
    }
    let mut child = script
        .spawn()
        .expect("`script` (util-linux) gives the command a terminal");
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = buffer.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut chunk = [0u8; 4096];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    (child, buffer)
}

#[tokio::test]
async fn migrate_on_a_terminal_shows_each_migration_and_what_an_index_build_waits_for() {
    use diesel_async::SimpleAsyncConnection;
    let db = TestDb::with_app_schema().await;
    // An open transaction that writes "User": the concurrent index build must wait for it.
    let mut writer = db.conn().await;
    writer
        .batch_execute("BEGIN; LOCK TABLE \"User\" IN ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let (child, output) = on_a_terminal(
        &format!("{BIN} migrate"),
        &[
            ("DATABASE_URL", &db.url),
            ("SOURCEBOT_ENCRYPTION_KEY", ENCRYPTION_KEY),
        ],
    );
    let seen = eventually(Duration::from_secs(30), || async {
        output
            .lock()
            .unwrap()
            .contains("index build: waiting for writers before build")
    })
    .await;
    let shown = output.lock().unwrap().clone();
    assert!(seen.is_some(), "no index build progress: {shown}");
    assert!(
        shown.contains("applied 2026-11-28-000001_scim_app_additions in "),
        "{shown}"
    );
    writer.batch_execute("COMMIT").await.unwrap();
    let exited = wait_with_deadline(child, Duration::from_secs(30));
    assert!(exited.status.success(), "{}", stderr(&exited));
    let shown = output.lock().unwrap().clone();
    assert!(
        shown.contains("applied 2026-11-29-000004_user_address_index in "),
        "{shown}"
    );
    assert!(shown.contains("Applied "), "{shown}");
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index WHERE indexrelid = 'scim_user_email_identity_idx'::regclass AND indisvalid")
            .await,
        1
    );
}

/// Kills the child when the test ends before it does (a failed assertion), so that no server
/// outlives its test.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn demo_seeds_members_quietly_off_a_terminal_and_its_curl_lines_work() {
    let server = crate::helpers::dev_server().await;
    // `demo` drops and recreates it; the guard drops it at the end.
    let db = TestDb::empty().await;
    // More than one seeding batch (10,000), to cross a batch boundary.
    let users: i64 = 12_001;
    let demo = command(
        &[
            "demo",
            "--users",
            &users.to_string(),
            "--database",
            &db.name,
            "--listen",
            "127.0.0.1:0",
        ],
        &[("DATABASE_URL", server.admin_url())],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut demo = Reaped(demo);
    let banner = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut out = demo.0.stdout.take().unwrap();
    let sink = banner.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut chunk = [0u8; 4096];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    let ready = eventually(Duration::from_secs(120), || async {
        let text = banner.lock().unwrap();
        text.lines()
            .filter(|line| line.starts_with("  curl "))
            .count()
            == 5
    })
    .await;
    let text = banner.lock().unwrap().clone();
    assert!(ready.is_some(), "no banner: {text}");
    assert!(
        text.contains(&format!("Seeded {users} member(s)")),
        "{text}"
    );
    let curls: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("  curl "))
        .collect();
    // Each line as a person pastes it into a shell.
    let paste = |line: &str| -> serde_json::Value {
        let output = Command::new("sh").args(["-c", line]).output().unwrap();
        assert!(output.status.success(), "{line}: {}", stderr(&output));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{line}: {}", stdout(&output)))
    };
    let listed = paste(curls[0]);
    assert_eq!(listed["totalResults"], users);
    assert_eq!(listed["Resources"].as_array().unwrap().len(), 5);
    let found = paste(curls[1]);
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "user1@demo.example");
    let created = paste(curls[2]);
    assert_eq!(created["userName"], "new.person@demo.example");
    let deactivated = paste(curls[3]);
    assert_eq!(deactivated["id"], "demo-user-1");
    assert_eq!(deactivated["active"], false);
    let config = paste(curls[4]);
    assert_eq!(config["patch"]["supported"], true);

    // The rows behind the answers.
    for (sql, expected) in [
        (
            "SELECT count(*) FROM \"User\" WHERE id LIKE 'demo-user-%'",
            users,
        ),
        // Every membership SCIM answers for, whichever deprovisioning mode the demo runs in.
        (
            "SELECT count(*) FROM scim_sidecar.member WHERE user_id LIKE 'demo-user-%'",
            users,
        ),
        (
            "SELECT count(*) FROM scim_sidecar.user_profile WHERE user_name LIKE 'user%@demo.example'",
            users,
        ),
        ("SELECT count(*) FROM \"User\" WHERE id = 'demo-user-12001'", 1),
        (
            "SELECT count(*) FROM scim_sidecar.member WHERE user_id = 'demo-user-1' AND NOT is_active",
            1,
        ),
        (
            "SELECT count(*) FROM \"User\" WHERE email = 'new.person@demo.example'",
            1,
        ),
    ] {
        assert_eq!(db.count(sql).await, expected, "{sql}");
    }

    let status = terminate(&mut demo.0);
    assert!(status.success(), "{status}");
    let mut errors = String::new();
    use std::io::Read;
    demo.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    // Off a terminal, no progress bar is drawn.
    assert!(!errors.contains("seeding members"), "{errors}");
}

#[tokio::test]
async fn check_counts_seats_per_org_licence_row_and_names_tokens_no_licence_covers() {
    let db = TestDb::migrated().await;
    let acme = db.create_org("Acme").await;
    let other = db.create_org("Other").await;
    db.create_token(acme, "okta").await;
    db.create_token(acme, "entra").await;
    db.create_token(other, "okta").await;
    db.run_sql(&format!(
        "INSERT INTO \"License\" (id, \"orgId\", \"activationCode\", entitlements, seats, status, \"lastSyncAt\", \"updatedAt\") \
         VALUES ('lic-acme', {acme}, 'x', ARRAY['scim'], 2, 'active', now(), now())"
    ))
    .await;
    for i in 0..2 {
        db.create_member(
            acme,
            &format!("a{i}"),
            &format!("a{i}@example.com"),
            "A",
            None,
        )
        .await;
    }
    let mut vars = db_vars(&db);
    // Not https: the IdPs refuse it.
    vars.push(("SCIM_PUBLIC_URL", "http://sb.example.com/scim/v2".into()));

    let text = run(&["check"], &with(&vars));
    let report = stdout(&text);
    assert_eq!(text.status.code(), Some(2), "{report}");
    for line in [
        "[warn] public URL: http://sb.example.com/scim/v2 is not https",
        "[warn] licence: the orgs' \"License\" rows grant scim to Acme (id ",
        "seats 2: 2 in use, 0 available; no seat left in Acme",
        "Acme (id ",
        "2 token(s), last used never",
        "no licence grants scim to Other (id ",
    ] {
        assert!(report.contains(line), "{line:?} missing from:\n{report}");
    }

    let (code, document) = check_json(&vars);
    assert_eq!(code, Some(2));
    let licence = &finding(&document, "licence")["details"];
    assert_eq!(licence["source"], "org_licence_rows");
    let row = &licence["orgs"][0];
    assert_eq!(row["org_id"], acme);
    assert_eq!(row["grants_scim"], true);
    assert_eq!(row["seats"], 2);
    assert_eq!(row["seats_used"], 2);
    assert_eq!(row["seats_available"], 0);
    let tokens = finding(&document, "tokens");
    assert_eq!(tokens["status"], "warn");
    let orgs = tokens["details"]["orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0]["tokens"], 2);
    assert_eq!(orgs[0]["licensed"], true);
    assert_eq!(orgs[1]["org_id"], other);
    assert_eq!(orgs[1]["licensed"], false);
    assert_eq!(finding(&document, "public_url")["status"], "warn");

    // A freed seat clears the licence warning.
    db.run_sql("UPDATE \"UserToOrg\" SET \"isActive\" = false WHERE \"userId\" = 'a1'")
        .await;
    let (_, document) = check_json(&vars);
    assert_eq!(
        finding(&document, "licence")["status"],
        "ok",
        "{document:#}"
    );
    assert_eq!(
        finding(&document, "licence")["details"]["orgs"][0]["seats_available"],
        1
    );
}

#[tokio::test]
async fn check_warns_about_a_database_whose_lower_folds_only_ascii() {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let server = crate::helpers::dev_server().await;
    let db = TestDb::empty().await;
    let mut admin = diesel_async::AsyncPgConnection::establish(server.admin_url())
        .await
        .unwrap();
    // One statement each: neither runs inside a transaction block.
    for statement in [
        format!("DROP DATABASE \"{}\" WITH (FORCE)", db.name),
        format!(
            "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'UTF8' LC_CTYPE 'C' LC_COLLATE 'C'",
            db.name
        ),
    ] {
        admin.batch_execute(&statement).await.unwrap();
    }
    scim_sidecar::dev::database::apply_app_schema(&db.url)
        .await
        .unwrap();
    let vars = db_vars(&db);
    assert!(run(&["migrate"], &with(&vars)).status.success());
    let (code, document) = check_json(&vars);
    assert_eq!(code, Some(2), "{document:#}");
    let database = finding(&document, "database");
    assert_eq!(database["status"], "warn");
    assert_eq!(database["details"]["lc_ctype"], "C");
    assert_eq!(database["details"]["lower_folds_beyond_ascii"], false);
    assert!(database["summary"]
        .as_str()
        .unwrap()
        .contains("folds only ASCII letters"));
    assert!(database["fix"].as_str().unwrap().contains("C.UTF-8"));
}
