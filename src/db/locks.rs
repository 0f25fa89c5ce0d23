//! Every advisory lock the service takes, and its namespace. Namespaces are this service's
//! constants (`0x5c1a_....`), so they never collide with locks the app may take.
//!
//! Order, to stay free of deadlocks: the org's membership lock, then the deployment's seat
//! lock, then row locks (a person's memberships in org order).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::functions::pg_advisory_xact_lock;

/// (this, org id): serialises the creation of tokens of one org, whose names are unique per
/// org although the app's table has no constraint that says so.
const TOKEN_NAMES: i32 = 0x5c1a_0001;

/// (this, org id): serialises this service's writes that decide an org-wide rule (the seat cap,
/// the last active owner, a new person's userName, externalId and address) so that two SCIM
/// requests never both pass the same check. The app's own writers do not take it: rows they
/// could change concurrently are locked explicitly where a rule reads them.
const ORG_MEMBERSHIP: i32 = 0x5c1a_0002;

/// (this, 0): serialises seat counting across all orgs (a deployment-wide licence).
const DEPLOYMENT_SEATS: i32 = 0x5c1a_0003;

/// (this, 0): serialises conversions of deprovisioned memberships between modes.
const MODE_CONVERSION: i32 = 0x5c1a_0004;

/// Session-level lock of concurrent `migrate` runs (several replicas starting at once); taken
/// by the migration runner with its own two keys.
pub const MIGRATION: (i32, i32) = (0x5c1a_5c1a, 1);

/// Serialises token creation in the org until the transaction ends.
pub async fn lock_token_names(conn: &mut AsyncPgConnection, org_id: i32) -> QueryResult<()> {
    transaction_lock(conn, TOKEN_NAMES, org_id).await
}

/// Serialises this service's org-wide membership decisions until the transaction ends.
pub async fn lock_org_memberships(conn: &mut AsyncPgConnection, org_id: i32) -> QueryResult<()> {
    transaction_lock(conn, ORG_MEMBERSHIP, org_id).await
}

/// Serialises seat counting across all orgs until the transaction ends. Always taken after
/// the org's lock.
pub async fn lock_deployment_seats(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    transaction_lock(conn, DEPLOYMENT_SEATS, 0).await
}

/// Serialises mode conversions (several replicas starting at once) until the transaction ends.
pub async fn lock_mode_conversion(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    transaction_lock(conn, MODE_CONVERSION, 0).await
}

/// A transaction-scoped advisory lock `(namespace, key)`: released at commit or rollback.
async fn transaction_lock(
    conn: &mut AsyncPgConnection,
    namespace: i32,
    key: i32,
) -> QueryResult<()> {
    diesel::select(pg_advisory_xact_lock(namespace, key).is_null())
        .get_result::<bool>(conn)
        .await
        .map(drop)
}
