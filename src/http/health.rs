//! Liveness and readiness for the orchestrator; neither is authenticated or gated.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::db::schema_check;
use crate::provisioning::modes;
use crate::state::AppState;

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers and has every table and column the service needs. Read-only mode
/// (`readOnly`) is ready: it serves reads.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let reason = match state.pool.get().await {
        Err(error) => {
            tracing::warn!(error = %error, "readiness: database unreachable");
            "database unreachable"
        }
        Ok(mut conn) => match schema_check::check_schema(&mut conn).await {
            Ok(report) if report.is_ok() => {
                // The app may have been upgraded to its own SCIM release (or rolled back).
                let mode = match state.modes.refresh(&mut conn, false).await {
                    Ok(decision) => decision.mode,
                    Err(error) => {
                        tracing::warn!(error = %error, "readiness: the deprovisioning mode could not be refreshed");
                        state.modes.current()
                    }
                };
                return HttpResponse::Ok().json(json!({
                    "status": "ready",
                    "deprovisionMode": modes::mode_name(mode),
                    "readOnly": state.read_only,
                }));
            }
            Ok(report) => {
                tracing::warn!(problems = %report.describe(), "readiness: schema incomplete");
                "database schema incomplete"
            }
            Err(error) => {
                tracing::warn!(error = %error, "readiness: schema check failed");
                "database unreachable"
            }
        },
    };
    HttpResponse::ServiceUnavailable().json(json!({
        "status": "unavailable",
        "reason": reason,
        "readOnly": state.read_only,
    }))
}
