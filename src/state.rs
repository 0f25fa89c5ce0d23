//! What every request handler shares.

use std::sync::Arc;

use url::Url;

use crate::db::DbPool;
use crate::metrics::Metrics;
use crate::provisioning::approval::ApprovalGuard;
use crate::provisioning::groups::GroupSettings;
use crate::provisioning::modes::ModeState;
use crate::scim::cursor::CursorKey;

pub struct AppState {
    pub pool: DbPool,
    /// The deprovisioning mode in force.
    pub modes: ModeState,
    /// Turns on member approval at an org's first request, when opted in.
    pub approval: ApprovalGuard,
    /// The SCIM base URL locations are built from; `None`: derived from each request.
    pub public_url: Option<Url>,
    /// The owner group and how PATCH /Groups answers.
    pub groups: GroupSettings,
    /// Signs and checks list cursors.
    pub cursors: CursorKey,
    /// `server.read_only`: writes are answered 503.
    pub read_only: bool,
    /// This server's recorder; `None` when `metrics.listen` is `off`.
    pub metrics: Option<Arc<Metrics>>,
}
