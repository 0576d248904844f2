//! Operations endpoints: liveness, readiness, metrics.

use crate::AppState;
use crate::db::{self, DbError, migrate};
use crate::error::{ApiError, ProblemKind};
use actix_web::{HttpResponse, web};
use chrono::Duration;
use serde_json::{Value, json};

/// The process is up and serving HTTP. Checks nothing else, so a database outage does not
/// get healthy instances restarted.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve: database reachable, migrations applied, signing keys loaded.
/// 503 problem+json naming the failing checks otherwise.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let database = db::run(&state.db, |conn| {
        let pending = migrate::has_pending(conn)?;
        Ok::<_, DbError>(pending)
    })
    .await;
    let (database, migrations) = match database {
        Ok(false) => (ok(), ok()),
        Ok(true) => (
            ok(),
            failed("migrations are pending: run `procura migrate`"),
        ),
        // The cause (host, user, driver message) goes to the log, not to any caller.
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            let reason = match e {
                DbError::Pool(_) => "no database connection could be had in time",
                _ => "the database query failed",
            };
            (
                failed(reason),
                failed("unknown: the database is unreachable"),
            )
        }
    };
    let now = state.clock.now();
    let max_jwt_ttl = i64::try_from(state.config.oauth.longest_jwt_ttl_secs())
        .ok()
        .and_then(Duration::try_seconds)
        .unwrap_or(Duration::MAX);
    let signing_keys = json!({
        "status": "ok",
        "active_kid": state.keys.signing_key(now).kid,
        "published": state.keys.published_count(now, max_jwt_ttl),
    });
    let checks = json!({
        "database": database,
        "migrations": migrations,
        "signing_keys": signing_keys,
    });
    let failing: Vec<&str> = checks
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v["status"] != "ok")
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default();
    if failing.is_empty() {
        Ok(HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks })))
    } else {
        Err(ApiError::new(
            ProblemKind::NotReady,
            format!("Not ready: {} failing.", failing.join(", ")),
        )
        .with_extensions(json!({ "checks": checks })))
    }
}

fn ok() -> Value {
    json!({ "status": "ok" })
}

fn failed(reason: &str) -> Value {
    json!({ "status": "failed", "reason": reason })
}

pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render(&state.db, &state.db_statements)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
