//! Two replicas of the service on one database, as behind a load balancer that spreads an
//! IdP's requests (and its retries) over both: the same creates, PATCHes and DELETEs sent to
//! both at once end in one consistent state, and a revoked token is refused by both within
//! the token cache's bound.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use reqwest::{Method, RequestBuilder};
use scim_sidecar::db::repo::tokens;
use serde_json::{json, Value};

use crate::helpers::{eventually, in_both_modes, in_mode, okta_user, Options, Replica, TestApp};

const PEOPLE: usize = 20;
/// Requests in flight at once over both replicas; requests of one person are sent together,
/// so they race each other.
const IN_FLIGHT: usize = 32;
/// A short token cache, so that proving the revocation bound takes a second.
const TOKEN_CACHE_TTL_SECS: u64 = 1;

fn options(mode: &'static str) -> Options {
    let ttl = TOKEN_CACHE_TTL_SECS.to_string();
    in_mode(
        mode,
        Options::env(&[("SCIM__AUTH__TOKEN_CACHE_TTL_SECS", &ttl)]),
    )
}

/// The two servers; replica 0 is the TestApp, which owns the database.
struct Replicas {
    first: TestApp,
    second: Replica,
}

impl Replicas {
    fn request(&self, replica: usize, method: Method, path: &str) -> RequestBuilder {
        match replica {
            0 => self.first.request(method, path),
            _ => self.second.request(method, path),
        }
    }

    /// The status of a GET on `replica`.
    async fn status(&self, replica: usize, path: &str) -> u16 {
        let response = self.request(replica, Method::GET, path).send().await;
        response.unwrap().status().as_u16()
    }
}

struct Answer {
    person: usize,
    status: u16,
    body: Value,
}

/// Sends `requests` (person, request), at most [`IN_FLIGHT`] at a time, and asserts that none
/// answered 5xx.
async fn hammer(phase: &str, requests: Vec<(usize, RequestBuilder)>) -> Vec<Answer> {
    let answers: Vec<Answer> = stream::iter(requests)
        .map(|(person, request)| async move {
            let response = request.send().await.expect("an answer");
            let status = response.status().as_u16();
            let body = response.json().await.unwrap_or(Value::Null);
            Answer {
                person,
                status,
                body,
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    for answer in &answers {
        assert!(
            answer.status < 500,
            "{phase}, person {}: {} {}",
            answer.person,
            answer.status,
            answer.body
        );
    }
    answers
}

/// The statuses `person` got, sorted.
fn statuses_of(answers: &[Answer], person: usize) -> Vec<u16> {
    let mut statuses: Vec<u16> = answers
        .iter()
        .filter(|answer| answer.person == person)
        .map(|answer| answer.status)
        .collect();
    statuses.sort_unstable();
    statuses
}

fn email(person: usize) -> String {
    format!("person{person}@example.com")
}

fn create_body(person: usize) -> Value {
    okta_user(
        &email(person),
        &format!("00u-person{person}"),
        "Person",
        &person.to_string(),
    )
}

/// Deleted in phase 3; those also sent again in phase 4 come back.
fn deleted(person: usize) -> bool {
    person % 3 == 0
}

fn comes_back(person: usize) -> bool {
    person % 6 == 0
}

in_both_modes! {
    async fn two_replicas_hammered_with_the_same_requests_end_in_one_consistent_state(mode) {
        let first = TestApp::spawn_with(options(mode)).await;
        let second = first.spawn_replica(options(mode)).await;
        let replicas = Replicas { first, second };
        let app = &replicas.first;
        let started = Instant::now();

        // 1. Every person created twice through each replica at once: one 201, three 409.
        let requests = (0..PEOPLE)
            .flat_map(|person| (0..4).map(move |k| (person, k % 2)))
            .map(|(person, replica)| {
                let request = replicas.request(replica, Method::POST, "/Users");
                (person, request.json(&create_body(person)))
            })
            .collect();
        let created = hammer("create", requests).await;
        let mut ids = HashMap::new();
        for person in 0..PEOPLE {
            assert_eq!(
                statuses_of(&created, person),
                [201, 409, 409, 409],
                "creating person {person}"
            );
            let id = created
                .iter()
                .find(|answer| answer.person == person && answer.status == 201)
                .and_then(|answer| answer.body["id"].as_str())
                .unwrap();
            ids.insert(person, id.to_owned());
        }

        // 2. Through each replica at once: a profile change, a deactivation and an
        // activation (the way Okta and Entra send them).
        let mut requests = Vec::new();
        for person in 0..PEOPLE {
            let path = format!("/Users/{}", ids[&person]);
            let operations = [
                json!([
                    { "op": "replace", "path": "displayName", "value": format!("Person {person} (v2)") },
                    { "op": "replace", "path": "title", "value": "Engineer" }
                ]),
                json!([{ "op": "replace", "value": { "active": false } }]),
                json!([{ "op": "Replace", "path": "active", "value": "True" }]),
            ];
            for replica in 0..2 {
                for operations in &operations {
                    let body = json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": operations
                    });
                    let request = replicas.request(replica, Method::PATCH, &path).json(&body);
                    requests.push((person, request));
                }
            }
        }
        for answer in hammer("patch", requests).await {
            assert!(
                matches!(answer.status, 200 | 409),
                "patching person {}: {} {}",
                answer.person,
                answer.status,
                answer.body
            );
        }
        let db = &app.db;
        let member = |person: usize, condition: &str| {
            let sql = format!(
                "SELECT count(*) FROM scim_sidecar.member WHERE org_id = {} AND user_id = '{}' AND {condition}",
                app.org_id, ids[&person]
            );
            async move { db.count(&sql).await }
        };
        let mut active_before_delete = HashMap::new();
        for person in 0..PEOPLE {
            active_before_delete.insert(person, member(person, "is_active").await == 1);
        }

        // 3. Deleted through both replicas at once: one 204, and 404 for the one that came
        // second.
        let requests = (0..PEOPLE)
            .filter(|person| deleted(*person))
            .flat_map(|person| (0..2).map(move |replica| (person, replica)))
            .map(|(person, replica)| {
                let path = format!("/Users/{}", ids[&person]);
                (person, replicas.request(replica, Method::DELETE, &path))
            })
            .collect();
        let deletions = hammer("delete", requests).await;
        for person in (0..PEOPLE).filter(|person| deleted(*person)) {
            assert_eq!(statuses_of(&deletions, person), [204, 404], "deleting person {person}");
        }

        // 4. Some come back, created through both replicas at once: one 201 with the same
        // id, one 409.
        let requests = (0..PEOPLE)
            .filter(|person| comes_back(*person))
            .flat_map(|person| (0..2).map(move |replica| (person, replica)))
            .map(|(person, replica)| {
                let request = replicas.request(replica, Method::POST, "/Users");
                (person, request.json(&create_body(person)))
            })
            .collect();
        let returns = hammer("come back", requests).await;
        for person in (0..PEOPLE).filter(|person| comes_back(*person)) {
            assert_eq!(statuses_of(&returns, person), [201, 409], "person {person} back");
            let back = returns
                .iter()
                .find(|answer| answer.person == person && answer.status == 201)
                .unwrap();
            assert_eq!(back.body["id"].as_str(), Some(ids[&person].as_str()));
        }
        eprintln!("{mode}: hammered in {:?}", started.elapsed());

        // One account and one membership per person, nobody else.
        assert_eq!(db.count("SELECT count(*) FROM \"User\"").await, PEOPLE as i64);
        let org_members = format!(
            "SELECT count(*) FROM scim_sidecar.member WHERE org_id = {}",
            app.org_id
        );
        assert_eq!(db.count(&org_members).await, PEOPLE as i64);
        for person in 0..PEOPLE {
            let id = &ids[&person];
            let account = format!(
                "SELECT count(*) FROM \"User\" WHERE id = '{id}' AND email = '{}'",
                email(person)
            );
            assert_eq!(db.count(&account).await, 1, "person {person}");
            assert_eq!(member(person, "true").await, 1, "person {person}");

            let visible = !deleted(person) || comes_back(person);
            let active = match (deleted(person), comes_back(person)) {
                (_, true) => true,
                (true, false) => false,
                (false, false) => active_before_delete[&person],
            };
            assert_eq!(member(person, "is_active").await == 1, active, "person {person}");
            assert_eq!(
                member(person, "hidden_at IS NULL").await == 1,
                visible,
                "person {person}"
            );
            // In remove mode an inactive membership has no row the app could read.
            let row = db
                .count(&format!(
                    "SELECT count(*) FROM \"UserToOrg\" WHERE \"orgId\" = {} AND \"userId\" = '{id}'",
                    app.org_id
                ))
                .await;
            assert_eq!(row == 1, active || mode == "deactivate", "person {person}");

            // Both replicas answer the same.
            let name = if comes_back(person) {
                format!("Person {person}")
            } else {
                format!("Person {person} (v2)")
            };
            for replica in 0..2 {
                let path = format!("/Users/{id}");
                let response = replicas.request(replica, Method::GET, &path).send().await.unwrap();
                if visible {
                    assert_eq!(response.status().as_u16(), 200, "person {person}");
                    let seen: Value = response.json().await.unwrap();
                    assert_eq!(seen["active"], active, "person {person} on {replica}");
                    assert_eq!(seen["displayName"], name.as_str(), "person {person} on {replica}");
                } else {
                    assert_eq!(response.status().as_u16(), 404, "person {person} on {replica}");
                }
            }

            // The audit trail tells the same story: added once, removed once if deleted,
            // deactivations and reactivations that end in the final state, and one ended
            // session per deprovisioning.
            let added = app.audit_count("org.member_added", id).await;
            let down = app.audit_count("org.member_deactivated", id).await;
            let up = app.audit_count("org.member_reactivated", id).await;
            let removed = app.audit_count("org.member_removed", id).await;
            let updated = app.audit_count("user.updated", id).await;
            assert_eq!(added, 1, "person {person}");
            assert_eq!(removed, i64::from(deleted(person)), "person {person}");
            let removed_active = i64::from(deleted(person) && active_before_delete[&person]);
            assert_eq!(
                down + removed_active - up,
                i64::from(!active),
                "person {person}: {down} down, {up} up, {removed_active} removed while active"
            );
            assert_eq!(app.session_version(id).await, down + removed_active, "person {person}");
            assert!(updated >= 1, "person {person}: the profile change left no audit row");
            let all = db
                .count(&format!(
                    "SELECT count(*) FROM \"Audit\" WHERE \"targetId\" = '{id}'"
                ))
                .await;
            assert_eq!(all, added + down + up + removed + updated, "person {person}");
        }
        assert_eq!(app.db.service_sessions("idle in transaction").await, 0);

        // The token revoked (as `scim-sidecar token revoke` does) while both replicas hold
        // it in their caches: both refuse it within the cache's lifetime.
        for replica in 0..2 {
            assert_eq!(replicas.status(replica, "/ServiceProviderConfig").await, 200);
        }
        let revoked = tokens::revoke(&mut db.conn().await, app.org_id, "okta").await;
        assert_eq!(revoked.unwrap(), 1);
        let refused = eventually(Duration::from_secs(10), || async {
            replicas.status(0, "/ServiceProviderConfig").await == 401
                && replicas.status(1, "/ServiceProviderConfig").await == 401
        })
        .await
        .expect("a revoked token is refused");
        // The cache's lifetime, plus a second for polling on a busy machine.
        let bound = Duration::from_secs(TOKEN_CACHE_TTL_SECS + 1);
        assert!(refused <= bound, "refused after {refused:?}; the bound is {bound:?}");
        for replica in 0..2 {
            let request = replicas.request(replica, Method::POST, "/Users");
            let response = request.json(&create_body(PEOPLE)).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 401);
        }
        assert_eq!(db.count("SELECT count(*) FROM \"User\"").await, PEOPLE as i64);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
    }
}
