//! The operations server on port 0: probes answer, metrics render, a cancelled token stops it;
//! `run_service` drains within its bound.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::process::ExitCode;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use relbot_service::{
    run_service, Context, HttpServer, Metrics, Readiness, RuntimeSettings, ServiceConfig,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn probes_answer_metrics_render_and_cancel_stops_the_server() {
    let metrics = Metrics::new("relbot_test");
    let counter = Counter::<u64>::default();
    metrics.register(|r| r.register("things", "Things seen", counter.clone()));
    counter.inc_by(3);
    let ready = Readiness::default();
    let server = HttpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        metrics.clone(),
        ready.clone(),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let token = CancellationToken::new();
    let task = tokio::spawn(server.serve(token.clone()));

    assert_eq!(get(&format!("{base}/healthz")).await, (200, "ok\n".into()));
    assert_eq!(get(&format!("{base}/readyz")).await.0, 503);
    ready.set_ready();
    assert_eq!(
        get(&format!("{base}/readyz")).await,
        (200, "ready\n".into())
    );
    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(text.contains("relbot_test_things_total 3"), "{text}");
    assert_eq!(get(&format!("{base}/nothing")).await.0, 404);

    token.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops when its token is cancelled")
        .unwrap()
        .unwrap();
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Demo {
    runtime: RuntimeSettings,
}

impl ServiceConfig for Demo {
    const NAME: &'static str = "demo";
    const DEFAULT_TOML: &'static str = "[runtime]\n";
    fn runtime(&self) -> &RuntimeSettings {
        &self.runtime
    }
}

fn demo(drain: Duration) -> Demo {
    Demo {
        runtime: RuntimeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            drain_timeout: drain,
            ..RuntimeSettings::default()
        },
    }
}

#[tokio::test]
async fn run_service_stops_cleanly_when_the_service_drains() {
    let token = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let service = async move |_: Demo, ctx: Context| {
        ctx.ready.set_ready();
        let _ = tx.send(ctx.http_addr);
        ctx.shutdown.cancelled().await;
        Ok::<(), std::io::Error>(())
    };
    let run = tokio::spawn(run_service(
        demo(Duration::from_secs(5)),
        token.clone(),
        service,
    ));
    let addr = rx.await.unwrap();
    assert_eq!(get(&format!("http://{addr}/readyz")).await.0, 200);
    token.cancel();
    assert_eq!(run.await.unwrap(), ExitCode::SUCCESS);
}

#[tokio::test]
async fn run_service_fails_when_the_drain_times_out() {
    let token = CancellationToken::new();
    let service = async move |_: Demo, _ctx: Context| {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<(), std::io::Error>(())
    };
    let run = tokio::spawn(run_service(
        demo(Duration::from_millis(200)),
        token.clone(),
        service,
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    token.cancel();
    let code = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, ExitCode::from(relbot_service::EXIT_FAILURE));
}
