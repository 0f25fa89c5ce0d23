//! Cursor paging (RFC 9865): a cursor names the last member of the page it came with, so the
//! next page starts after that member's key instead of counting its way there. It is opaque
//! to clients and tamper-evident: the service signs it (HMAC-SHA256 under a key derived from
//! the encryption key it already holds), and it is valid only for the org and the query
//! (filter and order) it was issued for, and for [`CURSOR_TIMEOUT_SECS`] after it was issued.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::{ScimError, ScimType};

/// How long a cursor stays valid (`pagination.cursorTimeout`).
pub const CURSOR_TIMEOUT_SECS: i64 = 3600;

/// Longest cursor text looked at: far above any this service issues for a real key.
pub const MAX_CURSOR_LEN: usize = 4096;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;

/// What identifies a list query for its cursors: the filter and the order, as the client sent
/// them (RFC 9865 asks for the same parameters on every page). Paging and projection may change
/// between pages.
pub type QueryKey = [u8; 16];

pub fn query_key(filter: Option<&str>, sort_by: Option<&str>, descending: bool) -> QueryKey {
    let mut digest = Sha256::new();
    for part in [filter, sort_by] {
        let part = part.map(str::trim).unwrap_or_default();
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.update([u8::from(descending)]);
    let mut key = [0; 16];
    key.copy_from_slice(&digest.finalize()[..16]);
    key
}

/// Where the next page starts, and what the first page said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub org_id: i32,
    pub query: QueryKey,
    /// Unix seconds.
    pub issued_at: i64,
    /// `totalResults` when the walk began: later pages do not count again.
    pub total: i64,
    /// The last member of the page the cursor came with.
    pub user_id: String,
    /// That member's sort value, when the list is sorted.
    pub sort_value: Option<String>,
}

/// Signs and checks cursors. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct CursorKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// A key of its own, derived from `secret` (the encryption key), so that no cursor MAC is
    /// ever a token hash.
    pub fn derive(secret: &[u8]) -> Self {
        let mut derive = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
        derive.update(b"scim-sidecar list cursor v1");
        let key = derive.finalize().into_bytes();
        Self {
            mac: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key"),
        }
    }

    /// The cursor as unreserved URL characters (RFC 3986 §2.3): its fields and their MAC, in
    /// hex.
    pub fn seal(&self, cursor: &Cursor) -> String {
        let mut bytes = Vec::with_capacity(64 + cursor.user_id.len());
        bytes.push(VERSION);
        bytes.extend(cursor.org_id.to_be_bytes());
        bytes.extend(cursor.query);
        bytes.extend(cursor.issued_at.to_be_bytes());
        bytes.extend(cursor.total.to_be_bytes());
        put_text(&mut bytes, &cursor.user_id);
        match &cursor.sort_value {
            None => bytes.push(0),
            Some(value) => {
                bytes.push(1);
                put_text(&mut bytes, value);
            }
        }
        let tag = self.tag(&bytes);
        bytes.extend(&tag[..MAC_LEN]);
        hex::encode(bytes)
    }

    /// The cursor `text` if this service issued it for `org_id` and `query`, and it has not
    /// expired at `now`. Every other cursor gets the same answer, whatever is wrong with it,
    /// so that a cursor tells nothing about other orgs or queries.
    pub fn open(
        &self,
        text: &str,
        org_id: i32,
        query: &QueryKey,
        now: i64,
    ) -> Result<Cursor, ScimError> {
        let cursor = self.verify(text).ok_or_else(invalid_cursor)?;
        if cursor.org_id != org_id || &cursor.query != query {
            return Err(invalid_cursor());
        }
        if now.saturating_sub(cursor.issued_at) > CURSOR_TIMEOUT_SECS {
            return Err(ScimError::bad_request(
                ScimType::ExpiredCursor,
                format!(
                    "The cursor has expired: request the next page within {CURSOR_TIMEOUT_SECS} seconds, or start again without a cursor."
                ),
            ));
        }
        Ok(cursor)
    }

    fn verify(&self, text: &str) -> Option<Cursor> {
        if text.len() > MAX_CURSOR_LEN {
            return None;
        }
        let bytes = hex::decode(text).ok()?;
        let (body, tag) = bytes.split_at_checked(bytes.len().checked_sub(MAC_LEN)?)?;
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.verify_truncated_left(tag).ok()?;
        let mut fields = Reader(body);
        if fields.take(1)?[0] != VERSION {
            return None;
        }
        let cursor = Cursor {
            org_id: i32::from_be_bytes(fields.take(4)?.try_into().ok()?),
            query: fields.take(16)?.try_into().ok()?,
            issued_at: i64::from_be_bytes(fields.take(8)?.try_into().ok()?),
            total: i64::from_be_bytes(fields.take(8)?.try_into().ok()?),
            user_id: fields.text()?,
            sort_value: match fields.take(1)?[0] {
                0 => None,
                1 => Some(fields.text()?),
                _ => return None,
            },
        };
        fields.0.is_empty().then_some(cursor)
    }

    fn tag(&self, bytes: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(bytes);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The one answer to a cursor the service cannot use.
pub fn invalid_cursor() -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidCursor,
        "The cursor is not one this service issued for this query: use the nextCursor of the previous page, or an empty cursor for the first page.",
    )
}

fn put_text(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend((text.len() as u32).to_be_bytes());
    bytes.extend(text.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn text(&mut self) -> Option<String> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            org_id: 7,
            query: query_key(Some("active eq true"), Some("userName"), false),
            issued_at: 1_000_000,
            total: 42,
            user_id: "user-1".to_owned(),
            sort_value: Some("jane@example.com".to_owned()),
        }
    }

    #[test]
    fn a_sealed_cursor_opens_for_its_org_and_query_only() {
        let key = CursorKey::derive(b"key");
        let original = cursor();
        let text = key.seal(&original);
        assert!(text.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            key.open(&text, 7, &original.query, 1_000_010).unwrap(),
            original
        );
        let invalid = |result: Result<Cursor, ScimError>| {
            let error = result.unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidCursor));
            assert_eq!(error.detail, invalid_cursor().detail);
        };
        invalid(key.open(&text, 8, &original.query, 1_000_010));
        invalid(key.open(
            &text,
            7,
            &query_key(Some("active eq true"), Some("userName"), true),
            1_000_010,
        ));
        invalid(CursorKey::derive(b"other").open(&text, 7, &original.query, 1_000_010));
        let expired = key
            .open(
                &text,
                7,
                &original.query,
                1_000_000 + CURSOR_TIMEOUT_SECS + 1,
            )
            .unwrap_err();
        assert_eq!(expired.scim_type, Some(ScimType::ExpiredCursor));
    }

    #[test]
    fn any_change_to_a_cursor_invalidates_it() {
        let key = CursorKey::derive(b"key");
        let original = cursor();
        let bytes = hex::decode(key.seal(&original)).unwrap();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            let text = hex::encode(&changed);
            assert!(
                key.open(&text, 7, &original.query, 1_000_000).is_err(),
                "byte {i}"
            );
        }
        for text in [
            "",
            "x",
            "\0",
            "%00",
            "====",
            &"A".repeat(MAX_CURSOR_LEN + 4),
        ] {
            assert!(
                key.open(text, 7, &original.query, 1_000_000).is_err(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_query_key_tells_filters_and_orders_apart() {
        let keys = [
            query_key(None, None, false),
            query_key(None, None, true),
            query_key(Some("a"), None, false),
            query_key(None, Some("a"), false),
            query_key(Some("ab"), Some(""), false),
            query_key(Some("a"), Some("b"), false),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            query_key(Some(" a "), None, false),
            query_key(Some("a"), None, false)
        );
    }
}
