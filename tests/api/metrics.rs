//! `/metrics`: every series is there, counters move with requests (checked against the rows
//! the requests wrote), labels stay bounded, and a change that rolled back is not counted.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{eventually, okta_user, until_connections_are_refused, Options, TestApp};

const OKTA: &str = "Okta SCIM Client 1.0.0";
const ENTRA: &str = "Microsoft Azure AD SCIM provisioning 1.0.0";

/// A scrape, as series (name plus sorted labels, e.g. `a{k="v"}`) to values.
struct Scrape {
    text: String,
    series: BTreeMap<String, f64>,
}

impl Scrape {
    async fn of(app: &TestApp) -> Self {
        let address = app.metrics.as_deref().expect("metrics are served");
        let response = app
            .client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.unwrap();
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("series and value");
                (normalise(series), value.parse().expect("a number"))
            })
            .collect();
        Self { text, series }
    }

    /// The value of a series; 0 when it is absent (a labelled counter not yet incremented).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series.get(&key(name, labels)).copied().unwrap_or(0.0)
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.series.contains_key(&key(name, labels))
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    labels.sort();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// `a{z="1",b="2"}` -> `a{b="2",z="1"}`; label values here hold no commas.
fn normalise(series: &str) -> String {
    match series.split_once('{') {
        None => series.to_owned(),
        Some((name, labels)) => {
            let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
            labels.sort();
            format!("{name}{{{}}}", labels.join(","))
        }
    }
}

/// The change of each listed series between two scrapes.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

async fn send(agent: &str, request: reqwest::RequestBuilder) -> reqwest::Response {
    request.header("user-agent", agent).send().await.unwrap()
}

fn patch(operations: serde_json::Value) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations
    })
}

#[tokio::test]
async fn every_series_is_exposed_and_counters_move_with_requests() {
    // Three seats: enough for three people, one short for a fourth.
    let options = Options::seats(3);
    let license_exp = options.license.as_ref().unwrap().exp;
    let app = TestApp::spawn_with(options).await;
    let (globex, _) = app.other_org().await;
    // An app account, active in another org, that the IdP will provision here: adopted.
    app.db
        .create_member(globex, "u-ada", "ada@example.com", "Ada", None)
        .await;

    let before = Scrape::of(&app).await;
    for (name, labels) in [
        (
            "scim_provisioning_events_total",
            &[("event", "created")][..],
        ),
        ("scim_provisioning_events_total", &[("event", "adopted")]),
        ("scim_provisioning_events_total", &[("event", "updated")]),
        (
            "scim_provisioning_events_total",
            &[("event", "deactivated")],
        ),
        (
            "scim_provisioning_events_total",
            &[("event", "reactivated")],
        ),
        ("scim_provisioning_events_total", &[("event", "deleted")]),
        (
            "scim_provisioning_events_total",
            &[("event", "role_changed")],
        ),
        ("scim_provisioning_events_total", &[("event", "conflict")]),
        (
            "scim_provisioning_events_total",
            &[("event", "seat_cap_refused")],
        ),
        ("scim_auth_failures_total", &[("reason", "missing_token")]),
        ("scim_auth_failures_total", &[("reason", "malformed_token")]),
        ("scim_auth_failures_total", &[("reason", "unknown_token")]),
        ("scim_auth_failures_total", &[("reason", "rate_limited")]),
        ("scim_auth_failures_total", &[("reason", "not_entitled")]),
        ("scim_auth_failures_total", &[("reason", "disabled")]),
        ("scim_requests_by_idp_total", &[("idp", "okta")]),
        ("scim_requests_by_idp_total", &[("idp", "entra")]),
        ("scim_requests_by_idp_total", &[("idp", "other")]),
        ("scim_license_state", &[("state", "valid")]),
        ("scim_license_state", &[("state", "expired")]),
        ("scim_license_state", &[("state", "none")]),
        ("scim_license_expiry_timestamp_seconds", &[]),
        ("scim_db_pool_max_connections", &[]),
        ("scim_db_pool_connections", &[]),
        ("scim_db_pool_connections_in_use", &[]),
        ("scim_db_pool_waiting_requests", &[]),
        ("scim_read_only", &[]),
        ("scim_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
    ] {
        assert!(
            before.has(name, labels),
            "{} missing from:\n{}",
            key(name, labels),
            before.text
        );
    }
    assert_eq!(
        before.value("scim_license_state", &[("state", "valid")]),
        1.0
    );
    assert_eq!(
        before.value("scim_license_state", &[("state", "none")]),
        0.0
    );
    assert_eq!(
        before.value("scim_license_expiry_timestamp_seconds", &[]),
        license_exp as f64
    );
    assert_eq!(before.value("scim_db_pool_max_connections", &[]), 8.0);
    assert_eq!(before.value("scim_read_only", &[]), 0.0);

    // Okta creates a new person, adopts an existing account, and repeats a create: 409.
    let created = send(
        OKTA,
        app.request(Method::POST, "/Users").json(&okta_user(
            "jane@example.com",
            "ext-jane",
            "Jane",
            "Doe",
        )),
    )
    .await;
    assert_eq!(created.status().as_u16(), 201);
    let jane = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let adopted = send(
        OKTA,
        app.request(Method::POST, "/Users").json(&okta_user(
            "ada@example.com",
            "ext-ada",
            "Ada",
            "L",
        )),
    )
    .await;
    assert_eq!(adopted.status().as_u16(), 201);
    let again = send(
        OKTA,
        app.request(Method::POST, "/Users").json(&okta_user(
            "jane@example.com",
            "ext-jane",
            "Jane",
            "Doe",
        )),
    )
    .await;
    assert_eq!(again.status().as_u16(), 409);

    // Entra deactivates and reactivates Jane, renames her, creates a third person, is refused
    // a fourth seat, and deletes the third.
    for active in [false, true] {
        let answer = send(
            ENTRA,
            app.request(Method::PATCH, &format!("/Users/{jane}"))
                .json(&patch(
                    json!([{"op": "Replace", "path": "active", "value": active}]),
                )),
        )
        .await;
        assert_eq!(answer.status().as_u16(), 200, "active: {active}");
    }
    let renamed = send(
        ENTRA,
        app.request(Method::PATCH, &format!("/Users/{jane}"))
            .json(&patch(
                json!([{"op": "Replace", "path": "displayName", "value": "Jane Roe"}]),
            )),
    )
    .await;
    assert_eq!(renamed.status().as_u16(), 200);
    let third = send(
        ENTRA,
        app.request(Method::POST, "/Users").json(&okta_user(
            "tom@example.com",
            "ext-tom",
            "Tom",
            "T",
        )),
    )
    .await;
    assert_eq!(third.status().as_u16(), 201);
    let tom = third.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fourth = send(
        ENTRA,
        app.request(Method::POST, "/Users").json(&okta_user(
            "max@example.com",
            "ext-max",
            "Max",
            "M",
        )),
    )
    .await;
    assert_eq!(fourth.status().as_u16(), 400, "the seat cap");
    let deleted = send(ENTRA, app.request(Method::DELETE, &format!("/Users/{tom}"))).await;
    assert_eq!(deleted.status().as_u16(), 204);

    // Refusals before any handler, and an address where an id goes (another client).
    let users = format!("{}/Users", app.base);
    let no_token = send("curl/8", app.client.get(&users)).await;
    let not_a_token = send("curl/8", app.client.get(&users).bearer_auth("abc")).await;
    let unknown = send(
        "curl/8",
        app.client
            .get(&users)
            .bearer_auth(format!("sbscim_{}", "0".repeat(64))),
    )
    .await;
    for refused in [no_token, not_a_token, unknown] {
        assert_eq!(refused.status().as_u16(), 401);
    }
    let by_address = send(
        "curl/8",
        app.request(Method::GET, "/Users/secret.person%40example.com?x=secret"),
    )
    .await;
    assert_eq!(by_address.status().as_u16(), 404);

    let after = Scrape::of(&app).await;
    let events = |event: &str| {
        delta(
            &before,
            &after,
            "scim_provisioning_events_total",
            &[("event", event)],
        )
    };
    for (event, expected) in [
        ("created", 2.0),
        ("adopted", 1.0),
        ("updated", 1.0),
        ("deactivated", 1.0),
        ("reactivated", 1.0),
        ("deleted", 1.0),
        ("conflict", 1.0),
        ("seat_cap_refused", 1.0),
    ] {
        assert_eq!(events(event), expected, "{event}");
    }
    // The counters agree with the audit trail the same requests wrote.
    for (action, events) in [
        ("org.member_added", events("created") + events("adopted")),
        ("org.member_deactivated", events("deactivated")),
        ("org.member_reactivated", events("reactivated")),
        ("org.member_removed", events("deleted")),
        ("user.updated", events("updated")),
    ] {
        let rows = app
            .db
            .count(&format!(
                "SELECT count(*) FROM \"Audit\" WHERE action = '{action}'"
            ))
            .await;
        assert_eq!(rows as f64, events, "{action}");
    }
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM \"UserToOrg\" WHERE \"userId\" = 'u-ada'")
            .await,
        2,
        "the adopted account is a member of both orgs"
    );

    let failures = |reason: &str| {
        delta(
            &before,
            &after,
            "scim_auth_failures_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(failures("missing_token"), 1.0);
    assert_eq!(failures("malformed_token"), 1.0);
    assert_eq!(failures("unknown_token"), 1.0);
    assert_eq!(failures("rate_limited"), 0.0);

    let idp = |family: &str| {
        delta(
            &before,
            &after,
            "scim_requests_by_idp_total",
            &[("idp", family)],
        )
    };
    assert_eq!(idp("okta"), 3.0);
    assert_eq!(idp("entra"), 6.0);
    assert_eq!(idp("other"), 4.0);

    let requests = |route: &str, method: &str, status: &str| {
        delta(
            &before,
            &after,
            "scim_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("/scim/v2/Users", "POST", "201"), 3.0);
    assert_eq!(requests("/scim/v2/Users", "POST", "409"), 1.0);
    assert_eq!(requests("/scim/v2/Users", "POST", "400"), 1.0);
    assert_eq!(requests("/scim/v2/Users", "GET", "401"), 3.0);
    assert_eq!(requests("/scim/v2/Users/{id}", "PATCH", "200"), 3.0);
    assert_eq!(requests("/scim/v2/Users/{id}", "DELETE", "204"), 1.0);
    assert_eq!(requests("/scim/v2/Users/{id}", "GET", "404"), 1.0);
    let patches = &[("route", "/scim/v2/Users/{id}"), ("method", "PATCH")];
    assert_eq!(
        delta(
            &before,
            &after,
            "scim_http_request_duration_seconds_count",
            patches
        ),
        3.0
    );
    let all_within = [("le", "+Inf")]
        .into_iter()
        .chain(patches.iter().copied())
        .collect::<Vec<_>>();
    assert_eq!(
        after.value("scim_http_request_duration_seconds_bucket", &all_within),
        3.0
    );
    assert!(after
        .text
        .contains("# TYPE scim_http_request_duration_seconds histogram"));
    assert!(after
        .text
        .contains("# TYPE scim_http_requests_total counter"));

    // Bounded labels: route patterns only, never the path or query as sent.
    for needle in ["secret", "%40", "@", "?"] {
        assert!(
            !after.text.contains(needle),
            "{needle:?} in:\n{}",
            after.text
        );
    }
    let open = after.value("scim_db_pool_connections", &[]);
    assert!((1.0..=8.0).contains(&open), "{open}");
    assert!(after.value("scim_db_pool_connections_in_use", &[]) <= open);
    assert_eq!(after.value("scim_db_pool_waiting_requests", &[]), 0.0);
}

#[tokio::test]
async fn pool_gauges_are_sampled_at_the_scrape() {
    // The waiting request must outlast a slow machine's scrapes.
    let app = TestApp::spawn_with_env(&[
        ("SCIM__DATABASE__POOL_MAX_SIZE", "2"),
        ("SCIM__DATABASE__ACQUIRE_TIMEOUT_MS", "30000"),
        // The blocked statements must outlast the scrapes below, however slow the machine.
        ("SCIM__DATABASE__STATEMENT_TIMEOUT_MS", "60000"),
    ])
    .await;
    // Both connections held by requests waiting on a lock, a third request waiting for one.
    let mut blocker = app.db.lock_table("User").await;
    let in_flight: Vec<_> = (0..3)
        .map(|_| tokio::spawn(app.get("/Users").send()))
        .collect();
    let busy = eventually(Duration::from_secs(10), || async {
        let scrape = Scrape::of(&app).await;
        scrape.value("scim_db_pool_connections_in_use", &[]) == 2.0
            && scrape.value("scim_db_pool_waiting_requests", &[]) >= 1.0
    })
    .await;
    blocker.batch_execute("COMMIT").await.unwrap();
    for request in in_flight {
        assert_eq!(request.await.unwrap().unwrap().status().as_u16(), 200);
    }
    assert!(busy.is_some(), "the scrape never saw the pool busy");
    let idle = Scrape::of(&app).await;
    assert_eq!(idle.value("scim_db_pool_max_connections", &[]), 2.0);
    assert_eq!(idle.value("scim_db_pool_connections_in_use", &[]), 0.0);
    assert_eq!(idle.value("scim_db_pool_waiting_requests", &[]), 0.0);
}

#[tokio::test]
async fn a_change_rolled_back_past_the_deadline_is_neither_counted_nor_kept() {
    let app = TestApp::spawn_with_env(&[("SCIM__SERVER__REQUEST_DEADLINE_MS", "1500")]).await;
    let before = Scrape::of(&app).await;
    // Writes to the profile table wait; reads of it do not. A create writes its membership
    // and its audit row, then its profile: it is held after the audit row, until the deadline.
    let mut blocker = app.db.conn().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE scim_sidecar.user_profile IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let create = tokio::spawn(
        app.request(Method::POST, "/Users")
            .json(&okta_user("late@example.com", "ext-late", "Late", "L"))
            .send(),
    );
    let held_after_audit = eventually(Duration::from_secs(10), || async {
        app.db
            .count(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query ILIKE '%user_profile%'",
            )
            .await
            > 0
    })
    .await;
    assert!(
        held_after_audit.is_some(),
        "the create never reached its profile"
    );
    let answer = create.await.unwrap().unwrap();
    assert_eq!(answer.status().as_u16(), 503);
    blocker.batch_execute("COMMIT").await.unwrap();

    assert_eq!(
        app.db.count("SELECT count(*) FROM \"Audit\"").await,
        0,
        "rolled back"
    );
    let after = Scrape::of(&app).await;
    assert_eq!(
        delta(
            &before,
            &after,
            "scim_provisioning_events_total",
            &[("event", "created")]
        ),
        0.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "scim_http_requests_total",
            &[
                ("route", "/scim/v2/Users"),
                ("method", "POST"),
                ("status", "503")
            ]
        ),
        1.0
    );
}

#[tokio::test]
async fn the_metrics_listener_stops_with_the_server_and_can_be_turned_off() {
    let app = TestApp::spawn().await;
    let metrics = app.metrics.clone().expect("on by default");
    assert_eq!(
        app.client
            .get(format!("{metrics}/nothing-here"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    // The SCIM listener does not serve metrics.
    assert_eq!(app.get_plain("/metrics").await.status().as_u16(), 404);
    app.stop().await;
    until_connections_are_refused(&metrics).await;

    let off = TestApp::spawn_with_env(&[("SCIM_METRICS_LISTEN", "off")]).await;
    assert!(off.metrics.is_none());
    assert_eq!(off.get_plain("/healthz").await.status().as_u16(), 200);
}

#[tokio::test]
async fn owner_group_role_changes_are_counted_like_their_audit_rows() {
    let app = TestApp::spawn_with(Options::env(&[("SCIM_OWNER_GROUP", "Owners")])).await;
    let jane = app.create_user("jane@example.com", "ext-jane").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = Scrape::of(&app).await;
    app.create_group("Owners", &[&jane]).await;
    let after = Scrape::of(&app).await;
    let rows = app
        .db
        .count("SELECT count(*) FROM \"Audit\" WHERE action = 'org.member_role_changed'")
        .await;
    assert_eq!(rows, 1);
    assert_eq!(
        delta(
            &before,
            &after,
            "scim_provisioning_events_total",
            &[("event", "role_changed")]
        ),
        1.0
    );
}
