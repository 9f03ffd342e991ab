//! Producer and consumer throughput of `FlowRecord`s (Avro single-object encoding) through
//! the real local broker, with the settings every relbot service uses (`relbot-kafka`).
//!
//! `scripts/kafka start`, then `cargo bench -p relbot-e2e --bench kafka_throughput`
//! (`RELBOT_BENCH_FLOWS` sets the count, default 1,000,000). Prints records/s and MB/s of
//! payload for each direction; results go to docs/BENCHMARKS.md. Not a test: no assertion on
//! time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench with a broken setup stops loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message as _;
use rdkafka::producer::FutureRecord;
use relbot_codec::FlowCodec;
use relbot_e2e::flows;
use relbot_kafka::testing::TestBroker;
use relbot_kafka::{consumer, enqueue_with_backpressure, producer, ProduceStats, RebalanceContext};

const BENCH: &str = "kafka-throughput";
const PARTITIONS: i32 = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("RELBOT_BENCH_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let Some(broker) = TestBroker::connect(BENCH).await else {
        eprintln!("{BENCH}: no broker (scripts/kafka start)");
        return Ok(());
    };
    let topic = broker.create_topic(BENCH, PARTITIONS).await?;
    let config = broker.config(BENCH);
    let codec = FlowCodec::single_object();
    let flows = flows(n, 2_000);
    let encoded: Vec<(String, Vec<u8>)> = flows
        .iter()
        .map(|f| (f.src.to_string(), codec.to_vec(f).unwrap()))
        .collect();
    let payload_bytes: usize = encoded.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mb = payload_bytes as f64 / 1e6;

    let producer = producer(&config)?;
    let stats = Arc::new(ProduceStats::default());
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for (key, payload) in &encoded {
        let record = FutureRecord::to(&topic).key(key).payload(payload);
        pending.push_back(enqueue_with_backpressure(&producer, record, &stats).await?);
        // Keep the number of unawaited futures bounded; librdkafka batches underneath.
        if pending.len() > 100_000 {
            if let Some(d) = pending.pop_front() {
                d.wait().await?;
            }
        }
    }
    for d in pending {
        d.wait().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "produce: {n} records, {mb:.1} MB in {secs:.2} s = {:.0} records/s, {:.1} MB/s \
         (acks=all, idempotent, lz4)",
        n as f64 / secs,
        mb / secs
    );

    let (context, _events) = RebalanceContext::new();
    let consumer = consumer(&config, context)?;
    consumer.subscribe(&[&topic])?;
    let started = Instant::now();
    let mut decoded = 0usize;
    while decoded < n {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
        let flow = codec.decode(message.payload().unwrap_or_default())?;
        std::hint::black_box(flow);
        consumer.store_offset_from_message(&message)?;
        decoded += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "consume+decode: {n} records, {mb:.1} MB in {secs:.2} s = {:.0} records/s, {:.1} MB/s",
        n as f64 / secs,
        mb / secs
    );
    broker.delete_topic(&topic).await;
    Ok(())
}
