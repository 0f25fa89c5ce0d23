use super::*;
use crate::scim::patch::parse_patch;

fn patch(operations: Value) -> Result<Vec<GroupChange>, ScimError> {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations
    });
    changes(&parse_patch(&body)?, "g1")
}

#[test]
fn bodies_from_okta_and_entra_parse() {
    let entra = json!({
        "schemas": [GROUP_SCHEMA, ENTRA_GROUP_SCHEMA],
        "externalId": "8aa1a0c0",
        "displayName": " Engineering ",
        "meta": { "resourceType": "Group" },
        "members": [{ "$ref": null, "value": "u1" }, { "value": "u1" }, { "value": "u2", "type": "User" }]
    });
    assert_eq!(
        parse_body(&entra).unwrap(),
        GroupWrite {
            display_name: "Engineering".into(),
            external_id: Some("8aa1a0c0".into()),
            members: vec!["u1".into(), "u2".into()],
        }
    );
    let urn_keys = json!({ "urn:ietf:params:scim:schemas:core:2.0:Group:displayName": "Ops" });
    assert_eq!(parse_body(&urn_keys).unwrap().display_name, "Ops");
    for bad in [
        json!({ "members": [] }),
        json!({ "displayName": "" }),
        json!({ "displayName": 5 }),
        json!({ "displayName": "x", "members": [{ "value": "g", "type": "Group" }] }),
        json!({ "displayName": "x", "members": [{ "value": "" }] }),
        json!({ "displayName": "x", "externalId": {} }),
        json!({ "schemas": [USER_SCHEMA], "displayName": "x" }),
    ] {
        assert_eq!(
            parse_body(&bad).unwrap_err().scim_type,
            Some(ScimType::InvalidValue),
            "{bad}"
        );
    }
}

#[test]
fn patch_operations_become_changes() {
    use GroupChange::*;
    let cases = [
        (
            json!([{ "op": "replace", "value": { "id": "g1", "displayName": "New" } }]),
            vec![DisplayName("New".into())],
        ),
        (
            json!([{ "op": "add", "path": "members", "value": [{ "value": "u1", "display": "x" }] }]),
            vec![AddMembers(vec!["u1".into()])],
        ),
        (
            json!([{ "op": "remove", "path": "members[value eq \"u1\" or value eq \"u2\"]" }]),
            vec![RemoveMembers(vec!["u1".into(), "u2".into()])],
        ),
        (
            json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": "u3" }] }]),
            vec![RemoveMembers(vec!["u3".into()])],
        ),
        (
            json!([{ "op": "remove", "path": "members" }]),
            vec![RemoveAllMembers],
        ),
        (
            json!([{ "op": "replace", "path": "members", "value": [] }]),
            vec![ReplaceMembers(vec![])],
        ),
        (
            json!([{ "op": "Replace", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:externalId", "value": "e" }]),
            vec![ExternalId(Some("e".into()))],
        ),
        (
            json!([{ "op": "remove", "path": "externalId" }]),
            vec![ExternalId(None)],
        ),
    ];
    for (operations, expected) in cases {
        assert_eq!(patch(operations.clone()).unwrap(), expected, "{operations}");
    }
}

#[test]
fn patch_refusals_say_which_operation() {
    for (operations, scim_type) in [
        (
            json!([{ "op": "replace", "path": "id", "value": "g2" }]),
            ScimType::Mutability,
        ),
        (
            json!([{ "op": "remove", "path": "displayName" }]),
            ScimType::InvalidValue,
        ),
        (
            json!([{ "op": "add", "path": "title", "value": "x" }]),
            ScimType::InvalidPath,
        ),
        (
            json!([{ "op": "remove", "path": "members[display eq \"x\"]" }]),
            ScimType::InvalidPath,
        ),
        (
            json!([{ "op": "add", "path": "members[value eq \"x\"]", "value": {} }]),
            ScimType::InvalidPath,
        ),
        (json!([{ "op": "remove" }]), ScimType::NoTarget),
        (
            json!([{ "op": "add", "path": "members", "value": [{ "value": "u1" }] }, { "op": "add", "path": "members", "value": "u2" }]),
            ScimType::InvalidValue,
        ),
    ] {
        let error = patch(operations.clone()).unwrap_err();
        assert_eq!(error.scim_type, Some(scim_type), "{operations}");
    }
    let error = patch(json!([{ "op": "add", "path": "members", "value": [] }, { "op": "remove" }]))
        .unwrap_err();
    assert!(error.detail.starts_with("Operation 2:"), "{}", error.detail);
}

#[test]
fn renders_members_with_display_ref_and_type() {
    let record = GroupRecord {
        id: "g1".into(),
        display_name: "Eng".into(),
        external_id: None,
        created: chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc(),
        last_modified: chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc(),
        version: 3,
        members: Some(vec![
            ("u1".into(), Some("Jane".into())),
            ("u2".into(), None),
        ]),
    };
    let body = record.render("https://x/scim/v2");
    assert_eq!(
        body["members"],
        json!([
            { "value": "u1", "$ref": "https://x/scim/v2/Users/u1", "display": "Jane", "type": "User" },
            { "value": "u2", "$ref": "https://x/scim/v2/Users/u2", "type": "User" }
        ])
    );
    assert_eq!(body["meta"]["version"], "W/\"g3\"");
    assert!(body.get("externalId").is_none());
    let bare = GroupRecord {
        members: None,
        ..record
    };
    assert!(bare.render("b").get("members").is_none());
}
