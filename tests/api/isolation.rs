//! One org's token against another org's users, and accounts shared between orgs.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, okta_user, TestApp};

#[tokio::test]
async fn another_orgs_users_do_not_exist_for_this_token() {
    let app = TestApp::spawn().await;
    let (other_org, b_token) = app.other_org().await;
    app.db
        .create_member(other_org, "b-user", "bob@globex.com", "Bob", Some("gx-1"))
        .await;
    let snapshot = || async {
        app.db
            .text(&format!("SELECT row_to_json(t)::text FROM (SELECT u.name, u.email, u.\"sessionVersion\", m.\"isActive\", m.\"scimExternalId\" FROM \"User\" u JOIN \"UserToOrg\" m ON m.\"userId\" = u.id WHERE u.id = 'b-user' AND m.\"orgId\" = {other_org}) t"))
            .await
    };
    let before = snapshot().await;

    assert_scim_error(app.get("/Users/b-user").send().await.unwrap(), 404).await;
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let response = app
            .request(method, "/Users/b-user")
            .json(&json!({"userName": "bob@globex.com", "active": false, "Operations": [{"op": "replace", "value": {"active": false}}]}))
            .send()
            .await
            .unwrap();
        assert_scim_error(response, 404).await;
    }
    for filter in [
        "userName eq \"bob@globex.com\"",
        "externalId eq \"gx-1\"",
        "id eq \"b-user\"",
        "emails.value eq \"bob@globex.com\"",
    ] {
        let page: Value = app.list(filter).await;
        assert_eq!(page["totalResults"], 0, "{filter}");
    }
    let all: Value = app.get_json("/Users").await;
    assert_eq!(all["totalResults"], 0);
    // B's user in a body: org A gets a membership of its own (as for any address it does not
    // know), and B's account and membership stay as they were.
    let adopted = app
        .post_user(&okta_user("bob@globex.com", "a-bob", "Robert", "A"))
        .await;
    assert_eq!(adopted.status().as_u16(), 201);
    assert_eq!(snapshot().await, before, "org B's user changed");
    // B's own token sees B's member and nothing of A's.
    let b_list: Value = app.get_json_as(&b_token, "/Users").await;
    assert_eq!(b_list["totalResults"], 1);
    assert_eq!(b_list["Resources"][0]["externalId"], "gx-1");
    assert_eq!(b_list["Resources"][0]["displayName"], "Bob");
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM \"Audit\" WHERE \"orgId\" = {other_org}"
            ))
            .await,
        0
    );
}

#[tokio::test]
async fn a_user_shared_with_another_org_keeps_its_name_and_email() {
    let app = TestApp::spawn().await;
    let (other_org, _) = app.other_org().await;
    app.db
        .create_member(other_org, "shared", "pat@example.com", "Pat (Globex)", None)
        .await;
    // Org A's IdP provisions the same person under another name: A sees its own values...
    let created = app
        .post_user(&okta_user("pat@example.com", "a-1", "Patricia", "Jones"))
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["id"], "shared");
    assert_eq!(body["displayName"], "Patricia Jones");
    // ...while the shared account keeps the name the other org knows.
    assert_eq!(
        app.db
            .text("SELECT name FROM \"User\" WHERE id = 'shared'")
            .await
            .as_deref(),
        Some("Pat (Globex)")
    );

    // userName is this org's name for the person: it changes without touching the account.
    let renamed = app
        .patch_user(
            "shared",
            json!([{"op": "replace", "path": "userName", "value": "patricia@example.com"}]),
        )
        .await;
    assert_eq!(renamed.status().as_u16(), 200);
    assert_eq!(
        renamed.json::<Value>().await.unwrap()["userName"],
        "patricia@example.com"
    );
    // A new sign-in address would re-address the other org's member.
    let readdressing_is_refused = || async {
        let readdressed = app
            .patch_user(
                "shared",
                json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "patricia@example.com"}]),
            )
            .await;
        assert_eq!(
            assert_scim_error(readdressed, 400).await["scimType"],
            "mutability"
        );
    };
    readdressing_is_refused().await;
    assert_eq!(
        app.db
            .text("SELECT email FROM \"User\" WHERE id = 'shared'")
            .await
            .as_deref(),
        Some("pat@example.com")
    );

    // An inactive membership elsewhere still shares the account: re-addressing it would hand
    // that org's member to whoever owns the new address.
    app.db
        .run_sql(&format!(
            "UPDATE \"UserToOrg\" SET \"isActive\" = false WHERE \"orgId\" = {other_org}"
        ))
        .await;
    readdressing_is_refused().await;

    // Once the other membership is gone, org A's IdP owns the account's profile.
    app.db
        .run_sql(&format!(
            "DELETE FROM \"UserToOrg\" WHERE \"orgId\" = {other_org}"
        ))
        .await;
    let renamed = app
        .patch_user(
            "shared",
            json!([{"op": "replace", "path": "displayName", "value": "Patricia J."}]),
        )
        .await;
    assert_eq!(renamed.status().as_u16(), 200);
    assert_eq!(
        app.db
            .text("SELECT name FROM \"User\" WHERE id = 'shared'")
            .await
            .as_deref(),
        Some("Patricia J.")
    );
}
