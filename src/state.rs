//! What every request handler shares.

use url::Url;

use crate::db::DbPool;
use crate::provisioning::modes::ModeState;

pub struct AppState {
    pub pool: DbPool,
    /// The deprovisioning mode in force.
    pub modes: ModeState,
    /// The SCIM base URL locations are built from; `None`: derived from each request.
    pub public_url: Option<Url>,
}
