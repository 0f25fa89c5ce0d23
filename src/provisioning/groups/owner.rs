//! The owner group: the app's OWNER role follows membership of the group named by
//! `provisioning.owner_group` (see the parent module's comment for the last-owner rule).

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::super::{audit_metadata, Caller};
use crate::db::repo::audit::{self, AuditAction};
use crate::db::repo::groups::{self as repo, GroupId};
use crate::error::ApiError;

/// The users a request added or removed, each once.
#[derive(Default)]
pub(super) struct Touched {
    pub(super) users: Vec<String>,
    seen: HashSet<String>,
}

impl Touched {
    pub(super) fn extend(&mut self, users: Vec<String>) {
        for user in users {
            if self.seen.insert(user.clone()) {
                self.users.push(user);
            }
        }
    }
}

/// Roles after a change of the group: `owner` says whether it was, and is, the owner group.
pub(super) async fn follow_owner_group(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    id: GroupId,
    owner: (bool, bool),
    touched: &[String],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    match owner {
        (false, false) => {}
        (true, true) => {
            if touched.is_empty() {
                return Ok(());
            }
            let stayed = repo::members_among(conn, caller.org_id, id, touched).await?;
            let left: Vec<String> = touched
                .iter()
                .filter(|user| !stayed.contains(user))
                .cloned()
                .collect();
            promote(conn, caller, id, &stayed, now).await?;
            demote(conn, caller, id, &left, now).await?;
        }
        (false, true) => {
            let members = repo::member_ids(conn, caller.org_id, id).await?;
            promote(conn, caller, id, &members, now).await?;
        }
        (true, false) => {
            let mut users = repo::member_ids(conn, caller.org_id, id).await?;
            let present: HashSet<String> = users.iter().cloned().collect();
            users.extend(touched.iter().filter(|u| !present.contains(*u)).cloned());
            demote(conn, caller, id, &users, now).await?;
        }
    }
    Ok(())
}

pub(super) async fn promote(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    group: GroupId,
    users: &[String],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let changed = repo::promote(conn, caller.org_id, users).await?;
    audit_roles(conn, caller, group, &changed, "OWNER", now).await
}

/// Demotes `users` to MEMBER, except the org's last active owner (see the module's comment).
pub(super) async fn demote(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    group: GroupId,
    users: &[String],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let mut users = users.to_vec();
    let owners = repo::active_owners_among(conn, caller.org_id, &users).await?;
    if let Some(keep) = owners.first() {
        if repo::lock_active_owners_except(conn, caller.org_id, &users).await? == 0 {
            tracing::warn!(
                org.id = caller.org_id,
                user.id = %keep,
                "a member left the owner group but stays OWNER: it is the organization's last active owner"
            );
            users.retain(|user| user != keep);
        }
    }
    let changed = repo::demote(conn, caller.org_id, &users).await?;
    audit_roles(conn, caller, group, &changed, "MEMBER", now).await
}

async fn audit_roles(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    group: GroupId,
    users: &[String],
    role: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    for user in users {
        let metadata = audit_metadata(
            caller,
            json!({ "role": role, "groupId": group.to_string() }),
        );
        audit::record(
            conn,
            caller.org_id,
            AuditAction::MemberRoleChanged,
            user,
            metadata,
            now,
        )
        .await?;
        crate::metrics::membership_changed(
            caller.org_id,
            caller.token_name,
            AuditAction::MemberRoleChanged,
            user,
        );
    }
    Ok(())
}

/// Whether `name` is the configured owner group's, decided in SQL like displayName uniqueness.
pub(super) async fn is_owner_group(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    name: &str,
) -> Result<bool, ApiError> {
    match caller.owner_group {
        Some(owner) => Ok(repo::same_name(conn, owner, name).await?),
        None => Ok(false),
    }
}
