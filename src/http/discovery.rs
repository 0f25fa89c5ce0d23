//! Discovery endpoints (RFC 7644 §4).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::response::{scim_base_url, scim_json};
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::scim::{discovery, ScimError};
use crate::state::AppState;

pub async fn get_service_provider_config(
    _caller: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let location = format!("{}/ServiceProviderConfig", scim_base_url(&state, &req));
    scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(&location),
    )
}

pub async fn list_resource_types(
    _caller: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let types = discovery::resource_types(&scim_base_url(&state, &req));
    let total = types.len() as i64;
    scim_json(StatusCode::OK, &discovery::list_response(types, total, 1))
}

pub async fn get_resource_type(
    _caller: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let base = scim_base_url(&state, &req);
    let document = discovery::resource_type(&id, &base)
        .ok_or_else(|| ScimError::not_found("No such resource type."))?;
    Ok(scim_json(StatusCode::OK, &document))
}

pub async fn list_schemas(
    _caller: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let schemas = discovery::schemas(&scim_base_url(&state, &req));
    let total = schemas.len() as i64;
    scim_json(StatusCode::OK, &discovery::list_response(schemas, total, 1))
}

pub async fn get_schema(
    _caller: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let document = discovery::schema_by_id(&id, &scim_base_url(&state, &req))
        .ok_or_else(|| ScimError::not_found("No such schema."))?;
    Ok(scim_json(StatusCode::OK, &document))
}
