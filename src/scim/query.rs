//! Paging of list queries (RFC 7644 §3.4.2.4).

use super::{ScimError, ScimType};

/// Largest page the service returns (`filter.maxResults`).
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
