//! What every request handler shares.

use url::Url;

use crate::db::DbPool;

pub struct AppState {
    pub pool: DbPool,
    /// The SCIM base URL locations are built from; `None`: derived from each request.
    pub public_url: Option<Url>,
}
