//! Membership writes, and the counts and uniqueness checks the lifecycle rules read.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::{member_columns, org_members, Member, OrgRole};
use crate::db::functions::{identity_key, identity_key_or_null};
use crate::db::schema::{member, orgs, user_profile, user_to_org, users};

diesel::table! {
    /// Seats in use per scope, kept by the service (migrations/…_seat_ledger).
    scim_sidecar.seat_ledger (scope) {
        scope -> Int4,
        in_use -> Int8,
        counted_at -> Timestamp,
    }
}

/// The person's `"UserToOrg"` rows, locked by [`lock_memberships`]: (org, active), in org order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locked {
    pub memberships: Vec<(i32, bool)>,
}

impl Locked {
    /// Whether this transaction holds the lock on the person's row in `org_id`.
    pub fn holds(&self, org_id: i32) -> bool {
        self.memberships.iter().any(|(org, _)| *org == org_id)
    }

    /// How many of the person's rows in other orgs than `org_id` this transaction locked.
    pub fn count_elsewhere(&self, org_id: i32) -> i64 {
        self.memberships
            .iter()
            .filter(|(org, _)| *org != org_id)
            .count() as i64
    }

    /// Whether the person has one of the app's membership rows in another org than `org_id`.
    pub fn elsewhere(&self, org_id: i32) -> bool {
        self.memberships.iter().any(|(org, _)| *org != org_id)
    }

    /// Whether the person is active in another org than `org_id` (and so holds a seat of the
    /// deployment already).
    pub fn active_elsewhere(&self, org_id: i32) -> bool {
        self.memberships
            .iter()
            .any(|(org, active)| *org != org_id && *active)
    }
}

/// Locks every `"UserToOrg"` row of the user, in every org and in org order, until the
/// transaction ends. Every writer locks a person's memberships this one way (one statement, one
/// order), so two orgs provisioning the same person queue instead of deadlocking.
///
/// Nothing indexes `"UserToOrg"."userId"` alone (the app's key is (`orgId`, `userId`), and the
/// service may not add an index to the app's table), so `"userId" = $1` alone would scan every
/// membership of the deployment. Naming the orgs turns it into one probe of the key per org.
pub async fn lock_memberships(conn: &mut AsyncPgConnection, user_id: &str) -> QueryResult<Locked> {
    user_to_org::table
        .filter(user_to_org::org_id.eq_any(orgs::table.select(orgs::id)))
        .filter(user_to_org::user_id.eq(user_id))
        .order(user_to_org::org_id.asc())
        .select((user_to_org::org_id, user_to_org::is_active))
        .for_no_key_update()
        .load(conn)
        .await
        .map(|memberships| Locked { memberships })
}

/// A membership the service removed (`remove` mode) in another org than `$org_id`, which the
/// app has not added back (its row would have been locked): it still shares the account.
macro_rules! removed_elsewhere {
    ($org_id:expr, $user_id:expr) => {
        diesel::dsl::exists(
            user_profile::table
                .filter(user_profile::user_id.eq($user_id))
                .filter(user_profile::removed_at.is_not_null())
                .filter(user_profile::org_id.ne($org_id))
                .select(user_profile::org_id),
        )
    };
}

/// How many of the app's membership rows the person has in other orgs than `$org_id`, read by
/// the same probes of the key as [`lock_memberships`].
macro_rules! rows_elsewhere {
    ($org_id:expr, $user_id:expr) => {
        user_to_org::table
            .filter(user_to_org::org_id.eq_any(orgs::table.select(orgs::id)))
            .filter(user_to_org::user_id.eq($user_id))
            .filter(user_to_org::org_id.ne($org_id))
            .count()
            .single_value()
    };
}

/// What [`find_locked`] reads besides the membership, in the same snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Elsewhere {
    /// The person has a membership the service removed in another org.
    pub removed: bool,
    /// The person's `"UserToOrg"` rows in other orgs.
    pub rows: i64,
}

impl Elsewhere {
    /// Whether the account belongs to another org too (a row, or a membership kept removed).
    pub fn shared(&self) -> bool {
        self.removed || self.rows > 0
    }
}

/// Whether the person has a membership the service removed in another org than `org_id`.
pub async fn has_removed_elsewhere(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<bool> {
    diesel::select(removed_elsewhere!(org_id, user_id))
        .get_result(conn)
        .await
}

/// The org's membership of `user_id` (hidden or not), read after [`lock_memberships`], and the
/// person's memberships in other orgs: one statement, so one snapshot. A row that appeared
/// after the lock statement read the rows (a restore that committed meanwhile) shows here and
/// not in [`Locked`]: callers compare the two.
pub async fn find_locked(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<Option<(Member, Elsewhere)>> {
    org_members!(org_id)
        .filter(member::user_id.eq(user_id))
        .select((
            member_columns!(),
            removed_elsewhere!(org_id, user_id),
            rows_elsewhere!(org_id, user_id),
        ))
        .get_result::<(Member, bool, Option<i64>)>(conn)
        .await
        .optional()
        .map(|found| {
            found.map(|(member, removed, rows)| {
                let rows = rows.unwrap_or(0);
                (member, Elsewhere { removed, rows })
            })
        })
}

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

/// Another visible member of the org (than `$except_user`) answers this userName: a stored
/// one, or the address of a member the app created. One statement.
macro_rules! user_name_taken_query {
    ($org_id:expr, $user_name:expr, $except_user:expr) => {{
        let key = identity_key($user_name.to_owned()).nullable();
        let stored = diesel::dsl::exists(
            user_profile::table
                .filter(user_profile::org_id.eq($org_id))
                .filter(user_profile::hidden_at.is_null())
                .filter(identity_key_or_null(user_profile::user_name).eq(key.clone()))
                .filter(user_profile::user_id.ne($except_user))
                .select(user_profile::user_id),
        );
        // A member the app created has no profile (or none with a userName) and answers its
        // account's address. Read from the account's address index, then the membership's and
        // the profile's keys: through the `member` view the planner would join every
        // membership of the org once the address has an account (as it has, when POST has
        // just created it).
        let app_created = diesel::dsl::exists(
            users::table
                .inner_join(
                    user_to_org::table.on(user_to_org::user_id
                        .eq(users::id)
                        .and(user_to_org::org_id.eq($org_id))),
                )
                .left_join(
                    user_profile::table.on(user_profile::org_id
                        .eq(user_to_org::org_id)
                        .and(user_profile::user_id.eq(user_to_org::user_id))),
                )
                .filter(user_profile::user_name.is_null())
                .filter(identity_key_or_null(users::email).eq(key))
                .filter(users::id.ne($except_user))
                .select(users::id),
        );
        diesel::select(stored.or(app_created))
    }};
}

/// Whether another visible member of the org (than `except_user`) answers this userName.
pub async fn user_name_taken(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_name: &str,
    except_user: &str,
) -> QueryResult<bool> {
    user_name_taken_query!(org_id, user_name, except_user)
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

/// What a licence counts seats in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatScope {
    /// A licence key: distinct active people across every org.
    Deployment,
    /// An org's `"License"` row: the org's active members.
    Org(i32),
}

impl SeatScope {
    /// The ledger's key: org ids are positive (`SERIAL`), so 0 is free for the deployment.
    fn key(self) -> i32 {
        match self {
            Self::Deployment => 0,
            Self::Org(org_id) => org_id,
        }
    }
}

/// Takes one seat from the ledger without counting, when the ledger was counted at or after
/// `fresh_since` and holds fewer than `fast_limit` seats; returns whether it did. The scope's
/// ledger row stays locked until the transaction ends, so seat decisions of one scope queue.
pub async fn take_counted_seat(
    conn: &mut AsyncPgConnection,
    scope: SeatScope,
    fast_limit: i64,
    fresh_since: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        seat_ledger::table
            .find(scope.key())
            .filter(seat_ledger::in_use.lt(fast_limit))
            .filter(seat_ledger::counted_at.ge(fresh_since)),
    )
    .set(seat_ledger::in_use.eq(seat_ledger::in_use + 1))
    .execute(conn)
    .await
    .map(|updated| updated == 1)
}

/// Locks the scope's ledger row (creating it if need be), then counts the seats in use
/// exactly, leaving `user_id` out. The count runs after the lock is held, so it sees every
/// activation another writer of the scope has committed, and no other can commit until this
/// transaction ends.
pub async fn count_seats(
    conn: &mut AsyncPgConnection,
    scope: SeatScope,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(seat_ledger::table)
        .values((
            seat_ledger::scope.eq(scope.key()),
            seat_ledger::in_use.eq(0_i64),
            seat_ledger::counted_at.eq(now),
        ))
        .on_conflict(seat_ledger::scope)
        .do_update()
        .set(seat_ledger::in_use.eq(seat_ledger::in_use))
        .execute(conn)
        .await?;
    match scope {
        SeatScope::Org(org_id) => count_other_active(conn, org_id, user_id).await,
        SeatScope::Deployment => count_other_active_users(conn, user_id).await,
    }
}

/// Writes an exact count into the ledger (after [`count_seats`], in its transaction).
pub async fn record_seats(
    conn: &mut AsyncPgConnection,
    scope: SeatScope,
    in_use: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(seat_ledger::table.find(scope.key()))
        .set((
            seat_ledger::in_use.eq(in_use),
            seat_ledger::counted_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// PostgreSQL's plans for what every write looks up before it changes anything (the person's
/// locks, the membership, the userName check, the seat ledger), by statement name: lets tests
/// prove that none of them walks the memberships.
#[cfg(feature = "dev")]
pub async fn explain_write_lookups(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    user_name: &str,
) -> QueryResult<Vec<(&'static str, String)>> {
    use crate::db::explain::Explain;
    let lock = user_to_org::table
        .filter(user_to_org::org_id.eq_any(orgs::table.select(orgs::id)))
        .filter(user_to_org::user_id.eq(user_id))
        .order(user_to_org::org_id.asc())
        .select((user_to_org::org_id, user_to_org::is_active))
        .for_no_key_update();
    let find = org_members!(org_id)
        .filter(member::user_id.eq(user_id))
        .select((member_columns!(), removed_elsewhere!(org_id, user_id)));
    let seat = diesel::update(
        seat_ledger::table
            .find(0)
            .filter(seat_ledger::in_use.lt(1_i64)),
    )
    .set(seat_ledger::in_use.eq(seat_ledger::in_use + 1));
    Ok(vec![
        (
            "lock_memberships",
            Explain(lock).load::<String>(conn).await?.join("\n"),
        ),
        (
            "find_locked",
            Explain(find).load::<String>(conn).await?.join("\n"),
        ),
        (
            "user_name_taken",
            Explain(user_name_taken_query!(org_id, user_name, user_id))
                .load::<String>(conn)
                .await?
                .join("\n"),
        ),
        (
            "take_counted_seat",
            Explain(seat).load::<String>(conn).await?.join("\n"),
        ),
    ])
}
