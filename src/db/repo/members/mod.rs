//! Memberships of one org as the service sees them: a `"UserToOrg"` row (or, once removed in
//! `remove` mode, what the service kept of it), its `"User"` and the service's own profile
//! row, read through the `scim_sidecar.member` view. Reads here; filters in `filter`, writes
//! in `write`. Every function is scoped to one org, and returns rows, never SCIM documents.

mod filter;
mod generic;
mod role;
mod write;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::db::schema::{member, users};

pub use filter::MemberFilter;
pub use generic::{ElementFilter, Field, Generic, Op, Sort, SortKey, Value as CompareValue};
pub use role::OrgRole;
pub use write::*;
// The SQL writers of comparisons, shared with the group filters.
pub(crate) use generic::{
    compare as write_comparison, hand_written_expression, present as write_presence,
};

/// A membership and what the service keeps about it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Member {
    pub user_id: String,
    /// `"User".email`: the address the app signs the person in with.
    pub email: Option<String>,
    /// `"User".name`, shared by every org the person belongs to.
    pub name: Option<String>,
    pub user_updated_at: NaiveDateTime,
    pub joined_at: NaiveDateTime,
    pub is_active: bool,
    pub external_id: Option<String>,
    pub role: OrgRole,
    /// Its `"UserToOrg"` row was deleted by a deprovision in `remove` mode.
    pub removed: bool,
    /// The IdP's userName as sent; `None` for a membership the app created.
    pub user_name: Option<String>,
    /// The attributes the service stores (`None` for a membership the app created).
    pub attributes: Option<Value>,
    /// DELETEd through SCIM: invisible until the same person is provisioned again.
    pub hidden_at: Option<NaiveDateTime>,
    pub profile_updated_at: Option<NaiveDateTime>,
}

impl Member {
    pub fn hidden(&self) -> bool {
        self.hidden_at.is_some()
    }
}

/// The columns of [`Member`], in its field order.
macro_rules! member_columns {
    () => {
        (
            users::id,
            users::email,
            users::name,
            users::updated_at,
            member::joined_at,
            member::is_active,
            member::external_id,
            member::role,
            member::removed,
            member::user_name,
            member::attributes,
            member::hidden_at,
            member::profile_updated_at,
        )
    };
}
pub(crate) use member_columns;

/// The org's memberships joined to their `"User"` rows.
macro_rules! org_members {
    ($org_id:expr) => {
        member::table
            .inner_join(users::table)
            .filter(member::org_id.eq($org_id))
    };
}
pub(crate) use org_members;

/// The org's membership of `user_id`, hidden or not.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<Option<Member>> {
    org_members!(org_id)
        .filter(member::user_id.eq(user_id))
        .select(member_columns!())
        .get_result(conn)
        .await
        .optional()
}

/// A page of the org's visible members matching `filter`, ordered by `sort` then by id (so
/// that pages never overlap), and the total, read in one statement so that both describe the
/// same snapshot.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    filter: Option<&MemberFilter>,
    sort: Option<&Sort>,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<Member>)> {
    if limit > 0 {
        let mut page = org_members!(org_id)
            .filter(member::hidden_at.is_null())
            .select((member_columns!(), diesel::dsl::count_star().over()))
            .limit(limit)
            .offset(offset)
            .into_boxed();
        page = match sort {
            Some(sort) => page.order((sort.clone(), users::id.asc())),
            None => page.order(users::id.asc()),
        };
        if let Some(filter) = filter {
            page = page.filter(filter.compile(org_id));
        }
        let rows: Vec<(Member, i64)> = page.load(conn).await?;
        if let Some((_, total)) = <[(Member, i64)]>::first(&rows) {
            let total = *total;
            return Ok((total, rows.into_iter().map(|(member, _)| member).collect()));
        }
        if offset == 0 {
            // An empty first page already says there is nobody (Okta's existence check, Entra's
            // connection test): no second statement.
            return Ok((0, Vec::new()));
        }
    }
    // `count=0`, or a page past the end: only the total is wanted.
    let mut count = org_members!(org_id)
        .filter(member::hidden_at.is_null())
        .select(diesel::dsl::count_star())
        .into_boxed();
    if let Some(filter) = filter {
        count = count.filter(filter.compile(org_id));
    }
    Ok((count.get_result(conn).await?, Vec::new()))
}

/// PostgreSQL's plan for a list query, one line per row of `EXPLAIN`: lets tests prove that
/// every filter is answered by an index.
#[cfg(feature = "dev")]
pub async fn explain_list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    filter: &MemberFilter,
) -> QueryResult<Vec<String>> {
    let query = org_members!(org_id)
        .filter(member::hidden_at.is_null())
        .filter(filter.compile(org_id))
        .select(member_columns!())
        .order(users::id.asc())
        .limit(200)
        .into_boxed();
    crate::db::explain::Explain(query).load(conn).await
}
