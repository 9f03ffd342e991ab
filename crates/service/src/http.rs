//! The operations server: `/metrics` (Prometheus text), `/healthz` (the process is alive and
//! serving) and `/readyz` (the service said it is ready: 200, else 503).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;
use crate::metrics::Metrics;

/// Content type of the Prometheus text format (OpenMetrics, as `prometheus-client` writes it).
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The ready flag a service sets once it can do its work (and clears while draining).
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the service ready (`/readyz` answers 200).
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Marks the service not ready (`/readyz` answers 503).
    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// The current flag.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    ready: Readiness,
}

/// A bound operations server; [`serve`](Self::serve) it until a token is cancelled.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    metrics: Metrics,
    ready: Readiness,
}

impl HttpServer {
    /// Listens on `addr` (port 0 picks a free port).
    pub async fn bind(
        addr: SocketAddr,
        metrics: Metrics,
        ready: Readiness,
    ) -> Result<Self, ServiceError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServiceError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServiceError::Bind { addr, source })?;
        Ok(Self {
            listener,
            local_addr,
            metrics,
            ready,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves the three endpoints until `shutdown` is cancelled, then finishes the open
    /// requests and returns.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(AppState {
                metrics: self.metrics,
                ready: self.ready,
            });
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(ServiceError::Serve)
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        state.metrics.render(),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ready.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
