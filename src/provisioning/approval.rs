//! `provisioning.require_member_approval`: beside an app that predates its own SCIM release, an
//! org that lets people join without approval would let a removed person back in by signing
//! in. Opted in, the service turns the org's member approval on at the org's first SCIM
//! request (once per org and process), with an audit row.

use std::collections::HashSet;
use std::sync::Mutex;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;

use super::{audit_metadata, now, Caller, DeprovisionMode};
use crate::db::repo::audit::{self, AuditAction};
use crate::db::repo::orgs;
use crate::error::ApiError;

pub struct ApprovalGuard {
    /// Opted in, and the app's `"Org"` has the setting.
    enabled: bool,
    done: Mutex<HashSet<i32>>,
}

impl ApprovalGuard {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            done: Mutex::new(HashSet::new()),
        }
    }

    fn is_done(&self, org_id: i32) -> bool {
        self.done.lock().is_ok_and(|done| done.contains(&org_id))
    }

    /// Turns the org's member approval on if it is off, in `remove` mode only (an app with its
    /// own SCIM release stops the joining itself).
    pub async fn ensure(
        &self,
        conn: &mut AsyncPgConnection,
        caller: Caller<'_>,
    ) -> Result<(), ApiError> {
        if !self.enabled || caller.mode != DeprovisionMode::Remove || self.is_done(caller.org_id) {
            return Ok(());
        }
        conn.transaction(async |conn| {
            let now = now();
            if orgs::require_member_approval(conn, caller.org_id, now).await? {
                let metadata = audit_metadata(caller, json!({ "memberApprovalRequired": true }));
                audit::record_for_org(
                    conn,
                    caller.org_id,
                    AuditAction::MemberApprovalEnabled,
                    metadata,
                    now,
                )
                .await?;
                tracing::info!(
                    org.id = caller.org_id,
                    "member approval turned on, so that people removed by SCIM cannot rejoin by signing in"
                );
            }
            Ok::<_, ApiError>(())
        })
        .await?;
        if let Ok(mut done) = self.done.lock() {
            done.insert(caller.org_id);
        }
        Ok(())
    }
}
