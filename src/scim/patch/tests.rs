use super::*;
use crate::scim::filter::AttrPath;
use serde_json::json;

const ID: &str = "2819c223-7f76-453a-919d-413861904646";
const ENT: &str = ENTERPRISE_USER_SCHEMA;

/// The document every case starts from; `$ENT` stands for the enterprise URN.
const BASE: &str = r#"{"userName": "jane@example.com", "active": true, "displayName": "Jane Doe",
    "name": {"givenName": "Jane", "familyName": "Doe"},
    "emails": [{"value": "jane@example.com", "type": "work", "primary": true}],
    "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}, {"value": "+1 555 0199", "type": "fax"}],
    "$ENT": {"department": "Eng"}}"#;

fn parse(text: &str) -> Value {
    let text = text.replace("$ENT", ENT);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn run(operations: Value) -> Result<Value, ScimError> {
    let ops = parse_patch(&json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": operations }))?;
    let Value::Object(mut doc) = parse(BASE) else {
        unreachable!()
    };
    apply_patch(&mut doc, &ops, ID)?;
    Ok(Value::Object(doc))
}

/// Blocks of three lines: what the case proves, the operations, and an object mapping
/// JSON pointers to the expected values (`null`: absent).
const CASES: &str = r#"
okta deactivates with a no-path replace
[{"op": "replace", "value": {"active": false}}]
{"/active": false}

entra sends booleans as strings
[{"op": "Replace", "path": "active", "value": "False"}]
{"/active": false}

entra adds a work email when none exists: a new value is built from the filter
[{"op": "remove", "path": "emails"}, {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@x.com"}]
{"/emails": [{"type": "work", "value": "new@x.com"}]}

a value path that matches sets the sub-attribute in place, matching case-insensitively
[{"op": "Add", "path": "emails[type eq \"WORK\"].value", "value": "new@x.com"}]
{"/emails": [{"value": "new@x.com", "type": "work", "primary": true}]}

aadOptscim062020 no-path replace with dotted, URN-qualified and value-path keys
[{"op": "Replace", "value": {"displayName": "JD", "name.givenName": "Janet", "$ENT:employeeNumber": 123, "urn:ietf:params:scim:schemas:core:2.0:User:userName": "janet@example.com", "emails[type eq \"work\"].value": "janet@example.com"}}]
{"/displayName": "JD", "/name": {"givenName": "Janet", "familyName": "Doe"}, "/$ENT": {"department": "Eng", "employeeNumber": "123"}, "/userName": "janet@example.com", "/emails/0/value": "janet@example.com"}

enterprise manager as a bare id string
[{"op": "Add", "path": "$ENT:manager", "value": "mgr-1"}]
{"/$ENT": {"department": "Eng", "manager": {"value": "mgr-1"}}}

remove of a value path removes the matching values only
[{"op": "Remove", "path": "phoneNumbers[type eq \"fax\"]"}]
{"/phoneNumbers": [{"value": "+1 555 0100", "type": "work"}]}

remove of a value path sub-attribute keeps the rest of the value
[{"op": "remove", "path": "phoneNumbers[type eq \"fax\"].value"}]
{"/phoneNumbers/1": {"type": "fax"}}

replace of name.familyName keeps givenName
[{"op": "replace", "path": "name.familyName", "value": "Smith"}]
{"/name": {"givenName": "Jane", "familyName": "Smith"}}

removing the last sub-attributes removes the complex attribute
[{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName"}]
{"/name": null}

replace of a single-valued complex attribute merges sub-attributes; an empty one is removed
[{"op": "replace", "path": "name", "value": {"middleName": "Q", "givenName": ""}}]
{"/name": {"familyName": "Doe", "middleName": "Q"}}

add to a multi-valued attribute skips exact duplicates, appends, and moves primary
[{"op": "add", "path": "emails", "value": {"value": "jane@example.com", "type": "work", "primary": true}}, {"op": "add", "path": "emails", "value": [{"value": "j@home.net", "type": "home", "primary": "true"}]}]
{"/emails": [{"value": "jane@example.com", "type": "work", "primary": false}, {"value": "j@home.net", "type": "home", "primary": true}]}

replace of a multi-valued attribute replaces the whole array
[{"op": "replace", "path": "phoneNumbers", "value": {"value": "1", "type": "mobile"}}]
{"/phoneNumbers": [{"value": "1", "type": "mobile"}]}

the enterprise URN as a no-path key holds an object of attributes
[{"op": "add", "value": {"$ENT": {"costCenter": 7, "department": "Sales"}}}]
{"/$ENT": {"department": "Sales", "costCenter": "7"}}

removing the last enterprise attribute removes the extension object
[{"op": "remove", "path": "$ENT:department"}]
{"/$ENT": null}

a whole-schema path: remove of the enterprise URN drops the extension
[{"op": "remove", "path": "$ENT"}]
{"/$ENT": null}

id with its own value, and meta, groups, schemas and password inside values, are ignored
[{"op": "replace", "value": {"id": "2819c223-7f76-453a-919d-413861904646", "schemas": ["x"], "meta": {}, "groups": []}}, {"op": "replace", "path": "password", "value": "hunter2"}]
{"/id": null, "/meta": null, "/groups": null, "/password": null, "/active": true}

empty values remove; removing an absent attribute is a no-op
[{"op": "replace", "path": "displayName", "value": " "}, {"op": "remove", "path": "title"}, {"op": "replace", "value": {"nickName": null}}]
{"/displayName": null, "/title": null, "/userName": "jane@example.com"}

remove of a multi-valued attribute with a value removes the listed values
[{"op": "remove", "path": "emails", "value": [{"value": "JANE@example.com"}]}]
{"/emails": null}

and-filters with booleans select the value to change
[{"op": "replace", "path": "emails[type eq \"work\" and primary eq true].display", "value": "Work"}]
{"/emails/0/display": "Work"}

a sub-attribute of a multi-valued attribute without filter applies to every value
[{"op": "replace", "path": "phoneNumbers.display", "value": "x"}]
{"/phoneNumbers/0/display": "x", "/phoneNumbers/1/display": "x"}
"#;

#[test]
fn idp_shapes_and_rfc_semantics() {
    for case in CASES.trim().split("\n\n") {
        let [what, ops, checks] = case.lines().collect::<Vec<_>>()[..] else {
            panic!("bad case: {case}")
        };
        let doc = run(parse(ops)).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let Value::Object(checks) = parse(checks) else {
            panic!("{what}")
        };
        for (pointer, expected) in checks {
            let actual = doc.pointer(&pointer).cloned().unwrap_or(Value::Null);
            assert_eq!(actual, expected, "{what}: {pointer}");
        }
    }
}

#[test]
fn parse_is_liberal_about_case_schemas_and_blank_paths() {
    let ops = parse_patch(&parse(
        r#"{"operations": [{"OP": "ADD", "Path": "title", "Value": "CTO"},
            {"op": " Remove ", "path": "nickName"}, {"op": "replace", "path": "", "value": {"title": "CEO"}}]}"#,
    ))
    .unwrap();
    let kinds: Vec<OpKind> = ops.iter().map(|op| op.op).collect();
    assert_eq!(kinds, [OpKind::Add, OpKind::Remove, OpKind::Replace]);
    assert_eq!(ops[0].path, Some(PatchPath::Attr(AttrPath::new("title"))));
    assert_eq!(ops[0].value, Some(json!("CTO")));
    assert_eq!(ops[2].path, None);
    let many = vec![json!({ "op": "remove", "path": "title" }); MAX_OPERATIONS];
    let ops = parse_patch(&json!({ "Operations": many })).unwrap();
    assert_eq!(ops.len(), MAX_OPERATIONS);
}

#[test]
fn malformed_requests_are_invalid_syntax() {
    let too_many = vec![json!({ "op": "remove", "path": "title" }); MAX_OPERATIONS + 1];
    let rows = r#"
[]
{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
{"Operations": []}
{"Operations": {"op": "add"}}
{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [{"op": "remove", "path": "title"}]}
{"Operations": [{"op": "move", "path": "title"}]}
{"Operations": [{"path": "title"}]}
{"Operations": ["remove"]}"#;
    let rows = rows.trim().lines().map(parse);
    for body in rows.chain([json!({ "Operations": too_many })]) {
        let err = parse_patch(&body).expect_err(&body.to_string());
        let expected = (400, Some(ScimType::InvalidSyntax));
        assert_eq!((err.status, err.scim_type), expected, "{body}");
    }
}

/// `scimType | operation`; each runs as the second operation of a request.
const ERRORS: &str = r#"
noTarget | {"op": "remove"}
invalidValue | {"op": "replace", "path": "active", "value": null}
invalidValue | {"op": "replace", "path": "active", "value": ""}
invalidValue | {"op": "replace", "path": "active", "value": []}
invalidValue | {"op": "replace", "value": {"active": {}}}
invalidValue | {"op": "replace", "path": "title", "value": "a\u0000b"}
invalidPath | {"op": "replace", "path": "title\u0000", "value": "x"}
mutability | {"op": "replace", "path": "meta.lastModified", "value": "2024"}
mutability | {"op": "add", "path": "groups", "value": [{"value": "g1"}]}
mutability | {"op": "remove", "path": "groups[value eq \"g1\"]"}
noTarget | {"op": "remove", "path": "phoneNumbers[type eq \"pager\"]"}
noTarget | {"op": "add", "path": "emails[type eq \"a\" or type eq \"b\"].value", "value": "x"}
invalidValue | {"op": "add", "path": "title"}
invalidValue | {"op": "replace", "value": "CTO"}
invalidValue | {"op": "remove", "path": "userName"}
invalidValue | {"op": "replace", "path": "userName", "value": ""}
invalidValue | {"op": "replace", "path": "active", "value": "maybe"}
invalidValue | {"op": "replace", "path": "name", "value": 5}
invalidValue | {"op": "add", "path": "emails", "value": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}
invalidValue | {"op": "replace", "path": "phoneNumbers.primary", "value": true}
mutability | {"op": "replace", "path": "id", "value": "other"}
mutability | {"op": "replace", "value": {"id": "other"}}
mutability | {"op": "remove", "path": "id"}
invalidPath | {"op": "add", "path": "favouriteColour", "value": "blue"}
invalidPath | {"op": "replace", "value": {"favouriteColour": "blue"}}
invalidPath | {"op": "add", "path": "name.nickname", "value": "x"}
invalidPath | {"op": "add", "path": "urn:example:custom:1.0:User:x", "value": "x"}
invalidPath | {"op": "add", "value": {"urn:example:custom:1.0:User": {"x": "y"}}}
invalidPath | {"op": "add", "path": "name[givenName eq \"x\"]", "value": "x"}
invalidPath | {"op": "add", "path": "id[value eq \"x\"]", "value": "x"}
invalidPath | {"op": "add", "path": "active.value", "value": true}
invalidPath | {"op": "add", "path": "emails[foo eq \"x\"].value", "value": "x"}
invalidPath | {"op": "add", "path": "emails[type eq \"work\"].foo", "value": "x"}
invalidPath | {"op": "add", "path": "emails[type eq", "value": "x"}
invalidPath | {"op": "add", "path": 7, "value": "x"}
invalidPath | {"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User"}
"#;

#[test]
fn errors_carry_the_rfc_scim_type_and_operation_number() {
    for row in ERRORS.trim().lines() {
        let (scim_type, op) = row.split_once(" | ").unwrap();
        let err = run(json!([{ "op": "remove", "path": "title" }, parse(op)])).expect_err(op);
        let actual = (err.status, serde_json::to_value(err.scim_type).unwrap());
        assert_eq!(actual, (400, json!(scim_type)), "{op}: {}", err.detail);
        assert!(
            err.detail.starts_with("Operation 2: "),
            "{op}: {}",
            err.detail
        );
        assert!(
            !err.detail.contains("hunter") && !err.detail.contains("blue"),
            "{}",
            err.detail
        );
    }
}
