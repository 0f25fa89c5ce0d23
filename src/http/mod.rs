//! The route table and thin handlers. Handlers call `db::repo` and `scim`; they write no SQL.

mod discovery;
mod fallback;
mod health;
mod request_span;
mod response;
mod users;

use actix_web::middleware::from_fn;
use actix_web::web;

pub use request_span::request_span;

use crate::auth::require_scim_access;
use crate::error::json_body_error;

/// Base path of the SCIM API.
pub const SCIM_BASE_PATH: &str = "/scim/v2";

pub fn routes(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    // IdPs send application/scim+json or application/json, with or without a charset, and
    // some send no Content-Type at all.
    let json = web::JsonConfig::default()
        .limit(max_body_bytes)
        .content_type_required(false)
        .content_type(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        })
        .error_handler(|error, _| json_body_error(error).into());
    cfg.app_data(json)
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .service(
            web::scope(SCIM_BASE_PATH)
                .wrap(from_fn(require_scim_access))
                .service(
                    web::resource("/ServiceProviderConfig")
                        .route(web::get().to(discovery::get_service_provider_config))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(
                    web::resource("/ResourceTypes")
                        .route(web::get().to(discovery::list_resource_types))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(
                    web::resource("/ResourceTypes/{id}")
                        .route(web::get().to(discovery::get_resource_type))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(
                    web::resource("/Schemas")
                        .route(web::get().to(discovery::list_schemas))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(
                    web::resource("/Schemas/{id}")
                        .route(web::get().to(discovery::get_schema))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(
                    web::resource("/Users")
                        .route(web::get().to(users::list_users))
                        .route(web::post().to(users::create_user))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(
                    web::resource("/Users/.search")
                        .route(web::post().to(users::search_users))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(
                    web::resource("/Users/{id}")
                        .route(web::get().to(users::get_user))
                        .route(web::put().to(users::replace_user))
                        .route(web::patch().to(users::patch_user))
                        .route(web::delete().to(users::delete_user))
                        .default_service(web::to(fallback::method_not_allowed)),
                )
                .service(web::resource(["/Me", "/Me/{rest:.*}"]).to(fallback::me_not_implemented))
                .service(web::resource("/Bulk").to(fallback::bulk_not_implemented))
                .service(web::resource("/.search").to(fallback::root_search_not_implemented))
                .default_service(web::to(fallback::not_found)),
        )
        .default_service(web::to(fallback::not_found));
}
