//! What every request handler shares.

use url::Url;

use crate::auth::Authenticator;
use crate::db::DbPool;
use crate::license::EntitlementGate;

pub struct AppState {
    pub pool: DbPool,
    pub authenticator: Authenticator,
    pub gate: EntitlementGate,
    /// Kill switch (`SCIM_ENABLED`).
    pub enabled: bool,
    /// The SCIM base URL locations are built from; `None`: derived from each request.
    pub public_url: Option<Url>,
}
