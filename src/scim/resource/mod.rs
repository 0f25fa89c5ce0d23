//! User request bodies turned into canonical documents (RFC 7643 §4.1, §4.3). Pure: it imports
//! neither actix nor diesel.
//!
//! A *document* is a `Map` whose keys are the canonical attribute names of [`schema`]
//! (`userName`, `name`, `emails`, ...), with the enterprise extension as an object under
//! [`ENTERPRISE_USER_SCHEMA`]. Complex values are objects with canonical sub-attribute names,
//! multi-valued attributes are arrays of such objects, booleans are JSON booleans and strings
//! JSON strings. An attribute without a value is absent: never `null`, `""`, `[]` or `{}`.
//! Read-only attributes (`id`, `meta`, `groups`, `schemas`) and `password` never appear.
//!
//! Parsing is liberal, because IdPs are: names match in any case, `"True"` is a boolean,
//! numbers are accepted for strings, `null`/`""`/`[]`/`{}` mean "no value", and attributes
//! or extensions the schema does not define are dropped silently. Error details name the
//! attribute but never echo the value sent.

use serde_json::{Map, Value};

use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::schema::{self, AttributeDef, Kind, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

/// Turns a POST/PUT body into a document.
///
/// Accepted keys (names in any case): core attributes (`userName`, also dotted
/// `name.givenName`), the enterprise URN holding an object of enterprise attributes, the core
/// URN holding an object of core attributes, and URN-qualified attributes
/// (`urn:...:enterprise:2.0:User:employeeNumber`, `urn:...:core:2.0:User:name.givenName`).
/// Everything else (`schemas`, `id`, `meta`, `groups`, `password`, unknown attributes,
/// sub-attributes and extensions) is dropped. The same attribute given twice (`userName` and
/// `USERNAME`, or `name` and `name.givenName`) is merged; conflicting values are
/// `invalidSyntax`.
pub fn normalize_body(body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "The request body must be a JSON object.",
        ));
    };
    let mut doc = Map::new();
    for (key, value) in body {
        if let Some(schema) = known_schema(key) {
            match value {
                Value::Object(inner) => {
                    for (name, value) in inner {
                        place(&mut doc, schema, name, value)?;
                    }
                }
                value if is_nothing(value) => {}
                _ => {
                    let detail = format!("The `{schema}` extension must be a JSON object.");
                    return Err(ScimError::bad_request(ScimType::InvalidValue, detail));
                }
            }
        } else if let Some((urn, name)) = split_urn(key) {
            // Attributes of unknown extensions (Okta custom schemas) are dropped.
            if let Some(schema) = known_schema(urn) {
                place(&mut doc, schema, name, value)?;
            }
        } else {
            place(&mut doc, USER_SCHEMA, key, value)?;
        }
    }
    Ok(doc)
}

/// Turns one value for attribute `def` into its canonical form; `None` means "no value".
/// A multi-valued attribute always comes back as a non-empty array (a single object is
/// wrapped); a sub-attribute definition (`def.sub("givenName")`) works too.
pub fn normalize_value(def: &AttributeDef, value: &Value) -> Result<Option<Value>, ScimError> {
    normalize_labeled(def, value, def.name)
}

/// [`normalize_value`] with the attribute path used in error details, e.g. `name.givenName`.
pub(crate) fn normalize_labeled(
    def: &AttributeDef,
    value: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    if is_nothing(value) {
        return Ok(None);
    }
    if !def.multi_valued {
        return normalize_single(def, value, label);
    }
    let items = match value {
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => return Err(invalid_value(label, "must be a JSON array of objects")),
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = normalize_single(def, item, label)? {
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    check_one_primary(&out, label)?;
    Ok(Some(Value::Array(out)))
}

/// RFC 7643 §2.4: `primary: true` appears at most once among the values of an attribute.
pub(crate) fn check_one_primary(items: &[Value], label: &str) -> Result<(), ScimError> {
    if items.iter().filter(|item| is_primary(item)).count() > 1 {
        let detail = format!("At most one value of `{label}` may have `primary` set to true.");
        return Err(ScimError::bad_request(ScimType::InvalidValue, detail));
    }
    Ok(())
}

pub(crate) fn is_primary(item: &Value) -> bool {
    item.get("primary") == Some(&Value::Bool(true))
}

/// `null`, a blank string, `[]` and `{}`: "no value" (Okta PUTs back empty strings).
pub(crate) fn is_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The canonical core or enterprise URN equal (in any case) to `urn`.
pub(crate) fn known_schema(urn: &str) -> Option<&'static str> {
    [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]
        .into_iter()
        .find(|schema| schema.eq_ignore_ascii_case(urn))
}

/// Splits `urn:...:name[.sub]` at its last `:` into the URN and the attribute part.
fn split_urn(key: &str) -> Option<(&str, &str)> {
    if !key.get(..4)?.eq_ignore_ascii_case("urn:") {
        return None;
    }
    key.rsplit_once(':')
}

fn invalid_value(label: &str, what: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidValue,
        format!("The attribute `{label}` {what}."),
    )
}

/// One value of a single-valued attribute, or one element of a multi-valued one.
fn normalize_single(
    def: &AttributeDef,
    value: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    if is_nothing(value) {
        return Ok(None);
    }
    match def.kind {
        Kind::String | Kind::Reference => match value {
            Value::String(s) => Ok(Some(Value::String(s.clone()))),
            // Entra sometimes sends employeeNumber as a number.
            Value::Number(n) => Ok(Some(Value::String(n.to_string()))),
            _ => Err(invalid_value(label, "must be a string")),
        },
        Kind::Boolean => match value {
            Value::Bool(b) => Ok(Some(Value::Bool(*b))),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => {
                Ok(Some(Value::Bool(true)))
            }
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => {
                Ok(Some(Value::Bool(false)))
            }
            _ => Err(invalid_value(label, "must be a boolean (true or false)")),
        },
        Kind::Complex => match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, value) in map {
                    let Some(sub) = def.sub(key).filter(|sub| !sub.is_read_only()) else {
                        continue;
                    };
                    let sub_label = format!("{label}.{}", sub.name);
                    if let Some(value) = normalize_single(sub, value, &sub_label)? {
                        merge_set(&mut out, sub.name, value, &sub_label)?;
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
            // `"manager": "<id>"` is `{"value": "<id>"}` (Entra and Okta both send it).
            _ => match def.sub("value").filter(|_| !def.multi_valued) {
                Some(sub) => {
                    let value = normalize_single(sub, value, &format!("{label}.value"))?;
                    Ok(value.map(|v| Value::Object(Map::from_iter([("value".to_string(), v)]))))
                }
                None => Err(invalid_value(label, "must be a JSON object")),
            },
        },
    }
}

/// Puts `key` (an attribute name, maybe `name.sub`) of `schema` into `doc`, normalized.
/// Names the schema does not define, and read-only attributes, are dropped.
fn place(
    doc: &mut Map<String, Value>,
    schema: &'static str,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let (name, sub) = match key.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (key, None),
    };
    let Some((_, def)) = schema::resolve(Some(schema), name) else {
        return Ok(());
    };
    if def.is_read_only() {
        return Ok(());
    }
    let (label, value) = match sub {
        None => match normalize_labeled(def, value, def.name)? {
            Some(value) => (def.name.to_string(), value),
            None => return Ok(()),
        },
        // A sub-attribute of a multi-valued attribute (`emails.value`) names no single
        // value, so it is dropped like an undefined one.
        Some(_) if def.multi_valued => return Ok(()),
        Some(sub) => {
            let Some(sub) = def.sub(sub) else {
                return Ok(());
            };
            let label = format!("{}.{}", def.name, sub.name);
            match normalize_single(sub, value, &label)? {
                Some(value) => {
                    let object = Map::from_iter([(sub.name.to_string(), value)]);
                    (label, Value::Object(object))
                }
                None => return Ok(()),
            }
        }
    };
    let target = if schema == ENTERPRISE_USER_SCHEMA {
        let extension = doc
            .entry(ENTERPRISE_USER_SCHEMA)
            .or_insert_with(|| Value::Object(Map::new()));
        match extension {
            Value::Object(map) => map,
            _ => return Ok(()),
        }
    } else {
        doc
    };
    merge_set(target, def.name, value, &label)
}

/// Inserts `value` under `name`; an equal value already there is fine, objects are merged
/// key by key, anything else is a conflict (the same attribute sent twice, in two cases).
fn merge_set(
    target: &mut Map<String, Value>,
    name: &str,
    value: Value,
    label: &str,
) -> Result<(), ScimError> {
    match (target.get_mut(name), value) {
        (None, value) => {
            target.insert(name.to_string(), value);
            Ok(())
        }
        (Some(Value::Object(existing)), Value::Object(new)) => {
            for (key, value) in new {
                merge_set(existing, &key, value, &format!("{label}.{key}"))?;
            }
            Ok(())
        }
        (Some(existing), value) if *existing == value => Ok(()),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("The attribute `{label}` is given more than once with different values."),
        )),
    }
}

/// Evaluates a value filter (`type eq "work"` from `emails[type eq "work"]`) against one
/// value of the multi-valued attribute `def`. Paths name sub-attributes of `def`; a path
/// naming none matches nothing. Strings compare without regard to case unless the
/// sub-attribute is `caseExact`; a number compares numerically with a numeric string; an
/// absent or empty sub-attribute equals only `null`.
pub fn matches_filter(filter: &Filter, item: &Value, def: &AttributeDef) -> bool {
    let lookup = |path: &AttrPath| {
        let sub = def.sub(&path.name)?;
        Some((sub, item.get(sub.name).filter(|v| !is_nothing(v))))
    };
    match filter {
        Filter::Compare { path, op, value } => {
            lookup(path).is_some_and(|(sub, actual)| compare(sub, actual, *op, value))
        }
        Filter::Present(path) => lookup(path).is_some_and(|(_, actual)| actual.is_some()),
        Filter::And(a, b) => matches_filter(a, item, def) && matches_filter(b, item, def),
        Filter::Or(a, b) => matches_filter(a, item, def) || matches_filter(b, item, def),
        Filter::Not(inner) => !matches_filter(inner, item, def),
        Filter::ValuePath { .. } => false,
    }
}

fn compare(
    sub: &AttributeDef,
    actual: Option<&Value>,
    op: CompareOp,
    expected: &CompValue,
) -> bool {
    let actual = match actual {
        // An absent value equals only null, and differs from everything else.
        None => {
            let is_null = matches!(expected, CompValue::Null);
            return (op == CompareOp::Eq && is_null) || (op == CompareOp::Ne && !is_null);
        }
        Some(_) if matches!(expected, CompValue::Null) => return op == CompareOp::Ne,
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    };
    let (expected, numeric) = match expected {
        CompValue::Str(s) => (s.clone(), None),
        CompValue::Num(n) => (n.to_string(), n.as_f64()),
        CompValue::Bool(b) => (b.to_string(), None),
        CompValue::Null => return false,
    };
    if let (Some(b), Ok(a)) = (numeric, actual.trim().parse::<f64>()) {
        if let Some(ordering) = a.partial_cmp(&b) {
            return ordered(op, ordering, &actual, &expected);
        }
    }
    let (a, b) = if sub.case_exact && sub.kind != Kind::Boolean {
        (actual, expected)
    } else {
        (actual.to_lowercase(), expected.to_lowercase())
    };
    ordered(op, a.cmp(&b), &a, &b)
}

fn ordered(op: CompareOp, ordering: std::cmp::Ordering, a: &str, b: &str) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Ne => ordering != Equal,
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            "phoneNumbers": { "type": "mobile", "value": "+1 555 0100" },
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
            (json!({ "active": "" }), json!({})),
            (
                json!({ "emails": { "value": "a@b.c" } }),
                json!({ "emails": [{ "value": "a@b.c" }] }),
            ),
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
}
