//! Bearer token -> org, with a short-lived cache.
//!
//! Secrets are never compared: the HMAC of the presented secret is the lookup key, so the time
//! a lookup takes depends only on that HMAC, which tells an attacker nothing about any stored
//! secret. Positive lookups are cached for `auth.token_cache_ttl_secs`: a revoked token keeps
//! working at most that long. Unknown tokens are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::reads::read_retrying;
use super::token::TokenHasher;
use crate::db::repo::tokens;
use crate::db::DbPool;
use crate::error::ApiError;
use crate::metrics::{self, AuthFailure};

/// More cached tokens than this means something is off; the cache then starts over.
const MAX_CACHED_TOKENS: usize = 10_000;

/// Who a verified token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub org_id: i32,
    pub token_name: Arc<str>,
}

pub struct Authenticator {
    hasher: TokenHasher,
    ttl: Duration,
    /// `None`: `lastUsedAt` is never written (read-only mode).
    last_used_interval: Option<Duration>,
    cache: Mutex<HashMap<String, CachedToken>>,
}

struct CachedToken {
    identity: Option<TokenIdentity>,
    verified_at: Instant,
    last_used_written: Option<Instant>,
}

impl Authenticator {
    pub fn new(hasher: TokenHasher, ttl: Duration, last_used_interval: Option<Duration>) -> Self {
        Self {
            hasher,
            ttl,
            last_used_interval,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves an `Authorization` header to the token's org. Every failure is the same
    /// `Unauthorized`, whatever went wrong.
    pub async fn authenticate(
        &self,
        pool: &DbPool,
        authorization: Option<&str>,
    ) -> Result<TokenIdentity, ApiError> {
        let Some(token) = authorization.and_then(bearer_token) else {
            return Err(refused(AuthFailure::MissingToken));
        };
        let Some(hash) = self.hasher.hash_token(token) else {
            return Err(refused(AuthFailure::MalformedToken));
        };
        let identity = match self.cached(&hash) {
            Some(identity) => identity,
            None => {
                let owner =
                    read_retrying(pool, async |conn| tokens::find_owner(conn, &hash).await).await?;
                let identity = owner.map(|owner| TokenIdentity {
                    org_id: owner.org_id,
                    token_name: owner.name.into(),
                });
                self.remember(&hash, identity.clone());
                identity.ok_or_else(|| refused(AuthFailure::UnknownToken))?
            }
        };
        if self.due_for_last_used(&hash) {
            record_last_used(pool.clone(), hash);
        }
        Ok(identity)
    }

    fn cached(&self, hash: &str) -> Option<TokenIdentity> {
        let cache = self.lock();
        let entry = cache.get(hash)?;
        (entry.verified_at.elapsed() < self.ttl)
            .then(|| entry.identity.clone())
            .flatten()
    }

    fn remember(&self, hash: &str, identity: Option<TokenIdentity>) {
        let mut cache = self.lock();
        if identity.is_none() {
            // Keep the last-used bookkeeping out of the way of a token that is gone.
            cache.remove(hash);
            return;
        }
        if cache.len() >= MAX_CACHED_TOKENS {
            cache.clear();
        }
        let last_used_written = cache.get(hash).and_then(|e| e.last_used_written);
        cache.insert(
            hash.to_owned(),
            CachedToken {
                identity,
                verified_at: Instant::now(),
                last_used_written,
            },
        );
    }

    /// True at most once per `last_used_interval` per token.
    fn due_for_last_used(&self, hash: &str) -> bool {
        let Some(interval) = self.last_used_interval else {
            return false;
        };
        let mut cache = self.lock();
        let Some(entry) = cache.get_mut(hash) else {
            return false;
        };
        let due = entry
            .last_used_written
            .is_none_or(|at| at.elapsed() >= interval);
        if due {
            entry.last_used_written = Some(Instant::now());
        }
        due
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, CachedToken>> {
        // A poisoned lock only means a panic elsewhere mid-update; the map is still a cache.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Every failure answers the same; only the metrics tell them apart.
fn refused(reason: AuthFailure) -> ApiError {
    metrics::auth_refused(reason);
    ApiError::Unauthorized
}

/// Writes `lastUsedAt` off the request path; a failure is logged and otherwise ignored.
fn record_last_used(pool: DbPool, hash: String) {
    tokio::spawn(async move {
        let now = chrono::Utc::now().naive_utc();
        let result = async {
            let mut conn = pool.get().await.map_err(anyhow::Error::from)?;
            tokens::touch_last_used(&mut conn, &hash, now)
                .await
                .map_err(anyhow::Error::from)
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(error = %error, "could not record the SCIM token's last use");
        }
    });
}

/// The credential of an `Authorization: Bearer <credential>` header; the scheme word is
/// case-insensitive (RFC 9110 §11.1).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, credential) = header.trim().split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_other_schemes_are_refused() {
        assert_eq!(bearer_token("Bearer sbscim_ab"), Some("sbscim_ab"));
        assert_eq!(bearer_token("bearer sbscim_ab"), Some("sbscim_ab"));
        assert_eq!(bearer_token("BEARER   sbscim_ab "), Some("sbscim_ab"));
        for header in [
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Token sbscim_ab",
            "sbscim_ab",
        ] {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
    }
}
