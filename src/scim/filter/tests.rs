use super::*;

/// Compact S-expression rendering so the tables stay readable.
fn sexp(filter: &Filter) -> String {
    match filter {
        Filter::Compare { path, op, value } => {
            let value = match value {
                CompValue::Str(s) => serde_json::to_string(s).unwrap(),
                CompValue::Num(n) => n.to_string(),
                CompValue::Bool(b) => b.to_string(),
                CompValue::Null => "null".into(),
            };
            format!("({} {path} {value})", op.as_str())
        }
        Filter::Present(path) => format!("(pr {path})"),
        Filter::And(a, b) => format!("(and {} {})", sexp(a), sexp(b)),
        Filter::Or(a, b) => format!("(or {} {})", sexp(a), sexp(b)),
        Filter::Not(inner) => format!("(not {})", sexp(inner)),
        Filter::ValuePath { attr, filter } => format!("({attr} [{}])", sexp(filter)),
    }
}

/// Rows of `input => expected`, one per non-blank line.
fn rows(table: &str) -> Vec<(&str, &str)> {
    let rows = table.lines().filter(|line| !line.trim().is_empty());
    rows.map(|line| line.split_once(" => ").expect(line))
        .map(|(input, expected)| (input.trim(), expected.trim()))
        .collect()
}

fn check_valid(table: &str) {
    for (input, expected) in rows(table) {
        match parse_filter(input) {
            Ok(filter) => assert_eq!(sexp(&filter), expected, "filter: {input}"),
            Err(e) => panic!("filter {input:?} should parse, got {e:?}"),
        }
    }
}

fn check_invalid_filter(input: &str, needle: &str) {
    let err = parse_filter(input).expect_err(input);
    assert_eq!(
        (err.status, err.scim_type),
        (400, Some(ScimType::InvalidFilter)),
        "{input}"
    );
    assert!(
        err.detail.contains(needle),
        "{input:?}: {:?} lacks {needle:?}",
        err.detail
    );
}

#[test]
fn rfc_7644_examples() {
    check_valid(
        r#"
userName eq "bjensen" => (eq userName "bjensen")
name.familyName co "O'Malley" => (co name.familyName "O'Malley")
userName sw "J" => (sw userName "J")
urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J" => (sw urn:ietf:params:scim:schemas:core:2.0:User:userName "J")
title pr => (pr title)
meta.lastModified gt "2011-05-13T04:42:34Z" => (gt meta.lastModified "2011-05-13T04:42:34Z")
meta.lastModified ge "2011-05-13T04:42:34Z" => (ge meta.lastModified "2011-05-13T04:42:34Z")
meta.lastModified lt "2011-05-13T04:42:34Z" => (lt meta.lastModified "2011-05-13T04:42:34Z")
meta.lastModified le "2011-05-13T04:42:34Z" => (le meta.lastModified "2011-05-13T04:42:34Z")
title pr and userType eq "Employee" => (and (pr title) (eq userType "Employee"))
title pr or userType eq "Intern" => (or (pr title) (eq userType "Intern"))
schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" => (eq schemas "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
userType eq "Employee" and (emails co "example.com" or emails.value co "example.org") => (and (eq userType "Employee") (or (co emails "example.com") (co emails.value "example.org")))
userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org") => (and (ne userType "Employee") (not (or (co emails "example.com") (co emails.value "example.org"))))
userType eq "Employee" and (emails.type eq "work") => (and (eq userType "Employee") (eq emails.type "work"))
userType eq "Employee" and emails[type eq "work" and value co "@example.com"] => (and (eq userType "Employee") (emails [(and (eq type "work") (co value "@example.com"))]))
emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"] => (or (emails [(and (eq type "work") (co value "@example.com"))]) (ims [(and (eq type "xmpp") (co value "@foo.com"))]))
"#,
    );
}

#[test]
fn idp_shapes() {
    check_valid(
        r#"
userName eq "jane@example.com" => (eq userName "jane@example.com")
externalId eq "00u1abc" => (eq externalId "00u1abc")
userName eq "9a3f-guid" => (eq userName "9a3f-guid")
emails[type eq "work"].value eq "jane@example.com" => (emails [(and (eq type "work") (eq value "jane@example.com"))])
emails[type eq "work"].value pr => (emails [(and (eq type "work") (pr value))])
emails.value eq "a@b.c" => (eq emails.value "a@b.c")
id eq "x" and userName eq "y" => (and (eq id "x") (eq userName "y"))
displayName eq "Engineering" => (eq displayName "Engineering")
members[value eq "2819c223"] => (members [(eq value "2819c223")])
manager.$ref pr => (pr manager.$ref)
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915" => (eq urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value "26118915")
"#,
    );
}

#[test]
fn keywords_are_case_insensitive_and_precedence_holds() {
    check_valid(
        r#"
userName EQ "x" => (eq userName "x")
title PR AND userType Ne "y" => (and (pr title) (ne userType "y"))
NOT (a pr) Or b pr => (or (not (pr a)) (pr b))
not(a pr) => (not (pr a))
a eq 1 or b eq 2 and c eq 3 => (or (eq a 1) (and (eq b 2) (eq c 3)))
a eq 1 and b eq 2 or c eq 3 => (or (and (eq a 1) (eq b 2)) (eq c 3))
a pr and b pr and c pr => (and (and (pr a) (pr b)) (pr c))
a pr or b pr or c pr => (or (or (pr a) (pr b)) (pr c))
(a pr or b pr) and c pr => (and (or (pr a) (pr b)) (pr c))
(((a pr))) => (pr a)
a eq 1 and(b pr) => (and (eq a 1) (pr b))
emails [ type eq "work" ] => (emails [(eq type "work")])
emails[type eq "work" or not (type eq "home" and value ew "@x.com")] => (emails [(or (eq type "work") (not (and (eq type "home") (ew value "@x.com"))))])
"#,
    );
    assert_eq!(sexp(&parse_filter(" \t a   pr \t\r\n ").unwrap()), "(pr a)");
}

#[test]
fn values() {
    check_valid(
        r#"
a eq "a\"b" => (eq a "a\"b")
a eq "\u00e9\\\/\n" => (eq a "é\\/\n")
a eq "Rock and (Roll) [x]" => (eq a "Rock and (Roll) [x]")
a eq "" and b pr => (and (eq a "") (pr b))
a eq "日本" => (eq a "日本")
a eq 42 => (eq a 42)
a gt -7 => (gt a -7)
a lt 1.5 => (lt a 1.5)
a le 1.5e3 => (le a 1500.0)
a ge -2E-2 => (ge a -0.02)
a eq 1e+2 => (eq a 100.0)
active eq true => (eq active true)
active eq True => (eq active true)
active eq FALSE => (eq active false)
manager eq null => (eq manager null)
"#,
    );
}

#[test]
fn paths_split_urn_name_and_sub_attribute() {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let filter = parse_filter(&format!("{enterprise}:manager.value eq \"x\"")).unwrap();
    let Filter::Compare { path, .. } = filter else {
        panic!("{filter:?}")
    };
    assert_eq!(path.urn.as_deref(), Some(enterprise));
    assert_eq!(
        (path.name.as_str(), path.sub_attr.as_deref()),
        ("manager", Some("value"))
    );
    assert!(!path.is("manager"));

    let filter = parse_filter(r#"emails[TYPE eq "work"]"#).unwrap();
    let Filter::ValuePath { attr, filter } = filter else {
        panic!("{filter:?}")
    };
    assert!(attr.is("EMAILS"));
    let Filter::Compare { path, .. } = *filter else {
        panic!("{filter:?}")
    };
    assert_eq!(path, AttrPath::new("TYPE"));
    assert!(path.is("type"));
}

#[test]
fn invalid_filters() {
    let deep_ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse_filter(&deep_ok).is_ok());
    let max_len = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 7));
    assert!(parse_filter(&max_len).is_ok());

    let too_deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
    check_invalid_filter(&too_deep, "deeper than 32");
    let too_deep_not = format!("{}a pr{}", "not (".repeat(33), ")".repeat(33));
    check_invalid_filter(&too_deep_not, "deeper than 32");
    let too_deep_brackets = format!("a[{}b pr{}]", "(".repeat(32), ")".repeat(32));
    check_invalid_filter(&too_deep_brackets, "deeper than 32");
    check_invalid_filter(
        &format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN)),
        "longer than 4096",
    );
    check_invalid_filter("", "empty");
    check_invalid_filter(" \t ", "empty");
    check_invalid_filter("userName eq \"tab\there\"", "invalid string literal");

    let table = r#"
userName eq "bjensen => unterminated string
userName eq "bad \q escape" => invalid string literal
userName eq => expected a value after `eq`
userName eq and b pr => expected a value
userName eq bjensen => double-quoted string
userName => expected an operator
userName xx "a" => expected an operator
userName = "a" => unexpected character `=`
userName eq 'a' => unexpected character `'`
not userName eq "x" => `(` after `not`
not => `(` after `not`
(a pr => closing the one at position 1
a pr) => without a matching `(`
((a pr) => closing
() => expected an attribute path
userName eq "x" garbage => expected `and`, `or` or the end
a pr b pr => expected `and`, `or`
a pr and => expected an attribute path
or a pr => expected an operator
a eq 01 => invalid number
a eq 12abc => invalid number
a eq 1. => invalid number
a eq - => invalid number
a eq 1e999 => invalid number
1abc pr => invalid number
_a pr => not a valid attribute path
$foo pr => not a valid attribute path
a.b.c pr => not a valid sub-attribute name
name. pr => not a valid sub-attribute name
foo:bar pr => schema URN
urn:x pr => schema URN
urn:a::b:name pr => schema URN
emails[type eq "work" => closing the one at position 7
emails[type eq "work"]] => expected `and`, `or` or the end
emails[] => expected an attribute path
a[b[c eq 1]] => cannot be nested
emails[type eq "work" and x[y pr]] => cannot be nested
emails[emails.type eq "work"] => plain sub-attribute name
name.givenName[value eq "x"] => not a sub-attribute
emails[type eq "work"].value => expected an operator
emails[type eq "work"].value.x eq "y" => not a valid sub-attribute name
emails[type eq "work"]. eq "y" => not a valid sub-attribute name
"#;
    for (input, needle) in rows(table) {
        check_invalid_filter(input, needle);
    }
}

#[test]
fn error_detail_names_position_and_expectation() {
    let err = parse_filter(r#"userName eq "é" xx"#).unwrap_err();
    let expected = "Invalid filter at position 17: \
                    expected `and`, `or` or the end of the filter, found `xx`.";
    assert_eq!(err.detail, expected);
}

#[test]
fn patch_paths() {
    let table = r#"
active => active
 name.givenName  => name.givenName
members.$ref => members.$ref
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager => urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber => urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber
urn:ietf:params:scim:schemas:core:2.0:User:name.familyName => urn:ietf:params:scim:schemas:core:2.0:User:name.familyName
emails[type eq "work"].value => emails [(eq type "work")] value
emails[type eq "work"] => emails [(eq type "work")]
members[value eq "2819c223"] => members [(eq value "2819c223")]
addresses[type eq "work" and primary eq True].streetAddress => addresses [(and (eq type "work") (eq primary true))] streetAddress
"#;
    for (input, expected) in rows(table) {
        let rendered = match parse_path(input) {
            Ok(PatchPath::Attr(path)) => path.to_string(),
            Ok(PatchPath::Value {
                attr,
                filter,
                sub_attr,
            }) => {
                let sub = sub_attr.map(|sub| format!(" {sub}")).unwrap_or_default();
                format!("{attr} [{}]{sub}", sexp(&filter))
            }
            Err(e) => panic!("path {input:?} should parse, got {e:?}"),
        };
        assert_eq!(rendered, expected, "path: {input}");
    }
    let path = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName");
    let Ok(PatchPath::Attr(path)) = path else {
        panic!("{path:?}")
    };
    assert_eq!(
        path.urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:core:2.0:User")
    );
    assert_eq!(
        (path.name.as_str(), path.sub_attr.as_deref()),
        ("name", Some("familyName"))
    );

    let too_long = "a".repeat(MAX_FILTER_LEN + 1);
    let invalid = [
        "",
        r#"userName eq "x""#,
        "title pr",
        "name.givenName.x",
        "emails[]",
        r#"emails[type eq "work""#,
        r#"emails[type eq "work"].value.x"#,
        r#"emails[type eq "work"].value extra"#,
        r#"emails[type eq "work"][value eq "x"]"#,
        r#"emails[type[value eq "x"]]"#,
        r#"name.givenName[value eq "x"]"#,
        "(active)",
        "\"active\"",
        "foo:bar",
        &too_long,
    ];
    for input in invalid {
        let err = parse_path(input).expect_err(input);
        assert_eq!(
            (err.status, err.scim_type),
            (400, Some(ScimType::InvalidPath)),
            "{input}"
        );
    }
    assert!(parse_path(r#"userName eq "x""#)
        .unwrap_err()
        .detail
        .contains("not a filter"));
}

#[test]
fn mutated_input_never_panics() {
    // Deterministic random edits of valid filters reach deep parser states cheaply.
    let bases = [
        r#"emails[type eq "work" and not (value co "@x")].value eq "a@b.c""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "é" or a gt -1.5e3"#,
        r#"(a pr and b ne true) or members[$ref eq null]"#,
    ];
    let pieces = [
        "[", "]", "(", ")", ".", ":", "\"", "\\", "\\u00", " ", "pr", "and", "not", "-", "e+", "é",
        "日", "$", "\t",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut parsed = 0;
    for _ in 0..5000 {
        let mut input = bases[next() % bases.len()].to_string();
        for _ in 0..1 + next() % 3 {
            let boundaries: Vec<usize> = input.char_indices().map(|(i, _)| i).collect();
            let at = boundaries[next() % boundaries.len()];
            if next() % 2 == 0 {
                input.insert_str(at, pieces[next() % pieces.len()]);
            } else {
                input.remove(at);
            }
        }
        parsed += usize::from(parse_filter(&input).is_ok());
        let _ = parse_path(&input);
    }
    assert!(parsed > 0, "some edits should keep the filter valid");
}

/// Every example filter of RFC 7644 §3.4.2.2, and more shapes: each parses, prints in
/// canonical form, and reads back as the same tree.
#[test]
fn filters_print_and_parse_back_to_the_same_tree() {
    let filters = [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"a eq "quote \" backslash \\ slash / tab \t unicode \u00e9 é""#,
        r#"a eq 12 or b gt -1.5e3 and not (c eq true) or d eq null"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#,
        r#"emails[type eq "work"].value eq "a@b.c""#,
        r#"A EQ "x" AND NOT(B PR)"#,
    ];
    for text in filters {
        let parsed = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let printed = parsed.to_string();
        let reparsed = parse_filter(&printed).unwrap_or_else(|e| panic!("{printed}: {e:?}"));
        assert_eq!(reparsed, parsed, "{text} printed as {printed}");
        // Printing is canonical: a second round gives the same text.
        assert_eq!(reparsed.to_string(), printed);
    }
}

/// Found by `tests/fuzz`: serde_json's default float parsing read these one ULP off, so the
/// filter compared another number than the one sent and did not print back as sent.
#[test]
fn numbers_are_read_exactly() {
    for (text, expected) in [
        ("-9.318929962907372e+266", -9.318929962907372e266),
        ("-8.238087201579995e155", -8.238087201579995e155),
        ("0.1", 0.1),
    ] {
        let filter = parse_filter(&format!("a eq {text}")).unwrap();
        let Filter::Compare {
            value: CompValue::Num(number),
            ..
        } = &filter
        else {
            panic!("{text}: {filter:?}");
        };
        assert_eq!(number.as_f64(), Some(expected), "{text}");
        assert_eq!(parse_filter(&filter.to_string()).unwrap(), filter, "{text}");
    }
    assert!(parse_filter("a eq 1e999").is_err());
}

/// Found by `tests/api/fuzz.rs`: an escaped NUL in a string reached PostgreSQL, which refuses
/// it in text and jsonb (500). A raw NUL was already refused before lexing.
#[test]
fn an_escaped_nul_in_a_string_is_refused() {
    for input in [
        r#"title eq "\u0000""#,
        r#"userName eq "a\u0000b""#,
        r#"addresses[postalCode ne "\u0000"]"#,
    ] {
        check_invalid_filter(input, "NUL character");
    }
    let err = parse_path(r#"emails[value eq "\u0000"].display"#).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
    assert!(err.detail.contains("NUL character"), "{}", err.detail);
}
