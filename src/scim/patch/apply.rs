//! Applying parsed operations to a document: attribute, sub-attribute and value paths.

use serde_json::{Map, Value};

use super::{invalid_path, invalid_value, OpKind, PatchOperation};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{parse_path, AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::scim::resource::{
    self, check_one_primary, is_nothing, is_primary, known_schema, matches_filter,
};
use crate::scim::schema::{self, AttributeDef, Kind, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

/// Core attributes that IdPs send in PATCH and the service ignores: they are read-only or not
/// stored through this resource.
const IGNORED: &[&str] = &["meta", "groups", "schemas", "password"];

const VALUE_REQUIRED: &str = "`add` and `replace` require a `value`.";

pub(super) fn apply_operation(
    doc: &mut Map<String, Value>,
    op: &PatchOperation,
    id: &str,
) -> Result<(), ScimError> {
    let value = op.value.as_ref();
    if op.op != OpKind::Remove && value.is_none() {
        return Err(invalid_value(VALUE_REQUIRED));
    }
    let Some(path) = &op.path else {
        if op.op == OpKind::Remove {
            return Err(ScimError::bad_request(
                ScimType::NoTarget,
                "`remove` requires a `path`.",
            ));
        }
        let Some(Value::Object(map)) = value else {
            let detail = "Without a `path`, `value` must be a JSON object of attributes.";
            return Err(invalid_value(detail));
        };
        for (key, value) in map {
            match known_schema(key) {
                Some(schema) => apply_schema_object(doc, op.op, schema, Some(value), id)?,
                None => apply_path(doc, op.op, &parse_path(key)?, Some(value), id)?,
            }
        }
        return Ok(());
    };
    // Named in a path, the read-only attributes IdPs echo inside values are an error: the
    // client asks to change what cannot change.
    let attr = match path {
        PatchPath::Attr(attr) | PatchPath::Value { attr, .. } => attr,
    };
    let core = attr
        .urn
        .as_deref()
        .is_none_or(|urn| urn.eq_ignore_ascii_case(USER_SCHEMA));
    if core
        && ["meta", "groups"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&attr.name))
    {
        let detail = format!("`{}` is read-only and cannot be changed.", attr.name);
        return Err(ScimError::bad_request(ScimType::Mutability, detail));
    }
    apply_path(doc, op.op, path, value, id)
}

/// What a path's attribute part names.
enum Target {
    Ignored,
    ReadOnly(&'static AttributeDef),
    Attr {
        schema: &'static str,
        def: &'static AttributeDef,
        sub: Option<&'static AttributeDef>,
    },
}

/// Shortens a client-written path for an error detail.
fn shown(attr: &AttrPath) -> String {
    let text = attr.to_string();
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

fn resolve_target(attr: &AttrPath) -> Result<Target, ScimError> {
    let schema = match &attr.urn {
        None => USER_SCHEMA,
        Some(urn) => known_schema(urn)
            .ok_or_else(|| invalid_path(format!("`{}` names an unknown schema.", shown(attr))))?,
    };
    if schema == USER_SCHEMA && IGNORED.iter().any(|n| n.eq_ignore_ascii_case(&attr.name)) {
        return Ok(Target::Ignored);
    }
    let Some((_, def)) = schema::resolve(Some(schema), &attr.name) else {
        return Err(invalid_path(format!(
            "`{}` is not a User attribute.",
            shown(attr)
        )));
    };
    let sub = match &attr.sub_attr {
        None => None,
        Some(_) if def.kind != Kind::Complex => {
            let detail = format!("`{}` has no sub-attributes.", def.name);
            return Err(invalid_path(detail));
        }
        Some(sub) => Some(def.sub(sub).ok_or_else(|| {
            invalid_path(format!(
                "`{}` is not a sub-attribute of `{}`.",
                shown(attr),
                def.name
            ))
        })?),
    };
    if def.is_read_only() {
        return Ok(Target::ReadOnly(def));
    }
    Ok(Target::Attr { schema, def, sub })
}

/// The attribute map of `schema` inside `doc`, created for the enterprise extension.
fn container<'a>(doc: &'a mut Map<String, Value>, schema: &str) -> &'a mut Map<String, Value> {
    if schema != ENTERPRISE_USER_SCHEMA {
        return doc;
    }
    let slot = doc
        .entry(ENTERPRISE_USER_SCHEMA)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        // The slot was made an object just above; the borrow checker cannot return `doc`
        // from a conditional borrow, so the invariant is asserted instead.
        _ => unreachable!("the extension slot was just made an object"),
    }
}

/// `urn:...:enterprise:2.0:User` as a path: the parser reads it as attribute `User`.
fn whole_schema(path: &PatchPath) -> Option<&'static str> {
    match path {
        PatchPath::Attr(AttrPath {
            urn: Some(urn),
            name,
            sub_attr: None,
        }) => known_schema(&format!("{urn}:{name}")),
        _ => None,
    }
}

fn apply_schema_object(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    schema: &'static str,
    value: Option<&Value>,
    id: &str,
) -> Result<(), ScimError> {
    match (kind, value) {
        (OpKind::Remove, _) if schema == ENTERPRISE_USER_SCHEMA => {
            doc.remove(ENTERPRISE_USER_SCHEMA);
            Ok(())
        }
        (OpKind::Remove, _) => Err(invalid_path(format!(
            "`{schema}` names the whole core schema, which cannot be removed."
        ))),
        (_, Some(Value::Object(map))) => {
            for (key, value) in map {
                let path = parse_path(&format!("{schema}:{key}"))?;
                apply_path(doc, kind, &path, Some(value), id)?;
            }
            Ok(())
        }
        (_, Some(value)) if is_nothing(value) => Ok(()),
        _ => Err(invalid_value(format!(
            "The value for `{schema}` must be a JSON object of attributes."
        ))),
    }
}

fn apply_path(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    id: &str,
) -> Result<(), ScimError> {
    if let Some(schema) = whole_schema(path) {
        return apply_schema_object(doc, kind, schema, value, id);
    }
    let (attr, filter) = match path {
        PatchPath::Attr(attr) => (attr, None),
        PatchPath::Value {
            attr,
            filter,
            sub_attr,
        } => (attr, Some((filter, sub_attr.as_deref()))),
    };
    let (schema, def, sub) = match resolve_target(attr)? {
        Target::Ignored => return Ok(()),
        Target::ReadOnly(def) if filter.is_some() => return Err(not_multi(def)),
        Target::ReadOnly(def) => return check_read_only(def, kind, value, id),
        Target::Attr { schema, def, sub } => (schema, def, sub),
    };
    let doc = container(doc, schema);
    let result = match filter {
        Some((filter, sub)) => apply_value_path(doc, kind, def, filter, sub, value),
        None => match sub {
            Some(sub) => apply_sub(doc, kind, def, sub, value),
            None => apply_attr(doc, kind, def, value),
        },
    };
    if doc.get(def.name).is_some_and(is_nothing) {
        doc.remove(def.name);
    }
    result
}

fn not_multi(def: &AttributeDef) -> ScimError {
    invalid_path(format!(
        "`{}` is single-valued; a filter `[...]` applies only to multi-valued attributes.",
        def.name
    ))
}

/// `id` may be "replaced" with its own value (Okta and Entra echo it), nothing else.
fn check_read_only(
    def: &AttributeDef,
    kind: OpKind,
    value: Option<&Value>,
    id: &str,
) -> Result<(), ScimError> {
    let unchanged = match (kind, value) {
        (OpKind::Remove, _) | (_, None) => false,
        (_, Some(value)) => {
            resource::normalize_value(def, value)?
                .as_ref()
                .and_then(Value::as_str)
                == Some(id)
        }
    };
    if unchanged {
        return Ok(());
    }
    let detail = format!("`{}` is read-only and cannot be changed.", def.name);
    Err(ScimError::bad_request(ScimType::Mutability, detail))
}

fn required_value(value: Option<&Value>) -> Result<&Value, ScimError> {
    value.ok_or_else(|| invalid_value(VALUE_REQUIRED))
}

fn cannot_remove(def: &AttributeDef) -> ScimError {
    let detail = format!(
        "`{}` is required and cannot be removed or emptied.",
        def.name
    );
    invalid_value(detail)
}

/// A path naming a whole attribute: `active`, `emails`, `name`, `urn:...:manager`.
fn apply_attr(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    def: &'static AttributeDef,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if kind == OpKind::Remove {
        if def.required {
            return Err(cannot_remove(def));
        }
        match (value.filter(|v| !is_nothing(v)), doc.get_mut(def.name)) {
            (Some(value), Some(Value::Array(items))) if def.multi_valued => {
                remove_listed(items, def, value)?
            }
            _ => {
                doc.remove(def.name);
            }
        }
        return Ok(());
    }
    let value = required_value(value)?;
    // `active: null` would silently change nothing; a boolean is set to true or false.
    if def.kind == Kind::Boolean && value.is_null() {
        return Err(invalid_value(format!(
            "`{}` must be true or false.",
            def.name
        )));
    }
    if def.kind == Kind::Complex && !def.multi_valued && !is_nothing(value) {
        let slot = doc
            .entry(def.name)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(object) = slot {
            merge_into(object, def, value, def.name)?;
        }
        return Ok(());
    }
    match resource::normalize_value(def, value)? {
        None if def.required => Err(cannot_remove(def)),
        None if kind == OpKind::Add && def.multi_valued => Ok(()),
        None => {
            doc.remove(def.name);
            Ok(())
        }
        Some(Value::Array(new)) if kind == OpKind::Add => {
            let mut items = take_items(doc, def);
            let mut touched = Vec::with_capacity(new.len());
            for item in new {
                match items.iter().position(|existing| *existing == item) {
                    Some(i) => touched.push(i),
                    None => {
                        items.push(item);
                        touched.push(items.len() - 1);
                    }
                }
            }
            let result = settle_primary(&mut items, &touched, def.name);
            doc.insert(def.name.to_string(), Value::Array(items));
            result
        }
        Some(value) => {
            doc.insert(def.name.to_string(), value);
            Ok(())
        }
    }
}

/// A sub-attribute path without filter: `name.givenName`, or `emails.type` (every value).
fn apply_sub(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    def: &'static AttributeDef,
    sub: &'static AttributeDef,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let label = format!("{}.{}", def.name, sub.name);
    let new = match kind {
        OpKind::Remove => None,
        _ => resource::normalize_labeled(sub, required_value(value)?, &label)?,
    };
    if !def.multi_valued {
        let slot = doc
            .entry(def.name)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(object) = slot {
            set_or_remove(object, sub, new);
        }
        return Ok(());
    }
    let mut items = take_items(doc, def);
    if items.is_empty() {
        items.extend(
            new.clone()
                .map(|v| Value::Object(Map::from_iter([(sub.name.into(), v)]))),
        );
    } else {
        for item in &mut items {
            if let Value::Object(object) = item {
                set_or_remove(object, sub, new.clone());
            }
        }
    }
    let touched: Vec<usize> = (0..items.len()).collect();
    let result = settle_primary(&mut items, &touched, def.name);
    items.retain(|item| !is_nothing(item));
    doc.insert(def.name.to_string(), Value::Array(items));
    result
}

/// A value path: `emails[type eq "work"]` or `emails[type eq "work"].value`.
fn apply_value_path(
    doc: &mut Map<String, Value>,
    kind: OpKind,
    def: &'static AttributeDef,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if !def.multi_valued {
        return Err(not_multi(def));
    }
    check_filter(filter, def)?;
    let sub = match sub {
        None => None,
        Some(name) => Some(def.sub(name).ok_or_else(|| {
            invalid_path(format!(
                "`{name}` is not a sub-attribute of `{}`.",
                def.name
            ))
        })?),
    };
    let mut items = take_items(doc, def);
    let result = edit_matching(&mut items, kind, def, filter, sub, value);
    items.retain(|item| !is_nothing(item));
    doc.insert(def.name.to_string(), Value::Array(items));
    result
}

fn edit_matching(
    items: &mut Vec<Value>,
    kind: OpKind,
    def: &'static AttributeDef,
    filter: &Filter,
    sub: Option<&'static AttributeDef>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let label = match sub {
        Some(sub) => format!("{}.{}", def.name, sub.name),
        None => def.name.to_string(),
    };
    let hits: Vec<usize> = (0..items.len())
        .filter(|&i| matches_filter(filter, &items[i], def))
        .collect();
    if kind == OpKind::Remove && hits.is_empty() {
        let detail = format!("No value of `{}` matches the filter.", def.name);
        return Err(ScimError::bad_request(ScimType::NoTarget, detail));
    }
    // Remove, or replace with nothing: matching values (or their sub-attribute) go away.
    let value = match kind {
        OpKind::Remove => None,
        _ => Some(required_value(value)?).filter(|v| !is_nothing(v)),
    };
    let Some(value) = value else {
        for &i in &hits {
            match (sub, &mut items[i]) {
                (Some(sub), Value::Object(object)) => set_or_remove(object, sub, None),
                _ => items[i] = Value::Null,
            }
        }
        return Ok(());
    };
    let new_sub = match sub {
        Some(sub) => resource::normalize_labeled(sub, value, &label)?,
        None => None,
    };
    let touched = if hits.is_empty() {
        // Entra adds `emails[type eq "work"].value` expecting a new work email.
        items.push(Value::Object(from_filter(filter, def)?));
        vec![items.len() - 1]
    } else {
        hits
    };
    for &i in &touched {
        if let Value::Object(object) = &mut items[i] {
            match sub {
                Some(sub) => set_or_remove(object, sub, new_sub.clone()),
                None => merge_into(object, def, value, &label)?,
            }
        }
    }
    settle_primary(items, &touched, def.name)
}

fn take_items(doc: &mut Map<String, Value>, def: &AttributeDef) -> Vec<Value> {
    match doc.remove(def.name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn set_or_remove(object: &mut Map<String, Value>, sub: &AttributeDef, value: Option<Value>) {
    match value {
        Some(value) => object.insert(sub.name.to_string(), value),
        None => object.remove(sub.name),
    };
}

/// Merges the sub-attributes of `value` into `object` (RFC 7644 §3.5.2.1 and .3: those not
/// given are left unchanged); one given with no value is removed. A bare `manager` id and a
/// one-element array are accepted.
fn merge_into(
    object: &mut Map<String, Value>,
    def: &AttributeDef,
    value: &Value,
    label: &str,
) -> Result<(), ScimError> {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let Some(sub) = def.sub(key).filter(|sub| !sub.is_read_only()) else {
                    continue;
                };
                let sub_label = format!("{label}.{}", sub.name);
                let value = resource::normalize_labeled(sub, value, &sub_label)?;
                set_or_remove(object, sub, value);
            }
            Ok(())
        }
        Value::Array(items) if items.len() == 1 => merge_into(object, def, &items[0], label),
        _ if def.multi_valued => Err(invalid_value(format!(
            "The value for `{label}` must be a JSON object."
        ))),
        _ => match resource::normalize_labeled(def, value, label)? {
            Some(value) => merge_into(object, def, &value, label),
            None => Ok(()),
        },
    }
}

/// RFC 7644 §3.5.2: setting `primary` to true on a value makes every other value non-primary.
/// `touched` are the values this operation set; two of them primary is `invalidValue`.
fn settle_primary(items: &mut [Value], touched: &[usize], label: &str) -> Result<(), ScimError> {
    let mut primary: Vec<usize> = touched
        .iter()
        .copied()
        .filter(|&i| items.get(i).is_some_and(is_primary))
        .collect();
    primary.sort_unstable();
    primary.dedup();
    match primary.as_slice() {
        [keep] => {
            for (i, item) in items.iter_mut().enumerate() {
                if let (true, Value::Object(object)) = (i != *keep && is_primary(item), item) {
                    object.insert("primary".into(), Value::Bool(false));
                }
            }
            Ok(())
        }
        _ => check_one_primary(items, label),
    }
}

/// `remove` of `emails` with a `value`: removes the values whose given sub-attributes match.
fn remove_listed(
    items: &mut Vec<Value>,
    def: &AttributeDef,
    value: &Value,
) -> Result<(), ScimError> {
    let Some(Value::Array(listed)) = resource::normalize_value(def, value)? else {
        return Ok(());
    };
    items.retain(|item| {
        !listed.iter().any(|wanted| {
            let Value::Object(wanted) = wanted else {
                return false;
            };
            wanted.iter().all(|(key, expected)| {
                let sub = def.sub(key);
                let case_exact = sub.is_some_and(|sub| sub.case_exact);
                same(item.get(key.as_str()), expected, case_exact)
            })
        })
    });
    Ok(())
}

fn same(actual: Option<&Value>, expected: &Value, case_exact: bool) -> bool {
    match (actual, expected) {
        (Some(Value::String(a)), Value::String(b)) if !case_exact => a.eq_ignore_ascii_case(b),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

/// Filter paths inside `[...]` must name sub-attributes of `def`.
fn check_filter(filter: &Filter, def: &AttributeDef) -> Result<(), ScimError> {
    let check = |path: &AttrPath| match def.sub(&path.name) {
        Some(_) if path.urn.is_none() && path.sub_attr.is_none() => Ok(()),
        _ => Err(invalid_path(format!(
            "The filter names `{}`, which is not a sub-attribute of `{}`.",
            shown(path),
            def.name
        ))),
    };
    match filter {
        Filter::Compare { path, .. } | Filter::Present(path) => check(path),
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_filter(a, def)?;
            check_filter(b, def)
        }
        Filter::Not(inner) => check_filter(inner, def),
        Filter::ValuePath { .. } => Err(invalid_path("Value filters cannot be nested.")),
    }
}

/// A new value built from a filter of `and`-joined `eq` comparisons, e.g. `{"type": "work"}`
/// from `type eq "work"`; any other filter is 400 `noTarget`.
fn from_filter(filter: &Filter, def: &AttributeDef) -> Result<Map<String, Value>, ScimError> {
    fn collect(filter: &Filter, out: &mut Map<String, Value>) -> bool {
        match filter {
            Filter::And(a, b) => collect(a, out) && collect(b, out),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } => {
                let value = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Num(n) => Value::Number(n.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Null => return false,
                };
                out.insert(path.name.clone(), value);
                true
            }
            _ => false,
        }
    }
    let mut raw = Map::new();
    let mut object = Map::new();
    if collect(filter, &mut raw) {
        merge_into(&mut object, def, &Value::Object(raw), def.name)?;
    }
    if object.is_empty() || !matches_filter(filter, &Value::Object(object.clone()), def) {
        let detail = format!(
            "No value of `{}` matches the filter, and none can be created from it \
             (only `eq` comparisons joined by `and` can).",
            def.name
        );
        return Err(ScimError::bad_request(ScimType::NoTarget, detail));
    }
    Ok(object)
}
