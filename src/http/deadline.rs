//! The request deadline (`server.request_deadline_ms`) around a route's handler.
//!
//! Past it the handler's future is dropped and the client gets 503 with `Retry-After`. Dropping
//! it drops the request's database connection mid-transaction, and the pool closes such a
//! connection instead of taking it back (`db::PooledConnection`), so PostgreSQL rolls the
//! transaction back: nothing of a late request is written.
//!
//! Installed on each resource rather than on the scope: the handler's future can only be
//! dropped with a copy of the request kept aside for the answer, and actix's routing needs
//! the request unshared until a resource has been chosen.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};

use crate::auth::RequestDeadline;
use crate::error::ApiError;

pub async fn enforce_deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(RequestDeadline(deadline)) = req.extensions().get::<RequestDeadline>().copied() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let answer_to = req.request().clone();
    match tokio::time::timeout_at(deadline.into(), next.call(req)).await {
        Ok(outcome) => outcome.map(ServiceResponse::map_into_left_body),
        Err(_) => Ok(
            ServiceResponse::new(answer_to, ApiError::DeadlinePassed.error_response())
                .map_into_right_body(),
        ),
    }
}
