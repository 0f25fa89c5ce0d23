//! The provisioning lifecycle: what each IdP request does to the app's tables. Every
//! operation is one transaction, so a failure anywhere leaves nothing half-done. Each locks the
//! person's memberships first, so that writes of one person queue; only a write that decides an
//! org-wide rule (a create, a DELETE, a change of userName or externalId, an owner's
//! deprovisioning, or a removed membership, which has no row to lock) also takes the org's
//! membership lock, so that
//! writes of different people of one org run in parallel. The seat cap is decided by the seat
//! ledger ([`ensure_seat_available`]). The lock order is in `db::locks`.

pub mod approval;
pub mod filter;
pub mod groups;
pub mod modes;
pub mod query;
pub mod rules;

use chrono::NaiveDateTime;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{json, Map, Value};

use crate::auth::SeatCap;
use crate::db::locks;
use crate::db::repo::access;
use crate::db::repo::accounts;
use crate::db::repo::audit::{self, AuditAction};
use crate::db::repo::members::{self, Locked, Member, OrgRole, Profile, SeatScope};
use crate::error::ApiError;
use crate::metrics;
use crate::scim::patch::{apply_patch, PatchOperation};
use crate::scim::user::{etag_matches, to_write, UserRecord, UserWrite};
use crate::scim::{ScimError, ScimType};
use rules::{AddressChange, Transition};

/// The authenticated org making the request.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub org_id: i32,
    pub token_name: &'a str,
    /// Seat cap of the licence that entitles the org, if it has one.
    pub seats: Option<SeatCap>,
    /// How a deprovisioned membership is kept from the app.
    pub mode: DeprovisionMode,
    /// The displayName of the group whose members hold the OWNER role, if one is configured.
    pub owner_group: Option<&'a str>,
}

/// How deprovisioning keeps a person out of the org, whichever app version runs beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeprovisionMode {
    /// `"UserToOrg"."isActive" = false`: for an app that honours it (its own SCIM release).
    Deactivate,
    /// The `"UserToOrg"` row is deleted, its role, joinedAt and externalId kept by the service:
    /// for an app that ignores `isActive`.
    Remove,
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

/// The SCIM view of a membership row.
pub fn record(member: &Member) -> UserRecord {
    UserRecord {
        id: member.user_id.clone(),
        email: member.email.clone(),
        name: member.name.clone(),
        user_updated_at: member.user_updated_at,
        joined_at: member.joined_at,
        active: member.is_active,
        external_id: member.external_id.clone(),
        user_name: member.user_name.clone(),
        attributes: match &member.attributes {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        },
        profile_updated_at: member.profile_updated_at,
    }
}

/// POST /Users. The person is found by `externalId` among this org's memberships (visible,
/// inactive or DELETEd), else by sign-in address among the app's accounts, else created.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    doc: Map<String, Value>,
) -> Result<(UserRecord, PostOutcome), ApiError> {
    let write = to_write(&doc, None)?;
    let Some(sign_in) = write.sign_in.clone() else {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            "An e-mail address is required.",
        )
        .into());
    };
    conn.transaction(async |conn| {
        // A new person's userName, externalId and address must be free in the org, and
        // duplicate POSTs must create one user: decided under the org's lock.
        locks::lock_org_memberships(conn, caller.org_id).await?;
        ensure_indexable(conn, &write).await?;
        let now = now();
        let by_external_id = match &write.external_id {
            Some(external_id) => {
                members::find_by_external_id(conn, caller.org_id, external_id).await?
            }
            None => None,
        };
        let (user_id, existing, locked) = match by_external_id {
            Some(user_id) => {
                // Under the org's lock no row of this org can appear; a row another org
                // restored meanwhile only counts towards `shared`, read in the same snapshot.
                let found = lock_member(conn, caller, &user_id).await?;
                (user_id, Some((found.member, found.shared)), found.locked)
            }
            None => match find_or_create_account(conn, &sign_in, &write, now).await? {
                // A new account has no membership anywhere: nothing to lock or look up.
                Account::New(user_id) => (user_id, None, Locked::default()),
                Account::Existing(user_id) => {
                    let locked = members::lock_memberships(conn, &user_id).await?;
                    match members::find_locked(conn, caller.org_id, &user_id).await? {
                        Some((member, elsewhere)) => {
                            let shared = locked.elsewhere(caller.org_id) || elsewhere.shared();
                            (user_id, Some((member, shared)), locked)
                        }
                        None => {
                            let shared = locked.elsewhere(caller.org_id)
                                || members::has_removed_elsewhere(conn, caller.org_id, &user_id)
                                    .await?;
                            // An app user who signed up before SCIM and belongs to no other
                            // org: the IdP's name becomes theirs. Their address keeps the
                            // app's spelling.
                            let name = write.display_name.as_deref();
                            if let Some(name) = rules::name_change(name, None, shared) {
                                accounts::set_name(conn, &user_id, name, now).await?;
                            }
                            (user_id, None, locked)
                        }
                    }
                }
            },
        };
        let mut takes_seat = true;
        if let Some((member, _)) = &existing {
            if member.is_active && !member.hidden() {
                return Err(ScimError::conflict(
                    "This person is already an active member of this organization.",
                )
                .into());
            }
            takes_seat = !member.is_active;
        }
        ensure_user_name_free(conn, caller, &write.user_name, &user_id).await?;
        ensure_external_id_free(conn, caller, &write, &user_id).await?;
        let wants_active = write.active.unwrap_or(true);
        let external_id = write.external_id.as_deref();
        let outcome = match &existing {
            None => {
                members::insert_membership(
                    conn,
                    caller.org_id,
                    &user_id,
                    wants_active,
                    external_id,
                    now,
                )
                .await?;
                audit_change(conn, caller, AuditAction::MemberAdded, &user_id, now).await?;
                PostOutcome::Created
            }
            Some((member, shared)) => {
                // The person comes back: the body's current attributes win, the account's
                // address and name included.
                update_account(conn, &record(member), &write, *shared, now).await?;
                set_membership(conn, caller, member, wants_active, external_id, now).await?;
                let action = if wants_active {
                    AuditAction::MemberReactivated
                } else {
                    AuditAction::UserUpdated
                };
                audit_change(conn, caller, action, &user_id, now).await?;
                if member.hidden() {
                    PostOutcome::Created
                } else {
                    PostOutcome::Updated
                }
            }
        };
        save_profile(conn, caller, &user_id, &write, None, now).await?;
        let member = reload(conn, caller, &user_id).await?;
        if wants_active && takes_seat {
            // Last, so that the seat ledger's row stays locked only until the commit.
            ensure_seat_available(conn, caller, &user_id, &locked, now).await?;
        }
        Ok((member, outcome))
    })
    .await
}

/// How POST found the person's account.
enum Account {
    /// Created by this request.
    New(String),
    /// The app's account with the address (adopted).
    Existing(String),
}

/// The app account with this address, or a new one.
async fn find_or_create_account(
    conn: &mut AsyncPgConnection,
    address: &str,
    write: &UserWrite,
    now: NaiveDateTime,
) -> Result<Account, ApiError> {
    for _ in 0..2 {
        if let Some(account) = accounts::find_by_address(conn, address).await? {
            metrics::account_adopted();
            return Ok(Account::Existing(account.id));
        }
        let id = uuid::Uuid::new_v4().to_string();
        if accounts::insert(conn, &id, address, write.display_name.as_deref(), now).await? {
            return Ok(Account::New(id));
        }
        // Another org's request created the same address meanwhile: adopt that account.
    }
    Err(ScimError::new(
        409,
        None,
        "A concurrent request created the same user; retry.",
    )
    .into())
}

/// What one attempt of an update or DELETE did.
enum Step<T> {
    Done(T),
    /// The change decides an org-wide rule: nothing was written, and the request runs again
    /// with the org's lock taken first (taking it now, behind the row locks, could deadlock
    /// with a writer that holds it and waits for those rows).
    NeedsOrgLock,
    /// A membership row appeared after the lock statement read the rows: nothing was written,
    /// and the request runs again to lock it in order.
    Again,
}

/// How often an update starts again because membership rows kept appearing under it (each
/// time, another request restored one in between).
const UPDATE_ATTEMPTS: usize = 5;

/// PUT and PATCH /Users/{id}.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    change: Change,
    if_match: Option<&str>,
) -> Result<UserRecord, ApiError> {
    let mut org_wide = false;
    for _ in 0..UPDATE_ATTEMPTS {
        let step = conn
            .transaction(async |conn| {
                update_once(conn, caller, user_id, &change, if_match, org_wide).await
            })
            .await?;
        match step {
            Step::Done(record) => return Ok(record),
            Step::NeedsOrgLock if !org_wide => org_wide = true,
            Step::NeedsOrgLock => unreachable!("an attempt under the org's lock never asks for it"),
            Step::Again => {}
        }
    }
    Err(ScimError::new(
        409,
        None,
        "A concurrent request changed the same resource; retry.",
    )
    .into())
}

/// One attempt of [`update`]; `org_wide`: the org's lock is taken first.
async fn update_once(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    change: &Change,
    if_match: Option<&str>,
    org_wide: bool,
) -> Result<Step<UserRecord>, ApiError> {
    if org_wide {
        locks::lock_org_memberships(conn, caller.org_id).await?;
    }
    let LockedMember {
        member,
        shared,
        locked,
        settled,
    } = lock_visible(conn, caller, user_id).await?;
    if !settled {
        return Ok(Step::Again);
    }
    let current = record(&member);
    check_precondition(&current, if_match)?;
    let doc = match change {
        Change::Replace(doc) => doc.clone(),
        Change::Patch(operations) => {
            let mut doc = current.stored_document();
            apply_patch(&mut doc, operations, user_id)?;
            doc
        }
    };
    let write = to_write(&doc, Some(&current))?;
    let active = write.active.unwrap_or(current.active);
    let transition = rules::transition(current.active, active);
    let user_name_changes = write.user_name != current.document()["userName"];
    let external_id_changes = write.external_id != current.external_id;
    let scope = rules::Scope {
        removed: member.removed,
        user_name_changes,
        external_id_changes,
        deprovisions_owner: transition == Transition::Deprovision && member.role == OrgRole::Owner,
    };
    if !org_wide && rules::needs_org_lock(scope) {
        return Ok(Step::NeedsOrgLock);
    }
    ensure_indexable(conn, &write).await?;
    let now = now();

    let account_changed = update_account(conn, &current, &write, shared, now).await?;
    if user_name_changes {
        ensure_user_name_free(conn, caller, &write.user_name, user_id).await?;
    }
    if external_id_changes {
        ensure_external_id_free(conn, caller, &write, user_id).await?;
    }
    let profile_changed = account_changed
        || write.attributes != current.attributes
        || Some(&write.user_name) != current.user_name.as_ref()
        || external_id_changes;

    match transition {
        Transition::Deprovision => {
            revoke(conn, caller, &member, AuditAction::MemberDeactivated, now).await?
        }
        Transition::Reactivate => {
            let action = AuditAction::MemberReactivated;
            audit_change(conn, caller, action, user_id, now).await?;
        }
        Transition::None => {}
    }
    if !profile_changed && active == current.active {
        return Ok(Step::Done(current));
    }
    if active != current.active || external_id_changes {
        let external_id = write.external_id.as_deref();
        set_membership(conn, caller, &member, active, external_id, now).await?;
    }
    save_profile(conn, caller, user_id, &write, None, now).await?;
    if profile_changed {
        audit_change(conn, caller, AuditAction::UserUpdated, user_id, now).await?;
    }
    let record = reload(conn, caller, user_id).await?;
    if transition == Transition::Reactivate {
        // Last, so that the seat ledger's row stays locked only until the commit.
        ensure_seat_available(conn, caller, user_id, &locked, now).await?;
    }
    Ok(Step::Done(record))
}

/// Applies the document's sign-in address and name to the shared `"User"` row, under the
/// shared-account rule; returns whether the row changed.
async fn update_account(
    conn: &mut AsyncPgConnection,
    current: &UserRecord,
    write: &UserWrite,
    shared: bool,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    let new_address = write.sign_in.as_deref();
    let same_identity = match (new_address, current.email.as_deref()) {
        (Some(new), Some(old)) if new != old => accounts::same_identity(conn, new, old).await?,
        _ => false,
    };
    let mut changed = false;
    match rules::address_change(new_address, current.email.as_deref(), same_identity, shared)? {
        AddressChange::Keep => {}
        AddressChange::Move(address) => {
            if accounts::address_taken(conn, address, &current.id).await? {
                return Err(ScimError::conflict(
                    "Another account already signs in with this e-mail address.",
                )
                .into());
            }
            accounts::set_address(conn, &current.id, address, now).await?;
            changed = true;
        }
    }
    let new_name = write.display_name.as_deref();
    if let Some(name) = rules::name_change(new_name, current.name.as_deref(), shared) {
        accounts::set_name(conn, &current.id, name, now).await?;
        changed = true;
    }
    Ok(changed)
}

/// DELETE /Users/{id}: deprovision, then hide the membership from SCIM. The row stays, with its
/// externalId, so that a later POST of the same person reactivates it with the same id.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    if_match: Option<&str>,
) -> Result<(), ApiError> {
    conn.transaction(async |conn| {
        // DELETE also takes the person out of the org's groups, whose writers hold the org's
        // lock while they lock group rows and then members' rows: taking the org's lock first
        // keeps that order.
        locks::lock_org_memberships(conn, caller.org_id).await?;
        let member = lock_visible(conn, caller, user_id).await?.member;
        let current = record(&member);
        check_precondition(&current, if_match)?;
        let now = now();
        if member.is_active {
            revoke(conn, caller, &member, AuditAction::MemberRemoved, now).await?;
        } else {
            audit_change(conn, caller, AuditAction::MemberRemoved, user_id, now).await?;
        }
        let external_id = member.external_id.as_deref();
        set_membership(conn, caller, &member, false, external_id, now).await?;
        groups::forget_user(conn, caller, user_id, now).await?;
        let document = current.stored_document();
        let user_name = document
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or(&current.id);
        let attributes = Value::Object(current.attributes.clone());
        let profile = Profile {
            user_name,
            attributes: &attributes,
            hidden_at: Some(now),
        };
        members::save_profile(conn, caller.org_id, user_id, profile, now).await?;
        Ok(())
    })
    .await
}

/// The membership's state and externalId, written the way the mode says: an inactive
/// membership in `remove` mode has no `"UserToOrg"` row, only what the service keeps of it.
async fn set_membership(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    member: &Member,
    active: bool,
    external_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let (org_id, user_id) = (caller.org_id, member.user_id.as_str());
    let kept = members::Kept {
        role: member.role,
        joined_at: member.joined_at,
        external_id,
    };
    if member.removed {
        if active {
            members::restore_membership(conn, org_id, user_id, kept, true).await?;
        } else {
            members::set_kept_external_id(conn, org_id, user_id, external_id).await?;
        }
    } else if !active && caller.mode == DeprovisionMode::Remove {
        // A member the app created has no profile yet: it keeps answering what it answered.
        let document = record(member).stored_document();
        let user_name = document
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or(user_id)
            .to_owned();
        let attributes = Value::Object(
            document
                .into_iter()
                .filter(|(key, _)| !matches!(key.as_str(), "userName" | "active" | "externalId"))
                .collect(),
        );
        let profile = Profile {
            user_name: &user_name,
            attributes: &attributes,
            hidden_at: member.hidden_at,
        };
        members::remove_membership(conn, org_id, user_id, kept, profile, now).await?;
    } else {
        members::update_membership(conn, org_id, user_id, active, external_id).await?;
    }
    Ok(())
}

/// Locks a person out: every session ended, API keys of this org and all OAuth grants
/// deleted, and an audit row, in the caller's transaction; [`set_membership`] makes the
/// membership inactive in the same transaction.
async fn revoke(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    member: &Member,
    action: AuditAction,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let user_id = &member.user_id;
    if member.role == OrgRole::Owner
        && members::lock_other_active_owners(conn, caller.org_id, user_id).await? == 0
    {
        return Err(ScimError::forbidden(
            "The last active owner of an organization cannot be deprovisioned; make another member an owner first.",
        )
        .into());
    }
    let revoked = access::revoke_access(conn, caller.org_id, user_id, now).await?;
    audit::record(
        conn,
        caller.org_id,
        action,
        user_id,
        audit_metadata(caller, json!({ "revoked": revoked })),
        now,
    )
    .await?;
    metrics::membership_changed(caller.org_id, caller.token_name, action, user_id);
    Ok(())
}

/// How long the seat ledger is trusted without a full count.
const SEAT_LEDGER_MAX_AGE_SECS: i64 = 300;

/// The seat cap, for an activation of `user_id` (whose memberships `locked` holds): refused
/// with 400 `tooMany` when the activation would take more seats than the licence has.
///
/// Counting every membership takes about a second at a million, so the seats in use come from
/// the seat ledger (`scim_sidecar.seat_ledger`, one row per scope): an exact count, plus one
/// for every activation this service made since (deactivations are not subtracted, so it can
/// only over-count this service's own changes). The ledger answers alone while it was counted
/// less than [`SEAT_LEDGER_MAX_AGE_SECS`] ago and one more seat keeps it below the cap minus a
/// margin ([`rules::seat_fast_limit`]: 5 % of the cap, at least 100 seats); otherwise the
/// seats are counted exactly, under the ledger row's lock, and the answer and the ledger follow
/// the count. So the cap is exact near it, and far from it can only be missed if the app
/// itself (not SCIM) activated more people than the margin since the last count: the app does
/// not auto-join people into an org that provisions with SCIM.
async fn ensure_seat_available(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    locked: &Locked,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let (scope, limit) = match caller.seats {
        None => return Ok(()),
        Some(SeatCap::Org(limit)) => (SeatScope::Org(caller.org_id), limit),
        // A person already active in another org holds a seat already; their rows are locked,
        // so that stays true until this transaction ends.
        Some(SeatCap::Deployment(_)) if locked.active_elsewhere(caller.org_id) => return Ok(()),
        Some(SeatCap::Deployment(limit)) => (SeatScope::Deployment, limit),
    };
    let fresh_since = now - chrono::TimeDelta::seconds(SEAT_LEDGER_MAX_AGE_SECS);
    let fast_limit = rules::seat_fast_limit(limit);
    if members::take_counted_seat(conn, scope, fast_limit, fresh_since).await? {
        return Ok(());
    }
    let others = members::count_seats(conn, scope, user_id, now).await?;
    if others + 1 > i64::from(limit) {
        metrics::seat_cap_refused();
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!("The licence allows {limit} active members and they are all in use."),
        )
        .into());
    }
    members::record_seats(conn, scope, others + 1, now).await?;
    Ok(())
}

async fn ensure_external_id_free(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    write: &UserWrite,
    user_id: &str,
) -> Result<(), ApiError> {
    if let Some(external_id) = &write.external_id {
        if members::external_id_taken(conn, caller.org_id, external_id, user_id).await? {
            return Err(ScimError::conflict(
                "externalId is already used by another member of this organization.",
            )
            .into());
        }
    }
    Ok(())
}

/// Identity keys live in btree and GIN indexes, whose entries PostgreSQL limits to about
/// 2.7 kB. Compatibility normalisation can make a key many times longer than the value (one
/// character may become 18), so long values are measured in SQL before they are written.
async fn ensure_indexable(conn: &mut AsyncPgConnection, write: &UserWrite) -> Result<(), ApiError> {
    /// Shorter values cannot reach the limit: 70 characters of the worst expansion stay below it.
    const ALWAYS_FITS: usize = 70;
    /// Leaves room for the index entry's own overhead.
    const MAX_KEY_BYTES: i32 = 2000;
    let addresses = write
        .attributes
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("value").and_then(Value::as_str));
    for (label, value) in std::iter::once(("userName", write.user_name.as_str()))
        .chain(addresses.map(|address| ("emails.value", address)))
    {
        if value.chars().count() > ALWAYS_FITS
            && accounts::identity_key_size(conn, value).await? > MAX_KEY_BYTES
        {
            let detail = format!("The attribute `{label}` is too long once normalised.");
            return Err(ScimError::bad_request(ScimType::InvalidValue, detail).into());
        }
    }
    Ok(())
}

async fn ensure_user_name_free(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_name: &str,
    user_id: &str,
) -> Result<(), ApiError> {
    if members::user_name_taken(conn, caller.org_id, user_name, user_id).await? {
        return Err(ScimError::conflict(
            "Another member of this organization already has this userName.",
        )
        .into());
    }
    Ok(())
}

/// The caller's membership of `user_id` (hidden or not), after locking all of the user's
/// memberships; whether the account also belongs to another org; and the locked memberships.
async fn lock_member(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
) -> Result<LockedMember, ApiError> {
    // A removed membership has no row to lock: its writers take the org's lock
    // (`rules::needs_org_lock`).
    let locked = members::lock_memberships(conn, user_id).await?;
    let (member, elsewhere) = members::find_locked(conn, caller.org_id, user_id)
        .await?
        .ok_or_else(not_found)?;
    // A row restored (or added by the app) after the lock statement read the rows is visible to
    // the read but not locked. Locking it now could take the rows out of their order (see
    // `db::locks`), so a writer that depends on it starts again instead (`Step::Again`).
    let own_row_locked = member.removed || locked.holds(caller.org_id);
    let settled = own_row_locked && elsewhere.rows == locked.count_elsewhere(caller.org_id);
    Ok(LockedMember {
        shared: locked.elsewhere(caller.org_id) || elsewhere.shared(),
        member,
        locked,
        settled,
    })
}

/// A membership read under the person's row locks.
struct LockedMember {
    member: Member,
    /// The account belongs to another org too.
    shared: bool,
    locked: Locked,
    /// Every membership row the read saw is locked: no row appeared after the lock statement.
    settled: bool,
}

/// [`lock_member`], for a membership the IdP can see.
async fn lock_visible(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
) -> Result<LockedMember, ApiError> {
    match lock_member(conn, caller, user_id).await? {
        found if !found.member.hidden() => Ok(found),
        _ => Err(not_found()),
    }
}

async fn save_profile(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
    write: &UserWrite,
    hidden_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let attributes = Value::Object(write.attributes.clone());
    let profile = Profile {
        user_name: &write.user_name,
        attributes: &attributes,
        hidden_at,
    };
    members::save_profile(conn, caller.org_id, user_id, profile, now).await?;
    Ok(())
}

async fn reload(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    user_id: &str,
) -> Result<UserRecord, ApiError> {
    members::find(conn, caller.org_id, user_id)
        .await?
        .map(|member| record(&member))
        .ok_or_else(not_found)
}

pub fn not_found() -> ApiError {
    ScimError::not_found("User not found.").into()
}

/// `If-Match`: the update applies only to the version the client names.
fn check_precondition(current: &UserRecord, if_match: Option<&str>) -> Result<(), ApiError> {
    match if_match {
        Some(header) if !etag_matches(header, &current.etag()) => Err(ScimError::new(
            412,
            None,
            "The resource changed since it was read (If-Match).",
        )
        .into()),
        _ => Ok(()),
    }
}

/// The metadata of every audit row: its source and the token's name, beside `extra`.
pub(crate) fn audit_metadata(caller: Caller<'_>, mut extra: Value) -> Value {
    if let Some(fields) = extra.as_object_mut() {
        fields.insert("source".into(), json!("scim"));
        fields.insert("tokenName".into(), json!(caller.token_name));
    }
    extra
}

/// One `"Audit"` row for a membership change, signed with the token's name.
async fn audit_change(
    conn: &mut AsyncPgConnection,
    caller: Caller<'_>,
    action: AuditAction,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let metadata = audit_metadata(caller, json!({}));
    audit::record(conn, caller.org_id, action, user_id, metadata, now).await?;
    metrics::membership_changed(caller.org_id, caller.token_name, action, user_id);
    Ok(())
}

pub(crate) fn now() -> NaiveDateTime {
    // TIMESTAMP(3) columns: keep millisecond precision so values read back compare equal.
    let now = chrono::Utc::now().naive_utc();
    now - chrono::TimeDelta::nanoseconds(i64::from(
        now.and_utc().timestamp_subsec_nanos() % 1_000_000,
    ))
}
