//! What the service counts, rendered in Prometheus' text format for `/metrics`, and the audit
//! line logged for each membership change.
//!
//! Each [`Metrics`] is a recorder of its own, not the process-wide one the `metrics` crate
//! offers: two servers in one process (the integration tests, two replicas in one test) count
//! apart, and each samples its own pool. A request reaches its server's recorder through the
//! request's scope ([`RequestEvents`], a task-local set by `http::request_span`), so that the
//! event functions below can be called from anywhere on the request's path (authentication,
//! provisioning) without passing anything along; outside a request they count nothing.
//!
//! Membership changes are made inside the request's transaction, which may still roll back (the
//! request deadline, a later step failing): they wait in the scope, and are counted and logged
//! only when the request succeeded, so a line in the log is a change in the database.
//!
//! Every label has a bounded set of values: route patterns (never paths as sent), known
//! methods, status codes, and the enums below. Org ids, token names and user ids go to the
//! logs only.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::db::repo::audit::AuditAction;

const REQUESTS: &str = "scim_http_requests_total";
const REQUEST_DURATION: &str = "scim_http_request_duration_seconds";
const REQUESTS_BY_IDP: &str = "scim_requests_by_idp_total";
const PROVISIONING: &str = "scim_provisioning_events_total";
const AUTH_FAILURES: &str = "scim_auth_failures_total";
const LICENSE_STATE: &str = "scim_license_state";
const LICENSE_EXPIRY: &str = "scim_license_expiry_timestamp_seconds";
const POOL_MAX: &str = "scim_db_pool_max_connections";
const POOL_SIZE: &str = "scim_db_pool_connections";
const POOL_IN_USE: &str = "scim_db_pool_connections_in_use";
const POOL_WAITING: &str = "scim_db_pool_waiting_requests";
const READ_ONLY: &str = "scim_read_only";
const BUILD_INFO: &str = "scim_build_info";

/// Upper bounds, in seconds: from a cached read (about a millisecond) to the request deadline
/// (30 s by default); IdPs give up at 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// One server's recorder.
pub struct Metrics {
    recorder: PrometheusRecorder,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            // Start-up; only an empty bucket list is refused.
            .expect("LATENCY_BUCKETS is not empty");
        let metrics = Self { recorder };
        metrics.with(describe);
        metrics
    }

    /// Folds recorded latencies into the histograms, every few seconds for as long as the
    /// server runs: the recorder keeps each recorded value until then, so without it an
    /// unscraped service would grow.
    pub async fn keep_up(&self) -> std::convert::Infallible {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            self.recorder.handle().run_upkeep();
        }
    }

    fn with<T>(&self, record: impl FnOnce() -> T) -> T {
        ::metrics::with_local_recorder(&self.recorder, record)
    }

    /// The text a scrape answers, after sampling what is only known at scrape time.
    pub fn render(&self, sample: &Sample) -> String {
        self.with(|| sample.record());
        self.recorder.handle().render()
    }
}

/// HELP lines, and a zero for every series whose labels are known in advance, so that rates
/// and alerts work from the first scrape.
fn describe() {
    describe_counter!(
        REQUESTS,
        "HTTP requests answered, by route pattern, method and status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        ::metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route pattern and method"
    );
    describe_counter!(
        REQUESTS_BY_IDP,
        "SCIM API requests by identity provider family, from the User-Agent"
    );
    describe_counter!(
        PROVISIONING,
        "Provisioning outcomes: memberships created, adopted (existing app account), updated, deactivated, reactivated, deleted, role changes; conflicts (409) and seat-cap refusals"
    );
    describe_counter!(
        AUTH_FAILURES,
        "SCIM requests refused before reaching a handler, by reason"
    );
    describe_gauge!(
        LICENSE_STATE,
        "The deployment's licence key: 1 for its state (valid, expired or none)"
    );
    describe_gauge!(
        LICENSE_EXPIRY,
        ::metrics::Unit::Seconds,
        "When the deployment's licence key expires, in Unix seconds"
    );
    describe_gauge!(POOL_MAX, "Database connections the pool may open");
    describe_gauge!(POOL_SIZE, "Database connections open");
    describe_gauge!(POOL_IN_USE, "Database connections checked out by requests");
    describe_gauge!(POOL_WAITING, "Requests waiting for a database connection");
    describe_gauge!(
        READ_ONLY,
        "1 while the service answers writes 503 (SCIM_READ_ONLY)"
    );
    describe_gauge!(BUILD_INFO, "1, labelled with the service's version");
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for event in ProvisioningEvent::ALL {
        counter!(PROVISIONING, "event" => event.as_str()).absolute(0);
    }
    for reason in AuthFailure::ALL {
        counter!(AUTH_FAILURES, "reason" => reason.as_str()).absolute(0);
    }
    for idp in IdpFamily::ALL {
        counter!(REQUESTS_BY_IDP, "idp" => idp.as_str()).absolute(0);
    }
}

/// What a scrape samples: the pool (deadpool's own counts), the licence key, the mode.
pub struct Sample {
    pub pool: deadpool::Status,
    pub license: LicenseSample,
    pub read_only: bool,
}

/// The deployment's licence key as a scrape finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseSample {
    /// None configured: only orgs whose own `"License"` row grants `scim` provision.
    None,
    Valid {
        expires_at: i64,
    },
    /// Past its `exp` (or otherwise no longer granting `scim`).
    Expired {
        expires_at: i64,
    },
}

impl Sample {
    fn record(&self) {
        let pool = &self.pool;
        gauge!(POOL_MAX).set(pool.max_size as f64);
        gauge!(POOL_SIZE).set(pool.size as f64);
        gauge!(POOL_IN_USE).set(pool.size.saturating_sub(pool.available) as f64);
        gauge!(POOL_WAITING).set(pool.waiting as f64);
        gauge!(READ_ONLY).set(if self.read_only { 1.0 } else { 0.0 });
        let (state, expires_at) = match self.license {
            LicenseSample::None => ("none", None),
            LicenseSample::Valid { expires_at } => ("valid", Some(expires_at)),
            LicenseSample::Expired { expires_at } => ("expired", Some(expires_at)),
        };
        for each in ["valid", "expired", "none"] {
            gauge!(LICENSE_STATE, "state" => each).set(if each == state { 1.0 } else { 0.0 });
        }
        if let Some(expires_at) = expires_at {
            gauge!(LICENSE_EXPIRY).set(expires_at as f64);
        }
    }
}

/// Which identity provider sent a request, from its `User-Agent`: Okta's client says
/// "Okta SCIM Client 1.0.0"; Microsoft Entra ID's provisioning service names Azure AD or
/// Microsoft (for example "Microsoft Azure AD SCIM provisioning 1.0.0"). "Entra" alone is not
/// looked for: it is too short not to match other names ("Central…").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdpFamily {
    Okta,
    Entra,
    Other,
}

impl IdpFamily {
    const ALL: [Self; 3] = [Self::Okta, Self::Entra, Self::Other];

    pub fn from_user_agent(user_agent: Option<&str>) -> Self {
        let Some(agent) = user_agent.map(str::to_ascii_lowercase) else {
            return Self::Other;
        };
        if agent.contains("okta") {
            Self::Okta
        } else if agent.contains("azure") || agent.contains("microsoft") {
            Self::Entra
        } else {
            Self::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Okta => "okta",
            Self::Entra => "entra",
            Self::Other => "other",
        }
    }
}

/// Why a SCIM request was refused before its handler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …` header.
    MissingToken,
    /// A bearer credential that is not a SCIM token.
    MalformedToken,
    /// A well-formed token that no org holds (revoked, or never issued).
    UnknownToken,
    RateLimited,
    /// The org's licence does not include `scim`.
    NotEntitled,
    /// The kill switch (`SCIM_ENABLED=false`).
    Disabled,
}

impl AuthFailure {
    const ALL: [Self; 6] = [
        Self::MissingToken,
        Self::MalformedToken,
        Self::UnknownToken,
        Self::RateLimited,
        Self::NotEntitled,
        Self::Disabled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::MalformedToken => "malformed_token",
            Self::UnknownToken => "unknown_token",
            Self::RateLimited => "rate_limited",
            Self::NotEntitled => "not_entitled",
            Self::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProvisioningEvent {
    /// A new member, whose app account the service created.
    Created,
    /// A new member, whose app account existed (signed up before SCIM, or in another org).
    Adopted,
    Updated,
    Deactivated,
    Reactivated,
    Deleted,
    /// A member's role followed the owner group (OWNER or MEMBER).
    RoleChanged,
    /// A write answered 409.
    Conflict,
    /// A create or reactivation refused because every seat of the licence is taken.
    SeatCapRefused,
}

impl ProvisioningEvent {
    const ALL: [Self; 9] = [
        Self::Created,
        Self::Adopted,
        Self::Updated,
        Self::Deactivated,
        Self::Reactivated,
        Self::Deleted,
        Self::RoleChanged,
        Self::Conflict,
        Self::SeatCapRefused,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Adopted => "adopted",
            Self::Updated => "updated",
            Self::Deactivated => "deactivated",
            Self::Reactivated => "reactivated",
            Self::Deleted => "deleted",
            Self::RoleChanged => "role_changed",
            Self::Conflict => "conflict",
            Self::SeatCapRefused => "seat_cap_refused",
        }
    }
}

tokio::task_local! {
    static REQUEST: RequestEvents;
}

/// The events of one request, from its start to its answer.
#[derive(Clone)]
pub struct RequestEvents(Rc<Scope>);

struct Scope {
    metrics: Option<Arc<Metrics>>,
    changes: RefCell<Vec<MembershipChange>>,
    /// The request's new member has an app account that existed before.
    adopted: Cell<bool>,
}

struct MembershipChange {
    org_id: i32,
    user_id: String,
    token_name: String,
    action: AuditAction,
}

/// What [`RequestEvents::finish`] counts of a request.
pub struct FinishedRequest<'a> {
    /// The route pattern, `-` when no route matched.
    pub route: &'a str,
    pub method: &'a str,
    pub status: u16,
    pub latency: Duration,
    pub idp: IdpFamily,
    /// A request of the SCIM API (not a health probe): counted by IdP family.
    pub scim: bool,
}

impl RequestEvents {
    /// `metrics`: the server's recorder; `None` when `metrics.listen` is `off`.
    pub fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Self(Rc::new(Scope {
            metrics,
            changes: RefCell::new(Vec::new()),
            adopted: Cell::new(false),
        }))
    }

    /// Runs the request's future with these events as its scope.
    pub async fn run<F: Future>(&self, request: F) -> F::Output {
        REQUEST.scope(self.clone(), request).await
    }

    /// Counts the answered request; a successful one's membership changes were committed, and
    /// are counted and logged (in the caller's span) now.
    pub fn finish(self, request: &FinishedRequest<'_>) {
        let scope = &self.0;
        let changes = scope.changes.take();
        let succeeded = (200..300).contains(&request.status);
        let adopted = scope.adopted.get();
        if succeeded {
            for change in &changes {
                log_change(change, event_of(change.action, adopted));
            }
        }
        let Some(metrics) = &scope.metrics else {
            return;
        };
        metrics.with(|| {
            let route = request.route.to_owned();
            let method = method_label(request.method);
            counter!(REQUESTS, "route" => route.clone(), "method" => method, "status" => request.status.to_string())
                .increment(1);
            histogram!(REQUEST_DURATION, "route" => route, "method" => method)
                .record(request.latency.as_secs_f64());
            if request.scim {
                counter!(REQUESTS_BY_IDP, "idp" => request.idp.as_str()).increment(1);
            }
            if request.status == 409 {
                provisioning(ProvisioningEvent::Conflict);
            }
            if succeeded {
                for change in &changes {
                    if let Some(event) = event_of(change.action, adopted) {
                        provisioning(event);
                    }
                }
            }
        });
    }
}

/// Methods outside this list are one label value, so that invented methods cannot grow the
/// series.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

fn event_of(action: AuditAction, adopted: bool) -> Option<ProvisioningEvent> {
    match action {
        AuditAction::MemberAdded if adopted => Some(ProvisioningEvent::Adopted),
        AuditAction::MemberAdded => Some(ProvisioningEvent::Created),
        AuditAction::UserUpdated => Some(ProvisioningEvent::Updated),
        AuditAction::MemberDeactivated => Some(ProvisioningEvent::Deactivated),
        AuditAction::MemberReactivated => Some(ProvisioningEvent::Reactivated),
        AuditAction::MemberRemoved => Some(ProvisioningEvent::Deleted),
        AuditAction::MemberRoleChanged => Some(ProvisioningEvent::RoleChanged),
        AuditAction::MemberApprovalEnabled => None,
    }
}

fn provisioning(event: ProvisioningEvent) {
    counter!(PROVISIONING, "event" => event.as_str()).increment(1);
}

/// The audit line: who (the token), what (the `"Audit"` action), whom (user and org ids).
/// Never an address or a name: those are personal data.
fn log_change(change: &MembershipChange, event: Option<ProvisioningEvent>) {
    tracing::info!(
        audit.action = change.action.as_str(),
        provisioning.event = event.map_or("-", ProvisioningEvent::as_str),
        org.id = change.org_id,
        user.id = %change.user_id,
        token.name = %change.token_name,
        "membership changed"
    );
}

/// Counts with the current request's recorder, if any.
fn count(record: impl FnOnce()) {
    let _outside_a_request = REQUEST.try_with(|events| {
        if let Some(metrics) = &events.0.metrics {
            metrics.with(record);
        }
    });
}

/// A SCIM request was refused before its handler.
pub fn auth_refused(reason: AuthFailure) {
    count(|| counter!(AUTH_FAILURES, "reason" => reason.as_str()).increment(1));
}

/// A create or reactivation was refused by the licence's seat cap.
pub fn seat_cap_refused() {
    count(|| provisioning(ProvisioningEvent::SeatCapRefused));
}

/// The request's new member gets an app account that already existed.
pub fn account_adopted() {
    let _outside_a_request = REQUEST.try_with(|events| events.0.adopted.set(true));
}

/// A membership changed (an `"Audit"` row was written) in the current request's transaction.
/// Outside a request it is logged at once.
pub fn membership_changed(org_id: i32, token_name: &str, action: AuditAction, user_id: &str) {
    let change = MembershipChange {
        org_id,
        user_id: user_id.to_owned(),
        token_name: token_name.to_owned(),
        action,
    };
    let mut change = Some(change);
    let outside_a_request = REQUEST
        .try_with(|events| {
            if let Some(change) = change.take() {
                events.0.changes.borrow_mut().push(change);
            }
        })
        .is_err();
    if let (true, Some(change)) = (outside_a_request, change) {
        log_change(&change, event_of(change.action, false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idp_family_comes_from_the_user_agent() {
        for (agent, family) in [
            (Some("Okta SCIM Client 1.0.0"), IdpFamily::Okta),
            (Some("okta-scim/2.1"), IdpFamily::Okta),
            (
                Some("Microsoft Azure AD SCIM provisioning 1.0.0"),
                IdpFamily::Entra,
            ),
            (Some("Microsoft.IdentityManagement/1.0"), IdpFamily::Entra),
            (Some("curl/8.5.0"), IdpFamily::Other),
            (Some("CentralSync/2"), IdpFamily::Other),
            (None, IdpFamily::Other),
        ] {
            assert_eq!(IdpFamily::from_user_agent(agent), family, "{agent:?}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("get"), "other");
    }
}
