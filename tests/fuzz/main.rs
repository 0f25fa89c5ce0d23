//! Property tests of the request parsers: the filter grammar, PATCH paths and bodies, and User
//! bodies. Arbitrary input never panics and is refused with the right 400; generated filters
//! and paths print and read back as the same tree. `tests/api/fuzz.rs` sends such input to
//! the server. README (Development) says how to run longer.

use proptest::prelude::*;
use scim_sidecar::provisioning::filter::member_filter;
use scim_sidecar::scim::filter::{
    parse_filter, parse_path, CompValue, Filter, PatchPath, MAX_DEPTH, MAX_FILTER_LEN,
};
use scim_sidecar::scim::patch::{apply_patch, parse_patch};
use scim_sidecar::scim::resource::normalize_body;
use scim_sidecar::scim::user::to_write;
use scim_sidecar::scim::{ScimError, ScimType};
use serde_json::Value;

mod strategies;

use strategies::{
    bracket_filter, filter, filter_text, grammar_soup, json, mutated, patch_body, patch_path_text,
    typed_filter, typed_patch_body, typed_user_body, user_body,
};

/// A refusal the client can act on: 400 with the expected `scimType`.
fn assert_refused(error: &ScimError, scim_type: ScimType, input: &str) {
    assert_eq!(
        (error.status, error.scim_type),
        (400, Some(scim_type)),
        "{input:?}: {error}"
    );
}

/// 400 with one of the `scimType`s a body may be refused with.
fn assert_body_refused(error: &ScimError) {
    assert_eq!(error.status, 400, "{error}");
    assert!(
        matches!(
            error.scim_type,
            Some(
                ScimType::InvalidSyntax
                    | ScimType::InvalidValue
                    | ScimType::InvalidPath
                    | ScimType::InvalidFilter
                    | ScimType::NoTarget
                    | ScimType::Mutability
            )
        ),
        "{error}"
    );
}

/// Nesting of `(`, `[` in the printed filter, which the parser bounds.
fn depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for ch in text.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '(' | '[' if !in_string => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether a string compared in `filter` holds a NUL, which the parser refuses.
fn has_nul(filter: &Filter) -> bool {
    match filter {
        Filter::Compare {
            value: CompValue::Str(text),
            ..
        } => text.contains('\0'),
        Filter::Compare { .. } | Filter::Present(_) => false,
        Filter::And(a, b) | Filter::Or(a, b) => has_nul(a) || has_nul(b),
        Filter::Not(inner) => has_nul(inner),
        Filter::ValuePath { filter, .. } => has_nul(filter),
    }
}

/// Whether the parser must refuse `text`, which holds the printed `tree`: too long, nested
/// too deep, or a NUL in a string.
fn must_refuse(text: &str, tree: &Filter) -> bool {
    text.len() > MAX_FILTER_LEN || depth(text) > MAX_DEPTH || has_nul(tree)
}

/// The document of an Okta-style body, as stored.
fn stored_user() -> serde_json::Map<String, Value> {
    let body = serde_json::json!({
        "userName": "jane@example.com",
        "externalId": "00u-jane",
        "name": { "givenName": "Jane", "familyName": "Doe" },
        "displayName": "Jane Doe",
        "emails": [
            { "value": "jane@example.com", "type": "work", "primary": true },
            { "value": "jd@example.org", "type": "home" }
        ],
        "phoneNumbers": [{ "value": "+1 555 0100", "type": "work" }],
        "title": "Engineer",
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "42",
            "manager": { "value": "boss" }
        }
    });
    normalize_body(&body).expect("a valid body")
}

proptest! {
    #[test]
    fn generated_filters_print_and_parse_back_to_the_same_tree(
        tree in prop_oneof![filter(), typed_filter()]
    ) {
        let printed = tree.to_string();
        let parsed = parse_filter(&printed);
        if must_refuse(&printed, &tree) {
            let error = parsed.expect_err("refused");
            assert_refused(&error, ScimType::InvalidFilter, &printed);
            return Ok(());
        }
        prop_assert_eq!(parsed.as_ref().ok(), Some(&tree), "{} gave {:?}", printed, parsed);
        // Printing is canonical.
        prop_assert_eq!(tree.to_string(), printed);
    }

    #[test]
    fn generated_patch_paths_parse(text in patch_path_text()) {
        let parsed = parse_path(&text);
        // serde_json prints a NUL as `\u0000`.
        if text.len() > MAX_FILTER_LEN || depth(&text) > MAX_DEPTH || text.contains("\\u0000") {
            assert_refused(&parsed.expect_err("refused"), ScimType::InvalidPath, &text);
        } else {
            prop_assert!(parsed.is_ok(), "{} gave {:?}", text, parsed);
        }
    }

    #[test]
    fn value_paths_keep_their_filter(tree in bracket_filter()) {
        let text = format!("emails[{tree}].value");
        let parsed = parse_path(&text);
        if must_refuse(&text, &tree) {
            assert_refused(&parsed.expect_err("refused"), ScimType::InvalidPath, &text);
            return Ok(());
        }
        match parsed {
            Ok(PatchPath::Value { attr, filter, sub_attr }) => {
                prop_assert!(attr.is("emails"));
                prop_assert_eq!(filter, tree);
                prop_assert_eq!(sub_attr.as_deref(), Some("value"));
            }
            other => prop_assert!(false, "{} gave {:?}", text, other),
        }
    }

    #[test]
    fn any_filter_text_parses_or_is_refused_as_invalid_filter(text in filter_text()) {
        if let Err(error) = parse_filter(&text) {
            assert_refused(&error, ScimType::InvalidFilter, &text);
        }
    }

    #[test]
    fn parsed_filters_translate_without_panicking(tree in prop_oneof![filter(), typed_filter()]) {
        // Attributes the service lacks are refused, never a panic.
        if let Err(error) = member_filter(&tree) {
            assert_refused(&error, ScimType::InvalidFilter, &tree.to_string());
        }
    }

    #[test]
    fn any_path_text_parses_or_is_refused_as_invalid_path(
        text in prop_oneof![mutated(patch_path_text()), grammar_soup(), any::<String>()]
    ) {
        if let Err(error) = parse_path(&text) {
            assert_refused(&error, ScimType::InvalidPath, &text);
        }
    }

    #[test]
    fn any_json_patch_parses_and_applies_or_is_refused(
        body in prop_oneof![3 => typed_patch_body(), 2 => patch_body(), 1 => json()]
    ) {
        match parse_patch(&body) {
            Ok(operations) => {
                let mut doc = stored_user();
                match apply_patch(&mut doc, &operations, "user-1") {
                    Ok(()) => {
                        if let Err(error) = to_write(&doc, None) {
                            assert_body_refused(&error);
                        }
                    }
                    Err(error) => assert_body_refused(&error),
                }
            }
            Err(error) => assert_body_refused(&error),
        }
    }

    #[test]
    fn any_json_body_normalizes_or_is_refused(
        body in prop_oneof![3 => typed_user_body(), 2 => user_body(), 1 => json()]
    ) {
        match normalize_body(&body) {
            Ok(doc) => {
                if let Err(error) = to_write(&doc, None) {
                    assert_body_refused(&error);
                }
            }
            Err(error) => assert_body_refused(&error),
        }
    }
}
