//! Discovery documents describe what is implemented.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, TestApp};

#[tokio::test]
async fn discovery_describes_users_truthfully() {
    let app = TestApp::spawn().await;
    let config: Value = app.get_json("/ServiceProviderConfig").await;
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    assert_eq!(config["filter"]["maxResults"], 200);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(config["sort"]["supported"], true);

    let types: Value = app.get_json("/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(types["Resources"][1]["endpoint"], "/Groups");
    let user_type: Value = app.get_json("/ResourceTypes/User").await;
    assert_eq!(
        user_type["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );
    let group_type: Value = app.get_json("/ResourceTypes/Group").await;
    assert_eq!(
        group_type["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    );
    assert_scim_error(app.get("/ResourceTypes/Bulk").send().await.unwrap(), 404).await;

    let schemas: Value = app.get_json("/Schemas").await;
    assert_eq!(schemas["totalResults"], 3);
    let group_schema: Value = app
        .get_json("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .await;
    let members = group_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "members")
        .unwrap()
        .clone();
    assert_eq!(members["multiValued"], true);
    let member_ref = members["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "$ref")
        .unwrap()
        .clone();
    assert_eq!(member_ref["referenceTypes"], json!(["User"]));
    let user_schema: Value = app
        .get_json("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    let names: Vec<&str> = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for name in [
        "userName",
        "name",
        "displayName",
        "emails",
        "active",
        "externalId",
        "title",
        "phoneNumbers",
    ] {
        assert!(names.contains(&name), "{name} missing from /Schemas");
    }
    assert!(!names.contains(&"password"));
    let groups = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "groups")
        .expect("the User's groups in /Schemas")
        .clone();
    assert_eq!(groups["mutability"], "readOnly");
    // Characteristics say what the service does: 409 on a taken userName or externalId,
    // `id` in every projection, userName compared without regard to case.
    let attribute = |name: &str| {
        user_schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    for (name, uniqueness, case_exact, returned) in [
        ("userName", "server", false, "default"),
        ("externalId", "server", true, "default"),
        ("id", "server", true, "always"),
        ("title", "none", false, "default"),
    ] {
        let attribute = attribute(name);
        assert_eq!(
            (
                &attribute["uniqueness"],
                &attribute["caseExact"],
                &attribute["returned"]
            ),
            (&json!(uniqueness), &json!(case_exact), &json!(returned)),
            "{name}"
        );
    }
    assert_scim_error(app.get("/Schemas/urn:nope").send().await.unwrap(), 404).await;
    for path in ["/Schemas", "/ResourceTypes", "/Users/x"] {
        assert_scim_error(
            app.request(Method::POST, path)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            405,
        )
        .await;
    }
    assert_scim_error(
        app.request(Method::DELETE, "/Users").send().await.unwrap(),
        405,
    )
    .await;
}
