//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes of a
//! resource an answer carries. Pure: it works on rendered JSON.
//!
//! `id` and `schemas` are returned always (RFC 7643 `returned: always`); every other
//! attribute, `meta` included, is `returned: default`: present unless `attributes` leaves it out
//! or `excludedAttributes` names it. Names match in any case, with or without their schema
//! URN; `name.givenName` keeps one sub-attribute, and a bare extension URN the whole extension.
//! Names the schema does not define select nothing and are not an error.

use serde_json::{Map, Value};

use super::filter::{parse_attribute, AttrPath};
use super::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use super::ScimError;

/// Attributes that every answer carries.
const ALWAYS: &[&str] = &["id", "schemas"];

/// One requested attribute: the key in the resource (an extension URN, or a core name), and
/// within it a name and sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    /// `None`: a core attribute; `Some(urn)`: inside that extension.
    extension: Option<&'static str>,
    /// `None` with an extension: the whole extension.
    name: Option<String>,
    sub: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    attributes: Vec<Selector>,
    excluded: Vec<Selector>,
}

impl Projection {
    /// From the comma-separated parameters (either may be absent or empty).
    pub fn from_params(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Self, ScimError> {
        let list = |text: Option<&str>, parameter: &str| -> Result<Vec<Selector>, ScimError> {
            text.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| selector(item, parameter))
                .collect()
        };
        Ok(Self {
            attributes: list(attributes, "attributes")?,
            excluded: list(excluded, "excludedAttributes")?,
        })
    }

    /// From the arrays of a `SearchRequest`.
    pub fn from_lists(attributes: &[String], excluded: &[String]) -> Result<Self, ScimError> {
        let join = |items: &[String]| items.join(",");
        Self::from_params(Some(&join(attributes)), Some(&join(excluded)))
    }

    pub fn is_identity(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether answers carry the core attribute `name` (or part of it), so that a caller can
    /// skip loading what would be dropped (a group's `members`).
    pub fn returns(&self, name: &str) -> bool {
        let names = |s: &Selector| {
            s.extension.is_none()
                && s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        };
        let asked = self.attributes.is_empty() || self.attributes.iter().any(names);
        let excluded = self.excluded.iter().any(|s| names(s) && s.sub.is_none());
        asked && !excluded
    }

    /// The resource with only the attributes asked for.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(map) = resource else {
            return resource;
        };
        let map = if self.attributes.is_empty() {
            map
        } else {
            keep(map, &self.attributes)
        };
        Value::Object(drop_excluded(map, &self.excluded))
    }
}

fn selector(text: &str, parameter: &str) -> Result<Selector, ScimError> {
    for urn in [ENTERPRISE_USER_SCHEMA, USER_SCHEMA] {
        if text.eq_ignore_ascii_case(urn) {
            return Ok(Selector {
                extension: (urn == ENTERPRISE_USER_SCHEMA).then_some(ENTERPRISE_USER_SCHEMA),
                name: None,
                sub: None,
            });
        }
    }
    let AttrPath {
        urn,
        name,
        sub_attr,
    } = parse_attribute(text, parameter)?;
    let extension = urn
        .as_deref()
        .filter(|urn| urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
        .map(|_| ENTERPRISE_USER_SCHEMA);
    Ok(Selector {
        extension,
        name: Some(name),
        sub: sub_attr,
    })
}

/// The key of `map` equal to `name` in any case.
fn key_of<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a String> {
    map.keys().find(|key| key.eq_ignore_ascii_case(name))
}

fn keep(map: Map<String, Value>, selectors: &[Selector]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        if ALWAYS.contains(&key.as_str()) {
            out.insert(key, value);
            continue;
        }
        let extension = (key == ENTERPRISE_USER_SCHEMA).then_some(ENTERPRISE_USER_SCHEMA);
        let wanted: Vec<&Selector> = selectors
            .iter()
            .filter(|s| match (extension, s.extension) {
                (Some(_), Some(_)) => true,
                (None, None) => s
                    .name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&key)),
                _ => false,
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let kept = match extension {
            // The whole extension, or the named attributes of it.
            Some(_) if wanted.iter().any(|s| s.name.is_none()) => Some(value),
            Some(_) => match value {
                Value::Object(inner) => {
                    let inner_selectors: Vec<Selector> = wanted
                        .iter()
                        .map(|s| Selector {
                            extension: None,
                            ..(*s).clone()
                        })
                        .collect();
                    let kept = keep(inner, &inner_selectors);
                    (!kept.is_empty()).then_some(Value::Object(kept))
                }
                other => Some(other),
            },
            None if wanted.iter().any(|s| s.sub.is_none()) => Some(value),
            None => {
                let subs: Vec<&str> = wanted.iter().filter_map(|s| s.sub.as_deref()).collect();
                keep_subs(value, &subs)
            }
        };
        if let Some(kept) = kept {
            out.insert(key, kept);
        }
    }
    out
}

/// Only these sub-attributes of a complex value, or of each element of a multi-valued one.
fn keep_subs(value: Value, subs: &[&str]) -> Option<Value> {
    let pick = |item: Value| match item {
        Value::Object(object) => {
            let kept: Map<String, Value> = object
                .into_iter()
                .filter(|(key, _)| subs.iter().any(|sub| sub.eq_ignore_ascii_case(key)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        _ => None,
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.into_iter().filter_map(pick).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => pick(other),
    }
}

fn drop_excluded(mut map: Map<String, Value>, selectors: &[Selector]) -> Map<String, Value> {
    for selector in selectors {
        let target = match selector.extension {
            Some(urn) => {
                let Some(key) = key_of(&map, urn).cloned() else {
                    continue;
                };
                if selector.name.is_none() {
                    map.remove(&key);
                    continue;
                }
                match map.get_mut(&key) {
                    Some(Value::Object(inner)) => inner,
                    _ => continue,
                }
            }
            None => &mut map,
        };
        let Some(name) = selector.name.as_deref() else {
            continue;
        };
        if ALWAYS
            .iter()
            .any(|always| always.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let Some(key) = key_of(target, name).cloned() else {
            continue;
        };
        match selector.sub.as_deref() {
            None => {
                target.remove(&key);
            }
            Some(sub) => {
                let emptied = match target.get_mut(&key) {
                    Some(Value::Object(object)) => {
                        object.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                        object.is_empty()
                    }
                    Some(Value::Array(items)) => {
                        for item in items.iter_mut() {
                            if let Value::Object(object) = item {
                                object.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                            }
                        }
                        items.retain(|item| item.as_object().is_none_or(|o| !o.is_empty()));
                        items.is_empty()
                    }
                    _ => false,
                };
                if emptied {
                    target.remove(&key);
                }
            }
        }
    }
    // An extension left empty is no extension.
    if map
        .get(ENTERPRISE_USER_SCHEMA)
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        map.remove(ENTERPRISE_USER_SCHEMA);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "u1",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@example.com", "type": "work"}, {"value": "h@example.com", "type": "home"}],
            "active": true,
            "meta": {"resourceType": "User", "version": "W/\"1\""},
            ENTERPRISE_USER_SCHEMA: {"department": "Sales", "employeeNumber": "7"}
        })
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        Projection::from_params(attributes, excluded)
            .unwrap()
            .apply(user())
    }

    #[test]
    fn attributes_keep_only_what_is_asked_and_what_is_always_returned() {
        assert_eq!(
            project(Some("userName,name.givenName"), None),
            json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "u1", "userName": "bjensen", "name": {"givenName": "Barbara"}})
        );
        assert_eq!(
            project(Some("EMAILS.value"), None)["emails"],
            json!([{"value": "b@example.com"}, {"value": "h@example.com"}])
        );
        assert_eq!(
            project(
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
                None
            )[ENTERPRISE_USER_SCHEMA],
            json!({"department": "Sales"})
        );
        assert_eq!(
            project(Some(ENTERPRISE_USER_SCHEMA), None)[ENTERPRISE_USER_SCHEMA],
            user()[ENTERPRISE_USER_SCHEMA]
        );
        assert_eq!(
            project(
                Some("urn:ietf:params:scim:schemas:core:2.0:User:userName,id"),
                None
            ),
            json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "u1", "userName": "bjensen"})
        );
        assert!(project(Some("meta"), None).get("meta").is_some());
        assert!(project(Some("nosuch"), None).get("userName").is_none());
    }

    #[test]
    fn excluded_attributes_drop_what_is_named_but_never_id_or_schemas() {
        let out = project(None, Some("emails,id,schemas,meta,name.familyName"));
        assert!(out.get("emails").is_none() && out.get("meta").is_none());
        assert_eq!(
            (&out["id"], &out["name"]),
            (&json!("u1"), &json!({"givenName": "Barbara"}))
        );
        let out = project(None, Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"));
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none(), "{out}");
        let out = project(None, Some("emails.type"));
        assert_eq!(
            out["emails"],
            json!([{"value": "b@example.com"}, {"value": "h@example.com"}])
        );
    }

    #[test]
    fn a_malformed_name_is_invalid_value() {
        let error = Projection::from_params(Some("user name"), None).unwrap_err();
        assert_eq!(error.scim_type, Some(crate::scim::ScimType::InvalidValue));
    }
}
