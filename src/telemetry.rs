//! Logging: `tracing` to stdout, human-readable or JSON, filtered by `log.filter` or
//! `RUST_LOG`. Request spans are opened by `http::request_span`.

use tracing_subscriber::filter::Directive;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Libraries that log personal data below INFO (tokio-postgres prints query parameters, so
/// e-mail addresses; actix-http prints request heads, so bearer tokens). They are capped
/// whatever the filter asks for: SCIM payloads must never reach the logs. actix-http's HTTP/1
/// dispatcher is silenced: it reports every malformed, oversized (431) or slow request head at
/// ERROR ("stream error: ..."), client errors that must not read as faults of the service.
const PRIVACY_CAPS: &[&str] = &[
    "tokio_postgres=info",
    "actix_http=info",
    "actix_http::h1::dispatcher=off",
    "diesel=info",
];

/// Installs the global subscriber. Safe to call more than once (later calls are ignored), which
/// lets tests and `demo` share the binary's start-up path.
pub fn init(settings: &LogSettings) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    for cap in PRIVACY_CAPS {
        if let Ok(directive) = cap.parse::<Directive>() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _already_set = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
