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

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::{now, Caller};
use crate::db::locks;
use crate::db::repo::groups::{self as repo, GroupId, GroupRow, GroupSort};
use crate::error::ApiError;
use crate::scim::group::{GroupChange, GroupRecord, GroupWrite};
use crate::scim::query::ListRequest;
use crate::scim::user::etag_matches;
use crate::scim::{ScimError, ScimType};

mod filter;
mod owner;

pub use filter::group_filter;
use filter::sort_field;
use owner::{demote, follow_owner_group, is_owner_group, promote, Touched};

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
