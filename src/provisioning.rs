//! The provisioning lifecycle: what each IdP request does to the app's tables. Every
//! operation is one transaction that first takes the org's membership lock, so the seat cap,
//! the last-owner rule, externalId uniqueness and duplicate creations are decided on a
//! consistent view, and a failure anywhere leaves nothing half-done.

use chrono::NaiveDateTime;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{json, Map, Value};

use crate::db::repo::audit::{self, AuditAction};
use crate::db::repo::users::{self, Member, OrgRole, UserChanges};
use crate::error::ApiError;
use crate::license::SeatCap;
use crate::scim::patch::{apply_patch, PatchOperation};
use crate::scim::user::{etag_matches, follow_changed_address, to_write, UserWrite};
use crate::scim::{ScimError, ScimType};

/// The authenticated org making the request.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub org_id: i32,
    pub token_name: &'a str,
    /// Seat cap of the licence that entitles the org, if it has one.
    pub seats: Option<SeatCap>,
}

/// How a replacement document is obtained.
pub enum Change {
    /// PUT: the whole writable document.
    Replace(Map<String, Value>),
    /// PATCH: operations applied to the current document.
    Patch(Vec<PatchOperation>),
}

/// What a POST did, which decides its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    /// 201: a membership now exists that the IdP could not see before (new user, adopted app
    /// user, or a DELETEd membership restored).
    Created,
    /// 200: a visible, inactive membership was updated (and reactivated unless the body said
    /// `active: false`).
    Updated,
}

/// POST /Users.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    doc: Map<String, Value>,
) -> Result<(Member, PostOutcome), ApiError> {
    let write = to_write(&doc, None)?;
    let email = write
        .email
        .clone()
        .ok_or_else(|| invalid_value("userName is required."))?;
    conn.transaction(async |conn| {
        users::lock_org_memberships(conn, caller.org_id).await?;
        let now = now();
        let user_id = find_or_create_user(conn, caller, &email, &write, now).await?;
        let wants_active = write.active.unwrap_or(true);
        let existing = users::find(conn, caller.org_id, &user_id).await?;
        if let Some(member) = &existing {
            if member.record.active && !member.hidden {
                return Err(ScimError::conflict(
                    "A member with this userName already exists in this organization.",
                )
                .into());
            }
        }
        ensure_external_id_free(conn, caller, &write, &user_id).await?;
        if wants_active {
            ensure_seat_available(conn, caller, &user_id).await?;
        }
        let external_id = write.external_id.as_deref();
        let outcome = match &existing {
            None => {
                users::insert_membership(
                    conn,
                    caller.org_id,
                    &user_id,
                    wants_active,
                    external_id,
                    now,
                )
                .await?;
                audit_change(
                    conn,
                    caller,
                    AuditAction::MemberAdded,
                    &user_id,
                    json!({}),
                    now,
                )
                .await?;
                PostOutcome::Created
            }
            Some(member) => {
                users::update_membership(conn, caller.org_id, &user_id, wants_active, external_id)
                    .await?;
                let action = if wants_active {
                    AuditAction::MemberReactivated
                } else {
                    AuditAction::UserUpdated
                };
                audit_change(conn, caller, action, &user_id, json!({}), now).await?;
                if member.hidden {
                    PostOutcome::Created
                } else {
                    PostOutcome::Updated
                }
            }
        };
        users::save_profile(conn, caller.org_id, &user_id, &write.attributes, None, now).await?;
        let member = reload(conn, caller, &user_id).await?;
        Ok((member, outcome))
    })
    .await
}

/// The app user with this e-mail (adopted as is), or a new one.
async fn find_or_create_user(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    email: &str,
    write: &UserWrite,
    now: NaiveDateTime,
) -> Result<String, ApiError> {
    for _ in 0..2 {
        if let Some((id, stored_email)) = users::find_user_by_email(conn, email).await? {
            let orgs = users::lock_memberships(conn, &id).await?;
            if orgs.iter().all(|org| *org == caller.org_id) {
                // An app user who signed up before SCIM and belongs to no other org: the IdP's
                // profile becomes theirs, and their address is stored lower-cased like every
                // SCIM userName.
                let changes = UserChanges {
                    email: (stored_email != email).then_some(email),
                    name: write.display_name.as_deref(),
                    updated_at: now,
                };
                users::update_user(conn, &id, changes).await?;
            }
            return Ok(id);
        }
        let id = uuid::Uuid::new_v4().to_string();
        if users::insert_user(conn, &id, email, write.display_name.as_deref(), now).await? {
            return Ok(id);
        }
        // Another org's request created the same e-mail meanwhile: adopt that user.
    }
    Err(ScimError::new(
        409,
        None,
        "A concurrent request created the same user; retry.",
    )
    .into())
}

/// PUT and PATCH /Users/{id}.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    change: Change,
    if_match: Option<&str>,
) -> Result<Member, ApiError> {
    conn.transaction(async |conn| {
        users::lock_org_memberships(conn, caller.org_id).await?;
        let (member, shared) = lock_visible(conn, caller, user_id).await?;
        check_precondition(&member, if_match)?;
        let record = &member.record;
        let mut doc = match change {
            Change::Replace(doc) => doc,
            Change::Patch(operations) => {
                let mut doc = record.stored_document();
                apply_patch(&mut doc, &operations, user_id)?;
                doc
            }
        };
        follow_changed_address(&mut doc, record.email.as_deref());
        let write = to_write(&doc, Some(record))?;
        let now = now();

        // The "User" row is shared with every org the user belongs to, in any state: while
        // there is another, this org's IdP may neither re-address the account (which would
        // hand the other org's member to whoever owns the new address) nor rename it. A
        // difference in case only is no new address: it is stored lower-cased when the
        // account is this org's alone, and left as it is otherwise.
        let (email_change, readdressed) = match (write.email.as_deref(), record.email.as_deref()) {
            (Some(new), Some(current)) if new == current => (None, false),
            (Some(new), Some(current)) if new.eq_ignore_ascii_case(current) => {
                ((!shared).then_some(new), false)
            }
            (Some(new), _) => (Some(new), true),
            (None, _) => (None, false),
        };
        if readdressed {
            if shared {
                return Err(ScimError::bad_request(
                    ScimType::Mutability,
                    "userName cannot change: the account also belongs to another organization.",
                )
                .into());
            }
            if let Some(email) = email_change {
                if users::email_taken(conn, email, user_id).await? {
                    let detail = "Another account already has this userName.";
                    return Err(ScimError::conflict(detail).into());
                }
            }
        }
        if write.external_id != record.external_id {
            ensure_external_id_free(conn, caller, &write, user_id).await?;
        }
        // This org still reads back what its IdP sent (stored attributes).
        let new_name = write
            .display_name
            .as_deref()
            .filter(|name| !shared && record.name.as_deref() != Some(*name));
        let profile_changed = write.attributes != record.attributes
            || email_change.is_some()
            || new_name.is_some()
            || write.external_id != record.external_id;

        let active = write.active.unwrap_or(record.active);
        match (record.active, active) {
            (true, false) => {
                deprovision(conn, caller, &member, AuditAction::MemberDeactivated, now).await?
            }
            (false, true) => {
                ensure_seat_available(conn, caller, user_id).await?;
                let action = AuditAction::MemberReactivated;
                audit_change(conn, caller, action, user_id, json!({}), now).await?;
            }
            _ => {}
        }
        if profile_changed || active != record.active {
            let changes = UserChanges {
                email: email_change,
                name: new_name,
                updated_at: now,
            };
            users::update_user(conn, user_id, changes).await?;
            let external_id = write.external_id.as_deref();
            users::update_membership(conn, caller.org_id, user_id, active, external_id).await?;
            users::save_profile(conn, caller.org_id, user_id, &write.attributes, None, now).await?;
        }
        if profile_changed {
            audit_change(
                conn,
                caller,
                AuditAction::UserUpdated,
                user_id,
                json!({}),
                now,
            )
            .await?;
        }
        reload(conn, caller, user_id).await
    })
    .await
}

/// DELETE /Users/{id}: deprovision, then hide the membership from SCIM. The row stays so that
/// a later POST of the same user reactivates it with the same id.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    if_match: Option<&str>,
) -> Result<(), ApiError> {
    conn.transaction(async |conn| {
        users::lock_org_memberships(conn, caller.org_id).await?;
        let (member, _) = lock_visible(conn, caller, user_id).await?;
        check_precondition(&member, if_match)?;
        let now = now();
        if member.record.active {
            deprovision(conn, caller, &member, AuditAction::MemberRemoved, now).await?;
        } else {
            audit_change(
                conn,
                caller,
                AuditAction::MemberRemoved,
                user_id,
                json!({}),
                now,
            )
            .await?;
        }
        // The externalId goes with the hidden membership, so that the IdP can give it to
        // someone else; a POST restoring this user sets it again.
        users::update_membership(conn, caller.org_id, user_id, false, None).await?;
        users::save_profile(
            conn,
            caller.org_id,
            user_id,
            &member.record.attributes,
            Some(now),
            now,
        )
        .await?;
        Ok(())
    })
    .await
}

/// Locks a person out: membership inactive, every session ended, API keys of this org and all
/// OAuth grants deleted, and an audit row, in the caller's transaction.
async fn deprovision(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    member: &Member,
    action: AuditAction,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let user_id = &member.record.id;
    if member.role == OrgRole::Owner
        && users::lock_other_active_owners(conn, caller.org_id, user_id).await? == 0
    {
        return Err(ScimError::forbidden(
            "The last active owner of an organization cannot be deprovisioned; make another member an owner first.",
        )
        .into());
    }
    users::update_membership(
        conn,
        caller.org_id,
        user_id,
        false,
        member.record.external_id.as_deref(),
    )
    .await?;
    let revoked = users::revoke_access(conn, caller.org_id, user_id, now).await?;
    audit_change(
        conn,
        caller,
        action,
        user_id,
        json!({ "revoked": revoked }),
        now,
    )
    .await?;
    Ok(())
}

async fn ensure_seat_available(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
) -> Result<(), ApiError> {
    let (limit, others) = match caller.seats {
        None => return Ok(()),
        Some(SeatCap::Org(limit)) => (
            limit,
            users::count_other_active(conn, caller.org_id, user_id).await?,
        ),
        Some(SeatCap::Deployment(limit)) => {
            users::lock_deployment_seats(conn).await?;
            // A user already active in another org holds a seat already.
            if users::is_active_elsewhere(conn, caller.org_id, user_id).await? {
                return Ok(());
            }
            (limit, users::count_other_active_users(conn, user_id).await?)
        }
    };
    if others + 1 > i64::from(limit) {
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!("The licence allows {limit} active members and they are all in use."),
        )
        .into());
    }
    Ok(())
}

async fn ensure_external_id_free(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    write: &UserWrite,
    user_id: &str,
) -> Result<(), ApiError> {
    if let Some(external_id) = &write.external_id {
        if users::external_id_taken(conn, caller.org_id, external_id, user_id).await? {
            return Err(ScimError::conflict(
                "externalId is already used by another member of this organization.",
            )
            .into());
        }
    }
    Ok(())
}

/// The caller's visible membership of `user_id`, after locking all of the user's memberships;
/// and whether the account also belongs to another org.
async fn lock_visible(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
) -> Result<(Member, bool), ApiError> {
    let orgs = users::lock_memberships(conn, user_id).await?;
    if !orgs.contains(&caller.org_id) {
        return Err(not_found());
    }
    let shared = orgs.iter().any(|org| *org != caller.org_id);
    match users::find(conn, caller.org_id, user_id).await? {
        Some(member) if !member.hidden => Ok((member, shared)),
        _ => Err(not_found()),
    }
}

async fn reload(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
) -> Result<Member, ApiError> {
    users::find(conn, caller.org_id, user_id)
        .await?
        .ok_or_else(not_found)
}

pub fn not_found() -> ApiError {
    ScimError::not_found("User not found.").into()
}

/// `If-Match`: the update applies only to the version the client names.
fn check_precondition(member: &Member, if_match: Option<&str>) -> Result<(), ApiError> {
    match if_match {
        Some(header) if !etag_matches(header, &member.record.etag()) => Err(ScimError::new(
            412,
            None,
            "The resource changed since it was read (If-Match).",
        )
        .into()),
        _ => Ok(()),
    }
}

fn invalid_value(detail: &str) -> ApiError {
    ScimError::bad_request(ScimType::InvalidValue, detail).into()
}

/// One `"Audit"` row for a membership change, signed with the token's name.
async fn audit_change(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    action: AuditAction,
    user_id: &str,
    mut metadata: Value,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if let Some(fields) = metadata.as_object_mut() {
        fields.insert("source".into(), json!("scim"));
        fields.insert("tokenName".into(), json!(caller.token_name));
    }
    audit::record(conn, caller.org_id, action, user_id, metadata, now).await?;
    Ok(())
}

fn now() -> NaiveDateTime {
    // TIMESTAMP(3) columns: keep millisecond precision so values read back compare equal.
    let now = chrono::Utc::now().naive_utc();
    now - chrono::TimeDelta::nanoseconds(i64::from(
        now.and_utc().timestamp_subsec_nanos() % 1_000_000,
    ))
}
