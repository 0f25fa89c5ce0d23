//! The query language against the database: every filter and sort answered in SQL must equal
//! an evaluation of the same filter, in this test, over the rendered resources of the same
//! members.

use std::cmp::Ordering;

use serde_json::{json, Value};

use scim_sidecar::scim::filter::{parse_filter, AttrPath, CompValue, CompareOp, Filter};
use scim_sidecar::scim::schema::{self, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

use crate::helpers::TestApp;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// 36 varied members: provisioned with and without the optional attributes, inactive ones,
/// and members the app created (names of one, two and three words, or none).
async fn seed(app: &TestApp) -> Vec<Value> {
    let given = [
        "Jane", "John", "Barbara", "Mary", "Zoe", "Ann", "Omar", "Li",
    ];
    let family = ["Doe", "O'Malley", "Jensen", "Smith", "Adams", "Zhang"];
    let titles = [Some("Engineer"), Some("Tour Guide"), None, Some("manager")];
    let types = [Some("Employee"), Some("Intern"), None];
    for i in 0..30usize {
        let (g, f) = (given[i % given.len()], family[i % family.len()]);
        let domain = if i % 3 == 0 {
            "example.org"
        } else {
            "example.com"
        };
        let mut body = json!({
            "userName": if i % 4 == 0 { format!("J{g}{i}") } else { format!("{g}.{f}{i}@{domain}").to_lowercase() },
            "externalId": format!("ext-{i}"),
            "name": {"givenName": g, "familyName": f},
            "emails": [{"value": format!("{g}{i}@{domain}"), "type": "work", "primary": i % 2 == 0}],
        });
        if i % 5 != 0 {
            body["displayName"] = json!(format!("{g} {f}"));
        }
        if let Some(title) = titles[i % titles.len()] {
            body["title"] = json!(title);
        }
        if let Some(kind) = types[i % types.len()] {
            body["userType"] = json!(kind);
        }
        if i % 3 == 1 {
            body["emails"]
                .as_array_mut()
                .unwrap()
                .push(json!({"value": format!("{g}{i}@home.example"), "type": "home"}));
        }
        if i % 4 == 1 {
            body["phoneNumbers"] = json!([{"value": format!("+1 555 01{i:02}"), "type": "mobile"}, {"value": "+49 30 1", "type": "work"}]);
        }
        if i % 6 == 2 {
            body["addresses"] = json!([{"locality": if i % 12 == 2 { "Berlin" } else { "Boston" }, "country": if i % 12 == 2 { "DE" } else { "US" }, "type": "work"}]);
        }
        if i % 2 == 1 {
            body[ENTERPRISE] = json!({
                "department": if i % 4 == 1 { "Sales" } else { "R&D" },
                "employeeNumber": format!("{}", 90 + i),
                "manager": {"value": format!("m-{}", i % 3)}
            });
        }
        if i % 7 == 3 {
            body["nickName"] = json!("Nick");
        }
        let created = app.post_user(&body).await;
        assert_eq!(created.status().as_u16(), 201, "{body}");
        if i % 5 == 4 {
            let id = created.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(app.set_active(&id, false).await.status().as_u16(), 200);
        }
    }
    let names = [
        "Mary Ann Smith",
        "Cher",
        "  Pat  Lee ",
        "",
        "Zed Zulu",
        "Bo",
    ];
    for (i, name) in names.iter().enumerate() {
        app.db
            .run_sql(&format!(
                "INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES ('app-{i}', 'App{i}@Example.com', NULLIF('{name}', ''), now()); \
                 INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\") VALUES ({}, 'app-{i}');",
                app.org_id
            ))
            .await;
    }
    let all = app.get_json("/Users?count=200").await;
    assert_eq!(all["totalResults"], 36);
    all["Resources"].as_array().unwrap().clone()
}

/// The values a path names in a resource (one per element for a multi-valued attribute).
fn values<'a>(doc: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let lookup = |object: &'a Value, name: &str| -> Option<&'a Value> {
        object
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    };
    let holder = match path.urn.as_deref() {
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE) => match lookup(doc, ENTERPRISE) {
            Some(extension) => extension,
            None => return Vec::new(),
        },
        _ => doc,
    };
    let Some(value) = lookup(holder, &path.name) else {
        return Vec::new();
    };
    let sub = path
        .sub_attr
        .as_deref()
        .or_else(|| value.is_array().then_some("value"));
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match sub {
        None => items,
        Some(sub) => items
            .into_iter()
            .filter_map(|item| lookup(item, sub))
            .collect(),
    }
}

fn case_exact(path: &AttrPath) -> bool {
    if path.name.eq_ignore_ascii_case("meta") {
        return true;
    }
    let Some((_, def)) = schema::resolve(path.urn.as_deref(), &path.name) else {
        return false;
    };
    match path.sub_attr.as_deref() {
        Some(sub) => def.sub(sub).is_some_and(|sub| sub.case_exact),
        None if def.multi_valued => def.sub("value").is_some_and(|sub| sub.case_exact),
        None => def.case_exact,
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => true,
    }
}

fn compare(
    actual: &Value,
    op: CompareOp,
    expected: &CompValue,
    exact: bool,
    is_time: bool,
) -> bool {
    let expected = match expected {
        CompValue::Str(text) => Value::String(text.clone()),
        CompValue::Num(number) => Value::String(number.to_string()),
        CompValue::Bool(flag) => Value::Bool(*flag),
        CompValue::Null => return false,
    };
    if let (Value::Bool(a), Value::Bool(b)) = (actual, &expected) {
        return (a == b) == (op == CompareOp::Eq);
    }
    let (Some(a), Some(b)) = (actual.as_str(), expected.as_str()) else {
        return false;
    };
    let (a, b) = if is_time {
        let time = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        let (a, b) = (time(a), time(b));
        return match op {
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            _ => a == b,
        };
    } else if exact {
        (a.to_owned(), b.to_owned())
    } else {
        (a.to_lowercase(), b.to_lowercase())
    };
    match op {
        CompareOp::Eq | CompareOp::Ne => a == b,
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
    }
}

/// RFC 7644 §3.4.2.2, evaluated on a rendered resource.
fn matches(filter: &Filter, doc: &Value) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, doc) && matches(b, doc),
        Filter::Or(a, b) => matches(a, doc) || matches(b, doc),
        Filter::Not(inner) => !matches(inner, doc),
        Filter::Present(path) => values(doc, path).into_iter().any(present),
        Filter::Compare { path, op, value } => {
            if path.is("schemas") {
                let CompValue::Str(urn) = value else {
                    return false;
                };
                let has = doc["schemas"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s.as_str().unwrap().eq_ignore_ascii_case(urn));
                return has == (*op == CompareOp::Eq);
            }
            let found = values(doc, path);
            if *value == CompValue::Null {
                let any = found.into_iter().any(present);
                return if *op == CompareOp::Eq { !any } else { any };
            }
            let exact = case_exact(path);
            let is_time = path.name.eq_ignore_ascii_case("meta")
                && path.sub_attr.as_deref().is_some_and(|sub| {
                    sub.eq_ignore_ascii_case("created") || sub.eq_ignore_ascii_case("lastModified")
                });
            let hit = |op| found.iter().any(|v| compare(v, op, value, exact, is_time));
            if *op == CompareOp::Ne {
                !hit(CompareOp::Eq)
            } else {
                hit(*op)
            }
        }
        Filter::ValuePath { attr, filter } => {
            let elements = values(
                doc,
                &AttrPath {
                    sub_attr: None,
                    ..attr.clone()
                },
            );
            let list = match doc
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(&attr.name)))
            {
                Some((_, Value::Array(items))) => items.clone(),
                _ => Vec::new(),
            };
            let _ = elements;
            list.iter().any(|element| {
                // Inside brackets, paths name sub-attributes of the element.
                let scoped = scope(filter, &attr.name);
                matches(&scoped, &json!({ attr.name.clone(): [element] }))
            })
        }
    }
}

/// `type eq "work"` inside `emails[...]` as `emails.type eq "work"`.
fn scope(filter: &Filter, attr: &str) -> Filter {
    let path = |p: &AttrPath| AttrPath {
        urn: None,
        name: attr.to_owned(),
        sub_attr: Some(p.name.clone()),
    };
    match filter {
        Filter::And(a, b) => Filter::And(Box::new(scope(a, attr)), Box::new(scope(b, attr))),
        Filter::Or(a, b) => Filter::Or(Box::new(scope(a, attr)), Box::new(scope(b, attr))),
        Filter::Not(inner) => Filter::Not(Box::new(scope(inner, attr))),
        Filter::Present(p) => Filter::Present(path(p)),
        Filter::Compare { path: p, op, value } => Filter::Compare {
            path: path(p),
            op: *op,
            value: value.clone(),
        },
        other => other.clone(),
    }
}

fn ids(resources: &Value) -> Vec<String> {
    resources["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{resources}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_filter_answers_what_the_rfc_semantics_give_over_the_same_members() {
    let app = TestApp::spawn().await;
    let docs = seed(&app).await;
    let filters = [
        // RFC 7644 §3.4.2.2's examples (`ims` is not an attribute of this service).
        "userName eq \"bjensen\"",
        "name.familyName co \"O'Malley\"",
        "userName sw \"J\"",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"",
        "title pr",
        "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
        "meta.lastModified ge \"2011-05-13T04:42:34Z\"",
        "meta.lastModified lt \"2011-05-13T04:42:34Z\"",
        "meta.lastModified le \"2011-05-13T04:42:34Z\"",
        "title pr and userType eq \"Employee\"",
        "title pr or userType eq \"Intern\"",
        "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
        "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType eq \"Employee\" and (emails.type eq \"work\")",
        "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
        "emails[type eq \"work\" and value co \"@example.com\"]",
        // Every operator, derived names, the extension, multi-valued attributes, nulls.
        "displayName sw \"j\"",
        "displayName ew \"N\"",
        "name.givenName eq \"jane\"",
        "name.givenName gt \"M\"",
        "name.familyName le \"Doe\"",
        "name.familyName pr",
        "name pr",
        "name.formatted co \"a\"",
        "active eq false",
        "not (active eq true)",
        "externalId eq \"ext-7\"",
        "externalId eq \"EXT-7\"",
        "externalId sw \"ext-1\"",
        "userName gt \"m\"",
        "userName ew \".com\"",
        "userName ne \"jjane0\"",
        "emails[type eq \"home\"]",
        "emails.type ne \"home\"",
        "emails[primary eq true]",
        "emails[not (type eq \"work\")]",
        "emails[value ew \".org\" or type eq \"home\"]",
        "emails.value eq \"JOHN1@example.com\"",
        "emails pr",
        "phoneNumbers pr",
        "phoneNumbers[type eq \"mobile\" and value sw \"+1\"]",
        "phoneNumbers.value co \"555\"",
        "addresses[country eq \"de\"]",
        "addresses.locality co \"BER\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"sales\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber gt \"100\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m-1\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr",
        "title ne \"Engineer\"",
        "title eq \"MANAGER\"",
        "title gt \"manager\"",
        "nickName eq null",
        "title ne null",
        "meta.created ge \"2000-01-01T00:00:00Z\"",
        "meta.resourceType eq \"User\"",
        "(title pr or nickName pr) and not (userType eq \"Intern\")",
    ];
    for text in filters {
        let parsed = parse_filter(text).unwrap();
        let mut expected: Vec<String> = docs
            .iter()
            .filter(|doc| matches(&parsed, doc))
            .map(|doc| doc["id"].as_str().unwrap().to_owned())
            .collect();
        expected.sort();
        let answer = app.list(text).await;
        let mut found = ids(&answer);
        found.sort();
        assert_eq!(found, expected, "{text}");
        assert_eq!(answer["totalResults"], expected.len(), "{text}");
    }
    // Each filter above actually selects something different: not all, not none.
    let selective = filters
        .iter()
        .filter(|text| {
            let parsed = parse_filter(text).unwrap();
            let n = docs.iter().filter(|doc| matches(&parsed, doc)).count();
            n > 0 && n < docs.len()
        })
        .count();
    assert!(
        selective >= 40,
        "only {selective} filters select a proper subset"
    );
}

/// The sort key of a resource as RFC 7644 §3.4.2.3 defines it.
fn sort_value(doc: &Value, path: &AttrPath) -> Option<String> {
    let found = values(doc, path);
    let chosen = if found.len() > 1 || doc.get(&path.name).is_some_and(Value::is_array) {
        let list = doc.get(&path.name)?.as_array()?;
        let primary = list
            .iter()
            .find(|e| e["primary"] == json!(true))
            .or(list.first())?;
        primary.get(path.sub_attr.as_deref().unwrap_or("value"))
    } else {
        found.first().copied()
    }?;
    let text = match chosen {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    Some(if case_exact(path) {
        text
    } else {
        text.to_lowercase()
    })
}

#[tokio::test]
async fn every_sortable_attribute_sorts_both_ways_with_missing_values_at_the_rfc_end() {
    let app = TestApp::spawn().await;
    let docs = seed(&app).await;
    for sort_by in [
        "userName",
        "displayName",
        "name.familyName",
        "name.givenName",
        "title",
        "userType",
        "nickName",
        "externalId",
        "meta.created",
        "meta.lastModified",
        "emails",
        "phoneNumbers.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    ] {
        let path = scim_sidecar::scim::filter::parse_attribute(sort_by, "sortBy").unwrap();
        for descending in [false, true] {
            let mut expected: Vec<(Option<String>, String)> = docs
                .iter()
                .map(|doc| {
                    (
                        sort_value(doc, &path),
                        doc["id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            expected.sort_by(|(a, id_a), (b, id_b)| {
                let by_key = match (a, b) {
                    (None, None) => Ordering::Equal,
                    // Missing values come last ascending, first descending.
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(a), Some(b)) => a.cmp(b),
                };
                let by_key = if descending { by_key.reverse() } else { by_key };
                by_key.then_with(|| id_a.cmp(id_b))
            });
            let order = if descending {
                "descending"
            } else {
                "ascending"
            };
            let answer = app
                .get_json(&format!(
                    "/Users?count=200&sortBy={}&sortOrder={order}",
                    urlencode(sort_by)
                ))
                .await;
            let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
            assert_eq!(ids(&answer), expected, "{sort_by} {order}");
        }
    }
    let error = crate::helpers::assert_scim_error(
        app.get("/Users?sortBy=nosuch").send().await.unwrap(),
        400,
    )
    .await;
    assert_eq!(error["scimType"], "invalidValue");
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A")
}

#[tokio::test]
async fn search_posts_answer_like_gets_with_projection() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let get = app
        .get_json("/Users?filter=title%20pr&sortBy=userName&startIndex=2&count=5&attributes=userName,emails.value")
        .await;
    let post: Value = app
        .request(reqwest::Method::POST, "/Users/.search")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "title pr",
            "sortBy": "userName",
            "startIndex": 2,
            "count": 5,
            "attributes": ["userName", "emails.value"]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get, post);
    assert_eq!(post["itemsPerPage"], 5);
    for resource in post["Resources"].as_array().unwrap() {
        let keys: Vec<&String> = resource.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["id", "schemas", "userName", "emails"].contains(&k.as_str())),
            "{resource}"
        );
        assert!(resource["emails"].as_array().unwrap().iter().all(|e| e
            .as_object()
            .unwrap()
            .len()
            == 1));
    }
    let bad = app
        .request(reqwest::Method::POST, "/Users/.search")
        .json(&json!({"count": "five"}))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_scim_error(bad, 400).await;
}

#[tokio::test]
async fn projection_applies_to_every_single_resource_answer() {
    let app = TestApp::spawn().await;
    let user = app.create_user("proj@example.com", "p1").await;
    let id = user["id"].as_str().unwrap();
    let got = app
        .get_json(&format!("/Users/{id}?attributes=userName"))
        .await;
    assert_eq!(
        got,
        json!({"id": id, "schemas": [USER_SCHEMA], "userName": "proj@example.com"})
    );
    let got = app
        .get_json(&format!("/Users/{id}?excludedAttributes=emails,meta,name"))
        .await;
    assert!(got.get("emails").is_none() && got.get("meta").is_none() && got.get("name").is_none());
    assert_eq!(got["userName"], "proj@example.com");
    let patched: Value = app
        .request(
            reqwest::Method::PATCH,
            &format!("/Users/{id}?attributes=title"),
        )
        .json(&json!({"Operations": [{"op": "add", "path": "title", "value": "Boss"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        patched,
        json!({"id": id, "schemas": [USER_SCHEMA], "title": "Boss"})
    );
    let _ = ENTERPRISE_USER_SCHEMA;
}
