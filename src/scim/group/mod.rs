//! The SCIM Group resource (RFC 7643 §4.2): request bodies and PATCH operations turned into
//! what a group write asks for, and a group rendered back. Pure: it imports neither actix nor
//! diesel.
//!
//! Accepted beyond the strict RFC text, because Okta and Entra ID send it:
//! * Entra's extra schema URN in `schemas`, `"$ref": null` in members, `op` in any case.
//! * Okta's rename: a no-path `replace` whose value holds `id` (its own) and `displayName`.
//! * `members` values as one object or an array of them; members sent with `display` or `$ref`
//!   (both ignored: the service fills them).
//! * `remove` on `members` with a `value` array (Entra) removes those members; with a value
//!   path `members[value eq "…"]` (Okta, `or` allowed) the ones named; without either, all.

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::filter::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use super::patch::{OpKind, PatchOperation};
use super::schema::{AttributeDef, Kind, Mutability, MAX_STRING_LEN, USER_SCHEMA};
use super::user::format_time;
use super::{ScimError, ScimType};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The extension URN Entra ID lists in the `schemas` of the groups it creates; it carries no
/// attribute the service keeps.
pub const ENTRA_GROUP_SCHEMA: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// Longest accepted `externalId`, in characters (it is indexed).
pub const MAX_EXTERNAL_ID_LEN: usize = 512;

/// Most members one request may name (a body or one PATCH operation's value). A 1 MiB body
/// holds about 20,000 `{"value": "<uuid>"}` entries, so this bound is about the body limit.
pub const MAX_MEMBERS_PER_REQUEST: usize = 20_000;

const fn attribute(name: &'static str, description: &'static str) -> AttributeDef {
    AttributeDef {
        name,
        kind: Kind::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        description,
        canonical_values: &[],
        sub_attributes: &[],
        number_as_text: false,
        max_len: MAX_STRING_LEN,
    }
}

const MEMBER_SUB: &[AttributeDef] = &[
    AttributeDef {
        case_exact: true,
        mutability: Mutability::Immutable,
        ..attribute("value", "The member's User id.")
    },
    AttributeDef {
        kind: Kind::Reference,
        case_exact: true,
        mutability: Mutability::Immutable,
        ..attribute("$ref", "The member's URI (filled by the service).")
    },
    AttributeDef {
        mutability: Mutability::ReadOnly,
        ..attribute(
            "display",
            "The member's display name (filled by the service).",
        )
    },
    AttributeDef {
        mutability: Mutability::Immutable,
        canonical_values: &["User"],
        ..attribute("type", "Always `User`: groups do not nest.")
    },
];

pub static GROUP_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        unique: true,
        ..attribute("id", "The group's id, assigned by the service.")
    },
    AttributeDef {
        case_exact: true,
        max_len: MAX_EXTERNAL_ID_LEN,
        ..attribute("externalId", "The IdP's identifier for this group.")
    },
    AttributeDef {
        required: true,
        unique: true,
        ..attribute("displayName", "The group's name; unique within the organization, compared without regard to case or Unicode normalisation form.")
    },
    AttributeDef {
        kind: Kind::Complex,
        multi_valued: true,
        sub_attributes: MEMBER_SUB,
        ..attribute("members", "Users of the organization in the group. Deprovisioned and DELETEd users are not shown.")
    },
];

const USER_GROUP_SUB: &[AttributeDef] = &[
    AttributeDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..attribute("value", "The group's id.")
    },
    AttributeDef {
        kind: Kind::Reference,
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..attribute("$ref", "The group's URI.")
    },
    AttributeDef {
        mutability: Mutability::ReadOnly,
        ..attribute("display", "The group's displayName.")
    },
    AttributeDef {
        mutability: Mutability::ReadOnly,
        canonical_values: &["direct"],
        ..attribute("type", "Always `direct`: groups do not nest.")
    },
];

/// The User's read-only `groups` attribute, as `/Schemas` describes it.
pub static USER_GROUPS_ATTRIBUTE: AttributeDef = AttributeDef {
    kind: Kind::Complex,
    multi_valued: true,
    mutability: Mutability::ReadOnly,
    sub_attributes: USER_GROUP_SUB,
    ..attribute(
        "groups",
        "The groups of the organization the user is in (read-only; change them through /Groups).",
    )
};

/// What a POST or PUT body asks a group to be.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupWrite {
    pub display_name: String,
    pub external_id: Option<String>,
    /// User ids, each once, in the order sent.
    pub members: Vec<String>,
}

/// One change a PATCH operation asks for, in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupChange {
    DisplayName(String),
    ExternalId(Option<String>),
    AddMembers(Vec<String>),
    RemoveMembers(Vec<String>),
    /// The members become exactly these.
    ReplaceMembers(Vec<String>),
    RemoveAllMembers,
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

/// The value under `key` in any case.
fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Strips the core Group URN from a body key or path (`urn:…:Group:displayName`).
fn core_name(key: &str) -> Option<&str> {
    match key.get(..GROUP_SCHEMA.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(GROUP_SCHEMA) => {
            key[GROUP_SCHEMA.len()..].strip_prefix(':')
        }
        _ => Some(key),
    }
}

/// Turns a POST or PUT body into a [`GroupWrite`]. `id`, `meta`, `schemas` (but for a User
/// schema, a client mistake) and attributes the schema does not define are ignored.
pub fn parse_body(body: &Value) -> Result<GroupWrite, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "The request body must be a JSON object.",
        ));
    };
    if let Some(Value::Array(schemas)) = get_ci(body, "schemas") {
        let names_user = schemas
            .iter()
            .filter_map(Value::as_str)
            .any(|urn| urn.trim().eq_ignore_ascii_case(USER_SCHEMA));
        if names_user {
            return Err(invalid_value(
                "`schemas` names the User schema; a Group body names urn:ietf:params:scim:schemas:core:2.0:Group.",
            ));
        }
    }
    let mut display_name = None;
    let mut external_id = None;
    let mut members = Vec::new();
    for (key, value) in body {
        let Some(name) = core_name(key) else { continue };
        if name.eq_ignore_ascii_case("displayName") {
            display_name = Some(check_display_name(value)?);
        } else if name.eq_ignore_ascii_case("externalId") {
            external_id = check_external_id(value)?;
        } else if name.eq_ignore_ascii_case("members") {
            members = member_ids(value)?;
        }
    }
    let display_name = display_name.ok_or_else(|| invalid_value("displayName is required."))?;
    Ok(GroupWrite {
        display_name,
        external_id,
        members,
    })
}

/// A displayName: a non-blank string, trimmed, without control characters.
pub fn check_display_name(value: &Value) -> Result<String, ScimError> {
    let Value::String(text) = value else {
        return Err(invalid_value("displayName must be a non-empty string."));
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid_value("displayName must be a non-empty string."));
    }
    if trimmed.chars().count() > MAX_STRING_LEN {
        return Err(invalid_value(format!(
            "displayName is longer than {MAX_STRING_LEN} characters."
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid_value("displayName contains control characters."));
    }
    Ok(trimmed.to_owned())
}

/// An externalId: a string (a number is taken as its text); `null` or `""` means none.
fn check_external_id(value: &Value) -> Result<Option<String>, ScimError> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        _ => return Err(invalid_value("externalId must be a string.")),
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_EXTERNAL_ID_LEN {
        return Err(invalid_value(format!(
            "externalId is longer than {MAX_EXTERNAL_ID_LEN} characters."
        )));
    }
    if text.contains('\0') {
        return Err(invalid_value("externalId contains a NUL character."));
    }
    Ok(Some(text))
}

/// The user ids of a `members` value: an array of member objects (or one object); `null` and
/// `[]` mean none. Each id once, in the order sent.
pub fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => {
            return Err(invalid_value(
                "members must be an array of objects with a `value`.",
            ))
        }
    };
    if items.len() > MAX_MEMBERS_PER_REQUEST {
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!("At most {MAX_MEMBERS_PER_REQUEST} members may be sent at once."),
        ));
    }
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for item in items {
        let Value::Object(member) = item else {
            return Err(invalid_value(
                "members must be an array of objects with a `value`.",
            ));
        };
        if let Some(Value::String(kind)) = get_ci(member, "type") {
            if !kind.trim().eq_ignore_ascii_case("User") && !kind.trim().is_empty() {
                return Err(invalid_value(
                    "Only Users can be members of a group; groups do not nest.",
                ));
            }
        }
        let id = match get_ci(member, "value") {
            Some(Value::String(id)) if !id.trim().is_empty() && !id.contains('\0') => {
                id.trim().to_owned()
            }
            _ => {
                return Err(invalid_value(
                    "Every member needs a `value`: the id of a User of this organization.",
                ))
            }
        };
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Translates PATCH operations on a group into [`GroupChange`]s; `id` is the group's own id
/// (replacing `id` with it is a no-op, with anything else `mutability`).
pub fn changes(operations: &[PatchOperation], id: &str) -> Result<Vec<GroupChange>, ScimError> {
    let mut out = Vec::new();
    for (index, operation) in operations.iter().enumerate() {
        change(operation, id, &mut out).map_err(|mut error| {
            error.detail = format!("Operation {}: {}", index + 1, error.detail);
            error
        })?;
    }
    Ok(out)
}

fn change(
    operation: &PatchOperation,
    id: &str,
    out: &mut Vec<GroupChange>,
) -> Result<(), ScimError> {
    let value = operation.value.as_ref();
    match &operation.path {
        None => {
            if operation.op == OpKind::Remove {
                return Err(ScimError::bad_request(
                    ScimType::NoTarget,
                    "`remove` requires a `path`.",
                ));
            }
            let Some(Value::Object(map)) = value else {
                return Err(invalid_value(
                    "Without a `path`, `value` must be a JSON object of attributes.",
                ));
            };
            for (key, value) in map {
                let Some(name) = core_name(key) else { continue };
                attribute_change(operation.op, name, Some(value), id, out)?;
            }
            Ok(())
        }
        Some(PatchPath::Attr(attr)) => {
            let name = path_name(attr)?;
            attribute_change(operation.op, &name, value, id, out)
        }
        Some(PatchPath::Value {
            attr,
            filter,
            sub_attr,
        }) => {
            if !path_name(attr)?.eq_ignore_ascii_case("members") {
                return Err(invalid_path(
                    "A filter `[...]` applies only to `members` in a Group.",
                ));
            }
            if operation.op != OpKind::Remove || sub_attr.is_some() {
                return Err(invalid_path(
                    "`members[...]` may only be removed; add or replace members by `value`.",
                ));
            }
            let mut ids = Vec::new();
            filtered_members(filter, &mut ids)?;
            out.push(GroupChange::RemoveMembers(ids));
            Ok(())
        }
    }
}

/// The attribute a path names: `displayName`, `members`, `members.value`…, with or without the
/// Group URN.
fn path_name(attr: &AttrPath) -> Result<String, ScimError> {
    if let Some(urn) = &attr.urn {
        if !urn.eq_ignore_ascii_case(GROUP_SCHEMA) {
            return Err(invalid_path(format!(
                "`{}` is not a Group attribute.",
                clip(&attr.to_string())
            )));
        }
    }
    Ok(match &attr.sub_attr {
        Some(sub) => format!("{}.{sub}", attr.name),
        None => attr.name.clone(),
    })
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn attribute_change(
    op: OpKind,
    name: &str,
    value: Option<&Value>,
    id: &str,
    out: &mut Vec<GroupChange>,
) -> Result<(), ScimError> {
    let lower = name.to_ascii_lowercase();
    if op != OpKind::Remove && value.is_none() {
        return Err(invalid_value("`add` and `replace` require a `value`."));
    }
    match (lower.as_str(), op, value) {
        ("displayname", OpKind::Remove, _) => Err(invalid_value(
            "displayName is required and cannot be removed.",
        )),
        ("displayname", _, Some(value)) => {
            out.push(GroupChange::DisplayName(check_display_name(value)?));
            Ok(())
        }
        ("externalid", OpKind::Remove, _) => {
            out.push(GroupChange::ExternalId(None));
            Ok(())
        }
        ("externalid", _, Some(value)) => {
            out.push(GroupChange::ExternalId(check_external_id(value)?));
            Ok(())
        }
        ("members", OpKind::Add, Some(value)) => {
            out.push(GroupChange::AddMembers(member_ids(value)?));
            Ok(())
        }
        ("members", OpKind::Replace, Some(value)) => {
            out.push(GroupChange::ReplaceMembers(member_ids(value)?));
            Ok(())
        }
        ("members", OpKind::Remove, None | Some(Value::Null)) => {
            out.push(GroupChange::RemoveAllMembers);
            Ok(())
        }
        ("members", OpKind::Remove, Some(value)) => {
            out.push(GroupChange::RemoveMembers(member_ids(value)?));
            Ok(())
        }
        ("id", OpKind::Remove, _) => Err(read_only("id")),
        ("id", _, Some(Value::String(same))) if same.trim().eq_ignore_ascii_case(id) => Ok(()),
        ("id", _, _) => Err(read_only("id")),
        // IdPs echo these inside values; they are not the client's to set.
        ("schemas" | "meta", _, _) => Ok(()),
        _ => Err(invalid_path(format!(
            "`{}` is not a Group attribute the service keeps.",
            clip(name)
        ))),
    }
}

fn read_only(name: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::Mutability,
        format!("`{name}` is read-only and cannot be changed."),
    )
}

/// The ids of `members[value eq "a" or value eq "b"]`.
fn filtered_members(filter: &Filter, ids: &mut Vec<String>) -> Result<(), ScimError> {
    match filter {
        Filter::Or(a, b) => {
            filtered_members(a, ids)?;
            filtered_members(b, ids)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(id),
        } if path.is("value") && path.urn.is_none() => {
            let id = id.trim().to_owned();
            if !ids.contains(&id) {
                ids.push(id);
            }
            Ok(())
        }
        _ => Err(invalid_path(
            "Members are selected by `members[value eq \"<id>\"]` (joined with `or`).",
        )),
    }
}

/// A group as answers show it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created: NaiveDateTime,
    pub last_modified: NaiveDateTime,
    pub version: i64,
    /// `None`: not loaded (the request excluded `members`); else `(user id, display)`.
    pub members: Option<Vec<(String, Option<String>)>>,
}

impl GroupRecord {
    /// A weak ETag: the group's version, which every change through the service bumps.
    pub fn etag(&self) -> String {
        format!("W/\"g{}\"", self.version)
    }

    pub fn render(&self, base_url: &str) -> Value {
        let mut out = Map::new();
        out.insert("schemas".into(), json!([GROUP_SCHEMA]));
        out.insert("id".into(), json!(self.id));
        if let Some(external_id) = &self.external_id {
            out.insert("externalId".into(), json!(external_id));
        }
        out.insert("displayName".into(), json!(self.display_name));
        if let Some(members) = &self.members {
            let members: Vec<Value> = members
                .iter()
                .map(|(user_id, display)| {
                    let mut member = Map::new();
                    member.insert("value".into(), json!(user_id));
                    member.insert("$ref".into(), json!(format!("{base_url}/Users/{user_id}")));
                    if let Some(display) = display {
                        member.insert("display".into(), json!(display));
                    }
                    member.insert("type".into(), json!("User"));
                    Value::Object(member)
                })
                .collect();
            out.insert("members".into(), Value::Array(members));
        }
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "Group",
                "created": format_time(self.created),
                "lastModified": format_time(self.last_modified),
                "location": format!("{base_url}/Groups/{}", self.id),
                "version": self.etag(),
            }),
        );
        Value::Object(out)
    }
}

/// A User's `groups` value.
pub fn user_groups(groups: &[(String, String)], base_url: &str) -> Value {
    Value::Array(
        groups
            .iter()
            .map(|(id, display)| {
                json!({
                    "value": id,
                    "$ref": format!("{base_url}/Groups/{id}"),
                    "display": display,
                    "type": "direct",
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests;
