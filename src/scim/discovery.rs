//! Discovery documents (RFC 7643 §5-7): they describe exactly what this build implements.

use serde_json::{json, Value};

use super::query::MAX_RESULTS;
use super::schema::{self, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

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

pub fn resource_type(id: &str, base_url: &str) -> Option<Value> {
    id.eq_ignore_ascii_case("User")
        .then(|| user_resource_type(base_url))
}

pub fn schemas(base_url: &str) -> Vec<Value> {
    schema::SCHEMA_IDS
        .iter()
        .filter_map(|id| schema_by_id(id, base_url))
        .collect()
}

pub fn schema_by_id(id: &str, base_url: &str) -> Option<Value> {
    let canonical = schema::SCHEMA_IDS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(id))?;
    schema::schema_document(canonical, &format!("{base_url}/Schemas/{canonical}"))
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
