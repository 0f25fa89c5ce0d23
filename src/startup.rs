//! Building and running the HTTP server: everything `serve` does before it accepts a request,
//! including turning settings into the database's options (the CLI's database commands reuse
//! [`connect_options`]).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::auth::token::TokenHasher;
use crate::auth::{Authenticator, EntitlementGate, ScimAccess, TokenRateLimit};
use crate::config::{DatabaseSettings, MetricsListen, Settings, SettingsError};
use crate::db::repo::orgs;
use crate::db::{self, migrations, schema_check, ConnectOptions, PoolOptions};
use crate::http;
use crate::license::{self, LicenseClaims};
use crate::metrics::Metrics;
use crate::provisioning::approval::ApprovalGuard;
use crate::provisioning::groups::GroupSettings;
use crate::provisioning::modes::ModeState;
use crate::scim::cursor::CursorKey;
use crate::state::AppState;

pub struct Application {
    address: SocketAddr,
    server: Server,
    /// The `/metrics` listener and its recorder, unless `metrics.listen` is `off`.
    metrics: Option<MetricsServer>,
}

struct MetricsServer {
    address: SocketAddr,
    server: Server,
    recorder: Arc<Metrics>,
}

impl Application {
    /// Validates configuration, licence and database, then binds the listener. Any problem
    /// stops here with a message that says what to fix.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let database_url = settings.database_url()?;
        let target = connect_options(settings)?;
        let hasher = TokenHasher::new(settings.encryption_key()?);
        let algorithm = license::configured_algorithm(&settings.license)?;
        let license_key = license::load_configured(&settings.license, algorithm, license::now_ms())
            .context("the configured licence key is not usable")?;
        log_license(license_key.as_ref());

        if settings.database.migrate_on_start {
            let applied = migrations::run_pending(&target)
                .await
                .with_context(|| format!("migrating {}", db::redacted_url(database_url)))?;
            tracing::info!(
                migrations.applied = applied.len(),
                "migrations are up to date"
            );
        }
        let pool = db::build_pool(&target, &pool_options(&settings.database))?;
        let report = {
            let mut conn = pool.get().await.with_context(|| {
                format!(
                    "cannot connect to the database at {}",
                    db::redacted_url(database_url)
                )
            })?;
            schema_check::check_schema(&mut conn)
                .await
                .context("reading the database schema")?
        };
        if !report.is_ok() {
            anyhow::bail!(
                "the database lacks what the service needs:\n{}",
                report.describe().trim_end()
            );
        }
        let modes = ModeState::new(settings.provisioning.deprovision_mode);
        let approval = {
            let mut conn = pool.get().await?;
            modes
                .refresh(&mut conn, true)
                .await
                .context("choosing the deprovisioning mode")?;
            let wanted = settings.provisioning.require_member_approval;
            let available = wanted && orgs::has_member_approval(&mut conn).await?;
            if wanted && !available {
                tracing::warn!(
                    "provisioning.require_member_approval is set, but this app version has no member approval (\"Org\".\"memberApprovalRequired\"): nothing to turn on"
                );
            }
            ApprovalGuard::new(available)
        };
        let read_only = settings.server.read_only;
        let recorder = match settings.metrics.listen {
            MetricsListen::On(_) => Some(Arc::new(Metrics::new())),
            MetricsListen::Off => None,
        };

        let access = web::Data::new(ScimAccess {
            enabled: settings.server.enabled,
            authenticator: Authenticator::new(
                hasher,
                Duration::from_secs(settings.auth.token_cache_ttl_secs),
                // Read-only mode writes nothing of its own either.
                (!read_only).then(|| Duration::from_secs(settings.auth.last_used_interval_secs)),
            ),
            rate_limit: TokenRateLimit::new(
                settings.server.rate_limit_per_second,
                settings.server.rate_limit_burst,
            ),
            request_deadline: Duration::from_millis(settings.server.request_deadline_ms),
            gate: EntitlementGate::new(
                license_key,
                Duration::from_secs(settings.license.org_refresh_secs),
            ),
            pool: pool.clone(),
        });
        let state = web::Data::new(AppState {
            pool,
            modes,
            approval,
            public_url: settings.server.public_url.clone(),
            groups: GroupSettings::new(
                settings.provisioning.owner_group.as_deref(),
                settings.provisioning.group_patch_returns_body,
            ),
            cursors: CursorKey::derive(settings.encryption_key()?),
            read_only,
            metrics: recorder.clone(),
        });
        if settings.server.public_url.is_none() {
            tracing::warn!(
                "SCIM_PUBLIC_URL is not set: resource locations are built from each request's Host header; set it to the SCIM base URL your IdP uses"
            );
        }
        if read_only {
            tracing::warn!(
                "read-only mode (SCIM_READ_ONLY=true): reads are served, every write is answered 503"
            );
        }
        if !settings.server.enabled {
            tracing::warn!(
                "SCIM provisioning is disabled (SCIM_ENABLED=false): every SCIM request is refused"
            );
        }

        let listener = TcpListener::bind(settings.server.listen)
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let address = listener.local_addr()?;
        let body_limits = http::BodyLimits {
            max_bytes: settings.server.max_body_bytes,
            timeout: Duration::from_millis(settings.server.body_timeout_ms),
        };
        let metrics = match (settings.metrics.listen, recorder) {
            (MetricsListen::On(listen), Some(recorder)) => {
                let listener = TcpListener::bind(listen).with_context(|| {
                    format!("cannot serve metrics on {listen} (metrics.listen)")
                })?;
                let address = listener.local_addr()?;
                let (state, access) = (state.clone(), access.clone());
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .app_data(access.clone())
                        .configure(http::metrics::routes)
                })
                .workers(1)
                .shutdown_timeout(5)
                .disable_signals()
                .listen(listener)?
                .run();
                Some(MetricsServer {
                    address,
                    server,
                    recorder,
                })
            }
            _ => None,
        };
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(access.clone())
                .configure(|cfg| http::routes(cfg, body_limits))
                .wrap(from_fn(http::request_span))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        // Signals are handled by `stop_on_signals`, which the CLI opts into; tests and
        // embedders stop the server through its handle.
        .disable_signals();
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Self {
            address,
            server,
            metrics,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where `/metrics` is served; `None` when `metrics.listen` is `off`.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|metrics| metrics.address)
    }

    /// Stops the server gracefully (what SIGTERM and SIGINT do too).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Stops gracefully on SIGTERM or SIGINT: no new connections, in-flight requests finish.
    pub fn stop_on_signals(&self) {
        let handle = self.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown signal received; finishing in-flight requests");
            handle.stop(true).await;
        });
    }

    /// Serves until stopped; in-flight requests finish within `server.shutdown_timeout_secs`.
    /// The metrics listener stops with the SCIM one.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some(metrics) = self.metrics else {
            tracing::info!(listen = %self.address, "scim-sidecar is serving");
            return self.server.await;
        };
        tracing::info!(
            listen = %self.address,
            metrics.listen = %metrics.address,
            "scim-sidecar is serving"
        );
        // A server runs only while its future is polled: both are, beside the upkeep.
        let scim_handle = self.server.handle();
        let metrics_handle = metrics.server.handle();
        let mut scim = std::pin::pin!(self.server);
        let mut metrics_server = std::pin::pin!(metrics.server);
        let served = tokio::select! {
            served = &mut scim => served,
            stopped = &mut metrics_server => {
                // Only a failure ends it first: stop rather than serve unobserved.
                tracing::error!("the metrics listener stopped; stopping the service");
                let ((), served) = tokio::join!(scim_handle.stop(true), scim);
                return stopped.and(served);
            }
            never = metrics.recorder.keep_up() => match never {},
        };
        // The handle's stop completes only while the server's future is polled.
        let ((), stopped) = tokio::join!(metrics_handle.stop(true), metrics_server);
        stopped?;
        served
    }
}

/// How to reach the database of `database.url`: the URL translated for the driver, with its
/// TLS policy. A URL the driver cannot use is refused naming the setting.
pub fn connect_options(settings: &Settings) -> Result<ConnectOptions, SettingsError> {
    ConnectOptions::from_url(
        settings.database_url()?,
        settings.database.tls_ca_file.as_deref(),
    )
    .map_err(|problem| SettingsError::invalid("database.url", problem))
}

fn pool_options(settings: &DatabaseSettings) -> PoolOptions {
    PoolOptions {
        max_size: settings.pool_max_size,
        acquire_timeout: Duration::from_millis(settings.acquire_timeout_ms),
        statement_timeout: Duration::from_millis(settings.statement_timeout_ms),
        application_name: settings.application_name.clone(),
    }
}

fn log_license(claims: Option<&LicenseClaims>) {
    match claims {
        Some(claims) => tracing::info!(
            license.id = claims.sub.as_deref().unwrap_or("-"),
            license.expires = %license::format_unix(claims.exp),
            license.seats = claims.seats,
            "licence key verified; it grants scim"
        ),
        None => tracing::warn!(
            "no licence key configured (SCIM_LICENSE_KEY): only orgs whose \"License\" row grants scim can provision"
        ),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the process still stops on the default disposition.
        _ => std::future::pending().await,
    }
}
