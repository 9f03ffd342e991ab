//! A webhook receiver for end-to-end tests: a real HTTP server (axum) on a loopback port that
//! records every POST (headers, body, arrival time) and answers from a per-host script — e.g.
//! 429 with `Retry-After` first, then 200 — so a test can check signatures, bodies and the
//! sink's retry behaviour. The host is read from the body's `host` field; hosts without a
//! script get 200.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;

/// One answer of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` seconds, if any.
    pub retry_after: Option<u64>,
    /// Response body.
    pub body: String,
}

impl Answer {
    /// An answer with `status` and `body`.
    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            retry_after: None,
            body: body.to_owned(),
        }
    }

    /// 429 Too Many Requests with `Retry-After: seconds`.
    pub fn too_many(seconds: u64) -> Self {
        Self {
            status: 429,
            retry_after: Some(seconds),
            body: "slow down".to_owned(),
        }
    }
}

/// One POST received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its headers (names lowercase).
    pub headers: HashMap<String, String>,
    /// Its body.
    pub body: Vec<u8>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
    received: Mutex<Vec<Received>>,
}

/// A running receiver; stops when dropped.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("url", &self.url)
            .finish()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::default());
        let tcp = TcpListener::bind("127.0.0.1:0").await?;
        let port = tcp.local_addr()?.port();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(tcp, app).await;
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            shared,
            task,
        })
    }

    /// The answers for reports of `host`, in order; after them, 200.
    pub fn script(&self, host: &str, answers: Vec<Answer>) {
        self.shared
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_owned(), answers.into());
    }

    /// Every POST received, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let at = Instant::now();
    let host = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("host").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let answer = shared
        .script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(&host)
        .and_then(VecDeque::pop_front)
        .unwrap_or_else(|| Answer::status(200, "ok"));
    shared
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Received {
            at,
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
            status: answer.status,
        });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match answer.retry_after {
        Some(seconds) => (
            status,
            [(header::RETRY_AFTER, seconds.to_string())],
            answer.body,
        )
            .into_response(),
        None => (status, answer.body).into_response(),
    }
}
