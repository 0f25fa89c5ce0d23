//! Deprovisioning really locks a person out, atomically; owners and concurrency. Every test
//! runs in both deprovisioning modes: `deactivate` (`"UserToOrg"."isActive" = false`) and
//! `remove` (the row deleted, its content kept by the service).

use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, in_both_modes, in_mode, okta_user, Options, TestApp};

/// Asserts that the member is deprovisioned the way `mode` keeps it: an inactive row, or no
/// row and what it held kept by the service; SCIM answers `active: false` either way.
async fn assert_deprovisioned(app: &TestApp, mode: &str, id: &str) {
    let org = app.org_id;
    let rows = app
        .db
        .count(&format!(
            "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {org} AND \"userId\" = '{id}'"
        ))
        .await;
    let kept = app
        .db
        .count(&format!(
            "SELECT count(*) FROM scim_sidecar.user_profile WHERE org_id = {org} AND user_id = '{id}' AND removed_at IS NOT NULL"
        ))
        .await;
    let expected = if mode == "remove" { (0, 1) } else { (1, 0) };
    assert_eq!((rows, kept), expected, "{mode}: {id}");
    assert!(!app.is_active(id).await);
}

/// Gives `user` an API key in the test org and one in another org, and OAuth grants; gives
/// a bystander the same. Returns the other org's id.
async fn seed_credentials(app: &TestApp, user: &str) -> i32 {
    let other_org = app.db.create_org("Elsewhere").await;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, \"updatedAt\") VALUES ('bystander', 'by@example.com', now());
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\") VALUES ({org}, 'bystander');
             INSERT INTO \"ApiKey\" (name, hash, \"orgId\", \"createdById\") VALUES
               ('k1', 'key-here', {org}, '{user}'),
               ('k2', 'key-elsewhere', {other_org}, '{user}'),
               ('k3', 'key-bystander', {org}, 'bystander');
             INSERT INTO \"OAuthToken\" (hash, \"clientId\", \"userId\", \"expiresAt\") VALUES
               ('ot-user', 'c', '{user}', now() + interval '1 day'),
               ('ot-bystander', 'c', 'bystander', now() + interval '1 day');
             INSERT INTO \"OAuthRefreshToken\" (hash, \"clientId\", \"userId\", \"expiresAt\") VALUES
               ('rt-user', 'c', '{user}', now() + interval '1 day'),
               ('rt-bystander', 'c', 'bystander', now() + interval '1 day');
             INSERT INTO \"OAuthAuthorizationCode\" (\"codeHash\", \"clientId\", \"userId\", \"redirectUri\", \"codeChallenge\", \"expiresAt\") VALUES
               ('ac-user', 'c', '{user}', 'https://x', 'ch', now() + interval '1 day'),
               ('ac-bystander', 'c', 'bystander', 'https://x', 'ch', now() + interval '1 day');",
            org = app.org_id
        ))
        .await;
    other_org
}

async fn credentials_of(app: &TestApp, user: &str) -> [i64; 5] {
    let org = app.org_id;
    [
        app.db.count(&format!("SELECT count(*) FROM \"ApiKey\" WHERE \"createdById\" = '{user}' AND \"orgId\" = {org}")).await,
        app.db.count(&format!("SELECT count(*) FROM \"ApiKey\" WHERE \"createdById\" = '{user}' AND \"orgId\" <> {org}")).await,
        app.db.count(&format!("SELECT count(*) FROM \"OAuthToken\" WHERE \"userId\" = '{user}'")).await,
        app.db.count(&format!("SELECT count(*) FROM \"OAuthRefreshToken\" WHERE \"userId\" = '{user}'")).await,
        app.db.count(&format!("SELECT count(*) FROM \"OAuthAuthorizationCode\" WHERE \"userId\" = '{user}'")).await,
    ]
}

in_both_modes! {
    async fn deprovisioning_ends_sessions_and_revokes_keys_and_grants_of_that_user_only(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let user = app.create_user("jane@example.com", "00u1").await;
        let id = user["id"].as_str().unwrap();
        seed_credentials(&app, id).await;
        assert_eq!(credentials_of(&app, id).await, [1, 1, 1, 1, 1]);

        let response = app.set_active(id, false).await;
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], false);

        assert_deprovisioned(&app, mode, id).await;
        assert_eq!(app.session_version(id).await, 1, "sessions not invalidated");
        // This org's API keys and every OAuth grant are gone; the key of the other org stays.
        assert_eq!(credentials_of(&app, id).await, [0, 1, 0, 0, 0]);
        assert_eq!(credentials_of(&app, "bystander").await, [1, 0, 1, 1, 1]);
        assert_eq!(app.session_version("bystander").await, 0);
        // Exactly the two membership changes are audited: no spurious profile update.
        let actions = app
            .db
            .text(&format!("SELECT string_agg(action, ',' ORDER BY timestamp, action) FROM \"Audit\" WHERE \"targetId\" = '{id}'"))
            .await;
        assert_eq!(
            actions.as_deref(),
            Some("org.member_added,org.member_deactivated")
        );
        assert_eq!(app.audit_count("org.member_deactivated", id).await, 1);
        let revoked = app
            .db
            .text(&format!("SELECT metadata->'revoked'->>'apiKeys' FROM \"Audit\" WHERE action = 'org.member_deactivated' AND \"targetId\" = '{id}'"))
            .await;
        assert_eq!(revoked.as_deref(), Some("1"));

        // Repeating the deprovision is a no-op that still succeeds.
        let again = app
            .patch_user(
                id,
                json!([{"op": "replace", "path": "active", "value": false}]),
            )
            .await;
        assert_eq!(again.status().as_u16(), 200);
        assert_eq!(app.session_version(id).await, 1);
        assert_eq!(app.audit_count("org.member_deactivated", id).await, 1);
    }
}

in_both_modes! {
    async fn a_failure_in_the_middle_of_deprovisioning_leaves_everything_as_it_was(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let user = app.create_user("jane@example.com", "00u1").await;
        let id = user["id"].as_str().unwrap();
        seed_credentials(&app, id).await;
        // Deleting refresh tokens comes after the membership, the session version, API keys and
        // OAuth tokens have been changed: make it fail.
        app.db
            .run_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'forced failure'; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER refuse_refresh_delete BEFORE DELETE ON \"OAuthRefreshToken\" FOR EACH ROW EXECUTE FUNCTION refuse();",
            )
            .await;
        let response = app.set_active(id, false).await;
        let body = assert_scim_error(response, 500).await;
        assert!(
            !body["detail"].as_str().unwrap().contains("forced"),
            "internal detail leaked"
        );
        assert!(app.is_active(id).await);
        assert_eq!(app.session_version(id).await, 0);
        assert_eq!(credentials_of(&app, id).await, [1, 1, 1, 1, 1]);
        assert_eq!(app.audit_count("org.member_deactivated", id).await, 0);
    }
}

in_both_modes! {
    async fn the_last_active_owner_cannot_be_deprovisioned(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let owner = app.create_user("owner@example.com", "1").await;
        let owner_id = owner["id"].as_str().unwrap();
        app.db
            .run_sql(&format!(
                "UPDATE \"UserToOrg\" SET role = 'OWNER' WHERE \"userId\" = '{owner_id}'"
            ))
            .await;
        for request in [
            app.set_active(owner_id, false).await,
            app.delete_user(owner_id).await,
        ] {
            assert_scim_error(request, 403).await;
        }
        assert!(app.is_active(owner_id).await);
        assert_eq!(app.session_version(owner_id).await, 0);

        let second = app.create_user("second@example.com", "2").await;
        let second_id = second["id"].as_str().unwrap();
        app.db
            .run_sql(&format!(
                "UPDATE \"UserToOrg\" SET role = 'OWNER' WHERE \"userId\" = '{second_id}'"
            ))
            .await;
        let response = app.set_active(owner_id, false).await;
        assert_eq!(response.status().as_u16(), 200);
        let last = app.set_active(second_id, false).await;
        assert_scim_error(last, 403).await;
    }
}

in_both_modes! {
    async fn fifty_concurrent_identical_posts_create_exactly_one_user(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let body = okta_user("race@example.com", "00race", "Race", "Condition");
        let requests = (0..50).map(|_| app.post_user(&body));
        let statuses: Vec<u16> = futures_statuses(requests).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            49,
            "{statuses:?}"
        );
        assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
        assert_eq!(app.db.count("SELECT count(*) FROM \"UserToOrg\"").await, 1);
        assert_eq!(
            app.db
                .count("SELECT count(*) FROM \"Audit\" WHERE action = 'org.member_added'")
                .await,
            1
        );
    }
}

in_both_modes! {
    async fn fifty_concurrent_deactivations_and_reactivations_end_consistent_without_5xx(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let user = app.create_user("flip@example.com", "00flip").await;
        let id = user["id"].as_str().unwrap().to_owned();
        let requests = (0..50).map(|i| {
            let active = i % 2 == 0;
            app.patch_user(&id, json!([{"op": "replace", "value": {"active": active}}]))
        });
        let statuses = futures_statuses(requests).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let active = app.is_active(&id).await;
        let body: Value = app.get_json(&format!("/Users/{id}")).await;
        assert_eq!(body["active"], active);
        // Every effective deactivation bumped the session version exactly once.
        let deactivations = app.audit_count("org.member_deactivated", &id).await;
        let reactivations = app.audit_count("org.member_reactivated", &id).await;
        assert_eq!(app.session_version(&id).await, deactivations);
        assert_eq!(deactivations - reactivations, if active { 0 } else { 1 });
    }
}

in_both_modes! {
    async fn concurrent_creations_never_exceed_the_seat_cap(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::seats(3))).await;
        let bodies: Vec<Value> = (0..12)
            .map(|i| okta_user(&format!("seat{i}@example.com"), &format!("s{i}"), "S", "T"))
            .collect();
        let statuses = futures_statuses(bodies.iter().map(|body| app.post_user(body))).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            3,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 400),
            "{statuses:?}"
        );
        assert_eq!(
            app.db
                .count("SELECT count(*) FROM \"UserToOrg\" WHERE \"isActive\"")
                .await,
            3
        );
    }
}

in_both_modes! {
    async fn concurrent_deprovisioning_of_two_owners_leaves_one(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let mut ids = Vec::new();
        for i in 0..2 {
            let user = app
                .create_user(&format!("owner{i}@example.com"), &format!("o{i}"))
                .await;
            ids.push(user["id"].as_str().unwrap().to_owned());
        }
        app.db
            .run_sql("UPDATE \"UserToOrg\" SET role = 'OWNER'")
            .await;
        let requests = ids.iter().map(|id| app.set_active(id, false));
        let mut statuses = futures_statuses(requests).await;
        statuses.sort();
        assert_eq!(statuses, vec![200, 403]);
        assert_eq!(
            app.db
                .count("SELECT count(*) FROM \"UserToOrg\" WHERE \"isActive\" AND role = 'OWNER'")
                .await,
            1
        );
    }
}

in_both_modes! {
    async fn a_licence_key_counts_seats_across_orgs_once_per_person(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::seats(2))).await;
        app.create_user("a@example.com", "1").await;
        app.create_user("b@example.com", "2").await;
        let (_, other_token) = app.other_org().await;
        // The same person in a second org takes no new seat...
        let same_person = app
            .post_user_as(&other_token, &okta_user("a@example.com", "g1", "A", "A"))
            .await;
        assert_eq!(same_person.status().as_u16(), 201);
        // ...a third person does.
        let third = app
            .post_user_as(&other_token, &okta_user("c@example.com", "g2", "C", "C"))
            .await;
        assert_eq!(assert_scim_error(third, 400).await["scimType"], "tooMany");
        assert_eq!(
            app.db
                .count("SELECT count(DISTINCT \"userId\") FROM \"UserToOrg\" WHERE \"isActive\"")
                .await,
            2
        );
    }
}

/// Sends all requests at once and collects their statuses.
async fn futures_statuses<F>(requests: impl Iterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Response>,
{
    let responses = futures_util::future::join_all(requests).await;
    responses.iter().map(|r| r.status().as_u16()).collect()
}

in_both_modes! {
    async fn two_orgs_changing_one_shared_person_at_once_never_deadlock(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let (other_org, other_token) = app.other_org().await;
        let user = app.create_user("shared@example.com", "a-1").await;
        let id = user["id"].as_str().unwrap().to_owned();
        let adopted = app
            .post_user_as(
                &other_token,
                &okta_user("shared@example.com", "g-1", "Sha", "Red"),
            )
            .await;
        assert_eq!(adopted.status().as_u16(), 201);
        let wanted = |i: usize| i % 4 < 2;
        let requests = (0..24).map(|i| {
            let token = if i % 2 == 0 {
                app.token.as_str()
            } else {
                other_token.as_str()
            };
            app.patch_user_as(
                token,
                &id,
                json!([{"op": "replace", "value": {"active": wanted(i)}}]),
            )
        });
        let responses = futures_util::future::join_all(requests).await;
        for (i, response) in responses.into_iter().enumerate() {
            assert_eq!(response.status().as_u16(), 200, "request {i}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["active"], wanted(i), "request {i}");
        }

        // One shared account with one membership per org; each org's rows, its view and its
        // audit trail agree, and every deactivation ended the sessions once.
        assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
        assert_eq!(
            app.db
                .text(&format!("SELECT email FROM \"User\" WHERE id = '{id}'"))
                .await
                .as_deref(),
            Some("shared@example.com")
        );
        // Both memberships, whether their rows are in "UserToOrg" or kept by the service.
        assert_eq!(
            app.db.count("SELECT count(*) FROM scim_sidecar.member").await,
            2
        );
        let mut deactivations = 0;
        for (org, token, external_id) in [
            (app.org_id, app.token.as_str(), "a-1"),
            (other_org, other_token.as_str(), "g-1"),
        ] {
            let db = &app.db;
            let member = |condition: &str| {
                let sql = format!(
                    "SELECT count(*) FROM scim_sidecar.member WHERE org_id = {org} AND user_id = '{id}' AND {condition}"
                );
                async move { db.count(&sql).await }
            };
            let audits = |condition: &str| {
                let sql = format!(
                    "SELECT count(*) FROM \"Audit\" WHERE \"orgId\" = {org} AND \"targetId\" = '{id}' AND {condition}"
                );
                async move { db.count(&sql).await }
            };
            assert_eq!(
                member(&format!("external_id = '{external_id}'")).await,
                1,
                "org {org}"
            );
            let active = member("is_active").await == 1;
            // In remove mode an inactive membership has no row the app could read.
            let row = db
                .count(&format!(
                    "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {org} AND \"userId\" = '{id}'"
                ))
                .await;
            assert_eq!(row == 1, active || mode == "deactivate", "org {org}");
            let seen: Value = app.get_json_as(token, &format!("/Users/{id}")).await;
            assert_eq!(seen["active"], active, "org {org}");
            let down = audits("action = 'org.member_deactivated'").await;
            let up = audits("action = 'org.member_reactivated'").await;
            assert_eq!(down - up, if active { 0 } else { 1 }, "org {org}");
            assert!(down <= 6 && up <= 6, "org {org}: {down} down, {up} up");
            assert_eq!(audits("action = 'org.member_added'").await, 1, "org {org}");
            assert_eq!(audits("true").await, 1 + down + up, "org {org}");
            deactivations += down;
        }
        assert_eq!(app.session_version(&id).await, deactivations);
    }
}

in_both_modes! {
    async fn a_shared_account_spelled_with_capitals_can_still_be_deprovisioned(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let other_org = app.db.create_org("Globex").await;
        app.db
            .create_member(other_org, "pat", "Pat@Example.com", "Pat", None)
            .await;
        assert_eq!(
            app.post_user(&okta_user("pat@example.com", "a-pat", "Pat", "E"))
                .await
                .status()
                .as_u16(),
            201
        );
        let deactivated = app
            .patch_user(
                "pat",
                json!([{"op": "replace", "value": {"active": false}}]),
            )
            .await;
        assert_eq!(deactivated.status().as_u16(), 200);
        assert_deprovisioned(&app, mode, "pat").await;
        // The other org's spelling of the shared account is left alone.
        assert_eq!(
            app.db
                .text("SELECT email FROM \"User\" WHERE id = 'pat'")
                .await
                .as_deref(),
            Some("Pat@Example.com")
        );
        let mut profile: Value = app.get_json("/Users/pat").await;
        profile["active"] = json!(true);
        let put = app.put_user("pat", &profile).await;
        assert_eq!(put.status().as_u16(), 200);
    }
}

in_both_modes! {
    async fn a_post_that_keeps_a_member_inactive_is_audited(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let user = app.create_user("idle@example.com", "idle").await;
        let id = user["id"].as_str().unwrap();
        assert_eq!(app.set_active(id, false).await.status().as_u16(), 200);
        let mut body = okta_user("idle@example.com", "idle-2", "I", "Dle");
        body["active"] = json!(false);
        let response = app.post_user(&body).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_deprovisioned(&app, mode, id).await;
        assert_eq!(app.audit_count("user.updated", id).await, 1);
        assert_eq!(app.list("externalId eq \"idle-2\"").await["totalResults"], 1);
    }
}
