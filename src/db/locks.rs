//! Every advisory lock the service takes, and its namespace. Namespaces are this service's
//! constants (`0x5c1a_....`), so they never collide with locks the app may take.
//!
//! Order, to stay free of deadlocks; a writer takes what it needs of these, in this order:
//! 1. the org's membership lock ([`lock_org_memberships`]), only when the write decides an
//!    org-wide rule (see `provisioning::rules::needs_org_lock`), and by creates, DELETEs and
//!    group writes (which then lock group rows before members' rows);
//! 2. the person's `"UserToOrg"` rows in every org, in org order, in one statement
//!    (`members::lock_memberships`);
//! 3. the org's other active owners, key-share (a deprovisioning owner, under 1): a key-share
//!    lock does not conflict with the row locks writers hold, so it cannot close a cycle;
//! 4. the seat ledger's row of the licence's scope (`members::take_counted_seat` or
//!    `members::count_seats`), last, just before the commit: its holder waits for nothing else.
//!
//! A write that learns only after step 2 that it needs step 1 never waits for the org's lock
//! while holding rows: it ends its transaction, having written nothing, and starts again with
//! the org's lock first.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::functions::pg_advisory_xact_lock;

/// (this, org id): serialises the creation of tokens of one org, whose names are unique per
/// org although the app's table has no constraint that says so.
const TOKEN_NAMES: i32 = 0x5c1a_0001;

/// (this, org id): serialises this service's writes that decide an org-wide rule (the last
/// active owner, a new person's userName, externalId and address, a change of userName or
/// externalId) so that two SCIM requests never both pass the same check. The app's own writers do not take it: rows they
/// could change concurrently are locked explicitly where a rule reads them.
const ORG_MEMBERSHIP: i32 = 0x5c1a_0002;

// 0x5c1a_0003 serialised seat counting until the seat ledger's row lock took its place; not
// reused, so that a replica of an older version never shares a key with a newer one.

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
