//! `GET /metrics` on the metrics listener (`metrics.listen`): Prometheus' text format, with the
//! pool and the licence sampled at the scrape.

use actix_web::{web, HttpResponse};

use crate::auth::ScimAccess;
use crate::license::{self, LicenseClaims};
use crate::metrics::{LicenseSample, Sample};
use crate::state::AppState;

/// Version 0.0.4 of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(render_metrics))
        .default_service(web::to(HttpResponse::NotFound));
}

async fn render_metrics(state: web::Data<AppState>, access: web::Data<ScimAccess>) -> HttpResponse {
    let Some(metrics) = &state.metrics else {
        return HttpResponse::NotFound().finish();
    };
    let sample = Sample {
        pool: state.pool.status(),
        license: license_sample(access.gate.license_key(), license::now_ms()),
        read_only: state.read_only,
    };
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render(&sample))
}

fn license_sample(key: Option<&LicenseClaims>, now_ms: i64) -> LicenseSample {
    match key {
        None => LicenseSample::None,
        Some(claims) if claims.grants_scim(now_ms) => LicenseSample::Valid {
            expires_at: claims.exp,
        },
        Some(claims) => LicenseSample::Expired {
            expires_at: claims.exp,
        },
    }
}
