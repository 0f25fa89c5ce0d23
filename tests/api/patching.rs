//! PATCH as RFC 7644 §3.5.2 describes it, and a round trip of every advertised attribute
//! through POST, PUT and PATCH, each read back by GET.

use serde_json::{json, Map, Value};

use crate::helpers::{assert_scim_error, TestApp};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Every writable attribute `/Schemas` advertises, with a value.
fn everything(suffix: &str) -> Value {
    json!({
        "userName": format!("bjensen{suffix}"),
        "externalId": format!("ext{suffix}"),
        "name": {
            "formatted": format!("Ms. Barbara J Jensen{suffix}"),
            "familyName": format!("Jensen{suffix}"),
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": format!("Babs Jensen{suffix}"),
        "nickName": "Babs",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "emails": [
            {"value": format!("bjensen{suffix}@example.com"), "type": "work", "primary": true, "display": "Work"},
            {"value": format!("babs{suffix}@jensen.org"), "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work", "display": "555", "primary": true}, {"value": "555-555-4444", "type": "mobile"}],
        "addresses": [{
            "type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
            "region": "CA", "postalCode": "91608", "country": "US",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA", "primary": true
        }],
        ENT: {
            "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
            "division": "Theme Park", "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        }
    })
}

/// The attributes of an answer that a client wrote (no `id`, `meta`, `schemas`).
fn written(answer: &Value) -> Value {
    let mut map: Map<String, Value> = answer.as_object().unwrap().clone();
    for read_only in ["id", "meta", "schemas"] {
        map.remove(read_only);
    }
    Value::Object(map)
}

#[tokio::test]
async fn every_advertised_attribute_reads_back_as_written_through_post_put_and_patch() {
    let app = TestApp::spawn().await;
    let created = app.post_user(&everything("")).await;
    assert_eq!(created.status().as_u16(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");
    assert_eq!(written(&app.get_json(&path).await), everything(""));

    // PUT replaces every writable attribute.
    assert_eq!(
        app.put_user(&id, &everything("2")).await.status().as_u16(),
        200
    );
    assert_eq!(written(&app.get_json(&path).await), everything("2"));

    // PATCH: replace, add and remove each one.
    let mut expected = everything("2");
    let steps = [
        (
            json!({"op": "replace", "path": "title", "value": "Lead"}),
            "/title",
            json!("Lead"),
        ),
        (
            json!({"op": "replace", "path": "name.middleName", "value": "J."}),
            "/name/middleName",
            json!("J."),
        ),
        (
            json!({"op": "add", "path": "nickName", "value": "B"}),
            "/nickName",
            json!("B"),
        ),
        (
            json!({"op": "remove", "path": "timezone"}),
            "/timezone",
            Value::Null,
        ),
        (
            json!({"op": "remove", "path": "name.honorificSuffix"}),
            "/name/honorificSuffix",
            Value::Null,
        ),
        (
            json!({"op": "replace", "path": format!("{ENT}:department"), "value": "Parks"}),
            &format!("/{}/department", ENT.replace('/', "~1")),
            json!("Parks"),
        ),
        (
            json!({"op": "replace", "path": format!("{ENT}:manager.displayName"), "value": "J. Smith"}),
            &format!("/{}/manager/displayName", ENT.replace('/', "~1")),
            json!("J. Smith"),
        ),
        (
            json!({"op": "remove", "path": format!("{ENT}:costCenter")}),
            &format!("/{}/costCenter", ENT.replace('/', "~1")),
            Value::Null,
        ),
        (
            json!({"op": "add", "path": "phoneNumbers", "value": [{"value": "555-555-3333", "type": "fax"}]}),
            "/phoneNumbers/2",
            json!({"value": "555-555-3333", "type": "fax"}),
        ),
        (
            json!({"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555-555-0000"}),
            "/phoneNumbers/1/value",
            json!("555-555-0000"),
        ),
        (
            json!({"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "Burbank"}),
            "/addresses/0/locality",
            json!("Burbank"),
        ),
        (
            json!({"op": "replace", "path": "userType", "value": "Contractor"}),
            "/userType",
            json!("Contractor"),
        ),
        (
            json!({"op": "replace", "path": "preferredLanguage", "value": "de-DE"}),
            "/preferredLanguage",
            json!("de-DE"),
        ),
        (
            json!({"op": "replace", "path": "locale", "value": "de-DE"}),
            "/locale",
            json!("de-DE"),
        ),
    ];
    for (operation, pointer, value) in steps {
        let patched = app.patch_user(&id, json!([operation.clone()])).await;
        assert_eq!(patched.status().as_u16(), 200, "{operation}");
        match value {
            Value::Null => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                let parent = if parent.is_empty() {
                    &mut expected
                } else {
                    expected.pointer_mut(parent).unwrap()
                };
                parent.as_object_mut().unwrap().remove(key);
            }
            value => match expected.pointer_mut(pointer) {
                Some(slot) => *slot = value,
                None => expected["phoneNumbers"].as_array_mut().unwrap().push(value),
            },
        }
        assert_eq!(written(&app.get_json(&path).await), expected, "{operation}");
    }
    // Nothing the IdP sent for this org was lost on the way: the stored document is complete.
    assert_eq!(
        app.db
            .count(&format!("SELECT count(*) FROM scim_sidecar.user_profile WHERE user_id = '{id}' AND attributes ? 'phoneNumbers' AND attributes ? 'addresses' AND attributes ? '{ENT}'"))
            .await,
        1
    );
}

#[tokio::test]
async fn the_rfc_patch_examples_give_the_rfc_results() {
    let app = TestApp::spawn().await;
    let created = app
        .post_user(&json!({
            "userName": "bjensen",
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
            "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"}],
            "phoneNumbers": [{"value": "555-555-5555", "type": "work"}]
        }))
        .await;
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");
    let get = || app.get_json(&path);

    // §3.5.2.1: add without a path merges attributes; multi-valued values are appended.
    let added = app
        .patch_user(&id, json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}]))
        .await;
    assert_eq!(added.status().as_u16(), 200);
    let user = get().await;
    assert_eq!(user["nickName"], "Babs");
    assert_eq!(
        user["emails"],
        json!([{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}])
    );
    // Adding an equal value again does not duplicate it.
    app.patch_user(&id, json!([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}])).await;
    assert_eq!(get().await["emails"].as_array().unwrap().len(), 2);

    // §3.5.2.3: replace a whole value selected by a filter, then one sub-attribute of it.
    let replaced = app
        .patch_user(&id, json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
            "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
            "region": "CA", "postalCode": "91608", "country": "US", "primary": true
        }}]))
        .await;
    assert_eq!(replaced.status().as_u16(), 200);
    assert_eq!(
        get().await["addresses"][0]["streetAddress"],
        "911 Universal City Plaza"
    );
    app.patch_user(&id, json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}])).await;
    assert_eq!(
        get().await["addresses"],
        json!([{
            "type": "work", "streetAddress": "1010 Broadway Ave", "locality": "Hollywood",
            "region": "CA", "postalCode": "91608", "country": "US", "primary": true
        }])
    );
    // Replace without a path: attributes in the value replace the current ones.
    app.patch_user(
        &id,
        json!([{"op": "replace", "value": {"emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": true},
        {"value": "babs@jensen.org", "type": "home"}
    ], "nickname": "Babsy"}}]),
    )
    .await;
    let user = get().await;
    assert_eq!(
        (
            user["nickName"].clone(),
            user["emails"].as_array().unwrap().len()
        ),
        (json!("Babsy"), 2)
    );
    // Setting primary on one value clears it on the others.
    app.patch_user(
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    )
    .await;
    let emails = get().await["emails"].clone();
    assert_eq!(
        (emails[0].get("primary"), &emails[1]["primary"]),
        (Some(&json!(false)), &json!(true))
    );

    // §3.5.2.2: remove the values a filter selects, then all values of an attribute.
    let removed = app
        .patch_user(&id, json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]))
        .await;
    assert_eq!(removed.status().as_u16(), 200);
    assert_eq!(
        get().await["emails"],
        json!([{"value": "babs@jensen.org", "type": "home", "primary": true}])
    );
    app.patch_user(&id, json!([{"op": "remove", "path": "phoneNumbers"}]))
        .await;
    assert!(get().await.get("phoneNumbers").is_none());

    // Errors change nothing: a required attribute, read-only ones, a filter that selects
    // nothing; and a request whose second operation fails applies neither.
    let before = get().await;
    for (operation, status, scim_type) in [
        (
            json!({"op": "remove", "path": "userName"}),
            400,
            "invalidValue",
        ),
        (
            json!({"op": "replace", "path": "id", "value": "x"}),
            400,
            "mutability",
        ),
        (
            json!({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}),
            400,
            "mutability",
        ),
        (
            json!({"op": "remove", "path": "emails[type eq \"other\"]"}),
            400,
            "noTarget",
        ),
        (
            json!({"op": "replace", "path": "nosuch", "value": "x"}),
            400,
            "invalidPath",
        ),
    ] {
        let response = app
            .patch_user(
                &id,
                json!([{"op": "replace", "path": "title", "value": "changed"}, operation.clone()]),
            )
            .await;
        let error = assert_scim_error(response, status).await;
        assert_eq!(error["scimType"], scim_type, "{operation}");
        assert_eq!(get().await, before, "{operation}");
    }
}
