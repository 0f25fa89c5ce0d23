//! Membership writes, and the counts and uniqueness checks the lifecycle rules read.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::{org_members, OrgRole};
use crate::db::functions::{identity_key, identity_key_or_null};
use crate::db::schema::{member, user_profile, user_to_org, users};

pub async fn insert_membership(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    active: bool,
    external_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(user_to_org::table)
        .values((
            user_to_org::org_id.eq(org_id),
            user_to_org::user_id.eq(user_id),
            user_to_org::joined_at.eq(now),
            user_to_org::is_active.eq(active),
            user_to_org::scim_external_id.eq(external_id),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn update_membership(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    active: bool,
    external_id: Option<&str>,
) -> QueryResult<()> {
    diesel::update(user_to_org::table.find((org_id, user_id)))
        .set((
            user_to_org::is_active.eq(active),
            user_to_org::scim_external_id.eq(external_id),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// What the service keeps about a membership beside the app's columns.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    /// userName as the IdP sent it.
    pub user_name: &'a str,
    /// The stored SCIM attributes (an object), `emails` included.
    pub attributes: &'a Value,
    /// Set when DELETE hid the membership.
    pub hidden_at: Option<NaiveDateTime>,
}

/// Writes the service's record of a membership (replacing any stale one).
pub async fn save_profile(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    profile: Profile<'_>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(user_profile::table)
        .values((
            user_profile::org_id.eq(org_id),
            user_profile::user_id.eq(user_id),
            user_profile::user_name.eq(profile.user_name),
            user_profile::attributes.eq(profile.attributes),
            user_profile::hidden_at.eq(profile.hidden_at),
            user_profile::created_at.eq(now),
            user_profile::updated_at.eq(now),
        ))
        .on_conflict((user_profile::org_id, user_profile::user_id))
        .do_update()
        .set((
            user_profile::user_name.eq(profile.user_name),
            user_profile::attributes.eq(profile.attributes),
            user_profile::hidden_at.eq(profile.hidden_at),
            user_profile::updated_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The membership of the org whose externalId is `external_id`: visible, inactive, removed or
/// hidden.
pub async fn find_by_external_id(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    external_id: &str,
) -> QueryResult<Option<String>> {
    member::table
        .filter(member::org_id.eq(org_id))
        .filter(member::external_id.eq(external_id))
        .select(member::user_id)
        .limit(1)
        .get_result(conn)
        .await
        .optional()
}

/// Another membership of the org (hidden ones included: a DELETEd member keeps its externalId
/// so that the IdP finds it again) already carries this externalId.
pub async fn external_id_taken(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    external_id: &str,
    except_user: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        member::table
            .filter(member::org_id.eq(org_id))
            .filter(member::external_id.eq(external_id))
            .filter(member::user_id.ne(except_user)),
    ))
    .get_result(conn)
    .await
}

/// Another visible member of the org (than `except_user`) answers this userName: a stored one,
/// or the address of a member the app created.
pub async fn user_name_taken(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_name: &str,
    except_user: &str,
) -> QueryResult<bool> {
    let stored = diesel::select(diesel::dsl::exists(
        user_profile::table
            .filter(user_profile::org_id.eq(org_id))
            .filter(user_profile::hidden_at.is_null())
            .filter(
                identity_key_or_null(user_profile::user_name)
                    .eq(identity_key(user_name.to_owned()).nullable()),
            )
            .filter(user_profile::user_id.ne(except_user)),
    ))
    .get_result::<bool>(conn)
    .await?;
    if stored {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        org_members!(org_id)
            .filter(member::user_name.is_null())
            .filter(
                identity_key_or_null(users::email)
                    .eq(identity_key(user_name.to_owned()).nullable()),
            )
            .filter(member::user_id.ne(except_user)),
    ))
    .get_result(conn)
    .await
}

/// What a removed membership's `"UserToOrg"` row held.
#[derive(Debug, Clone, Copy)]
pub struct Kept<'a> {
    pub role: OrgRole,
    pub joined_at: NaiveDateTime,
    pub external_id: Option<&'a str>,
}

/// `remove` mode: keeps what the membership's row holds in the service's profile (written as
/// `profile` when the membership has none yet), then deletes the `"UserToOrg"` row, so that an
/// app that ignores `isActive` no longer counts the person as a member.
pub async fn remove_membership(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    kept: Kept<'_>,
    profile: Profile<'_>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(user_profile::table)
        .values((
            user_profile::org_id.eq(org_id),
            user_profile::user_id.eq(user_id),
            user_profile::user_name.eq(profile.user_name),
            user_profile::attributes.eq(profile.attributes),
            user_profile::hidden_at.eq(profile.hidden_at),
            user_profile::created_at.eq(now),
            user_profile::updated_at.eq(now),
            user_profile::removed_at.eq(now),
            user_profile::kept_role.eq(kept.role.label()),
            user_profile::kept_joined_at.eq(kept.joined_at),
            user_profile::kept_external_id.eq(kept.external_id),
        ))
        .on_conflict((user_profile::org_id, user_profile::user_id))
        .do_update()
        .set((
            user_profile::removed_at.eq(now),
            user_profile::kept_role.eq(kept.role.label()),
            user_profile::kept_joined_at.eq(kept.joined_at),
            user_profile::kept_external_id.eq(kept.external_id),
        ))
        .execute(conn)
        .await?;
    diesel::delete(user_to_org::table.find((org_id, user_id)))
        .execute(conn)
        .await
        .map(drop)
}

/// Gives a removed membership its `"UserToOrg"` row back, with the kept role and joinedAt.
pub async fn restore_membership(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    kept: Kept<'_>,
    active: bool,
) -> QueryResult<()> {
    let role = match kept.role {
        OrgRole::Other => OrgRole::Member,
        role => role,
    };
    diesel::insert_into(user_to_org::table)
        .values((
            user_to_org::org_id.eq(org_id),
            user_to_org::user_id.eq(user_id),
            user_to_org::joined_at.eq(kept.joined_at),
            user_to_org::role.eq(role),
            user_to_org::is_active.eq(active),
            user_to_org::scim_external_id.eq(kept.external_id),
        ))
        .execute(conn)
        .await?;
    diesel::update(user_profile::table.find((org_id, user_id)))
        .set((
            user_profile::removed_at.eq(None::<NaiveDateTime>),
            user_profile::kept_role.eq(None::<String>),
            user_profile::kept_joined_at.eq(None::<NaiveDateTime>),
            user_profile::kept_external_id.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A removed membership's externalId.
pub async fn set_kept_external_id(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    external_id: Option<&str>,
) -> QueryResult<()> {
    diesel::update(user_profile::table.find((org_id, user_id)))
        .set(user_profile::kept_external_id.eq(external_id))
        .execute(conn)
        .await
        .map(drop)
}

/// The org's active members other than `user_id`.
pub async fn count_other_active(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<i64> {
    user_to_org::table
        .filter(user_to_org::org_id.eq(org_id))
        .filter(user_to_org::is_active.eq(true))
        .filter(user_to_org::user_id.ne(user_id))
        .count()
        .get_result(conn)
        .await
}

/// Counts the org's other active owners, key-share-locking them so that the app cannot remove
/// them while a deprovision relies on them. A key-share lock does not conflict with the
/// membership locks other writers hold, so it cannot close a deadlock cycle.
pub async fn lock_other_active_owners(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<usize> {
    user_to_org::table
        .filter(user_to_org::org_id.eq(org_id))
        .filter(user_to_org::user_id.ne(user_id))
        .filter(user_to_org::is_active.eq(true))
        .filter(user_to_org::role.eq(OrgRole::Owner))
        .select(user_to_org::user_id)
        .for_key_share()
        .load::<String>(conn)
        .await
        .map(|owners| owners.len())
}

/// Whether the user is an active member of any org other than `org_id`.
pub async fn is_active_elsewhere(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        user_to_org::table
            .filter(user_to_org::user_id.eq(user_id))
            .filter(user_to_org::org_id.ne(org_id))
            .filter(user_to_org::is_active.eq(true)),
    ))
    .get_result(conn)
    .await
}

/// Distinct active users of the whole deployment other than `user_id`.
pub async fn count_other_active_users(
    conn: &mut AsyncPgConnection,
    user_id: &str,
) -> QueryResult<i64> {
    user_to_org::table
        .filter(user_to_org::is_active.eq(true))
        .filter(user_to_org::user_id.ne(user_id))
        .select(diesel::dsl::count(user_to_org::user_id).aggregate_distinct())
        .get_result(conn)
        .await
}
