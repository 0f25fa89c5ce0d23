//! SCIM filters and `sortBy` on groups, translated into the group filters the database
//! answers.

use super::super::filter::{db_op, invalid_value, parse_time, unsupported};
use crate::db::repo::groups::{GroupField, GroupFilter, GroupId};
use crate::db::repo::members::CompareValue;
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::group::GROUP_SCHEMA;
use crate::scim::{ScimError, ScimType};

/// Translates a filter on groups. `displayName`, `externalId`, `id`, `meta.created` and
/// `meta.lastModified` take every operator; `members` (`members.value`, `members[value …]`)
/// takes `eq` and `pr`. Anything else answers 400 `invalidFilter`.
pub fn group_filter(filter: &Filter) -> Result<GroupFilter, ScimError> {
    match filter {
        Filter::And(a, b) => Ok(GroupFilter::And(
            Box::new(group_filter(a)?),
            Box::new(group_filter(b)?),
        )),
        Filter::Or(a, b) => Ok(GroupFilter::Or(
            Box::new(group_filter(a)?),
            Box::new(group_filter(b)?),
        )),
        Filter::Not(inner) => Ok(GroupFilter::Not(Box::new(group_filter(inner)?))),
        Filter::Present(path) => match target(path)? {
            Target::Field(field) => Ok(GroupFilter::Present(field)),
            Target::Members => Ok(GroupFilter::HasMembers),
            Target::ResourceType => Ok(GroupFilter::Constant(true)),
        },
        Filter::Compare { path, op, value } => compare(path, *op, value),
        Filter::ValuePath { attr, filter } => {
            if !matches!(target(attr)?, Target::Members) || attr.sub_attr.is_some() {
                return Err(unsupported(&format!("{attr}[...]")));
            }
            member_elements(filter)
        }
    }
}

enum Target {
    Field(GroupField),
    /// `members` or `members.value`.
    Members,
    ResourceType,
}

fn target(path: &AttrPath) -> Result<Target, ScimError> {
    let unknown = || unsupported(&path.to_string());
    if path
        .urn
        .as_deref()
        .is_some_and(|urn| !urn.eq_ignore_ascii_case(GROUP_SCHEMA))
    {
        return Err(unknown());
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    Ok(match (name.as_str(), sub.as_deref()) {
        ("id", None) => Target::Field(GroupField::Id),
        ("displayname", None) => Target::Field(GroupField::DisplayName),
        ("externalid", None) => Target::Field(GroupField::ExternalId),
        ("meta", Some("created")) => Target::Field(GroupField::Created),
        ("meta", Some("lastmodified")) => Target::Field(GroupField::LastModified),
        ("meta", Some("resourcetype")) => Target::ResourceType,
        ("members", None | Some("value")) => Target::Members,
        _ => return Err(unknown()),
    })
}

fn compare(path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<GroupFilter, ScimError> {
    let text = || match value {
        CompValue::Str(text) => Ok(text.clone()),
        CompValue::Num(number) => Ok(number.to_string()),
        _ => Err(invalid_value(path)),
    };
    match target(path)? {
        Target::Members => match op {
            CompareOp::Eq => Ok(GroupFilter::Member(text()?)),
            _ => Err(unsupported(&format!("{path} {}", op.as_str()))),
        },
        Target::ResourceType => match (op, value) {
            (CompareOp::Eq, CompValue::Str(kind)) => {
                Ok(GroupFilter::Constant(kind.eq_ignore_ascii_case("Group")))
            }
            _ => Err(unsupported(&format!("{path} {}", op.as_str()))),
        },
        Target::Field(field @ (GroupField::Created | GroupField::LastModified)) => {
            let time = match value {
                CompValue::Str(text) => parse_time(text),
                _ => None,
            }
            .ok_or_else(|| {
                ScimError::bad_request(
                    ScimType::InvalidFilter,
                    format!("The value compared with {path} is not a date-time (RFC 3339)."),
                )
            })?;
            Ok(GroupFilter::Compare {
                field,
                op: db_op(op),
                value: CompareValue::Time(time),
            })
        }
        Target::Field(field) => {
            let text = text()?;
            if text.contains('\0') {
                return Err(ScimError::bad_request(
                    ScimType::InvalidFilter,
                    "The filter contains a NUL character.",
                ));
            }
            Ok(match (field, op) {
                (GroupField::DisplayName, CompareOp::Eq) => GroupFilter::DisplayName(text),
                (GroupField::ExternalId, CompareOp::Eq) => GroupFilter::ExternalId(text),
                (GroupField::Id, CompareOp::Eq) => match GroupId::parse(&text) {
                    Some(id) => GroupFilter::Id(id),
                    None => GroupFilter::Constant(false),
                },
                _ => GroupFilter::Compare {
                    field,
                    op: db_op(op),
                    value: CompareValue::Text {
                        text,
                        case_exact: field != GroupField::DisplayName,
                    },
                },
            })
        }
    }
}

/// The inside of `members[...]`: `value eq "…"` joined with `or`.
fn member_elements(filter: &Filter) -> Result<GroupFilter, ScimError> {
    match filter {
        Filter::Or(a, b) => Ok(GroupFilter::Or(
            Box::new(member_elements(a)?),
            Box::new(member_elements(b)?),
        )),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(id),
        } if path.is("value") => Ok(GroupFilter::Member(id.clone())),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(kind),
        } if path.is("type") => Ok(GroupFilter::Constant(kind.eq_ignore_ascii_case("User"))),
        _ => Err(unsupported("members[...] other than value eq")),
    }
}

pub(super) fn sort_field(path: &AttrPath) -> Result<GroupField, ScimError> {
    match target(path) {
        Ok(Target::Field(field)) => Ok(field),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("sortBy: {path} is not a singular Group attribute."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    fn translate(text: &str) -> Result<GroupFilter, ScimError> {
        group_filter(&parse_filter(text).unwrap())
    }

    #[test]
    fn translates_the_filters_idps_send() {
        let id = "3f0c8a6e-9b1d-4f55-8d1e-0c9a6f2b7e11";
        let cases = [
            (
                "displayName eq \"Engineering\"".to_owned(),
                GroupFilter::DisplayName("Engineering".into()),
            ),
            (
                "externalId eq \"00g1\"".to_owned(),
                GroupFilter::ExternalId("00g1".into()),
            ),
            (
                format!("members[value eq \"{id}\"]"),
                GroupFilter::Member(id.into()),
            ),
            (
                format!("members.value eq \"{id}\""),
                GroupFilter::Member(id.into()),
            ),
            (
                format!("id eq \"{id}\" and members eq \"u1\""),
                GroupFilter::And(
                    Box::new(GroupFilter::Id(GroupId::parse(id).unwrap())),
                    Box::new(GroupFilter::Member("u1".into())),
                ),
            ),
            (
                "id eq \"not-a-uuid\"".to_owned(),
                GroupFilter::Constant(false),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(translate(&text).unwrap(), expected, "{text}");
        }
        for text in [
            "displayName co \"eng\"",
            "displayName sw \"E\" or externalId pr",
            "not (displayName eq \"x\")",
            "meta.lastModified gt \"2026-01-01T00:00:00Z\"",
            "urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq \"x\"",
            "members pr",
        ] {
            assert!(translate(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn refuses_what_groups_do_not_have() {
        for text in [
            "userName eq \"x\"",
            "members.display eq \"x\"",
            "members co \"x\"",
            "members[display eq \"x\"]",
            "meta.created gt \"yesterday\"",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName eq \"x\"",
        ] {
            let error = translate(text).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{text}");
        }
    }
}
