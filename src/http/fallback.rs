//! Answers for paths and methods the API does not serve, as SCIM errors.

use actix_web::HttpResponse;

use crate::error::ApiError;
use crate::scim::ScimError;

type Refusal = Result<HttpResponse, ApiError>;

pub async fn not_found() -> Refusal {
    Err(ScimError::not_found("No such SCIM endpoint.").into())
}

pub async fn method_not_allowed() -> Refusal {
    Err(ScimError::method_not_allowed().into())
}

pub async fn me_not_implemented() -> Refusal {
    Err(ScimError::not_implemented(
        "/Me is not supported: SCIM tokens belong to an org, not a user.",
    )
    .into())
}

pub async fn bulk_not_implemented() -> Refusal {
    Err(ScimError::not_implemented("Bulk operations are not supported.").into())
}

pub async fn root_search_not_implemented() -> Refusal {
    Err(ScimError::not_implemented(
        "Searching across resource types is not supported: use POST /Users/.search.",
    )
    .into())
}
