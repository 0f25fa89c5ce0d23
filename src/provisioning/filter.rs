//! A SCIM filter (RFC 7644 §3.4.2.2) translated into the member filter the database answers.
//!
//! Every attribute `/Schemas` advertises can be filtered on, with every operator. The lookups
//! IdPs send (`userName`, `externalId`, `id` and addresses with `eq`) become the dedicated
//! conditions that indexes answer; everything else becomes a [`Generic`] condition on the
//! stored document. A filter on an attribute the service does not have answers 400
//! `invalidFilter`, never an empty list; its message never repeats the value compared.

use chrono::{DateTime, NaiveDateTime};

use crate::db::repo::members::{
    CompareValue, ElementFilter, Field, Generic, MemberFilter, Op, SortKey,
};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::schema::{self, AttributeDef, Kind, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use crate::scim::{ScimError, ScimType};

/// Translates a parsed filter.
pub fn member_filter(filter: &Filter) -> Result<MemberFilter, ScimError> {
    match filter {
        Filter::And(a, b) => Ok(MemberFilter::And(
            Box::new(member_filter(a)?),
            Box::new(member_filter(b)?),
        )),
        Filter::Or(a, b) => Ok(MemberFilter::Or(
            Box::new(member_filter(a)?),
            Box::new(member_filter(b)?),
        )),
        Filter::Not(inner) => Ok(MemberFilter::Not(Box::new(member_filter(inner)?))),
        Filter::Compare { path, op, value } => compare(path, *op, value),
        Filter::Present(path) => present(path),
        Filter::ValuePath { attr, filter } => value_path(attr, filter),
    }
}

/// What a path names.
enum Target {
    /// A singular value, of this type.
    Single {
        field: Field,
        kind: ValueKind,
        case_exact: bool,
    },
    /// A multi-valued attribute, and the sub-attribute named (if any).
    Multi {
        def: &'static AttributeDef,
        sub: Option<&'static AttributeDef>,
    },
    /// A singular complex attribute without a sub-attribute (`name`, `manager`).
    Complex(Vec<Field>),
    /// `meta.resourceType`.
    ResourceType,
    /// `schemas`: the core schema always, the Enterprise extension when it has a value.
    Schemas,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    String,
    Boolean,
    DateTime,
}

fn resolve(path: &AttrPath) -> Result<Target, ScimError> {
    let unknown = || unsupported(&path.to_string());
    if path.name.eq_ignore_ascii_case("meta") && is_core(path) {
        let single = |field| Target::Single {
            field,
            kind: ValueKind::DateTime,
            case_exact: true,
        };
        return match path
            .sub_attr
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("created") => Ok(single(Field::Created)),
            Some("lastmodified") => Ok(single(Field::LastModified)),
            Some("resourcetype") => Ok(Target::ResourceType),
            _ => Err(unknown()),
        };
    }
    if path.is("schemas") && is_core(path) {
        return Ok(Target::Schemas);
    }
    let (schema, def) = schema::resolve(path.urn.as_deref(), &path.name).ok_or_else(unknown)?;
    let sub = match &path.sub_attr {
        Some(name) => Some(def.sub(name).ok_or_else(unknown)?),
        None => None,
    };
    if def.multi_valued {
        return Ok(Target::Multi { def, sub });
    }
    let string = |field, case_exact| Target::Single {
        field,
        kind: ValueKind::String,
        case_exact,
    };
    let stored = |path: Vec<&'static str>| {
        if schema == ENTERPRISE_USER_SCHEMA {
            std::iter::once(ENTERPRISE_USER_SCHEMA)
                .chain(path)
                .collect()
        } else {
            path
        }
    };
    Ok(match (def.kind, sub) {
        (Kind::Complex, Some(sub)) => {
            let field = match (def.name, sub.name) {
                ("name", "formatted") => Field::NameFormatted,
                ("name", "givenName") => Field::GivenName,
                ("name", "familyName") => Field::FamilyName,
                (name, sub) => Field::Stored(stored(vec![name, sub])),
            };
            string(field, sub.case_exact)
        }
        (Kind::Complex, None) => Target::Complex(
            def.sub_attributes
                .iter()
                .map(|sub| match resolve_sub(schema, def, sub) {
                    Target::Single { field, .. } => field,
                    _ => Field::Stored(stored(vec![def.name, sub.name])),
                })
                .collect(),
        ),
        (_, Some(_)) => return Err(unknown()),
        (Kind::Boolean, None) if def.name == "active" => Target::Single {
            field: Field::Active,
            kind: ValueKind::Boolean,
            case_exact: true,
        },
        (_, None) => {
            let field = match def.name {
                "userName" => Field::UserName,
                "externalId" => Field::ExternalId,
                "id" => Field::Id,
                "displayName" => Field::DisplayName,
                name => Field::Stored(stored(vec![name])),
            };
            string(field, def.case_exact)
        }
    })
}

/// The target of `def.sub` (a singular complex attribute's sub-attribute).
fn resolve_sub(schema: &str, def: &AttributeDef, sub: &AttributeDef) -> Target {
    let path = AttrPath {
        urn: Some(schema.to_owned()),
        name: def.name.to_owned(),
        sub_attr: Some(sub.name.to_owned()),
    };
    resolve(&path).unwrap_or(Target::Complex(Vec::new()))
}

/// What `sortBy` names (RFC 7644 §3.4.2.3): a singular attribute, a complex one's
/// sub-attribute, or a multi-valued one (its primary value, else its first; `emails` means
/// `emails.value`). Anything else answers 400 `invalidValue`.
pub fn sort_key(path: &AttrPath) -> Result<SortKey, ScimError> {
    let refuse = || {
        ScimError::bad_request(
            ScimType::InvalidValue,
            format!("sortBy: the service cannot sort by {path}; /Schemas lists the attributes."),
        )
    };
    match resolve(path).map_err(|_| refuse())? {
        Target::Single {
            field, case_exact, ..
        } => Ok(SortKey::Field { field, case_exact }),
        Target::Multi { def, sub } => {
            let sub = sub.or_else(|| def.sub("value")).ok_or_else(refuse)?;
            Ok(SortKey::Primary {
                list: def.name,
                sub: sub.name,
                case_exact: sub.case_exact,
            })
        }
        Target::Complex(_) | Target::ResourceType | Target::Schemas => Err(refuse()),
    }
}

fn compare(path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<MemberFilter, ScimError> {
    if *value == CompValue::Null {
        // `eq null` asks for a missing value, `ne null` for a present one.
        return match op {
            CompareOp::Eq => Ok(MemberFilter::Not(Box::new(present(path)?))),
            CompareOp::Ne => present(path),
            _ => Err(invalid_value(path)),
        };
    }
    match resolve(path)? {
        Target::Single {
            field,
            kind,
            case_exact,
        } => {
            // The lookups IdPs send, answered by indexes.
            if op == CompareOp::Eq {
                if let (Field::UserName | Field::ExternalId | Field::Id, CompValue::Str(text)) =
                    (&field, value)
                {
                    let text = text.clone();
                    return Ok(match field {
                        Field::UserName => MemberFilter::UserName(text),
                        Field::ExternalId => MemberFilter::ExternalId(text),
                        _ => MemberFilter::Id(text),
                    });
                }
                if let (Field::Active, CompValue::Bool(active)) = (&field, value) {
                    return Ok(MemberFilter::Active(*active));
                }
            }
            let value = typed_value(path, kind, case_exact, op, value)?;
            Ok(MemberFilter::Generic(Generic::Compare {
                field,
                op: db_op(op),
                value,
            }))
        }
        Target::Multi { def, sub } => {
            let sub = sub
                .or_else(|| def.sub("value"))
                .ok_or_else(|| unsupported(&path.to_string()))?;
            if def.name == "emails" && sub.name == "value" && op == CompareOp::Eq {
                if let CompValue::Str(text) = value {
                    return Ok(MemberFilter::Email(text.clone()));
                }
            }
            // Some value of the attribute compares so; `ne` is "no value is equal", which
            // includes members without the attribute.
            let element = |op| element_compare(path, sub, op, value);
            if op == CompareOp::Ne {
                return Ok(MemberFilter::Not(Box::new(any_element(
                    def,
                    element(CompareOp::Eq)?,
                ))));
            }
            Ok(any_element(def, element(op)?))
        }
        Target::Complex(_) => Err(unsupported(&path.to_string())),
        Target::Schemas => match (op, value) {
            (CompareOp::Eq | CompareOp::Ne, CompValue::Str(urn)) => {
                let has = if urn.eq_ignore_ascii_case(USER_SCHEMA) {
                    MemberFilter::Constant(true)
                } else if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
                    MemberFilter::Generic(Generic::Present(Field::Stored(vec![
                        ENTERPRISE_USER_SCHEMA,
                    ])))
                } else {
                    MemberFilter::Constant(false)
                };
                Ok(if op == CompareOp::Eq {
                    has
                } else {
                    MemberFilter::Not(Box::new(has))
                })
            }
            _ => Err(invalid_value(path)),
        },
        Target::ResourceType => match (op, value) {
            (CompareOp::Eq | CompareOp::Ne, CompValue::Str(text)) => {
                let is_user = text.eq_ignore_ascii_case("User");
                Ok(MemberFilter::Constant(is_user == (op == CompareOp::Eq)))
            }
            _ => Err(invalid_value(path)),
        },
    }
}

fn present(path: &AttrPath) -> Result<MemberFilter, ScimError> {
    match resolve(path)? {
        // Every member has these.
        Target::Single {
            field:
                Field::Id | Field::Active | Field::Created | Field::LastModified | Field::UserName,
            ..
        }
        | Target::ResourceType
        | Target::Schemas => Ok(MemberFilter::Constant(true)),
        Target::Single { field, .. } => Ok(MemberFilter::Generic(Generic::Present(field))),
        Target::Multi { def, sub: None } => Ok(MemberFilter::Generic(Generic::NonEmpty(def.name))),
        Target::Multi {
            def,
            sub: Some(sub),
        } => Ok(any_element(def, ElementFilter::Present(sub.name))),
        Target::Complex(fields) => Ok(fields
            .into_iter()
            .map(|field| MemberFilter::Generic(Generic::Present(field)))
            .reduce(|a, b| MemberFilter::Or(Box::new(a), Box::new(b)))
            .unwrap_or(MemberFilter::Constant(false))),
    }
}

fn value_path(attr: &AttrPath, filter: &Filter) -> Result<MemberFilter, ScimError> {
    let Target::Multi { def, sub: None } = resolve(attr)? else {
        return Err(unsupported(&format!("{attr}[...]")));
    };
    // Entra's address lookups keep the indexed form.
    if def.name == "emails" {
        if let Ok(fast) = super::query::email_elements(filter) {
            return Ok(fast);
        }
    }
    Ok(any_element(def, element_filter(attr, def, filter)?))
}

fn element_filter(
    attr: &AttrPath,
    def: &'static AttributeDef,
    filter: &Filter,
) -> Result<ElementFilter, ScimError> {
    let sub_of = |path: &AttrPath| {
        if path.urn.is_some() || path.sub_attr.is_some() {
            return Err(unsupported(&format!("{attr}[{path}]")));
        }
        def.sub(&path.name)
            .ok_or_else(|| unsupported(&format!("{}.{}", def.name, path.name)))
    };
    Ok(match filter {
        Filter::And(a, b) => ElementFilter::And(
            Box::new(element_filter(attr, def, a)?),
            Box::new(element_filter(attr, def, b)?),
        ),
        Filter::Or(a, b) => ElementFilter::Or(
            Box::new(element_filter(attr, def, a)?),
            Box::new(element_filter(attr, def, b)?),
        ),
        Filter::Not(inner) => ElementFilter::Not(Box::new(element_filter(attr, def, inner)?)),
        Filter::Present(path) => ElementFilter::Present(sub_of(path)?.name),
        Filter::Compare { path, op, value } => {
            let sub = sub_of(path)?;
            if *value == CompValue::Null {
                let present = ElementFilter::Present(sub.name);
                return match op {
                    CompareOp::Eq => Ok(ElementFilter::Not(Box::new(present))),
                    CompareOp::Ne => Ok(present),
                    _ => Err(invalid_value(path)),
                };
            }
            element_compare(path, sub, *op, value)?
        }
        Filter::ValuePath { .. } => return Err(unsupported("a nested value filter")),
    })
}

fn element_compare(
    path: &AttrPath,
    sub: &'static AttributeDef,
    op: CompareOp,
    value: &CompValue,
) -> Result<ElementFilter, ScimError> {
    let kind = if sub.kind == Kind::Boolean {
        ValueKind::Boolean
    } else {
        ValueKind::String
    };
    Ok(ElementFilter::Compare {
        sub: sub.name,
        op: db_op(op),
        value: typed_value(path, kind, sub.case_exact, op, value)?,
    })
}

fn any_element(def: &'static AttributeDef, filter: ElementFilter) -> MemberFilter {
    MemberFilter::Generic(Generic::AnyElement {
        list: def.name,
        filter,
    })
}

/// The comparison value in the attribute's type: booleans compare only for (in)equality,
/// date-times are instants, strings take numbers as their text.
fn typed_value(
    path: &AttrPath,
    kind: ValueKind,
    case_exact: bool,
    op: CompareOp,
    value: &CompValue,
) -> Result<CompareValue, ScimError> {
    match (kind, value) {
        (ValueKind::Boolean, CompValue::Bool(flag))
            if matches!(op, CompareOp::Eq | CompareOp::Ne) =>
        {
            Ok(CompareValue::Bool(*flag))
        }
        (ValueKind::DateTime, CompValue::Str(text)) => {
            Ok(CompareValue::Time(parse_time(text).ok_or_else(|| {
                ScimError::bad_request(
                    ScimType::InvalidFilter,
                    format!("The value compared with {path} is not a date-time (RFC 3339)."),
                )
            })?))
        }
        (ValueKind::String, CompValue::Str(text)) => Ok(CompareValue::Text {
            text: text.clone(),
            case_exact,
        }),
        (ValueKind::String, CompValue::Num(number)) => Ok(CompareValue::Text {
            text: number.to_string(),
            case_exact,
        }),
        _ => Err(invalid_value(path)),
    }
}

/// An RFC 3339 date-time as a UTC timestamp.
pub fn parse_time(text: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|time| time.naive_utc())
}

pub(super) fn db_op(op: CompareOp) -> Op {
    match op {
        CompareOp::Eq => Op::Eq,
        CompareOp::Ne => Op::Ne,
        CompareOp::Co => Op::Co,
        CompareOp::Sw => Op::Sw,
        CompareOp::Ew => Op::Ew,
        CompareOp::Gt => Op::Gt,
        CompareOp::Ge => Op::Ge,
        CompareOp::Lt => Op::Lt,
        CompareOp::Le => Op::Le,
    }
}

pub(super) fn is_core(path: &AttrPath) -> bool {
    path.urn
        .as_deref()
        .is_none_or(|urn| urn.eq_ignore_ascii_case(USER_SCHEMA))
}

pub(super) fn unsupported(what: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidFilter,
        format!("The service has no attribute {what} to filter on; /Schemas lists them."),
    )
}

pub(super) fn invalid_value(path: &AttrPath) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidFilter,
        format!("The value compared with {path} has the wrong type."),
    )
}
