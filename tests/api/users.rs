//! `/Users`: create, read, replace, patch, delete, ETags.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, okta_user, Options, TestApp};

#[tokio::test]
async fn post_creates_a_user_and_an_active_membership() {
    let app = TestApp::spawn().await;
    let response = app
        .post_user(&okta_user("Jane.Doe@Example.com", "00u1", "Jane", "Doe"))
        .await;
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, body["meta"]["location"]);
    assert_eq!(location, format!("{}/Users/{id}", app.base));
    assert_eq!(etag, body["meta"]["version"]);
    // userName and emails come back as sent; the app signs the person in with the address in
    // the lower case every SCIM-created account has.
    assert_eq!(body["userName"], "Jane.Doe@Example.com");
    assert_eq!(body["externalId"], "00u1");
    assert_eq!(body["active"], true);
    assert_eq!(body["name"]["givenName"], "Jane");
    assert_eq!(body["locale"], "en-US");
    assert_eq!(
        body["emails"],
        json!([{"value": "Jane.Doe@Example.com", "type": "work", "primary": true}])
    );
    assert!(body.get("password").is_none() && body.get("groups").is_none());

    let db = &app.db;
    assert_eq!(
        db.text(&format!("SELECT email FROM \"User\" WHERE id = '{id}'"))
            .await
            .as_deref(),
        Some("jane.doe@example.com")
    );
    assert_eq!(
        db.text(&format!("SELECT name FROM \"User\" WHERE id = '{id}'"))
            .await
            .as_deref(),
        Some("Jane Doe")
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM \"UserToOrg\" WHERE \"userId\" = '{id}' AND \"orgId\" = {} AND role = 'MEMBER' AND \"isActive\" AND \"scimExternalId\" = '00u1'",
            app.org_id
        ))
        .await,
        1
    );
    assert_eq!(app.audit_count("org.member_added", id).await, 1);
    // Nothing of the password reached the database.
    assert_eq!(db.count("SELECT count(*) FROM scim_sidecar.user_profile WHERE attributes::text LIKE '%not-stored%'").await, 0);
}

#[tokio::test]
async fn post_adopts_an_app_user_who_signed_up_before_scim() {
    let app = TestApp::spawn().await;
    app.db
        .run_sql("INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES ('app-user-1', 'Sam@Example.com', 'Sam', now())")
        .await;
    let response = app
        .post_user(&okta_user("sam@example.com", "00u2", "Samuel", "Smith"))
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "app-user-1");
    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
    // The app keeps its own spelling of the address it signs Sam in with.
    assert_eq!(
        app.db.text("SELECT email FROM \"User\"").await.as_deref(),
        Some("Sam@Example.com")
    );
    assert_eq!(body["userName"], "sam@example.com");
    assert!(app.is_active("app-user-1").await);
}

#[tokio::test]
async fn post_of_an_active_member_answers_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create_user("jane@example.com", "00u1").await;
    let before = app.db.count("SELECT count(*) FROM \"Audit\"").await;
    let again = app
        .post_user(&okta_user("JANE@example.com", "00u9", "J", "D"))
        .await;
    let body = assert_scim_error(again, 409).await;
    assert_eq!(body["scimType"], "uniqueness");
    assert_eq!(
        app.db
            .text("SELECT \"scimExternalId\" FROM \"UserToOrg\"")
            .await
            .as_deref(),
        Some("00u1")
    );
    assert_eq!(app.db.count("SELECT count(*) FROM \"Audit\"").await, before);
}

#[tokio::test]
async fn post_reactivates_an_inactive_member_with_the_same_id() {
    let app = TestApp::spawn().await;
    let user = app.create_user("jane@example.com", "00u1").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(app.set_active(id, false).await.status().as_u16(), 200);
    let response = app
        .post_user(&okta_user("jane@example.com", "00u1-new", "Jane", "Doe"))
        .await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "visible inactive member: 200"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["active"], true);
    assert_eq!(body["externalId"], "00u1-new");
    assert!(app.is_active(id).await);
    assert_eq!(app.audit_count("org.member_reactivated", id).await, 1);
}

#[tokio::test]
async fn delete_hides_the_user_and_a_later_post_restores_it_with_the_same_id() {
    let app = TestApp::spawn().await;
    let user = app.create_user("jane@example.com", "00u1").await;
    let id = user["id"].as_str().unwrap();
    let deleted = app.delete_user(id).await;
    assert_eq!(deleted.status().as_u16(), 204);
    assert!(!app.is_active(id).await);
    assert_eq!(app.audit_count("org.member_removed", id).await, 1);
    assert_eq!(
        app.db.count("SELECT count(*) FROM \"UserToOrg\"").await,
        1,
        "the row stays"
    );

    assert_scim_error(app.get(&format!("/Users/{id}")).send().await.unwrap(), 404).await;
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let response = app
            .request(method.clone(), &format!("/Users/{id}"))
            .json(&json!({"Operations": [{"op": "replace", "value": {"active": true}}], "userName": "jane@example.com"}))
            .send()
            .await
            .unwrap();
        assert_scim_error(response, 404).await;
    }
    let list: Value = app.get_json("/Users").await;
    assert_eq!(list["totalResults"], 0);
    assert!(!app.is_active(id).await, "a 404 changed nothing");

    let restored = app
        .post_user(&okta_user("jane@example.com", "00u1", "Jane", "Doe"))
        .await;
    assert_eq!(
        restored.status().as_u16(),
        201,
        "a DELETEd user comes back as created"
    );
    let body: Value = restored.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert!(app.is_active(id).await);
    assert_eq!(app.status(&format!("/Users/{id}")).await, 200);
}

#[tokio::test]
async fn get_answers_404_for_unknown_ids() {
    let app = TestApp::spawn().await;
    for id in [
        "nope",
        "00000000-0000-0000-0000-000000000000",
        "%27%20OR%201=1",
    ] {
        assert_scim_error(app.get(&format!("/Users/{id}")).send().await.unwrap(), 404).await;
    }
}

#[tokio::test]
async fn put_replaces_writable_attributes_and_ignores_read_only_ones() {
    let app = TestApp::spawn().await;
    let user = app.create_user("jane@example.com", "00u1").await;
    let id = user["id"].as_str().unwrap();
    // Okta's profile update: GET, change, PUT everything back (id, meta, groups, empty strings).
    let mut body: Value = app.get_json(&format!("/Users/{id}")).await;
    body["id"] = json!("someone-else");
    body["name"]["familyName"] = json!("Smith");
    body["displayName"] = json!("Jane Smith");
    body["title"] = json!("");
    body["groups"] = json!([]);
    let response = app.put_user(id, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["id"], id);
    assert_eq!(updated["name"]["familyName"], "Smith");
    assert_eq!(updated["displayName"], "Jane Smith");
    assert!(updated.get("title").is_none());
    assert_eq!(
        app.db
            .text(&format!("SELECT name FROM \"User\" WHERE id = '{id}'"))
            .await
            .as_deref(),
        Some("Jane Smith")
    );
    assert_eq!(app.audit_count("user.updated", id).await, 1);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM \"User\" WHERE id = 'someone-else'")
            .await,
        0
    );
}

#[tokio::test]
async fn put_with_active_false_deprovisions() {
    let app = TestApp::spawn().await;
    let user = app.create_user("jane@example.com", "00u1").await;
    let id = user["id"].as_str().unwrap();
    let mut body = user.clone();
    body["active"] = json!(false);
    let response = app.put_user(id, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(!app.is_active(id).await);
    assert_eq!(app.session_version(id).await, 1);
    assert_eq!(app.audit_count("org.member_deactivated", id).await, 1);
}

#[tokio::test]
async fn put_changing_user_name_to_a_taken_address_answers_409() {
    let app = TestApp::spawn().await;
    let jane = app.create_user("jane@example.com", "00u1").await;
    app.create_user("john@example.com", "00u2").await;
    let mut body = jane.clone();
    body["userName"] = json!("John@Example.com");
    body["emails"] = json!([{"value": "john@example.com", "primary": true}]);
    let response = app.put_user(jane["id"].as_str().unwrap(), &body).await;
    assert_eq!(
        assert_scim_error(response, 409).await["scimType"],
        "uniqueness"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM \"User\" WHERE email = 'jane@example.com'")
            .await,
        1
    );
}

#[tokio::test]
async fn etags_answer_304_and_412() {
    let app = TestApp::spawn().await;
    let user = app.create_user("jane@example.com", "00u1").await;
    let id = user["id"].as_str().unwrap();
    let response = app.get(&format!("/Users/{id}")).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let not_modified = app
        .get(&format!("/Users/{id}"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status().as_u16(), 304);

    let stale = "W/\"0000\"";
    let refused = app
        .request(Method::PATCH, &format!("/Users/{id}"))
        .header("if-match", stale)
        .json(&json!({"Operations": [{"op": "replace", "path": "title", "value": "CTO"}]}))
        .send()
        .await
        .unwrap();
    assert_scim_error(refused, 412).await;
    let accepted = app
        .request(Method::PATCH, &format!("/Users/{id}"))
        .header("if-match", &etag)
        .json(&json!({"Operations": [{"op": "replace", "path": "title", "value": "CTO"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 200);
    let new_etag = accepted.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let changed = app
        .get(&format!("/Users/{id}"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status().as_u16(), 200);
    let delete_stale = app.delete_user_with(id, &[("if-match", &etag)]).await;
    assert_scim_error(delete_stale, 412).await;
    assert!(app.is_active(id).await);
}

#[tokio::test]
async fn patch_shapes_of_okta_and_entra_work() {
    let app = TestApp::spawn().await;
    let user = app.create_user("jane@example.com", "00u1").await;
    let id = user["id"].as_str().unwrap();

    let entra_update = app
        .patch_user(
            id,
            json!([{"op": "Replace", "value": {
                "displayName": "Jane D.",
                "name.givenName": "Janet",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "4711"
            }}]),
        )
        .await;
    assert_eq!(entra_update.status().as_u16(), 200);
    let body: Value = entra_update.json().await.unwrap();
    assert_eq!(body["displayName"], "Jane D.");
    assert_eq!(body["name"]["givenName"], "Janet");
    assert_eq!(
        body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "4711"
    );
    assert!(body["schemas"].as_array().unwrap().contains(&json!(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    )));

    let disable = app
        .patch_user(
            id,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(disable.status().as_u16(), 200);
    assert!(!app.is_active(id).await);
    let enable = app
        .patch_user(
            id,
            json!([{"op": "Add", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(enable.status().as_u16(), 200);
    assert!(app.is_active(id).await);
}

#[tokio::test]
async fn patch_errors_change_nothing_and_operations_are_atomic() {
    let app = TestApp::spawn().await;
    let user = app.create_user("jane@example.com", "00u1").await;
    let id = user["id"].as_str().unwrap();
    let before: Value = app.get_json(&format!("/Users/{id}")).await;
    let cases = [
        (
            json!([{"op": "replace", "path": "title", "value": "CTO"}, {"op": "replace", "path": "favouriteColour", "value": "red"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "id", "value": "other"}]),
            "mutability",
        ),
        (json!([{"op": "remove"}]), "noTarget"),
        (
            json!([{"op": "replace", "path": "active", "value": "perhaps"}]),
            "invalidValue",
        ),
    ];
    for (operations, scim_type) in cases {
        let body = assert_scim_error(app.patch_user(id, operations.clone()).await, 400).await;
        assert_eq!(body["scimType"], scim_type, "{operations}");
    }
    let after: Value = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(before, after);
    assert!(app.is_active(id).await);
    assert_eq!(app.session_version(id).await, 0);
}

#[tokio::test]
async fn malformed_bodies_answer_400_invalid_syntax() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, "/Users")
        .header("content-type", "application/scim+json; charset=utf-8")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_scim_error(response, 400).await["scimType"],
        "invalidSyntax"
    );
    let missing = app.post_user(&json!({"displayName": "No userName"})).await;
    assert_eq!(
        assert_scim_error(missing, 400).await["scimType"],
        "invalidValue"
    );
    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 0);
}

#[tokio::test]
async fn users_survive_a_licence_without_seats_and_respect_one_with_seats() {
    let app = TestApp::spawn_with(Options::seats(2)).await;
    let first = app.create_user("a@example.com", "1").await;
    app.create_user("b@example.com", "2").await;
    let third = app
        .post_user(&okta_user("c@example.com", "3", "C", "C"))
        .await;
    assert_eq!(assert_scim_error(third, 400).await["scimType"], "tooMany");
    assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 2);
    // Freeing a seat lets the next one in; taking it back is refused.
    let id = first["id"].as_str().unwrap();
    assert_eq!(app.set_active(id, false).await.status().as_u16(), 200);
    assert_eq!(
        app.post_user(&okta_user("c@example.com", "3", "C", "C"))
            .await
            .status()
            .as_u16(),
        201
    );
    let back = app.set_active(id, true).await;
    assert_eq!(assert_scim_error(back, 400).await["scimType"], "tooMany");
    assert!(!app.is_active(id).await);
}

#[tokio::test]
async fn entra_work_email_replace_works_for_a_user_created_without_an_email_type() {
    let app = TestApp::spawn().await;
    let created = app
        .post_user(&json!({"userName": "plain@example.com", "externalId": "p1"}))
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let replaced = app
        .patch_user(&id, json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "plain.new@example.com"}]))
        .await;
    assert_eq!(replaced.status().as_u16(), 200);
    let body: Value = replaced.json().await.unwrap();
    // The new work address becomes the sign-in address; userName stays as the IdP sent it.
    assert_eq!(body["userName"], "plain@example.com");
    assert_eq!(
        body["emails"],
        json!([{"value": "plain.new@example.com", "type": "work"}])
    );
    assert_eq!(
        app.db
            .text(&format!("SELECT email FROM \"User\" WHERE id = '{id}'"))
            .await
            .as_deref(),
        Some("plain.new@example.com")
    );
}

#[tokio::test]
async fn a_partial_name_patch_keeps_the_name_the_app_knows() {
    let app = TestApp::spawn().await;
    app.db
        .run_sql("INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES ('jane', 'jane@example.com', 'Jane Doe', now())")
        .await;
    assert_eq!(
        app.post_user(&json!({"userName": "jane@example.com"}))
            .await
            .status()
            .as_u16(),
        201
    );
    let patched = app
        .patch_user(
            "jane",
            json!([{"op": "replace", "path": "name.familyName", "value": "Smith"}]),
        )
        .await;
    assert_eq!(patched.status().as_u16(), 200);
    assert_eq!(
        patched.json::<Value>().await.unwrap()["name"]["familyName"],
        "Smith"
    );
    assert_eq!(
        app.db
            .text("SELECT name FROM \"User\" WHERE id = 'jane'")
            .await
            .as_deref(),
        Some("Jane Doe")
    );
}
