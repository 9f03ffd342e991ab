//! Reports per second to the `kafka` sink through the real local broker: each report built
//! (relbot's JSON document or an Avro `Report`), produced with the service's producer
//! settings (idempotent, `acks=all`) and delivered once the broker acknowledged it — one at a
//! time (as the reporter delivers per sink) and 64 in flight.
//!
//! `scripts/kafka start`, then `cargo bench -p relbot-reporter --bench kafka_sink`
//! (`RELBOT_BENCH_REPORTS` sets the count per run, default 2000). Prints reports/s; results
//! go to docs/BENCHMARKS.md. Not a test: no assertion on time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench with a broken setup stops loudly"
)]

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use relbot_codec::Detection;
use relbot_kafka::testing::TestBroker;
use relbot_kafka::{KafkaConfig, ProduceStats};
use relbot_report::testing::detection;
use relbot_report::{Outcome, ProtectionConfig, RetryPolicy};
use relbot_reporter::config::{KafkaSinkConfig, KafkaSinkFormat, SinkSettings};
use relbot_reporter::outputs::Output;
use tokio_util::sync::CancellationToken;

const BENCH: &str = "kafka-sink";

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

async fn deliver(output: &Output, d: &Detection, never: &CancellationToken) {
    let prepared = output.prepare(d).expect("a report");
    let outcome = output.deliver(&prepared, false, never, &()).await;
    assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
}

async fn run(config: &KafkaConfig, topic: &str, format: KafkaSinkFormat, ds: &[Detection]) {
    let producer = relbot_kafka::producer(config).expect("producer");
    let stats = Arc::new(ProduceStats::default());
    let settings = SinkSettings::Kafka(KafkaSinkConfig {
        topic: topic.to_owned(),
        format,
        protection: ProtectionConfig::default(),
        retry: RetryPolicy::default(),
    });
    let output = Output::build("siem", &settings, &producer, &stats).expect("kafka sink");
    let never = CancellationToken::new();
    // Warm-up: metadata, connections, producer id.
    deliver(&output, &ds[0], &never).await;

    let started = Instant::now();
    for d in ds {
        deliver(&output, d, &never).await;
    }
    let one = ds.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for batch in ds.chunks(64) {
        join_all(batch.iter().map(|d| deliver(&output, d, &never))).await;
    }
    let many = ds.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "kafka sink ({format:?}, linger {:?}): {} reports one at a time {one:.0}/s, 64 in flight {many:.0}/s",
        config.producer.linger,
        ds.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("RELBOT_BENCH_REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let Some(broker) = TestBroker::connect(BENCH).await else {
        eprintln!("{BENCH}: no broker (scripts/kafka start)");
        return;
    };
    let topic = broker.create_topic(BENCH, 3).await.expect("topic");
    let ds = detections(n);
    let config = broker.config(BENCH);
    run(&config, &topic, KafkaSinkFormat::Json, &ds).await;
    run(&config, &topic, KafkaSinkFormat::Avro, &ds).await;
    broker.delete_topic(&topic).await;
}
