//! Okta's and Entra ID's group push, request by request as they send it (bodies, headers,
//! query strings), checking each answer and the rows behind it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::groups::GROUP_SCHEMA;
use crate::helpers::TestApp;

const ENTRA_GROUP_SCHEMA: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .request(method, path)
        .header("Content-Type", "application/json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status != 204 && status != 304 {
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/scim+json"
        );
    }
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

fn values(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn okta_group_push() {
    let app = TestApp::spawn().await;
    let users = app.user_ids("okta", 3).await;
    let (u1, u2, u3) = (&users[0], &users[1], &users[2]);

    // Push Groups: does the group exist?
    let (status, list) = send(
        &app,
        Method::GET,
        "/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100",
        None,
    )
    .await;
    assert_eq!(
        (status, &list["totalResults"], &list["Resources"]),
        (200, &json!(0), &json!([]))
    );

    let (status, created) = send(
        &app,
        Method::POST,
        "/Groups",
        Some(json!({ "schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": [] })),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["members"], json!([]));

    let (status, read) = send(
        &app,
        Method::GET,
        &format!("/Groups/{id}?excludedAttributes=members"),
        None,
    )
    .await;
    assert_eq!((status, &read["displayName"]), (200, &json!("Test SCIMv2")));

    // Rename: a no-path replace carrying the id.
    let (status, renamed) = send(
        &app,
        Method::PATCH,
        &format!("/Groups/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "value": { "id": id, "displayName": "Test SCIMv2 renamed" } }]
        })),
    )
    .await;
    assert_eq!(
        (status, &renamed["displayName"]),
        (200, &json!("Test SCIMv2 renamed"))
    );
    assert_eq!(
        app.db
            .text(&format!(
                "SELECT display_name FROM scim_sidecar.groups WHERE id = '{id}'"
            ))
            .await
            .as_deref(),
        Some("Test SCIMv2 renamed")
    );

    // Member add, then a remove by value path beside an add.
    let (status, patched) = send(
        &app,
        Method::PATCH,
        &format!("/Groups/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "add", "path": "members", "value": [
                { "value": u1, "display": "okta0@example.com" },
                { "value": u2, "display": "okta1@example.com" }
            ] }]
        })),
    )
    .await;
    assert_eq!((status, values(&patched)), (200, sorted(&[u1, u2])));
    assert_eq!(app.group_member_rows(&id).await, sorted(&[u1, u2]));

    let (status, patched) = send(
        &app,
        Method::PATCH,
        &format!("/Groups/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                { "op": "remove", "path": format!("members[value eq \"{u1}\"]") },
                { "op": "add", "path": "members", "value": [{ "value": u3, "display": "okta2@example.com" }] }
            ]
        })),
    )
    .await;
    assert_eq!((status, values(&patched)), (200, sorted(&[u2, u3])));
    assert_eq!(app.group_member_rows(&id).await, sorted(&[u2, u3]));

    // A full push replaces the members.
    let (status, patched) = send(
        &app,
        Method::PATCH,
        &format!("/Groups/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "path": "members", "value": [{ "value": u1 }, { "value": u3 }] }]
        })),
    )
    .await;
    assert_eq!((status, values(&patched)), (200, sorted(&[u1, u3])));
    assert_eq!(app.group_member_rows(&id).await, sorted(&[u1, u3]));

    // Okta's user profile shows the group.
    let user = app.get_json(&format!("/Users/{u1}")).await;
    assert_eq!(user["groups"][0]["display"], "Test SCIMv2 renamed");

    let (status, _) = send(&app, Method::DELETE, &format!("/Groups/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.group_count().await, 0);
    assert!(app.group_member_rows(&id).await.is_empty());
    let (status, _) = send(&app, Method::GET, &format!("/Groups/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn entra_group_push() {
    let app = TestApp::spawn().await;
    let users = app.user_ids("entra", 3).await;
    let (u1, u2, u3) = (&users[0], &users[1], &users[2]);

    let (status, list) = send(
        &app,
        Method::GET,
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22displayName%22",
        None,
    )
    .await;
    assert_eq!((status, &list["totalResults"]), (200, &json!(0)));

    let (status, created) = send(
        &app,
        Method::POST,
        "/Groups",
        Some(json!({
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": { "resourceType": "Group" },
            "schemas": [GROUP_SCHEMA, ENTRA_GROUP_SCHEMA]
        })),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["externalId"],
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    );

    let (status, read) = send(
        &app,
        Method::GET,
        &format!("/Groups/{id}?excludedAttributes=members"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(read.get("members").is_none());
    let (status, list) = send(
        &app,
        Method::GET,
        "/Groups?excludedAttributes=members&filter=externalId+eq+%228aa1a0c0-c4c3-4bc0-b4a5-2ef676900159%22",
        None,
    )
    .await;
    assert_eq!((status, &list["totalResults"]), (200, &json!(1)));

    let (status, renamed) = send(
        &app,
        Method::PATCH,
        &format!("/Groups/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" }]
        })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        renamed["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );

    // Many members in one operation, with "$ref": null.
    let (status, _) = send(
        &app,
        Method::PATCH,
        &format!("/Groups/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Add", "path": "members", "value": [
                { "$ref": null, "value": u1 }, { "$ref": null, "value": u2 }, { "$ref": null, "value": u3 }
            ] }]
        })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.group_member_rows(&id).await, sorted(&[u1, u2, u3]));

    // Entra's membership check.
    let (status, found) = send(
        &app,
        Method::GET,
        &format!("/Groups?filter=id+eq+%22{id}%22+and+members.value+eq+%22{u2}%22&excludedAttributes=members"),
        None,
    )
    .await;
    assert_eq!((status, &found["totalResults"]), (200, &json!(1)));
    assert!(found["Resources"][0].get("members").is_none());

    let (status, removed) = send(
        &app,
        Method::PATCH,
        &format!("/Groups/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Remove", "path": "members", "value": [
                { "$ref": null, "value": u1 }, { "$ref": null, "value": u2 }
            ] }]
        })),
    )
    .await;
    assert_eq!((status, values(&removed)), (200, vec![u3.clone()]));
    assert_eq!(app.group_member_rows(&id).await, vec![u3.clone()]);
    let (status, found) = send(
        &app,
        Method::GET,
        &format!("/Groups?filter=id+eq+%22{id}%22+and+members.value+eq+%22{u2}%22&excludedAttributes=members"),
        None,
    )
    .await;
    assert_eq!((status, &found["totalResults"]), (200, &json!(0)));

    let (status, _) = send(&app, Method::DELETE, &format!("/Groups/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.group_count().await, 0);
}
