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
//! | `disable` | no | - |
//! | `allow`, `prefer` (default) | when the server offers it (no plain-text retry after a failed handshake) | not verified (libpq's behaviour) |
//! | `require` | yes | not verified, unless a CA is given: then as `verify-ca` |
//! | `verify-ca` | yes | must chain to the given CA (`sslrootcert`, else `database.tls_ca_file`); no CA is an error |
//! | `verify-full` | yes | as `verify-ca`, and the host name must match; without a CA, the Mozilla roots |
//!
//! A CA file may hold the server's own self-signed certificate: it is then accepted as pinned.
//! Prisma's spelling works too: `sslcert` names the server's CA, and `sslaccept=strict` asks
//! for `verify-full`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use diesel::ConnectionError;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rand::seq::SliceRandom;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use socket2::TcpKeepalive;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio_postgres::config::{Host, LoadBalanceHosts, SslMode, TargetSessionAttrs};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::SimpleQueryMessage;
use url::Url;

use super::sqlstate::{ConnectionCompanion, ErrorWatch, LastError, WatchedTls};

/// Prisma's client-side settings: meaningful to the app, unknown to PostgreSQL drivers.
const PRISMA_ONLY: &[&str] = &[
    "connection_limit",
    "pool_timeout",
    "socket_timeout",
    "statement_cache_size",
];

/// Query values never printed (see `db::redacted_url`).
pub const SECRET_PARAMETERS: &[&str] = &["password", "sslpassword"];

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
    #[error("DATABASE_URL has sslmode=verify-ca without a CA: give it as sslrootcert or SCIM__DATABASE__TLS_CA_FILE (or use verify-full)")]
    VerifyCaWithoutCa,
    #[error("DATABASE_URL has {0}: {1}")]
    Unsupported(&'static str, &'static str),
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
        let mut root_cert = None;
        let mut prisma_ca = None;
        let mut prisma_strict = false;
        let mut kept = Vec::new();
        for (key, value) in query_pairs(parsed.query().unwrap_or("")) {
            match key.as_str() {
                "schema" if value != "public" => return Err(UrlError::UnsupportedSchema(value)),
                "schema" => {}
                "sslmode" => ssl_mode = value,
                "sslrootcert" => root_cert = Some(PathBuf::from(value)),
                "sslcert" => prisma_ca = Some(PathBuf::from(value)),
                "sslaccept" => prisma_strict = value == "strict",
                "sslidentity" => {
                    return Err(UrlError::Unsupported(
                        "sslidentity",
                        "client certificates are not supported",
                    ))
                }
                "pgbouncer" if value == "true" => {
                    return Err(UrlError::Unsupported(
                        "pgbouncer=true",
                        "the service needs session semantics (prepared statements, advisory locks); connect it to PostgreSQL or a session-mode pool",
                    ))
                }
                "pgbouncer" => {}
                key if PRISMA_ONLY.contains(&key) => {}
                _ => kept.push((key, value)),
            }
        }
        let root_cert = root_cert
            .or(prisma_ca)
            .or_else(|| ca_file.map(Path::to_path_buf));
        if prisma_strict && !matches!(ssl_mode.as_str(), "verify-ca" | "verify-full") {
            ssl_mode = "verify-full".to_owned();
        }
        let (driver_mode, verification) = match ssl_mode.as_str() {
            "disable" => (SslMode::Disable, Verification::None),
            "allow" | "prefer" => (SslMode::Prefer, Verification::None),
            "require" if root_cert.is_some() => (SslMode::Require, Verification::Chain),
            "require" => (SslMode::Require, Verification::None),
            "verify-ca" if root_cert.is_none() => return Err(UrlError::VerifyCaWithoutCa),
            "verify-ca" => (SslMode::Require, Verification::Chain),
            "verify-full" => (SslMode::Require, Verification::Full),
            other => return Err(UrlError::UnknownSslMode(other.to_owned())),
        };
        let query = kept
            .iter()
            .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        parsed.set_query((!query.is_empty()).then_some(query.as_str()));
        let mut config = tokio_postgres::Config::from_str(parsed.as_str())
            .map_err(|error| UrlError::Driver(error.to_string()))?;
        config.ssl_mode(driver_mode);
        let tls = match driver_mode {
            SslMode::Disable => None,
            _ => Some(Arc::new(client_config(verification, root_cert.as_deref())?)),
        };
        Ok(Self { config, tls })
    }

    /// Opens one connection: to each host of the URL in turn (in random order with
    /// `load_balance_hosts=random`), each of its addresses in turn, until one accepts. The
    /// socket is opened here rather than by tokio-postgres so that the service can read the
    /// protocol stream's error codes (`db::sqlstate`); the URL's timeouts, keepalives and
    /// `target_session_attrs` apply as tokio-postgres applies them.
    pub async fn connect(&self) -> diesel::ConnectionResult<AsyncPgConnection> {
        let config = &self.config;
        let (hosts, addrs, ports) = (
            config.get_hosts(),
            config.get_hostaddrs(),
            config.get_ports(),
        );
        let count = hosts.len().max(addrs.len());
        let bad = |text: &str| Err(ConnectionError::BadConnection(text.to_owned()));
        if count == 0 {
            return bad("DATABASE_URL names no host");
        }
        if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
            return bad("DATABASE_URL names different numbers of hosts and hostaddrs");
        }
        if ports.len() > 1 && ports.len() != count {
            return bad("DATABASE_URL names different numbers of hosts and ports");
        }
        let mut order: Vec<usize> = (0..count).collect();
        if config.get_load_balance_hosts() == LoadBalanceHosts::Random {
            order.shuffle(&mut rand::rng());
        }
        let mut failure = None;
        for i in order {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let host = hosts.get(i);
            // The host name is what TLS verifies, even when `hostaddr` says where to connect.
            let server_name = match host {
                Some(Host::Tcp(name)) => name.as_str(),
                _ => "",
            };
            let outcome = match (addrs.get(i), host) {
                (Some(ip), _) => {
                    self.connect_tcp(&[SocketAddr::new(*ip, port)], server_name)
                        .await
                }
                (None, Some(Host::Tcp(name))) => {
                    match tokio::net::lookup_host((name.as_str(), port)).await {
                        Ok(found) => {
                            let mut found: Vec<SocketAddr> = found.collect();
                            if config.get_load_balance_hosts() == LoadBalanceHosts::Random {
                                found.shuffle(&mut rand::rng());
                            }
                            self.connect_tcp(&found, server_name).await
                        }
                        Err(error) => Err(ConnectionError::BadConnection(format!(
                            "could not resolve {name}: {error}"
                        ))),
                    }
                }
                #[cfg(unix)]
                (None, Some(Host::Unix(dir))) => {
                    let path = dir.join(format!(".s.PGSQL.{port}"));
                    match with_timeout(config, tokio::net::UnixStream::connect(path)).await {
                        Ok(stream) => self.open(stream, server_name).await,
                        Err(error) => Err(ConnectionError::BadConnection(error.to_string())),
                    }
                }
                // Not reached: `count` is the length of the longer list.
                (None, None) => continue,
            };
            match outcome {
                Ok(conn) => return Ok(conn),
                Err(error) => failure = Some(error),
            }
        }
        Err(failure.unwrap_or_else(|| {
            ConnectionError::BadConnection("DATABASE_URL names no host".to_owned())
        }))
    }

    async fn connect_tcp(
        &self,
        addrs: &[SocketAddr],
        server_name: &str,
    ) -> diesel::ConnectionResult<AsyncPgConnection> {
        let mut failure =
            ConnectionError::BadConnection("could not resolve any addresses".to_owned());
        for addr in addrs {
            let stream = match self.tcp_socket(*addr).await {
                Ok(stream) => stream,
                Err(error) => {
                    failure = ConnectionError::BadConnection(format!("{addr}: {error}"));
                    continue;
                }
            };
            match self.open(stream, server_name).await {
                Ok(conn) => return Ok(conn),
                Err(error) => failure = error,
            }
        }
        Err(failure)
    }

    async fn tcp_socket(&self, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
        let config = &self.config;
        let stream = with_timeout(config, tokio::net::TcpStream::connect(addr)).await?;
        stream.set_nodelay(true)?;
        let socket = socket2::SockRef::from(&stream);
        #[cfg(target_os = "linux")]
        if let Some(timeout) = config.get_tcp_user_timeout() {
            socket.set_tcp_user_timeout(Some(*timeout))?;
        }
        if config.get_keepalives() {
            let mut keepalive = TcpKeepalive::new().with_time(config.get_keepalives_idle());
            if let Some(interval) = config.get_keepalives_interval() {
                keepalive = keepalive.with_interval(interval);
            }
            if let Some(retries) = config.get_keepalives_retries() {
                keepalive = keepalive.with_retries(retries);
            }
            socket.set_tcp_keepalive(&keepalive)?;
        }
        Ok(stream)
    }

    /// The PostgreSQL session on `stream`: TLS as `sslmode` says, the protocol stream watched
    /// for error codes, driven by a task of its own until the connection is dropped.
    async fn open<S>(
        &self,
        stream: S,
        server_name: &str,
    ) -> diesel::ConnectionResult<AsyncPgConnection>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let last_error = Arc::new(LastError::default());
        let socket = ErrorWatch::new(stream, Arc::clone(&last_error));
        let (client, driver) = match &self.tls {
            None => {
                let tls = WatchedTls {
                    tls: tokio_postgres::NoTls,
                    last_error: Arc::clone(&last_error),
                };
                let (client, connection) =
                    self.config.connect_raw(socket, tls).await.map_err(failed)?;
                (client, drive(connection))
            }
            Some(tls) => {
                let mut maker = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let Ok(tls) =
                    MakeTlsConnect::<ErrorWatch<S>>::make_tls_connect(&mut maker, server_name);
                let tls = WatchedTls {
                    tls,
                    last_error: Arc::clone(&last_error),
                };
                let (client, connection) =
                    self.config.connect_raw(socket, tls).await.map_err(failed)?;
                (client, drive(connection))
            }
        };
        self.check_session_attrs(&client).await?;
        let mut conn = AsyncPgConnection::try_from(client).await?;
        conn.set_instrumentation(ConnectionCompanion::new(last_error, driver));
        Ok(conn)
    }

    /// libpq's `target_session_attrs=read-write` / `read-only`.
    async fn check_session_attrs(
        &self,
        client: &tokio_postgres::Client,
    ) -> diesel::ConnectionResult<()> {
        let wanted = match self.config.get_target_session_attrs() {
            TargetSessionAttrs::ReadWrite => "off",
            TargetSessionAttrs::ReadOnly => "on",
            _ => return Ok(()),
        };
        let answer = client
            .simple_query("SHOW transaction_read_only")
            .await
            .map_err(failed)?;
        let read_only = answer.iter().find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        });
        if read_only == Some(wanted) {
            Ok(())
        } else {
            Err(ConnectionError::BadConnection(format!(
                "the server's transaction_read_only is {read_only:?}, not what target_session_attrs asks"
            )))
        }
    }
}

/// The driver's own message ("error performing TLS handshake") hides why; add the causes.
fn failed(error: tokio_postgres::Error) -> ConnectionError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ConnectionError::BadConnection(text)
}

async fn with_timeout<T>(
    config: &tokio_postgres::Config,
    connect: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match config.get_connect_timeout() {
        Some(timeout) => tokio::time::timeout(*timeout, connect)
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            }),
        None => connect.await,
    }
}

/// Runs the protocol of `connection` until it ends or the returned sender is dropped, which
/// closes the socket at once (a statement still running is abandoned, and PostgreSQL rolls
/// its transaction back).
fn drive<F>(connection: F) -> oneshot::Sender<()>
where
    F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    let (keep, dropped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = connection => {}
            _ = dropped => {}
        }
    });
    keep
}

/// `key=value` pairs of a URL query, percent-decoded as libpq does (`+` stays `+`).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode(key), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
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
            let mut pinned = Vec::new();
            match root_cert {
                Some(path) => {
                    let certificates = CertificateDer::pem_file_iter(path)
                        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                        .map_err(|error| UrlError::CaFile(path.to_path_buf(), error.to_string()))?;
                    let (added, _) = roots.add_parsable_certificates(certificates.iter().cloned());
                    if added == 0 {
                        let problem = "no certificate in it".to_owned();
                        return Err(UrlError::CaFile(path.to_path_buf(), problem));
                    }
                    pinned = certificates
                        .into_iter()
                        .map(CertificateDer::into_owned)
                        .collect();
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| UrlError::Driver(error.to_string()))?;
            let verifier = Verifier {
                webpki,
                pinned,
                check_name: verification == Verification::Full,
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
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

/// libpq's `verify-ca` and `verify-full`: the chain must lead to a trusted root, or the
/// server's certificate must be one of the given ones (a pinned self-signed certificate, as
/// PostgreSQL's documentation sets it up); `verify-full` also checks the host name.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if self
            .pinned
            .iter()
            .any(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            if self.check_name {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
            }
            return Ok(ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
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
        for mode in ["allow", "prefer", "require", "verify-full"] {
            let options = target(&format!("postgres://db/app?sslmode={mode}")).unwrap();
            assert!(options.tls.is_some(), "{mode}");
            let lenient = matches!(mode, "allow" | "prefer");
            let expected = if lenient {
                SslMode::Prefer
            } else {
                SslMode::Require
            };
            assert_eq!(options.config.get_ssl_mode(), expected, "{mode}");
        }
        // Without a CA, verify-ca would trust any publicly issued certificate for any name.
        assert_eq!(
            target("postgres://db/app?sslmode=verify-ca").unwrap_err(),
            UrlError::VerifyCaWithoutCa
        );
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
    fn values_are_percent_decoded_as_libpq_does_and_passed_on_intact() {
        let options =
            target("postgres://db/app?options=-c%20search_path%3Dx&application_name=a+b").unwrap();
        assert_eq!(options.config.get_options(), Some("-c search_path=x"));
        assert_eq!(options.config.get_application_name(), Some("a+b"));
    }

    #[test]
    fn prisma_tls_settings_are_honoured_and_client_certificates_refused() {
        let missing_ca = target("postgres://db/app?sslmode=require&sslcert=/nonexistent.pem");
        assert!(
            matches!(missing_ca, Err(UrlError::CaFile(..))),
            "sslcert is Prisma's CA"
        );
        let strict = target("postgres://db/app?sslaccept=strict").unwrap();
        assert_eq!(strict.config.get_ssl_mode(), SslMode::Require);
        assert!(matches!(
            target("postgres://db/app?sslidentity=client.p12"),
            Err(UrlError::Unsupported("sslidentity", _))
        ));
        assert!(matches!(
            target("postgres://db/app?pgbouncer=true"),
            Err(UrlError::Unsupported("pgbouncer=true", _))
        ));
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
