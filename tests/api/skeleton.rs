//! The `/scim/v2` scope: media type, error envelopes for unknown paths and methods, request
//! ids, discovery.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use reqwest::Method;

use crate::helpers::{assert_scim_error, okta_user, until_connections_are_refused, TestApp};

#[tokio::test]
async fn service_provider_config_answers_with_scim_media_type_and_location() {
    let app = TestApp::spawn().await;
    let response = app.get("/ServiceProviderConfig").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["schemas"],
        serde_json::json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(body["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(
        body["meta"]["location"],
        serde_json::json!(format!("{}/ServiceProviderConfig", app.base))
    );
}

#[tokio::test]
async fn configured_public_url_is_the_base_of_locations() {
    let app =
        TestApp::spawn_with_env(&[("SCIM_PUBLIC_URL", "https://sb.example.com/scim/v2/")]).await;
    let body: serde_json::Value = app.get_json("/ServiceProviderConfig").await;
    assert_eq!(
        body["meta"]["location"],
        "https://sb.example.com/scim/v2/ServiceProviderConfig"
    );
}

#[tokio::test]
async fn unknown_scim_paths_answer_404_scim_errors() {
    let app = TestApp::spawn().await;
    for path in ["/Nope", "/Groupz/1", "/ServiceProviderConfig/extra"] {
        assert_scim_error(app.get(path).send().await.unwrap(), 404).await;
    }
    assert_scim_error(app.get_plain("/elsewhere").await, 404).await;
}

#[tokio::test]
async fn unsupported_methods_answer_405_scim_errors() {
    let app = TestApp::spawn().await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let response = app
            .request(method.clone(), "/ServiceProviderConfig")
            .send()
            .await
            .unwrap();
        assert_scim_error(response, 405).await;
    }
}

#[tokio::test]
async fn me_bulk_and_root_search_answer_501() {
    let app = TestApp::spawn().await;
    assert_scim_error(app.get("/Me").send().await.unwrap(), 501).await;
    for path in ["/Bulk", "/.search"] {
        let refused = app
            .request(Method::POST, path)
            .json(&serde_json::json!({}))
            .send()
            .await;
        assert_scim_error(refused.unwrap(), 501).await;
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let echoed = app
        .get("/ServiceProviderConfig")
        .header("x-request-id", "idp-req-42")
        .send();
    assert_eq!(
        echoed.await.unwrap().headers()["x-request-id"],
        "idp-req-42"
    );
    let generated = app.get("/ServiceProviderConfig").send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let unsafe_id = app
        .get("/ServiceProviderConfig")
        .header("x-request-id", "a@b.c")
        .send();
    assert_ne!(unsafe_id.await.unwrap().headers()["x-request-id"], "a@b.c");
}

#[tokio::test]
async fn graceful_stop_lets_the_server_finish() {
    // Far longer than the test takes: only the request finishing can end the stop in time.
    let app = TestApp::spawn_with_env(&[("SCIM__SERVER__SHUTDOWN_TIMEOUT_SECS", "30")]).await;
    let mut blocker = app.db.lock_table("User").await;
    let in_flight = tokio::spawn(
        app.request(Method::POST, "/Users")
            // An idle kept-alive connection would hold the stop up until its own timeout.
            .header("connection", "close")
            .json(&okta_user("jane@example.com", "00u1", "Jane", "Doe"))
            .send(),
    );
    app.db.until_a_query_waits_for_a_lock().await;

    let stopped = tokio::spawn(app.stop());
    until_connections_are_refused(&app.address).await;
    assert!(!in_flight.is_finished(), "the request ended under the lock");
    blocker.batch_execute("COMMIT").await.unwrap();
    let response = in_flight
        .await
        .unwrap()
        .expect("an answer, not a dropped connection");
    assert_eq!(response.status().as_u16(), 201);
    assert!(
        tokio::time::timeout(Duration::from_secs(10), stopped)
            .await
            .is_ok(),
        "the stop did not finish after the last request"
    );
    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
    assert!(
        app.get("/ServiceProviderConfig").send().await.is_err(),
        "stopped server still answers"
    );
}
