//! The Group lifecycle: create, replace, patch and delete a group of the org, each in one
//! transaction that first takes the org's membership lock (the one every User write takes), so
//! that displayName uniqueness and the last-owner rule are decided on a consistent view; and
//! reads, with SCIM filters translated into group filters.
//!
//! **Owner group.** When `provisioning.owner_group` names a group (its displayName, in the
//! identity sense), joining that group gives a member the OWNER role, and leaving it (removed,
//! the group deleted or renamed away, the user DELETEd) gives back MEMBER, each change with an
//! `"Audit"` row. The last active owner is never demoted: that one demotion is skipped and
//! logged, while the rest of the request applies. Refusing instead would fail a whole group
//! push (Entra and Okta send many members at once, and retry failures) over one member, and
//! the org keeps its owner either way.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;

use super::filter::{db_op, invalid_value, parse_time, unsupported};
use super::{audit_metadata, now, Caller};
use crate::db::locks;
use crate::db::repo::audit::{self, AuditAction};
use crate::db::repo::groups::{
    self as repo, GroupField, GroupFilter, GroupId, GroupRow, GroupSort,
};
use crate::db::repo::members::CompareValue;
use crate::error::ApiError;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::group::{GroupChange, GroupRecord, GroupWrite, GROUP_SCHEMA};
use crate::scim::query::ListRequest;
use crate::scim::user::etag_matches;
use crate::scim::{ScimError, ScimType};

/// Largest member list one group's answer carries. Past it, GET answers 400 `tooMany` (use
/// `excludedAttributes=members`, or `members[value eq "…"]` filters, which cost the same at
/// any size), PATCH answers 204 and POST/PUT answer the group without `members`.
pub const MAX_SHOWN_MEMBERS: i64 = 10_000;

/// Most member entries one list page carries in all; past it, 400 `tooMany` (ask for fewer
/// groups with `count`, or exclude `members`).
pub const MAX_SHOWN_MEMBERS_PER_PAGE: i64 = 50_000;

/// What the configuration says about groups.
#[derive(Debug, Clone, Default)]
pub struct GroupSettings {
    owner_group: Option<String>,
    patch_returns_body: bool,
}

impl GroupSettings {
    pub fn new(owner_group: Option<&str>, patch_returns_body: bool) -> Self {
        Self {
            owner_group: owner_group
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            patch_returns_body,
        }
    }

    pub fn owner_group(&self) -> Option<&str> {
        self.owner_group.as_deref()
    }

    pub fn patch_returns_body(&self) -> bool {
        self.patch_returns_body
    }
}

pub fn not_found() -> ApiError {
    ScimError::not_found("Group not found.").into()
}

fn parse_id(id: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(id).ok_or_else(not_found)
}

/// A group as answered, and whether its member list is complete (`false`: the group has more
/// than [`MAX_SHOWN_MEMBERS`] members shown, and `members` was left out).
pub struct Answer {
    pub group: GroupRecord,
    pub complete: bool,
}

fn record(row: &GroupRow, members: Option<Vec<(String, Option<String>)>>) -> GroupRecord {
    GroupRecord {
        id: row.id.to_string(),
        display_name: row.display_name.clone(),
        external_id: row.external_id.clone(),
        created: row.created_at,
        last_modified: row.updated_at,
        version: row.version,
        members,
    }
}

async fn answer(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    row: &GroupRow,
    with_members: bool,
) -> Result<Answer, ApiError> {
    if !with_members {
        return Ok(Answer {
            group: record(row, None),
            complete: true,
        });
    }
    let members = repo::shown_members(conn, org_id, &[row.id], MAX_SHOWN_MEMBERS + 1).await?;
    if members.len() as i64 > MAX_SHOWN_MEMBERS {
        return Ok(Answer {
            group: record(row, None),
            complete: false,
        });
    }
    let members = members
        .into_iter()
        .map(|m| (m.user_id, m.display))
        .collect();
    Ok(Answer {
        group: record(row, Some(members)),
        complete: true,
    })
}

fn too_many_members() -> ApiError {
    ScimError::bad_request(
        ScimType::TooMany,
        format!(
            "The group has more than {MAX_SHOWN_MEMBERS} members; ask with excludedAttributes=members, or filter on members[value eq \"…\"]."
        ),
    )
    .into()
}

/// GET /Groups/{id}.
pub async fn get(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    id: &str,
    with_members: bool,
) -> Result<GroupRecord, ApiError> {
    let id = parse_id(id)?;
    let row = repo::find(conn, org_id, id).await?.ok_or_else(not_found)?;
    let answer = answer(conn, org_id, &row, with_members).await?;
    if !answer.complete {
        return Err(too_many_members());
    }
    Ok(answer.group)
}

/// A page of the org's groups as the request asks, and the total. Members are loaded for the
/// whole page in one statement, and only when the answer carries them.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    request: &ListRequest,
    with_members: bool,
) -> Result<(i64, Vec<GroupRecord>), ApiError> {
    let filter = request.filter.as_ref().map(group_filter).transpose()?;
    let sort = request
        .sort_by
        .as_ref()
        .map(|path| {
            sort_field(path).map(|field| GroupSort {
                field,
                descending: request.descending,
            })
        })
        .transpose()?;
    let page = request.page;
    let (total, rows) = repo::list(
        conn,
        org_id,
        filter.as_ref(),
        sort,
        page.offset(),
        page.count,
    )
    .await?;
    if !with_members {
        return Ok((total, rows.iter().map(|row| record(row, None)).collect()));
    }
    let ids: Vec<GroupId> = rows.iter().map(|row| row.id).collect();
    let members = repo::shown_members(conn, org_id, &ids, MAX_SHOWN_MEMBERS_PER_PAGE + 1).await?;
    if members.len() as i64 > MAX_SHOWN_MEMBERS_PER_PAGE {
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!(
                "This page's groups have more than {MAX_SHOWN_MEMBERS_PER_PAGE} members in all; ask for fewer groups (count) or with excludedAttributes=members."
            ),
        )
        .into());
    }
    let mut by_group: HashMap<GroupId, Vec<(String, Option<String>)>> = HashMap::new();
    for member in members {
        by_group
            .entry(member.group_id)
            .or_default()
            .push((member.user_id, member.display));
    }
    let records: Vec<GroupRecord> = rows
        .iter()
        .map(|row| record(row, Some(by_group.remove(&row.id).unwrap_or_default())))
        .collect();
    if records.iter().any(|r| {
        r.members
            .as_ref()
            .is_some_and(|m| m.len() as i64 > MAX_SHOWN_MEMBERS)
    }) {
        return Err(too_many_members());
    }
    Ok((total, records))
}

/// The groups of each of these users (the User's read-only `groups`): `(group id,
/// displayName)` by user id.
pub async fn groups_of(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_ids: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>, ApiError> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for row in repo::groups_of_users(conn, org_id, user_ids).await? {
        out.entry(row.user_id)
            .or_default()
            .push((row.group_id.to_string(), row.display_name));
    }
    Ok(out)
}

/// POST /Groups.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    write: GroupWrite,
    with_members: bool,
) -> Result<Answer, ApiError> {
    conn.transaction(async |conn| {
        locks::lock_org_memberships(conn, caller.org_id).await?;
        let id = GroupId::new();
        ensure_name_free(conn, caller, &write.display_name, id).await?;
        ensure_known(conn, caller, &write.members).await?;
        let now = now();
        let external_id = write.external_id.as_deref();
        repo::insert(
            conn,
            caller.org_id,
            id,
            &write.display_name,
            external_id,
            now,
        )
        .await?;
        let added = repo::add_members(conn, caller.org_id, id, &write.members).await?;
        if is_owner_group(conn, caller, &write.display_name).await? {
            promote(conn, caller, id, &added, now).await?;
        }
        let row = repo::find(conn, caller.org_id, id)
            .await?
            .ok_or_else(not_found)?;
        answer(conn, caller.org_id, &row, with_members).await
    })
    .await
}

/// PUT /Groups/{id}: the whole group, members included (absent `members` means none).
pub async fn replace(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    id: &str,
    write: GroupWrite,
    if_match: Option<&str>,
    with_members: bool,
) -> Result<Answer, ApiError> {
    let changes = vec![
        GroupChange::DisplayName(write.display_name),
        GroupChange::ExternalId(write.external_id),
        GroupChange::ReplaceMembers(write.members),
    ];
    patch(conn, caller, id, changes, if_match, with_members).await
}

/// PATCH /Groups/{id}: the changes in order, all or nothing.
pub async fn patch(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    id: &str,
    changes: Vec<GroupChange>,
    if_match: Option<&str>,
    with_members: bool,
) -> Result<Answer, ApiError> {
    let id = parse_id(id)?;
    conn.transaction(async |conn| {
        locks::lock_org_memberships(conn, caller.org_id).await?;
        let row = repo::lock(conn, caller.org_id, id)
            .await?
            .ok_or_else(not_found)?;
        check_precondition(&row, if_match)?;
        let was_owner = is_owner_group(conn, caller, &row.display_name).await?;
        let (mut name, mut external_id) = (row.display_name.clone(), row.external_id.clone());
        let mut renamed = false;
        let mut attributes_changed = false;
        let mut touched = Touched::default();
        for change in changes {
            match change {
                GroupChange::DisplayName(new) => {
                    if new != name {
                        ensure_name_free(conn, caller, &new, id).await?;
                        name = new;
                        renamed = true;
                        attributes_changed = true;
                    }
                }
                GroupChange::ExternalId(new) => {
                    if new != external_id {
                        external_id = new;
                        attributes_changed = true;
                    }
                }
                GroupChange::AddMembers(users) => {
                    ensure_known(conn, caller, &users).await?;
                    touched.extend(repo::add_members(conn, caller.org_id, id, &users).await?);
                }
                GroupChange::RemoveMembers(users) => {
                    touched.extend(repo::remove_members(conn, caller.org_id, id, &users).await?);
                }
                GroupChange::ReplaceMembers(users) => {
                    ensure_known(conn, caller, &users).await?;
                    touched.extend(repo::retain_members(conn, caller.org_id, id, &users).await?);
                    touched.extend(repo::add_members(conn, caller.org_id, id, &users).await?);
                }
                GroupChange::RemoveAllMembers => {
                    touched.extend(repo::clear_members(conn, caller.org_id, id).await?);
                }
            }
        }
        let now = now();
        if attributes_changed {
            let external_id = external_id.as_deref();
            repo::update(conn, caller.org_id, id, &name, external_id, now).await?;
        } else if !touched.users.is_empty() {
            repo::touch(conn, caller.org_id, &[id], now).await?;
        }
        let is_owner = if renamed {
            is_owner_group(conn, caller, &name).await?
        } else {
            was_owner
        };
        follow_owner_group(conn, caller, id, (was_owner, is_owner), &touched.users, now).await?;
        let row = repo::find(conn, caller.org_id, id)
            .await?
            .ok_or_else(not_found)?;
        answer(conn, caller.org_id, &row, with_members).await
    })
    .await
}

/// DELETE /Groups/{id}.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    id: &str,
    if_match: Option<&str>,
) -> Result<(), ApiError> {
    let id = parse_id(id)?;
    conn.transaction(async |conn| {
        locks::lock_org_memberships(conn, caller.org_id).await?;
        let row = repo::lock(conn, caller.org_id, id)
            .await?
            .ok_or_else(not_found)?;
        check_precondition(&row, if_match)?;
        let members = repo::delete(conn, caller.org_id, id).await?;
        if is_owner_group(conn, caller, &row.display_name).await? {
            demote(conn, caller, id, &members, now()).await?;
        }
        Ok(())
    })
    .await
}

/// A DELETEd user leaves every group of the org (in the caller's transaction, which holds the
/// org's lock), and the OWNER role with the owner group.
pub async fn forget_user(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let left = repo::forget_user(conn, caller.org_id, user_id).await?;
    if left.is_empty() {
        return Ok(());
    }
    repo::touch(conn, caller.org_id, &left, now).await?;
    if let Some(owner_group) = caller.owner_group {
        if let Some(group) = repo::find_by_name(conn, caller.org_id, owner_group).await? {
            if left.contains(&group.id) {
                demote(conn, caller, group.id, &[user_id.to_owned()], now).await?;
            }
        }
    }
    Ok(())
}

/// The users a request added or removed, each once.
#[derive(Default)]
struct Touched {
    users: Vec<String>,
    seen: HashSet<String>,
}

impl Touched {
    fn extend(&mut self, users: Vec<String>) {
        for user in users {
            if self.seen.insert(user.clone()) {
                self.users.push(user);
            }
        }
    }
}

/// Roles after a change of the group: `owner` says whether it was, and is, the owner group.
async fn follow_owner_group(
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

async fn promote(
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
async fn demote(
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
    }
    Ok(())
}

/// Whether `name` is the configured owner group's, decided in SQL like displayName uniqueness.
async fn is_owner_group(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    name: &str,
) -> Result<bool, ApiError> {
    match caller.owner_group {
        Some(owner) => Ok(repo::same_name(conn, owner, name).await?),
        None => Ok(false),
    }
}

async fn ensure_name_free(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    name: &str,
    id: GroupId,
) -> Result<(), ApiError> {
    match repo::find_by_name(conn, caller.org_id, name).await? {
        Some(other) if other.id != id => Err(ScimError::conflict(
            "Another group of this organization already has this displayName.",
        )
        .into()),
        _ => Ok(()),
    }
}

/// Every user must be a member of the caller's org that SCIM shows; otherwise nothing changes.
async fn ensure_known(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    users: &[String],
) -> Result<(), ApiError> {
    let unknown = repo::count_unknown_users(conn, caller.org_id, users).await?;
    if unknown > 0 {
        let detail = format!(
            "{unknown} of the members sent name no User of this organization; nothing was changed."
        );
        return Err(ScimError::bad_request(ScimType::InvalidValue, detail).into());
    }
    Ok(())
}

fn check_precondition(row: &GroupRow, if_match: Option<&str>) -> Result<(), ApiError> {
    let current = record(row, None).etag();
    match if_match {
        Some(header) if !etag_matches(header, &current) => Err(ScimError::new(
            412,
            None,
            "The resource changed since it was read (If-Match).",
        )
        .into()),
        _ => Ok(()),
    }
}

/// Translates a filter on groups. `displayName`, `externalId`, `id`, `meta.created` and
/// `meta.lastModified` take every operator; `members` (`members.value`, `members[value …]`)
/// takes `eq` and `pr`. Anything else answers 400 `invalidFilter`.
pub fn group_filter(filter: &Filter) -> Result<GroupFilter, ScimError> {
    match filter {
        Filter::And(a, b) => Ok(GroupFilter::And(
            Box::new(group_filter(a)?),
            Box::new(group_filter(b)?),
        )),
        Filter::Or(a, b) => Ok(GroupFilter::Or(
            Box::new(group_filter(a)?),
            Box::new(group_filter(b)?),
        )),
        Filter::Not(inner) => Ok(GroupFilter::Not(Box::new(group_filter(inner)?))),
        Filter::Present(path) => match target(path)? {
            Target::Field(field) => Ok(GroupFilter::Present(field)),
            Target::Members => Ok(GroupFilter::HasMembers),
            Target::ResourceType => Ok(GroupFilter::Constant(true)),
        },
        Filter::Compare { path, op, value } => compare(path, *op, value),
        Filter::ValuePath { attr, filter } => {
            if !matches!(target(attr)?, Target::Members) || attr.sub_attr.is_some() {
                return Err(unsupported(&format!("{attr}[...]")));
            }
            member_elements(filter)
        }
    }
}

enum Target {
    Field(GroupField),
    /// `members` or `members.value`.
    Members,
    ResourceType,
}

fn target(path: &AttrPath) -> Result<Target, ScimError> {
    let unknown = || unsupported(&path.to_string());
    if path
        .urn
        .as_deref()
        .is_some_and(|urn| !urn.eq_ignore_ascii_case(GROUP_SCHEMA))
    {
        return Err(unknown());
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    Ok(match (name.as_str(), sub.as_deref()) {
        ("id", None) => Target::Field(GroupField::Id),
        ("displayname", None) => Target::Field(GroupField::DisplayName),
        ("externalid", None) => Target::Field(GroupField::ExternalId),
        ("meta", Some("created")) => Target::Field(GroupField::Created),
        ("meta", Some("lastmodified")) => Target::Field(GroupField::LastModified),
        ("meta", Some("resourcetype")) => Target::ResourceType,
        ("members", None | Some("value")) => Target::Members,
        _ => return Err(unknown()),
    })
}

fn compare(path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<GroupFilter, ScimError> {
    let text = || match value {
        CompValue::Str(text) => Ok(text.clone()),
        CompValue::Num(number) => Ok(number.to_string()),
        _ => Err(invalid_value(path)),
    };
    match target(path)? {
        Target::Members => match op {
            CompareOp::Eq => Ok(GroupFilter::Member(text()?)),
            _ => Err(unsupported(&format!("{path} {}", op.as_str()))),
        },
        Target::ResourceType => match (op, value) {
            (CompareOp::Eq, CompValue::Str(kind)) => {
                Ok(GroupFilter::Constant(kind.eq_ignore_ascii_case("Group")))
            }
            _ => Err(unsupported(&format!("{path} {}", op.as_str()))),
        },
        Target::Field(field @ (GroupField::Created | GroupField::LastModified)) => {
            let time = match value {
                CompValue::Str(text) => parse_time(text),
                _ => None,
            }
            .ok_or_else(|| {
                ScimError::bad_request(
                    ScimType::InvalidFilter,
                    format!("The value compared with {path} is not a date-time (RFC 3339)."),
                )
            })?;
            Ok(GroupFilter::Compare {
                field,
                op: db_op(op),
                value: CompareValue::Time(time),
            })
        }
        Target::Field(field) => {
            let text = text()?;
            if text.contains('\0') {
                return Err(ScimError::bad_request(
                    ScimType::InvalidFilter,
                    "The filter contains a NUL character.",
                ));
            }
            Ok(match (field, op) {
                (GroupField::DisplayName, CompareOp::Eq) => GroupFilter::DisplayName(text),
                (GroupField::ExternalId, CompareOp::Eq) => GroupFilter::ExternalId(text),
                (GroupField::Id, CompareOp::Eq) => match GroupId::parse(&text) {
                    Some(id) => GroupFilter::Id(id),
                    None => GroupFilter::Constant(false),
                },
                _ => GroupFilter::Compare {
                    field,
                    op: db_op(op),
                    value: CompareValue::Text {
                        text,
                        case_exact: field != GroupField::DisplayName,
                    },
                },
            })
        }
    }
}

/// The inside of `members[...]`: `value eq "…"` joined with `or`.
fn member_elements(filter: &Filter) -> Result<GroupFilter, ScimError> {
    match filter {
        Filter::Or(a, b) => Ok(GroupFilter::Or(
            Box::new(member_elements(a)?),
            Box::new(member_elements(b)?),
        )),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(id),
        } if path.is("value") => Ok(GroupFilter::Member(id.clone())),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(kind),
        } if path.is("type") => Ok(GroupFilter::Constant(kind.eq_ignore_ascii_case("User"))),
        _ => Err(unsupported("members[...] other than value eq")),
    }
}

fn sort_field(path: &AttrPath) -> Result<GroupField, ScimError> {
    match target(path) {
        Ok(Target::Field(field)) => Ok(field),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("sortBy: {path} is not a singular Group attribute."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    fn translate(text: &str) -> Result<GroupFilter, ScimError> {
        group_filter(&parse_filter(text).unwrap())
    }

    #[test]
    fn translates_the_filters_idps_send() {
        let id = "3f0c8a6e-9b1d-4f55-8d1e-0c9a6f2b7e11";
        let cases = [
            (
                "displayName eq \"Engineering\"".to_owned(),
                GroupFilter::DisplayName("Engineering".into()),
            ),
            (
                "externalId eq \"00g1\"".to_owned(),
                GroupFilter::ExternalId("00g1".into()),
            ),
            (
                format!("members[value eq \"{id}\"]"),
                GroupFilter::Member(id.into()),
            ),
            (
                format!("members.value eq \"{id}\""),
                GroupFilter::Member(id.into()),
            ),
            (
                format!("id eq \"{id}\" and members eq \"u1\""),
                GroupFilter::And(
                    Box::new(GroupFilter::Id(GroupId::parse(id).unwrap())),
                    Box::new(GroupFilter::Member("u1".into())),
                ),
            ),
            (
                "id eq \"not-a-uuid\"".to_owned(),
                GroupFilter::Constant(false),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(translate(&text).unwrap(), expected, "{text}");
        }
        for text in [
            "displayName co \"eng\"",
            "displayName sw \"E\" or externalId pr",
            "not (displayName eq \"x\")",
            "meta.lastModified gt \"2026-01-01T00:00:00Z\"",
            "urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq \"x\"",
            "members pr",
        ] {
            assert!(translate(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn refuses_what_groups_do_not_have() {
        for text in [
            "userName eq \"x\"",
            "members.display eq \"x\"",
            "members co \"x\"",
            "members[display eq \"x\"]",
            "meta.created gt \"yesterday\"",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName eq \"x\"",
        ] {
            let error = translate(text).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{text}");
        }
    }
}
