//! `GET /Users`: paging, the filters IdPs send, and the indexes behind them.

use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, TestApp};

#[tokio::test]
async fn list_pages_are_deterministic_and_never_overlap() {
    let app = TestApp::spawn().await;
    app.create_users(5).await;
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let page: Value = app
            .get_json(&format!("/Users?startIndex={start}&count=2"))
            .await;
        assert_eq!(
            page["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["startIndex"], start);
        let resources = page["Resources"].as_array().unwrap();
        assert_eq!(page["itemsPerPage"], resources.len());
        seen.extend(
            resources
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and disjoint");
    assert_eq!(seen.len(), 5);

    let counted: Value = app.get_json("/Users?count=0").await;
    assert_eq!(
        (
            counted["totalResults"].clone(),
            counted["Resources"].clone(),
            counted["itemsPerPage"].clone()
        ),
        (json!(5), json!([]), json!(0))
    );
    let clamped: Value = app.get_json("/Users?count=100000&startIndex=-3").await;
    assert_eq!(clamped["startIndex"], 1);
    assert_eq!(clamped["itemsPerPage"], 5);
    assert_scim_error(app.get("/Users?count=many").send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn list_filters_run_the_idp_lookups() {
    let app = TestApp::spawn().await;
    let jane = app.create_user("jane@example.com", "00u1").await;
    app.create_user("john@example.com", "00u2").await;
    let jane_id = jane["id"].as_str().unwrap();
    let cases = [
        "userName eq \"JANE@example.com\"".to_owned(),
        "externalId eq \"00u1\"".to_owned(),
        "emails[type eq \"work\"].value eq \"jane@example.com\"".to_owned(),
        "emails.value eq \"jane@example.com\"".to_owned(),
        format!("id eq \"{jane_id}\""),
        "userName eq \"jane@example.com\" and externalId eq \"00u1\"".to_owned(),
    ];
    for filter in cases {
        let page: Value = app.list(&filter).await;
        assert_eq!(page["totalResults"], 1, "{filter}");
        assert_eq!(page["Resources"][0]["id"], jane_id, "{filter}");
    }
    for filter in [
        "userName eq \"9a3f6c1e-1b2d-4e5f-8a9b-0c1d2e3f4a5b\"",
        "externalId eq \"00u1\" and userName eq \"john@example.com\"",
        "emails[type eq \"home\"].value eq \"jane@example.com\"",
    ] {
        let page: Value = app.list(filter).await;
        assert_eq!(
            (page["totalResults"].clone(), page["Resources"].clone()),
            (json!(0), json!([])),
            "{filter}"
        );
    }
    for filter in [
        "badge co \"Jane\"",
        "userName eq",
        "groups pr",
        "(userName eq \"x\"",
    ] {
        let body = assert_scim_error(
            app.get("/Users")
                .query(&[("filter", filter)])
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        assert_eq!(body["scimType"], "invalidFilter", "{filter}");
    }
}

#[tokio::test]
async fn lookups_find_app_members_whose_address_has_capitals_as_the_directory_spells_it() {
    let app = TestApp::spawn().await;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES ('pre-scim', 'Jane.Doe@Example.com', 'Jane', now()); \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\") VALUES ({}, 'pre-scim');",
            app.org_id
        ))
        .await;
    // The directory spells the address the way the user signed up with it.
    for filter in [
        "userName eq \"Jane.Doe@Example.com\"",
        "emails[type eq \"work\"].value eq \"Jane.Doe@Example.com\"",
    ] {
        let page: Value = app.list(filter).await;
        assert_eq!(page["totalResults"], 1, "{filter}");
        assert_eq!(page["Resources"][0]["id"], "pre-scim");
    }
}

#[tokio::test]
async fn every_supported_filter_is_answered_by_an_index() {
    use scim_sidecar::db::repo::members::explain_list;
    use scim_sidecar::provisioning::filter::member_filter;
    use scim_sidecar::scim::filter::parse_filter;
    let app = TestApp::spawn().await;
    app.create_users(3).await;
    // 100,000 members, half of them provisioned: the planner chooses as it would in
    // production, and a plan that walks the org shows up as a Seq Scan.
    let org = app.org_id;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, \"updatedAt\") \
               SELECT 'seed' || g, 'seed' || g || '@example.com', now() FROM generate_series(1, 100000) g; \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\") \
               SELECT {org}, 'seed' || g FROM generate_series(1, 100000) g; \
             INSERT INTO scim_sidecar.user_profile (org_id, user_id, user_name, attributes, created_at, updated_at) \
               SELECT {org}, 'seed' || g, 'login' || g, \
                      jsonb_build_object('emails', jsonb_build_array(jsonb_build_object('value', 'seed' || g || '@example.com', 'type', 'work'))), \
                      now(), now() \
               FROM generate_series(1, 50000) g; \
             ANALYZE;"
        ))
        .await;
    let mut conn = app.db.conn().await;
    let identity = [
        "user_profile_user_name_key",
        "scim_user_email_identity_idx",
        "UserToOrg_pkey",
    ];
    let addresses = [
        "user_profile_email_keys_idx",
        "scim_user_email_identity_idx",
        "UserToOrg_pkey",
    ];
    let cases: [(&str, &[&str]); 8] = [
        ("userName eq \"USER1@example.com\"", &identity),
        ("userName eq \"bjensen\"", &identity),
        (
            "externalId eq \"ext1\"",
            &["UserToOrg_orgId_scimExternalId_idx"],
        ),
        (
            "emails[type eq \"work\"].value eq \"user1@example.com\"",
            &addresses,
        ),
        ("emails.value eq \"User1@Example.com\"", &addresses),
        (
            "emails.value eq \"user1@example.com\" or externalId eq \"ext2\"",
            &[
                "user_profile_email_keys_idx",
                "UserToOrg_orgId_scimExternalId_idx",
            ],
        ),
        ("id eq \"x\"", &["UserToOrg_pkey"]),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"123\"",
            &["user_profile_employee_number_idx"],
        ),
    ];
    for (filter, indexes) in cases {
        let parsed = member_filter(&parse_filter(filter).unwrap()).unwrap();
        let plan = explain_list(&mut conn, app.org_id, &parsed)
            .await
            .unwrap()
            .join("\n");
        assert!(!plan.contains("Seq Scan"), "{filter}:\n{plan}");
        for index in indexes {
            assert!(
                plan.contains(index),
                "{filter} does not use {index}:\n{plan}"
            );
        }
    }
}
