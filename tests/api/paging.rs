//! Paging `GET /Users` by index (RFC 7644) and by cursor (RFC 9865): a whole walk returns
//! every visible member of the org once, as the database holds them, and a cursor works only
//! for the org and the query it was issued for.

use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, TestApp};

/// Walks send hundreds of requests in a moment: no per-token rate limit.
const UNLIMITED: &[(&str, &str)] = &[("SCIM__SERVER__RATE_LIMIT_PER_SECOND", "0")];

/// 23 members the app created, 4 provisioned (one of them with a title), one SCIM DELETEd
/// (hidden), one removed membership the service keeps (`remove` mode), and a member of
/// another org: returns that other org and its token.
async fn seed(app: &TestApp) -> (i32, String) {
    let org = app.org_id;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, name, \"updatedAt\") \
               SELECT 'app' || lpad(g::text, 2, '0'), 'app' || g || '@example.com', \
                      CASE WHEN g % 3 = 0 THEN NULL ELSE 'Person ' || (g % 5) END, now() \
               FROM generate_series(1, 23) g; \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\", \"isActive\") \
               SELECT {org}, 'app' || lpad(g::text, 2, '0'), g % 4 <> 0 FROM generate_series(1, 23) g; \
             INSERT INTO \"User\" (id, email, \"updatedAt\") VALUES ('kept', 'kept@example.com', now()); \
             INSERT INTO scim_sidecar.user_profile \
               (org_id, user_id, user_name, attributes, created_at, updated_at, removed_at, kept_role, kept_joined_at) \
               VALUES ({org}, 'kept', 'kept@example.com', '{{}}', now(), now(), now(), 'MEMBER', now());"
        ))
        .await;
    for i in 0..4 {
        app.create_user(&format!("scim{i}@example.com"), &format!("ext{i}"))
            .await;
    }
    let titled = app.list("userName eq \"scim1@example.com\"").await;
    let titled = titled["Resources"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .patch_user(
            &titled,
            json!([{ "op": "replace", "path": "title", "value": "Engineer" }]),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let gone = app.list("userName eq \"scim3@example.com\"").await;
    let gone = gone["Resources"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete_user(&gone).await.status().as_u16(), 204);

    let (other, token) = app.other_org().await;
    app.db
        .create_member(other, "elsewhere", "elsewhere@example.com", "Else", None)
        .await;
    (other, token)
}

/// The ids of the org's visible members, in id order, as the database holds them.
async fn visible_ids(app: &TestApp) -> Vec<String> {
    let rows = app
        .db
        .text(&format!(
            "SELECT string_agg(user_id, ',' ORDER BY user_id) FROM scim_sidecar.member \
             WHERE org_id = {} AND hidden_at IS NULL",
            app.org_id
        ))
        .await
        .unwrap();
    rows.split(',').map(str::to_owned).collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of a cursor walk with `query` (without `cursor`) and `count`: the ids in order,
/// after checking each page's ListResponse.
async fn walk_by_cursor(app: &TestApp, query: &[(&str, &str)], count: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    let mut total = None;
    for _ in 0..100 {
        let count_text = count.to_string();
        let mut params = query.to_vec();
        params.push(("cursor", &cursor));
        params.push(("count", &count_text));
        let response = app.get("/Users").query(&params).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let page: Value = response.json().await.unwrap();
        let page_ids = ids(&page);
        assert_eq!(page["itemsPerPage"], page_ids.len());
        assert!(page.get("startIndex").is_none(), "{page}");
        assert_eq!(
            *total.get_or_insert(page["totalResults"].clone()),
            page["totalResults"],
            "every page reports the total of the first"
        );
        assert!(page_ids.len() <= count);
        all.extend(page_ids);
        match page.get("nextCursor") {
            Some(next) => {
                cursor = next.as_str().unwrap().to_owned();
                assert!(!cursor.is_empty());
            }
            None => {
                assert_eq!(total, Some(json!(all.len())), "{query:?}");
                return all;
            }
        }
    }
    panic!("the walk did not end");
}

async fn walk_by_index(app: &TestApp, query: &[(&str, &str)], count: usize) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let start = (all.len() + 1).to_string();
        let count_text = count.to_string();
        let mut params = query.to_vec();
        params.push(("startIndex", &start));
        params.push(("count", &count_text));
        let page: Value = app
            .get("/Users")
            .query(&params)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page_ids = ids(&page);
        let total = page["totalResults"].as_u64().unwrap() as usize;
        all.extend(page_ids);
        if all.len() >= total {
            assert_eq!(all.len(), total);
            return all;
        }
    }
}

#[tokio::test]
async fn a_walk_by_cursor_or_by_index_returns_every_visible_member_once() {
    let app = TestApp::spawn_with_env(UNLIMITED).await;
    seed(&app).await;
    let expected = visible_ids(&app).await;
    assert_eq!(expected.len(), 23 + 3 + 1, "the seeded members");
    assert!(expected.contains(&"kept".to_owned()));
    for count in [1, 5, 7, 27, 200] {
        assert_eq!(
            walk_by_cursor(&app, &[], count).await,
            expected,
            "count {count}"
        );
        assert_eq!(
            walk_by_index(&app, &[], count).await,
            expected,
            "count {count}"
        );
    }
    // The same walk through POST /Users/.search.
    let mut cursor = json!("");
    let mut searched = Vec::new();
    loop {
        let page: Value = app
            .request(reqwest::Method::POST, "/Users/.search")
            .json(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "cursor": cursor,
                "count": 10
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        searched.extend(ids(&page));
        match page.get("nextCursor") {
            Some(next) => cursor = next.clone(),
            None => break,
        }
    }
    assert_eq!(searched, expected);
}

#[tokio::test]
async fn cursor_walks_follow_filters_and_every_kind_of_order() {
    let app = TestApp::spawn_with_env(UNLIMITED).await;
    seed(&app).await;
    let queries: [&[(&str, &str)]; 9] = [
        &[("filter", "active eq true")],
        &[("sortBy", "title")],
        &[("sortBy", "title"), ("sortOrder", "descending")],
        &[("sortBy", "displayName")],
        &[("sortBy", "displayName"), ("sortOrder", "descending")],
        &[("sortBy", "active"), ("sortOrder", "descending")],
        &[("sortBy", "meta.created")],
        &[("sortBy", "emails")],
        &[
            ("filter", "userName sw \"app\" or title pr"),
            ("sortBy", "name.familyName"),
            ("sortOrder", "descending"),
        ],
    ];
    for query in queries {
        // One index page holds them all: the order the database gives.
        let mut params = query.to_vec();
        params.push(("count", "200"));
        let whole: Value = app
            .get("/Users")
            .query(&params)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expected = ids(&whole);
        assert!(!expected.is_empty(), "{query:?}");
        for count in [1, 4] {
            assert_eq!(
                walk_by_cursor(&app, query, count).await,
                expected,
                "{query:?} by {count}"
            );
        }
    }
    let active = walk_by_cursor(&app, &[("filter", "active eq true")], 3).await;
    let in_database = app
        .db
        .count(&format!(
            "SELECT count(*) FROM scim_sidecar.member \
             WHERE org_id = {} AND hidden_at IS NULL AND is_active",
            app.org_id
        ))
        .await;
    assert_eq!(active.len() as i64, in_database);
}

#[tokio::test]
async fn a_cursor_works_only_for_its_org_and_query() {
    let app = TestApp::spawn_with_env(UNLIMITED).await;
    let (_, other_token) = seed(&app).await;
    let first: Value = app.get_json("/Users?cursor=&count=2").await;
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let next = |cursor: &str| format!("/Users?cursor={cursor}&count=2");
    assert_eq!(app.get_json(&next(&cursor)).await["itemsPerPage"], 2);

    let mut tampered = cursor.clone().into_bytes();
    for at in [0, tampered.len() / 2, tampered.len() - 1] {
        tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    }
    let tampered = String::from_utf8(tampered).unwrap();
    let invalid = [
        next(&tampered),
        next(&cursor[..cursor.len() - 2]),
        next(&format!("{cursor}00")),
        next("garbage"),
        next("%00"),
        next(&format!("{cursor}%00")),
        next("a%20b"),
        next(&"ab".repeat(3_000)),
        // Another query: the cursor of the unfiltered list.
        format!("/Users?cursor={cursor}&count=2&filter=active%20eq%20true"),
        format!("/Users?cursor={cursor}&count=2&sortBy=userName"),
    ];
    for path in &invalid {
        let response = app.get(path).send().await.unwrap();
        let status = response.status().as_u16();
        let body = assert_scim_error(response, 400).await;
        assert_eq!(body["scimType"], "invalidCursor", "{status} {body}");
        assert!(body.get("Resources").is_none());
        let text = body.to_string();
        assert!(
            !text.contains("app0") && !text.contains("@example.com"),
            "{text}"
        );
    }
    let huge = assert_scim_error(
        app.request(reqwest::Method::POST, "/Users/.search")
            .json(&json!({ "cursor": "0".repeat(100_000), "count": 2 }))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(huge["scimType"], "invalidCursor");
    // The other org's token with this org's cursor.
    let response = app
        .request_as(&other_token, reqwest::Method::GET, &next(&cursor))
        .send()
        .await
        .unwrap();
    let body = assert_scim_error(response, 400).await;
    assert_eq!(body["scimType"], "invalidCursor");
    assert!(!body.to_string().contains("app0"));

    let both = assert_scim_error(
        app.get(&format!("/Users?cursor={cursor}&startIndex=3"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(both["scimType"], "invalidValue");
    for count in ["0", "-1"] {
        let body = assert_scim_error(
            app.get(&format!("/Users?cursor=&count={count}"))
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        assert_eq!(body["scimType"], "invalidCount");
    }
}

#[tokio::test]
async fn the_service_provider_config_advertises_both_paging_methods() {
    let app = TestApp::spawn_with_env(UNLIMITED).await;
    let config: Value = app.get_json("/ServiceProviderConfig").await;
    assert_eq!(
        config["pagination"],
        json!({
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": 200,
            "maxPageSize": 200,
            "cursorTimeout": 3600
        })
    );
}

#[tokio::test]
async fn a_page_walks_the_membership_index_instead_of_sorting_the_org() {
    use scim_sidecar::db::repo::members::{explain_page, PageRequest, PageStart};
    let app = TestApp::spawn_with_env(UNLIMITED).await;
    let org = app.org_id;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, \"updatedAt\") \
               SELECT 'seed' || g, 'seed' || g || '@example.com', now() FROM generate_series(1, 100000) g; \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\") \
               SELECT {org}, 'seed' || g FROM generate_series(1, 100000) g; \
             INSERT INTO scim_sidecar.user_profile (org_id, user_id, user_name, attributes, created_at, updated_at) \
               SELECT {org}, 'seed' || g, 'login' || g, '{{}}', now(), now() FROM generate_series(1, 100000) g; \
             UPDATE scim_sidecar.user_profile SET hidden_at = now() WHERE user_id IN ('seed7', 'seed99999');"
        ))
        .await;
    // As autovacuum leaves a settled table: visible to index-only scans, with statistics.
    app.db.run_sql("VACUUM ANALYZE").await;
    let mut conn = app.db.conn().await;
    for start in [
        PageStart::Offset(99_000),
        PageStart::After {
            user_id: "seed9".to_owned(),
            sort_value: None,
        },
    ] {
        let request = PageRequest {
            filter: None,
            sort: None,
            start: start.clone(),
            limit: 100,
            // The count reads the whole org by design; with one org in the table the
            // planner rightly reads it sequentially.
            total: false,
        };
        let plan = explain_page(&mut conn, org, &request)
            .await
            .unwrap()
            .join("\n");
        assert!(!plan.contains("Seq Scan"), "{start:?}:\n{plan}");
        for wanted in [
            "Merge Append",
            "Index Only Scan using \"UserToOrg_pkey\"",
            "user_profile_hidden_idx",
        ] {
            assert!(plan.contains(wanted), "{start:?}: no {wanted}:\n{plan}");
        }
    }
}
