//! Read-only mode (`server.read_only`), for the app's migrations and maintenance windows: the
//! SCIM API serves reads and answers every write 503 with `Retry-After`, before authentication
//! and without touching the database.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn refuse_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let read_only = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.read_only);
    if read_only && is_write(req.method(), req.match_pattern().as_deref()) {
        return Ok(req.error_response(ApiError::ReadOnly).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Every method but GET, HEAD and OPTIONS writes, except a POST to a `/.search` endpoint: a
/// query sent in a body.
fn is_write(method: &Method, route: Option<&str>) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => !route.is_some_and(|route| route.ends_with("/.search")),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_read_and_other_posts_write() {
        let users = Some("/scim/v2/Users");
        let search = Some("/scim/v2/Users/.search");
        assert!(!is_write(&Method::GET, users));
        assert!(!is_write(&Method::HEAD, users));
        assert!(!is_write(&Method::OPTIONS, users));
        assert!(!is_write(&Method::POST, search));
        assert!(is_write(&Method::POST, users));
        assert!(is_write(&Method::POST, None));
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_write(&method, Some("/scim/v2/Users/{id}")), "{method}");
        }
        assert!(is_write(&Method::from_bytes(b"BREW").unwrap(), users));
    }
}
