//! Request bodies, before any handler sees them: media type (415), size (413) and how long the
//! body may take to arrive (408). The body is read here, whole, and handed on from memory, so
//! that no handler can wait on a client that stopped sending.

use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::{ConnectionType, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, ResponseError};

use crate::auth::RequestDeadline;
use crate::error::{ApiError, TOO_LARGE_DETAIL, UNSUPPORTED_MEDIA_TYPE_DETAIL};
use crate::scim::{ScimError, ScimType};

/// The body limits of `server.*`, as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// From the moment the request reaches this step.
    pub timeout: Duration,
}

/// Middleware on the `/scim/v2` scope, inside authentication: unauthenticated bodies are never
/// read.
pub async fn read_body(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let limits = req
        .app_data::<web::Data<BodyLimits>>()
        .map(|limits| *limits.get_ref())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("body limits are not configured")))?;
    if let Some(value) = req.headers().get(CONTENT_TYPE) {
        if !is_json_media_type(value) {
            let error = ScimError::new(415, None, UNSUPPORTED_MEDIA_TYPE_DETAIL);
            return Ok(refuse(req, error.into()));
        }
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_bytes as u64) {
        return Ok(refuse(
            req,
            ScimError::new(413, None, TOO_LARGE_DETAIL).into(),
        ));
    }

    let body_due = Instant::now() + limits.timeout;
    let deadline = req.extensions().get::<RequestDeadline>().map(|d| d.0);
    let due = deadline.map_or(body_due, |deadline| deadline.min(body_due));
    let (http_req, mut payload) = req.into_parts();
    // Bounded by the `web::PayloadConfig` of `max_bytes` that `http::routes` installs.
    let read = web::Bytes::from_request(&http_req, &mut payload);
    let outcome = tokio::time::timeout_at(due.into(), read).await;
    drop(payload);
    let (payload, refusal) = match outcome {
        Ok(Ok(body)) => (Payload::from(body), None),
        Ok(Err(error)) => (Payload::None, Some(read_error(&error).into())),
        Err(_) if deadline.is_some_and(|deadline| Instant::now() >= deadline) => {
            (Payload::None, Some(ApiError::DeadlinePassed))
        }
        Err(_) => (
            Payload::None,
            Some(ScimError::new(408, None, "The request body did not arrive in time.").into()),
        ),
    };
    let req = ServiceRequest::from_parts(http_req, payload);
    match refusal {
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Some(error) => Ok(refuse(req, error)),
    }
}

/// `application/json` or any `application/*+json` (`application/scim+json`), in UTF-8: no
/// charset, or `utf-8`. JSON in another encoding is not JSON (RFC 8259 §8.1).
fn is_json_media_type(value: &HeaderValue) -> bool {
    let Some(mime) = value
        .to_str()
        .ok()
        .and_then(|text| text.parse::<mime::Mime>().ok())
    else {
        return false;
    };
    let json = mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON));
    let utf8 = mime.get_param(mime::CHARSET).is_none_or(|charset| {
        charset.as_str().eq_ignore_ascii_case("utf-8")
            || charset.as_str().eq_ignore_ascii_case("utf8")
    });
    json && utf8
}

fn read_error(error: &actix_web::Error) -> ScimError {
    match error.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ScimError::new(413, None, TOO_LARGE_DETAIL),
        _ => ScimError::bad_request(
            ScimType::InvalidSyntax,
            "The request body could not be read.",
        ),
    }
}

/// A refusal sent before the body was read (or while it was): the connection is closed after
/// it, since what is left of the body would otherwise be read as the next request.
fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    let mut response = error.error_response();
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    req.into_response(response).map_into_right_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_in_utf8_are_accepted_and_others_refused() {
        for accepted in [
            "application/json",
            "application/scim+json",
            "application/scim+json; charset=utf-8",
            "application/json;charset=UTF-8",
            "Application/JSON; charset=\"utf-8\"",
        ] {
            assert!(
                is_json_media_type(&HeaderValue::from_static(accepted)),
                "{accepted}"
            );
        }
        for refused in [
            "text/plain",
            "application/xml",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-16",
            "application/scim+json; charset=iso-8859-1",
            "text/json",
            "json",
            "",
        ] {
            assert!(
                !is_json_media_type(&HeaderValue::from_static(refused)),
                "{refused}"
            );
        }
    }
}
