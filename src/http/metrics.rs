//! Prometheus metrics: request counts and latency per route and status, pool usage and the
//! statements the pool's connections sent (and prepared into their statement caches).
//! The registry belongs to the application state (no global registry).

use crate::db::Pool;
use crate::db::statements::StatementCounts;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;
use std::time::Instant;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    statements: IntCounter,
    prepared: IntCounter,
    /// Held while the statement counters catch up, so two scrapes do not both add.
    catching_up: std::sync::Mutex<()>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("procura".into()), None)?;
        let labels = &["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            labels,
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Database connections open")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Database connections idle")?;
        let pool_max = IntGauge::new("db_pool_max_size", "Most database connections allowed")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        let statements = IntCounter::new(
            "db_statements_total",
            "Statements sent to the database (transaction control included)",
        )?;
        let prepared = IntCounter::new(
            "db_statements_prepared_total",
            "Statements prepared into a connection's statement cache",
        )?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(statements.clone()))?;
        registry.register(Box::new(prepared.clone()))?;
        Ok(Self {
            statements,
            prepared,
            catching_up: std::sync::Mutex::new(()),
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            pool_max,
        })
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition, with pool gauges and statement counts read at this moment.
    pub fn render(
        &self,
        pool: &Pool,
        statements: &StatementCounts,
    ) -> Result<String, prometheus::Error> {
        // Counters only go up: add what was counted since the last exposition.
        let _one_at_a_time = self
            .catching_up
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (counter, now) in [
            (&self.statements, statements.sent()),
            (&self.prepared, statements.prepared()),
        ] {
            counter.inc_by(now.saturating_sub(counter.get()));
        }
        let state = pool.state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_max.set(i64::from(pool.max_size()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

pub async fn observe(
    metrics: Arc<Metrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    // The route pattern, not the path: bounded label values, and no personal data.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    metrics.record(
        &method,
        &route,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    Ok(res)
}
