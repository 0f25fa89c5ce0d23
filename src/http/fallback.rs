//! Answers for paths and methods the API does not serve, as SCIM errors, and for `OPTIONS`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;
use crate::scim::ScimError;

type Refusal = Result<HttpResponse, ApiError>;

pub async fn not_found() -> Refusal {
    Err(ScimError::not_found("No such SCIM endpoint.").into())
}

/// 405, with the methods the resource does answer (RFC 9110 §15.5.6).
pub async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = ApiError::from(ScimError::method_not_allowed()).error_response();
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// `OPTIONS`: the methods the resource answers, and nothing else.
pub async fn options(allow: &'static str) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((ALLOW, allow))
        .finish()
}

pub async fn me_not_implemented() -> Refusal {
    Err(ScimError::not_implemented(
        "/Me is not supported: SCIM tokens belong to an org, not a user.",
    )
    .into())
}

pub async fn bulk_not_implemented() -> Refusal {
    Err(ScimError::not_implemented("Bulk operations are not supported.").into())
}

pub async fn root_search_not_implemented() -> Refusal {
    Err(ScimError::not_implemented(
        "Searching across resource types is not supported: use POST /Users/.search.",
    )
    .into())
}

/// Middleware on resources with an `{id}`: no resource has an id with a control character
/// (ids are the app's cuids), and PostgreSQL refuses a NUL in text outright, so such an id is
/// answered 404 here, before it reaches a query.
pub async fn refuse_impossible_ids(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let impossible = req
        .match_info()
        .get("id")
        .is_some_and(|id| id.chars().any(char::is_control));
    if impossible {
        let response = ApiError::from(ScimError::not_found("Resource not found.")).error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
