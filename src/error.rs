//! The one error type of HTTP handlers. Every failure is mapped to an RFC 7644 error envelope
//! here and nowhere else; server-side failures are logged here, once, with their cause chain,
//! and the client sees only a fixed sentence.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use tokio_postgres::error::SqlState;

use crate::db::{self, PoolError};
use crate::scim::{ScimError, ScimType, SCIM_MEDIA_TYPE};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A protocol error meant for the client, worded by the SCIM layer.
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("authentication failed")]
    Unauthorized,
    #[error("SCIM provisioning is disabled")]
    Disabled,
    #[error("the org is not entitled to SCIM")]
    NotEntitled,
    /// The token sent more requests than `server.rate_limit_*` allow; it may retry after this.
    #[error("rate limit exceeded")]
    RateLimited { retry_after: Duration },
    /// A write while `server.read_only` is set.
    #[error("the service is read-only")]
    ReadOnly,
    /// The request ran past `server.request_deadline_ms`; its work was abandoned.
    #[error("the request deadline passed")]
    DeadlinePassed,
    /// A failed statement, with its SQLSTATE when the request's connection told it
    /// ([`ApiError::with_sqlstate_of`]): diesel-async reports most codes as `Unknown`.
    #[error("database error")]
    Database(#[source] DieselError, Option<SqlState>),
    #[error("database pool error")]
    Pool(#[from] PoolError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

const INTERNAL_DETAIL: &str = "An internal error occurred; it has been logged.";
const UNAVAILABLE_DETAIL: &str = "The service is temporarily unavailable; retry later.";
const CONCURRENT_DETAIL: &str = "A concurrent request changed the same resource; retry.";
const READ_ONLY_DETAIL: &str =
    "The service is read-only for maintenance; reads are served, writes are refused. Retry later.";
/// Maintenance windows last minutes: a client that honours `Retry-After` comes back once a
/// minute rather than every second.
const READ_ONLY_RETRY_AFTER_SECS: u32 = 60;

/// What a database error means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DbFailure {
    NotFound,
    Uniqueness,
    /// Deadlock or serialization failure: the transaction was rolled back; a retry may pass.
    Concurrent,
    /// Lock or statement timeout, or a cancelled statement: the database is busy.
    Busy,
    /// The connection died (terminated backend, restart, network).
    ConnectionLost,
    /// Anything else: a fault of the service or its database.
    Other,
}

/// Classifies by SQLSTATE, whatever language PostgreSQL's messages are in, and by diesel's
/// kind where there is no code (a closed socket, or an error that did not pass through
/// [`ApiError::with_sqlstate_of`]: only the eight codes diesel-async maps are told apart then).
fn classify(error: &DieselError, sqlstate: Option<&SqlState>) -> DbFailure {
    if db::is_connection_lost(error, sqlstate)
        || matches!(error, DieselError::BrokenTransactionManager)
    {
        return DbFailure::ConnectionLost;
    }
    match (error, sqlstate) {
        (DieselError::NotFound, _) => DbFailure::NotFound,
        (DieselError::DatabaseError(_, _), Some(code)) => match code.code() {
            "23505" => DbFailure::Uniqueness,
            // Serialization failure, deadlock: the transaction was rolled back.
            "40001" | "40P01" => DbFailure::Concurrent,
            // Lock timeout or NOWAIT; statement timeout or cancel request.
            "55P03" | "57014" => DbFailure::Busy,
            _ => DbFailure::Other,
        },
        (DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _), None) => {
            DbFailure::Uniqueness
        }
        (DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _), None) => {
            DbFailure::Concurrent
        }
        _ => DbFailure::Other,
    }
}

/// How loudly a failure is logged: ERROR only when the service or its database failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    /// The client's doing (4xx, 501): the request's own log line says enough.
    Client,
    /// Busy or briefly unavailable, recovering by itself: WARN.
    Degraded,
    /// The service or its database failed: ERROR.
    Fault,
}

impl ApiError {
    /// The client-facing error.
    fn to_scim(&self) -> ScimError {
        match self {
            ApiError::Scim(error) => error.clone(),
            ApiError::Unauthorized => ScimError::unauthorized(),
            ApiError::Disabled => ScimError::forbidden("SCIM provisioning is disabled"),
            ApiError::NotEntitled => ScimError::forbidden(
                "This organization's licence does not include SCIM provisioning.",
            ),
            ApiError::RateLimited { .. } => {
                ScimError::new(429, None, "Too many requests with this token; retry later.")
            }
            ApiError::DeadlinePassed => ScimError::new(503, None, UNAVAILABLE_DETAIL),
            ApiError::ReadOnly => ScimError::new(503, None, READ_ONLY_DETAIL),
            ApiError::Database(error, sqlstate) => match classify(error, sqlstate.as_ref()) {
                DbFailure::NotFound => ScimError::not_found("Resource not found."),
                DbFailure::Uniqueness => {
                    ScimError::conflict("The resource conflicts with an existing one.")
                }
                DbFailure::Concurrent => ScimError::new(409, None, CONCURRENT_DETAIL),
                DbFailure::Busy | DbFailure::ConnectionLost => {
                    ScimError::new(503, None, UNAVAILABLE_DETAIL)
                }
                DbFailure::Other => ScimError::new(500, None, INTERNAL_DETAIL),
            },
            ApiError::Pool(_) => ScimError::new(503, None, UNAVAILABLE_DETAIL),
            ApiError::Internal(_) => ScimError::new(500, None, INTERNAL_DETAIL),
        }
    }

    /// The request's connection died under it: nothing it had not committed was kept, and a
    /// read may run again on a fresh connection.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, ApiError::Database(error, sqlstate)
            if classify(error, sqlstate.as_ref()) == DbFailure::ConnectionLost)
    }

    /// This error, with the SQLSTATE of `conn` when it is a database error from `conn` that
    /// does not carry one yet. Called where a request's connection and its outcome meet.
    pub fn with_sqlstate_of(self, conn: &mut AsyncPgConnection) -> Self {
        match self {
            ApiError::Database(error @ DieselError::DatabaseError(..), None) => {
                let sqlstate = db::sqlstate::last_sqlstate(conn);
                ApiError::Database(error, sqlstate)
            }
            other => other,
        }
    }

    fn severity(&self) -> Severity {
        match self {
            ApiError::Database(error, sqlstate) => match classify(error, sqlstate.as_ref()) {
                DbFailure::Other => Severity::Fault,
                DbFailure::Busy | DbFailure::ConnectionLost => Severity::Degraded,
                DbFailure::NotFound | DbFailure::Uniqueness | DbFailure::Concurrent => {
                    Severity::Client
                }
            },
            // All connections busy: the database is slow, not gone.
            ApiError::Pool(deadpool::managed::PoolError::Timeout(
                deadpool::managed::TimeoutType::Wait,
            )) => Severity::Degraded,
            // No connection could be opened: the database is down or refuses the service.
            ApiError::Pool(_) | ApiError::Internal(_) => Severity::Fault,
            ApiError::DeadlinePassed => Severity::Degraded,
            // Asked for by the operator; each refusal has its request line.
            ApiError::ReadOnly => Severity::Client,
            ApiError::Scim(_)
            | ApiError::Unauthorized
            | ApiError::Disabled
            | ApiError::NotEntitled
            | ApiError::RateLimited { .. } => Severity::Client,
        }
    }

    fn cause(&self) -> String {
        match self {
            ApiError::Database(e, Some(sqlstate)) => {
                format!("{} (SQLSTATE {})", cause_chain(e), sqlstate.code())
            }
            ApiError::Database(e, None) => cause_chain(e),
            ApiError::Pool(e) => cause_chain(e),
            ApiError::Internal(e) => format!("{e:#}"),
            other => other.to_string(),
        }
    }
}

/// The causes of an error, outermost first, for the log.
fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.to_scim().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let scim = self.to_scim();
        match self.severity() {
            Severity::Fault => {
                tracing::error!(error.cause = %self.cause(), http.status = scim.status, "request failed");
            }
            Severity::Degraded => {
                tracing::warn!(error.cause = %self.cause(), http.status = scim.status, "request refused: the database is busy or unavailable");
            }
            Severity::Client => {}
        }
        let mut response = scim_error_response(&scim);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after } => {
                // Whole seconds, rounded up: a client retrying after it finds a token.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            ApiError::ReadOnly => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(READ_ONLY_RETRY_AFTER_SECS),
                );
            }
            _ if scim.status == 503 => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Renders a SCIM error envelope with `application/scim+json`.
pub fn scim_error_response(error: &ScimError) -> HttpResponse {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(SCIM_MEDIA_TYPE)
        .json(error.envelope())
}

/// Malformed JSON bodies become 400 `invalidSyntax` (RFC 7644 §3.12). Size and media type are
/// checked before the body is read (`http::body`); the extractor's own checks answer alike.
pub fn json_body_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    let error = match &error {
        JsonPayloadError::ContentType => ScimError::new(415, None, UNSUPPORTED_MEDIA_TYPE_DETAIL),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ScimError::new(413, None, TOO_LARGE_DETAIL)
        }
        // serde's message names the position and the expected shape, never internals.
        JsonPayloadError::Deserialize(inner) => ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("The request body is not valid: {inner}."),
        ),
        _ => ScimError::bad_request(
            ScimType::InvalidSyntax,
            "The request body could not be read.",
        ),
    };
    ApiError::Scim(error)
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        ApiError::Database(error, None)
    }
}

pub const UNSUPPORTED_MEDIA_TYPE_DETAIL: &str =
    "The request body must be application/scim+json or application/json, in UTF-8.";
pub const TOO_LARGE_DETAIL: &str = "The request body is too large.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_are_conflicts_and_unknown_failures_hide_their_cause() {
        let info = || Message("duplicate key value violates unique constraint \"User_email_key\"");
        let unique = ApiError::from(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(info()),
        ));
        let scim = unique.to_scim();
        assert_eq!(
            (scim.status, scim.scim_type),
            (409, Some(ScimType::Uniqueness))
        );
        assert!(!scim.detail.contains("User_email_key"));

        let other = ApiError::from(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(info()),
        ));
        assert_eq!(other.to_scim().status, 500);
        assert_eq!(other.to_scim().detail, INTERNAL_DETAIL);
    }

    /// What PostgreSQL said, as diesel reports it.
    struct Message(&'static str);
    impl diesel::result::DatabaseErrorInformation for Message {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    /// A database error as diesel-async reports one whose SQLSTATE it does not map, with the
    /// code the connection read off the wire.
    fn unknown(message: &'static str, code: Option<&str>) -> ApiError {
        ApiError::Database(
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(Message(message))),
            code.map(SqlState::from_code),
        )
    }

    #[test]
    fn postgres_error_classes_map_to_their_answers_by_sqlstate() {
        // Messages as a French-speaking server words them: only the code is read.
        for (code, message, status, lost) in [
            ("40P01", "interblocage détecté", 409, false),
            ("40001", "n'a pas pu sérialiser un accès", 409, false),
            (
                "57014",
                "annulation de la requête à cause du délai",
                503,
                false,
            ),
            ("55P03", "n'a pas pu obtenir un verrou", 503, false),
            (
                "57P01",
                "arrêt des connexions suite à la demande",
                503,
                true,
            ),
            ("57P05", "fin de la connexion", 503, true),
            (
                "25P03",
                "fin de la connexion inactive en transaction",
                503,
                true,
            ),
            ("08006", "échec de la connexion", 503, true),
            ("22021", "séquence d'octets invalide", 500, false),
        ] {
            let error = unknown(message, Some(code));
            assert_eq!(error.to_scim().status, status, "{code}");
            assert_eq!(error.is_connection_lost(), lost, "{code}");
        }
        // Without a code the English text means nothing either: the kind alone decides.
        for message in [
            "deadlock detected",
            "canceling statement due to statement timeout",
            "terminating connection due to administrator command",
        ] {
            let error = unknown(message, None);
            assert_eq!(error.to_scim().status, 500, "{message}");
            assert!(!error.is_connection_lost(), "{message}");
        }
        // A closed socket has no code; a stale one from an earlier error changes nothing.
        for stale in [None, Some("23505")] {
            let closed = ApiError::Database(
                DieselError::DatabaseError(
                    DatabaseErrorKind::UnableToSendCommand,
                    Box::new("connection closed".to_owned()),
                ),
                stale.map(SqlState::from_code),
            );
            assert!(closed.is_connection_lost());
        }
        let closed = ApiError::from(DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        ));
        let response = closed.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }

    #[test]
    fn rate_limited_answers_429_with_whole_seconds_to_wait() {
        let response = ApiError::RateLimited {
            retry_after: Duration::from_millis(1200),
        }
        .error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let response = ApiError::Unauthorized.error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            SCIM_MEDIA_TYPE
        );
    }
}
