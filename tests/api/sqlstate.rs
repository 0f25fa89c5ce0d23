//! PostgreSQL's error classes are told apart by SQLSTATE, for a role whose server messages
//! are not in English and which may not change that: deadlocks answer 409, lock and statement
//! timeouts 503, a terminated backend 503 (a read is retried), never 500, and nothing is
//! written.

use std::time::{Duration, Instant};

use actix_web::ResponseError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use reqwest::Method;
use scim_sidecar::db::{self, ConnectOptions, DbPool, PoolOptions, PooledConnection};
use scim_sidecar::error::ApiError;

use crate::helpers::{assert_retry_later, assert_scim_error, eventually, okta_user};
use crate::helpers::{Options, TestApp, TestDb};

/// Locales tried, in order, for the role's `lc_messages`: the first the server knows.
const LOCALES: &[&str] = &["fr_FR.UTF-8", "fr_FR.utf8", "de_DE.UTF-8", "es_ES.UTF-8"];

/// A login role without superuser rights, with the service's privileges on one database, whose
/// server messages are in another language than English (when the machine has a translated
/// locale: `localedef -i fr_FR -f UTF-8 fr_FR.UTF-8`, see `.ci/run`).
struct ForeignRole {
    name: String,
    url: String,
    /// The locale its messages are in; `None` where the machine has no translated one.
    locale: Option<&'static str>,
}

impl ForeignRole {
    /// Creates the role on `db`, with these role settings (`ALTER ROLE ... SET`) besides its
    /// language.
    async fn create(db: &TestDb, settings: &[(&str, &str)]) -> Self {
        let name = format!("{}_role", db.name);
        let mut grants = format!("CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;");
        // The app's schema and the service's own.
        for schema in ["public", "scim_sidecar"] {
            grants.push_str(&format!(
                "GRANT USAGE ON SCHEMA {schema} TO {name}; \
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {name}; \
                 GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {name};"
            ));
        }
        db.run_sql(&grants).await;
        let mut admin = db.conn().await;
        let mut locale = None;
        for candidate in LOCALES {
            let set = format!("ALTER ROLE {name} SET lc_messages = '{candidate}'");
            if admin.batch_execute(&set).await.is_ok() {
                locale = Some(*candidate);
                break;
            }
        }
        if locale.is_none() {
            eprintln!(
                "no translated locale on this machine ({LOCALES:?}): the role's messages stay in \
                 English; the error mapping reads no message, so the answers prove the codes alone"
            );
        }
        for (setting, value) in settings {
            admin
                .batch_execute(&format!("ALTER ROLE {name} SET {setting} = '{value}'"))
                .await
                .unwrap();
        }
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_username(&name).unwrap();
        url.set_password(None).unwrap();
        let role = Self {
            name,
            url: url.to_string(),
            locale,
        };
        role.check_language().await;
        role
    }

    /// The role's messages are foreign, and it may not ask for English.
    async fn check_language(&self) {
        let mut conn = AsyncPgConnection::establish(&self.url).await.unwrap();
        let refused = conn.batch_execute("SET lc_messages = 'C'").await;
        assert!(refused.is_err(), "the role may choose its message language");
        let message = conn
            .batch_execute("SELECT 1/0")
            .await
            .unwrap_err()
            .to_string();
        if self.locale.is_some() {
            assert!(!message.contains("division by zero"), "{message}");
        }
    }

    /// The service on `db`, connecting as this role.
    async fn spawn(&self, db: TestDb, org_id: i32, env: &[(&'static str, &str)]) -> TestApp {
        let mut options = Options::env(env);
        options.url_query = Some(Box::leak(format!("user={}", self.name).into_boxed_str()));
        TestApp::spawn_on(db, org_id, options).await
    }

    async fn drop_from(self, db: &TestDb) {
        db.run_sql(&format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name))
            .await;
    }
}

/// A migrated database with the org "Acme", and a foreign role on it.
async fn database(settings: &[(&str, &str)]) -> (TestDb, i32, ForeignRole) {
    let db = TestDb::migrated().await;
    let org_id = db.create_org("Acme").await;
    let role = ForeignRole::create(&db, settings).await;
    (db, org_id, role)
}

/// Nothing of a refused create was kept.
async fn assert_nothing_written(db: &TestDb) {
    for table in ["User", "UserToOrg", "Audit"] {
        assert_eq!(
            db.count(&format!("SELECT count(*) FROM \"{table}\"")).await,
            0,
            "{table}"
        );
    }
}

fn jane() -> serde_json::Value {
    okta_user("jane@example.com", "00u-jane", "Jane", "Doe")
}

#[tokio::test]
async fn a_deadlock_answers_409_and_writes_nothing() {
    // The service waits first, so its deadlock check runs first and it is the one rolled back.
    let (db, org_id, role) = database(&[("deadlock_timeout", "3s")]).await;
    let app = role.spawn(db, org_id, &[]).await;
    let mut other = app.db.lock_table("UserToOrg").await;
    other
        .batch_execute("SET deadlock_timeout = '30s'")
        .await
        .unwrap();
    let post = tokio::spawn(app.request(Method::POST, "/Users").json(&jane()).send());
    app.db.until_a_query_waits_for_a_lock().await;
    // The create holds its org's membership lock and waits for "UserToOrg"; the other
    // transaction now waits for that membership lock: a cycle.
    let org_lock = format!("pg_advisory_xact_lock({}, {org_id})", 0x5c1a_0002);
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = current_database() AND l.locktype = 'advisory' \
                 AND l.granted AND l.classid = {} AND l.objid = {org_id} AND l.objsubid = 2",
                0x5c1a_0002
            ))
            .await,
        1,
        "the create does not hold its org's lock: no deadlock can form"
    );
    let started = Instant::now();
    let (response, closed) =
        futures_util::future::join(post, other.batch_execute(&format!("SELECT {org_lock}"))).await;
    closed.expect("the other transaction got the lock once the create was rolled back");
    let response = response.unwrap().unwrap();
    eprintln!("deadlock answered after {:?}", started.elapsed());
    assert_scim_error(response, 409).await;
    other.batch_execute("ROLLBACK").await.unwrap();
    assert_nothing_written(&app.db).await;
    // The IdP's retry succeeds.
    app.create_user("jane@example.com", "00u-jane").await;
    role.drop_from(&app.db).await;
}

#[tokio::test]
async fn a_lock_timeout_answers_503_and_writes_nothing() {
    let (db, org_id, role) = database(&[("lock_timeout", "300ms")]).await;
    let app = role.spawn(db, org_id, &[]).await;
    let mut other = app.db.lock_table("UserToOrg").await;
    let started = Instant::now();
    let response = app.post_user(&jane()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_retry_later(response).await;
    other.batch_execute("COMMIT").await.unwrap();
    assert_nothing_written(&app.db).await;
    app.create_user("jane@example.com", "00u-jane").await;
    role.drop_from(&app.db).await;
}

#[tokio::test]
async fn a_statement_timeout_answers_503_and_writes_nothing() {
    let (db, org_id, role) = database(&[]).await;
    let app = role
        .spawn(
            db,
            org_id,
            &[("SCIM__DATABASE__STATEMENT_TIMEOUT_MS", "500")],
        )
        .await;
    let mut other = app.db.lock_table("UserToOrg").await;
    let started = Instant::now();
    let response = app.post_user(&jane()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_retry_later(response).await;
    other.batch_execute("COMMIT").await.unwrap();
    assert_nothing_written(&app.db).await;
    app.create_user("jane@example.com", "00u-jane").await;
    role.drop_from(&app.db).await;
}

#[tokio::test]
async fn a_terminated_backend_answers_503_to_a_write_and_a_retried_read_answers_200() {
    let (db, org_id, role) = database(&[]).await;
    let app = role.spawn(db, org_id, &[]).await;

    // A write: 503, nothing kept.
    let mut other = app.db.lock_table("UserToOrg").await;
    let write = tokio::spawn(app.request(Method::POST, "/Users").json(&jane()).send());
    app.db.until_a_query_waits_for_a_lock().await;
    assert!(app.db.terminate_service_connections().await > 0);
    assert_retry_later(write.await.unwrap().unwrap()).await;
    other.batch_execute("COMMIT").await.unwrap();
    assert_nothing_written(&app.db).await;

    // A read: its connection is found lost (57P01, in the role's language) and the read runs
    // again on a fresh one.
    let jane = app.create_user("jane@example.com", "00u-jane").await;
    let mut other = app.db.lock_table("User").await;
    let read = tokio::spawn(app.get("/Users").send());
    app.db.until_a_query_waits_for_a_lock().await;
    assert!(app.db.terminate_service_connections().await > 0);
    let retried = eventually(Duration::from_secs(10), || async {
        app.db.service_sessions("waiting").await == 1
    })
    .await;
    assert!(retried.is_some(), "the read was not retried");
    other.batch_execute("COMMIT").await.unwrap();
    let response = read.await.unwrap().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], jane["id"]);
    role.drop_from(&app.db).await;
}

/// A pool like the server's, on `url`.
fn pool(url: &str, statement_timeout_ms: u64) -> DbPool {
    db::build_pool(
        &ConnectOptions::from_url(url, None).unwrap(),
        &PoolOptions {
            max_size: 4,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_millis(statement_timeout_ms),
            application_name: "scim-sidecar".into(),
        },
    )
    .unwrap()
}

/// The HTTP status a failed statement on `conn` answers.
fn status_of(error: diesel::result::Error, conn: &mut PooledConnection) -> u16 {
    ApiError::from(error)
        .with_sqlstate_of(conn)
        .status_code()
        .as_u16()
}

/// Each error class on a pooled connection, over TLS, in plain text, and over a Unix socket
/// (where the server declines TLS: the one-byte answer before the first message).
#[tokio::test]
async fn error_classes_are_told_by_sqlstate_over_tls_plain_text_and_unix_sockets() {
    let (db, _, role) = database(&[]).await;
    db.run_sql(&format!(
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2); \
         GRANT SELECT, UPDATE ON t TO {}",
        role.name
    ))
    .await;
    let mut transports = vec![
        (format!("{}?sslmode=require", role.url), true),
        (format!("{}?sslmode=disable", role.url), false),
    ];
    let url = url::Url::parse(&role.url).unwrap();
    let port = url.port().unwrap_or(5432);
    let socket_dir = "/var/run/postgresql";
    if std::path::Path::new(&format!("{socket_dir}/.s.PGSQL.{port}")).exists() {
        let url = format!(
            "postgres:///{}?host={socket_dir}&port={port}&user={}&sslmode=prefer",
            url.path().trim_start_matches('/'),
            role.name,
        );
        transports.push((url, false));
    } else {
        eprintln!("no PostgreSQL socket in {socket_dir}: the Unix-socket case is not run");
    }
    for (url, encrypted) in &transports {
        error_classes_on(&db, &pool(url, 300), *encrypted).await;
    }
    role.drop_from(&db).await;
}

async fn error_classes_on(db: &TestDb, pool: &DbPool, encrypted: bool) {
    let mut a = pool.get().await.unwrap();
    let mut b = pool.get().await.unwrap();
    let tls: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
    ))
    .get_result(&mut *a)
    .await
    .unwrap();
    assert_eq!(tls, encrypted);

    // 57014: statement timeout.
    let timeout = a.batch_execute("SELECT pg_sleep(2)").await.unwrap_err();
    assert_eq!(status_of(timeout, &mut a), 503);

    // 55P03: lock timeout, and NOWAIT.
    let mut holder = db.lock_table("t").await;
    let lock_timeout = a
        .batch_execute("SET lock_timeout = '50ms'; SELECT * FROM t")
        .await
        .unwrap_err();
    assert_eq!(status_of(lock_timeout, &mut a), 503);
    holder.batch_execute("COMMIT").await.unwrap();
    a.batch_execute("RESET lock_timeout").await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT * FROM t WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    let nowait = a
        .batch_execute("SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT")
        .await
        .unwrap_err();
    assert_eq!(status_of(nowait, &mut a), 503);
    holder.batch_execute("COMMIT").await.unwrap();

    // 40P01: a deadlock between two transactions; the error is read after the rollback, as
    // the service reads it.
    a.batch_execute("SET statement_timeout = '10s'; BEGIN; UPDATE t SET id = id WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("SET statement_timeout = '10s'; BEGIN; UPDATE t SET id = id WHERE id = 2")
        .await
        .unwrap();
    let (first, second) = futures_util::future::join(
        a.batch_execute("UPDATE t SET id = id WHERE id = 2"),
        b.batch_execute("UPDATE t SET id = id WHERE id = 1"),
    )
    .await;
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("ROLLBACK").await.unwrap();
    let deadlock = match (first, second) {
        (Err(error), Ok(())) => status_of(error, &mut a),
        (Ok(()), Err(error)) => status_of(error, &mut b),
        other => panic!("one side deadlocks: {other:?}"),
    };
    assert_eq!(deadlock, 409);

    // 57P01: the backend terminated under a statement.
    let mut c = pool.get().await.unwrap();
    let pid: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
        "pg_backend_pid()",
    ))
    .get_result(&mut *c)
    .await
    .unwrap();
    let mut admin = db.conn().await;
    let terminate = async {
        let running = eventually(Duration::from_secs(5), || async {
            db.count(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND state = 'active'"
            ))
            .await
                == 1
        })
        .await;
        assert!(running.is_some(), "the statement never started");
        admin
            .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
            .await
            .unwrap();
    };
    let (under_statement, ()) =
        futures_util::future::join(c.batch_execute("SELECT pg_sleep(5)"), terminate).await;
    let killed = under_statement.unwrap_err();
    let sqlstate = c.last_sqlstate();
    assert!(
        db::is_connection_lost(&killed, sqlstate.as_ref()),
        "{killed}"
    );
    assert_eq!(status_of(killed, &mut c), 503);
    // ...and the dead connection's next statement, which has no code of its own.
    let lost = c.batch_execute("SELECT 1").await.unwrap_err();
    assert!(db::is_connection_lost(&lost, None), "{lost}");
    assert!(ApiError::from(lost)
        .with_sqlstate_of(&mut c)
        .is_connection_lost());
}
