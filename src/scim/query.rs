//! List queries (RFC 7644 §3.4.2): filter, sorting, paging (by index, or by cursor as RFC 9865
//! adds) and projection, from query parameters (`GET /Users`) or a `SearchRequest` body
//! (`POST /Users/.search`).

use serde_json::Value;

use super::cursor::{invalid_cursor, query_key, QueryKey, MAX_CURSOR_LEN};
use super::filter::{parse_attribute, parse_filter, AttrPath, Filter};
use super::projection::Projection;
use super::{ScimError, ScimType};

/// The schema of a `POST /.search` body.
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Everything a list request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub page: Page,
    /// `Some` for cursor paging (RFC 9865): `Some("")` asks for the first page.
    pub cursor: Option<String>,
    /// Identifies the filter and order for the cursors of this query.
    pub query_key: QueryKey,
    pub projection: Projection,
}

impl ListRequest {
    /// From query parameters; `param` looks one up (names in any case).
    pub fn from_params<'a>(param: impl Fn(&str) -> Option<&'a str>) -> Result<Self, ScimError> {
        Self::build(
            param("filter"),
            param("sortBy"),
            param("sortOrder"),
            (param("startIndex"), param("count"), param("cursor")),
            Projection::from_params(param("attributes"), param("excludedAttributes"))?,
        )
    }

    /// From a `SearchRequest` body (RFC 7644 §3.4.3): the same members, with JSON types.
    pub fn from_search(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(body) = body else {
            return Err(ScimError::bad_request(
                ScimType::InvalidSyntax,
                "The request body must be a JSON object.",
            ));
        };
        let member = |name: &str| {
            body.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
                .filter(|value| !value.is_null())
        };
        let text = |name: &str| -> Result<Option<&str>, ScimError> {
            match member(name) {
                None => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(_) => Err(wrong_type(name, "a string")),
            }
        };
        let number = |name: &str| -> Result<Option<String>, ScimError> {
            match member(name) {
                None => Ok(None),
                Some(Value::Number(number)) => Ok(Some(number.to_string())),
                Some(_) => Err(wrong_type(name, "an integer")),
            }
        };
        let list = |name: &str| -> Result<Vec<String>, ScimError> {
            match member(name) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| wrong_type(name, "an array of strings"))
                    })
                    .collect(),
                Some(_) => Err(wrong_type(name, "an array of strings")),
            }
        };
        let start = number("startIndex")?;
        let count = number("count")?;
        Self::build(
            text("filter")?,
            text("sortBy")?,
            text("sortOrder")?,
            (start.as_deref(), count.as_deref(), text("cursor")?),
            Projection::from_lists(&list("attributes")?, &list("excludedAttributes")?)?,
        )
    }

    fn build(
        filter_text: Option<&str>,
        sort_by_text: Option<&str>,
        sort_order: Option<&str>,
        (start_index, count, cursor): (Option<&str>, Option<&str>, Option<&str>),
        projection: Projection,
    ) -> Result<Self, ScimError> {
        let page = Page::from_params(start_index, count)?;
        let cursor = cursor
            .map(|text| cursor_param(text, start_index, page))
            .transpose()?;
        let filter = filter_text
            .filter(|text| !text.trim().is_empty())
            .map(parse_filter)
            .transpose()?;
        let sort_by = sort_by_text
            .filter(|text| !text.trim().is_empty())
            .map(|text| parse_attribute(text, "sortBy"))
            .transpose()?;
        let descending = match sort_order.map(str::trim).filter(|order| !order.is_empty()) {
            None => false,
            Some(order) if order.eq_ignore_ascii_case("ascending") => false,
            Some(order) if order.eq_ignore_ascii_case("descending") => true,
            Some(_) => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidValue,
                    "sortOrder must be \"ascending\" or \"descending\".",
                ))
            }
        };
        Ok(Self {
            filter,
            sort_by,
            descending,
            page,
            cursor,
            query_key: query_key(filter_text, sort_by_text, descending),
            projection,
        })
    }
}

/// A `cursor` parameter: shaped as the cursors the service issues (unreserved URL characters,
/// RFC 9865 §2), and not combined with index paging.
fn cursor_param(text: &str, start_index: Option<&str>, page: Page) -> Result<String, ScimError> {
    if start_index.is_some_and(|start| !start.trim().is_empty()) {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            "startIndex and cursor choose different paging: send one of them.",
        ));
    }
    if page.count < 1 {
        return Err(ScimError::bad_request(
            ScimType::InvalidCount,
            format!("With a cursor, count must be between 1 and {MAX_RESULTS}."),
        ));
    }
    let text = text.trim();
    if text.len() > MAX_CURSOR_LEN
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(invalid_cursor());
    }
    Ok(text.to_owned())
}

fn wrong_type(name: &str, what: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidValue,
        format!("The SearchRequest member `{name}` must be {what}."),
    )
}

/// Largest page the service returns (`filter.maxResults`, `pagination.maxPageSize`), and the
/// page size when `count` is not given.
pub const MAX_RESULTS: i64 = 200;

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
