//! `/openapi.json`: served without a token, and true to the route table: every route the
//! server registers is documented, and every documented operation answers with a status the
//! document lists (the schema-driven fuzzing in `.ci/run` goes further; this keeps
//! `cargo test` honest on its own).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The document as kept in the repository.
const DOCUMENT: &str = include_str!("../../src/http/openapi.json");
/// The route table, read as text: the only list of what the server registers.
const ROUTES: &str = include_str!("../../src/http/mod.rs");

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("src/http/openapi.json is JSON")
}

/// Every literal path registered in `src/http/mod.rs`, as the document spells it:
/// `.route("/x", …)` and `unauthenticated("/x")` at the root, `web::resource("/x")` and
/// `web::resource(["/x", …])` under the SCIM base path. Catch-all patterns (`{rest:.*}`) stand
/// for their resource's other path.
fn registered_paths() -> BTreeSet<String> {
    let literals = |marker: &str| -> Vec<String> {
        ROUTES
            .match_indices(marker)
            .flat_map(|(at, _)| {
                let rest = &ROUTES[at + marker.len()..];
                let end = rest.find(')').expect("a closing parenthesis");
                rest[..end]
                    .split(',')
                    .filter_map(|part| {
                        let part = part.trim().trim_start_matches('[').trim_end_matches(']');
                        part.strip_prefix('"')?.strip_suffix('"').map(str::to_owned)
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mut paths: BTreeSet<String> = literals(".route(")
        .into_iter()
        .chain(literals("unauthenticated("))
        .filter(|path| path.starts_with('/'))
        .collect();
    paths.extend(
        literals("web::resource(")
            .into_iter()
            .filter(|path| !path.contains(':'))
            .map(|path| format!("/scim/v2{path}")),
    );
    paths
}

#[test]
fn the_route_table_reading_finds_every_kind_of_route() {
    // Guards the text reading above: if the route table changes shape, this fails rather than
    // the next test passing on an empty list.
    let paths = registered_paths();
    for expected in [
        "/healthz",
        "/openapi.json",
        "/scim/v2/Users",
        "/scim/v2/Users/{id}",
        "/scim/v2/Me",
    ] {
        assert!(
            paths.contains(expected),
            "{expected} not found in {paths:?}"
        );
    }
}

#[test]
fn every_registered_route_is_documented() {
    let doc = document();
    let missing: Vec<_> = registered_paths()
        .into_iter()
        .filter(|path| doc["paths"].get(path).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from src/http/openapi.json: {missing:?}"
    );
}

#[tokio::test]
async fn openapi_json_is_served_without_a_token_as_kept_in_the_repository() {
    let app = TestApp::spawn().await;
    let response = app.get_plain("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served: Value = response.json().await.expect("valid JSON");
    assert_eq!(served, document());
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));
}

/// Follows a local `$ref` (`#/components/…`).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {reference}")),
        None => value,
    }
}

/// The documented statuses of an operation.
fn statuses(operation: &Value) -> BTreeSet<u16> {
    operation["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|code| code.parse().expect("numeric status codes only"))
        .collect()
}

#[tokio::test]
async fn every_documented_operation_answers_with_a_documented_status() {
    let app = TestApp::spawn().await;
    let doc = document();
    let user = app.create_user("jane@example.com", "ext-jane").await;
    let user_id = user["id"].as_str().unwrap();
    let group: Value = app
        .request(Method::POST, "/Groups")
        .json(&json!({"displayName": "Test group"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group_id = group["id"].as_str().expect("a created group");

    // Destructive operations last, so that the others find the user.
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push((
                method.as_str() == "delete",
                path.clone(),
                method.clone(),
                operation,
            ));
        }
    }
    operations.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    assert!(operations.len() >= 15, "{} operations", operations.len());

    for (_, path, method, operation) in operations {
        let concrete = path
            .replace("/Users/{id}", &format!("/Users/{user_id}"))
            .replace("/Groups/{id}", &format!("/Groups/{group_id}"))
            .replace("/ResourceTypes/{id}", "/ResourceTypes/User")
            .replace(
                "/Schemas/{id}",
                "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            );
        assert!(!concrete.contains('{'), "no sample value for {path}");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut request = app
            .client
            .request(method.clone(), format!("{}{concrete}", app.address))
            .bearer_auth(&app.token);
        if let Some(body) = operation.get("requestBody") {
            let schema = resolve(&doc, &body["content"]["application/scim+json"]["schema"]);
            // Each request body's example is a request the server accepts; a PUT sends the
            // resource back as it is (the example's names belong to what POST created).
            let example = match method {
                Method::PUT if path.starts_with("/scim/v2/Groups") => group.clone(),
                Method::PUT => user.clone(),
                _ => schema.get("example").cloned().unwrap_or(json!({})),
            };
            request = request
                .header("content-type", "application/scim+json")
                .body(example.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let label = format!("{method} {path}");
        assert!(
            statuses(operation).contains(&status),
            "{label} answered {status}, not among {:?}",
            statuses(operation)
        );
        if path.starts_with("/scim/v2/") && (200..300).contains(&status) && status != 204 {
            assert_eq!(
                response.headers()["content-type"].to_str().unwrap(),
                "application/scim+json",
                "{label}"
            );
        }
        // The sample values name what exists: only the not-implemented endpoints may refuse.
        let expected_refusal = operation["tags"][0] == "Not implemented";
        assert_eq!(status >= 400, expected_refusal, "{label} answered {status}");
    }
    // The DELETE went through: the membership is gone from the org.
    assert_eq!(
        app.get(&format!("/Users/{user_id}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn documented_methods_are_exactly_those_each_resource_allows() {
    let app = TestApp::spawn().await;
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "sample");
        let response = app
            .client
            .request(Method::OPTIONS, format!("{}{concrete}", app.address))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 501 {
            continue; // a not-implemented endpoint answers every method alike
        }
        assert_eq!(response.status().as_u16(), 204, "OPTIONS {path}");
        let allowed: BTreeSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_lowercase())
            .filter(|m| m != "head" && m != "options")
            .collect();
        let documented: BTreeSet<String> = item.as_object().unwrap().keys().cloned().collect();
        assert_eq!(allowed, documented, "{path}");
    }
}

#[tokio::test]
async fn probes_and_the_document_answer_other_methods_405_with_allow() {
    // They answered 404 before (found by the schema-driven fuzzing): the path exists, the
    // method does not.
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        for method in [Method::POST, Method::DELETE, Method::TRACE] {
            let response = app
                .client
                .request(method.clone(), format!("{}{path}", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 405, "{method} {path}");
            assert_eq!(response.headers()["allow"], "GET, HEAD, OPTIONS");
        }
        let head = app
            .client
            .head(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status().as_u16(), 200, "HEAD {path}");
    }
}
