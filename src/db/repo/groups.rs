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
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Bool, Nullable, Text, Uuid as SqlUuid};
use diesel::BoxableExpression;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::members::{hand_written_expression, write_comparison, write_presence};
use super::members::{CompareValue, Op, OrgRole};
use crate::db::functions::{coalesce_text, identity_key, known};
use crate::db::schema::{group_member, groups, member, user_profile, user_to_org, users};

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

/// Whether the user is in the group (shown or not).
pub async fn has_member(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    group: GroupId,
    user_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        group_member::table.find((org_id, group, user_id)),
    ))
    .get_result(conn)
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

/// A singular value of a group, for filters and sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Id,
    DisplayName,
    ExternalId,
    Created,
    LastModified,
}

/// What a list of groups may be filtered on.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupFilter {
    /// `displayName eq`: on the uniqueness index, in the identity sense.
    DisplayName(String),
    /// `externalId eq`: on its index, as written.
    ExternalId(String),
    Id(GroupId),
    /// Any other comparison (see `members::generic`).
    Compare {
        field: GroupField,
        op: Op,
        value: CompareValue,
    },
    /// Has a non-empty value.
    Present(GroupField),
    /// The user is a member answers show.
    Member(String),
    /// Some member answers show.
    HasMembers,
    Constant(bool),
    And(Box<GroupFilter>, Box<GroupFilter>),
    Or(Box<GroupFilter>, Box<GroupFilter>),
    Not(Box<GroupFilter>),
}

/// A condition on a group row; NULL means unknown and is never true.
pub type GroupCondition = Box<dyn BoxableExpression<groups::table, Pg, SqlType = Nullable<Bool>>>;

impl GroupFilter {
    /// The SQL condition; `org_id` scopes the member lookups.
    pub fn compile(&self, org_id: i32) -> GroupCondition {
        match self {
            GroupFilter::DisplayName(name) => Box::new(
                identity_key(groups::display_name)
                    .eq(identity_key(name.clone()))
                    .nullable(),
            ),
            GroupFilter::ExternalId(id) => Box::new(groups::external_id.eq(id.clone())),
            GroupFilter::Id(id) => Box::new(groups::id.eq(*id).nullable()),
            GroupFilter::Compare { field, op, value } => Box::new(FieldCondition::Compare {
                field: *field,
                op: *op,
                value: value.clone(),
            }),
            GroupFilter::Present(field) => Box::new(FieldCondition::Present(*field)),
            GroupFilter::Member(user_id) => Box::new(
                groups::id
                    .eq_any(
                        group_member::table
                            .inner_join(
                                member::table.on(member::org_id
                                    .eq(group_member::org_id)
                                    .and(member::user_id.eq(group_member::user_id))),
                            )
                            .filter(group_member::org_id.eq(org_id))
                            .filter(group_member::user_id.eq(user_id.clone()))
                            .filter(member::is_active.eq(true))
                            .filter(member::hidden_at.is_null())
                            .select(group_member::group_id),
                    )
                    .nullable(),
            ),
            GroupFilter::HasMembers => Box::new(
                groups::id
                    .eq_any(
                        group_member::table
                            .inner_join(
                                member::table.on(member::org_id
                                    .eq(group_member::org_id)
                                    .and(member::user_id.eq(group_member::user_id))),
                            )
                            .filter(group_member::org_id.eq(org_id))
                            .filter(member::is_active.eq(true))
                            .filter(member::hidden_at.is_null())
                            .select(group_member::group_id),
                    )
                    .nullable(),
            ),
            GroupFilter::Constant(value) => Box::new((*value).into_sql::<Bool>().nullable()),
            GroupFilter::And(a, b) => Box::new(a.compile(org_id).and(b.compile(org_id))),
            GroupFilter::Or(a, b) => Box::new(a.compile(org_id).or(b.compile(org_id))),
            // A comparison with a missing attribute is unknown; its negation must be true.
            GroupFilter::Not(inner) => Box::new(not(known(inner.compile(org_id), false))),
        }
    }
}

/// A comparison or presence test on a column of the group, written by the same SQL writers as
/// the member filters, so both resources compare alike (case, code-point order, instants).
#[derive(Debug, Clone, PartialEq)]
enum FieldCondition {
    Compare {
        field: GroupField,
        op: Op,
        value: CompareValue,
    },
    Present(GroupField),
}

hand_written_expression!(FieldCondition, Nullable<Bool>);

impl QueryFragment<Pg> for FieldCondition {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            FieldCondition::Compare { field, op, value } => {
                write_comparison(out.reborrow(), |out| field_sql(out, *field), *op, value)
            }
            FieldCondition::Present(field) => {
                write_presence(out.reborrow(), |out| field_sql(out, *field))
            }
        }
    }
}

fn field_sql(mut out: AstPass<'_, '_, Pg>, field: GroupField) -> QueryResult<()> {
    match field {
        GroupField::Id => {
            out.push_sql("(");
            groups::id.walk_ast(out.reborrow())?;
            out.push_sql("::text)");
            Ok(())
        }
        GroupField::DisplayName => groups::display_name.walk_ast(out.reborrow()),
        GroupField::ExternalId => groups::external_id.walk_ast(out.reborrow()),
        GroupField::Created => groups::created_at.walk_ast(out.reborrow()),
        GroupField::LastModified => groups::updated_at.walk_ast(out.reborrow()),
    }
}

/// `ORDER BY` term of a group list: strings without regard to case (but `id` and
/// `externalId`, which are case-exact) in code-point order; missing values last ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSort {
    pub field: GroupField,
    pub descending: bool,
}

hand_written_expression!(GroupSort, Nullable<Text>);

impl QueryFragment<Pg> for GroupSort {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let text = !matches!(self.field, GroupField::Created | GroupField::LastModified);
        let fold = self.field == GroupField::DisplayName;
        if fold {
            out.push_sql("lower(");
        }
        field_sql(out.reborrow(), self.field)?;
        if fold {
            out.push_sql(")");
        }
        if text {
            out.push_sql(" COLLATE \"C\"");
        }
        if self.descending {
            out.push_sql(" DESC");
        }
        Ok(())
    }
}

/// A page of the org's groups matching `filter`, ordered by `sort` then id, and the total.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    filter: Option<&GroupFilter>,
    sort: Option<GroupSort>,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<GroupRow>)> {
    if limit > 0 {
        let mut page = groups::table
            .filter(groups::org_id.eq(org_id))
            .select((group_columns!(), diesel::dsl::count_star().over()))
            .limit(limit)
            .offset(offset)
            .into_boxed();
        page = match sort {
            Some(sort) => page.order((sort, groups::id.asc())),
            None => page.order(groups::id.asc()),
        };
        if let Some(filter) = filter {
            page = page.filter(filter.compile(org_id));
        }
        let rows: Vec<(GroupRow, i64)> = page.load(conn).await?;
        if let Some((_, total)) = <[(GroupRow, i64)]>::first(&rows) {
            let total = *total;
            return Ok((total, rows.into_iter().map(|(row, _)| row).collect()));
        }
        if offset == 0 {
            return Ok((0, Vec::new()));
        }
    }
    let mut count = groups::table
        .filter(groups::org_id.eq(org_id))
        .select(diesel::dsl::count_star())
        .into_boxed();
    if let Some(filter) = filter {
        count = count.filter(filter.compile(org_id));
    }
    Ok((count.get_result(conn).await?, Vec::new()))
}
