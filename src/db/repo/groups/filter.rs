//! Filters and sorting of group lists, compiled to SQL conditions on the org's groups.

use diesel::dsl::not;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Bool, Nullable, Text};
use diesel::BoxableExpression;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{GroupId, GroupRow};
use crate::db::functions::{identity_key, known};
use crate::db::repo::members::{hand_written_expression, write_comparison, write_presence};
use crate::db::repo::members::{CompareValue, Op};
use crate::db::schema::{group_member, groups, member};

/// A singular value of a group, for filters and sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Id,
    DisplayName,
    ExternalId,
    Created,
    LastModified,
}

/// What a list of groups may be filtered on.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupFilter {
    /// `displayName eq`: on the uniqueness index, in the identity sense.
    DisplayName(String),
    /// `externalId eq`: on its index, as written.
    ExternalId(String),
    Id(GroupId),
    /// Any other comparison (see `members::generic`).
    Compare {
        field: GroupField,
        op: Op,
        value: CompareValue,
    },
    /// Has a non-empty value.
    Present(GroupField),
    /// The user is a member answers show.
    Member(String),
    /// Some member answers show.
    HasMembers,
    Constant(bool),
    And(Box<GroupFilter>, Box<GroupFilter>),
    Or(Box<GroupFilter>, Box<GroupFilter>),
    Not(Box<GroupFilter>),
}

/// A condition on a group row; NULL means unknown and is never true.
pub type GroupCondition = Box<dyn BoxableExpression<groups::table, Pg, SqlType = Nullable<Bool>>>;

impl GroupFilter {
    /// The SQL condition; `org_id` scopes the member lookups.
    pub fn compile(&self, org_id: i32) -> GroupCondition {
        match self {
            GroupFilter::DisplayName(name) => Box::new(
                identity_key(groups::display_name)
                    .eq(identity_key(name.clone()))
                    .nullable(),
            ),
            GroupFilter::ExternalId(id) => Box::new(groups::external_id.eq(id.clone())),
            GroupFilter::Id(id) => Box::new(groups::id.eq(*id).nullable()),
            GroupFilter::Compare { field, op, value } => Box::new(FieldCondition::Compare {
                field: *field,
                op: *op,
                value: value.clone(),
            }),
            GroupFilter::Present(field) => Box::new(FieldCondition::Present(*field)),
            GroupFilter::Member(user_id) => Box::new(
                groups::id
                    .eq_any(
                        group_member::table
                            .inner_join(
                                member::table.on(member::org_id
                                    .eq(group_member::org_id)
                                    .and(member::user_id.eq(group_member::user_id))),
                            )
                            .filter(group_member::org_id.eq(org_id))
                            .filter(group_member::user_id.eq(user_id.clone()))
                            .filter(member::is_active.eq(true))
                            .filter(member::hidden_at.is_null())
                            .select(group_member::group_id),
                    )
                    .nullable(),
            ),
            GroupFilter::HasMembers => Box::new(
                groups::id
                    .eq_any(
                        group_member::table
                            .inner_join(
                                member::table.on(member::org_id
                                    .eq(group_member::org_id)
                                    .and(member::user_id.eq(group_member::user_id))),
                            )
                            .filter(group_member::org_id.eq(org_id))
                            .filter(member::is_active.eq(true))
                            .filter(member::hidden_at.is_null())
                            .select(group_member::group_id),
                    )
                    .nullable(),
            ),
            GroupFilter::Constant(value) => Box::new((*value).into_sql::<Bool>().nullable()),
            GroupFilter::And(a, b) => Box::new(a.compile(org_id).and(b.compile(org_id))),
            GroupFilter::Or(a, b) => Box::new(a.compile(org_id).or(b.compile(org_id))),
            // A comparison with a missing attribute is unknown; its negation must be true.
            GroupFilter::Not(inner) => Box::new(not(known(inner.compile(org_id), false))),
        }
    }
}

/// A comparison or presence test on a column of the group, written by the same SQL writers as
/// the member filters, so both resources compare alike (case, code-point order, instants).
#[derive(Debug, Clone, PartialEq)]
enum FieldCondition {
    Compare {
        field: GroupField,
        op: Op,
        value: CompareValue,
    },
    Present(GroupField),
}

hand_written_expression!(FieldCondition, Nullable<Bool>);

impl QueryFragment<Pg> for FieldCondition {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            FieldCondition::Compare { field, op, value } => {
                write_comparison(out.reborrow(), |out| field_sql(out, *field), *op, value)
            }
            FieldCondition::Present(field) => {
                write_presence(out.reborrow(), |out| field_sql(out, *field))
            }
        }
    }
}

fn field_sql(mut out: AstPass<'_, '_, Pg>, field: GroupField) -> QueryResult<()> {
    match field {
        GroupField::Id => {
            out.push_sql("(");
            groups::id.walk_ast(out.reborrow())?;
            out.push_sql("::text)");
            Ok(())
        }
        GroupField::DisplayName => groups::display_name.walk_ast(out.reborrow()),
        GroupField::ExternalId => groups::external_id.walk_ast(out.reborrow()),
        GroupField::Created => groups::created_at.walk_ast(out.reborrow()),
        GroupField::LastModified => groups::updated_at.walk_ast(out.reborrow()),
    }
}

/// `ORDER BY` term of a group list: strings without regard to case (but `id` and
/// `externalId`, which are case-exact) in code-point order; missing values last ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSort {
    pub field: GroupField,
    pub descending: bool,
}

hand_written_expression!(GroupSort, Nullable<Text>);

impl QueryFragment<Pg> for GroupSort {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let text = !matches!(self.field, GroupField::Created | GroupField::LastModified);
        let fold = self.field == GroupField::DisplayName;
        if fold {
            out.push_sql("lower(");
        }
        field_sql(out.reborrow(), self.field)?;
        if fold {
            out.push_sql(")");
        }
        if text {
            out.push_sql(" COLLATE \"C\"");
        }
        if self.descending {
            out.push_sql(" DESC");
        }
        Ok(())
    }
}

/// A page of the org's groups matching `filter`, ordered by `sort` then id, and the total.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    filter: Option<&GroupFilter>,
    sort: Option<GroupSort>,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<GroupRow>)> {
    if limit > 0 {
        let mut page = groups::table
            .filter(groups::org_id.eq(org_id))
            .select((group_columns!(), diesel::dsl::count_star().over()))
            .limit(limit)
            .offset(offset)
            .into_boxed();
        page = match sort {
            Some(sort) => page.order((sort, groups::id.asc())),
            None => page.order(groups::id.asc()),
        };
        if let Some(filter) = filter {
            page = page.filter(filter.compile(org_id));
        }
        let rows: Vec<(GroupRow, i64)> = page.load(conn).await?;
        if let Some((_, total)) = <[(GroupRow, i64)]>::first(&rows) {
            let total = *total;
            return Ok((total, rows.into_iter().map(|(row, _)| row).collect()));
        }
        if offset == 0 {
            return Ok((0, Vec::new()));
        }
    }
    let mut count = groups::table
        .filter(groups::org_id.eq(org_id))
        .select(diesel::dsl::count_star())
        .into_boxed();
    if let Some(filter) = filter {
        count = count.filter(filter.compile(org_id));
    }
    Ok((count.get_result(conn).await?, Vec::new()))
}
