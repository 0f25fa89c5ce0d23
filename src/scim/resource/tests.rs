use super::matching::compare;
use super::*;
use crate::scim::filter::{CompValue, CompareOp};
use serde_json::json;

const ENT: &str = ENTERPRISE_USER_SCHEMA;

fn ok(body: Value) -> Value {
    match normalize_body(&body) {
        Ok(doc) => Value::Object(doc),
        Err(e) => panic!("{body} should normalize, got {e:?}"),
    }
}

#[test]
fn okta_create_body_drops_password_groups_and_schemas() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jane@example.com",
        "name": { "givenName": "Jane", "familyName": "Doe" },
        "emails": [{ "primary": true, "value": "jane@example.com", "type": "work" }],
        "displayName": "Jane Doe",
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "password": "hunter2!",
        "active": true
    });
    assert_eq!(
        ok(body),
        json!({
            "userName": "jane@example.com",
            "name": { "givenName": "Jane", "familyName": "Doe" },
            "emails": [{ "primary": true, "value": "jane@example.com", "type": "work" }],
            "displayName": "Jane Doe",
            "locale": "en-US",
            "externalId": "00u1abcd",
            "active": true
        })
    );
}

#[test]
fn okta_put_round_trip_drops_read_only_attributes_and_empty_values() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "7d4c-app-id",
        "meta": { "resourceType": "User", "created": "2024-01-01T00:00:00Z" },
        "groups": [],
        "userName": "jane@example.com",
        "name": { "givenName": "Jane", "familyName": "Doe", "middleName": "" },
        "displayName": "",
        "title": "  ",
        "nickName": null,
        "phoneNumbers": [],
        "addresses": [{ "type": "work", "streetAddress": "" }, {}],
        "emails": [{ "primary": true, "value": "jane@example.com", "type": "work", "display": "" }],
        ENT: { "department": "", "manager": { "value": "" }, "costCenter": "42" },
        "active": true
    });
    assert_eq!(
        ok(body),
        json!({
            "userName": "jane@example.com",
            "name": { "givenName": "Jane", "familyName": "Doe" },
            "addresses": [{ "type": "work" }],
            "emails": [{ "primary": true, "value": "jane@example.com", "type": "work" }],
            ENT: { "costCenter": "42" },
            "active": true
        })
    );
}

#[test]
fn entra_create_body_with_enterprise_extension_and_numbers() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "externalId": "jdoe",
        "userName": "jdoe@contoso.com",
        "active": "True",
        "displayName": "Jane Doe",
        "emails": [{ "primary": true, "type": "work", "value": "jdoe@contoso.com" }],
        "name": { "formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane" },
        "phoneNumbers": [{ "type": "mobile", "value": "+1 555 0100" }],
        ENT: { "employeeNumber": 1234, "department": "Eng", "manager": "mgr-id-1" },
        "urn:ietf:params:scim:schemas:extension:CustomExtension:2.0:User": { "x": "y" }
    });
    assert_eq!(
        ok(body),
        json!({
            "externalId": "jdoe",
            "userName": "jdoe@contoso.com",
            "active": true,
            "displayName": "Jane Doe",
            "emails": [{ "primary": true, "type": "work", "value": "jdoe@contoso.com" }],
            "name": { "formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane" },
            "phoneNumbers": [{ "type": "mobile", "value": "+1 555 0100" }],
            ENT: { "employeeNumber": "1234", "department": "Eng", "manager": { "value": "mgr-id-1" } }
        })
    );
}

#[test]
fn names_match_in_any_case_and_urn_qualified_keys_are_accepted() {
    let body = json!({
        "USERNAME": "a@b.c",
        "Name": { "GIVENNAME": "A" },
        "name.familyName": "B",
        "urn:ietf:params:scim:schemas:core:2.0:User:title": "CTO",
        "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER": { "displayname": "A B" },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": { "Department": "R&D" },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m1",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
        "urn:example:custom:1.0:User:shoeSize": "42",
        "Emails": [{ "Value": "a@b.c", "TYPE": "work", "Primary": "TRUE", "unknown": 1 }],
        "favouriteColour": "blue",
        "emails.value": "x@y.z",
        "userName.x": "ignored"
    });
    assert_eq!(
        ok(body),
        json!({
            "userName": "a@b.c",
            "name": { "givenName": "A", "familyName": "B" },
            "title": "CTO",
            "displayName": "A B",
            "emails": [{ "value": "a@b.c", "type": "work", "primary": true }],
            ENT: { "department": "R&D", "manager": { "value": "m1" }, "employeeNumber": "7" }
        })
    );
}

#[test]
fn string_booleans_and_liberal_shapes() {
    let rows = [
        (json!({ "active": "false" }), json!({ "active": false })),
        (json!({ "active": " TRUE " }), json!({ "active": true })),
        (json!({ "active": null, "title": "" }), json!({})),
        (
            json!({ "emails": [{ "value": "a@b.c" }, { "value": "a@b.c" }, { "value": "" }] }),
            json!({ "emails": [{ "value": "a@b.c" }] }),
        ),
        (
            json!({ ENT: { "manager": 42 } }),
            json!({ ENT: { "manager": { "value": "42" } } }),
        ),
        (json!({ ENT: null, "name": {} }), json!({})),
        (
            json!({ "userName": "a", "username": "a" }),
            json!({ "userName": "a" }),
        ),
    ];
    for (body, expected) in rows {
        assert_eq!(ok(body.clone()), expected, "{body}");
    }
}

#[test]
fn bad_types_are_invalid_value_naming_the_attribute_without_the_value() {
    let rows = [
        (json!({ "active": "yes-secret" }), "`active`"),
        (json!({ "active": 1 }), "`active`"),
        (json!({ "userName": true }), "`userName`"),
        (json!({ "userName": ["a"] }), "`userName`"),
        (json!({ "name": "Jane" }), "`name`"),
        (
            json!({ "name": { "givenName": { "x": "secret" } } }),
            "`name.givenName`",
        ),
        (json!({ "emails": "secret@x.y" }), "`emails`"),
        (json!({ "emails": ["secret@x.y"] }), "`emails`"),
        (
            json!({ "emails": [{ "value": "a", "primary": "maybe" }] }),
            "`emails.primary`",
        ),
        (
            json!({ "emails": [{ "value": "a", "primary": true }, { "value": "b", "primary": "true" }] }),
            "`emails`",
        ),
        (json!({ ENT: "secret" }), ENT),
        (json!({ ENT: { "manager": true } }), "`manager.value`"),
        // Wrong JSON types are refused, never coerced or dropped.
        (json!({ "externalId": {} }), "`externalId`"),
        (json!({ "externalId": 5 }), "`externalId`"),
        (json!({ "name": { "givenName": 5 } }), "`name.givenName`"),
        (json!({ "active": [] }), "`active`"),
        (json!({ "active": {} }), "`active`"),
        (json!({ "active": "" }), "`active`"),
        (json!({ "emails": { "value": "secret@x.y" } }), "`emails`"),
        // PostgreSQL cannot store a NUL; lengths are bounded.
        (json!({ "displayName": "a\u{0}secret" }), "`displayName`"),
        (
            json!({ "name": { "familyName": "\u{0}" } }),
            "`name.familyName`",
        ),
        (json!({ "externalId": "x".repeat(513) }), "`externalId`"),
        (json!({ "title": "x".repeat(1025) }), "`title`"),
        (json!({ ENT: { "department": "d\u{0}" } }), "`department`"),
        (
            json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"] }),
            "Group",
        ),
    ];
    for (body, needle) in rows {
        let err = normalize_body(&body).expect_err(&body.to_string());
        assert_eq!(
            (err.status, err.scim_type),
            (400, Some(ScimType::InvalidValue)),
            "{body}"
        );
        assert!(err.detail.contains(needle), "{body}: {}", err.detail);
        assert!(!err.detail.contains("secret"), "{}", err.detail);
    }
}

#[test]
fn non_objects_and_conflicting_duplicates_are_invalid_syntax() {
    let rows = [
        json!([{ "userName": "a" }]),
        json!("userName"),
        json!(null),
        json!({ "userName": "a", "USERNAME": "b" }),
        json!({ "name": { "givenName": "A" }, "name.givenName": "B" }),
    ];
    for body in rows {
        let err = normalize_body(&body).expect_err(&body.to_string());
        assert_eq!(
            (err.status, err.scim_type),
            (400, Some(ScimType::InvalidSyntax)),
            "{body}"
        );
    }
}

#[test]
fn normalize_value_handles_single_values_and_sub_attributes() {
    let (_, active) = schema::resolve(None, "active").unwrap();
    let (_, name) = schema::resolve(None, "name").unwrap();
    let (_, emails) = schema::resolve(None, "emails").unwrap();
    let rows = [
        (active, json!("False"), Some(json!(false))),
        (active, json!(null), None),
        (name.sub("givenName").unwrap(), json!(" "), None),
        (
            name.sub("givenName").unwrap(),
            json!("Jo"),
            Some(json!("Jo")),
        ),
        (
            emails,
            json!({ "value": "a" }),
            Some(json!([{ "value": "a" }])),
        ),
        (emails, json!([{ "value": "" }]), None),
    ];
    for (def, value, expected) in rows {
        assert_eq!(normalize_value(def, &value).unwrap(), expected, "{value}");
    }
}

#[test]
fn bracket_filters_evaluate_like_scim_filters() {
    let item = json!({ "value": "Jane@Example.com", "type": "work", "primary": true, "postalCode": "12345" });
    let rows = [
        (r#"emails[type eq "WORK"]"#, true),
        (r#"emails[type ne "work"]"#, false),
        (
            r#"emails[value sw "jane" and value ew ".COM" and value co "@ex"]"#,
            true,
        ),
        (r#"emails[display pr]"#, false),
        (r#"emails[display eq null]"#, true),
        (r#"emails[display co "x"]"#, false),
        (r#"emails[display ne "x"]"#, true),
        (r#"emails[not (type eq "home") and primary eq True]"#, true),
        (r#"emails[type eq "home" or primary eq false]"#, false),
        (
            r#"emails[type gt "home" and type lt "x" and type ge "work" and type le "work"]"#,
            true,
        ),
        (
            r#"addresses[postalCode gt 10000 and postalCode lt 99999]"#,
            true,
        ),
        (r#"addresses[postalCode lt 9]"#, false),
    ];
    for (path, expected) in rows {
        let Ok(crate::scim::filter::PatchPath::Value { attr, filter, .. }) =
            crate::scim::filter::parse_path(path)
        else {
            panic!("{path}")
        };
        let (_, def) = schema::resolve(None, &attr.name).unwrap();
        assert_eq!(matches_filter(&filter, &item, def), expected, "{path}");
    }
    let manager = schema::resolve(Some(ENTERPRISE_USER_SCHEMA), "manager")
        .unwrap()
        .1;
    let value = manager.sub("value").unwrap();
    let id = CompValue::Str("ABC".into());
    assert!(
        !compare(value, Some(&json!("abc")), CompareOp::Eq, &id),
        "value is caseExact"
    );
    assert!(compare(value, Some(&json!("ABC")), CompareOp::Eq, &id));
}
