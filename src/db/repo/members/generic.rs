//! Conditions on any attribute of a member: the values the service stores in its profile
//! document, the names it derives from `"User".name` for members without their own, and the
//! columns. Written as SQL by hand around bound values, because they walk JSON
//! (`jsonb_array_elements`, `#>>`), which diesel's builder does not express; the SQL text
//! depends only on the shape of the condition, so each shape is still prepared once per
//! connection.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, Bool, Nullable, Text, Timestamp};
use diesel::QueryResult;

use crate::db::schema::{member, users};

/// The diesel traits of a hand-written SQL fragment used as an expression of `$sql_type`: it
/// is never an aggregate, names only the columns of the member view and `"User"` (which every
/// member query joins), and is cached by its SQL text (no static query id).
macro_rules! hand_written_expression {
    ($fragment:ty, $sql_type:ty) => {
        impl diesel::expression::Expression for $fragment {
            type SqlType = $sql_type;
        }

        impl diesel::query_builder::QueryId for $fragment {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl diesel::expression::ValidGrouping<()> for $fragment {
            type IsAggregate = diesel::expression::is_aggregate::Never;
        }

        impl<QS> diesel::expression::AppearsOnTable<QS> for $fragment {}
        impl<QS> diesel::expression::SelectableExpression<QS> for $fragment {}
    };
}
pub(crate) use hand_written_expression;

/// A singular value of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The stored userName, else the app's address, else the id.
    UserName,
    ExternalId,
    Id,
    Active,
    /// `joinedAt`.
    Created,
    /// The later of the account's and the profile's last change.
    LastModified,
    /// Stored, else `"User".name`.
    DisplayName,
    /// Stored, else `"User".name`.
    NameFormatted,
    /// Stored, else the first word of `"User".name` (when no name part is stored).
    GivenName,
    /// Stored, else the rest of `"User".name` (when no name part is stored).
    FamilyName,
    /// A string at this path of the stored document (e.g. `["title"]`,
    /// `["urn:…:enterprise:2.0:User", "manager", "value"]`).
    Stored(Vec<&'static str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value, already of the attribute's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text {
        text: String,
        /// Compare as written (`caseExact`), or both sides lower-cased.
        case_exact: bool,
    },
    Bool(bool),
    Time(NaiveDateTime),
}

/// A condition on one element of a multi-valued attribute; sub-attribute names come from the
/// service's schema.
#[derive(Debug, Clone, PartialEq)]
pub enum ElementFilter {
    Compare {
        sub: &'static str,
        op: Op,
        value: Value,
    },
    Present(&'static str),
    And(Box<ElementFilter>, Box<ElementFilter>),
    Or(Box<ElementFilter>, Box<ElementFilter>),
    Not(Box<ElementFilter>),
}

/// A leaf of a member filter that needs hand-written SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Generic {
    Compare {
        field: Field,
        op: Op,
        value: Value,
    },
    /// Has a value that is not empty (RFC 7644 `pr`).
    Present(Field),
    /// Some element of the multi-valued attribute `list` satisfies `filter`.
    AnyElement {
        list: &'static str,
        filter: ElementFilter,
    },
    /// The multi-valued attribute has at least one element.
    NonEmpty(&'static str),
}

hand_written_expression!(Generic, Nullable<Bool>);

impl QueryFragment<Pg> for Generic {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            Generic::Compare { field, op, value } => {
                compare(out.reborrow(), |out| field_sql(out, field), *op, value)
            }
            Generic::Present(field) => present(out.reborrow(), |out| field_sql(out, field)),
            Generic::AnyElement { list, filter } => {
                out.push_sql("EXISTS (SELECT 1 FROM jsonb_array_elements(");
                list_sql(out.reborrow(), list)?;
                out.push_sql(") AS e WHERE ");
                element_sql(out.reborrow(), filter)?;
                out.push_sql(")");
                Ok(())
            }
            Generic::NonEmpty(list) => {
                out.push_sql("jsonb_array_length(");
                list_sql(out.reborrow(), list)?;
                out.push_sql(") > 0");
                Ok(())
            }
        }
    }
}

/// `"User".name` when it is not blank: the name the app knows.
fn app_name(mut out: AstPass<'_, '_, Pg>) -> QueryResult<()> {
    out.push_sql("(CASE WHEN btrim(");
    users::name.walk_ast(out.reborrow())?;
    out.push_sql(") <> '' THEN ");
    users::name.walk_ast(out.reborrow())?;
    out.push_sql(" END)");
    Ok(())
}

/// The text (or boolean, or timestamp) value of a field.
fn field_sql<'b>(mut out: AstPass<'_, 'b, Pg>, field: &'b Field) -> QueryResult<()> {
    match field {
        Field::UserName => {
            out.push_sql("coalesce(");
            member::user_name.walk_ast(out.reborrow())?;
            out.push_sql(", ");
            users::email.walk_ast(out.reborrow())?;
            out.push_sql(", ");
            member::user_id.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        Field::ExternalId => member::external_id.walk_ast(out.reborrow())?,
        Field::Id => member::user_id.walk_ast(out.reborrow())?,
        Field::Active => member::is_active.walk_ast(out.reborrow())?,
        Field::Created => member::joined_at.walk_ast(out.reborrow())?,
        Field::LastModified => {
            out.push_sql("greatest(");
            users::updated_at.walk_ast(out.reborrow())?;
            out.push_sql(", ");
            member::profile_updated_at.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        Field::DisplayName | Field::NameFormatted => {
            out.push_sql("coalesce(");
            member::attributes.walk_ast(out.reborrow())?;
            out.push_sql(if *field == Field::DisplayName {
                " ->> 'displayName', "
            } else {
                " #>> '{name,formatted}', "
            });
            app_name(out.reborrow())?;
            out.push_sql(")");
        }
        Field::GivenName | Field::FamilyName => {
            // As `UserRecord::document` derives them: only when no name part is stored.
            let (stored, derived) = if *field == Field::GivenName {
                ("'{name,givenName}'", "'^[[:space:]]*([^[:space:]]+)'")
            } else {
                (
                    "'{name,familyName}'",
                    "'^[[:space:]]*[^[:space:]]+[[:space:]]+(.*[^[:space:]])[[:space:]]*$'",
                )
            };
            out.push_sql("(CASE WHEN coalesce(");
            member::attributes.walk_ast(out.reborrow())?;
            out.push_sql(" -> 'name' ?| array['givenName', 'familyName'], false) THEN ");
            member::attributes.walk_ast(out.reborrow())?;
            out.push_sql(" #>> ");
            out.push_sql(stored);
            out.push_sql(" ELSE substring(");
            app_name(out.reborrow())?;
            out.push_sql(" from ");
            out.push_sql(derived);
            out.push_sql(") END)");
        }
        Field::Stored(path) => {
            out.push_sql("(");
            member::attributes.walk_ast(out.reborrow())?;
            out.push_sql(" #>> ");
            // The path is written as a constant so that an index on the same expression
            // (migrations/…_lookup_indexes) serves it in every plan. Paths are the schema's
            // own names; anything else would be bound.
            if path.iter().all(|name| is_plain_name(name)) {
                out.push_sql("'{");
                out.push_sql(&path.join(","));
                out.push_sql("}'::text[]");
            } else {
                out.push_bind_param::<Array<Text>, _>(path)?;
            }
            out.push_sql(")");
        }
    }
    Ok(())
}

/// Letters, digits and the URN punctuation: safe inside a SQL text-array constant.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-' | '_' | '$'))
}

/// The elements of a multi-valued attribute, as a JSON array. A member the app created shows
/// one e-mail: its address, `work`, primary.
fn list_sql<'b>(mut out: AstPass<'_, 'b, Pg>, list: &'b &'static str) -> QueryResult<()> {
    out.push_sql("(CASE WHEN jsonb_typeof(");
    stored_list(out.reborrow(), list)?;
    out.push_sql(") = 'array' THEN ");
    stored_list(out.reborrow(), list)?;
    out.push_sql(" ELSE '[]'::jsonb END)");
    Ok(())
}

fn stored_list<'b>(mut out: AstPass<'_, 'b, Pg>, list: &'b &'static str) -> QueryResult<()> {
    if *list == "emails" {
        out.push_sql("(CASE WHEN ");
        member::user_name.walk_ast(out.reborrow())?;
        out.push_sql(" IS NULL AND ");
        users::email.walk_ast(out.reborrow())?;
        out.push_sql(" IS NOT NULL THEN jsonb_build_array(jsonb_build_object('value', ");
        users::email.walk_ast(out.reborrow())?;
        out.push_sql(", 'type', 'work', 'primary', true)) ELSE ");
        member::attributes.walk_ast(out.reborrow())?;
        out.push_sql(" -> 'emails' END)");
    } else {
        out.push_sql("(");
        member::attributes.walk_ast(out.reborrow())?;
        out.push_sql(" -> ");
        out.push_bind_param::<Text, _>(list)?;
        out.push_sql(")");
    }
    Ok(())
}

fn element_sql<'b>(mut out: AstPass<'_, 'b, Pg>, filter: &'b ElementFilter) -> QueryResult<()> {
    match filter {
        ElementFilter::Compare {
            sub,
            op,
            value: Value::Bool(flag),
        } => {
            // A stored boolean reads as the text `true` or `false`.
            let text: &'b &'static str = if *flag { &"true" } else { &"false" };
            out.push_sql(if *op == Op::Ne { "(NOT " } else { "(" });
            out.push_sql("coalesce((e ->> ");
            out.push_bind_param::<Text, _>(sub)?;
            out.push_sql(") = ");
            out.push_bind_param::<Text, _>(text)?;
            out.push_sql(", false))");
            Ok(())
        }
        ElementFilter::Compare { sub, op, value } => compare(
            out.reborrow(),
            |mut out| {
                out.push_sql("(e ->> ");
                out.push_bind_param::<Text, _>(sub)?;
                out.push_sql(")");
                Ok(())
            },
            *op,
            value,
        ),
        ElementFilter::Present(sub) => present(out.reborrow(), |mut out| {
            out.push_sql("(e ->> ");
            out.push_bind_param::<Text, _>(sub)?;
            out.push_sql(")");
            Ok(())
        }),
        ElementFilter::And(a, b) | ElementFilter::Or(a, b) => {
            out.push_sql("((");
            element_sql(out.reborrow(), a)?;
            out.push_sql(if matches!(filter, ElementFilter::And(..)) {
                ") AND ("
            } else {
                ") OR ("
            });
            element_sql(out.reborrow(), b)?;
            out.push_sql("))");
            Ok(())
        }
        ElementFilter::Not(inner) => {
            out.push_sql("NOT coalesce((");
            element_sql(out.reborrow(), inner)?;
            out.push_sql("), false)");
            Ok(())
        }
    }
}

/// `pr`: a value that is not empty.
pub(crate) fn present<'b, F>(mut out: AstPass<'_, 'b, Pg>, value: F) -> QueryResult<()>
where
    F: Fn(AstPass<'_, 'b, Pg>) -> QueryResult<()>,
{
    out.push_sql("coalesce(");
    value(out.reborrow())?;
    out.push_sql("::text <> '', false)");
    Ok(())
}

/// The SQL operator of an ordering or equality comparison.
fn comparison_operator(op: Op) -> &'static str {
    match op {
        Op::Gt => " > ",
        Op::Ge => " >= ",
        Op::Lt => " < ",
        Op::Le => " <= ",
        _ => " = ",
    }
}

/// One comparison, RFC 7644 §3.4.2.2: strings with or without regard to case, ordering by code
/// point (`COLLATE "C"`), booleans and instants by value. `ne` is true where the value is
/// missing.
pub(crate) fn compare<'b, F>(
    mut out: AstPass<'_, 'b, Pg>,
    lhs: F,
    op: Op,
    value: &'b Value,
) -> QueryResult<()>
where
    F: Fn(AstPass<'_, 'b, Pg>) -> QueryResult<()>,
{
    if op == Op::Ne {
        out.push_sql("NOT coalesce(");
        compare(out.reborrow(), lhs, Op::Eq, value)?;
        out.push_sql(", false)");
        return Ok(());
    }
    match value {
        Value::Bool(flag) => {
            // Booleans only compare for (in)equality; a stored one is JSON.
            out.push_sql("(");
            lhs(out.reborrow())?;
            out.push_sql(" = ");
            out.push_bind_param::<Bool, _>(flag)?;
            out.push_sql(")");
        }
        Value::Time(time) => {
            out.push_sql("(");
            lhs(out.reborrow())?;
            out.push_sql(comparison_operator(op));
            out.push_bind_param::<Timestamp, _>(time)?;
            out.push_sql(")");
        }
        Value::Text { text, case_exact } => {
            let side = |mut out: AstPass<'_, 'b, Pg>, left: bool| -> QueryResult<()> {
                if !case_exact {
                    out.push_sql("lower(");
                }
                if left {
                    lhs(out.reborrow())?;
                } else {
                    out.push_bind_param::<Text, _>(text)?;
                }
                if !case_exact {
                    out.push_sql(")");
                }
                Ok(())
            };
            out.push_sql("(");
            match op {
                Op::Co | Op::Sw => {
                    // strpos(value, text) > 0 | starts_with(value, text)
                    let (call, close) = if op == Op::Co {
                        ("strpos(", ") > 0")
                    } else {
                        ("starts_with(", ")")
                    };
                    out.push_sql(call);
                    side(out.reborrow(), true)?;
                    out.push_sql(", ");
                    side(out.reborrow(), false)?;
                    out.push_sql(close);
                }
                Op::Ew => {
                    out.push_sql("right(");
                    side(out.reborrow(), true)?;
                    out.push_sql(", length(");
                    side(out.reborrow(), false)?;
                    out.push_sql(")) = ");
                    side(out.reborrow(), false)?;
                }
                _ => {
                    side(out.reborrow(), true)?;
                    // Ordering by code point; equality is the same under every deterministic
                    // collation, and without the clause it matches expression indexes.
                    if op != Op::Eq {
                        out.push_sql(" COLLATE \"C\"");
                    }
                    out.push_sql(comparison_operator(op));
                    side(out.reborrow(), false)?;
                }
            }
            out.push_sql(")");
        }
    }
    Ok(())
}

/// What a list is ordered by (RFC 7644 §3.4.2.3): a singular value, or a multi-valued
/// attribute's primary value (else its first).
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Field {
        field: Field,
        case_exact: bool,
    },
    Primary {
        list: &'static str,
        sub: &'static str,
        case_exact: bool,
    },
}

/// `ORDER BY` term: the key, then the direction. PostgreSQL sorts a missing value after every
/// other in ascending order and before them in descending order, as RFC 7644 §3.4.2.3 asks.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

// Typed as text only so that it can stand in an ORDER BY.
hand_written_expression!(Sort, Nullable<Text>);

impl QueryFragment<Pg> for Sort {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        sort_expression(out.reborrow(), &self.key)?;
        if self.descending {
            out.push_sql(" DESC");
        }
        Ok(())
    }
}

impl SortKey {
    fn case_exact(&self) -> bool {
        match self {
            SortKey::Field { case_exact, .. } | SortKey::Primary { case_exact, .. } => *case_exact,
        }
    }

    /// The SQL type of the key when it is not text, as a cursor's value is cast back to it.
    fn sql_type(&self) -> Option<&'static str> {
        match self {
            SortKey::Field {
                field: Field::Active,
                ..
            } => Some("boolean"),
            SortKey::Field {
                field: Field::Created | Field::LastModified,
                ..
            } => Some("timestamp"),
            _ => None,
        }
    }
}

/// The value a list is ordered by, without the direction: text keys lower-cased unless
/// `caseExact`, and compared by code point.
fn sort_expression<'b>(mut out: AstPass<'_, 'b, Pg>, key: &'b SortKey) -> QueryResult<()> {
    let text = key.sql_type().is_none();
    let fold = text && !key.case_exact();
    if fold {
        out.push_sql("lower(");
    }
    match key {
        SortKey::Field { field, .. } => field_sql(out.reborrow(), field)?,
        SortKey::Primary { list, sub, .. } => {
            out.push_sql("(SELECT t.e ->> ");
            out.push_bind_param::<Text, _>(sub)?;
            out.push_sql(" FROM jsonb_array_elements(");
            list_sql(out.reborrow(), list)?;
            out.push_sql(
                ") WITH ORDINALITY AS t(e, i) \
                 ORDER BY coalesce(t.e ->> 'primary', 'false') = 'true' DESC, t.i LIMIT 1)",
            );
        }
    }
    if fold {
        out.push_sql(")");
    }
    if text {
        out.push_sql(" COLLATE \"C\"");
    }
    Ok(())
}

/// A row's sort value as text, `NULL` when the attribute is missing or the list is not
/// sorted: what a cursor carries to start the next page after.
#[derive(Debug, Clone, PartialEq)]
pub struct SortValue(pub Option<Sort>);

hand_written_expression!(SortValue, Nullable<Text>);

impl QueryFragment<Pg> for SortValue {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match &self.0 {
            None => out.push_sql("NULL::text"),
            Some(sort) => {
                out.push_sql("(");
                sort_expression(out.reborrow(), &sort.key)?;
                out.push_sql(")::text");
            }
        }
        Ok(())
    }
}

/// The rows after one row, in the order `ORDER BY <sort>, "User".id`: a missing value sorts
/// after every other in ascending order and before them in descending order, and ties go by
/// id, ascending either way.
#[derive(Debug, Clone, PartialEq)]
pub struct SortAfter {
    pub sort: Sort,
    /// The sort value of the row to start after, as [`SortValue`] gave it.
    pub value: Option<String>,
    pub user_id: String,
}

hand_written_expression!(SortAfter, Nullable<Bool>);

impl QueryFragment<Pg> for SortAfter {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let key = &self.sort.key;
        let expression = |out: AstPass<'_, 'b, Pg>| sort_expression(out, key);
        let value = |mut out: AstPass<'_, 'b, Pg>, value: &'b String| -> QueryResult<()> {
            match key.sql_type() {
                Some(sql_type) => {
                    out.push_sql("CAST(");
                    out.push_bind_param::<Text, _>(value)?;
                    out.push_sql(" AS ");
                    out.push_sql(sql_type);
                    out.push_sql(")");
                }
                None => out.push_bind_param::<Text, _>(value)?,
            }
            Ok(())
        };
        let later_id = |mut out: AstPass<'_, 'b, Pg>| -> QueryResult<()> {
            users::id.walk_ast(out.reborrow())?;
            out.push_sql(" > ");
            out.push_bind_param::<Text, _>(&self.user_id)
        };
        out.push_sql("(");
        match (&self.value, self.sort.descending) {
            (Some(v), descending) => {
                // (E > V) OR (E = V AND id > K) [OR E IS NULL]
                out.push_sql("(");
                expression(out.reborrow())?;
                out.push_sql(if descending { " < " } else { " > " });
                value(out.reborrow(), v)?;
                out.push_sql(") OR (");
                expression(out.reborrow())?;
                out.push_sql(" = ");
                value(out.reborrow(), v)?;
                out.push_sql(" AND ");
                later_id(out.reborrow())?;
                out.push_sql(")");
                if !descending {
                    out.push_sql(" OR ");
                    expression(out.reborrow())?;
                    out.push_sql(" IS NULL");
                }
            }
            (None, false) => {
                expression(out.reborrow())?;
                out.push_sql(" IS NULL AND ");
                later_id(out.reborrow())?;
            }
            (None, true) => {
                expression(out.reborrow())?;
                out.push_sql(" IS NOT NULL OR ");
                later_id(out.reborrow())?;
            }
        }
        out.push_sql(")");
        Ok(())
    }
}
