//! Property test against the running server: arbitrary User bodies, raw bodies, PUTs, PATCHes
//! and filters never answer 5xx, and every answer is a SCIM one. The parsers' own properties
//! are in `tests/fuzz`, whose generators this file shares.

use std::collections::BTreeMap;
use std::sync::Mutex;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use scim_sidecar::license::LicenseClaims;
use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, valid_claims, Options, TestApp};

#[path = "../fuzz/strategies.rs"]
#[allow(dead_code)] // `tests/fuzz` uses the rest.
mod strategies;

use strategies::{
    filter_text, json, mutated, patch_body, typed_patch_body, typed_user_body, user_body,
};

/// `PROPTEST_CASES` when set; else few, since every case sends five requests.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

/// A body as bytes: an edited JSON text, any bytes, or nesting deeper than parsers allow.
fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutated(user_body().prop_map(|body| body.to_string())).prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..64),
        1 => (1usize..5000).prop_map(|depth| "[".repeat(depth).into_bytes()),
    ]
}

/// Status and media type of an answer.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Option<String>) {
    let response = request.send().await.expect("an answer");
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), media_type)
}

#[test]
fn arbitrary_requests_never_answer_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Many cases run for a long fuzz run: no rate limit, and no seat cap to fill.
    let app = runtime.block_on(TestApp::spawn_with(Options {
        license: Some(LicenseClaims {
            seats: None,
            ..valid_claims()
        }),
        ..Options::env(&[("SCIM__SERVER__RATE_LIMIT_PER_SECOND", "0")])
    }));
    let target = runtime.block_on(app.create_user("target@example.com", "00u-target"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_path = format!("/Users/{target}");

    let mut runner = TestRunner::new(Config {
        cases: cases(),
        source_file: Some(file!()),
        ..Config::default()
    });
    let requests = (
        prop_oneof![3 => typed_user_body(), 2 => user_body(), 1 => json()],
        raw_body(),
        prop_oneof![3 => typed_user_body(), 1 => user_body()],
        prop_oneof![3 => typed_patch_body(), 1 => patch_body()],
        filter_text(),
    );
    // How often each request answered each status: shows how deep the cases got.
    let tally = Mutex::new(BTreeMap::<(&str, u16), u32>::new());
    let result = runner.run(&requests, |(post, raw, put, patch, filter)| {
        let answers = runtime.block_on(async {
            [
                (
                    "POST",
                    answer(app.request(Method::POST, "/Users").json(&post)).await,
                ),
                (
                    "POST raw",
                    answer(
                        app.request(Method::POST, "/Users")
                            .header("content-type", "application/scim+json")
                            .body(raw.clone()),
                    )
                    .await,
                ),
                (
                    "PUT",
                    answer(app.request(Method::PUT, &user_path).json(&put)).await,
                ),
                (
                    "PATCH",
                    answer(app.request(Method::PATCH, &user_path).json(&patch)).await,
                ),
                (
                    "GET filter",
                    answer(app.get("/Users").query(&[("filter", &filter)])).await,
                ),
            ]
        });
        for (what, (status, media_type)) in answers {
            *tally.lock().unwrap().entry((what, status)).or_default() += 1;
            prop_assert!(status < 500, "{} answered {}", what, status);
            prop_assert_eq!(
                media_type.as_deref(),
                Some("application/scim+json"),
                "{} ({})",
                what,
                status
            );
        }
        Ok(())
    });
    eprintln!(
        "answers (request, status, count): {:?}",
        tally.lock().unwrap()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // The server is still there and answers.
    let found: Value = runtime.block_on(app.get_json(&user_path));
    assert_eq!(found["id"], Value::String(target));
}

/// Found by the property test above: an escaped NUL (`\u0000`) in a filter's string reached
/// PostgreSQL, which refuses it (500). A raw NUL was already refused.
#[tokio::test]
async fn an_escaped_nul_in_a_filter_string_answers_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let jane = app.create_user("jane@example.com", "00u-jane").await;
    let path = format!("/Users/{}", jane["id"].as_str().unwrap());
    for filter in [
        r#"title eq "\u0000""#,
        r#"userName eq "jane\u0000""#,
        r#"addresses[postalCode ne "\u0000"]"#,
    ] {
        let listed = app.get("/Users").query(&[("filter", filter)]).send().await;
        let body = assert_scim_error(listed.unwrap(), 400).await;
        assert_eq!(body["scimType"], "invalidFilter", "GET {filter}");
        let searched = app
            .request(Method::POST, "/Users/.search")
            .json(&json!({ "filter": filter }))
            .send()
            .await;
        let body = assert_scim_error(searched.unwrap(), 400).await;
        assert_eq!(body["scimType"], "invalidFilter", ".search {filter}");
    }

    let before = app.get_json(&path).await;
    let patched = app
        .patch_user(
            jane["id"].as_str().unwrap(),
            json!([{ "op": "replace", "path": r#"emails[value eq "\u0000"].display"#, "value": "x" }]),
        )
        .await;
    let body = assert_scim_error(patched, 400).await;
    assert_eq!(body["scimType"], "invalidPath");
    assert_eq!(app.get_json(&path).await, before);
}
