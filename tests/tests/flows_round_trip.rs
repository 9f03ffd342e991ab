//! 100,000 flows through a real broker: nothing lost, nothing changed, each host in one
//! partition, and that partition is the one Java's producer would have chosen.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use rdkafka::consumer::Consumer as _;
use rdkafka::message::Message as _;
use rdkafka::producer::FutureRecord;
use relbot_codec::FlowCodec;
use relbot_e2e::{flows, java_partitions, BASE_MS};
use relbot_kafka::testing::TestBroker;
use relbot_kafka::{consumer, enqueue_with_backpressure, producer, ProduceStats, RebalanceContext};

const TEST: &str = "flows-round-trip";
const FLOWS: usize = 100_000;
const HOSTS: u32 = 20_000;
const PARTITIONS: i32 = 3;
const JAVA_SAMPLE: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_round_trip_keyed_by_host_where_java_would_put_them() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let topic = broker.create_topic(TEST, PARTITIONS).await?;
    let config = broker.config(TEST);
    // Payloads as the services write them: Avro single-object encoding.
    let codec = FlowCodec::single_object();
    let flows = flows(FLOWS, HOSTS);

    // Produce everything, keyed by the host's address as text, many records in flight.
    let started = Instant::now();
    let producer = producer(&config)?;
    let stats = Arc::new(ProduceStats::default());
    let mut pending = Vec::with_capacity(FLOWS);
    for flow in &flows {
        let key = flow.src.to_string();
        let payload = codec.to_vec(flow)?;
        let record = FutureRecord::to(&topic).key(&key).payload(&payload);
        pending.push(enqueue_with_backpressure(&producer, record, &stats).await?);
    }
    let mut placed: HashMap<String, i32> = HashMap::new();
    for (flow, delivery) in flows.iter().zip(pending) {
        let delivered = delivery.wait().await?;
        let partition = *placed
            .entry(flow.src.to_string())
            .or_insert(delivered.partition);
        ensure!(
            partition == delivered.partition,
            "host {} written to two partitions",
            flow.src
        );
    }
    ensure!(
        stats.delivered() == FLOWS as u64 && stats.dropped() == 0,
        "{stats:?}"
    );
    ensure!(placed.len() == HOSTS as usize);
    eprintln!("{TEST}: produced {FLOWS} flows in {:?}", started.elapsed());

    // Consume everything back: each flow exactly once, equal to what was sent, in its key's
    // partition, and per host in the order it was produced.
    let started = Instant::now();
    let (context, _events) = RebalanceContext::new();
    let consumer = consumer(&config, context)?;
    consumer.subscribe(&[&topic])?;
    let mut seen = vec![false; FLOWS];
    let mut last_of_host: HashMap<String, i64> = HashMap::new();
    let mut per_partition = [0_usize; PARTITIONS as usize];
    let deadline = Instant::now() + Duration::from_secs(90);
    for _ in 0..FLOWS {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(remaining, consumer.recv())
            .await
            .with_context(|| {
                format!(
                    "only {} of {FLOWS} flows came back",
                    seen.iter().filter(|s| **s).count()
                )
            })??;
        let key = std::str::from_utf8(message.key().context("record without key")?)?.to_owned();
        let flow = codec.decode(message.payload().context("record without payload")?)?;
        let i = usize::try_from(flow.start_ms - BASE_MS)?;
        ensure!(
            i < FLOWS && !seen[i],
            "flow {i} came back twice or was never sent"
        );
        seen[i] = true;
        ensure!(
            flow == flows[i],
            "flow {i} changed on the way:\n{:?}\n{:?}",
            flows[i],
            flow
        );
        ensure!(
            key == flow.src.to_string(),
            "flow {i} has key {key}, host {}",
            flow.src
        );
        ensure!(
            placed[&key] == message.partition(),
            "host {key} read from another partition"
        );
        let last = last_of_host.insert(key.clone(), flow.start_ms);
        ensure!(
            last.is_none_or(|l| l < flow.start_ms),
            "host {key}: flows out of order"
        );
        per_partition[message.partition() as usize] += 1;
        consumer.store_offset_from_message(&message)?;
    }
    eprintln!(
        "{TEST}: consumed {FLOWS} flows in {:?}, per partition {per_partition:?}",
        started.elapsed()
    );
    ensure!(
        per_partition.iter().all(|&n| n > FLOWS / 5),
        "skewed partitions {per_partition:?}"
    );

    // Java's murmur2 on a sample of keys agrees with where librdkafka put them.
    let mut keys: Vec<String> = placed.keys().cloned().collect();
    keys.sort();
    let step = keys.len() / JAVA_SAMPLE;
    let sample: Vec<String> = keys.into_iter().step_by(step).take(JAVA_SAMPLE).collect();
    let java = java_partitions(&sample, PARTITIONS as u32)?;
    let disagree: Vec<_> = sample
        .iter()
        .zip(&java)
        .filter(|(key, java)| placed[*key] != **java)
        .map(|(key, java)| format!("{key}: relbot {} java {java}", placed[key]))
        .collect();
    ensure!(
        disagree.is_empty(),
        "partitioner differs from Java for {} keys: {disagree:?}",
        disagree.len()
    );
    ensure!(
        sample.iter().any(|k| k.contains(':')),
        "the sample should hold IPv6 keys too"
    );

    drop(consumer);
    broker.delete_topic(&topic).await;
    Ok(())
}
