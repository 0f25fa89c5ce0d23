//! Member filters compiled to SQL conditions on the org's members.
//!
//! Identity lookups (userName, addresses) are answered through indexes even though the value
//! lives in two tables (the service's profile for provisioned members, `"User"` for members the
//! app created): each such leaf first collects the candidate user ids from the indexes of both
//! tables, then checks the exact rule on the joined row. PostgreSQL evaluates the candidate
//! list once and probes `"UserToOrg"`'s primary key with it (through the `member` view), so
//! the org is never walked.

use diesel::dsl::{array, not};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Bool, Nullable};
use diesel::BoxableExpression;

use super::generic::{hand_written_expression, Generic};
use crate::db::functions::{coalesce_text, has_email, identity_key, identity_key_or_null, known};
use crate::db::schema::{member, user_profile, users};

/// What a list may be filtered on. Values are as the client sent them; identities are
/// compared through `identity_key` in SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberFilter {
    /// `"User".id`.
    Id(String),
    /// The member's userName: the stored one, or the app's address for a member the app
    /// created.
    UserName(String),
    /// Any of the member's addresses: a stored one, or the sign-in address.
    Email(String),
    /// Some element of the member's `emails` matching every condition given. A member the app
    /// created has one element: its address, typed `work`, primary.
    EmailElement {
        kind: Option<String>,
        value: Option<String>,
        primary: Option<bool>,
    },
    ExternalId(String),
    Active(bool),
    /// Any other condition, on any attribute (see `generic`).
    Generic(Generic),
    /// Matches every member (`true`) or none.
    Constant(bool),
    And(Box<MemberFilter>, Box<MemberFilter>),
    Or(Box<MemberFilter>, Box<MemberFilter>),
    Not(Box<MemberFilter>),
}

type Source = diesel::dsl::InnerJoinQuerySource<member::table, users::table>;

/// A condition on the joined member row. NULL means "unknown" (a comparison with an attribute
/// the member lacks) and is never true.
pub type Condition = Box<dyn BoxableExpression<Source, Pg, SqlType = Nullable<Bool>>>;

/// The type a boxed candidate query is stored as.
type Candidates = Box<dyn QueryFragment<Pg> + Send>;

impl MemberFilter {
    /// The SQL condition. `org_id` scopes the candidate lookups in the profile table.
    pub fn compile(&self, org_id: i32) -> Condition {
        match self {
            MemberFilter::Id(id) => Box::new(member::user_id.eq(id.clone()).nullable()),
            MemberFilter::ExternalId(id) => Box::new(member::external_id.eq(id.clone())),
            MemberFilter::Active(active) => Box::new(member::is_active.eq(*active).nullable()),
            MemberFilter::Constant(value) => Box::new((*value).into_sql::<Bool>().nullable()),
            MemberFilter::Generic(generic) => Box::new(generic.clone()),
            MemberFilter::UserName(value) => user_name(org_id, value),
            MemberFilter::Email(value) => email(org_id, value),
            MemberFilter::EmailElement {
                kind,
                value,
                primary,
            } => email_element(org_id, kind.as_deref(), value.as_deref(), *primary),
            MemberFilter::And(a, b) => Box::new(a.compile(org_id).and(b.compile(org_id))),
            MemberFilter::Or(a, b) => Box::new(a.compile(org_id).or(b.compile(org_id))),
            // A comparison with a missing attribute is unknown; its negation must be true.
            MemberFilter::Not(inner) => Box::new(not(known(inner.compile(org_id), false))),
        }
    }
}

fn user_name(org_id: i32, value: &str) -> Condition {
    let key = identity_key(value.to_owned());
    let stored = user_profile::table
        .filter(user_profile::org_id.eq(org_id))
        .filter(user_profile::hidden_at.is_null())
        .filter(identity_key_or_null(user_profile::user_name).eq(key.nullable()))
        .select(user_profile::user_id)
        .into_boxed();
    let exact = identity_key_or_null(coalesce_text(member::user_name, users::email))
        .eq(identity_key(value.to_owned()).nullable());
    Box::new(MemberAmong::new(vec![Box::new(stored), account_by_address(value)]).and(exact))
}

fn email(org_id: i32, value: &str) -> Condition {
    let exact = identity_key_or_null(users::email)
        .eq(identity_key(value.to_owned()).nullable())
        .or(member::email_keys.contains(array((identity_key(value.to_owned()),)).nullable()));
    Box::new(address_candidates(org_id, value).and(exact))
}

fn email_element(
    org_id: i32,
    kind: Option<&str>,
    value: Option<&str>,
    primary: Option<bool>,
) -> Condition {
    // A member the app created shows one address, typed work and primary.
    let app_shape =
        kind.is_none_or(|kind| kind.eq_ignore_ascii_case("work")) && primary != Some(false);
    let app_address: Condition = match value {
        Some(value) => Box::new(
            identity_key_or_null(users::email).eq(identity_key(value.to_owned()).nullable()),
        ),
        None => Box::new(users::email.is_not_null().nullable()),
    };
    let app_member: Condition = if app_shape {
        Box::new(member::user_name.is_null().nullable().and(app_address))
    } else {
        Box::new(false.into_sql::<Bool>().nullable())
    };
    let stored = member::user_name.is_not_null().and(has_email(
        member::attributes,
        kind.map(str::to_owned),
        identity_key_or_null(value.map(str::to_owned)),
        primary,
    ));
    let exact: Condition = Box::new(app_member.or(stored.nullable()));
    match value {
        Some(value) => Box::new(address_candidates(org_id, value).and(exact)),
        None => exact,
    }
}

/// Members of the org with a stored address, or a sign-in address, equal to `value`.
fn address_candidates(org_id: i32, value: &str) -> MemberAmong {
    let stored = user_profile::table
        .filter(user_profile::org_id.eq(org_id))
        .filter(user_profile::email_keys.contains(array((identity_key(value.to_owned()),))))
        .select(user_profile::user_id)
        .into_boxed();
    MemberAmong::new(vec![Box::new(stored), account_by_address(value)])
}

/// The app accounts whose address is `value` (the `"User"` identity index).
fn account_by_address(value: &str) -> Candidates {
    Box::new(
        users::table
            .filter(
                identity_key_or_null(users::email).eq(identity_key(value.to_owned()).nullable()),
            )
            .select(users::id)
            .into_boxed(),
    )
}

/// `member.user_id = ANY(ARRAY(<candidates> UNION ALL ...))`. Diesel has no
/// `ARRAY(subquery)`; this fragment writes the glue around typed subqueries, whose SQL and
/// binds diesel writes. Unlike `IN (subquery)`, an array is computed once even under `OR` or
/// `NOT`, and PostgreSQL uses it as a condition on the membership's primary key.
pub struct MemberAmong {
    candidates: Vec<Candidates>,
}

impl MemberAmong {
    fn new(candidates: Vec<Candidates>) -> Self {
        Self { candidates }
    }
}

// Nullable only to compose with the nullable conditions it is combined with.
hand_written_expression!(MemberAmong, Nullable<Bool>);

impl QueryFragment<Pg> for MemberAmong {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        member::user_id.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(ARRAY(");
        for (i, candidates) in self.candidates.iter().enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            out.push_sql("(");
            candidates.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        out.push_sql("))");
        Ok(())
    }
}
