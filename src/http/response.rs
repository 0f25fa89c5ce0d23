//! Building SCIM answers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::SCIM_BASE_PATH;
use crate::scim::SCIM_MEDIA_TYPE;
use crate::state::AppState;

/// A SCIM body with `application/scim+json`.
pub fn scim_json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_MEDIA_TYPE)
        .json(body)
}

/// The absolute SCIM base URL, without a trailing slash: the configured public URL, or the
/// one this request reached.
pub fn scim_base_url(state: &AppState, req: &HttpRequest) -> String {
    match &state.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}{}", info.scheme(), info.host(), SCIM_BASE_PATH)
        }
    }
}
