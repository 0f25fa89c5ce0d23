//! Bearer-token authentication, the kill switch and `lastUsedAt`.

use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl;

use crate::helpers::{assert_scim_error, eventually, okta_user, TestApp};

/// The app mints tokens this way (compatibility vector of the behaviour specification).
const APP_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const APP_HASH: &str = "f2dcce963c01d3c96792db1a705dcff2970c3e0b6cae7a20927d210b68cc855e";

/// GET /ServiceProviderConfig with the app-minted token, whether or not it is stored.
async fn get_with_app_token(app: &TestApp) -> reqwest::Response {
    let token = format!("sbscim_{APP_SECRET}");
    app.request_as(&token, reqwest::Method::GET, "/ServiceProviderConfig")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_minted_by_the_app_authenticates() {
    let app = TestApp::spawn().await;
    diesel::sql_query("INSERT INTO \"ScimToken\" (name, hash, \"orgId\") VALUES ('app', $1, $2)")
        .bind::<Text, _>(APP_HASH)
        .bind::<Integer, _>(app.org_id)
        .execute(&mut app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(get_with_app_token(&app).await.status().as_u16(), 200);
}

#[tokio::test]
async fn every_authentication_failure_answers_the_same_401() {
    let app = TestApp::spawn().await;
    let revoked = app.db.create_token(app.org_id, "revoked").await;
    app.db
        .run_sql("DELETE FROM \"ScimToken\" WHERE name = 'revoked'")
        .await;
    let url = format!("{}/ServiceProviderConfig", app.base);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("basic scheme", Some("Basic dXNlcjpwYXNz".into())),
        ("no scheme", Some(app.token.clone())),
        ("wrong prefix", Some(format!("Bearer sbapi_{APP_SECRET}"))),
        ("empty secret", Some("Bearer sbscim_".into())),
        ("empty credential", Some("Bearer ".into())),
        (
            "unknown secret",
            Some(format!("Bearer sbscim_{APP_SECRET}")),
        ),
        ("revoked token", Some(format!("Bearer {revoked}"))),
    ];
    let mut bodies = Vec::new();
    for (case, header) in cases {
        let mut request = app.client.get(&url);
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{case}"
        );
        bodies.push((case, assert_scim_error(response, 401).await));
    }
    for (case, body) in &bodies {
        assert_eq!(body, &bodies[0].1, "{case} differs from {}", bodies[0].0);
    }
}

#[tokio::test]
async fn the_bearer_scheme_word_is_case_insensitive() {
    let app = TestApp::spawn().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .client
            .get(format!("{}/ServiceProviderConfig", app.base))
            .header("authorization", format!("{scheme} {}", app.token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_revoked_token_stops_working_within_the_cache_bound() {
    let app = TestApp::spawn_with_env(&[("SCIM__AUTH__TOKEN_CACHE_TTL_SECS", "1")]).await;
    // Authenticate once so the token is cached, then revoke it behind the server's back.
    assert_eq!(app.status("/ServiceProviderConfig").await, 200);
    app.db.run_sql("DELETE FROM \"ScimToken\"").await;
    app.until_status_within("/ServiceProviderConfig", 401, Duration::from_millis(1500))
        .await;
}

#[tokio::test]
async fn last_used_at_is_recorded_at_most_once_per_interval() {
    let app = TestApp::spawn_with_env(&[("SCIM__AUTH__LAST_USED_INTERVAL_SECS", "1")]).await;
    // Milliseconds since the epoch of the token's recorded last use; 0 while there is none.
    let last_used = || async {
        app.db
            .count("SELECT coalesce((extract(epoch FROM \"lastUsedAt\") * 1000)::bigint, 0) FROM \"ScimToken\" WHERE name = 'okta'")
            .await
    };
    assert_eq!(last_used().await, 0);
    assert_eq!(app.status("/ServiceProviderConfig").await, 200);
    let recorded = eventually(Duration::from_secs(5), || async { last_used().await > 0 }).await;
    assert!(recorded.is_some(), "lastUsedAt never written");
    let first = last_used().await;
    // Keep using the token: the next write must come, and not before the interval is over.
    // A write on every use would show up a poll or two later.
    let rewritten = eventually(Duration::from_secs(5), || async {
        app.status("/ServiceProviderConfig").await == 200 && last_used().await != first
    })
    .await;
    assert!(rewritten.is_some(), "lastUsedAt never written again");
    let gap = last_used().await - first;
    // The interval less the time a spawned write may take to start.
    assert!(
        gap >= 800,
        "written again after {gap} ms within a 1 s interval"
    );
}

#[tokio::test]
async fn disabled_service_answers_403_and_writes_nothing() {
    let app = TestApp::spawn_with_env(&[("SCIM_ENABLED", "false")]).await;
    for path in ["/ServiceProviderConfig", "/Users", "/Nope"] {
        let body = assert_scim_error(app.get(path).send().await.unwrap(), 403).await;
        assert_eq!(body["detail"], "SCIM provisioning is disabled");
    }
    let created = app
        .post_user(&okta_user("jane@example.com", "00u1", "Jane", "Doe"))
        .await;
    assert_scim_error(created, 403).await;
    // An unknown token gets the same 403, not a 401: the refusal comes before the token is
    // looked up, so no write of `lastUsedAt` can still be on its way when the rows are read.
    assert_scim_error(get_with_app_token(&app).await, 403).await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM \"ScimToken\" WHERE \"lastUsedAt\" IS NOT NULL")
            .await,
        0
    );
    for table in ["User", "UserToOrg", "Audit"] {
        assert_eq!(
            app.db
                .count(&format!("SELECT count(*) FROM \"{table}\""))
                .await,
            0,
            "{table}"
        );
    }
}
