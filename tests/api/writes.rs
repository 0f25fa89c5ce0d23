//! Writes of one org in parallel: people are locked one by one, the org's lock is taken only
//! for org-wide rules, and the seat cap (kept by the seat ledger) holds under concurrency, near
//! the cap and when the app adds members behind the service's back. Every test runs in both
//! deprovisioning modes.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, in_both_modes, in_mode, okta_user, Options, TestApp};

/// Sends all requests at once and collects their statuses.
async fn statuses<F>(requests: impl Iterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Response>,
{
    let responses = futures_util::future::join_all(requests).await;
    responses.iter().map(|r| r.status().as_u16()).collect()
}

async fn create_ids(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let user = app
            .create_user(
                &format!("{prefix}{i}@example.com"),
                &format!("{prefix}-{i}"),
            )
            .await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn set_title(title: &str) -> Value {
    json!([{"op": "replace", "path": "title", "value": title}])
}

async fn stored_title(app: &TestApp, id: &str) -> Option<String> {
    app.db
        .text(&format!(
            "SELECT attributes->>'title' FROM scim_sidecar.user_profile WHERE org_id = {} AND user_id = '{id}'",
            app.org_id
        ))
        .await
}

async fn active_members(app: &TestApp) -> i64 {
    app.db
        .count(&format!(
            "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND \"isActive\"",
            app.org_id
        ))
        .await
}

/// The seats in use as the ledger of a licence key's scope says.
async fn deployment_ledger(app: &TestApp) -> i64 {
    app.db
        .count("SELECT in_use FROM scim_sidecar.seat_ledger WHERE scope = 0")
        .await
}

in_both_modes! {
    async fn a_write_of_one_person_does_not_wait_for_another_persons_open_write(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let ids = create_ids(&app, "overlap", 2).await;
        let (held, free) = (ids[0].clone(), ids[1].clone());

        // A test connection holds the first person's row: the PATCH of that person stays
        // inside its transaction, waiting, until the connection commits.
        let mut holder = app.db.conn().await;
        holder
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM \"UserToOrg\" WHERE \"orgId\" = {} AND \"userId\" = '{held}' FOR UPDATE",
                app.org_id
            ))
            .await
            .unwrap();
        let waiting = {
            let request = app
                .request(reqwest::Method::PATCH, &format!("/Users/{held}"))
                .json(&json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": set_title("held")
                }));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        };
        app.db.until_a_query_waits_for_a_lock().await;

        // Meanwhile another person of the same org is written: a profile change, a
        // deactivation, a reactivation, and a userName change (which takes the org's lock).
        let other_writes = async {
            assert_eq!(app.patch_user(&free, set_title("free")).await.status(), 200);
            assert_eq!(app.set_active(&free, false).await.status(), 200);
            assert_eq!(app.set_active(&free, true).await.status(), 200);
            let rename = json!([{"op": "replace", "path": "userName", "value": "renamed@example.com"}]);
            assert_eq!(app.patch_user(&free, rename).await.status(), 200);
        };
        tokio::time::timeout(Duration::from_secs(10), other_writes)
            .await
            .expect("another person's writes finish while the first person's write is open");
        assert_eq!(stored_title(&app, &free).await.as_deref(), Some("free"));
        assert!(!waiting.is_finished(), "the held person's PATCH is still waiting");
        assert_eq!(stored_title(&app, &held).await, None);

        holder.batch_execute("COMMIT").await.unwrap();
        assert_eq!(waiting.await.unwrap(), 200);
        assert_eq!(stored_title(&app, &held).await.as_deref(), Some("held"));
    }
}

in_both_modes! {
    async fn concurrent_writes_of_different_people_of_one_org_are_all_applied(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let ids = create_ids(&app, "many", 24).await;
        // A third of them is deactivated, a third renamed (the org's lock), a third given a
        // title, all at once.
        let requests = ids.iter().enumerate().map(|(i, id)| {
            let operations = match i % 3 {
                0 => json!([{"op": "replace", "value": {"active": false}}]),
                1 => json!([{"op": "replace", "path": "userName", "value": format!("new{i}@example.com")}]),
                _ => set_title(&format!("title {i}")),
            };
            app.patch_user(id, operations)
        });
        let statuses = statuses(requests).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        for (i, id) in ids.iter().enumerate() {
            let user = app.get_json(&format!("/Users/{id}")).await;
            match i % 3 {
                0 => {
                    assert_eq!(user["active"], false, "{id}");
                    assert_eq!(app.audit_count("org.member_deactivated", id).await, 1);
                    assert_eq!(app.session_version(id).await, 1);
                }
                1 => {
                    let user_name = app
                        .db
                        .text(&format!(
                            "SELECT user_name FROM scim_sidecar.user_profile WHERE user_id = '{id}'"
                        ))
                        .await;
                    assert_eq!(user_name, Some(format!("new{i}@example.com")));
                    assert!(app.is_active(id).await);
                }
                _ => assert_eq!(stored_title(&app, id).await, Some(format!("title {i}"))),
            }
        }
        assert_eq!(active_members(&app).await, 16);
    }
}

in_both_modes! {
    async fn concurrent_creates_and_reactivations_near_the_cap_never_exceed_it(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::seats(6))).await;
        let ids = create_ids(&app, "near", 6).await;
        for id in &ids[..4] {
            assert_eq!(app.set_active(id, false).await.status(), 200);
        }
        // Two seats in use, four free; four reactivations and four new people race for them.
        let bodies: Vec<Value> = (0..4)
            .map(|i| okta_user(&format!("late{i}@example.com"), &format!("late-{i}"), "L", "T"))
            .collect();
        let reactivations = ids[..4].iter().map(|id| app.set_active(id, true));
        let creates = bodies.iter().map(|body| app.post_user(body));
        let (mut reactivated, mut created) =
            futures_util::future::join(statuses(reactivations), statuses(creates)).await;
        reactivated.append(&mut created);
        let granted = reactivated.iter().filter(|s| matches!(**s, 200 | 201)).count();
        assert_eq!(granted, 4, "{reactivated:?}");
        assert!(
            reactivated.iter().all(|s| matches!(*s, 200 | 201 | 400)),
            "{reactivated:?}"
        );
        assert_eq!(active_members(&app).await, 6);
    }
}

in_both_modes! {
    async fn members_the_app_adds_behind_the_services_back_are_counted_near_the_cap(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::seats(5))).await;
        create_ids(&app, "scim", 3).await;
        // The app adds two people itself: the ledger does not know them, but the cap is
        // within the margin, so the next activation counts.
        for i in 0..2 {
            app.db
                .create_member(app.org_id, &format!("app{i}"), &format!("app{i}@example.com"), "App", None)
                .await;
        }
        let refused = app
            .post_user(&okta_user("one-more@example.com", "one-more", "O", "M"))
            .await;
        assert_eq!(assert_scim_error(refused, 400).await["scimType"], "tooMany");
        assert_eq!(active_members(&app).await, 5);
        assert_eq!(
            app.db.count("SELECT count(*) FROM \"User\" WHERE email = 'one-more@example.com'").await,
            0,
            "a refused create leaves nothing"
        );
    }
}

in_both_modes! {
    async fn far_from_the_cap_the_ledger_answers_and_a_stale_ledger_counts_again(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::seats(1_000))).await;
        create_ids(&app, "first", 1).await;
        assert_eq!(deployment_ledger(&app).await, 1, "counted at the first activation");
        // The app adds 998 people itself (not SCIM: it does not auto-join into an org that
        // provisions with SCIM, but an admin may invite).
        app.db
            .run_sql(&format!(
                "INSERT INTO \"User\" (id, email, \"updatedAt\")
                   SELECT 'app' || i, 'app' || i || '@example.com', now() FROM generate_series(1, 998) AS i;
                 INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\")
                   SELECT {}, 'app' || i FROM generate_series(1, 998) AS i;",
                app.org_id
            ))
            .await;
        // Far from the cap as the ledger knows it, and fresh: the ledger answers, and counts
        // the new seat (999 in use; the ledger says 2).
        create_ids(&app, "second", 1).await;
        assert_eq!(deployment_ledger(&app).await, 2);
        assert_eq!(active_members(&app).await, 1_000);
        // Once the ledger is stale it counts again: the cap is reached and the next one is refused.
        app.db
            .run_sql("UPDATE scim_sidecar.seat_ledger SET counted_at = counted_at - interval '1 hour'")
            .await;
        let refused = app.post_user(&okta_user("third@example.com", "third", "T", "T")).await;
        assert_eq!(assert_scim_error(refused, 400).await["scimType"], "tooMany");
        assert_eq!(active_members(&app).await, 1_000);
    }
}

in_both_modes! {
    async fn racing_deprovisionings_of_every_owner_leave_exactly_one(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let owners = create_ids(&app, "owner", 4).await;
        let members = create_ids(&app, "member", 4).await;
        app.db.run_sql("UPDATE \"UserToOrg\" SET role = 'OWNER' WHERE \"userId\" IN (SELECT user_id FROM scim_sidecar.user_profile WHERE user_name LIKE 'owner%')").await;
        // Every owner is deprovisioned at once (PATCH, PUT and DELETE), beside members' writes.
        let owner_requests = owners.iter().enumerate().map(|(i, id)| {
            let app = &app;
            async move {
                match i % 3 {
                    0 => app.set_active(id, false).await,
                    1 => app.delete_user(id).await,
                    _ => {
                        let mut body = okta_user(&format!("owner{i}@example.com"), &format!("owner-{i}"), "Jane", "Doe");
                        body["active"] = json!(false);
                        app.put_user(id, &body).await
                    }
                }
            }
        });
        let member_requests = members.iter().map(|id| app.set_active(id, false));
        let (owner_statuses, member_statuses) =
            futures_util::future::join(statuses(owner_requests), statuses(member_requests)).await;
        assert!(member_statuses.iter().all(|s| *s == 200), "{member_statuses:?}");
        let refused = owner_statuses.iter().filter(|s| **s == 403).count();
        assert_eq!(refused, 1, "{owner_statuses:?}");
        assert!(owner_statuses.iter().all(|s| matches!(*s, 200 | 204 | 403)), "{owner_statuses:?}");
        assert_eq!(
            app.db
                .count("SELECT count(*) FROM \"UserToOrg\" WHERE \"isActive\" AND role = 'OWNER'")
                .await,
            1
        );
    }
}

#[tokio::test]
async fn a_writes_lookups_probe_keys_at_100000_members() {
    use scim_sidecar::db::repo::members::explain_write_lookups;
    let app = TestApp::spawn().await;
    let ids = create_ids(&app, "probe", 1).await;
    // 100,000 members, half of them app-created (no profile), in a second org beside: a plan
    // that walks the memberships shows up as a Seq Scan.
    let (other, _) = app.other_org().await;
    let org = app.org_id;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, \"updatedAt\") \
               SELECT 'seed' || g, 'seed' || g || '@example.com', now() FROM generate_series(1, 100000) g; \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\") \
               SELECT CASE WHEN g % 10 = 0 THEN {other} ELSE {org} END, 'seed' || g FROM generate_series(1, 100000) g; \
             INSERT INTO scim_sidecar.user_profile (org_id, user_id, user_name, attributes, created_at, updated_at) \
               SELECT {org}, 'seed' || g, 'seed' || g || '@example.com', '{{}}', now(), now() \
               FROM generate_series(1, 50000) g WHERE g % 10 <> 0; \
             ANALYZE;"
        ))
        .await;
    let mut conn = app.db.conn().await;
    // The userName of an account that exists (as when POST has just created it), and of one
    // that does not.
    for user_name in ["seed60001@example.com", "nobody@example.com"] {
        let plans = explain_write_lookups(&mut conn, org, &ids[0], user_name)
            .await
            .unwrap();
        for (statement, plan) in plans {
            assert!(
                !plan.contains("Seq Scan on \"UserToOrg\""),
                "{statement}:\n{plan}"
            );
            assert!(
                !plan.contains("Seq Scan on user_profile"),
                "{statement}:\n{plan}"
            );
            if statement == "lock_memberships" {
                assert!(plan.contains("UserToOrg_pkey"), "{statement}:\n{plan}");
            }
        }
    }
}
