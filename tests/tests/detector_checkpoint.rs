//! `detector.checkpoint_interval` through the real broker, with in-process replicas:
//! - with a long interval, nothing reaches the changelog and no offset is committed while a
//!   replica works through several batches; its shutdown (the SIGTERM drain) writes every
//!   changed host exactly once, then each partition's clock, and commits the offsets, and the
//!   changelog counts every flow exactly once. With "0s" the changelog is written (and offsets
//!   committed) as the batches go;
//! - a second replica joining the group takes partitions over from a checkpoint the first
//!   writes in its revoke hook: it restores their state and replays no record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use relbot_detector::changelog::Changelog;
use relbot_detector::DetectorConfig;
use relbot_e2e::detector::{
    covering_engine, load_config, produce_flows, spawn_in_process, DetectorTopics,
};
use relbot_e2e::reporter::free_port;
use relbot_e2e::service_process::http_get;
use relbot_e2e::{host, BASE_MS};
use relbot_engine::Engine;
use relbot_flow::FlowRecord;
use relbot_kafka::testing::TestBroker;
use relbot_kafka::ClientLog;
use relbot_service::CancellationToken;
use tokio::task::JoinHandle;

const TEST: &str = "detector-checkpoint";
const PARTITIONS: i32 = 4;
const HOSTS: u32 = 40;
const CHUNKS: usize = 5;

/// Two hours of flows: every host contacts three peers every 10 minutes (each host changes
/// in every chunk), in start-time order.
fn flows() -> Vec<FlowRecord> {
    let mut flows = Vec::new();
    for h in 0..HOSTS {
        for peer in 0..3_u8 {
            let dst = IpAddr::V4(Ipv4Addr::new(203, 0, 113, peer));
            for k in 0..12_i64 {
                let t = BASE_MS + k * 600_000 + i64::from(h) * 1_000 + i64::from(peer) * 7;
                flows.push(FlowRecord::from_triple(t, host(h), dst));
            }
        }
    }
    flows.sort_by_key(|f| (f.start_ms, f.src, f.dst));
    flows
}

/// A detector with `interval`, no idle flush (only checkpoints write the changelog).
fn config(
    broker: &TestBroker,
    topics: &DetectorTopics,
    dir: &std::path::Path,
    name: &str,
    port: u16,
    interval: &str,
) -> anyhow::Result<DetectorConfig> {
    let toml = topics
        .toml(
            &broker.brokers,
            &format!("127.0.0.1:{port}"),
            &covering_engine("10m"),
            "",
        )
        .replace(
            "idle_flush = \"4s\"",
            &format!("idle_flush = \"0s\"\ncheckpoint_interval = \"{interval}\""),
        );
    load_config(dir, name, &toml)
}

/// An in-process replica and the address of its metrics.
struct Replica {
    shutdown: CancellationToken,
    task: JoinHandle<ExitCode>,
    metrics: String,
}

impl Replica {
    fn start(config: DetectorConfig, port: u16) -> Self {
        let shutdown = CancellationToken::new();
        let task = spawn_in_process(config, shutdown.clone());
        Self {
            shutdown,
            task,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// The value of a metric (summed over its labels; 0 before the server answers).
    async fn metric(&self, name: &str) -> f64 {
        let Ok((_, text)) = http_get(&self.metrics).await else {
            return 0.0;
        };
        text.lines()
            .filter(|l| !l.starts_with('#') && l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
            + 0.0 // an empty sum is −0
    }

    /// The drain after SIGTERM, as `run_main` does it on the signal.
    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let code = self.task.await?;
        ensure!(code == ExitCode::SUCCESS, "replica exited with {code:?}");
        Ok(())
    }
}

/// Waits until `f` holds, at most 60 s.
async fn wait_for<F, Fut>(what: &str, f: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        ensure!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Records in `topic` (the sum of its partitions' high watermarks).
fn records_in(broker: &TestBroker, topic: &str) -> anyhow::Result<i64> {
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&broker.config(TEST), ClientLog::default())?;
    let mut n = 0;
    for p in 0..PARTITIONS {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        n += high - low;
    }
    Ok(n)
}

/// Offsets committed by `topics.group` on the flows topic, summed (−1001, none, as 0).
fn committed(broker: &TestBroker, topics: &DetectorTopics) -> anyhow::Result<i64> {
    let mut config = broker.config(TEST);
    config.consumer.group_id.clone_from(&topics.group);
    let consumer: StreamConsumer<ClientLog> =
        relbot_kafka::consumer(&config, ClientLog::default())?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(&topics.flows, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum())
}

/// Flows accepted per host in the state the changelog holds.
async fn accepted(config: &DetectorConfig, state: &str) -> anyhow::Result<HashMap<IpAddr, u64>> {
    let changelog = Changelog::new(&config.kafka, state, Duration::from_secs(10))?;
    let mut accepted = HashMap::new();
    for p in 0..PARTITIONS {
        let mut engine = Engine::new(config.engine.engine_config()?, config.algorithm.build()?)?;
        changelog.restore(p, &mut engine).await?;
        for h in engine.hosts() {
            let counters = engine.host_counters(h).context("counters")?;
            *accepted.entry(h).or_default() += counters.flows_accepted;
        }
    }
    Ok(accepted)
}

fn sent(flows: &[FlowRecord]) -> HashMap<IpAddr, u64> {
    let mut sent = HashMap::new();
    for f in flows {
        *sent.entry(f.src).or_default() += 1;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changelog_and_offsets_are_written_once_per_interval_and_on_shutdown() -> anyhow::Result<()>
{
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let flows = flows();
    let dir = tempfile::tempdir()?;
    for interval in ["10m", "0s"] {
        let topics = DetectorTopics::create(&broker, TEST, PARTITIONS).await?;
        let port = free_port()?;
        let config = config(&broker, &topics, dir.path(), interval, port, interval)?;
        let replica = Replica::start(config.clone(), port);
        // Chunk by chunk, each consumed before the next is sent: several batches.
        let mut consumed = 0;
        for chunk in flows.chunks(flows.len().div_ceil(CHUNKS)) {
            produce_flows(&broker.config(TEST), &topics.flows, chunk).await?;
            consumed += chunk.len();
            let want = consumed as f64;
            wait_for("chunk consumed", || async {
                replica.metric("relbot_detector_flows_consumed").await >= want
            })
            .await?;
        }
        // Every batch's detections are out; the changelog and the offsets wait for the
        // interval (with "0s": every batch wrote them).
        let (state_before, committed_before) = if interval == "0s" {
            wait_for("offsets committed", || async {
                committed(&broker, &topics).is_ok_and(|c| c == flows.len() as i64)
            })
            .await?;
            (records_in(&broker, &topics.state)?, flows.len() as i64)
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            (
                records_in(&broker, &topics.state)?,
                committed(&broker, &topics)?,
            )
        };
        replica.stop().await?;
        let state_after = records_in(&broker, &topics.state)?;
        let committed_after = committed(&broker, &topics)?;
        eprintln!(
            "checkpoint_interval {interval}: changelog {state_before} records before the \
             shutdown, {state_after} after; offsets committed {committed_before} before, \
             {committed_after} after, of {}",
            flows.len()
        );
        let clocks = i64::from(PARTITIONS.min(HOSTS as i32));
        if interval == "0s" {
            // After every batch: the busy hosts were written once per batch.
            ensure!(
                state_before > i64::from(HOSTS) + clocks,
                "{state_before} changelog records with checkpoint_interval 0s"
            );
        } else {
            ensure!(
                state_before == 0 && committed_before == 0,
                "before the interval: {state_before} changelog records, {committed_before} \
                 offsets committed"
            );
            // The drain: each host once (each changed in every chunk), then each clock.
            ensure!(
                state_after == i64::from(HOSTS) + clocks,
                "{state_after} changelog records after the shutdown, want {HOSTS} hosts + \
                 {clocks} clocks"
            );
        }
        ensure!(
            committed_after == flows.len() as i64,
            "{committed_after} offsets committed after the shutdown, of {}",
            flows.len()
        );
        ensure!(
            accepted(&config, &topics.state).await? == sent(&flows),
            "flows accepted per host differ from flows sent"
        );
        topics.delete(&broker).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_partitions_are_checkpointed_and_the_next_owner_replays_nothing(
) -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let flows = flows();
    let (first, second) = flows.split_at(flows.len() / 2);
    let dir = tempfile::tempdir()?;
    let topics = DetectorTopics::create(&broker, TEST, PARTITIONS).await?;
    let (port_a, port_b) = (free_port()?, free_port()?);
    let config_a = config(&broker, &topics, dir.path(), "a", port_a, "10m")?;
    let a = Replica::start(config_a.clone(), port_a);
    produce_flows(&broker.config(TEST), &topics.flows, first).await?;
    let n1 = first.len() as f64;
    wait_for("first half consumed by a", || async {
        a.metric("relbot_detector_flows_consumed").await >= n1
    })
    .await?;
    let before = records_in(&broker, &topics.state)?;

    // b joins: a gives partitions up, checkpointing them in its revoke hook.
    let b = Replica::start(
        config(&broker, &topics, dir.path(), "b", port_b, "10m")?,
        port_b,
    );
    let partitions = f64::from(PARTITIONS);
    wait_for("partitions split between a and b", || async {
        let (pa, pb) = (
            a.metric("relbot_detector_partitions_assigned").await,
            b.metric("relbot_detector_partitions_assigned").await,
        );
        pa > 0.0 && pb > 0.0 && pa + pb == partitions
    })
    .await?;
    let at_revoke = records_in(&broker, &topics.state)?;
    let restored = b.metric("relbot_detector_restored_hosts").await;

    produce_flows(&broker.config(TEST), &topics.flows, second).await?;
    let total = flows.len() as f64;
    wait_for("everything consumed", || async {
        a.metric("relbot_detector_flows_consumed").await
            + b.metric("relbot_detector_flows_consumed").await
            >= total
    })
    .await?;
    // Anything b replayed would come on top; give it the time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let consumed = a.metric("relbot_detector_flows_consumed").await
        + b.metric("relbot_detector_flows_consumed").await;
    let duplicates = b
        .metric("relbot_detector_flows_total{outcome=\"duplicate\"}")
        .await;
    eprintln!(
        "changelog: {before} records before b joined, {at_revoke} after the revoke; b \
         restored {restored} hosts; {consumed} records consumed of {total}, b skipped \
         {duplicates} duplicates"
    );
    ensure!(
        before == 0,
        "{before} changelog records before the interval"
    );
    ensure!(
        at_revoke > 0 && restored > 0.0,
        "the revoked partitions were not checkpointed ({at_revoke} records, {restored} hosts \
         restored)"
    );
    ensure!(
        consumed == total && duplicates == 0.0,
        "the next owner replayed records: {consumed} consumed of {total}, {duplicates} \
         duplicates"
    );
    a.stop().await?;
    b.stop().await?;
    ensure!(
        accepted(&config_a, &topics.state).await? == sent(&flows),
        "flows accepted per host differ from flows sent"
    );
    topics.delete(&broker).await;
    Ok(())
}
