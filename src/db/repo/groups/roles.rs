//! The app's role of group members: the owner group's OWNER role, and the counts the
//! last-owner rule reads.

use diesel::dsl::not;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::repo::members::OrgRole;
use crate::db::schema::{user_profile, user_to_org};

/// Gives these members of the org the OWNER role, in the app's row or, for a membership
/// removed in `remove` mode, in the role kept for its return. Returns those whose role changed.
pub async fn promote(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
) -> QueryResult<Vec<String>> {
    set_role(conn, org_id, user_ids, OrgRole::Owner).await
}

/// Takes the OWNER role from these members (MEMBER instead). Returns those whose role changed.
/// The last-owner rule is the caller's.
pub async fn demote(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
) -> QueryResult<Vec<String>> {
    set_role(conn, org_id, user_ids, OrgRole::Member).await
}

async fn set_role(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
    role: OrgRole,
) -> QueryResult<Vec<String>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = user_to_org::table
        .filter(user_to_org::org_id.eq(org_id))
        .filter(user_to_org::user_id.eq_any(user_ids));
    let kept = user_profile::table
        .filter(user_profile::org_id.eq(org_id))
        .filter(user_profile::user_id.eq_any(user_ids))
        .filter(user_profile::removed_at.is_not_null());
    let owner = OrgRole::Owner.label();
    // Promotion lifts any other role (an older app's GUEST too); demotion only OWNER.
    let (mut changed, kept): (Vec<String>, Vec<String>) = if role == OrgRole::Owner {
        let changed = diesel::update(rows.filter(user_to_org::role.ne(OrgRole::Owner)))
            .set(user_to_org::role.eq(role))
            .returning(user_to_org::user_id)
            .get_results(conn)
            .await?;
        let kept = diesel::update(kept.filter(user_profile::kept_role.is_distinct_from(owner)))
            .set(user_profile::kept_role.eq(owner))
            .returning(user_profile::user_id)
            .get_results(conn)
            .await?;
        (changed, kept)
    } else {
        let changed = diesel::update(rows.filter(user_to_org::role.eq(OrgRole::Owner)))
            .set(user_to_org::role.eq(role))
            .returning(user_to_org::user_id)
            .get_results(conn)
            .await?;
        let kept = diesel::update(kept.filter(user_profile::kept_role.eq(owner)))
            .set(user_profile::kept_role.eq(role.label()))
            .returning(user_profile::user_id)
            .get_results(conn)
            .await?;
        (changed, kept)
    };
    changed.extend(kept);
    Ok(changed)
}

/// Of these users, the active owners of the org.
pub async fn active_owners_among(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
) -> QueryResult<Vec<String>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    user_to_org::table
        .filter(user_to_org::org_id.eq(org_id))
        .filter(user_to_org::user_id.eq_any(user_ids))
        .filter(user_to_org::is_active.eq(true))
        .filter(user_to_org::role.eq(OrgRole::Owner))
        .select(user_to_org::user_id)
        .order(user_to_org::user_id)
        .load(conn)
        .await
}

/// Counts the org's active owners other than `user_ids`, key-share-locking them so that the
/// app cannot remove them while a demotion relies on them (as the deprovisioning rule does).
pub async fn lock_active_owners_except(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
) -> QueryResult<usize> {
    user_to_org::table
        .filter(user_to_org::org_id.eq(org_id))
        .filter(not(user_to_org::user_id.eq_any(user_ids)))
        .filter(user_to_org::is_active.eq(true))
        .filter(user_to_org::role.eq(OrgRole::Owner))
        .select(user_to_org::user_id)
        .for_key_share()
        .load::<String>(conn)
        .await
        .map(|owners| owners.len())
}
