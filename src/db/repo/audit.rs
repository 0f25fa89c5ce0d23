//! `"Audit"` rows, as the app's audit log reads them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::db::schema::audits;

/// Who the app's audit log shows as the actor of SCIM changes.
pub const ACTOR_ID: &str = "scim";
pub const ACTOR_TYPE: &str = "scim_token";
pub const TARGET_TYPE: &str = "user";
pub const ORG_TARGET_TYPE: &str = "org";

/// Written in `"Audit"."sourcebotVersion"`.
pub const SOURCE_VERSION: &str = concat!("scim-sidecar ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    MemberAdded,
    MemberDeactivated,
    MemberReactivated,
    MemberRemoved,
    UserUpdated,
    /// The service turned on the org's member approval (`provisioning.require_member_approval`).
    MemberApprovalEnabled,
    /// A member's role followed the owner group (`provisioning.owner_group`).
    MemberRoleChanged,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::MemberAdded => "org.member_added",
            AuditAction::MemberDeactivated => "org.member_deactivated",
            AuditAction::MemberReactivated => "org.member_reactivated",
            AuditAction::MemberRemoved => "org.member_removed",
            AuditAction::UserUpdated => "user.updated",
            AuditAction::MemberApprovalEnabled => "org.member_approval_enabled",
            AuditAction::MemberRoleChanged => "org.member_role_changed",
        }
    }
}

/// An audit row about a user of the org.
pub async fn record(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    action: AuditAction,
    user_id: &str,
    metadata: Value,
    now: NaiveDateTime,
) -> QueryResult<()> {
    insert(conn, org_id, action, (user_id, TARGET_TYPE), metadata, now).await
}

/// An audit row about the org itself.
pub async fn record_for_org(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    action: AuditAction,
    metadata: Value,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let target = org_id.to_string();
    insert(
        conn,
        org_id,
        action,
        (&target, ORG_TARGET_TYPE),
        metadata,
        now,
    )
    .await
}

async fn insert(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    action: AuditAction,
    (target_id, target_type): (&str, &str),
    metadata: Value,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(audits::table)
        .values((
            audits::id.eq(uuid::Uuid::new_v4().to_string()),
            audits::timestamp.eq(now),
            audits::action.eq(action.as_str()),
            audits::actor_id.eq(ACTOR_ID),
            audits::actor_type.eq(ACTOR_TYPE),
            audits::target_id.eq(target_id),
            audits::target_type.eq(target_type),
            audits::sourcebot_version.eq(SOURCE_VERSION),
            audits::metadata.eq(Some(metadata)),
            audits::org_id.eq(org_id),
        ))
        .execute(conn)
        .await
        .map(drop)
}
