//! `/Groups` handlers: parse, call the group lifecycle, render.

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::response::{scim_base_url, scim_json};
use super::users::{caller, connect, header_value, param, projection_of};
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::provisioning::groups;
use crate::scim::discovery::list_response;
use crate::scim::group::{self, GroupRecord};
use crate::scim::patch::parse_patch;
use crate::scim::projection::Projection;
use crate::scim::query::ListRequest;
use crate::scim::user::etag_matches;
use crate::state::AppState;

/// The attribute the projection decides whether to load.
const MEMBERS: &str = "members";

fn with_etag(mut response: HttpResponse, group: &GroupRecord) -> HttpResponse {
    if let Ok(etag) = HeaderValue::from_str(&group.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

fn group_response(
    status: StatusCode,
    group: &GroupRecord,
    base: &str,
    projection: &Projection,
) -> HttpResponse {
    let body = group.render(base);
    let location = body["meta"]["location"]
        .as_str()
        .and_then(|l| HeaderValue::from_str(l).ok());
    let mut response = with_etag(scim_json(status, &projection.apply(body)), group);
    if let (StatusCode::CREATED, Some(location)) = (status, location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

pub async fn list_groups(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let request = ListRequest::from_params(|name| param(&query, name))?;
    list_answer(&context, &state, &req, &request).await
}

/// `POST /Groups/.search`: a list request in a `SearchRequest` body.
pub async fn search_groups(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let request = ListRequest::from_search(&body)?;
    list_answer(&context, &state, &req, &request).await
}

async fn list_answer(
    context: &AuthContext,
    state: &AppState,
    req: &HttpRequest,
    request: &ListRequest,
) -> Result<HttpResponse, ApiError> {
    let mut conn = connect(state, caller(context, state)).await?;
    let with_members = request.projection.returns(MEMBERS);
    let (total, found) = groups::list(&mut conn, context.org_id, request, with_members)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    let base = scim_base_url(state, req);
    let resources: Vec<Value> = found
        .iter()
        .map(|group| request.projection.apply(group.render(&base)))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &list_response(resources, total, request.page.start_index),
    ))
}

pub async fn get_group(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let projection = projection_of(&req)?;
    let mut conn = connect(&state, caller(&context, &state)).await?;
    let with_members = projection.returns(MEMBERS);
    let group = groups::get(&mut conn, context.org_id, &id, with_members)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    if let Some(tags) = header_value(&req, header::IF_NONE_MATCH) {
        if etag_matches(tags, &group.etag()) {
            return Ok(with_etag(HttpResponse::NotModified().finish(), &group));
        }
    }
    Ok(group_response(
        StatusCode::OK,
        &group,
        &scim_base_url(&state, &req),
        &projection,
    ))
}

pub async fn create_group(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let write = group::parse_body(&body)?;
    let projection = projection_of(&req)?;
    let caller = caller(&context, &state);
    let mut conn = connect(&state, caller).await?;
    let answer = groups::create(&mut conn, caller, write, projection.returns(MEMBERS))
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    Ok(group_response(
        StatusCode::CREATED,
        &answer.group,
        &scim_base_url(&state, &req),
        &projection,
    ))
}

pub async fn replace_group(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let write = group::parse_body(&body)?;
    let projection = projection_of(&req)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let caller = caller(&context, &state);
    let mut conn = connect(&state, caller).await?;
    let with_members = projection.returns(MEMBERS);
    let answer = groups::replace(&mut conn, caller, &id, write, if_match, with_members)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    Ok(group_response(
        StatusCode::OK,
        &answer.group,
        &scim_base_url(&state, &req),
        &projection,
    ))
}

/// PATCH answers 200 with the group, or 204 when so configured, and also when the group has
/// more members than an answer carries (RFC 7644 §3.5.2 allows either).
pub async fn patch_group(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let changes = group::changes(&parse_patch(&body)?, &id)?;
    let projection = projection_of(&req)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let caller = caller(&context, &state);
    let mut conn = connect(&state, caller).await?;
    let with_body = state.groups.patch_returns_body();
    let with_members = with_body && projection.returns(MEMBERS);
    let answer = groups::patch(&mut conn, caller, &id, changes, if_match, with_members)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    if !with_body || !answer.complete {
        return Ok(with_etag(HttpResponse::NoContent().finish(), &answer.group));
    }
    Ok(group_response(
        StatusCode::OK,
        &answer.group,
        &scim_base_url(&state, &req),
        &projection,
    ))
}

pub async fn delete_group(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let if_match = header_value(&req, header::IF_MATCH);
    let caller = caller(&context, &state);
    let mut conn = connect(&state, caller).await?;
    groups::delete(&mut conn, caller, &id, if_match)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    Ok(HttpResponse::NoContent().finish())
}
