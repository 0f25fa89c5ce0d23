//! Fault injection: connections killed under load, locks that outlast the request deadline
//! and a stopped server, against the PostgreSQL the harness owns (PostgreSQL's error classes,
//! by SQLSTATE: `sqlstate`). Every test is bounded in time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::join_all;
use reqwest::Method;
use scim_sidecar::db::ConnectOptions;

use crate::helpers::{assert_retry_later, eventually, okta_user, TestApp};

#[tokio::test]
async fn terminated_connections_under_load_never_answer_500_and_the_service_recovers() {
    let app = TestApp::spawn_with_env(&[("SCIM__SERVER__WORKERS", "2")]).await;
    let jane = app.create_user("jane@example.com", "00u-jane").await;
    let jane_id = jane["id"].as_str().unwrap().to_owned();

    // 100 requests at once: reads (retried on a fresh connection when theirs dies) and
    // creates (503 when theirs dies), while every pooled connection is terminated, twice.
    let requests = (0..100).map(|i| {
        let app = &app;
        let jane_id = jane_id.clone();
        async move {
            let (kind, response) = match i % 3 {
                0 => ("list", app.get("/Users").send().await),
                1 => ("get", app.get(&format!("/Users/{jane_id}")).send().await),
                _ => {
                    let email = format!("load{i}@example.com");
                    let body = okta_user(&email, &format!("00u-load{i}"), "Load", "Test");
                    (
                        "create",
                        app.request(Method::POST, "/Users").json(&body).send().await,
                    )
                }
            };
            let response = response.expect("an answer, not a dropped connection");
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            (i, kind, status, retry_after)
        }
    });
    let killer = async {
        let mut terminated = 0;
        for _ in 0..2 {
            eventually(Duration::from_secs(10), || async {
                app.db.service_sessions("active").await > 0
            })
            .await;
            terminated += app.db.terminate_service_connections().await;
        }
        terminated
    };
    let started = Instant::now();
    let (answers, terminated) = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join(join_all(requests), killer),
    )
    .await
    .expect("the load finished in time");
    assert!(
        terminated > 0,
        "no connection was terminated: the test proved nothing"
    );
    eprintln!(
        "{} requests in {:?}; {terminated} connections terminated",
        answers.len(),
        started.elapsed()
    );

    for (i, kind, status, retry_after) in &answers {
        match (*kind, *status) {
            ("list" | "get", 200) | ("create", 201) => {}
            (_, 503) => assert!(retry_after, "request {i} ({kind}): 503 without Retry-After"),
            _ => panic!("request {i} ({kind}) answered {status}"),
        }
    }
    let unavailable = answers.iter().filter(|a| a.2 == 503).count();
    eprintln!("{unavailable} answered 503");

    // Recovered: a later request answers 200, on a fresh connection.
    app.until_status("/Users", 200).await;
    assert_eq!(app.status(&format!("/Users/{jane_id}")).await, 200);
    // Every acknowledged create is there exactly once; nothing was created twice.
    for (i, kind, status, _) in &answers {
        if *kind == "create" && *status == 201 {
            let email = format!("load{i}@example.com");
            assert_eq!(
                app.db
                    .count(&format!(
                        "SELECT count(*) FROM \"User\" WHERE email = '{email}'"
                    ))
                    .await,
                1,
                "{email}"
            );
        }
    }
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM (SELECT email FROM \"User\" GROUP BY email HAVING count(*) > 1) d")
            .await,
        0
    );
    assert_eq!(app.db.service_sessions("idle in transaction").await, 0);
}

#[tokio::test]
async fn a_read_whose_connection_dies_is_answered_from_a_fresh_one() {
    let app = TestApp::spawn().await;
    app.create_user("jane@example.com", "00u-jane").await;
    let mut blocker = app.db.lock_table("User").await;
    let read = tokio::spawn(app.get("/Users").send());
    app.db.until_a_query_waits_for_a_lock().await;
    let first = app
        .db
        .text("SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        .await
        .unwrap();
    assert!(app.db.terminate_service_connections().await > 0);
    // The retry waits on the same lock, on a new connection.
    let retried = eventually(Duration::from_secs(10), || async {
        app.db
            .count(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND application_name = 'scim-sidecar' AND pid NOT IN ({first})"
            ))
            .await
            == 1
    })
    .await;
    assert!(retried.is_some(), "the read was not retried");
    blocker.batch_execute("COMMIT").await.unwrap();
    let response = read.await.unwrap().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["totalResults"], 1);
}

#[tokio::test]
async fn a_write_whose_connection_dies_answers_503_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let mut blocker = app.db.lock_table("UserToOrg").await;
    let write = tokio::spawn(
        app.request(Method::POST, "/Users")
            .json(&okta_user("jane@example.com", "00u-jane", "Jane", "Doe"))
            .send(),
    );
    app.db.until_a_query_waits_for_a_lock().await;
    assert!(app.db.terminate_service_connections().await > 0);
    assert_retry_later(write.await.unwrap().unwrap()).await;
    blocker.batch_execute("COMMIT").await.unwrap();
    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM \"UserToOrg\"").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM \"Audit\"").await, 0);
    // The IdP's retry succeeds on a fresh connection.
    app.create_user("jane@example.com", "00u-jane").await;
}

#[tokio::test]
async fn a_lock_past_the_request_deadline_answers_503_and_writes_nothing() {
    // The statement timeout (10 s) is far off: only the request deadline can end the wait.
    let app = TestApp::spawn_with_env(&[("SCIM__SERVER__REQUEST_DEADLINE_MS", "1000")]).await;
    let mut blocker = app.db.lock_table("UserToOrg").await;

    let started = Instant::now();
    let response = app
        .post_user(&okta_user("late@example.com", "00u-late", "Late", "Comer"))
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    assert_retry_later(response).await;

    // Health endpoints answer meanwhile.
    assert_eq!(app.get_plain("/healthz").await.status().as_u16(), 200);
    assert_eq!(app.get_plain("/readyz").await.status().as_u16(), 200);

    // The abandoned transaction does not wait for the lock: its connection was closed and
    // PostgreSQL ended the backend, rolling it back.
    let gone = eventually(Duration::from_secs(10), || async {
        app.db.service_sessions("waiting").await == 0
    })
    .await;
    assert!(gone.is_some(), "the late request still waits on the lock");
    blocker.batch_execute("COMMIT").await.unwrap();

    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM \"UserToOrg\"").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM \"Audit\"").await, 0);
    assert_eq!(app.db.service_sessions("idle in transaction").await, 0);
    // And the service goes on.
    app.create_user("late@example.com", "00u-late").await;
}

/// A PostgreSQL cluster of the test's own, which it may stop and start: the shared one must
/// stay up for every other test.
struct OwnCluster {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    port: u16,
}

impl OwnCluster {
    /// `None` where no PostgreSQL server binaries are installed.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file())
            .max()?;
        let dir =
            std::env::temp_dir().join(format!("scim-outage-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { dir, bin, port };
        if as_root() {
            run(std::process::Command::new("chown")
                .arg("postgres:postgres")
                .arg(&cluster.dir));
        }
        run(cluster.command("initdb").arg("-D").arg(&cluster.dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        cluster.pg_ctl("start");
        Some(cluster)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        if as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        }
    }

    /// `start` or `stop` (fast: sessions are terminated, as in a failover or a restart).
    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-w", "-t", "30", "-m", "fast", "-l"])
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, action]));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(command: &mut std::process::Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn postgres_stopped_under_a_create_load_answers_201_or_503_and_recovers() {
    use scim_sidecar::dev::database as devdb;
    let Some(cluster) = tokio::task::spawn_blocking(OwnCluster::start)
        .await
        .unwrap()
        .map(std::sync::Arc::new)
    else {
        eprintln!("no PostgreSQL server binaries here: the outage test is not exercised");
        return;
    };
    let url = cluster.url("postgres");
    devdb::apply_app_schema(&url).await.unwrap();
    scim_sidecar::db::migrations::run_pending(&ConnectOptions::from_url(&url, None).unwrap())
        .await
        .unwrap();
    let mut admin = AsyncPgConnection::establish(&url).await.unwrap();
    admin
        .batch_execute("INSERT INTO \"Org\" (name, \"updatedAt\") VALUES ('Acme', now())")
        .await
        .unwrap();
    let hasher =
        scim_sidecar::auth::token::TokenHasher::new(crate::helpers::ENCRYPTION_KEY.as_bytes());
    let token = scim_sidecar::auth::token::mint(&hasher);
    admin
        .batch_execute(&format!(
            "INSERT INTO \"ScimToken\" (name, hash, \"orgId\") SELECT 'okta', '{}', id FROM \"Org\"",
            token.hash
        ))
        .await
        .unwrap();
    drop(admin);
    let deadline = Duration::from_secs(3);
    let settings = crate::helpers::settings_for(
        &url,
        &crate::helpers::Options::env(&[
            ("SCIM__SERVER__REQUEST_DEADLINE_MS", "3000"),
            ("SCIM__DATABASE__ACQUIRE_TIMEOUT_MS", "1000"),
            ("SCIM__AUTH__TOKEN_CACHE_TTL_SECS", "60"),
            // Refusals during the outage come fast; the rate limit is not what is tested.
            ("SCIM__SERVER__RATE_LIMIT_PER_SECOND", "0"),
        ]),
    );
    let app = scim_sidecar::startup::Application::build(&settings)
        .await
        .unwrap();
    let base = format!("http://{}", app.address());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let readyz = |client: reqwest::Client, base: String| async move {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(readyz(client.clone(), base.clone()).await, 200);

    // Four clients create people one after another while PostgreSQL goes away for a few
    // seconds and comes back.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let load = (0..4).map(|client_no| {
        let (client, base, token, stop) = (
            client.clone(),
            base.clone(),
            token.token.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut i = 0;
            while !AtomicBool::load(&stop, Ordering::Relaxed) {
                let email = format!("c{client_no}-{i}@example.com");
                let started = Instant::now();
                let response = client
                    .post(format!("{base}/scim/v2/Users"))
                    .bearer_auth(&token)
                    .json(&okta_user(
                        &email,
                        &format!("00u-c{client_no}-{i}"),
                        "Out",
                        "Age",
                    ))
                    .send()
                    .await
                    .expect("an answer");
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                answers.push((email, status, retry_after, started.elapsed()));
                i += 1;
            }
            answers
        })
    });
    let load: Vec<_> = load.collect();
    // PostgreSQL goes away once creates are being acknowledged.
    let mut probe = AsyncPgConnection::establish(&url).await.unwrap();
    let mut before = 0;
    for _ in 0..200 {
        before = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM \"User\")",
        ))
        .get_result::<i64>(&mut probe)
        .await
        .unwrap();
        if before >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(before >= 8, "the load did not start");
    drop(probe);
    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.pg_ctl("stop"))
        .await
        .unwrap();
    let down = eventually(Duration::from_secs(10), || async {
        readyz(client.clone(), base.clone()).await == 503
    })
    .await;
    assert!(
        down.is_some(),
        "/readyz did not answer 503 while PostgreSQL was down"
    );
    // The outage itself: a few seconds without a database.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let starting = cluster.clone();
    tokio::task::spawn_blocking(move || starting.pg_ctl("start"))
        .await
        .unwrap();
    let up = eventually(Duration::from_secs(20), || async {
        readyz(client.clone(), base.clone()).await == 200
    })
    .await;
    assert!(up.is_some(), "/readyz did not recover");
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for client in load {
        answers.extend(client.await.unwrap());
    }

    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let mut created = 0;
    for (email, status, retry_after, took) in &answers {
        assert!(
            *took < deadline + Duration::from_secs(2),
            "{email} answered after {took:?}"
        );
        match status {
            201 => {
                created += 1;
                let count: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    &format!("(SELECT count(*) FROM \"User\" WHERE email = '{email}')"),
                ))
                .get_result(&mut conn)
                .await
                .unwrap();
                assert_eq!(count, 1, "{email}");
            }
            503 => assert!(retry_after, "{email}: 503 without Retry-After"),
            other => panic!("{email} answered {other}"),
        }
    }
    let unavailable = answers.iter().filter(|a| a.1 == 503).count();
    eprintln!(
        "{} creates: {created} created, {unavailable} answered 503",
        answers.len()
    );
    assert!(
        unavailable > 0,
        "no request met the outage: the test proved nothing"
    );
    // Recovered: a create after the outage is acknowledged and stored.
    let after = client
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(&token.token)
        .json(&okta_user(
            "after@example.com",
            "00u-after",
            "After",
            "Wards",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status().as_u16(), 201);
    assert!(created >= 8);
    handle.stop(true).await;
}
