//! Reports per second to the `jsonl` sink (a temporary file) and the `cch` sink (a local
//! CCH stand-in over loopback HTTP that parses the JSON and answers 201), building each
//! report (schema validation included) and delivering it; one at a time (as the reporter
//! delivers per sink) and 16 in flight.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark stops on the first failure"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::future::join_all;
use relbot_codec::Detection;
use relbot_report::testing::detection;
use relbot_report::{CchConfig, JsonlConfig, Sink, SinkConfig};

fn detections(n: usize) -> Vec<Detection> {
    (0..n)
        .map(|i| {
            detection(
                &format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                &[2, 1, 0, 3],
            )
        })
        .collect()
}

async fn deliver(sink: &Sink, d: &Detection) {
    let prepared = sink.prepare(d).expect("valid report");
    sink.attempt(&prepared).await.expect("delivered");
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ds = detections(4096);
    let mut group = c.benchmark_group("sink");

    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = SinkConfig::Jsonl(JsonlConfig::new(
        dir.path().join("r.jsonl").to_string_lossy(),
    ))
    .build("audit")
    .expect("jsonl sink");
    let mut i = 0usize;
    group.throughput(Throughput::Elements(1));
    group.bench_function("jsonl", |b| {
        b.iter(|| {
            i = (i + 1) % ds.len();
            rt.block_on(deliver(&jsonl, black_box(&ds[i])));
        })
    });

    let received = Arc::new(AtomicUsize::new(0));
    let addr = rt.block_on(async {
        let received = Arc::clone(&received);
        let app = Router::new().route(
            "/api/v2/reports",
            post(move |body: String| {
                let received = Arc::clone(&received);
                async move {
                    let ok = serde_json::from_str::<serde_json::Value>(&body).is_ok();
                    received.fetch_add(1, Ordering::Relaxed);
                    if ok {
                        (StatusCode::CREATED, "{\"id\":1}")
                    } else {
                        (StatusCode::BAD_REQUEST, "")
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    std::env::set_var("RELBOT_BENCH_CCH_KEY", "bench-key");
    let cch = SinkConfig::Cch(CchConfig::new(
        format!("http://{addr}"),
        "RELBOT_BENCH_CCH_KEY",
    ))
    .build("cch")
    .expect("cch sink");
    group.bench_function("cch", |b| {
        b.iter(|| {
            i = (i + 1) % ds.len();
            rt.block_on(deliver(&cch, black_box(&ds[i])));
        })
    });
    group.throughput(Throughput::Elements(16));
    group.bench_function("cch_16_in_flight", |b| {
        b.iter(|| {
            i = (i + 16) % (ds.len() - 16);
            let batch = &ds[i..i + 16];
            rt.block_on(join_all(batch.iter().map(|d| deliver(&cch, d))));
        })
    });
    group.finish();
    assert!(received.load(Ordering::Relaxed) > 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
