//! SCIM Groups of one org and their members, kept in the service's own schema
//! (migrations/…_groups). Every function is scoped to one org. Member changes are set
//! operations in SQL (`INSERT … SELECT`, `DELETE … = ANY`): a group's member list is never read
//! in order to be written back.

use std::io::Write;

use chrono::NaiveDateTime;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::dsl::not;
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Uuid as SqlUuid;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::functions::{coalesce_text, identity_key};
use crate::db::schema::{group_member, groups, member, users};

/// A group's id: a UUID, stored as PostgreSQL's `uuid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = SqlUuid)]
pub struct GroupId(pub uuid::Uuid);

impl GroupId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// The id in a path or a filter; anything that is not a UUID names no group.
    pub fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::parse_str(text.trim()).ok().map(Self)
    }
}

impl Default for GroupId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

// PostgreSQL's binary `uuid` is the 16 bytes in order; diesel's own impls need its `uuid`
// feature, which would add nothing else.
impl ToSql<SqlUuid, Pg> for GroupId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<SqlUuid, Pg> for GroupId {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(uuid::Uuid::from_slice(bytes.as_bytes())?))
    }
}

/// A group, without its members.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct GroupRow {
    pub id: GroupId,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Bumped by every change of the group or its members.
    pub version: i64,
}

macro_rules! group_columns {
    () => {
        (
            groups::id,
            groups::display_name,
            groups::external_id,
            groups::created_at,
            groups::updated_at,
            groups::version,
        )
    };
}

mod filter;
mod roles;

pub use filter::{list, GroupCondition, GroupField, GroupFilter, GroupSort};
pub use roles::{active_owners_among, demote, lock_active_owners_except, promote};

/// One member of a group as answers show it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct MemberRef {
    pub group_id: GroupId,
    pub user_id: String,
    /// The member's display name: the one its IdP sent, else the app's.
    pub display: Option<String>,
}

/// One group of a user, for the User's `groups` attribute.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct UserGroup {
    pub user_id: String,
    pub group_id: GroupId,
    pub display_name: String,
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    id: GroupId,
    display_name: &str,
    external_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(groups::table)
        .values((
            groups::org_id.eq(org_id),
            groups::id.eq(id),
            groups::display_name.eq(display_name),
            groups::external_id.eq(external_id),
            groups::created_at.eq(now),
            groups::updated_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    id: GroupId,
) -> QueryResult<Option<GroupRow>> {
    groups::table
        .find((org_id, id))
        .select(group_columns!())
        .get_result(conn)
        .await
        .optional()
}

/// The group's row, locked until the transaction ends.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    id: GroupId,
) -> QueryResult<Option<GroupRow>> {
    groups::table
        .find((org_id, id))
        .select(group_columns!())
        .for_update()
        .get_result(conn)
        .await
        .optional()
}

/// The org's group whose displayName is `name` in the identity sense (case and Unicode form
/// ignored), on the uniqueness index.
pub async fn find_by_name(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    name: &str,
) -> QueryResult<Option<GroupRow>> {
    groups::table
        .filter(groups::org_id.eq(org_id))
        .filter(identity_key(groups::display_name).eq(identity_key(name.to_owned())))
        .select(group_columns!())
        .get_result(conn)
        .await
        .optional()
}

/// Whether `name` and `other` are one displayName (case and Unicode form ignored), decided
/// by the same SQL function as the uniqueness index.
pub async fn same_name(conn: &mut AsyncPgConnection, name: &str, other: &str) -> QueryResult<bool> {
    diesel::select(identity_key(name.to_owned()).eq(identity_key(other.to_owned())))
        .get_result(conn)
        .await
}

/// Sets the group's attributes and bumps its version.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    id: GroupId,
    display_name: &str,
    external_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(groups::table.find((org_id, id)))
        .set((
            groups::display_name.eq(display_name),
            groups::external_id.eq(external_id),
            groups::updated_at.eq(now),
            groups::version.eq(groups::version + 1),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Marks the groups as changed (their members changed): new version, new `lastModified`.
pub async fn touch(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    ids: &[GroupId],
    now: NaiveDateTime,
) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(
        groups::table
            .filter(groups::org_id.eq(org_id))
            .filter(groups::id.eq_any(ids)),
    )
    .set((
        groups::updated_at.eq(now),
        groups::version.eq(groups::version + 1),
    ))
    .execute(conn)
    .await
    .map(drop)
}

/// Deletes the group (its member rows go with it) and returns the users that were members.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    id: GroupId,
) -> QueryResult<Vec<String>> {
    let members = clear_members(conn, org_id, id).await?;
    diesel::delete(groups::table.find((org_id, id)))
        .execute(conn)
        .await?;
    Ok(members)
}

/// How many of `user_ids` (distinct) are not members of the org that SCIM shows: unknown,
/// another org's, or DELETEd. A deprovisioned (inactive) member counts as known.
pub async fn count_unknown_users(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
) -> QueryResult<usize> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let known: i64 = member::table
        .filter(member::org_id.eq(org_id))
        .filter(member::user_id.eq_any(user_ids))
        .filter(member::hidden_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    Ok(user_ids
        .len()
        .saturating_sub(usize::try_from(known).unwrap_or(0)))
}

/// Adds the users to the group (those already in it are left alone) and returns the ones
/// added. Only members of the org that SCIM shows are added: callers check the list first
/// with [`count_unknown_users`].
pub async fn add_members(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group: GroupId,
    user_ids: &[String],
) -> QueryResult<Vec<String>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = member::table
        .filter(member::org_id.eq(org_id))
        .filter(member::user_id.eq_any(user_ids))
        .filter(member::hidden_at.is_null())
        .select((member::org_id, group.into_sql::<SqlUuid>(), member::user_id));
    diesel::insert_into(group_member::table)
        .values(rows)
        .into_columns((
            group_member::org_id,
            group_member::group_id,
            group_member::user_id,
        ))
        .on_conflict_do_nothing()
        .returning(group_member::user_id)
        .get_results(conn)
        .await
}

/// Removes the users from the group; returns the ones that were in it.
pub async fn remove_members(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group: GroupId,
    user_ids: &[String],
) -> QueryResult<Vec<String>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::delete(
        group_member::table
            .filter(group_member::org_id.eq(org_id))
            .filter(group_member::group_id.eq(group))
            .filter(group_member::user_id.eq_any(user_ids)),
    )
    .returning(group_member::user_id)
    .get_results(conn)
    .await
}

/// Removes every member of the group but `keep`; returns the ones removed.
pub async fn retain_members(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group: GroupId,
    keep: &[String],
) -> QueryResult<Vec<String>> {
    diesel::delete(
        group_member::table
            .filter(group_member::org_id.eq(org_id))
            .filter(group_member::group_id.eq(group))
            .filter(not(group_member::user_id.eq_any(keep))),
    )
    .returning(group_member::user_id)
    .get_results(conn)
    .await
}

/// Removes every member of the group; returns them.
pub async fn clear_members(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group: GroupId,
) -> QueryResult<Vec<String>> {
    retain_members(conn, org_id, group, &[]).await
}

/// Of `user_ids`, those in the group (shown or not).
pub async fn members_among(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group: GroupId,
    user_ids: &[String],
) -> QueryResult<Vec<String>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    group_member::table
        .filter(group_member::org_id.eq(org_id))
        .filter(group_member::group_id.eq(group))
        .filter(group_member::user_id.eq_any(user_ids))
        .select(group_member::user_id)
        .load(conn)
        .await
}

/// Every user in the group (shown or not). Only for the rare whole-group role changes (the
/// owner group renamed); member changes never read the list.
pub async fn member_ids(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group: GroupId,
) -> QueryResult<Vec<String>> {
    group_member::table
        .filter(group_member::org_id.eq(org_id))
        .filter(group_member::group_id.eq(group))
        .select(group_member::user_id)
        .load(conn)
        .await
}

/// The members answers show (active, not DELETEd) of these groups, by group then user id; at
/// most `limit` rows in all.
pub async fn shown_members(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group_ids: &[GroupId],
    limit: i64,
) -> QueryResult<Vec<MemberRef>> {
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let display = coalesce_text(
        member::attributes.retrieve_as_text("displayName"),
        users::name,
    );
    group_member::table
        .inner_join(
            member::table.on(member::org_id
                .eq(group_member::org_id)
                .and(member::user_id.eq(group_member::user_id))),
        )
        .inner_join(users::table.on(users::id.eq(group_member::user_id)))
        .filter(group_member::org_id.eq(org_id))
        .filter(group_member::group_id.eq_any(group_ids))
        .filter(member::is_active.eq(true))
        .filter(member::hidden_at.is_null())
        .select((group_member::group_id, group_member::user_id, display))
        .order((group_member::group_id, group_member::user_id))
        .limit(limit)
        .load(conn)
        .await
}

/// The groups of these users (members of the org), by user then group name.
pub async fn groups_of_users(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
) -> QueryResult<Vec<UserGroup>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    group_member::table
        .inner_join(
            groups::table.on(groups::org_id
                .eq(group_member::org_id)
                .and(groups::id.eq(group_member::group_id))),
        )
        .filter(group_member::org_id.eq(org_id))
        .filter(group_member::user_id.eq_any(user_ids))
        .select((group_member::user_id, groups::id, groups::display_name))
        .order((group_member::user_id, groups::display_name, groups::id))
        .load(conn)
        .await
}

/// Takes the user out of every group of the org; returns the groups it was in.
pub async fn forget_user(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<Vec<GroupId>> {
    diesel::delete(
        group_member::table
            .filter(group_member::org_id.eq(org_id))
            .filter(group_member::user_id.eq(user_id)),
    )
    .returning(group_member::group_id)
    .get_results(conn)
    .await
}
