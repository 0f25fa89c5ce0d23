//! Replays of what Okta and Microsoft Entra ID send, step by step, checking every answer and
//! the database after each step.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn list(app: &TestApp, filter: &str) -> Value {
    let response = app
        .get("/Users")
        .query(&[("filter", filter), ("startIndex", "1"), ("count", "100")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{filter}");
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn okta_lifecycle_replay() {
    let app = TestApp::spawn().await;

    // 1. Existence check before import.
    let empty = list(&app, "userName eq \"jane.okta@example.com\"").await;
    assert_eq!(
        (empty["totalResults"].clone(), empty["Resources"].clone()),
        (json!(0), json!([]))
    );

    // 2. Create, as Okta sends it: application/json, password, groups: [].
    let create = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jane.okta@example.com",
        "name": {"givenName": "Jane", "familyName": "Okta"},
        "emails": [{"primary": true, "value": "jane.okta@example.com", "type": "work"}],
        "displayName": "Jane Okta",
        "locale": "en-US",
        "externalId": "00u1okta",
        "groups": [],
        "password": "1mP0ssible!",
        "active": true
    });
    let created = app
        .request(Method::POST, "/Users")
        .header("content-type", "application/json")
        .body(create.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let user: Value = created.json().await.unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    assert!(app.is_active(&id).await);
    assert_eq!(
        list(&app, "userName eq \"jane.okta@example.com\"").await["totalResults"],
        1
    );

    // 3. Read back.
    let fetched = app.get(&format!("/Users/{id}")).send().await.unwrap();
    assert_eq!(fetched.status().as_u16(), 200);
    let mut profile: Value = fetched.json().await.unwrap();
    assert_eq!(profile["externalId"], "00u1okta");

    // 4. Profile update: the whole object back, with id, meta, groups and empty strings.
    profile["name"]["familyName"] = json!("Okta-Smith");
    profile["displayName"] = json!("Jane Okta-Smith");
    profile["nickName"] = json!("");
    profile["groups"] = json!([]);
    let put = app.put_user(&id, &profile).await;
    assert_eq!(put.status().as_u16(), 200);
    let updated: Value = put.json().await.unwrap();
    assert_eq!(updated["name"]["familyName"], "Okta-Smith");
    assert_eq!(
        app.db
            .text(&format!("SELECT name FROM \"User\" WHERE id = '{id}'"))
            .await
            .as_deref(),
        Some("Jane Okta-Smith")
    );
    assert!(app.is_active(&id).await);

    // 5. Deactivate.
    let deactivate = app.set_active(&id, false).await;
    assert_eq!(deactivate.status().as_u16(), 200);
    let body: Value = deactivate.json().await.unwrap();
    assert_eq!(body["active"], false);
    assert!(!app.is_active(&id).await);
    assert_eq!(app.session_version(&id).await, 1);

    // 6. Reactivate.
    let reactivate = app.set_active(&id, true).await;
    assert_eq!(reactivate.status().as_u16(), 200);
    assert!(app.is_active(&id).await);
    assert_eq!(app.audit_count("org.member_added", &id).await, 1);
    assert_eq!(app.audit_count("org.member_deactivated", &id).await, 1);
    assert_eq!(app.audit_count("org.member_reactivated", &id).await, 1);
    assert_eq!(app.audit_count("user.updated", &id).await, 1);
}

#[tokio::test]
async fn entra_lifecycle_replay() {
    let app = TestApp::spawn().await;

    // 1. Connection test with a random GUID.
    let test = list(&app, "userName eq \"8f9a3c7e-44b1-4d2e-9c0a-6b5e1f2d3a4c\"").await;
    assert_eq!(
        (test["totalResults"].clone(), test["Resources"].clone()),
        (json!(0), json!([]))
    );

    // 2. Matching before create: by userName, externalId and work e-mail.
    for filter in [
        "userName eq \"alex@contoso.com\"",
        "externalId eq \"b1f0c2d3-entra\"",
        "emails[type eq \"work\"].value eq \"alex@contoso.com\"",
    ] {
        assert_eq!(list(&app, filter).await["totalResults"], 0, "{filter}");
    }

    // 3. Create.
    let created = app
        .post_user(&json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "externalId": "b1f0c2d3-entra",
            "userName": "Alex@contoso.com",
            "active": true,
            "displayName": "Alex Wilber",
            "emails": [{"primary": true, "type": "work", "value": "Alex@contoso.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Alex Wilber", "familyName": "Wilber", "givenName": "Alex"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1001", "department": "Sales"}
        }))
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let user: Value = created.json().await.unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["userName"], "Alex@contoso.com");
    assert_eq!(
        user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Sales"
    );
    assert!(app.is_active(&id).await);

    for filter in [
        "userName eq \"alex@contoso.com\"",
        "externalId eq \"b1f0c2d3-entra\"",
        "emails[type eq \"work\"].value eq \"alex@contoso.com\"",
    ] {
        let found = list(&app, filter).await;
        assert_eq!(found["totalResults"], 1, "{filter}");
        assert_eq!(found["Resources"][0]["id"], id.as_str());
    }

    // 4. Updates with Replace/Add and string booleans.
    let update = app
        .patch_user(
            &id,
            json!([
                {"op": "Replace", "path": "displayName", "value": "Alex W."},
                {"op": "Add", "path": "title", "value": "Account Executive"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alex@contoso.com"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
                {"op": "Replace", "path": "active", "value": "True"}
            ]),
        )
        .await;
    assert_eq!(update.status().as_u16(), 200);
    let body: Value = update.json().await.unwrap();
    assert_eq!(body["displayName"], "Alex W.");
    assert_eq!(body["title"], "Account Executive");
    assert_eq!(
        body["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    assert_eq!(
        app.db
            .text(&format!("SELECT name FROM \"User\" WHERE id = '{id}'"))
            .await
            .as_deref(),
        Some("Alex W.")
    );

    // 5. aadOptscim062020: one no-path Replace with dotted and URN keys.
    let flagged = app
        .patch_user(
            &id,
            json!([{"op": "Replace", "value": {
                "displayName": "Alexandra Wilber",
                "name.givenName": "Alexandra",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "1002"
            }}]),
        )
        .await;
    assert_eq!(flagged.status().as_u16(), 200);
    let body: Value = flagged.json().await.unwrap();
    assert_eq!(body["name"]["givenName"], "Alexandra");
    assert_eq!(
        body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "1002"
    );
    assert_eq!(
        body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Sales"
    );

    // 6. Disable with a string boolean.
    let disable = app
        .patch_user(
            &id,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(disable.status().as_u16(), 200);
    assert!(!app.is_active(&id).await);
    assert_eq!(app.session_version(&id).await, 1);

    // 7. Delete.
    let deleted = app.delete_user(&id).await;
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(app.status(&format!("/Users/{id}")).await, 404);
    assert_eq!(
        list(&app, "externalId eq \"b1f0c2d3-entra\"").await["totalResults"],
        0
    );
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM \"UserToOrg\" WHERE \"userId\" = '{id}' AND NOT \"isActive\""
            ))
            .await,
        1
    );
    assert_eq!(app.audit_count("org.member_removed", &id).await, 1);
    assert_eq!(
        app.session_version(&id).await,
        1,
        "already deprovisioned: no second revocation"
    );
}
