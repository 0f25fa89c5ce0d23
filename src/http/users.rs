//! `/Users` handlers: parse, call the lifecycle or the repository, render.

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::response::{scim_base_url, scim_json};
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::provisioning::{self, Caller, Change, PostOutcome};
use crate::scim::discovery::{cursor_list_response, list_response};
use crate::scim::group::user_groups;
use crate::scim::patch::parse_patch;
use crate::scim::projection::Projection;
use crate::scim::query::ListRequest;
use crate::scim::resource::normalize_body;
use crate::scim::user::{etag_matches, UserRecord};
use crate::state::AppState;

/// The User's read-only attribute filled from /Groups.
const GROUPS: &str = "groups";

/// A connection for the request, after the org's first-request duties
/// (`provisioning.require_member_approval`).
pub(super) async fn connect(
    state: &AppState,
    caller: Caller<'_>,
) -> Result<crate::db::PooledConnection, ApiError> {
    let mut conn = state.pool.get().await?;
    state
        .approval
        .ensure(&mut conn, caller)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    Ok(conn)
}

pub(super) fn caller<'a>(context: &'a AuthContext, state: &'a AppState) -> Caller<'a> {
    Caller {
        org_id: context.org_id,
        token_name: &context.token_name,
        seats: context.grant.seat_cap(),
        mode: state.modes.current(),
        owner_group: state.groups.owner_group(),
    }
}

/// Query parameters are matched without regard to case (`startindex` works too).
pub(super) fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

pub(super) fn header_value(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The read-only `groups` attribute, added to a rendered User when it has any.
fn add_groups(body: &mut Value, groups: Option<&Vec<(String, String)>>, base: &str) {
    if let (Value::Object(map), Some(groups)) = (body, groups) {
        if !groups.is_empty() {
            map.insert(GROUPS.into(), user_groups(groups, base));
        }
    }
}

/// The groups of these users, unless the answer leaves `groups` out.
async fn groups_of(
    conn: &mut crate::db::PooledConnection,
    org_id: i32,
    projection: &Projection,
    user_ids: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>, ApiError> {
    if !projection.returns(GROUPS) {
        return Ok(HashMap::new());
    }
    provisioning::groups::groups_of(conn, org_id, user_ids)
        .await
        .map_err(|error| error.with_sqlstate_of(conn))
}

/// A single User with its `ETag` (and `Location` when created), and its groups.
async fn user_answer(
    conn: &mut crate::db::PooledConnection,
    org_id: i32,
    status: StatusCode,
    user: &UserRecord,
    base: &str,
    projection: &Projection,
) -> Result<HttpResponse, ApiError> {
    let groups = groups_of(conn, org_id, projection, std::slice::from_ref(&user.id)).await?;
    Ok(user_response(
        status,
        user,
        base,
        projection,
        groups.get(&user.id),
    ))
}

/// A single User with its `ETag` (and `Location` when created).
fn user_response(
    status: StatusCode,
    user: &UserRecord,
    base: &str,
    projection: &Projection,
    groups: Option<&Vec<(String, String)>>,
) -> HttpResponse {
    let mut body = user.render(base);
    add_groups(&mut body, groups, base);
    let location = body["meta"]["location"]
        .as_str()
        .and_then(|l| HeaderValue::from_str(l).ok());
    // `meta.version` is the ETag: computed once, with the body, not by serialising again.
    let etag = body["meta"]["version"]
        .as_str()
        .and_then(|tag| HeaderValue::from_str(tag).ok());
    let mut response = scim_json(status, &projection.apply(body));
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if let (StatusCode::CREATED, Some(location)) = (status, location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `attributes` / `excludedAttributes` of a request's query string.
pub(super) fn projection_of(req: &HttpRequest) -> Result<Projection, ApiError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    Ok(Projection::from_params(
        param(&query, "attributes"),
        param(&query, "excludedAttributes"),
    )?)
}

pub async fn list_users(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let request = ListRequest::from_params(|name| param(&query, name))?;
    list_answer(&context, &state, &req, &request).await
}

/// `POST /Users/.search`: a list request in a `SearchRequest` body.
pub async fn search_users(
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
    let page = provisioning::query::list(&mut conn, context.org_id, request, &state.cursors)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    let ids: Vec<String> = page.users.iter().map(|user| user.id.clone()).collect();
    let groups = groups_of(&mut conn, context.org_id, &request.projection, &ids).await?;
    drop(conn);
    let base = scim_base_url(state, req);
    let resources: Vec<Value> = page
        .users
        .into_iter()
        .map(|user| {
            let groups = groups.get(&user.id);
            let mut body = user.into_rendered(&base);
            add_groups(&mut body, groups, &base);
            request.projection.apply(body)
        })
        .collect();
    let body = match request.cursor {
        Some(_) => cursor_list_response(resources, page.total, page.next_cursor),
        None => list_response(resources, page.total, request.page.start_index),
    };
    Ok(scim_json(StatusCode::OK, &body))
}

pub async fn get_user(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let projection = projection_of(&req)?;
    let mut conn = connect(&state, caller(&context, &state)).await?;
    let user = provisioning::query::get(&mut conn, context.org_id, &id)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    if let Some(tags) = header_value(&req, header::IF_NONE_MATCH) {
        let current = user.etag();
        if etag_matches(tags, &current) {
            let mut response = HttpResponse::NotModified().finish();
            if let Ok(etag) = HeaderValue::from_str(&current) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            return Ok(response);
        }
    }
    let base = scim_base_url(&state, &req);
    user_answer(
        &mut conn,
        context.org_id,
        StatusCode::OK,
        &user,
        &base,
        &projection,
    )
    .await
}

pub async fn create_user(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let doc = normalize_body(&body)?;
    let projection = projection_of(&req)?;
    let caller = caller(&context, &state);
    let mut conn = connect(&state, caller).await?;
    let (user, outcome) = provisioning::create(&mut conn, caller, doc)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    let status = match outcome {
        PostOutcome::Created => StatusCode::CREATED,
        PostOutcome::Updated => StatusCode::OK,
    };
    let base = scim_base_url(&state, &req);
    user_answer(&mut conn, caller.org_id, status, &user, &base, &projection).await
}

pub async fn replace_user(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let doc = normalize_body(&body)?;
    update(context, state, req, &id, Change::Replace(doc)).await
}

pub async fn patch_user(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let operations = parse_patch(&body)?;
    update(context, state, req, &id, Change::Patch(operations)).await
}

async fn update(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: &str,
    change: Change,
) -> Result<HttpResponse, ApiError> {
    let if_match = header_value(&req, header::IF_MATCH);
    let projection = projection_of(&req)?;
    let caller = caller(&context, &state);
    let mut conn = connect(&state, caller).await?;
    let user = provisioning::update(&mut conn, caller, id, change, if_match)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    let base = scim_base_url(&state, &req);
    user_answer(
        &mut conn,
        caller.org_id,
        StatusCode::OK,
        &user,
        &base,
        &projection,
    )
    .await
}

pub async fn delete_user(
    context: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let if_match = header_value(&req, header::IF_MATCH);
    let caller = caller(&context, &state);
    let mut conn = connect(&state, caller).await?;
    provisioning::delete(&mut conn, caller, &id, if_match)
        .await
        .map_err(|error| error.with_sqlstate_of(&mut conn))?;
    Ok(HttpResponse::NoContent().finish())
}
