//! Discovery documents (RFC 7643 §5-7): they describe exactly what this build implements.

use serde_json::{json, Value};

use super::cursor::CURSOR_TIMEOUT_SECS;
use super::group::{GROUP_ATTRIBUTES, GROUP_SCHEMA, USER_GROUPS_ATTRIBUTE};
use super::query::MAX_RESULTS;
use super::schema::{self, attribute_json, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// `/ServiceProviderConfig`. Capabilities not implemented are advertised as unsupported, so
/// IdPs never rely on them.
pub fn service_provider_config(location: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://docs.sourcebot.dev/",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        // RFC 9865: both methods; index paging stays the default, as IdPs expect it.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": MAX_RESULTS,
            "maxPageSize": MAX_RESULTS,
            "cursorTimeout": CURSOR_TIMEOUT_SECS
        },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An org-scoped SCIM token (sbscim_...) sent as `Authorization: Bearer <token>`.",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": location
        }
    })
}

/// The one resource type, `User`.
pub fn user_resource_type(base_url: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A member of the organization the token belongs to",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{ "schema": ENTERPRISE_USER_SCHEMA, "required": false }],
        "meta": { "resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/User") }
    })
}

pub fn group_resource_type(base_url: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "A group of members of the organization the token belongs to",
        "schema": GROUP_SCHEMA,
        "meta": { "resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/Group") }
    })
}

/// Every resource type, as `/ResourceTypes` lists them.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    vec![user_resource_type(base_url), group_resource_type(base_url)]
}

pub fn resource_type(id: &str, base_url: &str) -> Option<Value> {
    if id.eq_ignore_ascii_case("User") {
        Some(user_resource_type(base_url))
    } else if id.eq_ignore_ascii_case("Group") {
        Some(group_resource_type(base_url))
    } else {
        None
    }
}

pub fn schemas(base_url: &str) -> Vec<Value> {
    schema::SCHEMA_IDS
        .iter()
        .chain(std::iter::once(&GROUP_SCHEMA))
        .filter_map(|id| schema_by_id(id, base_url))
        .collect()
}

pub fn schema_by_id(id: &str, base_url: &str) -> Option<Value> {
    if id.eq_ignore_ascii_case(GROUP_SCHEMA) {
        return Some(group_schema(&format!("{base_url}/Schemas/{GROUP_SCHEMA}")));
    }
    let canonical = schema::SCHEMA_IDS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(id))?;
    let mut document =
        schema::schema_document(canonical, &format!("{base_url}/Schemas/{canonical}"))?;
    if *canonical == USER_SCHEMA {
        // Read-only and filled from /Groups: it is not part of what a User body may set, so it
        // lives beside the User attributes rather than among them.
        if let Some(Value::Array(attributes)) = document.get_mut("attributes") {
            attributes.push(with_reference_types(
                attribute_json(&USER_GROUPS_ATTRIBUTE),
                "Group",
            ));
        }
    }
    Some(document)
}

fn group_schema(location: &str) -> Value {
    let attributes: Vec<Value> = GROUP_ATTRIBUTES
        .iter()
        .map(|def| with_reference_types(attribute_json(def), "User"))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A group of organization members, pushed by the identity provider",
        "attributes": attributes,
        "meta": { "resourceType": "Schema", "location": location }
    })
}

/// The `$ref` sub-attribute of a complex attribute refers to `kind` resources.
fn with_reference_types(mut attribute: Value, kind: &str) -> Value {
    if let Some(Value::Array(subs)) = attribute.get_mut("subAttributes") {
        for sub in subs {
            if sub["name"] == "$ref" {
                sub["referenceTypes"] = json!([kind]);
            }
        }
    }
    attribute
}

/// An RFC 7644 §3.4.2 ListResponse.
pub fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// A ListResponse page of cursor paging (RFC 9865 §2): `nextCursor` on every page but the
/// last, and no `startIndex`.
pub fn cursor_list_response(
    resources: Vec<Value>,
    total: i64,
    next_cursor: Option<String>,
) -> Value {
    let mut response = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(next) = next_cursor {
        response["nextCursor"] = Value::String(next);
    }
    response
}
