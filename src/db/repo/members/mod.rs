//! Memberships of one org as the service sees them: a `"UserToOrg"` row (or, once removed in
//! `remove` mode, what the service kept of it), its `"User"` and the service's own profile
//! row, read through the `scim_sidecar.member` view. Reads here; filters in `filter`, writes
//! in `write`. Every function is scoped to one org, and returns rows, never SCIM documents.

mod filter;
mod generic;
mod page;
mod role;
mod write;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::db::schema::{member, users};

pub use filter::MemberFilter;
pub use generic::{
    ElementFilter, Field, Generic, Op, Sort, SortAfter, SortKey, SortValue, Value as CompareValue,
};
use page::{PageKeys, Total, VisibleCount};
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

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum PageStart {
    /// After skipping this many members (index paging; 0 is the first page).
    Offset(i64),
    /// After this member (cursor paging): its id and its sort value, as a page gave them.
    After {
        user_id: String,
        sort_value: Option<String>,
    },
}

/// A page of the org's visible members.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<'a> {
    pub filter: Option<&'a MemberFilter>,
    pub sort: Option<&'a Sort>,
    pub start: PageStart,
    pub limit: i64,
    /// Whether the total is wanted (a later cursor page has it from its cursor).
    pub total: bool,
}

impl PageRequest<'_> {
    /// Neither filtered nor sorted: the page's keys come from the narrowest indexes
    /// ([`page`]).
    fn by_keys(&self) -> bool {
        self.filter.is_none() && self.sort.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberPage {
    /// `None` only when not wanted.
    pub total: Option<i64>,
    /// Each member with its sort value ([`SortValue`]), which a cursor carries.
    pub rows: Vec<(Member, Option<String>)>,
}

/// The statement of a page (see [`list`]); a macro because its boxed type has no short name.
macro_rules! page_query {
    ($org_id:expr, $request:expr) => {{
        let org_id: i32 = $org_id;
        let request: &PageRequest<'_> = $request;
        let total = match (request.total, request.by_keys()) {
            (false, _) => Total::Unwanted,
            (true, true) => Total::Visible(VisibleCount { org_id }),
            (true, false) => Total::Window,
        };
        let mut page = org_members!(org_id)
            .filter(member::hidden_at.is_null())
            .select((member_columns!(), total, SortValue(request.sort.cloned())))
            .limit(request.limit)
            .into_boxed();
        let (offset, after) = match &request.start {
            PageStart::Offset(offset) => (*offset, None),
            PageStart::After {
                user_id,
                sort_value,
            } => (0, Some((user_id, sort_value))),
        };
        if request.by_keys() {
            page = page.filter(PageKeys {
                org_id,
                after: after.map(|(user_id, _)| user_id.clone()),
                limit: request.limit,
                offset,
            });
        } else {
            if let Some(filter) = request.filter {
                page = page.filter(filter.compile(org_id));
            }
            if let Some((user_id, sort_value)) = after {
                page = match request.sort {
                    Some(sort) => page.filter(SortAfter {
                        sort: sort.clone(),
                        value: sort_value.clone(),
                        user_id: user_id.clone(),
                    }),
                    None => page.filter(users::id.gt(user_id.clone()).nullable()),
                };
            }
            page = page.offset(offset);
        }
        match request.sort {
            Some(sort) => page.order((sort.clone(), users::id.asc())),
            None => page.order(users::id.asc()),
        }
    }};
}

/// A page of the org's visible members matching the filter, ordered by the sort then by id
/// (so that pages never overlap), and the total, read in one statement so that both describe
/// the same snapshot.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    request: &PageRequest<'_>,
) -> QueryResult<MemberPage> {
    if request.limit > 0 {
        let rows: Vec<(Member, i64, Option<String>)> =
            page_query!(org_id, request).load(conn).await?;
        if let Some((_, total, _)) = <[(Member, i64, Option<String>)]>::first(&rows) {
            return Ok(MemberPage {
                total: request.total.then_some(*total),
                rows: rows
                    .into_iter()
                    .map(|(member, _, sort_value)| (member, sort_value))
                    .collect(),
            });
        }
        if !request.total {
            return Ok(MemberPage {
                total: None,
                rows: Vec::new(),
            });
        }
        if request.start == PageStart::Offset(0) {
            // An empty first page already says there is nobody (Okta's existence check, Entra's
            // connection test): no second statement.
            return Ok(MemberPage {
                total: Some(0),
                rows: Vec::new(),
            });
        }
    }
    // `count=0`, or a page past the end: only the total is wanted.
    let total = if request.by_keys() {
        diesel::select(VisibleCount { org_id })
            .get_result(conn)
            .await?
    } else {
        let mut count = org_members!(org_id)
            .filter(member::hidden_at.is_null())
            .select(diesel::dsl::count_star())
            .into_boxed();
        if let Some(filter) = request.filter {
            count = count.filter(filter.compile(org_id));
        }
        count.get_result(conn).await?
    };
    Ok(MemberPage {
        total: Some(total),
        rows: Vec::new(),
    })
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

/// PostgreSQL's plan for a page, as [`list`] reads it: lets tests prove that a page does not
/// sort the org.
#[cfg(feature = "dev")]
pub async fn explain_page(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    request: &PageRequest<'_>,
) -> QueryResult<Vec<String>> {
    crate::db::explain::Explain(page_query!(org_id, request))
        .load(conn)
        .await
}
