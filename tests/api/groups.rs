//! /Groups against the database: answers and rows, bad input that changes nothing, other
//! orgs, users leaving, the owner group and its last-owner rule under races.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, Options, TestApp};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const OWNER_GROUP: &str = "Sourcebot Owners";

impl TestApp {
    pub async fn post_group(&self, body: &Value) -> reqwest::Response {
        self.request(Method::POST, "/Groups")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a group with these members and returns its answer.
    pub async fn create_group(&self, name: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members.iter().map(|id| json!({ "value": id })).collect();
        let response = self
            .post_group(&json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": name,
                "members": members
            }))
            .await;
        assert_eq!(response.status().as_u16(), 201, "creating group {name}");
        response.json().await.unwrap()
    }

    pub async fn patch_group(&self, id: &str, operations: Value) -> reqwest::Response {
        self.patch_group_as(&self.token, id, operations).await
    }

    pub async fn patch_group_as(
        &self,
        token: &str,
        id: &str,
        operations: Value,
    ) -> reqwest::Response {
        self.request_as(token, Method::PATCH, &format!("/Groups/{id}"))
            .json(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": operations
            }))
            .send()
            .await
            .unwrap()
    }

    pub async fn list_groups(&self, query: &[(&str, &str)]) -> Value {
        let response = self.get("/Groups").query(query).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    /// The group's member rows, by user id.
    pub async fn group_member_rows(&self, group_id: &str) -> Vec<String> {
        let rows = self
            .db
            .text(&format!(
                "SELECT coalesce(string_agg(user_id, ',' ORDER BY user_id), '') \
                 FROM scim_sidecar.group_member WHERE group_id = '{group_id}'"
            ))
            .await
            .unwrap_or_default();
        rows.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub async fn group_count(&self) -> i64 {
        self.db
            .count("SELECT count(*) FROM scim_sidecar.groups")
            .await
    }

    pub async fn role(&self, user_id: &str) -> String {
        self.db
            .text(&format!(
                "SELECT role::text FROM \"UserToOrg\" WHERE \"orgId\" = {} AND \"userId\" = '{user_id}'",
                self.org_id
            ))
            .await
            .unwrap_or_default()
    }

    pub async fn role_audits(&self, user_id: &str, role: &str) -> i64 {
        self.db
            .count(&format!(
                "SELECT count(*) FROM \"Audit\" WHERE action = 'org.member_role_changed' \
                 AND \"targetId\" = '{user_id}' AND \"orgId\" = {} AND metadata->>'role' = '{role}' \
                 AND metadata->>'tokenName' = 'okta'",
                self.org_id
            ))
            .await
    }

    /// Users `name{i}@example.com`, returning their ids.
    pub async fn user_ids(&self, prefix: &str, count: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..count {
            let user = self
                .create_user(
                    &format!("{prefix}{i}@example.com"),
                    &format!("{prefix}-ext{i}"),
                )
                .await;
            ids.push(user["id"].as_str().unwrap().to_owned());
        }
        ids
    }
}

fn member_values(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|members| {
            members
                .iter()
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
async fn groups_are_created_read_listed_replaced_and_deleted() {
    let app = TestApp::spawn().await;
    let users = app.user_ids("crud", 3).await;

    let response = app
        .post_group(&json!({
            "schemas": [GROUP_SCHEMA],
            "displayName": "Engineering",
            "externalId": "00g-eng",
            "members": [{ "value": users[0], "display": "ignored" }, { "value": users[1] }]
        }))
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let group: Value = response.json().await.unwrap();
    let id = group["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("{}/Groups/{id}", app.base));
    assert_eq!(group["schemas"], json!([GROUP_SCHEMA]));
    assert_eq!(group["externalId"], "00g-eng");
    assert_eq!(group["meta"]["resourceType"], "Group");
    assert_eq!(group["meta"]["version"], etag);
    assert_eq!(member_values(&group), sorted(&[&users[0], &users[1]]));
    let first = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == users[0].as_str())
        .unwrap()
        .clone();
    assert_eq!(first["display"], "Jane Doe");
    assert_eq!(first["type"], "User");
    assert_eq!(first["$ref"], format!("{}/Users/{}", app.base, users[0]));
    assert_eq!(
        app.group_member_rows(&id).await,
        sorted(&[&users[0], &users[1]])
    );

    // Read back, whole and without members; If-None-Match answers 304.
    assert_eq!(app.get_json(&format!("/Groups/{id}")).await, group);
    let bare = app
        .get_json(&format!("/Groups/{id}?excludedAttributes=members"))
        .await;
    assert!(bare.get("members").is_none() && bare["displayName"] == "Engineering");
    let not_modified = app
        .get(&format!("/Groups/{id}"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status().as_u16(), 304);

    // The filters IdPs send, in any case.
    app.create_group("Sales", &[&users[2]]).await;
    for (filter, expected) in [
        ("displayName eq \"ENGINEERING\"", vec!["Engineering"]),
        ("externalId eq \"00g-eng\"", vec!["Engineering"]),
        ("externalId eq \"00G-ENG\"", vec![]),
        (
            &*format!("members[value eq \"{}\"]", users[2]),
            vec!["Sales"],
        ),
        (
            &*format!("members.value eq \"{}\"", users[0]),
            vec!["Engineering"],
        ),
        (
            &*format!("id eq \"{id}\" and members eq \"{}\"", users[1]),
            vec!["Engineering"],
        ),
        (
            &*format!("id eq \"{id}\" and members eq \"{}\"", users[2]),
            vec![],
        ),
        (
            "displayName sw \"s\" or displayName co \"neer\"",
            vec!["Engineering", "Sales"],
        ),
        ("not (displayName eq \"sales\")", vec!["Engineering"]),
        (
            "meta.created gt \"2000-01-01T00:00:00Z\"",
            vec!["Engineering", "Sales"],
        ),
    ] {
        let list = app
            .list_groups(&[
                ("filter", filter),
                ("excludedAttributes", "members"),
                ("sortBy", "displayName"),
            ])
            .await;
        let names: Vec<&str> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{filter}");
        assert_eq!(list["totalResults"], expected.len(), "{filter}");
        assert!(list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("members").is_none()));
    }
    let descending = app
        .list_groups(&[("sortBy", "displayName"), ("sortOrder", "descending")])
        .await;
    assert_eq!(descending["Resources"][0]["displayName"], "Sales");
    assert_eq!(
        member_values(&descending["Resources"][0]),
        vec![users[2].clone()]
    );
    let searched: Value = app
        .request(Method::POST, "/Groups/.search")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "displayName eq \"sales\"",
            "attributes": ["displayName"]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(searched["totalResults"], 1);
    assert!(searched["Resources"][0].get("members").is_none());

    // A taken displayName, in another case, is 409 uniqueness.
    let taken = app
        .post_group(&json!({ "schemas": [GROUP_SCHEMA], "displayName": "engineering" }))
        .await;
    assert_eq!(
        assert_scim_error(taken, 409).await["scimType"],
        "uniqueness"
    );
    assert_eq!(app.group_count().await, 2);

    // PUT replaces the whole group; a stale If-Match is 412.
    let put = app
        .request(Method::PUT, &format!("/Groups/{id}"))
        .json(&json!({
            "schemas": [GROUP_SCHEMA],
            "id": id,
            "displayName": "Platform",
            "members": [{ "value": users[2] }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    let put: Value = put.json().await.unwrap();
    assert_eq!(put["displayName"], "Platform");
    assert!(put.get("externalId").is_none());
    assert_eq!(member_values(&put), vec![users[2].clone()]);
    assert_eq!(app.group_member_rows(&id).await, vec![users[2].clone()]);
    let stale = app
        .request(Method::DELETE, &format!("/Groups/{id}"))
        .header("If-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 412);

    let deleted = app
        .request(Method::DELETE, &format!("/Groups/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(app.status(&format!("/Groups/{id}")).await, 404);
    assert!(app.group_member_rows(&id).await.is_empty());
    assert_eq!(app.group_count().await, 1);
}

#[tokio::test]
async fn bad_input_answers_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let users = app.user_ids("bad", 2).await;
    let (_, other_token) = app.other_org().await;
    let stranger = app
        .post_user_as(
            &other_token,
            &crate::helpers::okta_user("stranger@example.com", "s1", "Sam", "Str"),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for body in [
        json!({ "schemas": [GROUP_SCHEMA], "displayName": "X", "members": [{ "value": "nobody" }] }),
        json!({ "schemas": [GROUP_SCHEMA], "displayName": "X", "members": [{ "value": users[0] }, { "value": stranger }] }),
        json!({ "schemas": [GROUP_SCHEMA], "members": [] }),
        json!({ "schemas": [GROUP_SCHEMA], "displayName": "  " }),
        json!({ "schemas": [GROUP_SCHEMA], "displayName": "X", "members": [{ "display": "no value" }] }),
        json!({ "schemas": [GROUP_SCHEMA], "displayName": "X", "members": "u1" }),
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "displayName": "X" }),
    ] {
        let response = app.post_group(&body).await;
        let error = assert_scim_error(response, 400).await;
        assert_eq!(error["scimType"], "invalidValue", "{body}");
        assert!(!error["detail"].as_str().unwrap().contains("nobody"));
    }
    assert_eq!(app.group_count().await, 0);

    let group = app.create_group("Support", &[&users[0]]).await;
    let id = group["id"].as_str().unwrap();
    let version = group["meta"]["version"].clone();
    app.create_group("Taken", &[]).await;
    for (operations, status, scim_type) in [
        // One unknown member fails the whole request, the valid removal before it included.
        (
            json!([
                { "op": "remove", "path": format!("members[value eq \"{}\"]", users[0]) },
                { "op": "add", "path": "members", "value": [{ "value": users[1] }, { "value": stranger }] }
            ]),
            400,
            "invalidValue",
        ),
        (
            json!([{ "op": "replace", "path": "members", "value": [{ "value": "nobody" }] }]),
            400,
            "invalidValue",
        ),
        (
            json!([{ "op": "replace", "path": "displayName", "value": "TAKEN" }]),
            409,
            "uniqueness",
        ),
        (
            json!([{ "op": "remove", "path": "displayName" }]),
            400,
            "invalidValue",
        ),
        (
            json!([{ "op": "replace", "path": "id", "value": "other" }]),
            400,
            "mutability",
        ),
        (
            json!([{ "op": "add", "path": "owner", "value": "x" }]),
            400,
            "invalidPath",
        ),
        (
            json!([{ "op": "remove", "path": "members[display eq \"x\"]" }]),
            400,
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "members[value eq \"x\"]", "value": {} }]),
            400,
            "invalidPath",
        ),
        (json!([{ "op": "remove" }]), 400, "noTarget"),
    ] {
        let response = app.patch_group(id, operations.clone()).await;
        let error = assert_scim_error(response, status).await;
        assert_eq!(error["scimType"], scim_type, "{operations}");
        assert_eq!(
            app.group_member_rows(id).await,
            vec![users[0].clone()],
            "{operations}"
        );
        let now = app.get_json(&format!("/Groups/{id}")).await;
        assert_eq!(
            (&now["displayName"], &now["meta"]["version"]),
            (&json!("Support"), &version)
        );
    }

    for (filter, scim_type) in [
        ("userName eq \"x\"", "invalidFilter"),
        ("members co \"x\"", "invalidFilter"),
        ("displayName eq \"a\u{0}\"", "invalidFilter"),
    ] {
        let response = app
            .get("/Groups")
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            assert_scim_error(response, 400).await["scimType"],
            scim_type,
            "{filter}"
        );
    }
    let response = app
        .get("/Groups")
        .query(&[("sortBy", "members")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_scim_error(response, 400).await["scimType"],
        "invalidValue"
    );
    for path in [
        "/Groups/not-a-uuid",
        "/Groups/00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(app.status(path).await, 404, "{path}");
    }
}

#[tokio::test]
async fn another_orgs_token_neither_sees_nor_changes_a_group() {
    let app = TestApp::spawn().await;
    let users = app.user_ids("iso", 1).await;
    let group = app.create_group("Finance", &[&users[0]]).await;
    let id = group["id"].as_str().unwrap();
    let (_, other) = app.other_org().await;

    let get = app
        .request_as(&other, Method::GET, &format!("/Groups/{id}"))
        .send()
        .await
        .unwrap();
    assert_scim_error(get, 404).await;
    let list = app.get_json_as(&other, "/Groups").await;
    assert_eq!(list["totalResults"], 0);
    let by_member = app
        .get_json_as(
            &other,
            &format!("/Groups?filter=members.value%20eq%20%22{}%22", users[0]),
        )
        .await;
    assert_eq!(by_member["totalResults"], 0);
    let patch = app
        .patch_group_as(&other, id, json!([{ "op": "remove", "path": "members" }]))
        .await;
    assert_scim_error(patch, 404).await;
    let delete = app
        .request_as(&other, Method::DELETE, &format!("/Groups/{id}"))
        .send()
        .await
        .unwrap();
    assert_scim_error(delete, 404).await;
    // The same name is free in the other org.
    let mine = app
        .request_as(&other, Method::POST, "/Groups")
        .json(&json!({ "displayName": "Finance" }))
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status().as_u16(), 201);
    assert_eq!(app.group_member_rows(id).await, vec![users[0].clone()]);
}

#[tokio::test]
async fn deprovisioned_and_deleted_users_leave_group_answers() {
    let app = TestApp::spawn().await;
    let users = app.user_ids("life", 2).await;
    let group = app.create_group("Design", &[&users[0], &users[1]]).await;
    let id = group["id"].as_str().unwrap().to_owned();

    // The User's read-only groups.
    let user = app.get_json(&format!("/Users/{}", users[0])).await;
    assert_eq!(
        user["groups"],
        json!([{
            "value": id,
            "$ref": format!("{}/Groups/{id}", app.base),
            "display": "Design",
            "type": "direct"
        }])
    );
    let listed = app.list(&format!("id eq \"{}\"", users[0])).await;
    assert_eq!(listed["Resources"][0]["groups"][0]["value"], id);
    let without = app
        .get_json(&format!("/Users/{}?excludedAttributes=groups", users[0]))
        .await;
    assert!(without.get("groups").is_none());

    // Deactivated: hidden from the group's answers and member filters, the row kept.
    assert_eq!(
        app.set_active(&users[0], false).await.status().as_u16(),
        200
    );
    let now = app.get_json(&format!("/Groups/{id}")).await;
    assert_eq!(member_values(&now), vec![users[1].clone()]);
    let filtered = app
        .list_groups(&[("filter", &format!("members[value eq \"{}\"]", users[0]))])
        .await;
    assert_eq!(filtered["totalResults"], 0);
    assert_eq!(app.group_member_rows(&id).await.len(), 2);
    assert_eq!(app.set_active(&users[0], true).await.status().as_u16(), 200);
    assert_eq!(
        member_values(&app.get_json(&format!("/Groups/{id}")).await).len(),
        2
    );

    // DELETEd: out of every group; a DELETEd user cannot be added back until provisioned.
    let before = app.get_json(&format!("/Groups/{id}")).await["meta"]["version"].clone();
    assert_eq!(app.delete_user(&users[1]).await.status().as_u16(), 204);
    assert_eq!(app.group_member_rows(&id).await, vec![users[0].clone()]);
    let after = app.get_json(&format!("/Groups/{id}")).await;
    assert_ne!(after["meta"]["version"], before);
    let add = app
        .patch_group(
            &id,
            json!([{ "op": "add", "path": "members", "value": [{ "value": users[1] }] }]),
        )
        .await;
    assert_eq!(
        assert_scim_error(add, 400).await["scimType"],
        "invalidValue"
    );
    let back = app
        .post_user(&crate::helpers::okta_user(
            "life1@example.com",
            "life-ext1",
            "Jane",
            "Doe",
        ))
        .await;
    assert_eq!(back.status().as_u16(), 201);
    assert_eq!(app.group_member_rows(&id).await, vec![users[0].clone()]);
    let add = app
        .patch_group(
            &id,
            json!([{ "op": "add", "path": "members", "value": [{ "value": users[1] }] }]),
        )
        .await;
    assert_eq!(add.status().as_u16(), 200);
    assert_eq!(app.group_member_rows(&id).await.len(), 2);
}

#[tokio::test]
async fn patch_answers_204_when_configured() {
    let app =
        TestApp::spawn_with_env(&[("SCIM__PROVISIONING__GROUP_PATCH_RETURNS_BODY", "false")]).await;
    let users = app.user_ids("nc", 1).await;
    let group = app.create_group("Ops", &[]).await;
    let id = group["id"].as_str().unwrap();
    let response = app
        .patch_group(
            id,
            json!([{ "op": "add", "path": "members", "value": [{ "value": users[0] }] }]),
        )
        .await;
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.headers().contains_key("etag"));
    assert_eq!(app.group_member_rows(id).await, vec![users[0].clone()]);
}

fn owner_app_options() -> Options {
    Options::env(&[("SCIM_OWNER_GROUP", "sourcebot owners")])
}

#[tokio::test]
async fn the_owner_group_promotes_and_demotes_but_keeps_the_last_owner() {
    let app = TestApp::spawn_with(owner_app_options()).await;
    let users = app.user_ids("own", 3).await;
    let (a, b, c) = (&users[0], &users[1], &users[2]);

    // Joining the owner group (its name in another case) makes an owner, with an audit row.
    let group = app.create_group(OWNER_GROUP, &[a]).await;
    let id = group["id"].as_str().unwrap().to_owned();
    assert_eq!(app.role(a).await, "OWNER");
    assert_eq!(app.role_audits(a, "OWNER").await, 1);
    assert_eq!(app.role(b).await, "MEMBER");
    let added = app
        .patch_group(
            &id,
            json!([{ "op": "add", "path": "members", "value": [{ "value": b }] }]),
        )
        .await;
    assert_eq!(added.status().as_u16(), 200);
    assert_eq!(app.role(b).await, "OWNER");

    // Leaving it demotes, while another active owner remains.
    let removed = app
        .patch_group(
            &id,
            json!([{ "op": "remove", "path": format!("members[value eq \"{a}\"]") }]),
        )
        .await;
    assert_eq!(removed.status().as_u16(), 200);
    assert_eq!(app.role(a).await, "MEMBER");
    assert_eq!(app.role_audits(a, "MEMBER").await, 1);

    // The last active owner leaves the group but keeps the role; no audit row claims otherwise.
    let removed = app
        .patch_group(&id, json!([{ "op": "remove", "path": "members" }]))
        .await;
    assert_eq!(removed.status().as_u16(), 200);
    assert!(app.group_member_rows(&id).await.is_empty());
    assert_eq!(app.role(b).await, "OWNER");
    assert_eq!(app.role_audits(b, "MEMBER").await, 0);

    // Another group carries no role; renaming it to the owner group's name would collide.
    let other = app.create_group("Everyone", &[c]).await;
    assert_eq!(app.role(c).await, "MEMBER");
    let rename = app
        .patch_group(
            other["id"].as_str().unwrap(),
            json!([{ "op": "replace", "value": { "displayName": "SOURCEBOT OWNERS" } }]),
        )
        .await;
    assert_eq!(
        assert_scim_error(rename, 409).await["scimType"],
        "uniqueness"
    );
    assert_eq!(app.role(c).await, "MEMBER");

    // Renamed away, the group's members lose the role; renamed back, they regain it.
    app.patch_group(
        &id,
        json!([{ "op": "add", "path": "members", "value": [{ "value": a }, { "value": c }] }]),
    )
    .await;
    assert_eq!(
        (app.role(a).await.as_str(), app.role(c).await.as_str()),
        ("OWNER", "OWNER")
    );
    let away = app
        .patch_group(
            &id,
            json!([{ "op": "replace", "path": "displayName", "value": "Former owners" }]),
        )
        .await;
    assert_eq!(away.status().as_u16(), 200);
    assert_eq!(
        (app.role(a).await.as_str(), app.role(c).await.as_str()),
        ("MEMBER", "MEMBER")
    );
    assert_eq!(app.role(b).await, "OWNER", "b was never in the group again");
    app.patch_group(
        &id,
        json!([{ "op": "replace", "path": "displayName", "value": OWNER_GROUP }]),
    )
    .await;
    assert_eq!(app.role(a).await, "OWNER");

    // The owner group DELETEd: its members are demoted, the last active owner excepted.
    assert_eq!(app.set_active(b, false).await.status().as_u16(), 200);
    let deleted = app
        .request(Method::DELETE, &format!("/Groups/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let roles = (app.role(a).await, app.role(c).await);
    assert!(
        roles == ("OWNER".into(), "MEMBER".into()) || roles == ("MEMBER".into(), "OWNER".into()),
        "{roles:?}"
    );
    let owners = app
        .db
        .count(&format!(
            "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND role = 'OWNER' AND \"isActive\"",
            app.org_id
        ))
        .await;
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn a_deleted_user_leaves_the_owner_group_and_its_role() {
    let app = TestApp::spawn_with(owner_app_options()).await;
    let users = app.user_ids("del", 2).await;
    let group = app.create_group(OWNER_GROUP, &[&users[0], &users[1]]).await;
    assert_eq!(app.delete_user(&users[1]).await.status().as_u16(), 204);
    assert_eq!(app.role(&users[1]).await, "MEMBER");
    assert_eq!(app.role_audits(&users[1], "MEMBER").await, 1);
    assert_eq!(
        app.group_member_rows(group["id"].as_str().unwrap()).await,
        vec![users[0].clone()]
    );
    // The last active owner cannot be DELETEd (as before groups).
    assert_scim_error(app.delete_user(&users[0]).await, 403).await;
}

#[tokio::test]
async fn concurrent_removals_from_the_owner_group_leave_one_owner() {
    let app = TestApp::spawn_with(owner_app_options()).await;
    let users = app.user_ids("race", 6).await;
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let group = app.create_group(OWNER_GROUP, &refs).await;
    let id = group["id"].as_str().unwrap().to_owned();
    for user in &users {
        assert_eq!(app.role(user).await, "OWNER");
    }
    // Each owner is removed by its own request, all at once, beside a second group of the
    // same members being created and deleted.
    let removals = users.iter().map(|user| {
        app.patch_group(
            &id,
            json!([{ "op": "remove", "path": format!("members[value eq \"{user}\"]") }]),
        )
    });
    let second = async {
        let other = app.create_group("Shadow owners", &refs).await;
        app.request(
            Method::DELETE,
            &format!("/Groups/{}", other["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
    };
    let (answers, deleted) = tokio::join!(futures_util::future::join_all(removals), second);
    assert_eq!(deleted, 204);
    for answer in answers {
        assert_eq!(answer.status().as_u16(), 200);
    }
    assert!(app.group_member_rows(&id).await.is_empty());
    let owners = app
        .db
        .count(&format!(
            "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND role = 'OWNER' AND \"isActive\"",
            app.org_id
        ))
        .await;
    assert_eq!(owners, 1);
    let demotions = app
        .db
        .count("SELECT count(*) FROM \"Audit\" WHERE action = 'org.member_role_changed' AND metadata->>'role' = 'MEMBER'")
        .await;
    assert_eq!(demotions, 5);
}

#[tokio::test]
async fn two_owner_groups_racing_create_one() {
    let app = TestApp::spawn_with(owner_app_options()).await;
    let users = app.user_ids("two", 2).await;
    let post = |name: &'static str, user: String| {
        let app = &app;
        async move {
            app.post_group(&json!({ "displayName": name, "members": [{ "value": user }] }))
                .await
                .status()
                .as_u16()
        }
    };
    let (first, second) = tokio::join!(
        post("Sourcebot Owners", users[0].clone()),
        post("SOURCEBOT OWNERS", users[1].clone())
    );
    let mut statuses = [first, second];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    assert_eq!(app.group_count().await, 1);
    let owners = app
        .db
        .count(&format!(
            "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND role = 'OWNER'",
            app.org_id
        ))
        .await;
    assert_eq!(owners, 1, "only the created group's member is an owner");
}

#[tokio::test]
async fn a_removed_member_leaving_the_owner_group_comes_back_as_member() {
    let app = TestApp::spawn_with(crate::helpers::in_mode("remove", owner_app_options())).await;
    let users = app.user_ids("kept", 2).await;
    let group = app.create_group(OWNER_GROUP, &[&users[0], &users[1]]).await;
    let id = group["id"].as_str().unwrap();
    // Deprovisioned in remove mode: no "UserToOrg" row, the role kept by the service.
    assert_eq!(
        app.set_active(&users[1], false).await.status().as_u16(),
        200
    );
    assert_eq!(app.role(&users[1]).await, "");
    let removed = app
        .patch_group(
            id,
            json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", users[1]) }]),
        )
        .await;
    assert_eq!(removed.status().as_u16(), 200);
    assert_eq!(app.role_audits(&users[1], "MEMBER").await, 1);
    assert_eq!(app.set_active(&users[1], true).await.status().as_u16(), 200);
    assert_eq!(app.role(&users[1]).await, "MEMBER");
    assert_eq!(app.role(&users[0]).await, "OWNER");
}
