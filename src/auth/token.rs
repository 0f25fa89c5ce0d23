//! SCIM token format and hashing, shared by the request authenticator and the token CLI.
//!
//! A token is `sbscim_` + 64 hex characters (32 random bytes). The database keeps only
//! `hex(HMAC-SHA256(key = SOURCEBOT_ENCRYPTION_KEY as ASCII, message = secret after prefix))`,
//! exactly as the app computes it, so tokens minted by either side work on both.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const TOKEN_PREFIX: &str = "sbscim_";

/// Longest secret worth hashing; anything longer cannot be a token of either side.
const MAX_SECRET_LEN: usize = 512;

/// Keyed hasher of token secrets. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct TokenHasher {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHasher(..)")
    }
}

impl TokenHasher {
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length.
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        Self { mac }
    }

    /// Hash of the part after `sbscim_`.
    pub fn hash_secret(&self, secret: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Hash of a full `sbscim_…` token, or `None` when it is not shaped like one.
    pub fn hash_token(&self, token: &str) -> Option<String> {
        let secret = token.strip_prefix(TOKEN_PREFIX)?;
        if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
            return None;
        }
        Some(self.hash_secret(secret))
    }
}

/// A freshly minted token: shown once, then only its hash exists.
pub struct NewToken {
    pub token: String,
    pub hash: String,
}

pub fn mint(hasher: &TokenHasher) -> NewToken {
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let hash = hasher.hash_secret(&secret);
    NewToken {
        token: format!("{TOKEN_PREFIX}{secret}"),
        hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the behaviour specification; the app computes the same values.
    #[test]
    fn hashes_match_the_app_compatibility_vectors() {
        let hasher = TokenHasher::new(b"00000000000000000000000000000000");
        assert_eq!(
            hasher.hash_secret(&"a1".repeat(32)),
            "4ed4ee0d50e65a89f38f50977ba8b707c015af22a2098c3a579c443a2efc7f2f"
        );
        let hasher = TokenHasher::new(b"test-encryption-key-32-bytes-abc");
        assert_eq!(
            hasher
                .hash_token(&format!("sbscim_{}", "0123456789abcdef".repeat(4)))
                .unwrap(),
            "f2dcce963c01d3c96792db1a705dcff2970c3e0b6cae7a20927d210b68cc855e"
        );
    }

    #[test]
    fn minted_tokens_have_the_app_format_and_hash_to_their_stored_hash() {
        let hasher = TokenHasher::new(b"test-encryption-key-32-bytes-abc");
        let minted = mint(&hasher);
        let secret = minted.token.strip_prefix(TOKEN_PREFIX).unwrap();
        assert_eq!(secret.len(), 64);
        assert!(secret
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(hasher.hash_token(&minted.token).unwrap(), minted.hash);
        assert_ne!(mint(&hasher).token, minted.token);
    }

    #[test]
    fn rejects_tokens_without_prefix_or_secret() {
        let hasher = TokenHasher::new(b"k");
        for token in [
            "",
            "sbscim_",
            "abc",
            "SBSCIM_abc",
            "sbapi_abc",
            &format!("sbscim_{}", "a".repeat(513)),
        ] {
            assert_eq!(hasher.hash_token(token), None, "{token}");
        }
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let shown = format!("{:?}", TokenHasher::new(b"very-secret-key"));
        assert!(!shown.contains("very-secret-key"));
    }
}
