//! A stand-in for the ACDC Central Clearing House API v2, over HTTPS with a test CA:
//! `POST /api/v2/reports` (token auth, schema validation against
//! `schemas/cch-report.schema.json`, 201 with an id) and `GET /api/v2/reports` (the stored
//! reports, filtered by any top-level field given as a query parameter). It counts every
//! report it stored, and can be switched into outage modes: 503, or hanging (with or without
//! storing the report first, as a server that times out after committing would).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::pki::TestPki;

/// How the stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Normally.
    Normal,
    /// 503 Service Unavailable to everything (nothing stored).
    Unavailable,
    /// Never answers; with `store`, a POST's report is stored before hanging.
    Hang {
        /// Store POSTed reports before hanging.
        store: bool,
    },
}

struct Shared {
    key: String,
    mode: Mutex<Mode>,
    delay_ms: AtomicU64,
    reports: Mutex<Vec<Value>>,
    requests: AtomicUsize,
    lookups: AtomicUsize,
    unauthorized: AtomicUsize,
    validator: jsonschema::Validator,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running stand-in; stops when dropped.
pub struct CchStandIn {
    /// `https://localhost:<port>`.
    pub url: String,
    /// The CA that signed its certificate.
    pub pki: TestPki,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CchStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CchStandIn")
            .field("url", &self.url)
            .finish()
    }
}

impl Drop for CchStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(tcp)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl CchStandIn {
    /// Starts a stand-in on a free loopback port accepting the API key `key`.
    pub async fn start(key: &str) -> anyhow::Result<Self> {
        let pki = TestPki::new()?;
        let schema: Value =
            serde_json::from_str(include_str!("../../schemas/cch-report.schema.json"))?;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| anyhow::anyhow!("schema: {e}"))?;
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            mode: Mutex::new(Mode::Normal),
            delay_ms: AtomicU64::new(0),
            reports: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            lookups: AtomicUsize::new(0),
            unauthorized: AtomicUsize::new(0),
            validator,
        });
        let tcp = TcpListener::bind("127.0.0.1:0").await?;
        let port = tcp.local_addr()?.port();
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(pki.server_config()?),
        };
        let app = Router::new()
            .route("/api/v2/reports", post(create).get(list))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("https://localhost:{port}"),
            pki,
            shared,
            task,
        })
    }

    /// Switches the answer mode.
    pub fn set_mode(&self, mode: Mode) {
        *self
            .shared
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Delays every normal POST answer by `delay` (after storing the report).
    pub fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Every stored report, in arrival order.
    pub fn reports(&self) -> Vec<Value> {
        self.shared
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How often each distinct report (as JSON text) was stored.
    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.reports() {
            *counts.entry(r.to_string()).or_default() += 1;
        }
        counts
    }

    /// Requests received (any method, any answer).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// `GET /api/v2/reports` requests (look-ups) received.
    pub fn lookups(&self) -> usize {
        self.shared.lookups.load(Ordering::Relaxed)
    }

    /// Requests refused with 401.
    pub fn unauthorized(&self) -> usize {
        self.shared.unauthorized.load(Ordering::Relaxed)
    }
}

/// Checks `Authorization: Token token="KEY"`.
fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = format!("Token token=\"{}\"", shared.key);
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn hang() -> Response {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    StatusCode::GATEWAY_TIMEOUT.into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "maintenance",
    )
        .into_response()
}

async fn create(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if !authorised(&shared, &headers) {
        shared.unauthorized.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, "invalid API token").into_response();
    }
    let mode = shared.mode();
    if mode == Mode::Unavailable {
        return unavailable();
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Ok(report) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not JSON").into_response();
    };
    if !is_json {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON expected").into_response();
    }
    let errors: Vec<String> = shared
        .validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, errors.join("; ")).into_response();
    }
    let id = {
        let mut reports = shared
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if mode == (Mode::Hang { store: false }) {
            drop(reports);
            return hang().await;
        }
        reports.push(report);
        reports.len()
    };
    if let Mode::Hang { .. } = mode {
        return hang().await;
    }
    let delay = shared.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response()
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(filter): Query<HashMap<String, String>>,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    shared.lookups.fetch_add(1, Ordering::Relaxed);
    if !authorised(&shared, &headers) {
        shared.unauthorized.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, "invalid API token").into_response();
    }
    match shared.mode() {
        Mode::Unavailable => return unavailable(),
        Mode::Hang { .. } => return hang().await,
        Mode::Normal => {}
    }
    let reports = shared
        .reports
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let matching: Vec<Value> = reports
        .iter()
        .filter(|r| {
            filter.iter().all(|(k, v)| match r.get(k) {
                Some(Value::String(s)) => s == v,
                Some(other) => v.as_str() == other.to_string().as_str(),
                None => false,
            })
        })
        .cloned()
        .collect();
    Json(matching).into_response()
}
