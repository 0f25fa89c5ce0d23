//! Licence keys: verifying the vendor-signed JWT and reading its claims. Whether an org may
//! provision on a given request is decided next to authentication (`auth::entitlement`).
//!
//! The algorithm is fixed by configuration and never read from the token; `none` and HMAC
//! algorithms are refused, because an HMAC "signature" made with the public key would
//! otherwise verify.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{LicenseSettings, SettingsError};

/// The entitlement this service needs.
pub const SCIM_ENTITLEMENT: &str = "scim";

/// Asymmetric algorithms a licence may be signed with.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "EdDSA" => Ok(Algorithm::EdDSA),
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "PS384" => Ok(Algorithm::PS384),
        "PS512" => Ok(Algorithm::PS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        other => Err(format!(
            "{other:?} is not accepted; use EdDSA (default), RS256/384/512, PS256/384/512 or \
             ES256/384 (symmetric and `none` algorithms are refused)"
        )),
    }
}

/// The claims of a verified licence key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseClaims {
    /// Licence id.
    #[serde(default)]
    pub sub: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default)]
    pub entitlements: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
}

impl LicenseClaims {
    pub fn has_scim(&self) -> bool {
        self.entitlements.iter().any(|e| e == SCIM_ENTITLEMENT)
    }

    /// Valid from `nbf` (inclusive) until `exp` (exclusive), to the millisecond.
    pub fn is_current(&self, now_ms: i64) -> bool {
        let from_ok = self
            .nbf
            .is_none_or(|nbf| now_ms >= nbf.saturating_mul(1000));
        from_ok && now_ms < self.exp.saturating_mul(1000)
    }

    pub fn grants_scim(&self, now_ms: i64) -> bool {
        self.has_scim() && self.is_current(now_ms)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LicenseError {
    #[error("the licence public key file {0} cannot be read: {1}")]
    PublicKeyUnreadable(String, String),
    #[error("the licence public key is not a valid PEM key for {0:?}")]
    PublicKeyInvalid(Algorithm),
    #[error("the licence key is malformed (not a JWT with the expected claims)")]
    Malformed,
    #[error("the licence key is signed with another algorithm than the configured {0:?}")]
    WrongAlgorithm(Algorithm),
    #[error("the licence key's signature does not verify against the configured public key")]
    BadSignature,
    #[error("the licence key has expired (exp {0})")]
    Expired(String),
    #[error("the licence key is not valid yet (nbf {0})")]
    NotYetValid(String),
    #[error("the licence key does not include the `scim` entitlement")]
    NoScimEntitlement,
}

/// Verifies licence keys against the vendor's public key.
pub struct LicenseVerifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl LicenseVerifier {
    pub fn from_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, LicenseError> {
        let key = match algorithm {
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
            _ => DecodingKey::from_rsa_pem(pem),
        }
        .map_err(|_| LicenseError::PublicKeyInvalid(algorithm))?;
        Ok(Self { algorithm, key })
    }

    pub fn from_file(algorithm: Algorithm, path: &Path) -> Result<Self, LicenseError> {
        let pem = std::fs::read(path).map_err(|error| {
            LicenseError::PublicKeyUnreadable(path.display().to_string(), error.to_string())
        })?;
        Self::from_pem(algorithm, &pem)
    }

    /// Checks signature, algorithm and claims, then the validity window at `now_ms`.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<LicenseClaims, LicenseError> {
        let mut validation = Validation::new(self.algorithm);
        validation.algorithms = vec![self.algorithm];
        validation.set_required_spec_claims(&["exp"]);
        // Time is checked below, to the millisecond and without leeway, so that start-up and
        // the per-request gate agree exactly.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<LicenseClaims>(token, &self.key, &validation).map_err(
            |error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                    LicenseError::WrongAlgorithm(self.algorithm)
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => LicenseError::BadSignature,
                _ => LicenseError::Malformed,
            },
        )?;
        let claims = data.claims;
        if now_ms >= claims.exp.saturating_mul(1000) {
            return Err(LicenseError::Expired(format_unix(claims.exp)));
        }
        if let Some(nbf) = claims.nbf {
            if now_ms < nbf.saturating_mul(1000) {
                return Err(LicenseError::NotYetValid(format_unix(nbf)));
            }
        }
        Ok(claims)
    }
}

/// The configured `license.algorithm`. Checked at start-up whether or not a key is
/// configured, so that a typo does not wait for the day a key is added.
pub fn configured_algorithm(settings: &LicenseSettings) -> Result<Algorithm, SettingsError> {
    parse_algorithm(&settings.algorithm)
        .map_err(|problem| SettingsError::invalid("license.algorithm", problem))
}

/// Loads and verifies the configured licence key, if any, with `algorithm` (see
/// [`configured_algorithm`]). `Ok(None)` means no key is configured (orgs may still be
/// entitled through their `"License"` row).
pub fn load_configured(
    settings: &LicenseSettings,
    algorithm: Algorithm,
    now_ms: i64,
) -> Result<Option<LicenseClaims>, LicenseError> {
    use secrecy::ExposeSecret;
    let Some(key) = &settings.key else {
        return Ok(None);
    };
    let Some(path) = &settings.public_key_file else {
        // Settings validation refuses this combination; keep the error honest anyway.
        return Err(LicenseError::PublicKeyUnreadable(
            "(not set)".into(),
            "no path".into(),
        ));
    };
    let claims =
        LicenseVerifier::from_file(algorithm, path)?.verify(key.expose_secret().trim(), now_ms)?;
    if !claims.has_scim() {
        return Err(LicenseError::NoScimEntitlement);
    }
    Ok(Some(claims))
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn format_unix(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| seconds.to_string())
}

#[cfg(test)]
mod tests;
