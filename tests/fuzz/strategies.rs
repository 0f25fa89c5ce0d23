//! Generators for the property tests: filter trees, PATCH paths and bodies, User bodies and
//! arbitrary JSON. Shared by `tests/fuzz` (the parsers) and `tests/api/fuzz.rs` (the server).
//!
//! Purely random text rarely gets past a parser's first token, so most generators build
//! inputs from the grammar's own pieces and from the attribute names the service knows, in
//! odd cases and with odd values, and mix in arbitrary text.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use scim_sidecar::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use scim_sidecar::scim::schema::{self, AttributeDef, Kind, ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use serde_json::{Map, Number, Value};

/// Attribute and sub-attribute names of the schemas, some the service lacks, and the keys
/// of request bodies; in the case given here.
const NAMES: &[&str] = &[
    "userName",
    "name",
    "givenName",
    "familyName",
    "formatted",
    "middleName",
    "displayName",
    "nickName",
    "title",
    "userType",
    "locale",
    "timezone",
    "active",
    "externalId",
    "id",
    "meta",
    "lastModified",
    "created",
    "emails",
    "phoneNumbers",
    "addresses",
    "streetAddress",
    "country",
    "value",
    "type",
    "primary",
    "display",
    "groups",
    "members",
    "schemas",
    "password",
    "manager",
    "employeeNumber",
    "costCenter",
    "department",
    "ims",
    "$ref",
    "and",
    "or",
    "pr",
    "eq",
    "true",
    "null",
];

/// Texts that mean something to the parsers or the schema.
const TEXTS: &[&str] = &[
    "",
    " ",
    "work",
    "home",
    "True",
    "false",
    "null",
    "a@b.c",
    "jane@example.com",
    "JANE@EXAMPLE.COM",
    "bjensen",
    "2011-05-13T04:42:34Z",
    "\u{0}",
    "\\",
    "\"",
    "é日\u{2028}\u{202e}",
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:api:messages:2.0:PatchOp",
];

/// Short text: any characters (control characters, NUL, astral planes), the meaningful
/// ones above, or an e-mail address.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => vec(any::<char>(), 0..12).prop_map(String::from_iter),
        3 => select(TEXTS).prop_map(str::to_owned),
        2 => "[a-z]{1,8}@[a-z]{1,8}\\.(com|org)",
    ]
}

/// A name from [`NAMES`] as written, in upper or lower case, or a random one.
fn name_any_case() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(NAMES).prop_map(str::to_owned),
        1 => select(NAMES).prop_map(str::to_uppercase),
        1 => select(NAMES).prop_map(str::to_lowercase),
        1 => "[a-zA-Z][a-zA-Z0-9_-]{0,10}",
    ]
}

/// An attribute name the grammar accepts everywhere: every name but `not`, which always
/// starts `not (...)`.
fn attr_name() -> impl Strategy<Value = String> {
    name_any_case().prop_filter("`not` is a keyword", |name| {
        !name.eq_ignore_ascii_case("not")
    })
}

fn urn() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(USER_SCHEMA.to_owned()),
        Just(ENTERPRISE_USER_SCHEMA.to_owned()),
        "[uU][rR][nN]:[a-z0-9]{1,6}(:[A-Za-z0-9._-]{1,8}){1,3}",
    ]
}

/// `[urn:] name [.sub]`; inside `[...]` a plain name only.
fn attr_path(in_brackets: bool) -> BoxedStrategy<AttrPath> {
    if in_brackets {
        return attr_name().prop_map(AttrPath::new).boxed();
    }
    (
        prop::option::weighted(0.2, urn()),
        attr_name(),
        prop::option::weighted(0.3, attr_name()),
    )
        .prop_map(|(urn, name, sub_attr)| AttrPath {
            urn,
            name,
            sub_attr,
        })
        .boxed()
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        (-1000i64..1000).prop_map(Number::from),
    ]
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        4 => text().prop_map(CompValue::Str),
        2 => number().prop_map(CompValue::Num),
        1 => any::<bool>().prop_map(CompValue::Bool),
        1 => Just(CompValue::Null),
    ]
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn comparison(in_brackets: bool) -> impl Strategy<Value = Filter> {
    prop_oneof![
        4 => (attr_path(in_brackets), compare_op(), comp_value())
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => attr_path(in_brackets).prop_map(Filter::Present),
    ]
}

/// `and`, `or` and `not` over `leaf`, a few levels deep.
fn combined(leaf: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

/// A filter inside `[...]`: plain sub-attribute names, no nested value path.
pub fn bracket_filter() -> BoxedStrategy<Filter> {
    combined(comparison(true).boxed())
}

/// A multi-valued attribute's path for `attr[...]`: no sub-attribute.
fn value_path_attr() -> impl Strategy<Value = AttrPath> {
    (prop::option::weighted(0.2, urn()), attr_name()).prop_map(|(urn, name)| AttrPath {
        urn,
        name,
        sub_attr: None,
    })
}

/// Any filter the grammar allows, as a tree.
pub fn filter() -> BoxedStrategy<Filter> {
    let value_path =
        (value_path_attr(), bracket_filter()).prop_map(|(attr, filter)| Filter::ValuePath {
            attr,
            filter: Box::new(filter),
        });
    combined(prop_oneof![4 => comparison(false), 1 => value_path].boxed())
}

/// A valid PATCH path as text: `attr`, or `attr[filter]` with an optional `.sub`.
pub fn patch_path_text() -> impl Strategy<Value = String> {
    prop_oneof![
        attr_path(false).prop_map(|path| path.to_string()),
        (
            value_path_attr(),
            bracket_filter(),
            prop::option::of(attr_name())
        )
            .prop_map(|(attr, filter, sub)| match sub {
                Some(sub) => format!("{attr}[{filter}].{sub}"),
                None => format!("{attr}[{filter}]"),
            }),
    ]
}

/// Pieces of the filter and path grammar, for text that gets past the first token.
const PIECES: &[&str] = &[
    "[", "]", "(", ")", ".", ":", "\"", "\\", "\\u00", "\\ud800", " ", "\t", "pr", "and", "or",
    "not", "eq", "-", "e+", "1", "0.5", "1e999", "true", "null", "$ref", "urn:a:b", "é", "日",
    "emails", "value", "userName",
];

/// Text built from grammar pieces and arbitrary characters.
pub fn grammar_soup() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            3 => select(PIECES).prop_map(str::to_owned),
            1 => attr_name(),
            1 => any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|pieces| pieces.concat())
}

/// `text` with a few random edits (a piece inserted, a character removed), which reach the
/// parser's error paths from deep inside a valid input.
pub fn mutated(text: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (
        text,
        vec(
            (any::<prop::sample::Index>(), select(PIECES), any::<bool>()),
            1..4,
        ),
    )
        .prop_map(|(mut text, edits)| {
            for (at, piece, insert) in edits {
                let boundaries: Vec<usize> = text
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([text.len()])
                    .collect();
                let at = boundaries[at.index(boundaries.len())];
                if insert {
                    text.insert_str(at, piece);
                } else if at < text.len() {
                    text.remove(at);
                }
            }
            text
        })
}

/// What a client might send as a filter: valid ones printed, edited ones, soup, anything.
pub fn filter_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => typed_filter().prop_map(|f| f.to_string()),
        1 => filter().prop_map(|f| f.to_string()),
        2 => mutated(typed_filter().prop_map(|f| f.to_string())),
        1 => grammar_soup(),
        1 => any::<String>(),
    ]
}

/// A body key: a known name in any case, dotted or URN-qualified, or anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => name_any_case(),
        2 => (name_any_case(), name_any_case()).prop_map(|(a, b)| format!("{a}.{b}")),
        2 => (urn(), name_any_case()).prop_map(|(urn, name)| format!("{urn}:{name}")),
        1 => urn(),
        1 => text(),
    ]
}

/// Any JSON value, with body keys for objects.
pub fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::Bool),
        2 => number().prop_map(Value::Number),
        8 => text().prop_map(Value::String),
        // Around the longest string an attribute may hold.
        1 => "[a-z0-9]{1020,1030}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            object(inner, 0..5),
        ]
    })
    .boxed()
}

fn object(
    values: impl Strategy<Value = Value>,
    size: std::ops::Range<usize>,
) -> impl Strategy<Value = Value> {
    btree_map(key(), values, size).prop_map(|map| Value::Object(Map::from_iter(map)))
}

/// A plausible User body (userName and a work address) with arbitrary attributes merged
/// in, so that many bodies get past the first checks.
pub fn user_body() -> impl Strategy<Value = Value> {
    let address = prop_oneof![
        3 => "[a-z]{1,8}@[a-z]{1,8}\\.(com|org)",
        1 => text(),
    ];
    (address, object(json(), 0..6)).prop_map(|(address, extra)| {
        let mut body = serde_json::json!({
            "schemas": [USER_SCHEMA],
            "userName": address,
            "emails": [{ "value": address, "type": "work", "primary": true }],
            "name": { "givenName": "Fuzz", "familyName": "Case" },
        });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    })
}

/// A PatchOp body: usual and odd `op`s, valid, edited or arbitrary paths, any values.
pub fn patch_body() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        3 => select(&["add", "replace", "remove", "Replace", "ADD"][..]).prop_map(Value::from),
        1 => json(),
    ];
    let path = prop_oneof![
        1 => Just(None),
        3 => patch_path_text().prop_map(|p| Some(Value::String(p))),
        1 => mutated(patch_path_text()).prop_map(|p| Some(Value::String(p))),
        1 => json().prop_map(Some),
    ];
    let value = prop_oneof![
        1 => Just(None),
        3 => json().prop_map(Some),
        1 => user_body().prop_map(Some),
    ];
    let operation = (op, path, value).prop_map(|(op, path, value)| {
        let mut operation = Map::new();
        operation.insert("op".into(), op);
        if let Some(path) = path {
            operation.insert("path".into(), path);
        }
        if let Some(value) = value {
            operation.insert("value".into(), value);
        }
        Value::Object(operation)
    });
    let operations = prop_oneof![
        6 => vec(operation, 1..4).prop_map(Value::Array),
        1 => json(),
    ];
    (operations, any::<bool>()).prop_map(|(operations, with_schemas)| {
        let mut body = Map::new();
        if with_schemas {
            body.insert(
                "schemas".into(),
                serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]),
            );
        }
        body.insert("Operations".into(), operations);
        Value::Object(body)
    })
}

// ---- Shaped by the service's schema: inputs that get past type checks to the database. ----

/// Every attribute of the schemas with the URN it belongs to.
fn attributes() -> Vec<(&'static str, &'static AttributeDef)> {
    [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]
        .into_iter()
        .flat_map(|urn| {
            let defs = schema::attributes_of(urn).unwrap_or_default();
            defs.iter().map(move |def| (urn, def))
        })
        .collect()
}

/// A name as the schema spells it, or in lower or upper case.
fn spelled(name: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(name.to_owned()),
        1 => Just(name.to_lowercase()),
        1 => Just(name.to_uppercase()),
    ]
}

/// Text for a string attribute: its canonical values, an address, a date, anything.
fn string_for(def: &'static AttributeDef) -> BoxedStrategy<String> {
    let canonical = if def.canonical_values.is_empty() {
        TEXTS
    } else {
        def.canonical_values
    };
    prop_oneof![
        3 => text(),
        2 => select(canonical).prop_map(str::to_owned),
        1 => "[a-z0-9]{1,8}",
        1 => "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-][01][0-9]:[0-5][0-9])",
        // Around the attribute's longest value.
        1 => (def.max_len - 2..def.max_len + 2).prop_map(|len| "x".repeat(len)),
    ]
    .boxed()
}

/// One value of `def`'s type (an element, for a multi-valued attribute).
fn single_for(def: &'static AttributeDef) -> BoxedStrategy<Value> {
    match def.kind {
        Kind::String | Kind::Reference => prop_oneof![
            6 => string_for(def).prop_map(Value::String),
            1 => number().prop_map(Value::Number),
        ]
        .boxed(),
        Kind::Boolean => prop_oneof![
            3 => any::<bool>().prop_map(Value::Bool),
            1 => select(&["True", "false", "FALSE", " true "][..]).prop_map(Value::from),
        ]
        .boxed(),
        Kind::Complex => {
            let subs: Vec<&'static AttributeDef> = def.sub_attributes.iter().collect();
            let count = subs.len();
            let object = prop::sample::subsequence(subs, 0..=count)
                .prop_flat_map(|subs| {
                    subs.into_iter()
                        .map(|sub| (spelled(sub.name), value_for(sub)))
                        .collect::<Vec<_>>()
                })
                .prop_map(|entries| Value::Object(Map::from_iter(entries)));
            if def.multi_valued {
                object.boxed()
            } else {
                // `"manager": "<id>"`.
                prop_oneof![4 => object, 1 => string_for(def).prop_map(Value::String)].boxed()
            }
        }
    }
}

/// A value for `def`: mostly of its type (an array for a multi-valued one), sometimes any.
fn value_for(def: &'static AttributeDef) -> BoxedStrategy<Value> {
    let typed = if def.multi_valued {
        vec(single_for(def), 0..3).prop_map(Value::Array).boxed()
    } else {
        single_for(def)
    };
    prop_oneof![8 => typed, 1 => json()].boxed()
}

/// Some attributes with values of their types, keyed as IdPs key them: plain, dotted for a
/// sub-attribute, URN-qualified, or in the extension's object.
pub fn attribute_object() -> impl Strategy<Value = Map<String, Value>> {
    let count = attributes().len();
    prop::sample::subsequence(attributes(), 0..=count.min(6))
        .prop_flat_map(|chosen| {
            chosen
                .into_iter()
                .map(|(urn, def)| {
                    let qualified = any::<bool>();
                    (spelled(def.name), value_for(def), qualified).prop_map(
                        move |(name, value, qualified)| {
                            if urn == ENTERPRISE_USER_SCHEMA || qualified {
                                (format!("{urn}:{name}"), value)
                            } else {
                                (name, value)
                            }
                        },
                    )
                })
                .collect::<Vec<_>>()
        })
        .prop_map(Map::from_iter)
}

/// A User body with attributes of the right types over a valid base.
pub fn typed_user_body() -> impl Strategy<Value = Value> {
    ("[a-z]{1,8}@[a-z]{1,8}\\.(com|org)", attribute_object()).prop_map(|(address, attributes)| {
        let mut body = serde_json::json!({
            "userName": address,
            "emails": [{ "value": address, "primary": true }],
        });
        if let Some(body) = body.as_object_mut() {
            body.extend(attributes);
        }
        body
    })
}

/// A filter path the service knows, with its definition: `name`, `name.sub` or `urn:name`.
fn known_path() -> impl Strategy<Value = (AttrPath, &'static AttributeDef)> {
    let mut paths = Vec::new();
    for (urn, def) in attributes() {
        paths.push((urn, def.name, None, def));
        for sub in def.sub_attributes {
            paths.push((urn, def.name, Some(sub.name), sub));
        }
    }
    (select(paths), any::<bool>()).prop_map(|((urn, name, sub, def), qualified)| {
        let path = AttrPath {
            urn: (qualified || urn == ENTERPRISE_USER_SCHEMA).then(|| urn.to_owned()),
            name: name.to_owned(),
            sub_attr: sub.map(str::to_owned),
        };
        (path, def)
    })
}

fn typed_comparison(path: AttrPath, def: &'static AttributeDef) -> BoxedStrategy<Filter> {
    let value = match def.kind {
        Kind::Boolean => any::<bool>().prop_map(CompValue::Bool).boxed(),
        _ => string_for(def).prop_map(CompValue::Str).boxed(),
    };
    let value = prop_oneof![6 => value, 1 => comp_value()];
    let present = Filter::Present(path.clone());
    prop_oneof![
        5 => (compare_op(), value).prop_map(move |(op, value)| Filter::Compare {
            path: path.clone(),
            op,
            value
        }),
        1 => Just(present),
    ]
    .boxed()
}

/// The multi-valued attributes (`emails`, `phoneNumbers`, `addresses`).
fn multi_valued() -> impl Strategy<Value = &'static AttributeDef> {
    let multi: Vec<&'static AttributeDef> = attributes()
        .into_iter()
        .filter(|(_, def)| def.multi_valued)
        .map(|(_, def)| def)
        .collect();
    select(multi)
}

/// The filter inside `def[...]`, over its sub-attributes.
fn bracket_for(def: &'static AttributeDef) -> BoxedStrategy<Filter> {
    let subs: Vec<&'static AttributeDef> = def.sub_attributes.iter().collect();
    let leaf = select(subs)
        .prop_flat_map(|sub| typed_comparison(AttrPath::new(sub.name), sub))
        .boxed();
    combined(leaf)
}

/// `emails[type eq "work" and value co "x"]`.
fn typed_value_path() -> impl Strategy<Value = Filter> {
    multi_valued().prop_flat_map(|def| {
        bracket_for(def).prop_map(move |filter| Filter::ValuePath {
            attr: AttrPath::new(def.name),
            filter: Box::new(filter),
        })
    })
}

/// A filter over the service's attributes (and `meta`), with values of their types.
pub fn typed_filter() -> BoxedStrategy<Filter> {
    let meta = (
        select(&["created", "lastModified"][..]),
        compare_op(),
        string_for(&META),
    )
        .prop_map(|(sub, op, date)| Filter::Compare {
            path: AttrPath {
                urn: None,
                name: "meta".into(),
                sub_attr: Some(sub.into()),
            },
            op,
            value: CompValue::Str(date),
        });
    let leaf = prop_oneof![
        6 => known_path().prop_flat_map(|(path, def)| typed_comparison(path, def)),
        2 => typed_value_path(),
        1 => meta,
    ];
    combined(leaf.boxed())
}

/// Stands for `meta.created` and `meta.lastModified`, which the schemas do not list.
static META: AttributeDef = AttributeDef {
    name: "lastModified",
    kind: Kind::String,
    multi_valued: false,
    required: false,
    case_exact: false,
    mutability: schema::Mutability::ReadOnly,
    unique: false,
    description: "",
    canonical_values: &[],
    sub_attributes: &[],
    number_as_text: false,
    max_len: 64,
};

/// A PATCH operation on an attribute the service has: a path (plain, or a value path such as
/// `emails[type eq "work"].value`) with a value of its type, or a no-path `value` object.
fn typed_operation() -> impl Strategy<Value = Value> {
    let plain = known_path().prop_flat_map(|(path, def)| (Just(path.to_string()), value_for(def)));
    let value_path = multi_valued()
        .prop_flat_map(|def| {
            let subs: Vec<&'static AttributeDef> = def.sub_attributes.iter().collect();
            (Just(def), bracket_for(def), prop::option::of(select(subs)))
        })
        .prop_flat_map(|(def, filter, sub)| match sub {
            Some(sub) => (
                Just(format!("{}[{filter}].{}", def.name, sub.name)),
                value_for(sub),
            ),
            None => (Just(format!("{}[{filter}]", def.name)), single_for(def)),
        });
    let op = select(&["add", "replace", "remove", "Replace"][..]);
    let with_path = (
        op,
        prop_oneof![2 => plain, 1 => value_path],
        prop::bool::weighted(0.9),
    )
        .prop_map(|(op, (path, value), with_value)| {
            let mut operation = serde_json::json!({ "op": op, "path": path });
            if let (true, Some(operation)) = (with_value, operation.as_object_mut()) {
                operation.insert("value".into(), value);
            }
            operation
        });
    let without_path = (select(&["add", "replace"][..]), attribute_object())
        .prop_map(|(op, value)| serde_json::json!({ "op": op, "value": value }));
    prop_oneof![3 => with_path, 1 => without_path]
}

/// A PatchOp body of operations on the service's attributes.
pub fn typed_patch_body() -> impl Strategy<Value = Value> {
    vec(typed_operation(), 1..4).prop_map(|operations| {
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations
        })
    })
}
