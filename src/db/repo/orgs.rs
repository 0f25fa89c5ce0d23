//! `"Org"` rows: the service never creates orgs in production; `create` serves `demo` and
//! tests.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::orgs;

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
