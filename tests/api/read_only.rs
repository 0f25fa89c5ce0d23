//! Read-only mode (`SCIM_READ_ONLY=true`): reads are served, every write is answered 503 with
//! `Retry-After`, and the database does not change at all.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_scim_error, eventually, okta_user, Options, TestApp, TestDb};

/// A digest of every row of every table of the app and of the service.
async fn fingerprint(db: &TestDb) -> Vec<(String, String)> {
    let tables = db
        .text(
            "SELECT string_agg(format('%I.%I', table_schema, table_name), ' ' \
             ORDER BY table_schema, table_name) FROM information_schema.tables \
             WHERE table_schema IN ('public', 'scim_sidecar') AND table_type = 'BASE TABLE'",
        )
        .await
        .expect("tables");
    let mut digests = Vec::new();
    for table in tables.split(' ') {
        let digest = db
            .text(&format!(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            ))
            .await
            .expect("digest");
        digests.push((table.to_owned(), digest));
    }
    assert!(digests.len() > 10, "{digests:?}");
    digests
}

#[tokio::test]
async fn read_only_serves_reads_and_refuses_writes_without_changing_the_database() {
    let db = TestDb::migrated().await;
    let org = db.create_org("Acme").await;
    db.create_member(org, "u-1", "one@example.com", "One", Some("ext-1"))
        .await;
    db.create_member(org, "u-2", "two@example.com", "Two", None)
        .await;
    let app = TestApp::spawn_on(db, org, Options::env(&[("SCIM_READ_ONLY", "true")])).await;
    let before = fingerprint(&app.db).await;

    assert_eq!(app.list("userName pr").await["totalResults"], 2);
    assert_eq!(app.get_json("/Users/u-1").await["externalId"], "ext-1");
    assert_eq!(app.list("externalId eq \"ext-1\"").await["totalResults"], 1);
    let search = app
        .request(Method::POST, "/Users/.search")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "externalId eq \"ext-1\""
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(search.status().as_u16(), 200, "a search is a read");
    let group_search = app
        .request(Method::POST, "/Groups/.search")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(group_search.status().as_u16(), 200, "a search is a read");
    for (method, path, status) in [
        (Method::GET, "/ServiceProviderConfig", 200),
        (Method::HEAD, "/Users/u-1", 200),
        (Method::OPTIONS, "/Users", 204),
    ] {
        let answer = app.request(method.clone(), path).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{method} {path}");
    }

    let body = okta_user("new@example.com", "ext-new", "New", "Person");
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]
    });
    let writes = [
        app.request(Method::POST, "/Users").json(&body),
        app.request(Method::PUT, "/Users/u-1").json(&body),
        app.request(Method::PATCH, "/Users/u-1").json(&patch),
        app.request(Method::DELETE, "/Users/u-2"),
        app.request(Method::POST, "/Groups").json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering"
        })),
        // Refused before authentication: nothing is looked up.
        app.client.post(format!("{}/Users", app.base)).json(&body),
    ];
    for write in writes {
        let answer = write.send().await.unwrap();
        assert_eq!(
            answer
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            Some("60")
        );
        let error = assert_scim_error(answer, 503).await;
        assert!(
            error["detail"].as_str().unwrap().contains("read-only"),
            "{error}"
        );
    }

    let ready = app.get_plain("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["readOnly"], true);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.metrics.as_deref().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|line| line == "scim_read_only 1"),
        "{metrics}"
    );

    // Nothing written, not even the token's last use.
    assert_eq!(fingerprint(&app.db).await, before);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM \"ScimToken\" WHERE \"lastUsedAt\" IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn readyz_says_when_the_service_is_not_read_only() {
    let app = TestApp::spawn().await;
    let ready: serde_json::Value = app.get_plain("/readyz").await.json().await.unwrap();
    assert_eq!(ready["readOnly"], false);
    // Writes go through, and the token's last use is recorded (off the request's path).
    app.create_user("jane@example.com", "ext-jane").await;
    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
    let recorded = eventually(Duration::from_secs(10), || async {
        app.db
            .count("SELECT count(*) FROM \"ScimToken\" WHERE \"lastUsedAt\" IS NOT NULL")
            .await
            == 1
    })
    .await;
    assert!(recorded.is_some(), "lastUsedAt never written");
}

#[tokio::test]
async fn check_warns_while_the_service_is_read_only() {
    let db = TestDb::migrated().await;
    let check = |read_only: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_scim-sidecar"))
            .arg("check")
            .current_dir(crate::helpers::MANIFEST_DIR)
            .env_clear()
            .env("DATABASE_URL", &db.url)
            .env("SOURCEBOT_ENCRYPTION_KEY", crate::helpers::ENCRYPTION_KEY)
            .env("SCIM_READ_ONLY", read_only)
            .output()
            .unwrap()
    };
    let read_only = String::from_utf8_lossy(&check("true").stdout).into_owned();
    assert!(
        read_only.contains("read-only: every write answers 503 (SCIM_READ_ONLY=true)"),
        "{read_only}"
    );
    let writable = String::from_utf8_lossy(&check("false").stdout).into_owned();
    assert!(!writable.contains("read-only"), "{writable}");
}
