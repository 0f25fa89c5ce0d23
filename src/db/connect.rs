//! Opening connections from the app's `DATABASE_URL`, as Prisma writes it, with TLS as libpq
//! would negotiate it.
//!
//! Operators hand the service the same URL as the app. Prisma accepts query parameters that
//! PostgreSQL drivers reject (`schema`, `connection_limit`, ...), and libpq's `sslmode` has
//! values (`verify-ca`, `verify-full`) and companions (`sslrootcert`) that tokio-postgres does
//! not parse, so the URL is translated here:
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable`, `allow` | no | - |
//! | `prefer` (default) | when the server offers it | not verified (libpq's behaviour) |
//! | `require` | yes | not verified, unless a CA is given: then as `verify-ca` |
//! | `verify-ca` | yes | chain checked against the CA (`sslrootcert`, `database.tls_ca_file`, else the Mozilla roots) |
//! | `verify-full` | yes | as `verify-ca`, and the host name must match |

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use tokio_postgres::config::SslMode;
use url::Url;

/// Prisma's own parameters: meaningful to the app's client, unknown to PostgreSQL drivers.
const PRISMA_ONLY: &[&str] = &[
    "connection_limit",
    "pool_timeout",
    "socket_timeout",
    "sslaccept",
    "sslidentity",
    "sslpassword",
    "sslcert",
    "pgbouncer",
    "statement_cache_size",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verification {
    /// Encrypt, accept any certificate (libpq's `prefer` and `require`).
    None,
    /// The chain must lead to a trusted root.
    Chain,
    /// The chain, and the host name.
    Full,
}

/// A connection target: driver configuration plus TLS policy. Cheap to clone.
#[derive(Clone)]
pub struct ConnectOptions {
    config: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("DATABASE_URL is not a postgres:// or postgresql:// URL")]
    NotPostgres,
    #[error(
        "DATABASE_URL names Prisma schema {0:?}; the service expects the app's tables in `public`"
    )]
    UnsupportedSchema(String),
    #[error("DATABASE_URL has sslmode={0:?}; use disable, allow, prefer, require, verify-ca or verify-full")]
    UnknownSslMode(String),
    #[error("DATABASE_URL is not understood by the PostgreSQL driver: {0}")]
    Driver(String),
    #[error("the TLS CA file {0} cannot be used: {1}")]
    CaFile(PathBuf, String),
}

impl ConnectOptions {
    /// Translates `url`; `ca_file` (`database.tls_ca_file`) is used unless the URL names its
    /// own `sslrootcert`.
    pub fn from_url(url: &str, ca_file: Option<&Path>) -> Result<Self, UrlError> {
        let mut parsed = Url::parse(url).map_err(|_| UrlError::NotPostgres)?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(UrlError::NotPostgres);
        }
        let mut ssl_mode = "prefer".to_owned();
        let mut root_cert = ca_file.map(Path::to_path_buf);
        let mut kept = Vec::new();
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "schema" if value != "public" => {
                    return Err(UrlError::UnsupportedSchema(value.into_owned()))
                }
                "schema" => {}
                "sslmode" => ssl_mode = value.into_owned(),
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                key if PRISMA_ONLY.contains(&key) => {}
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        let (driver_mode, verification) = match ssl_mode.as_str() {
            "disable" | "allow" => (SslMode::Disable, Verification::None),
            "prefer" => (SslMode::Prefer, Verification::None),
            "require" if root_cert.is_some() => (SslMode::Require, Verification::Chain),
            "require" => (SslMode::Require, Verification::None),
            "verify-ca" => (SslMode::Require, Verification::Chain),
            "verify-full" => (SslMode::Require, Verification::Full),
            other => return Err(UrlError::UnknownSslMode(other.to_owned())),
        };
        parsed.query_pairs_mut().clear().extend_pairs(&kept);
        let mut text = parsed.to_string();
        if kept.is_empty() {
            text = text.trim_end_matches('?').to_owned();
        }
        let mut config = tokio_postgres::Config::from_str(&text)
            .map_err(|error| UrlError::Driver(error.to_string()))?;
        config.ssl_mode(driver_mode);
        let tls = match driver_mode {
            SslMode::Disable => None,
            _ => Some(Arc::new(client_config(verification, root_cert.as_deref())?)),
        };
        Ok(Self { config, tls })
    }

    /// Opens one connection.
    pub async fn connect(&self) -> diesel::ConnectionResult<AsyncPgConnection> {
        let failed =
            |error: tokio_postgres::Error| ConnectionError::BadConnection(error.to_string());
        match &self.tls {
            None => {
                let (client, connection) = self
                    .config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(tls) => {
                let connector = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, connection) = self.config.connect(connector).await.map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }
}

fn client_config(
    verification: Verification,
    root_cert: Option<&Path>,
) -> Result<rustls::ClientConfig, UrlError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| UrlError::Driver(error.to_string()))?;
    let config = match verification {
        Verification::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth(),
        Verification::Chain | Verification::Full => {
            let mut roots = rustls::RootCertStore::empty();
            match root_cert {
                Some(path) => {
                    let certificates = CertificateDer::pem_file_iter(path)
                        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                        .map_err(|error| UrlError::CaFile(path.to_path_buf(), error.to_string()))?;
                    let (added, _) = roots.add_parsable_certificates(certificates);
                    if added == 0 {
                        let problem = "no certificate in it".to_owned();
                        return Err(UrlError::CaFile(path.to_path_buf(), problem));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| UrlError::Driver(error.to_string()))?;
            let verifier: Arc<dyn ServerCertVerifier> = if verification == Verification::Full {
                webpki
            } else {
                Arc::new(ChainOnly { webpki })
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// libpq's `require`: the connection is encrypted, the server is not authenticated. The
/// handshake signatures are still checked, so the session keys belong to whoever presented
/// the certificate.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain must be trusted, the name is not checked.
#[derive(Debug)]
struct ChainOnly {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<ConnectOptions, UrlError> {
        ConnectOptions::from_url(url, None)
    }

    #[test]
    fn prisma_parameters_are_dropped_and_the_public_schema_accepted() {
        let options = target(
            "postgresql://app:pw@db:5432/sourcebot?schema=public&connection_limit=5&pool_timeout=10&application_name=x",
        )
        .unwrap();
        assert_eq!(options.config.get_dbname(), Some("sourcebot"));
        assert_eq!(options.config.get_application_name(), Some("x"));
        assert!(options.tls.is_some(), "prefer negotiates TLS when offered");
    }

    #[test]
    fn another_prisma_schema_is_refused_by_name() {
        assert_eq!(
            target("postgres://db/app?schema=tenant1").unwrap_err(),
            UrlError::UnsupportedSchema("tenant1".into())
        );
    }

    #[test]
    fn ssl_modes_map_to_libpq_behaviour() {
        assert!(target("postgres://db/app?sslmode=disable")
            .unwrap()
            .tls
            .is_none());
        for mode in ["prefer", "require", "verify-ca", "verify-full"] {
            let options = target(&format!("postgres://db/app?sslmode={mode}")).unwrap();
            assert!(options.tls.is_some(), "{mode}");
            let expected = if mode == "prefer" {
                SslMode::Prefer
            } else {
                SslMode::Require
            };
            assert_eq!(options.config.get_ssl_mode(), expected, "{mode}");
        }
        assert_eq!(
            target("postgres://db/app?sslmode=maybe").unwrap_err(),
            UrlError::UnknownSslMode("maybe".into())
        );
    }

    #[test]
    fn an_unreadable_or_empty_ca_file_is_reported() {
        let missing = target("postgres://db/app?sslmode=verify-full&sslrootcert=/nonexistent.pem");
        assert!(matches!(missing, Err(UrlError::CaFile(..))));
        let empty = std::env::temp_dir().join(format!("scim-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "").unwrap();
        let result = ConnectOptions::from_url("postgres://db/app?sslmode=verify-ca", Some(&empty));
        std::fs::remove_file(&empty).ok();
        assert!(matches!(result, Err(UrlError::CaFile(..))));
    }

    #[test]
    fn other_urls_are_refused() {
        assert_eq!(target("mysql://db/app").unwrap_err(), UrlError::NotPostgres);
        assert_eq!(target("not a url").unwrap_err(), UrlError::NotPostgres);
        assert!(matches!(
            target("postgres://db/app?bogus=1"),
            Err(UrlError::Driver(_))
        ));
    }
}
