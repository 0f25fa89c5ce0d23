//! The authenticated caller of a SCIM request, and the middleware that establishes it for the
//! whole `/scim/v2` scope: kill switch, token, entitlement, in that order.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use crate::error::ApiError;
use crate::license::{self, Grant};
use crate::state::AppState;

/// Who is calling: the token's org (which scopes every query of the request), the token's
/// name (for the audit trail) and the entitlement that lets the org provision.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub org_id: i32,
    pub token_name: Arc<str>,
    pub grant: Grant,
}

/// Middleware on the `/scim/v2` scope. When the service is disabled nothing else is looked at
/// (no token lookup, no database access). Refusals are rendered here so that outer layers see
/// them as ordinary responses.
pub async fn require_scim_access(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match authorize(&req).await {
        Ok(context) => {
            req.extensions_mut().insert(context);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

async fn authorize(req: &ServiceRequest) -> Result<AuthContext, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state is missing")))?;
    if !state.enabled {
        return Err(ApiError::Disabled);
    }
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let identity = state
        .authenticator
        .authenticate(&state.pool, authorization)
        .await?;
    tracing::Span::current().record("org.id", identity.org_id);
    let grant = state
        .gate
        .grant_for(&state.pool, identity.org_id, license::now_ms())
        .await?
        .ok_or(ApiError::NotEntitled)?;
    Ok(AuthContext {
        org_id: identity.org_id,
        token_name: identity.token_name,
        grant,
    })
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
