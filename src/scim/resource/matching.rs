//! Evaluates value filters against the values of a document: [`matches_filter`].

use serde_json::Value;

use super::is_nothing;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::schema::{AttributeDef, Kind};

/// Evaluates a value filter (`type eq "work"` from `emails[type eq "work"]`) against one
/// value of the multi-valued attribute `def`. Paths name sub-attributes of `def`; a path
/// naming none matches nothing. Strings compare without regard to case unless the
/// sub-attribute is `caseExact`; a number compares numerically with a numeric string; an
/// absent or empty sub-attribute equals only `null`.
pub fn matches_filter(filter: &Filter, item: &Value, def: &AttributeDef) -> bool {
    let lookup = |path: &AttrPath| {
        let sub = def.sub(&path.name)?;
        Some((sub, item.get(sub.name).filter(|v| !is_nothing(v))))
    };
    match filter {
        Filter::Compare { path, op, value } => {
            lookup(path).is_some_and(|(sub, actual)| compare(sub, actual, *op, value))
        }
        Filter::Present(path) => lookup(path).is_some_and(|(_, actual)| actual.is_some()),
        Filter::And(a, b) => matches_filter(a, item, def) && matches_filter(b, item, def),
        Filter::Or(a, b) => matches_filter(a, item, def) || matches_filter(b, item, def),
        Filter::Not(inner) => !matches_filter(inner, item, def),
        Filter::ValuePath { .. } => false,
    }
}

pub(super) fn compare(
    sub: &AttributeDef,
    actual: Option<&Value>,
    op: CompareOp,
    expected: &CompValue,
) -> bool {
    let actual = match actual {
        // An absent value equals only null, and differs from everything else.
        None => {
            let is_null = matches!(expected, CompValue::Null);
            return (op == CompareOp::Eq && is_null) || (op == CompareOp::Ne && !is_null);
        }
        Some(_) if matches!(expected, CompValue::Null) => return op == CompareOp::Ne,
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    };
    let (expected, numeric) = match expected {
        CompValue::Str(s) => (s.clone(), None),
        CompValue::Num(n) => (n.to_string(), n.as_f64()),
        CompValue::Bool(b) => (b.to_string(), None),
        CompValue::Null => return false,
    };
    if let (Some(b), Ok(a)) = (numeric, actual.trim().parse::<f64>()) {
        if let Some(ordering) = a.partial_cmp(&b) {
            return ordered(op, ordering, &actual, &expected);
        }
    }
    let (a, b) = if sub.case_exact && sub.kind != Kind::Boolean {
        (actual, expected)
    } else {
        (actual.to_lowercase(), expected.to_lowercase())
    };
    ordered(op, a.cmp(&b), &a, &b)
}

fn ordered(op: CompareOp, ordering: std::cmp::Ordering, a: &str, b: &str) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Ne => ordering != Equal,
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
    }
}
