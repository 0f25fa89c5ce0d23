//! Connection settings and what clients see when the database is slow or saturated.

use std::time::Duration;

use crate::helpers::{assert_retry_later, Options, TestApp};

#[tokio::test]
async fn connections_carry_the_application_name_and_statement_timeout() {
    let app = TestApp::spawn_with_env(&[("SCIM__DATABASE__STATEMENT_TIMEOUT_MS", "300")]).await;
    assert_eq!(app.status("/Users").await, 200);
    let named = app
        .db
        .count(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'scim-sidecar'",
            app.db.name
        ))
        .await;
    assert!(named >= 1, "no pooled connection is named scim-sidecar");

    // A query stuck behind a lock is cancelled by the statement timeout: 503, never a hang.
    let _blocker = app.db.lock_table("User").await;
    let started = std::time::Instant::now();
    let response = app.get("/Users").send().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_retry_later(response).await;
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_after_the_acquire_timeout() {
    let app = TestApp::spawn_with_env(&[
        ("SCIM__DATABASE__POOL_MAX_SIZE", "1"),
        ("SCIM__DATABASE__ACQUIRE_TIMEOUT_MS", "200"),
    ])
    .await;
    let blocker = app.db.lock_table("User").await;
    // The pool's only connection waits on the lock...
    let stuck = tokio::spawn(app.get("/Users").send());
    app.db.until_a_query_waits_for_a_lock().await;
    // ...so the next request cannot get one.
    let refused = app.get("/Users").send().await.unwrap();
    assert_retry_later(refused).await;
    drop(blocker);
    assert_eq!(stuck.await.unwrap().unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn the_apps_prisma_url_works_and_tls_is_used_when_the_server_offers_it() {
    let app = TestApp::spawn_with(Options {
        url_query: Some("sslmode=require&schema=public&connection_limit=5&pool_timeout=10"),
        ..Default::default()
    })
    .await;
    assert_eq!(app.status("/Users").await, 200);
    let server_tls = app.db.text("SELECT current_setting('ssl')").await;
    let encrypted = app
        .db
        .count(&format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{}' AND a.application_name = 'scim-sidecar' AND s.ssl",
            app.db.name
        ))
        .await;
    if server_tls.as_deref() == Some("on") {
        assert!(
            encrypted >= 1,
            "sslmode=require, yet the pool's connections are not encrypted"
        );
    } else {
        // A private test cluster runs without TLS: then only the URL translation is proven.
        eprintln!("PostgreSQL has ssl off here: TLS itself not exercised");
        assert_eq!(encrypted, 0);
    }
}

#[tokio::test]
async fn verify_full_checks_the_host_name_against_the_given_ca() {
    use scim_sidecar::startup::Application;
    const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let db = crate::helpers::TestDb::migrated().await;
    let server_tls = db.text("SELECT current_setting('ssl')").await;
    let cert_file = db.text("SELECT current_setting('ssl_cert_file')").await;
    if server_tls.as_deref() != Some("on") || cert_file.as_deref() != Some(SNAKEOIL) {
        eprintln!("PostgreSQL does not serve Debian's snakeoil certificate here: not exercised");
        return;
    }
    let query = format!("sslmode=verify-full&sslrootcert={SNAKEOIL}");
    // The certificate names `localhost`: reaching the server as 127.0.0.1 must fail...
    let by_address =
        crate::helpers::settings_for(&format!("{}?{query}", db.url), &Options::default());
    let refused = Application::build(&by_address)
        .await
        .err()
        .expect("127.0.0.1 must be refused");
    assert!(
        format!("{refused:#}").contains("not valid for name"),
        "{refused:#}"
    );
    // ...and as localhost must work.
    let by_name = db.url.replacen("127.0.0.1", "localhost", 1);
    let settings = crate::helpers::settings_for(&format!("{by_name}?{query}"), &Options::default());
    assert!(Application::build(&settings).await.is_ok());
}
