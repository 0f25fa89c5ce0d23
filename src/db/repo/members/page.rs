//! The keys of an unfiltered, unsorted page, read from the narrowest indexes, and the number of
//! visible members, for the list query in `super` to join the rest of each row to.
//!
//! The `member` view is a `UNION ALL` whose first branch is a join, and PostgreSQL plans such a
//! branch without an order: a page of the view in id order sorts the whole org first (460 ms at
//! 100,000 members). Here each branch carries its own `ORDER BY`, so the planner merges two
//! ordered index walks (`"UserToOrg"`'s primary key, index only, and the few removed
//! memberships) and stops after the page: an `OFFSET` walks index entries only, and a page
//! after a key starts at that key. Hidden members are left out by an anti-join on the partial
//! index of hidden profiles (migrations/…_profile_hidden_index), so the keys are exactly the
//! visible members the view answers for, in the order of their ids.
//!
//! Hand-written around bound values: diesel does not write a `UNION ALL` of ordered branches,
//! correlated anti-joins or `ARRAY(subquery)`. The SQL text depends only on the shape (with or
//! without a key to start after), so each shape is prepared once per connection.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel::QueryResult;

use super::generic::hand_written_expression;
use crate::db::schema::member;

/// `member.user_id = ANY(ARRAY(<the page's keys>))`.
#[derive(Debug, Clone, PartialEq)]
pub struct PageKeys {
    pub org_id: i32,
    /// Only keys after this one (a cursor page).
    pub after: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

hand_written_expression!(PageKeys, Nullable<Bool>);

impl QueryFragment<Pg> for PageKeys {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        member::user_id.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(ARRAY(SELECT k.user_id FROM (");
        visible_keys(out.reborrow(), &self.org_id, self.after.as_ref(), true)?;
        out.push_sql(") AS k ORDER BY k.user_id LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        out.push_sql(" OFFSET ");
        out.push_bind_param::<BigInt, _>(&self.offset)?;
        out.push_sql("))");
        Ok(())
    }
}

/// The number of the org's visible members, as a scalar subquery: PostgreSQL computes it once
/// per statement, by the same index-only walk.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleCount {
    pub org_id: i32,
}

hand_written_expression!(VisibleCount, BigInt);

impl QueryFragment<Pg> for VisibleCount {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(SELECT count(*) FROM (");
        visible_keys(out.reborrow(), &self.org_id, None, false)?;
        out.push_sql(") AS k)");
        Ok(())
    }
}

/// The ids of the org's visible members (one column, `user_id`): the app's memberships whose
/// profile is not hidden, and the removed ones the service keeps that the app has not added
/// back, as the `member` view defines them.
fn visible_keys<'b>(
    mut out: AstPass<'_, 'b, Pg>,
    org_id: &'b i32,
    after: Option<&'b String>,
    ordered: bool,
) -> QueryResult<()> {
    out.push_sql(
        "(SELECT m.\"userId\" AS user_id FROM public.\"UserToOrg\" AS m WHERE m.\"orgId\" = ",
    );
    out.push_bind_param::<Integer, _>(org_id)?;
    if let Some(after) = after {
        out.push_sql(" AND m.\"userId\" > ");
        out.push_bind_param::<Text, _>(after)?;
    }
    out.push_sql(
        " AND NOT EXISTS (SELECT 1 FROM scim_sidecar.user_profile AS h \
         WHERE h.org_id = m.\"orgId\" AND h.user_id = m.\"userId\" AND h.hidden_at IS NOT NULL)",
    );
    if ordered {
        out.push_sql(" ORDER BY m.\"userId\"");
    }
    out.push_sql(
        ") UNION ALL (SELECT p.user_id FROM scim_sidecar.user_profile AS p \
         WHERE p.removed_at IS NOT NULL AND p.hidden_at IS NULL AND p.org_id = ",
    );
    out.push_bind_param::<Integer, _>(org_id)?;
    if let Some(after) = after {
        out.push_sql(" AND p.user_id > ");
        out.push_bind_param::<Text, _>(after)?;
    }
    out.push_sql(
        " AND NOT EXISTS (SELECT 1 FROM public.\"UserToOrg\" AS m \
         WHERE m.\"orgId\" = p.org_id AND m.\"userId\" = p.user_id)",
    );
    if ordered {
        out.push_sql(" ORDER BY p.user_id");
    }
    out.push_sql(")");
    Ok(())
}

/// The total a page carries in each row.
#[derive(Debug, Clone, PartialEq)]
pub enum Total {
    /// `count(*) OVER ()`: the rows the statement found before its `LIMIT`, computed with
    /// them (a filtered list reads every match anyway).
    Window,
    /// The org's visible members ([`VisibleCount`]), for a page of keys.
    Visible(VisibleCount),
    /// Not wanted (a later cursor page, whose total came with the cursor): `0`, so that the
    /// statement can stop after the page.
    Unwanted,
}

hand_written_expression!(Total, BigInt);

impl QueryFragment<Pg> for Total {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            Total::Window => out.push_sql("count(*) OVER ()"),
            Total::Visible(count) => count.walk_ast(out.reborrow())?,
            Total::Unwanted => out.push_sql("0::int8"),
        }
        Ok(())
    }
}
