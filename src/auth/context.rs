//! The authenticated caller of a SCIM request, and the middleware that establishes it for the
//! whole `/scim/v2` scope: the request's deadline, then kill switch, token, rate limit and
//! entitlement, in that order.

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::rate_limit::TokenRateLimit;
use super::{Authenticator, EntitlementGate, Grant};
use crate::db::DbPool;
use crate::error::ApiError;
use crate::license;
use crate::metrics::{self, AuthFailure};

/// Who is calling: the token's org (which scopes every query of the request), the token's
/// name (for the audit trail) and the entitlement that lets the org provision.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub org_id: i32,
    pub token_name: Arc<str>,
    pub grant: Grant,
}

/// When a SCIM request must have been answered: `server.request_deadline_ms` after it entered
/// the `/scim/v2` scope. Stamped by [`require_scim_access`], the scope's first step, into the
/// request's extensions; every later step (reading the body, the handler) stops at it.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Instant);

/// What admits a request to the `/scim/v2` scope. It is app data of its own (not part of the
/// handlers' `AppState`), so that authentication depends on nothing above it.
pub struct ScimAccess {
    /// Kill switch (`SCIM_ENABLED`).
    pub enabled: bool,
    pub authenticator: Authenticator,
    pub rate_limit: TokenRateLimit,
    pub gate: EntitlementGate,
    pub pool: DbPool,
    /// `server.request_deadline_ms`.
    pub request_deadline: Duration,
}

impl ScimAccess {
    /// Kill switch, token, rate limit, entitlement, in that order; the first refusal wins.
    pub async fn authorize(&self, authorization: Option<&str>) -> Result<AuthContext, ApiError> {
        if !self.enabled {
            metrics::auth_refused(AuthFailure::Disabled);
            return Err(ApiError::Disabled);
        }
        let identity = self
            .authenticator
            .authenticate(&self.pool, authorization)
            .await?;
        let span = tracing::Span::current();
        span.record("org.id", identity.org_id);
        span.record("token.name", &*identity.token_name);
        self.rate_limit.check(&identity).map_err(|retry_after| {
            metrics::auth_refused(AuthFailure::RateLimited);
            ApiError::RateLimited { retry_after }
        })?;
        let grant = self
            .gate
            .grant_for(&self.pool, identity.org_id, license::now_ms())
            .await?
            .ok_or_else(|| {
                metrics::auth_refused(AuthFailure::NotEntitled);
                ApiError::NotEntitled
            })?;
        Ok(AuthContext {
            org_id: identity.org_id,
            token_name: identity.token_name,
            grant,
        })
    }
}

/// Middleware on the `/scim/v2` scope. When the service is disabled nothing else is looked at
/// (no token lookup, no database access). Refusals are rendered here so that outer layers see
/// them as ordinary responses.
pub async fn require_scim_access(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(access) = req.app_data::<web::Data<ScimAccess>>().cloned() else {
        let error = ApiError::Internal(anyhow::anyhow!("SCIM access is not configured"));
        return Ok(req.error_response(error).map_into_right_body());
    };
    let deadline = Instant::now() + access.request_deadline;
    req.extensions_mut().insert(RequestDeadline(deadline));
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let admitted = tokio::time::timeout_at(deadline.into(), access.authorize(authorization))
        .await
        .unwrap_or(Err(ApiError::DeadlinePassed));
    match admitted {
        Ok(context) => {
            req.extensions_mut().insert(context);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

impl FromRequest for AuthContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Only routes inside the authenticated scope can see a context; a handler mounted
        // elsewhere by mistake fails closed.
        ready(
            req.extensions()
                .get::<AuthContext>()
                .cloned()
                .ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("handler mounted outside the SCIM scope"))
                }),
        )
    }
}
