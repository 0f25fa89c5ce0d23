//! Test harness: finds PostgreSQL like `demo` does, builds a migrated template database once,
//! clones it for every test, and starts the real server on 127.0.0.1:0.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use scim_sidecar::auth::token::TokenHasher;
use scim_sidecar::config::Settings;
use scim_sidecar::db::migrations;
use scim_sidecar::dev::database::{self as devdb, DevServer};
use scim_sidecar::dev::license_issuer::EphemeralIssuer;
use scim_sidecar::license::LicenseClaims;
use scim_sidecar::startup::Application;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

pub const ENCRYPTION_KEY: &str = "test-encryption-key-32-bytes-abc";
pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

static SERVER: OnceCell<DevServer> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();
static ISSUER: OnceLock<(EphemeralIssuer, PathBuf)> = OnceLock::new();

pub async fn dev_server() -> &'static DevServer {
    SERVER
        .get_or_init(|| async {
            devdb::locate()
                .await
                .expect("a PostgreSQL server for tests")
        })
        .await
}

/// A database that is dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    /// An empty database (no app tables).
    pub async fn empty() -> Self {
        let server = dev_server().await;
        let name = unique_name("scim_t");
        let url = server
            .recreate_database(&name)
            .await
            .expect("create test database");
        Self {
            name,
            url,
            admin_url: server.admin_url().to_owned(),
        }
    }

    /// The app's tables, no SCIM additions.
    pub async fn with_app_schema() -> Self {
        let db = Self::empty().await;
        devdb::apply_app_schema(&db.url).await.expect("app schema");
        db
    }

    /// A clone of the migrated template: app tables and SCIM additions.
    pub async fn migrated() -> Self {
        let server = dev_server().await;
        let template = template_name().await;
        let name = unique_name("scim_t");
        let mut admin = AsyncPgConnection::establish(server.admin_url())
            .await
            .expect("admin");
        let statement = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            devdb::quote_ident(&name),
            devdb::quote_ident(template)
        );
        // A template cannot be copied while another session is connected to it; retry briefly.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match admin.batch_execute(&statement).await {
                Ok(()) => break,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cloning the template failed: {error}"),
            }
        }
        Self {
            url: server.database_url(&name),
            name,
            admin_url: server.admin_url().to_owned(),
        }
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect to test database")
    }

    pub async fn run_sql(&self, sql: &str) {
        self.conn()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The single number `sql` selects.
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        // Wrapped so callers write plain `SELECT count(*) ...`.
        diesel::sql_query(format!("SELECT ({sql})::bigint AS n"))
            .get_result::<Row>(&mut self.conn().await)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .n
    }

    /// The single value `sql` selects, as text.
    pub async fn text(&self, sql: &str) -> Option<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            v: Option<String>,
        }
        diesel::sql_query(format!("SELECT ({sql})::text AS v"))
            .get_result::<Row>(&mut self.conn().await)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .v
    }

    /// A connection whose open transaction holds an exclusive lock on `table`: the server's
    /// queries on it wait until the connection commits or is dropped.
    pub async fn lock_table(&self, table: &str) -> AsyncPgConnection {
        let mut conn = self.conn().await;
        conn.batch_execute(&format!(
            "BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            devdb::quote_ident(table)
        ))
        .await
        .unwrap_or_else(|e| panic!("locking {table}: {e}"));
        conn
    }

    /// Returns once a session on this database waits for a lock: a request is then in flight.
    pub async fn until_a_query_waits_for_a_lock(&self) {
        let waiting = eventually(Duration::from_secs(10), || async {
            self.count(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .await
                > 0
        })
        .await;
        assert!(waiting.is_some(), "no request reached the database");
    }

    /// An account of the app (`"User"`) with a membership in `org_id`, as the app creates them.
    pub async fn create_member(
        &self,
        org_id: i32,
        user_id: &str,
        email: &str,
        name: &str,
        external_id: Option<&str>,
    ) {
        diesel::sql_query(
            "INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES ($1, $2, $3, now())",
        )
        .bind::<Text, _>(user_id)
        .bind::<Text, _>(email)
        .bind::<Text, _>(name)
        .execute(&mut self.conn().await)
        .await
        .expect("insert user");
        diesel::sql_query(
            "INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\", \"scimExternalId\") VALUES ($1, $2, $3)",
        )
        .bind::<Integer, _>(org_id)
        .bind::<Text, _>(user_id)
        .bind::<diesel::sql_types::Nullable<Text>, _>(external_id)
        .execute(&mut self.conn().await)
        .await
        .expect("insert membership");
    }

    pub async fn create_org(&self, name: &str) -> i32 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Integer)]
            id: i32,
        }
        diesel::sql_query(
            "INSERT INTO \"Org\" (name, \"updatedAt\") VALUES ($1, now()) RETURNING id",
        )
        .bind::<Text, _>(name)
        .get_result::<Row>(&mut self.conn().await)
        .await
        .expect("insert org")
        .id
    }

    /// Stores a token the way the app does and returns its plaintext.
    pub async fn create_token(&self, org_id: i32, name: &str) -> String {
        let hasher = TokenHasher::new(ENCRYPTION_KEY.as_bytes());
        let minted = scim_sidecar::auth::token::mint(&hasher);
        diesel::sql_query("INSERT INTO \"ScimToken\" (name, hash, \"orgId\") VALUES ($1, $2, $3)")
            .bind::<Text, _>(name)
            .bind::<Text, _>(&minted.hash)
            .bind::<Integer, _>(org_id)
            .execute(&mut self.conn().await)
            .await
            .expect("insert token");
        minted.token
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Err(error) = devdb::drop_database_blocking(&self.admin_url, &self.name) {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The template's name carries a fingerprint of the fixture and migrations, so a change to
/// either builds a new one; building is serialised across test processes by an advisory lock.
async fn template_name() -> &'static String {
    TEMPLATE
        .get_or_init(|| async {
            let server = dev_server().await;
            let name = format!("scim_tpl_{}", fingerprint());
            let mut admin = AsyncPgConnection::establish(server.admin_url())
                .await
                .expect("admin");
            admin
                .batch_execute("SELECT pg_advisory_lock(5150, 1)")
                .await
                .expect("lock");
            let exists = {
                #[derive(diesel::QueryableByName)]
                struct Row {
                    #[diesel(sql_type = BigInt)]
                    n: i64,
                }
                diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
                    .bind::<Text, _>(&name)
                    .get_result::<Row>(&mut admin)
                    .await
                    .expect("look up template")
                    .n
                    > 0
            };
            if !exists {
                let building = format!("{name}_build");
                let url = server
                    .recreate_database(&building)
                    .await
                    .expect("template db");
                devdb::apply_app_schema(&url)
                    .await
                    .expect("template app schema");
                let target = scim_sidecar::db::ConnectOptions::from_url(&url, None).unwrap();
                migrations::run_pending(&target)
                    .await
                    .expect("template migrations");
                let rename = format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    devdb::quote_ident(&building),
                    devdb::quote_ident(&name)
                );
                let deadline = Instant::now() + Duration::from_secs(20);
                while let Err(error) = admin.batch_execute(&rename).await {
                    assert!(
                        Instant::now() < deadline,
                        "renaming the template failed: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            admin
                .batch_execute("SELECT pg_advisory_unlock(5150, 1)")
                .await
                .expect("unlock");
            name
        })
        .await
}

fn fingerprint() -> String {
    let mut hasher = Sha256::new();
    hasher.update(devdb::APP_SCHEMA_SQL);
    let mut files: Vec<PathBuf> = walk(&Path::new(MANIFEST_DIR).join("migrations"));
    files.sort();
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).expect("read migration"));
    }
    hex::encode(&hasher.finalize()[..6])
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("migrations dir")
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// The process-wide licence issuer and the file holding its public key.
pub fn issuer() -> &'static (EphemeralIssuer, PathBuf) {
    ISSUER.get_or_init(|| {
        let issuer = EphemeralIssuer::generate();
        let path = std::env::temp_dir().join(format!(
            "scim-sidecar-test-{}-license.pem",
            std::process::id()
        ));
        std::fs::write(&path, issuer.public_key_pem()).expect("write public key");
        (issuer, path)
    })
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Licence claims valid for an hour with `scim`.
pub fn valid_claims() -> LicenseClaims {
    LicenseClaims {
        sub: Some("lic_test".into()),
        exp: now_secs() + 3600,
        nbf: None,
        iat: Some(now_secs()),
        entitlements: vec!["scim".into()],
        seats: Some(50),
    }
}

/// What a test changes about the server it starts.
pub struct Options {
    /// `Some(claims)`: a licence key signed by the test issuer; `None`: no key configured.
    pub license: Option<LicenseClaims>,
    pub extra_env: Vec<(&'static str, String)>,
    /// Appended to the test database's URL as its query string (e.g. `sslmode=require`).
    pub url_query: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            license: Some(valid_claims()),
            extra_env: Vec::new(),
            url_query: None,
        }
    }
}

impl Options {
    /// No licence key, plus these environment variables.
    pub fn unlicensed(vars: &[(&'static str, &str)]) -> Self {
        Self {
            license: None,
            ..Self::env(vars)
        }
    }

    /// The defaults plus these environment variables.
    pub fn env(vars: &[(&'static str, &str)]) -> Self {
        Self {
            extra_env: vars
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned()))
                .collect(),
            ..Self::default()
        }
    }

    /// A valid licence key that grants `seats` seats.
    pub fn seats(seats: u32) -> Self {
        Self {
            license: Some(LicenseClaims {
                seats: Some(seats),
                ..valid_claims()
            }),
            ..Self::default()
        }
    }
}

/// Defines the test as a module with one `#[tokio::test]` per mode, named after the mode.
macro_rules! in_both_modes {
    (async fn $name:ident($mode:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn deactivate() {
                run("deactivate").await
            }

            #[tokio::test]
            async fn remove() {
                run("remove").await
            }

            async fn run($mode: &'static str) $body
        }
    };
}
pub(crate) use in_both_modes;

/// `options` with the deprovisioning mode set.
pub fn in_mode(mode: &'static str, mut options: Options) -> Options {
    options
        .extra_env
        .push(("SCIM__PROVISIONING__DEPROVISION_MODE", mode.to_owned()));
    options
}

/// Settings as an operator would give them, through the environment.
pub fn settings_for(db_url: &str, options: &Options) -> Settings {
    let url = match options.url_query {
        Some(query) => format!("{db_url}?{query}"),
        None => db_url.to_owned(),
    };
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), url),
        ("SOURCEBOT_ENCRYPTION_KEY".into(), ENCRYPTION_KEY.into()),
        ("SCIM_LISTEN".into(), "127.0.0.1:0".into()),
        ("SCIM_METRICS_LISTEN".into(), "127.0.0.1:0".into()),
        ("SCIM__DATABASE__POOL_MAX_SIZE".into(), "8".into()),
        ("SCIM__SERVER__WORKERS".into(), "1".into()),
        ("SCIM__SERVER__SHUTDOWN_TIMEOUT_SECS".into(), "1".into()),
        // The fixture's app predates its SCIM release, so `auto` would remove; tests that are
        // about the modes say which they want.
        (
            "SCIM__PROVISIONING__DEPROVISION_MODE".into(),
            "deactivate".into(),
        ),
    ]);
    if let Some(claims) = &options.license {
        let (issuer, path) = issuer();
        env.insert("SCIM_LICENSE_KEY".into(), issuer.sign(claims));
        env.insert(
            "SCIM_LICENSE_PUBLIC_KEY_FILE".into(),
            path.display().to_string(),
        );
    }
    for (name, value) in &options.extra_env {
        env.insert((*name).to_owned(), value.clone());
    }
    Settings::load_from(&Path::new(MANIFEST_DIR).join("config"), &env).expect("test settings")
}

pub struct TestApp {
    pub address: String,
    /// `http://host:port` of the metrics listener, unless it is off.
    pub metrics: Option<String>,
    pub base: String,
    pub db: TestDb,
    pub org_id: i32,
    pub token: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// A running server on a migrated database with one org ("Acme"), its token "okta" and a
    /// valid licence key.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// `spawn` with these environment variables added.
    pub async fn spawn_with_env(vars: &[(&'static str, &str)]) -> Self {
        Self::spawn_with(Options::env(vars)).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let db = TestDb::migrated().await;
        let org_id = db.create_org("Acme").await;
        Self::spawn_on(db, org_id, options).await
    }

    /// A running server on a database the test prepared, with a token "okta" for `org_id`.
    pub async fn spawn_on(db: TestDb, org_id: i32, options: Options) -> Self {
        init_test_logging();
        let token = db.create_token(org_id, "okta").await;
        let settings = settings_for(&db.url, &options);
        let app = Application::build(&settings).await.expect("server builds");
        let address = format!("http://{}", app.address());
        let metrics = app.metrics_address().map(|a| format!("http://{a}"));
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            base: format!("{address}/scim/v2"),
            address,
            metrics,
            db,
            org_id,
            token,
            client: reqwest::Client::new(),
            handle,
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_as(&self.token, method, path)
    }

    /// A SCIM request with another token than the test org's (e.g. another org's).
    pub fn request_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// GET a path outside `/scim/v2` (health probes), without a token.
    pub async fn get_plain(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// A second org, "Globex", and its token "globex": (org id, token).
    pub async fn other_org(&self) -> (i32, String) {
        let org_id = self.db.create_org("Globex").await;
        let token = self.db.create_token(org_id, "globex").await;
        (org_id, token)
    }

    /// Asks the server to stop gracefully at once; the future ends when it has stopped.
    pub fn stop(&self) -> impl std::future::Future<Output = ()> + 'static {
        self.handle.stop(true)
    }
}

/// `TEST_LOG=1 cargo test` shows the server's logs.
fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_test_writer()
            .try_init();
    }
}

/// Sends `request` and parses the answer's body.
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Polls `check` until it returns true or `timeout` passes; returns the time it took.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < timeout {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Returns once the server at `address` (`http://host:port`) refuses new connections, i.e.
/// it has taken in a stop and closed its listener.
pub async fn until_connections_are_refused(address: &str) {
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let refused = eventually(Duration::from_secs(10), || async {
        probe
            .get(format!("{address}/healthz"))
            .send()
            .await
            .is_err()
    })
    .await;
    assert!(refused.is_some(), "still accepting connections");
}

/// Asserts a SCIM error answer: status, media type and envelope.
pub async fn assert_scim_error(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/scim+json")
    );
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(
        body["schemas"],
        serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], serde_json::json!(status.to_string()));
    assert!(body["detail"].is_string());
    body
}

/// An Okta-style create body (Okta sends `application/json`, a password and `groups: []`).
pub fn okta_user(email: &str, external_id: &str, given: &str, family: &str) -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": { "givenName": given, "familyName": family },
        "emails": [{ "primary": true, "value": email, "type": "work" }],
        "displayName": format!("{given} {family}"),
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "not-stored-1!",
        "active": true
    })
}

impl TestApp {
    pub async fn post_user(&self, body: &serde_json::Value) -> reqwest::Response {
        self.post_user_as(&self.token, body).await
    }

    pub async fn post_user_as(&self, token: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request_as(token, reqwest::Method::POST, "/Users")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a user and returns its SCIM representation.
    pub async fn create_user(&self, email: &str, external_id: &str) -> serde_json::Value {
        let response = self
            .post_user(&okta_user(email, external_id, "Jane", "Doe"))
            .await;
        assert_eq!(response.status().as_u16(), 201, "creating {email}");
        response.json().await.unwrap()
    }

    /// Creates `user{i}@example.com` with externalId `ext{i}` for `i` in `0..count`.
    pub async fn create_users(&self, count: usize) {
        for i in 0..count {
            self.create_user(&format!("user{i}@example.com"), &format!("ext{i}"))
                .await;
        }
    }

    /// PUT a whole user representation, as Okta and Entra ID replace a profile.
    pub async fn put_user(&self, id: &str, body: &serde_json::Value) -> reqwest::Response {
        self.request(reqwest::Method::PUT, &format!("/Users/{id}"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_user(&self, id: &str) -> reqwest::Response {
        self.delete_user_with(id, &[]).await
    }

    /// DELETE with extra request headers (e.g. `If-Match`).
    pub async fn delete_user_with(&self, id: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.request(reqwest::Method::DELETE, &format!("/Users/{id}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn patch_user(&self, id: &str, operations: serde_json::Value) -> reqwest::Response {
        self.patch_user_as(&self.token, id, operations).await
    }

    /// PATCH `active` the way Okta (de)activates a user.
    pub async fn set_active(&self, id: &str, active: bool) -> reqwest::Response {
        self.patch_user(
            id,
            serde_json::json!([{"op": "replace", "value": {"active": active}}]),
        )
        .await
    }

    pub async fn patch_user_as(
        &self,
        token: &str,
        id: &str,
        operations: serde_json::Value,
    ) -> reqwest::Response {
        self.request_as(token, reqwest::Method::PATCH, &format!("/Users/{id}"))
            .json(&serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": operations
            }))
            .send()
            .await
            .unwrap()
    }

    /// `"UserToOrg"."isActive"` of the user in the test org.
    pub async fn is_active(&self, user_id: &str) -> bool {
        self.db
            .count(&format!(
                "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND \"userId\" = '{user_id}' AND \"isActive\"",
                self.org_id
            ))
            .await
            == 1
    }

    pub async fn session_version(&self, user_id: &str) -> i64 {
        self.db
            .count(&format!(
                "SELECT \"sessionVersion\" FROM \"User\" WHERE id = '{user_id}'"
            ))
            .await
    }

    pub async fn audit_count(&self, action: &str, user_id: &str) -> i64 {
        self.db
            .count(&format!(
                "SELECT count(*) FROM \"Audit\" WHERE action = '{action}' AND \"targetId\" = '{user_id}' \
                 AND \"orgId\" = {} AND \"actorId\" = 'scim' AND \"actorType\" = 'scim_token' \
                 AND \"targetType\" = 'user' AND metadata->>'tokenName' = 'okta' \
                 AND \"sourcebotVersion\" LIKE 'scim-sidecar %'",
                self.org_id
            ))
            .await
    }
}

impl TestApp {
    /// GET a SCIM path with the org's token and parse the body.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get_json_as(&self.token, path).await
    }

    pub async fn get_json_as(&self, token: &str, path: &str) -> serde_json::Value {
        json_of(self.request_as(token, reqwest::Method::GET, path)).await
    }

    /// GET /Users with a filter and parse the ListResponse.
    pub async fn list(&self, filter: &str) -> serde_json::Value {
        json_of(self.get("/Users").query(&[("filter", filter)])).await
    }
}

impl TestApp {
    /// The status of a GET of a SCIM path with the org's token.
    pub async fn status(&self, path: &str) -> u16 {
        self.get(path).send().await.unwrap().status().as_u16()
    }

    /// Polls GET `path` until it answers `status`; returns how long that took.
    pub async fn until_status(&self, path: &str, status: u16) -> Duration {
        eventually(Duration::from_secs(10), || async {
            self.status(path).await == status
        })
        .await
        .unwrap_or_else(|| panic!("GET {path} never answered {status}"))
    }

    /// `until_status`, which must not take longer than `bound` (a cache or refresh bound plus
    /// slack).
    pub async fn until_status_within(&self, path: &str, status: u16, bound: Duration) {
        let took = self.until_status(path, status).await;
        assert!(took <= bound, "took {took:?} for a bound of {bound:?}");
    }
}

impl TestDb {
    /// Ends every backend the service holds on this database (its pool's connections, named by
    /// `database.application_name`), as an operator's `pg_terminate_backend` or a failover
    /// would; returns how many there were.
    pub async fn terminate_service_connections(&self) -> i64 {
        self.count(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'scim-sidecar'",
        )
        .await
    }

    /// Sessions of the service on this database in `state` (e.g. `idle in transaction`), or
    /// waiting on a lock when `state` is `waiting`.
    pub async fn service_sessions(&self, state: &str) -> i64 {
        let condition = if state == "waiting" {
            "wait_event_type = 'Lock'".to_owned()
        } else {
            format!("state = '{state}'")
        };
        self.count(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'scim-sidecar' AND {condition}"
        ))
        .await
    }
}

/// A 503 that tells the client to retry in a second.
pub async fn assert_retry_later(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    assert_scim_error(response, 503).await;
}

/// A second server on a test's database, as a second replica behind a load balancer: its own
/// pool, token cache and rate limiter; the same org and token.
pub struct Replica {
    pub base: String,
    token: String,
    client: reqwest::Client,
}

impl TestApp {
    /// Starts another server on this app's database, configured by `options` (the options
    /// this app was started with, for two replicas of one deployment).
    pub async fn spawn_replica(&self, options: Options) -> Replica {
        let settings = settings_for(&self.db.url, &options);
        let app = Application::build(&settings).await.expect("replica builds");
        let base = format!("http://{}/scim/v2", app.address());
        tokio::spawn(app.run_until_stopped());
        Replica {
            base,
            token: self.token.clone(),
            client: reqwest::Client::new(),
        }
    }
}

impl Replica {
    /// A SCIM request with the test org's token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }
}
