//! `"Org"` rows: the service never creates orgs in production; `create` serves `demo` and
//! tests.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{orgs, scim_tokens};

diesel::table! {
    /// The catalogue's column list, to learn whether this app version has a column.
    information_schema.columns (table_schema, table_name, column_name) {
        table_schema -> Text,
        table_name -> Text,
        column_name -> Text,
    }
}

/// Whether the app's `"Org"` has `memberApprovalRequired` (app versions with member approval).
pub async fn has_member_approval(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        columns::table
            .filter(columns::table_schema.eq("public"))
            .filter(columns::table_name.eq("Org"))
            .filter(columns::column_name.eq("memberApprovalRequired")),
    ))
    .get_result(conn)
    .await
}

/// Orgs that have a SCIM token and let people join without approval: there, a person removed
/// by SCIM can join again by signing in (unless the app ships its own SCIM release). Only call
/// when [`has_member_approval`].
pub async fn open_orgs_with_tokens(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(i32, String)>> {
    orgs::table
        .filter(orgs::member_approval_required.eq(false))
        .filter(diesel::dsl::exists(
            scim_tokens::table.filter(scim_tokens::org_id.eq(orgs::id)),
        ))
        .select((orgs::id, orgs::name))
        .order(orgs::id.asc())
        .load(conn)
        .await
}

/// Turns on member approval for the org; returns whether it was off. Only call when
/// [`has_member_approval`].
pub async fn require_member_approval(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        orgs::table
            .find(org_id)
            .filter(orgs::member_approval_required.eq(false)),
    )
    .set((
        orgs::member_approval_required.eq(true),
        orgs::updated_at.eq(now),
    ))
    .execute(conn)
    .await
    .map(|updated| updated == 1)
}

pub async fn exists(conn: &mut AsyncPgConnection, org_id: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(orgs::table.find(org_id)))
        .get_result(conn)
        .await
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<i32> {
    diesel::insert_into(orgs::table)
        .values((
            orgs::name.eq(name),
            orgs::created_at.eq(now),
            orgs::updated_at.eq(now),
        ))
        .returning(orgs::id)
        .get_result(conn)
        .await
}
