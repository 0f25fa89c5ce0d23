//! The route table and thin handlers. Handlers call `db::repo` and `scim`; they write no SQL.

mod body;
mod deadline;
mod discovery;
mod fallback;
mod groups;
mod health;
pub mod metrics;
mod openapi;
mod read_only;
mod request_span;
mod response;
mod retry;
mod users;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{guard, web, Resource, Route};

pub use body::BodyLimits;
pub use request_span::request_span;

use crate::auth::require_scim_access;
use crate::error::json_body_error;
use retry::retry_read;

/// Base path of the SCIM API.
pub const SCIM_BASE_PATH: &str = "/scim/v2";

const READ_ONLY: &str = "GET, HEAD, OPTIONS";
const COLLECTION: &str = "GET, HEAD, POST, OPTIONS";
const ITEM: &str = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS";
const SEARCH: &str = "POST, OPTIONS";

pub fn routes(cfg: &mut web::ServiceConfig, limits: BodyLimits) {
    // Media type and size are checked by `body::read_body` before the extractor runs; a
    // missing Content-Type is accepted (some IdPs send none), so the extractor parses any body
    // it is given.
    let json = web::JsonConfig::default()
        .limit(limits.max_bytes)
        .content_type_required(false)
        .error_handler(|error, _| json_body_error(error).into());
    cfg.app_data(json)
        .app_data(web::PayloadConfig::new(limits.max_bytes))
        .app_data(web::Data::new(limits))
        .service(unauthenticated("/healthz").route(read().to(health::healthz)))
        .service(unauthenticated("/readyz").route(read().to(health::readyz)))
        .service(unauthenticated("/openapi.json").route(read().to(openapi::get_openapi)))
        .service(
            web::scope(SCIM_BASE_PATH)
                // Last wrapped runs first: read-only mode, access (and the request's deadline),
                // then the body.
                .wrap(from_fn(body::read_body))
                .wrap(from_fn(require_scim_access))
                .wrap(from_fn(read_only::refuse_writes))
                .service(
                    web::resource("/ServiceProviderConfig")
                        .route(read().to(discovery::get_service_provider_config))
                        .route(options(READ_ONLY))
                        .default_service(not_allowed(READ_ONLY))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/ResourceTypes")
                        .route(read().to(discovery::list_resource_types))
                        .route(options(READ_ONLY))
                        .default_service(not_allowed(READ_ONLY))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/ResourceTypes/{id}")
                        .route(read().to(discovery::get_resource_type))
                        .route(options(READ_ONLY))
                        .default_service(not_allowed(READ_ONLY))
                        .wrap(from_fn(fallback::refuse_impossible_ids))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Schemas")
                        .route(read().to(discovery::list_schemas))
                        .route(options(READ_ONLY))
                        .default_service(not_allowed(READ_ONLY))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Schemas/{id}")
                        .route(read().to(discovery::get_schema))
                        .route(options(READ_ONLY))
                        .default_service(not_allowed(READ_ONLY))
                        .wrap(from_fn(fallback::refuse_impossible_ids))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Users")
                        .route(read().to(retry_read(users::list_users)))
                        .route(web::post().to(users::create_user))
                        .route(options(COLLECTION))
                        .default_service(not_allowed(COLLECTION))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Users/.search")
                        .route(web::post().to(users::search_users))
                        .route(options(SEARCH))
                        .default_service(not_allowed(SEARCH))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Users/{id}")
                        .route(read().to(retry_read(users::get_user)))
                        .route(web::put().to(users::replace_user))
                        .route(web::patch().to(users::patch_user))
                        .route(web::delete().to(users::delete_user))
                        .route(options(ITEM))
                        .default_service(not_allowed(ITEM))
                        .wrap(from_fn(fallback::refuse_impossible_ids))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Groups")
                        .route(read().to(retry_read(groups::list_groups)))
                        .route(web::post().to(groups::create_group))
                        .route(options(COLLECTION))
                        .default_service(not_allowed(COLLECTION))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Groups/.search")
                        .route(web::post().to(groups::search_groups))
                        .route(options(SEARCH))
                        .default_service(not_allowed(SEARCH))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(
                    web::resource("/Groups/{id}")
                        .route(read().to(retry_read(groups::get_group)))
                        .route(web::put().to(groups::replace_group))
                        .route(web::patch().to(groups::patch_group))
                        .route(web::delete().to(groups::delete_group))
                        .route(options(ITEM))
                        .default_service(not_allowed(ITEM))
                        .wrap(from_fn(fallback::refuse_impossible_ids))
                        .wrap(from_fn(deadline::enforce_deadline)),
                )
                .service(web::resource(["/Me", "/Me/{rest:.*}"]).to(fallback::me_not_implemented))
                .service(web::resource("/Bulk").to(fallback::bulk_not_implemented))
                .service(web::resource("/.search").to(fallback::root_search_not_implemented))
                .default_service(web::to(fallback::not_found)),
        )
        .default_service(web::to(fallback::not_found));
}

/// A read-only resource outside `/scim/v2` (the probes, the API document): `OPTIONS` and
/// other methods are answered as on the SCIM resources (204, or 405 with `Allow`).
fn unauthenticated(path: &str) -> Resource {
    web::resource(path)
        .route(options(READ_ONLY))
        .default_service(not_allowed(READ_ONLY))
}

/// GET, and HEAD answered as GET (actix sends no body for HEAD).
fn read() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

fn options(allow: &'static str) -> Route {
    web::route()
        .method(Method::OPTIONS)
        .to(move || fallback::options(allow))
}

fn not_allowed(allow: &'static str) -> Route {
    web::to(move || fallback::method_not_allowed(allow))
}
