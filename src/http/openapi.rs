//! `GET /openapi.json`: the OpenAPI 3 document of the SCIM and health endpoints. It is kept
//! by hand in `openapi.json` beside this file and embedded as it is, so the document a client
//! fetches is the one the repository reviews and `.ci/run` fuzzes the server against.

use actix_web::http::header::ContentType;
use actix_web::HttpResponse;

/// The document, byte for byte as kept in the repository.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Not authenticated: it describes the API, it holds no data of any org.
pub async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;

    #[test]
    fn document_is_openapi_3_and_names_this_release() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        // Bump `info.version` with the crate's version.
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
