//! Reading Users: a SCIM filter translated into the member filter the database answers, and
//! the answers turned into SCIM records.
//!
//! Only filters with an index behind them are translated; anything else answers 400
//! `invalidFilter`, never an empty list.

use diesel_async::AsyncPgConnection;

use super::filter::{invalid_value, member_filter, sort_key, unsupported};
use super::record;
use crate::db::repo::members::{self, MemberFilter, PageRequest, PageStart, Sort};
use crate::error::ApiError;
use crate::scim::cursor::{Cursor, CursorKey};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::query::ListRequest;
use crate::scim::user::UserRecord;
use crate::scim::ScimError;

/// A page of Users and what the ListResponse says about it.
#[derive(Debug)]
pub struct UserPage {
    pub total: i64,
    pub users: Vec<UserRecord>,
    /// Cursor paging: where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of the org's visible Users as the request asks (filter, order, page by index or by
/// cursor), and the total. Projection is the caller's, at rendering.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    request: &ListRequest,
    cursors: &CursorKey,
) -> Result<UserPage, ApiError> {
    let filter = request.filter.as_ref().map(member_filter).transpose()?;
    let sort = request
        .sort_by
        .as_ref()
        .map(|path| {
            sort_key(path).map(|key| Sort {
                key,
                descending: request.descending,
            })
        })
        .transpose()?;
    let count = request.page.count;
    let Some(cursor) = request.cursor.as_deref() else {
        let page = members::list(
            conn,
            org_id,
            &PageRequest {
                filter: filter.as_ref(),
                sort: sort.as_ref(),
                start: PageStart::Offset(request.page.offset()),
                limit: count,
                total: true,
            },
        )
        .await?;
        return Ok(UserPage {
            total: page.total.unwrap_or_default(),
            users: page
                .rows
                .into_iter()
                .map(|(member, _)| into_record(member))
                .collect(),
            next_cursor: None,
        });
    };
    let now = chrono::Utc::now().timestamp();
    let (start, known_total) = if cursor.is_empty() {
        (PageStart::Offset(0), None)
    } else {
        let cursor = cursors.open(cursor, org_id, &request.query_key, now)?;
        let start = PageStart::After {
            user_id: cursor.user_id,
            sort_value: cursor.sort_value,
        };
        (start, Some(cursor.total))
    };
    // One member more than the page says whether another page follows, so the last page
    // never carries a cursor to an empty one.
    let mut page = members::list(
        conn,
        org_id,
        &PageRequest {
            filter: filter.as_ref(),
            sort: sort.as_ref(),
            start,
            limit: count + 1,
            total: known_total.is_none(),
        },
    )
    .await?;
    let total = known_total.or(page.total).unwrap_or_default();
    let more = page.rows.len() as i64 > count;
    page.rows.truncate(count as usize);
    let next_cursor = match page.rows.last() {
        Some((last, sort_value)) if more => Some(cursors.seal(&Cursor {
            org_id,
            query: request.query_key,
            issued_at: now,
            total,
            user_id: last.user_id.clone(),
            sort_value: sort_value.clone(),
        })),
        _ => None,
    };
    Ok(UserPage {
        total,
        users: page
            .rows
            .into_iter()
            .map(|(member, _)| into_record(member))
            .collect(),
        next_cursor,
    })
}

/// [`record`], moving the row's values instead of copying them: a page's rows are not used
/// again.
fn into_record(member: members::Member) -> UserRecord {
    UserRecord {
        id: member.user_id,
        email: member.email,
        name: member.name,
        user_updated_at: member.user_updated_at,
        joined_at: member.joined_at,
        active: member.is_active,
        external_id: member.external_id,
        user_name: member.user_name,
        attributes: match member.attributes {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        },
        profile_updated_at: member.profile_updated_at,
    }
}

/// The org's visible User `user_id`.
pub async fn get(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> Result<UserRecord, ApiError> {
    members::find(conn, org_id, user_id)
        .await?
        .filter(|member| !member.hidden())
        .map(|member| record(&member))
        .ok_or_else(super::not_found)
}

/// Conditions on one element of `emails`; `None` fields are unconstrained.
#[derive(Debug, Clone, Default, PartialEq)]
struct Element {
    kind: Option<String>,
    value: Option<String>,
    primary: Option<bool>,
}

/// The inside of `emails[...]`, whose paths name sub-attributes of one e-mail: "some element
/// satisfies the filter". `or` distributes over "some element", so the filter is brought into
/// a disjunction of per-element conjunctions.
pub(super) fn email_elements(filter: &Filter) -> Result<MemberFilter, ScimError> {
    let alternatives = element_alternatives(filter)?;
    let mut filters = alternatives
        .into_iter()
        .flatten()
        .map(|element| match element {
            Element {
                kind: None,
                value: Some(value),
                primary: None,
            } => MemberFilter::Email(value),
            Element {
                kind,
                value,
                primary,
            } => MemberFilter::EmailElement {
                kind,
                value,
                primary,
            },
        });
    let first = filters.next().unwrap_or(MemberFilter::Constant(false));
    Ok(filters.fold(first, |all, next| {
        MemberFilter::Or(Box::new(all), Box::new(next))
    }))
}

/// Each alternative is one element's conjunction; `None` is a contradiction (`type eq "work"
/// and type eq "home"`), which no element satisfies.
fn element_alternatives(filter: &Filter) -> Result<Vec<Option<Element>>, ScimError> {
    match filter {
        Filter::Or(a, b) => {
            let mut all = element_alternatives(a)?;
            all.extend(element_alternatives(b)?);
            Ok(all)
        }
        Filter::And(a, b) => {
            let left = element_alternatives(a)?;
            let right = element_alternatives(b)?;
            let mut all = Vec::with_capacity(left.len() * right.len());
            for l in &left {
                for r in &right {
                    all.push(match (l, r) {
                        (Some(l), Some(r)) => merge(l, r),
                        _ => None,
                    });
                }
            }
            Ok(all)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub_attr.is_none() => {
            let mut element = Element::default();
            match path.name.to_ascii_lowercase().as_str() {
                "value" => element.value = Some(string(path, value)?.to_owned()),
                "type" => element.kind = Some(string(path, value)?.to_owned()),
                "primary" => match value {
                    CompValue::Bool(primary) => element.primary = Some(*primary),
                    _ => return Err(invalid_value(path)),
                },
                _ => return Err(unsupported(&format!("emails.{}", path.name))),
            }
            Ok(vec![Some(element)])
        }
        // Name the shape only: the comparison value may be an e-mail address.
        Filter::Compare { path, op, .. } => {
            Err(unsupported(&format!("emails[{path} {}]", op.as_str())))
        }
        Filter::Not(_) => Err(unsupported("not inside emails[...]")),
        Filter::Present(path) => Err(unsupported(&format!("emails[{path} pr]"))),
        Filter::ValuePath { .. } => Err(unsupported("a nested value filter")),
    }
}

/// Both conjunctions on one element, or `None` when they contradict each other. Types compare
/// without regard to case; two values are kept apart (the database decides whether two
/// addresses are one) unless they are spelled the same.
fn merge(a: &Element, b: &Element) -> Option<Element> {
    fn one<T: Clone>(
        a: &Option<T>,
        b: &Option<T>,
        same: impl Fn(&T, &T) -> bool,
    ) -> Option<Option<T>> {
        match (a, b) {
            (Some(x), Some(y)) if !same(x, y) => None,
            (Some(x), _) | (None, Some(x)) => Some(Some(x.clone())),
            (None, None) => Some(None),
        }
    }
    Some(Element {
        kind: one(&a.kind, &b.kind, |x: &String, y: &String| {
            x.eq_ignore_ascii_case(y)
        })?,
        value: one(&a.value, &b.value, |x: &String, y: &String| x == y)?,
        primary: one(&a.primary, &b.primary, |x: &bool, y: &bool| x == y)?,
    })
}

fn string<'a>(path: &AttrPath, value: &'a CompValue) -> Result<&'a str, ScimError> {
    match value {
        CompValue::Str(text) => Ok(text),
        _ => Err(invalid_value(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::filter::member_filter;
    use crate::scim::filter::parse_filter;
    use crate::scim::ScimType;

    fn translate(text: &str) -> Result<MemberFilter, ScimError> {
        member_filter(&parse_filter(text).unwrap())
    }

    fn element(kind: Option<&str>, value: Option<&str>, primary: Option<bool>) -> MemberFilter {
        MemberFilter::EmailElement {
            kind: kind.map(str::to_owned),
            value: value.map(str::to_owned),
            primary,
        }
    }

    #[test]
    fn translates_the_filters_idps_send() {
        use MemberFilter::*;
        let cases = [
            ("userName eq \"Jane@Example.com\"", UserName("Jane@Example.com".into())),
            ("USERNAME EQ \"bjensen\"", UserName("bjensen".into())),
            ("externalId eq \"00u1\"", ExternalId("00u1".into())),
            ("id eq \"abc\"", Id("abc".into())),
            ("emails.value eq \"a@b.c\"", Email("a@b.c".into())),
            ("emails eq \"a@b.c\"", Email("a@b.c".into())),
            ("emails[value eq \"a@b.c\"]", Email("a@b.c".into())),
            (
                "emails[type eq \"work\"].value eq \"A@b.c\"",
                element(Some("work"), Some("A@b.c"), None),
            ),
            (
                "emails[type eq \"work\" and primary eq true]",
                element(Some("work"), None, Some(true)),
            ),
            (
                "emails[type eq \"work\" or type eq \"home\"]",
                Or(Box::new(element(Some("work"), None, None)), Box::new(element(Some("home"), None, None))),
            ),
            ("emails[type eq \"work\" and type eq \"home\"]", Constant(false)),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"a@b.c\" and active eq true",
                And(Box::new(UserName("a@b.c".into())), Box::new(Active(true))),
            ),
            ("userName eq \"3f0c8a6e-9b1d-4f55-8d1e-0c9a6f2b7e11\"", UserName("3f0c8a6e-9b1d-4f55-8d1e-0c9a6f2b7e11".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(translate(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn translates_every_advertised_attribute() {
        for text in [
            "displayName eq \"Jane\"",
            "userName co \"jane\"",
            "userName sw \"j\"",
            "title pr",
            "name.givenName eq \"Jane\"",
            "name pr",
            "phoneNumbers[type eq \"work\"]",
            "emails[not (type eq \"work\")]",
            "emails.display co \"x\"",
            "emails.value ne \"a@b.c\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"1\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m\"",
            "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
            "meta.resourceType eq \"User\"",
            "title eq null",
            "userName eq 42",
        ] {
            assert!(translate(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn refuses_what_the_service_does_not_have_or_the_wrong_type() {
        for text in [
            "nickname2 eq \"x\"",
            "name.nosuch eq \"x\"",
            "urn:example:custom:User:badge eq \"1\"",
            "groups eq \"x\"",
            "emails[nosuch eq \"x\"]",
            "title[value eq \"x\"]",
            "active eq \"yes\"",
            "active gt true",
            "meta.created gt \"yesterday\"",
            "meta.version eq \"x\"",
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
            "nosuch co \"secret@example.com\"",
            "active eq \"secret@example.com\"",
            "meta.created gt \"secret@example.com\"",
        ] {
            let detail = translate(text).unwrap_err().detail;
            assert!(!detail.contains("secret"), "{text}: {detail}");
        }
    }
}
