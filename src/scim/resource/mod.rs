//! User request bodies turned into canonical documents (RFC 7643 §4.1, §4.3). Pure: it imports
//! neither actix nor diesel.
//!
//! A *document* is a `Map` whose keys are the canonical attribute names of [`schema`]
//! (`userName`, `name`, `emails`, ...), with the enterprise extension as an object under
//! [`ENTERPRISE_USER_SCHEMA`]. Complex values are objects with canonical sub-attribute names,
//! multi-valued attributes are arrays of such objects, booleans are JSON booleans and strings
//! JSON strings. An attribute without a value is absent: never `null`, `""`, `[]` or `{}`.
//! Read-only attributes (`id`, `meta`, `groups`, `schemas`) and `password` never appear.
//!
//! Parsing is liberal, because IdPs are: names match in any case, `"True"` is a boolean,
//! numbers are accepted for strings, `null`/`""`/`[]`/`{}` mean "no value", and attributes
//! or extensions the schema does not define are dropped silently. Error details name the
//! attribute but never echo the value sent.

use serde_json::{Map, Value};

use crate::scim::error::{ScimError, ScimType};
use crate::scim::schema::{self, AttributeDef, Kind, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

mod matching;

pub use matching::matches_filter;

/// Turns a POST/PUT body into a document.
///
/// Accepted keys (names in any case): core attributes (`userName`, also dotted
/// `name.givenName`), the enterprise URN holding an object of enterprise attributes, the core
/// URN holding an object of core attributes, and URN-qualified attributes
/// (`urn:...:enterprise:2.0:User:employeeNumber`, `urn:...:core:2.0:User:name.givenName`).
/// Everything else (`schemas`, `id`, `meta`, `groups`, `password`, unknown attributes,
/// sub-attributes and extensions) is dropped. The same attribute given twice (`userName` and
/// `USERNAME`, or `name` and `name.givenName`) is merged; conflicting values are
/// `invalidSyntax`.
pub fn normalize_body(body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "The request body must be a JSON object.",
        ));
    };
    refuse_other_resource_schemas(body)?;
    let mut doc = Map::new();
    for (key, value) in body {
        if let Some(schema) = known_schema(key) {
            match value {
                Value::Object(inner) => {
                    for (name, value) in inner {
                        place(&mut doc, schema, name, value)?;
                    }
                }
                value if is_nothing(value) => {}
                _ => {
                    let detail = format!("The `{schema}` extension must be a JSON object.");
                    return Err(ScimError::bad_request(ScimType::InvalidValue, detail));
                }
            }
        } else if let Some((urn, name)) = split_urn(key) {
            // Attributes of unknown extensions (Okta custom schemas) are dropped.
            if let Some(schema) = known_schema(urn) {
                place(&mut doc, schema, name, value)?;
            }
        } else {
            place(&mut doc, USER_SCHEMA, key, value)?;
        }
    }
    Ok(doc)
}

/// `schemas` may be missing, and may name extensions the service does not know (Okta's
/// custom ones), but a User body naming another resource type's schema is a client mistake.
fn refuse_other_resource_schemas(body: &Map<String, Value>) -> Result<(), ScimError> {
    const OTHER_RESOURCES: &[&str] = &["urn:ietf:params:scim:schemas:core:2.0:Group"];
    let Some((_, Value::Array(schemas))) = body
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
    else {
        return Ok(());
    };
    let names_other = schemas.iter().filter_map(Value::as_str).any(|urn| {
        OTHER_RESOURCES
            .iter()
            .any(|other| other.eq_ignore_ascii_case(urn.trim()))
    });
    if names_other {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            "`schemas` names the Group schema; a User body names urn:ietf:params:scim:schemas:core:2.0:User.",
        ));
    }
    Ok(())
}

/// Turns one value for attribute `def` into its canonical form; `None` means "no value".
/// A multi-valued attribute always comes back as a non-empty array (a single object is
/// wrapped); a sub-attribute definition (`def.sub("givenName")`) works too.
pub fn normalize_value(def: &AttributeDef, value: &Value) -> Result<Option<Value>, ScimError> {
    normalize_labeled(def, value, def.name)
}

/// [`normalize_value`] with the attribute path used in error details, e.g. `name.givenName`.
pub(crate) fn normalize_labeled(
    def: &AttributeDef,
    value: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    // A singular value decides for itself what "no value" is (a string attribute refuses `{}`).
    if !def.multi_valued {
        return normalize_single(def, value, label);
    }
    if is_nothing(value) {
        return Ok(None);
    }
    let items = match value {
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => return Err(invalid_value(label, "must be a JSON array of objects")),
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = normalize_single(def, item, label)? {
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    check_one_primary(&out, label)?;
    Ok(Some(Value::Array(out)))
}

/// RFC 7643 §2.4: `primary: true` appears at most once among the values of an attribute.
pub(crate) fn check_one_primary(items: &[Value], label: &str) -> Result<(), ScimError> {
    if items.iter().filter(|item| is_primary(item)).count() > 1 {
        let detail = format!("At most one value of `{label}` may have `primary` set to true.");
        return Err(ScimError::bad_request(ScimType::InvalidValue, detail));
    }
    Ok(())
}

pub(crate) fn is_primary(item: &Value) -> bool {
    item.get("primary") == Some(&Value::Bool(true))
}

/// `null`, a blank string, `[]` and `{}`: "no value" (Okta PUTs back empty strings).
pub(crate) fn is_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The canonical core or enterprise URN equal (in any case) to `urn`.
pub(crate) fn known_schema(urn: &str) -> Option<&'static str> {
    [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]
        .into_iter()
        .find(|schema| schema.eq_ignore_ascii_case(urn))
}

/// Splits `urn:...:name[.sub]` at its last `:` into the URN and the attribute part.
fn split_urn(key: &str) -> Option<(&str, &str)> {
    if !key.get(..4)?.eq_ignore_ascii_case("urn:") {
        return None;
    }
    key.rsplit_once(':')
}

fn invalid_value(label: &str, what: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidValue,
        format!("The attribute `{label}` {what}."),
    )
}

/// One value of a single-valued attribute, or one element of a multi-valued one.
fn normalize_single(
    def: &AttributeDef,
    value: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    match def.kind {
        Kind::String | Kind::Reference => match value {
            // Okta PUTs back empty strings for attributes it has no value for.
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => checked_text(def, s, label).map(Some),
            Value::Number(n) if def.number_as_text => Ok(Some(Value::String(n.to_string()))),
            _ => Err(invalid_value(label, "must be a string")),
        },
        Kind::Boolean => match value {
            Value::Bool(b) => Ok(Some(Value::Bool(*b))),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => {
                Ok(Some(Value::Bool(true)))
            }
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => {
                Ok(Some(Value::Bool(false)))
            }
            _ => Err(invalid_value(label, "must be a boolean (true or false)")),
        },
        Kind::Complex => match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, value) in map {
                    let Some(sub) = def.sub(key).filter(|sub| !sub.is_read_only()) else {
                        continue;
                    };
                    let sub_label = format!("{label}.{}", sub.name);
                    if let Some(value) = normalize_single(sub, value, &sub_label)? {
                        merge_set(&mut out, sub.name, value, &sub_label)?;
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
            Value::String(s) if s.trim().is_empty() => Ok(None),
            // `"manager": "<id>"` is `{"value": "<id>"}` (Entra and Okta both send it).
            _ => match def.sub("value").filter(|_| !def.multi_valued) {
                Some(sub) => {
                    let value = normalize_single(sub, value, &format!("{label}.value"))?;
                    Ok(value.map(|v| Value::Object(Map::from_iter([("value".to_string(), v)]))))
                }
                None => Err(invalid_value(label, "must be a JSON object")),
            },
        },
    }
}

/// A string value as stored: no NUL character (PostgreSQL cannot store it), at most the
/// attribute's length.
fn checked_text(def: &AttributeDef, text: &str, label: &str) -> Result<Value, ScimError> {
    if text.contains('\0') {
        return Err(invalid_value(label, "must not contain a NUL character"));
    }
    if text.chars().count() > def.max_len {
        let what = format!("is longer than {} characters", def.max_len);
        return Err(invalid_value(label, &what));
    }
    Ok(Value::String(text.to_owned()))
}

/// Puts `key` (an attribute name, maybe `name.sub`) of `schema` into `doc`, normalized.
/// Names the schema does not define, and read-only attributes, are dropped.
fn place(
    doc: &mut Map<String, Value>,
    schema: &'static str,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let (name, sub) = match key.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (key, None),
    };
    let Some((_, def)) = schema::resolve(Some(schema), name) else {
        return Ok(());
    };
    if def.is_read_only() {
        return Ok(());
    }
    if def.multi_valued && value.is_object() {
        return Err(invalid_value(def.name, "must be a JSON array of objects"));
    }
    let (label, value) = match sub {
        None => match normalize_labeled(def, value, def.name)? {
            Some(value) => (def.name.to_string(), value),
            None => return Ok(()),
        },
        // A sub-attribute of a multi-valued attribute (`emails.value`) names no single
        // value, so it is dropped like an undefined one.
        Some(_) if def.multi_valued => return Ok(()),
        Some(sub) => {
            let Some(sub) = def.sub(sub) else {
                return Ok(());
            };
            let label = format!("{}.{}", def.name, sub.name);
            match normalize_single(sub, value, &label)? {
                Some(value) => {
                    let object = Map::from_iter([(sub.name.to_string(), value)]);
                    (label, Value::Object(object))
                }
                None => return Ok(()),
            }
        }
    };
    let target = if schema == ENTERPRISE_USER_SCHEMA {
        let extension = doc
            .entry(ENTERPRISE_USER_SCHEMA)
            .or_insert_with(|| Value::Object(Map::new()));
        match extension {
            Value::Object(map) => map,
            _ => return Ok(()),
        }
    } else {
        doc
    };
    merge_set(target, def.name, value, &label)
}

/// Inserts `value` under `name`; an equal value already there is fine, objects are merged
/// key by key, anything else is a conflict (the same attribute sent twice, in two cases).
fn merge_set(
    target: &mut Map<String, Value>,
    name: &str,
    value: Value,
    label: &str,
) -> Result<(), ScimError> {
    match (target.get_mut(name), value) {
        (None, value) => {
            target.insert(name.to_string(), value);
            Ok(())
        }
        (Some(Value::Object(existing)), Value::Object(new)) => {
            for (key, value) in new {
                merge_set(existing, &key, value, &format!("{label}.{key}"))?;
            }
            Ok(())
        }
        (Some(existing), value) if *existing == value => Ok(()),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("The attribute `{label}` is given more than once with different values."),
        )),
    }
}

#[cfg(test)]
mod tests;
