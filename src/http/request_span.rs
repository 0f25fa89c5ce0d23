//! One tracing span per request, with a request id, and one log line when it ends: request
//! id, route pattern, status, latency, and once authenticated the org id and the token's
//! name; the IdP family from `User-Agent`. The request's metrics are counted here too, and
//! its membership changes logged once it succeeded (`metrics::RequestEvents`).
//!
//! Written here rather than taken from a tracing middleware crate because the default spans of
//! those record the path and query string, and both can carry e-mail addresses (filters do; a
//! careless client puts one where an id goes): only the method, the route pattern
//! (`/scim/v2/Users/{id}`, never the path as sent) and the outcome are recorded.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, USER_AGENT};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use super::SCIM_BASE_PATH;
use crate::metrics::{FinishedRequest, IdpFamily, RequestEvents};
use crate::state::AppState;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_safe_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = route_pattern(&req);
    let method = req.method().clone();
    let idp =
        IdpFamily::from_user_agent(req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()));
    let span = tracing::info_span!(
        "http.request",
        request.id = %request_id,
        http.method = %method,
        http.route = %route,
        idp = idp.as_str(),
        org.id = tracing::field::Empty,
        token.name = tracing::field::Empty,
    );
    let events = RequestEvents::new(
        req.app_data::<web::Data<AppState>>()
            .and_then(|state| state.metrics.clone()),
    );
    let started = Instant::now();
    let result = events.run(next.call(req)).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    span.in_scope(|| {
        events.finish(&FinishedRequest {
            route: &route,
            method: method.as_str(),
            status,
            latency,
            idp,
            scim: route.starts_with(SCIM_BASE_PATH),
        })
    });
    tracing::info!(
        parent: &span,
        http.status = status,
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "request finished"
    );
    result.map(|mut response| {
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    })
}

/// The pattern of the route the path matches, known before routing from the app's resource
/// map; `-` for a path no route serves.
fn route_pattern(req: &ServiceRequest) -> String {
    req.match_pattern().unwrap_or_else(|| "-".to_owned())
}

/// Incoming ids are echoed into logs and headers, so only short, plain ones are kept.
fn is_safe_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_short_request_ids_are_kept() {
        assert!(super::is_safe_request_id("3f2c-11_ab.c"));
        assert!(!super::is_safe_request_id(""));
        assert!(!super::is_safe_request_id("a b"));
        assert!(!super::is_safe_request_id("jane@example.com"));
        assert!(!super::is_safe_request_id(&"a".repeat(65)));
    }
}
