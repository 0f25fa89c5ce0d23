//! SCIM errors as clients see them (RFC 7644 §3.12).

use serde::Serialize;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `scimType` values defined by RFC 7644 §3.12, and those RFC 9865 adds for cursor paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    InvalidCursor,
    ExpiredCursor,
    InvalidCount,
}

/// An error meant for the client: status, optional `scimType` and a human-readable detail
/// that never carries internal information.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            401,
            None,
            "Authentication failed: a valid SCIM bearer token is required.",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            None,
            "The HTTP method is not supported on this endpoint.",
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }

    pub fn envelope(&self) -> ErrorEnvelope<'_> {
        ErrorEnvelope {
            schemas: [ERROR_SCHEMA],
            status: self.status.to_string(),
            scim_type: self.scim_type,
            detail: &self.detail,
        }
    }
}

/// The RFC 7644 error body; `status` is a string equal to the HTTP status.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope<'a> {
    pub schemas: [&'static str; 1],
    pub status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<ScimType>,
    pub detail: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_rfc_shaped() {
        let error = ScimError::bad_request(ScimType::InvalidFilter, "bad filter");
        let json = serde_json::to_value(error.envelope()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schemas": [ERROR_SCHEMA],
                "status": "400",
                "scimType": "invalidFilter",
                "detail": "bad filter"
            })
        );
    }

    #[test]
    fn envelope_omits_scim_type_when_rfc_defines_none() {
        let json = serde_json::to_value(ScimError::not_found("gone").envelope()).unwrap();
        assert!(json.get("scimType").is_none());
        assert_eq!(json["status"], "404");
    }
}
