//! Typed settings, layered: built-in `config/base.toml` -> `config/base.toml` on disk ->
//! `config/{SCIM_ENV}.toml` -> the well-known variables operators already set on the app's
//! container -> `SCIM__SECTION__KEY` variables.
//!
//! A leaf: plain values only. What a value means (a licence algorithm, a database URL's
//! connection options) is decided by the module that uses it, which words its refusal with
//! [`SettingsError::invalid`] so that the operator still sees the setting's name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

const BUILT_IN_BASE: &str = include_str!("../config/base.toml");

/// Variables the app's container already carries, and the setting each one feeds.
/// `SCIM__SECTION__KEY` variables override these.
pub const WELL_KNOWN_VARIABLES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("SOURCEBOT_ENCRYPTION_KEY", "auth.encryption_key"),
    ("SCIM_LISTEN", "server.listen"),
    ("SCIM_PUBLIC_URL", "server.public_url"),
    ("SCIM_ENABLED", "server.enabled"),
    ("SCIM_LICENSE_KEY", "license.key"),
    ("SCIM_LICENSE_PUBLIC_KEY_FILE", "license.public_key_file"),
    ("SCIM_LOG_FORMAT", "log.format"),
    ("SCIM_DEPROVISION_MODE", "provisioning.deprovision_mode"),
    ("SCIM_OWNER_GROUP", "provisioning.owner_group"),
    ("SCIM_READ_ONLY", "server.read_only"),
    ("SCIM_METRICS_LISTEN", "metrics.listen"),
];

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub license: LicenseSettings,
    pub provisioning: ProvisioningSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// The SCIM base URL as the IdP is configured with it (e.g.
    /// `https://sourcebot.example.com/scim/v2`); `meta.location` is built from it. When unset,
    /// locations are derived from the request's scheme and `Host`.
    pub public_url: Option<Url>,
    /// Kill switch: `false` answers every SCIM request with 403 and touches no data.
    pub enabled: bool,
    /// Maintenance: reads are served, writes answered 503 with `Retry-After`.
    pub read_only: bool,
    pub shutdown_timeout_secs: u64,
    /// Larger request bodies answer 413 without being read.
    pub max_body_bytes: usize,
    /// A request body must have arrived this long after the request did; then 408.
    pub body_timeout_ms: u64,
    /// A SCIM request must be answered within this; then 503 and its transaction rolled back.
    /// Below the 60 s IdPs wait.
    pub request_deadline_ms: u64,
    /// Requests a second per token; `0` disables the rate limit.
    pub rate_limit_per_second: u32,
    /// Requests a token may send at once before the rate applies.
    pub rate_limit_burst: u32,
    /// HTTP worker threads; defaults to the number of CPU cores.
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: Option<SecretString>,
    pub pool_max_size: usize,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub application_name: String,
    pub migrate_on_start: bool,
    /// CA certificate(s), PEM, that the database's TLS certificate must chain to (used by
    /// `sslmode=require`, `verify-ca` and `verify-full`; the URL's `sslrootcert` wins).
    pub tls_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// The app's `SOURCEBOT_ENCRYPTION_KEY`: HMAC key of SCIM token hashes.
    pub encryption_key: Option<SecretString>,
    /// How long a token -> org lookup is trusted; bounds how late a revocation takes effect.
    pub token_cache_ttl_secs: u64,
    /// `"ScimToken"."lastUsedAt"` is written at most this often per token.
    pub last_used_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LicenseSettings {
    /// Offline licence key: a JWT signed by the vendor.
    pub key: Option<SecretString>,
    /// Vendor public key (PEM) that licence keys are verified with.
    pub public_key_file: Option<PathBuf>,
    /// Signature algorithm of licence keys; never taken from the token itself.
    pub algorithm: String,
    /// How long an org's `"License"` row is trusted before it is read again.
    pub org_refresh_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProvisioningSettings {
    /// How deprovisioning keeps a person out of the org.
    pub deprovision_mode: DeprovisionModeSetting,
    /// Turn on the org's member approval (`"Org"."memberApprovalRequired"`) when its first SCIM
    /// request arrives, so that a removed person cannot rejoin by signing in.
    pub require_member_approval: bool,
    /// The `displayName` of the group whose members hold the OWNER role (matched without
    /// regard to case); unset or empty: groups carry no role.
    pub owner_group: Option<String>,
    /// `true`: PATCH /Groups answers 200 with the group; `false`: 204 without a body.
    pub group_patch_returns_body: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeprovisionModeSetting {
    /// From the app's migration history: `deactivate` when the app ships its own SCIM release
    /// (and so honours `"UserToOrg"."isActive"`), `remove` otherwise.
    Auto,
    /// `"UserToOrg"."isActive" = false`.
    Deactivate,
    /// The `"UserToOrg"` row is deleted; the service keeps what it held.
    Remove,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` overrides it.
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    pub listen: MetricsListen,
}

/// Where `/metrics` is served: an address of its own, apart from the SCIM listener (so that
/// it can stay off the network the IdP reaches), or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MetricsListen {
    Off,
    On(SocketAddr),
}

impl TryFrom<String> for MetricsListen {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        value.parse().map(Self::On).map_err(|_| {
            format!("{value:?} is neither an address:port such as 0.0.0.0:9464 nor `off`")
        })
    }
}

/// A configuration problem, worded for the operator: it names the setting and the
/// variables that feed it, and never repeats a secret's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(String);

impl SettingsError {
    /// Setting `key` (for example `database.url`) is required and absent.
    pub fn missing(key: &str, why: &str) -> Self {
        Self(format!("{} is not set ({why})", describe_key(key)))
    }

    /// Setting `key` holds a value its user refuses; `problem` must not repeat a secret.
    pub fn invalid(key: &str, problem: impl std::fmt::Display) -> Self {
        Self(format!("{}: {problem}", describe_key(key)))
    }
}

/// `database.url` -> "database.url (DATABASE_URL or SCIM__DATABASE__URL)".
fn describe_key(key: &str) -> String {
    let scoped = format!("SCIM__{}", key.replace('.', "__").to_uppercase());
    match WELL_KNOWN_VARIABLES.iter().find(|(_, k)| *k == key) {
        Some((var, _)) => format!("{key} ({var} or {scoped})"),
        None => format!("{key} ({scoped})"),
    }
}

impl Settings {
    /// Loads settings from `config/` in the working directory (or `SCIM_CONFIG_DIR`) and the
    /// process environment.
    pub fn load() -> Result<Self, SettingsError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let dir = env
            .get("SCIM_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&dir, &env)
    }

    /// Loads settings from an explicit directory and environment (what tests use).
    pub fn load_from(dir: &Path, env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let well_known: config::Map<String, String> = WELL_KNOWN_VARIABLES
            .iter()
            .filter_map(|(var, key)| {
                let value = env.get(*var)?;
                Some((
                    format!("SCIM__{}", key.replace('.', "__").to_uppercase()),
                    value.clone(),
                ))
            })
            .collect();
        let scoped: config::Map<String, String> = env
            .iter()
            .filter(|(name, _)| name.starts_with("SCIM__"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();

        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(
                BUILT_IN_BASE,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from(dir.join("base.toml")).required(false));
        if let Some(overlay) = env.get("SCIM_ENV").filter(|name| !name.is_empty()) {
            builder = builder.add_source(config::File::from(dir.join(overlay)).required(false));
        }
        // Values stay strings here and are converted while deserialising: eager parsing would
        // turn an all-digit encryption key into a number and lose its leading zeros.
        let settings: Settings = builder
            .add_source(environment_source(well_known))
            .add_source(environment_source(scoped))
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(from_config_error)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if let Some(url) = &self.server.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(SettingsError::invalid(
                    "server.public_url",
                    "must be an absolute http(s) URL such as https://sourcebot.example.com/scim/v2",
                ));
            }
        }
        if self.database.pool_max_size == 0 {
            return Err(SettingsError::invalid(
                "database.pool_max_size",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("server.body_timeout_ms", self.server.body_timeout_ms),
            (
                "server.request_deadline_ms",
                self.server.request_deadline_ms,
            ),
        ] {
            if value == 0 {
                return Err(SettingsError::invalid(key, "must be at least 1"));
            }
        }
        if self.server.rate_limit_per_second > 0 && self.server.rate_limit_burst == 0 {
            return Err(SettingsError::invalid(
                "server.rate_limit_burst",
                "must be at least 1 while server.rate_limit_per_second is set",
            ));
        }
        if self.database.acquire_timeout_ms == 0 {
            return Err(SettingsError::invalid(
                "database.acquire_timeout_ms",
                "must be at least 1",
            ));
        }
        let name_ok = !self.database.application_name.is_empty()
            && self.database.application_name.len() <= 63
            && self
                .database
                .application_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(SettingsError::invalid(
                "database.application_name",
                "use 1 to 63 characters of letters, digits, '-', '_' or '.'",
            ));
        }
        if let Some(key) = &self.auth.encryption_key {
            if key.expose_secret().is_empty() {
                return Err(SettingsError::invalid(
                    "auth.encryption_key",
                    "must not be empty",
                ));
            }
        }
        if self.license.key.is_some() && self.license.public_key_file.is_none() {
            return Err(SettingsError::missing(
                "license.public_key_file",
                "a licence key is configured and must be verified with the vendor's public key",
            ));
        }
        Ok(())
    }

    /// The database URL, or an error saying how to set it.
    pub fn database_url(&self) -> Result<&str, SettingsError> {
        match &self.database.url {
            Some(url) if !url.expose_secret().is_empty() => Ok(url.expose_secret()),
            _ => Err(SettingsError::missing(
                "database.url",
                "point it at the app's PostgreSQL database, e.g. postgres://user:pass@host:5432/sourcebot",
            )),
        }
    }

    /// The HMAC key of token hashes, or an error saying how to set it.
    pub fn encryption_key(&self) -> Result<&[u8], SettingsError> {
        match &self.auth.encryption_key {
            Some(key) => Ok(key.expose_secret().as_bytes()),
            None => Err(SettingsError::missing(
                "auth.encryption_key",
                "use the same value as the app's SOURCEBOT_ENCRYPTION_KEY",
            )),
        }
    }
}

fn environment_source(vars: config::Map<String, String>) -> config::Environment {
    config::Environment::with_prefix("SCIM")
        .prefix_separator("__")
        .separator("__")
        .source(Some(vars))
}

fn from_config_error(error: config::ConfigError) -> SettingsError {
    // The config crate words field errors as "<problem> for key `server.listen`"; the key is
    // re-stated with the variables that feed it.
    let message = error.to_string();
    match message.split_once(" for key `") {
        Some((problem, rest)) => {
            let key = rest.split('`').next().unwrap_or(rest);
            SettingsError::invalid(key, problem)
        }
        None => SettingsError(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(Path::new("/nonexistent-config-dir"), &env)
    }

    #[test]
    fn defaults_come_from_the_built_in_base_file() {
        let settings = load(&[]).expect("defaults load");
        assert_eq!(settings.server.listen.to_string(), "0.0.0.0:8080");
        assert!(settings.server.enabled);
        assert_eq!(settings.database.pool_max_size, 16);
        assert_eq!(settings.log.format, LogFormat::Pretty);
        assert!(!settings.server.read_only);
        assert_eq!(
            settings.metrics.listen,
            MetricsListen::On("0.0.0.0:9464".parse().unwrap())
        );
        assert!(settings.database_url().is_err());
    }

    #[test]
    fn well_known_variables_feed_their_settings() {
        let settings = load(&[
            ("DATABASE_URL", "postgres://u@h/db"),
            (
                "SOURCEBOT_ENCRYPTION_KEY",
                "00000000000000000000000000000000",
            ),
            ("SCIM_LISTEN", "127.0.0.1:9999"),
            ("SCIM_PUBLIC_URL", "https://sb.example.com/scim/v2"),
            ("SCIM_ENABLED", "false"),
            ("SCIM_LOG_FORMAT", "json"),
        ])
        .expect("loads");
        assert_eq!(settings.database_url().unwrap(), "postgres://u@h/db");
        // An all-digit key must survive as text, leading zeros included.
        assert_eq!(
            settings.encryption_key().unwrap(),
            b"00000000000000000000000000000000"
        );
        assert_eq!(settings.server.listen.port(), 9999);
        assert!(!settings.server.enabled);
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(
            settings.server.public_url.unwrap().as_str(),
            "https://sb.example.com/scim/v2"
        );
    }

    #[test]
    fn scoped_variables_override_well_known_ones() {
        let settings = load(&[
            ("SCIM_LISTEN", "127.0.0.1:9999"),
            ("SCIM__SERVER__LISTEN", "127.0.0.1:7777"),
            ("SCIM__DATABASE__POOL_MAX_SIZE", "3"),
        ])
        .expect("loads");
        assert_eq!(settings.server.listen.port(), 7777);
        assert_eq!(settings.database.pool_max_size, 3);
    }

    #[test]
    fn invalid_values_name_the_setting_and_its_variables() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("SCIM_LISTEN", "not-an-address")],
                "server.listen (SCIM_LISTEN or SCIM__SERVER__LISTEN)",
            ),
            (&[("SCIM_ENABLED", "maybe")], "server.enabled"),
            (
                &[("SCIM__DATABASE__POOL_MAX_SIZE", "lots")],
                "database.pool_max_size",
            ),
            (
                &[("SCIM__DATABASE__POOL_MAX_SIZE", "0")],
                "database.pool_max_size",
            ),
            (
                &[("SCIM_PUBLIC_URL", "ftp://example.com")],
                "server.public_url",
            ),
            (&[("SCIM_LOG_FORMAT", "xml")], "log.format"),
            (
                &[("SCIM_METRICS_LISTEN", "9464")],
                "metrics.listen (SCIM_METRICS_LISTEN or SCIM__METRICS__LISTEN)",
            ),
            (&[("SCIM_READ_ONLY", "maybe")], "server.read_only"),
            (
                &[("SCIM__SERVER__REQUEST_DEADLINE_MS", "0")],
                "server.request_deadline_ms",
            ),
            (
                &[("SCIM__SERVER__BODY_TIMEOUT_MS", "0")],
                "server.body_timeout_ms",
            ),
            (
                &[("SCIM__SERVER__RATE_LIMIT_BURST", "0")],
                "server.rate_limit_burst",
            ),
            (&[("SCIM_LICENSE_KEY", "a.b.c")], "license.public_key_file"),
            (
                &[("SCIM__DATABASE__APPLICATION_NAME", "x'; drop")],
                "database.application_name",
            ),
        ];
        for (vars, expected) in cases {
            let message = load(vars).expect_err("must be refused").to_string();
            assert!(message.contains(expected), "{vars:?}: {message}");
        }
    }

    #[test]
    fn errors_never_repeat_secret_values() {
        let message = load(&[
            ("SCIM_LICENSE_KEY", "super-secret-licence"),
            ("DATABASE_URL", "postgres://u:hunter2@h/db"),
        ])
        .expect_err("licence without public key")
        .to_string();
        assert!(!message.contains("super-secret-licence"));
        assert!(!message.contains("hunter2"));
        let debug = format!(
            "{:?}",
            load(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]).unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn metrics_listen_takes_an_address_or_off_and_read_only_a_boolean() {
        let off = load(&[("SCIM_METRICS_LISTEN", "OFF"), ("SCIM_READ_ONLY", "true")]).unwrap();
        assert_eq!(off.metrics.listen, MetricsListen::Off);
        assert!(off.server.read_only);
        let on = load(&[("SCIM__METRICS__LISTEN", "127.0.0.1:9100")]).unwrap();
        assert_eq!(
            on.metrics.listen,
            MetricsListen::On("127.0.0.1:9100".parse().unwrap())
        );
    }

    #[test]
    fn overlay_file_is_applied_for_scim_env() {
        let dir = std::env::temp_dir().join(format!("scim-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("staging.toml"), "[database]\npool_max_size = 5\n").unwrap();
        let env = HashMap::from([("SCIM_ENV".to_string(), "staging".to_string())]);
        let settings = Settings::load_from(&dir, &env).expect("loads");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(settings.database.pool_max_size, 5);
    }
}
