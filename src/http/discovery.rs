//! Discovery endpoints (RFC 7644 §4).

use actix_web::{HttpRequest, HttpResponse};

use super::response::{scim_base_url, scim_json};
use crate::auth::AuthContext;
use crate::scim::discovery;
use crate::state::AppState;
use actix_web::web;

pub async fn get_service_provider_config(
    _caller: AuthContext,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let location = format!("{}/ServiceProviderConfig", scim_base_url(&state, &req));
    scim_json(
        actix_web::http::StatusCode::OK,
        &discovery::service_provider_config(&location),
    )
}
