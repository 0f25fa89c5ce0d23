//! The org's `"License"` row, as the app syncs it from the vendor.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::licenses;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = licenses)]
pub struct OrgLicenseRow {
    pub entitlements: Option<Vec<String>>,
    pub seats: Option<i32>,
    pub status: Option<String>,
    pub last_sync_at: Option<NaiveDateTime>,
}

pub async fn find_for_org(
    conn: &mut AsyncPgConnection,
    org_id: i32,
) -> QueryResult<Option<OrgLicenseRow>> {
    licenses::table
        .filter(licenses::org_id.eq(org_id))
        .select(OrgLicenseRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Every org's row; an app deployment has a handful of orgs, so `check` reads them all.
pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<OrgLicenseRow>> {
    licenses::table
        .select(OrgLicenseRow::as_select())
        .load(conn)
        .await
}
