//! Hostile or careless bodies and filters: a clear 400 and nothing written, never a 500.

use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, okta_user, TestApp};

impl TestApp {
    /// Every row a request could have written.
    async fn everything_written(&self) -> Vec<i64> {
        let mut counts = Vec::new();
        for sql in [
            "SELECT count(*) FROM \"User\"",
            "SELECT count(*) FROM \"UserToOrg\"",
            "SELECT count(*) FROM \"Audit\"",
            "SELECT count(*) FROM scim_sidecar.user_profile",
            "SELECT coalesce(sum(length(attributes::text)), 0) FROM scim_sidecar.user_profile",
            "SELECT coalesce(sum(length(coalesce(name, '') || coalesce(email, ''))), 0) FROM \"User\"",
            "SELECT count(*) FROM \"UserToOrg\" WHERE \"isActive\"",
        ] {
            counts.push(self.db.count(sql).await);
        }
        counts
    }
}

#[tokio::test]
async fn bad_bodies_answer_400_naming_the_attribute_and_write_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user("kept@example.com", "kept").await;
    let id = user["id"].as_str().unwrap().to_owned();
    let before = app.everything_written().await;
    let base = || okta_user("new@example.com", "new", "New", "Person");
    let with = |key: &str, value: Value| {
        let mut body = base();
        body[key] = value;
        body
    };
    let bodies = [
        (with("displayName", json!("a\u{0}b")), "invalidValue"),
        (with("externalId", json!("x\u{0}")), "invalidValue"),
        (with("title", json!("\u{0}")), "invalidValue"),
        (with("name", json!({"givenName": "N\u{0}"})), "invalidValue"),
        (
            with(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                json!({"department": "\u{0}"}),
            ),
            "invalidValue",
        ),
        (
            with("userName", json!("new\u{0}@example.com")),
            "invalidValue",
        ),
        (
            with("externalId", json!("x".repeat(10_000))),
            "invalidValue",
        ),
        (with("externalId", json!({})), "invalidValue"),
        (with("externalId", json!(5)), "invalidValue"),
        (with("name", json!({"givenName": 5})), "invalidValue"),
        (with("active", json!([])), "invalidValue"),
        (with("active", json!({})), "invalidValue"),
        (
            with("emails", json!({"value": "new@example.com"})),
            "invalidValue",
        ),
        (
            with(
                "schemas",
                json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]),
            ),
            "invalidValue",
        ),
        // Within the length limit, but NFKC turns each U+FDFA into 18 characters: the
        // identity key would not fit an index entry.
        (
            with("userName", json!("\u{FDFA}".repeat(200))),
            "invalidValue",
        ),
        (
            with(
                "emails",
                json!([{"value": format!("{}@example.com", "\u{FDFA}".repeat(200))}]),
            ),
            "invalidValue",
        ),
    ];
    for (body, scim_type) in bodies {
        let error = assert_scim_error(app.post_user(&body).await, 400).await;
        assert_eq!(error["scimType"], scim_type, "{body}");
        let replaced = app.put_user(&id, &body).await;
        assert_eq!(replaced.status().as_u16(), 400, "PUT {body}");
    }
    for value in [json!(null), json!(""), json!([]), json!({})] {
        let patched = app
            .patch_user(
                &id,
                json!([{"op": "replace", "path": "active", "value": value}]),
            )
            .await;
        assert_eq!(
            assert_scim_error(patched, 400).await["scimType"],
            "invalidValue"
        );
    }
    let patched = app
        .patch_user(
            &id,
            json!([{"op": "replace", "path": "nickName", "value": "n\u{0}"}]),
        )
        .await;
    assert_scim_error(patched, 400).await;
    assert_eq!(app.everything_written().await, before);
    // The IdP quirks the design lists are still accepted.
    let quirks = app
        .patch_user(
            &id,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(quirks.status().as_u16(), 200);
    let mut bare = okta_user("bare@example.com", "bare", "B", "Are");
    bare.as_object_mut().unwrap().remove("schemas");
    assert_eq!(app.post_user(&bare).await.status().as_u16(), 201);
}

#[tokio::test]
async fn bad_filters_and_query_parameters_answer_400() {
    let app = TestApp::spawn().await;
    for (query, scim_type) in [
        ("filter=userName%20eq%20%22a%00b%22", "invalidFilter"),
        ("filter=title%00%20pr", "invalidFilter"),
        ("sortBy=title%00", "invalidValue"),
        ("sortOrder=sideways", "invalidValue"),
        ("attributes=user%20name", "invalidValue"),
    ] {
        let error = assert_scim_error(
            app.get(&format!("/Users?{query}")).send().await.unwrap(),
            400,
        )
        .await;
        assert_eq!(error["scimType"], scim_type, "{query}");
    }
}
