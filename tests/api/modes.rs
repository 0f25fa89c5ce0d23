//! Deprovisioning modes: `deactivate` (`"UserToOrg"."isActive" = false`) beside an app that
//! honours it, `remove` (the row deleted, its content kept by the service) beside one that does
//! not, chosen from the app's migration history, and conversions between them.

use serde_json::{json, Value};

use crate::helpers::{Options, TestApp, TestDb};

/// The app's own SCIM release, as Prisma records it.
const SCIM_RELEASE: &str = "INSERT INTO \"_prisma_migrations\" (id, checksum, finished_at, migration_name, applied_steps_count) \
     VALUES ('00000000-0000-4000-8000-0000000000aa', 'x', now(), '20250801000000_add_scim_users_support', 1)";

fn with_mode(mode: &str) -> Options {
    Options::env(&[("SCIM__PROVISIONING__DEPROVISION_MODE", mode)])
}

impl TestApp {
    /// Whether the user has a `"UserToOrg"` row in the test org.
    async fn has_membership_row(&self, user_id: &str) -> bool {
        self.db
            .count(&format!(
                "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND \"userId\" = '{user_id}'",
                self.org_id
            ))
            .await
            == 1
    }

    async fn deactivate(&self, user_id: &str) -> u16 {
        self.patch_user(
            user_id,
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await
        .status()
        .as_u16()
    }

    async fn reactivate(&self, user_id: &str) -> u16 {
        self.patch_user(
            user_id,
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await
        .status()
        .as_u16()
    }

    /// Every answer the IdP can get about these users: each GET and the full list.
    async fn answers(&self, ids: &[&str]) -> Vec<Value> {
        let mut answers = Vec::new();
        for id in ids {
            answers.push(self.get_json(&format!("/Users/{id}")).await);
        }
        answers.push(self.get_json("/Users?startIndex=1&count=200").await);
        answers.push(self.list("active eq false").await);
        answers
    }
}

#[tokio::test]
async fn auto_mode_removes_beside_an_app_without_its_scim_release() {
    let app = TestApp::spawn_with(with_mode("auto")).await;
    let user = app.create_user("ann@example.com", "ann").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(app.deactivate(id).await, 200);
    assert!(!app.has_membership_row(id).await);
    // The IdP still sees Ann, inactive, under the same id and externalId.
    let seen = app.get_json(&format!("/Users/{id}")).await;
    assert_eq!(
        (&seen["active"], &seen["externalId"]),
        (&json!(false), &json!("ann"))
    );
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM scim_sidecar.user_profile WHERE user_id = '{id}' \
                 AND removed_at IS NOT NULL AND kept_role = 'MEMBER' AND kept_external_id = 'ann'"
            ))
            .await,
        1
    );
}

#[tokio::test]
async fn auto_mode_deactivates_beside_an_app_with_its_scim_release() {
    let db = TestDb::migrated().await;
    db.run_sql(SCIM_RELEASE).await;
    let org_id = db.create_org("Acme").await;
    let app = TestApp::spawn_on(db, org_id, with_mode("auto")).await;
    let user = app.create_user("ann@example.com", "ann").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(app.deactivate(id).await, 200);
    assert!(app.has_membership_row(id).await);
    assert!(!app.is_active(id).await);
}

#[tokio::test]
async fn reactivation_in_remove_mode_gives_back_role_and_joined_at() {
    let app = TestApp::spawn_with(with_mode("remove")).await;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES \
               ('boss', 'boss@example.com', 'Boss', now()), ('other', 'other@example.com', NULL, now()); \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\", role, \"joinedAt\") VALUES \
               ({org}, 'boss', 'OWNER', '2024-02-03 04:05:06.789'), ({org}, 'other', 'OWNER', now());",
            org = app.org_id
        ))
        .await;
    let before = app.get_json("/Users/boss").await;
    assert_eq!(app.deactivate("boss").await, 200);
    assert!(!app.has_membership_row("boss").await);
    let removed = app.get_json("/Users/boss").await;
    assert_eq!(removed["active"], false);
    assert_eq!(removed["meta"]["created"], before["meta"]["created"]);
    assert_eq!(removed["userName"], "boss@example.com");
    assert_eq!(removed["emails"], before["emails"]);

    // The other owner is now the last active one: refused, nothing changed.
    assert_eq!(app.deactivate("other").await, 403);
    assert!(app.has_membership_row("other").await && app.is_active("other").await);

    assert_eq!(app.reactivate("boss").await, 200);
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND \"userId\" = 'boss' \
                 AND role = 'OWNER' AND \"isActive\" AND \"joinedAt\" = '2024-02-03 04:05:06.789'",
                app.org_id
            ))
            .await,
        1
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM scim_sidecar.user_profile WHERE user_id = 'boss' AND removed_at IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn a_removed_member_takes_no_seat() {
    let app = TestApp::spawn_with(Options {
        extra_env: vec![("SCIM__PROVISIONING__DEPROVISION_MODE", "remove".into())],
        ..Options::seats(2)
    })
    .await;
    let first = app.create_user("one@example.com", "one").await;
    app.create_user("two@example.com", "two").await;
    let first = first["id"].as_str().unwrap();
    assert_eq!(app.deactivate(first).await, 200);
    app.create_user("three@example.com", "three").await;
    // Back would make three active members.
    assert_eq!(app.reactivate(first).await, 400);
    assert!(!app.has_membership_row(first).await);
}

#[tokio::test]
async fn a_deleted_member_in_remove_mode_comes_back_with_its_id() {
    let app = TestApp::spawn_with(with_mode("remove")).await;
    let user = app.create_user("dee@example.com", "dee").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(app.delete_user(id).await.status().as_u16(), 204);
    assert!(!app.has_membership_row(id).await);
    assert_eq!(app.status(&format!("/Users/{id}")).await, 404);
    let back = app
        .post_user(&crate::helpers::okta_user(
            "dee.new@example.com",
            "dee",
            "Dee",
            "Dee",
        ))
        .await;
    assert_eq!(back.status().as_u16(), 201);
    assert_eq!(back.json::<Value>().await.unwrap()["id"], id);
    assert!(app.has_membership_row(id).await && app.is_active(id).await);
}

#[tokio::test]
async fn switching_modes_both_ways_keeps_every_answer() {
    use scim_sidecar::provisioning::{modes, DeprovisionMode};
    let app = TestApp::spawn_with(with_mode("deactivate")).await;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES ('app-made', 'made@example.com', 'Made In App', '2025-01-01'); \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\", \"joinedAt\") VALUES ({}, 'app-made', '2025-01-02');",
            app.org_id
        ))
        .await;
    let active = app.create_user("active@example.com", "a").await;
    let inactive = app.create_user("inactive@example.com", "i").await;
    let deleted = app.create_user("deleted@example.com", "d").await;
    let (active, inactive, deleted) = (
        active["id"].as_str().unwrap(),
        inactive["id"].as_str().unwrap(),
        deleted["id"].as_str().unwrap(),
    );
    assert_eq!(app.deactivate(inactive).await, 200);
    assert_eq!(app.deactivate("app-made").await, 200);
    assert_eq!(app.delete_user(deleted).await.status().as_u16(), 204);
    let ids = [active, inactive, "app-made"];
    let before = app.answers(&ids).await;
    let rows = || app.db.count("SELECT count(*) FROM \"UserToOrg\"");
    assert_eq!(rows().await, 4);

    let mut conn = app.db.conn().await;
    let now = chrono::Utc::now().naive_utc();
    let moved = modes::convert(&mut conn, DeprovisionMode::Remove, now)
        .await
        .unwrap();
    assert_eq!(moved.memberships, 3);
    assert_eq!(rows().await, 1);
    assert_eq!(app.answers(&ids).await, before);
    // Idempotent.
    let again = modes::convert(&mut conn, DeprovisionMode::Remove, now)
        .await
        .unwrap();
    assert_eq!(again.memberships, 0);

    let back = modes::convert(&mut conn, DeprovisionMode::Deactivate, now)
        .await
        .unwrap();
    assert_eq!(back.memberships, 3);
    assert_eq!(rows().await, 4);
    assert_eq!(app.answers(&ids).await, before);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM \"UserToOrg\" WHERE \"userId\" = 'app-made' AND NOT \"isActive\" AND \"joinedAt\" = '2025-01-02'")
            .await,
        1
    );
    // The DELETEd member is still hidden, and still found again by its externalId.
    assert_eq!(app.status(&format!("/Users/{deleted}")).await, 404);
}

#[tokio::test]
async fn member_approval_is_turned_on_at_an_orgs_first_request_when_opted_in() {
    for (opted_in, expected) in [(true, true), (false, false)] {
        let app = TestApp::spawn_with(Options::env(&[
            ("SCIM__PROVISIONING__DEPROVISION_MODE", "remove"),
            (
                "SCIM__PROVISIONING__REQUIRE_MEMBER_APPROVAL",
                if opted_in { "true" } else { "false" },
            ),
        ]))
        .await;
        let org = app.org_id;
        app.db
            .run_sql(&format!(
                "UPDATE \"Org\" SET \"memberApprovalRequired\" = false WHERE id = {org}"
            ))
            .await;
        for _ in 0..2 {
            assert_eq!(app.status("/Users").await, 200);
        }
        let required = app
            .db
            .count(&format!(
                "SELECT count(*) FROM \"Org\" WHERE id = {org} AND \"memberApprovalRequired\""
            ))
            .await
            == 1;
        assert_eq!(required, expected, "opted in: {opted_in}");
        let audited = app
            .db
            .count(&format!(
                "SELECT count(*) FROM \"Audit\" WHERE \"orgId\" = {org} AND action = 'org.member_approval_enabled' \
                 AND \"targetType\" = 'org' AND \"targetId\" = '{org}' AND metadata->>'tokenName' = 'okta'"
            ))
            .await;
        assert_eq!(audited, i64::from(expected), "opted in: {opted_in}");
    }
}

#[tokio::test]
async fn an_app_upgraded_to_its_scim_release_is_noticed_at_the_next_readiness_check() {
    let app = TestApp::spawn_with(with_mode("auto")).await;
    let user = app.create_user("ann@example.com", "ann").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(app.deactivate(id).await, 200);
    assert!(!app.has_membership_row(id).await);
    let before = app.get_json(&format!("/Users/{id}")).await;
    let ready = |app: &TestApp| {
        let url = format!("{}/readyz", app.address);
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(ready(&app).await["deprovisionMode"], "remove");

    app.db.run_sql(SCIM_RELEASE).await;
    assert_eq!(ready(&app).await["deprovisionMode"], "deactivate");
    // The removed membership has its row back, inactive, and answers as before.
    assert!(app.has_membership_row(id).await && !app.is_active(id).await);
    assert_eq!(app.get_json(&format!("/Users/{id}")).await, before);
    // New deprovisions now deactivate.
    let other = app.create_user("bob@example.com", "bob").await;
    let other = other["id"].as_str().unwrap();
    assert_eq!(app.deactivate(other).await, 200);
    assert!(app.has_membership_row(other).await);
}
