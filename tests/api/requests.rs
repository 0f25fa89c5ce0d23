//! What reaches a handler: body timeout, size and media type, HEAD/OPTIONS/405, impossible
//! ids, the per-token rate limit. Each refusal also leaves the database as it was.

use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_scim_error, okta_user, TestApp};

impl TestApp {
    /// Memberships and accounts: both stay 0 while every write is refused.
    async fn nothing_written(&self) {
        assert_eq!(self.db.count("SELECT count(*) FROM \"User\"").await, 0);
        assert_eq!(self.db.count("SELECT count(*) FROM \"UserToOrg\"").await, 0);
        assert_eq!(self.db.count("SELECT count(*) FROM \"Audit\"").await, 0);
    }

    /// Sends `head` (and then nothing) on a raw connection; returns what the server said and
    /// whether it closed the connection, within `bound`.
    async fn raw_exchange(&self, head: &str, bound: Duration) -> (String, bool) {
        let address = self.address.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        let closed = tokio::time::timeout(bound, async {
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => answer.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await
        .is_ok();
        (String::from_utf8_lossy(&answer).into_owned(), closed)
    }
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_408_and_the_connection_closed() {
    let app = TestApp::spawn_with_env(&[("SCIM__SERVER__BODY_TIMEOUT_MS", "500")]).await;
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{",
        app.token
    );
    let started = Instant::now();
    let (answer, closed) = app.raw_exchange(&head, Duration::from_secs(5)).await;
    assert!(closed, "the connection was held open: {answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/scim+json"), "{answer}");
    assert!(answer.contains("\"status\":\"408\""), "{answer}");
    app.nothing_written().await;
}

#[tokio::test]
async fn a_body_over_the_limit_answers_413_without_being_read() {
    let app = TestApp::spawn().await;
    let mut body = okta_user("jane@example.com", "00u-jane", "Jane", "Doe");
    body["title"] = serde_json::Value::String("x".repeat(5 * 1024 * 1024));
    let response = app.post_user(&body).await;
    assert_scim_error(response, 413).await;

    // Without a Content-Length (chunked), the limit is counted as the body arrives.
    let app = TestApp::spawn_with_env(&[("SCIM__SERVER__MAX_BODY_BYTES", "1000")]).await;
    let chunk = format!("320\r\n{}\r\n", " ".repeat(800));
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n",
        app.token
    );
    let (answer, _) = app.raw_exchange(&head, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"status\":\"413\""), "{answer}");
    app.nothing_written().await;
}

#[tokio::test]
async fn bodies_that_are_not_utf8_json_answer_415_and_json_ones_are_accepted() {
    let app = TestApp::spawn().await;
    let body =
        serde_json::to_vec(&okta_user("jane@example.com", "00u-jane", "Jane", "Doe")).unwrap();
    for content_type in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=xyz",
        "application/json; charset=utf-16",
        "application/x-www-form-urlencoded",
    ] {
        let response = app
            .request(Method::POST, "/Users")
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_scim_error(response, 415).await;
    }
    app.nothing_written().await;

    let accepted = [
        Some("application/scim+json; charset=utf-8"),
        Some("application/json"),
        None,
    ];
    for (i, content_type) in accepted.into_iter().enumerate() {
        let email = format!("user{i}@example.com");
        let body =
            serde_json::to_vec(&okta_user(&email, &format!("00u-{i}"), "Jane", "Doe")).unwrap();
        let mut request = app.request(Method::POST, "/Users").body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201, "{content_type:?}");
    }
}

#[tokio::test]
async fn head_answers_as_get_without_a_body_and_options_and_405_say_what_is_allowed() {
    let app = TestApp::spawn().await;
    let jane = app.create_user("jane@example.com", "00u-jane").await;
    let id = jane["id"].as_str().unwrap();

    let get = app.get(&format!("/Users/{id}")).send().await.unwrap();
    let head = app
        .request(Method::HEAD, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers().get("etag"), get.headers().get("etag"));
    assert_eq!(head.headers()["content-type"], "application/scim+json");
    assert!(head.bytes().await.unwrap().is_empty());
    let head = app.request(Method::HEAD, "/Users").send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);

    for (path, allow) in [
        ("/Users", "GET, HEAD, POST, OPTIONS"),
        (
            &format!("/Users/{id}") as &str,
            "GET, HEAD, PUT, PATCH, DELETE, OPTIONS",
        ),
        ("/ServiceProviderConfig", "GET, HEAD, OPTIONS"),
        ("/Schemas", "GET, HEAD, OPTIONS"),
    ] {
        let options = app.request(Method::OPTIONS, path).send().await.unwrap();
        assert_eq!(options.status().as_u16(), 204, "{path}");
        assert_eq!(options.headers()["allow"], allow, "{path}");
    }
    for (method, path, allow) in [
        (Method::PUT, "/Users", "GET, HEAD, POST, OPTIONS"),
        (
            Method::POST,
            &format!("/Users/{id}") as &str,
            "GET, HEAD, PUT, PATCH, DELETE, OPTIONS",
        ),
        (
            Method::DELETE,
            "/ServiceProviderConfig",
            "GET, HEAD, OPTIONS",
        ),
        (
            Method::from_bytes(b"PROPFIND").unwrap(),
            "/Users",
            "GET, HEAD, POST, OPTIONS",
        ),
    ] {
        let response = app
            .request(method.clone(), path)
            .json(&okta_user("bob@example.com", "00u-bob", "Bob", "Roe"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_scim_error(response, 405).await;
    }
    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
}

#[tokio::test]
async fn an_id_with_a_nul_or_control_character_is_not_found() {
    let app = TestApp::spawn().await;
    for path in ["/Users/a%00b", "/Users/a%0Ab", "/Schemas/a%00b"] {
        assert_scim_error(app.get(path).send().await.unwrap(), 404).await;
    }
    let response = app
        .request(Method::DELETE, "/Users/a%00b")
        .send()
        .await
        .unwrap();
    assert_scim_error(response, 404).await;
    let response = app
        .request(Method::PUT, "/Users/a%00b")
        .json(&okta_user("jane@example.com", "00u-jane", "Jane", "Doe"))
        .send()
        .await
        .unwrap();
    assert_scim_error(response, 404).await;
    app.nothing_written().await;
}

#[tokio::test]
async fn a_token_past_its_rate_answers_429_and_others_are_not_held_back() {
    let app = TestApp::spawn_with_env(&[
        ("SCIM__SERVER__RATE_LIMIT_PER_SECOND", "1"),
        ("SCIM__SERVER__RATE_LIMIT_BURST", "3"),
    ])
    .await;
    let (_, globex) = app.other_org().await;
    for _ in 0..3 {
        assert_eq!(app.status("/Users").await, 200);
    }
    let refused = app
        .post_user(&okta_user("jane@example.com", "00u-jane", "Jane", "Doe"))
        .await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_scim_error(refused, 429).await;
    app.nothing_written().await;
    // Another token has its own allowance.
    let other = app
        .request_as(&globex, Method::GET, "/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 200);
    // And the limited token gets through again once a second has passed.
    app.until_status("/Users", 200).await;
}
