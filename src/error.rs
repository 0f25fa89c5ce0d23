//! The one error type of HTTP handlers. Every failure is mapped to an RFC 7644 error envelope
//! here and nowhere else; server-side failures are logged here, once, with their cause chain,
//! and the client sees only a fixed sentence.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::PoolError;
use crate::scim::{ScimError, ScimType, SCIM_MEDIA_TYPE};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A protocol error meant for the client, worded by the SCIM layer.
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("authentication failed")]
    Unauthorized,
    #[error("SCIM provisioning is disabled")]
    Disabled,
    #[error("the org is not entitled to SCIM")]
    NotEntitled,
    #[error("database error")]
    Database(#[from] DieselError),
    #[error("database pool error")]
    Pool(#[from] PoolError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

const INTERNAL_DETAIL: &str = "An internal error occurred; it has been logged.";
const UNAVAILABLE_DETAIL: &str = "The service is temporarily unavailable; retry later.";

impl ApiError {
    /// The client-facing error.
    fn to_scim(&self) -> ScimError {
        match self {
            ApiError::Scim(error) => error.clone(),
            ApiError::Unauthorized => ScimError::unauthorized(),
            ApiError::Disabled => ScimError::forbidden("SCIM provisioning is disabled"),
            ApiError::NotEntitled => ScimError::forbidden(
                "This organization's licence does not include SCIM provisioning.",
            ),
            ApiError::Database(error) => database_error(error),
            ApiError::Pool(_) => ScimError::new(503, None, UNAVAILABLE_DETAIL),
            ApiError::Internal(_) => ScimError::new(500, None, INTERNAL_DETAIL),
        }
    }
}

fn database_error(error: &DieselError) -> ScimError {
    match error {
        DieselError::NotFound => ScimError::not_found("Resource not found."),
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            ScimError::conflict("The resource conflicts with an existing one.")
        }
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => ScimError::new(
            409,
            None,
            "A concurrent request changed the same resource; retry.",
        ),
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | DieselError::BrokenTransactionManager => ScimError::new(503, None, UNAVAILABLE_DETAIL),
        // The driver reports these SQLSTATEs (40P01, 55P03, 57014) as `Unknown`; PostgreSQL's
        // message is the only distinguishing mark it passes on.
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().starts_with("deadlock detected") =>
        {
            ScimError::new(
                409,
                None,
                "A concurrent request changed the same resource; retry.",
            )
        }
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().contains("statement timeout")
                || info.message().contains("lock timeout")
                || info.message().starts_with("could not obtain lock") =>
        {
            ScimError::new(503, None, UNAVAILABLE_DETAIL)
        }
        _ => ScimError::new(500, None, INTERNAL_DETAIL),
    }
}

/// The causes of an error, outermost first, for the log.
fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.to_scim().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let scim = self.to_scim();
        if scim.status >= 500 {
            let chain = match self {
                ApiError::Database(e) => cause_chain(e),
                ApiError::Pool(e) => cause_chain(e),
                ApiError::Internal(e) => format!("{e:#}"),
                other => other.to_string(),
            };
            tracing::error!(error.cause = %chain, http.status = scim.status, "request failed");
        }
        let mut response = scim_error_response(&scim);
        match self {
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ if scim.status == 503 => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Renders a SCIM error envelope with `application/scim+json`.
pub fn scim_error_response(error: &ScimError) -> HttpResponse {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(SCIM_MEDIA_TYPE)
        .json(error.envelope())
}

/// Malformed JSON bodies become 400 `invalidSyntax` (RFC 7644 §3.12).
pub fn json_body_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    let detail = match &error {
        JsonPayloadError::ContentType => {
            "The request body must be application/scim+json or application/json.".to_owned()
        }
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            "The request body is too large.".to_owned()
        }
        // serde's message names the position and the expected shape, never internals.
        JsonPayloadError::Deserialize(inner) => format!("The request body is not valid: {inner}."),
        _ => "The request body could not be read.".to_owned(),
    };
    ApiError::Scim(ScimError::bad_request(ScimType::InvalidSyntax, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_are_conflicts_and_unknown_failures_hide_their_cause() {
        struct Info;
        impl diesel::result::DatabaseErrorInformation for Info {
            fn message(&self) -> &str {
                "duplicate key value violates unique constraint \"User_email_key\""
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                None
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                None
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let unique = ApiError::Database(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(Info),
        ));
        let scim = unique.to_scim();
        assert_eq!(
            (scim.status, scim.scim_type),
            (409, Some(ScimType::Uniqueness))
        );
        assert!(!scim.detail.contains("User_email_key"));

        let other = ApiError::Database(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(Info),
        ));
        assert_eq!(other.to_scim().status, 500);
        assert_eq!(other.to_scim().detail, INTERNAL_DETAIL);
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let response = ApiError::Unauthorized.error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            SCIM_MEDIA_TYPE
        );
    }
}
