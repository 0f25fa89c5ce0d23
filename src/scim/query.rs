//! List queries on Users: which filters the service answers, and paging.
//!
//! A parsed filter is checked against the attributes that have an index behind them and
//! turned into a `UserFilter` the database layer compiles to SQL. Anything else answers
//! 400 `invalidFilter`, never an empty list.

use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::schema::USER_SCHEMA;
use super::user::normalize_email;
use super::{ScimError, ScimType};

/// Largest page the service returns (`filter.maxResults`).
pub const MAX_RESULTS: i64 = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserFilter {
    /// `"User".id`.
    Id(String),
    /// `"User".email` (from `userName`, `emails.value`) equal to one of these spellings: the
    /// lower-cased address (how SCIM users are stored) and the address as the IdP sent it (how
    /// an app user who signed up with capitals is stored, when the directory spells it the
    /// same way). Both are answered by the app's e-mail index.
    Email(Vec<String>),
    /// The stored type of the user's e-mail (`emails[type eq "work"]`).
    EmailType(String),
    ExternalId(String),
    Active(bool),
    /// Matches every user (`true`) or none.
    Constant(bool),
    And(Box<UserFilter>, Box<UserFilter>),
    Or(Box<UserFilter>, Box<UserFilter>),
    Not(Box<UserFilter>),
}

/// Translates a parsed filter; `eq` on `id`, `userName`, `externalId`, `emails.value`,
/// `emails[type eq …]` and `active`, combined with `and`, `or`, `not`.
pub fn user_filter(filter: &Filter) -> Result<UserFilter, ScimError> {
    match filter {
        Filter::And(a, b) => Ok(UserFilter::And(
            Box::new(user_filter(a)?),
            Box::new(user_filter(b)?),
        )),
        Filter::Or(a, b) => Ok(UserFilter::Or(
            Box::new(user_filter(a)?),
            Box::new(user_filter(b)?),
        )),
        Filter::Not(inner) => Ok(UserFilter::Not(Box::new(user_filter(inner)?))),
        Filter::Compare { path, op, value } => compare(path, *op, value),
        Filter::Present(path) => Err(unsupported(&format!("{path} pr"))),
        Filter::ValuePath { attr, filter } => {
            if !is_core(attr)
                || !attr.name.eq_ignore_ascii_case("emails")
                || attr.sub_attr.is_some()
            {
                return Err(unsupported(&attr.to_string()));
            }
            email_element_filter(filter)
        }
    }
}

fn compare(path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<UserFilter, ScimError> {
    if !is_core(path) {
        return Err(unsupported(&path.to_string()));
    }
    if op != CompareOp::Eq {
        return Err(unsupported(&format!("{path} {}", op.as_str())));
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    match (name.as_str(), sub.as_deref()) {
        ("id", None) => Ok(UserFilter::Id(string(path, value)?.to_owned())),
        ("username", None) | ("emails", None | Some("value")) => email(path, value),
        ("externalid", None) => Ok(UserFilter::ExternalId(string(path, value)?.to_owned())),
        ("active", None) => match value {
            CompValue::Bool(active) => Ok(UserFilter::Active(*active)),
            _ => Err(invalid_value(path)),
        },
        _ => Err(unsupported(&path.to_string())),
    }
}

/// The inside of `emails[...]`: its paths name sub-attributes of an e-mail.
fn email_element_filter(filter: &Filter) -> Result<UserFilter, ScimError> {
    match filter {
        Filter::And(a, b) => Ok(UserFilter::And(
            Box::new(email_element_filter(a)?),
            Box::new(email_element_filter(b)?),
        )),
        Filter::Or(a, b) => Ok(UserFilter::Or(
            Box::new(email_element_filter(a)?),
            Box::new(email_element_filter(b)?),
        )),
        Filter::Not(inner) => Ok(UserFilter::Not(Box::new(email_element_filter(inner)?))),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub_attr.is_none() => {
            match path.name.to_ascii_lowercase().as_str() {
                "value" => email(path, value),
                "type" => Ok(UserFilter::EmailType(
                    string(path, value)?.to_ascii_lowercase(),
                )),
                // The one address is always primary.
                "primary" => match value {
                    CompValue::Bool(primary) => Ok(UserFilter::Constant(*primary)),
                    _ => Err(invalid_value(path)),
                },
                _ => Err(unsupported(&format!("emails.{}", path.name))),
            }
        }
        // Name the shape only: the comparison value may be an e-mail address.
        Filter::Compare { path, op, .. } => {
            Err(unsupported(&format!("emails[{path} {}]", op.as_str())))
        }
        Filter::Present(path) => Err(unsupported(&format!("emails[{path} pr]"))),
        Filter::ValuePath { .. } => Err(unsupported("a nested value filter")),
    }
}

fn email(path: &AttrPath, value: &CompValue) -> Result<UserFilter, ScimError> {
    let text = string(path, value)?;
    // A value that is not an address matches no user (Entra's connection test sends a GUID).
    let lower = normalize_email(text).unwrap_or_else(|_| text.trim().to_lowercase());
    let as_sent = text.trim().to_owned();
    let mut spellings = vec![lower];
    if !spellings.contains(&as_sent) {
        spellings.push(as_sent);
    }
    Ok(UserFilter::Email(spellings))
}

fn string<'a>(path: &AttrPath, value: &'a CompValue) -> Result<&'a str, ScimError> {
    match value {
        CompValue::Str(text) => Ok(text),
        _ => Err(invalid_value(path)),
    }
}

fn is_core(path: &AttrPath) -> bool {
    path.urn
        .as_deref()
        .is_none_or(|urn| urn.eq_ignore_ascii_case(USER_SCHEMA))
}

fn unsupported(what: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidFilter,
        format!(
            "Filtering on {what} is not supported; use eq on id, userName, externalId, emails.value, emails[type eq \"…\"] or active, joined with and/or/not."
        ),
    )
}

fn invalid_value(path: &AttrPath) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidFilter,
        format!("The value compared with {path} has the wrong type."),
    )
}

/// `startIndex` and `count` of a list request (RFC 7644 §3.4.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
}

impl Page {
    /// Missing values take defaults; `startIndex` below 1 counts as 1; `count` is clamped to
    /// 0..=MAX_RESULTS. A value that is not an integer is a 400.
    pub fn from_params(start_index: Option<&str>, count: Option<&str>) -> Result<Self, ScimError> {
        let parse = |name: &str, raw: Option<&str>, default: i64| -> Result<i64, ScimError> {
            match raw.map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(text) => text.parse::<i64>().map_err(|_| {
                    ScimError::bad_request(
                        ScimType::InvalidValue,
                        format!("{name} must be an integer."),
                    )
                }),
            }
        };
        Ok(Self {
            start_index: parse("startIndex", start_index, 1)?.max(1),
            count: parse("count", count, MAX_RESULTS)?.clamp(0, MAX_RESULTS),
        })
    }

    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    fn translate(text: &str) -> Result<UserFilter, ScimError> {
        user_filter(&parse_filter(text).unwrap())
    }

    #[test]
    fn translates_the_filters_idps_send() {
        use UserFilter::*;
        let cases = [
            ("userName eq \"Jane@Example.com\"", Email(vec!["jane@example.com".into(), "Jane@Example.com".into()])),
            ("USERNAME EQ \"jane@example.com\"", Email(vec!["jane@example.com".into()])),
            ("externalId eq \"00u1\"", ExternalId("00u1".into())),
            ("id eq \"abc\"", Id("abc".into())),
            ("emails.value eq \"a@b.c\"", Email(vec!["a@b.c".into()])),
            ("emails eq \"a@b.c\"", Email(vec!["a@b.c".into()])),
            (
                "emails[type eq \"work\"].value eq \"A@b.c\"",
                And(Box::new(EmailType("work".into())), Box::new(Email(vec!["a@b.c".into(), "A@b.c".into()]))),
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"a@b.c\" and active eq true",
                And(Box::new(Email(vec!["a@b.c".into()])), Box::new(Active(true))),
            ),
            ("userName eq \"3f0c8a6e-9b1d-4f55-8d1e-0c9a6f2b7e11\"", Email(vec!["3f0c8a6e-9b1d-4f55-8d1e-0c9a6f2b7e11".into()])),
        ];
        for (text, expected) in cases {
            assert_eq!(translate(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn refuses_what_has_no_index_behind_it() {
        for text in [
            "displayName eq \"Jane\"",
            "userName co \"jane\"",
            "userName sw \"j\"",
            "title pr",
            "name.givenName eq \"Jane\"",
            "phoneNumbers[type eq \"work\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"1\"",
            "userName eq 42",
            "active eq \"yes\"",
        ] {
            let error = translate(text).unwrap_err();
            assert_eq!(
                (error.status, error.scim_type),
                (400, Some(ScimType::InvalidFilter)),
                "{text}"
            );
        }
    }

    #[test]
    fn refusals_name_the_attribute_never_the_value() {
        for text in [
            "emails[value co \"secret@example.com\"]",
            "userName co \"secret@example.com\"",
            "emails[display eq \"secret@example.com\"]",
        ] {
            let detail = translate(text).unwrap_err().detail;
            assert!(!detail.contains("secret"), "{text}: {detail}");
        }
    }

    #[test]
    fn paging_clamps_and_defaults() {
        assert_eq!(
            Page::from_params(None, None).unwrap(),
            Page {
                start_index: 1,
                count: MAX_RESULTS
            }
        );
        assert_eq!(
            Page::from_params(Some("0"), Some("1000")).unwrap(),
            Page {
                start_index: 1,
                count: MAX_RESULTS
            }
        );
        assert_eq!(
            Page::from_params(Some("-5"), Some("-1")).unwrap(),
            Page {
                start_index: 1,
                count: 0
            }
        );
        assert_eq!(Page::from_params(Some("3"), Some("0")).unwrap().offset(), 2);
        assert!(Page::from_params(Some("x"), None).is_err());
        assert!(Page::from_params(None, Some("1.5")).is_err());
    }
}
