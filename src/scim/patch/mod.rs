//! PATCH requests on User documents (RFC 7644 §3.5.2), as Okta and Microsoft Entra send them.
//! Pure: it imports neither actix nor diesel. Documents are those of [`crate::scim::resource`];
//! every value goes through [`normalize_value`](crate::scim::resource::normalize_value), so a
//! patched document stays canonical.
//!
//! Accepted beyond the strict RFC text, because real IdPs send it:
//! * `op` in any case (`Replace`), `Operations` in any case, `schemas` optional, a blank
//!   `path` meaning no path.
//! * `add`/`replace` without path whose value keys are paths: `name.givenName`,
//!   `urn:...:enterprise:2.0:User:employeeNumber`, `emails[type eq "work"].value`, or a
//!   schema URN holding an object (Entra's aadOptscim062020 flag).
//! * A value path that matches nothing on `add`/`replace` appends a new value built from the
//!   filter's `and`-joined `eq` comparisons (Entra: `emails[type eq "work"].value`).
//! * `"False"`/`"True"` for booleans, a bare id for `manager`, numbers for strings.
//! * Paths to `meta`, `groups`, `schemas` and `password` are ignored, and replacing `id` with
//!   its own value is a no-op.
//! * A path that is a whole schema URN: `add`/`replace` apply its object's attributes;
//!   `remove` of the enterprise URN removes the whole extension.
//! * `remove` of a multi-valued attribute with a `value` removes only the values matching it.

use serde_json::{Map, Value};

use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{parse_path, PatchPath};
use crate::scim::resource::is_nothing;
use crate::scim::schema::ENTERPRISE_USER_SCHEMA;

mod apply;

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// More operations in one request are rejected.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

/// Prefixes an error with the 1-based number of the operation that caused it.
fn in_operation(index: usize) -> impl Fn(ScimError) -> ScimError {
    move |mut e| {
        e.detail = format!("Operation {}: {}", index + 1, e.detail);
        e
    }
}

/// The value under `key`, matched exactly first, then in any case.
fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        let found = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key));
        found.map(|(_, v)| v)
    })
}

/// Parses a PatchOp request body (liberal: `op` in any case, "Operations"/"operations" key,
/// `schemas` optional but if present must contain [`PATCH_OP_SCHEMA`]). At least one
/// operation, at most [`MAX_OPERATIONS`]. Errors are 400 `invalidSyntax`, or `invalidPath`
/// for a bad `path`.
pub fn parse_patch(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Value::Object(body) = body else {
        return Err(syntax("The request body must be a JSON object."));
    };
    let is_patch_op = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
    };
    match get_ci(body, "schemas") {
        None | Some(Value::Null) => {}
        Some(Value::Array(schemas)) if schemas.iter().any(is_patch_op) => {}
        Some(schema) if is_patch_op(schema) => {}
        Some(_) => {
            return Err(syntax(format!(
                "`schemas` must contain \"{PATCH_OP_SCHEMA}\"."
            )));
        }
    }
    let Some(Value::Array(ops)) = get_ci(body, "Operations") else {
        return Err(syntax("The body must have an `Operations` array."));
    };
    if ops.is_empty() {
        return Err(syntax("`Operations` must contain at least one operation."));
    }
    if ops.len() > MAX_OPERATIONS {
        let detail = format!("`Operations` may contain at most {MAX_OPERATIONS} operations.");
        return Err(syntax(detail));
    }
    let parsed = ops.iter().enumerate();
    parsed
        .map(|(i, op)| parse_operation(op).map_err(in_operation(i)))
        .collect()
}

fn parse_operation(op: &Value) -> Result<PatchOperation, ScimError> {
    let Value::Object(op) = op else {
        return Err(syntax("An operation must be a JSON object."));
    };
    let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
        _ => {
            let detail = "`op` must be \"add\", \"remove\" or \"replace\".";
            return Err(syntax(detail));
        }
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(parse_path(s)?),
        Some(_) => return Err(invalid_path("`path` must be a string.")),
    };
    let value = get_ci(op, "value").cloned();
    Ok(PatchOperation {
        op: kind,
        path,
        value,
    })
}

/// Applies all operations to `doc` in order; `id` is the resource's id (replacing `id` with
/// it is a no-op, with anything else `mutability`).
///
/// On error `doc` may be partially modified, so callers apply to a clone and discard it on
/// error: all-or-nothing is the caller's job. Error details start with "Operation N: ".
pub fn apply_patch(
    doc: &mut Map<String, Value>,
    ops: &[PatchOperation],
    id: &str,
) -> Result<(), ScimError> {
    for (i, op) in ops.iter().enumerate() {
        apply::apply_operation(doc, op, id).map_err(in_operation(i))?;
        if doc.get(ENTERPRISE_USER_SCHEMA).is_some_and(is_nothing) {
            doc.remove(ENTERPRISE_USER_SCHEMA);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
