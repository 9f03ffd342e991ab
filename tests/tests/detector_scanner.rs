//! Bounded memory through the real broker: a "scanner" host contacting millions of distinct
//! addresses, with bots elsewhere in the same partition, goes through relbot-detector
//! (in-process, one partition, so the scanner and the bots share one engine and its budget).
//! The state the detector reports on `/metrics` never exceeds its configured budget, the
//! budget and caps really were pressed, and every bot is still detected.
//!
//! `RELBOT_SCANNER_ADDRESSES` sets the number of scanned addresses (default 1,000,000 to
//! keep CI's wall time reasonable on 2 cores; the acceptance's 5,000,000 is the same test
//! with `RELBOT_SCANNER_ADDRESSES=5000000`, results in docs/BENCHMARKS.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use relbot_e2e::detector::{
    load_config, produce_flows, read_detections_until, spawn_in_process, DetectorTopics,
};
use relbot_e2e::reporter::free_port;
use relbot_e2e::service_process::http_get;
use relbot_e2e::BASE_MS;
use relbot_flow::FlowRecord;
use relbot_kafka::testing::TestBroker;
use relbot_service::CancellationToken;

const TEST: &str = "detector-scanner";
const BUDGET: u64 = 8 << 20;
const BOTS: u32 = 20;
const MIN: i64 = 60_000;
const SPAN: i64 = 12 * 60 * MIN;

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

/// The scanner (10.99.0.1) contacting `scanned` distinct addresses evenly over 12 h, and
/// `BOTS` bots (10.1.0.x) each beaconing to 3 peers every 10 minutes; sorted by start time.
fn generate(scanned: u32) -> (Vec<FlowRecord>, BTreeSet<IpAddr>) {
    let scanner = v4(0x0a63_0001);
    let mut flows: Vec<FlowRecord> = (0..scanned)
        .map(|k| {
            let t = BASE_MS + i64::from(k) * SPAN / i64::from(scanned);
            FlowRecord::from_triple(t, scanner, v4(0x2000_0000 + k))
        })
        .collect();
    let mut bots = BTreeSet::new();
    for b in 0..BOTS {
        let bot = v4(0x0a01_0000 + b);
        bots.insert(bot);
        for p in 0..3u32 {
            // Phases spread over the period, a little jitter per beat.
            let mut t = BASE_MS + i64::from(b * 3 + p) * 9_973;
            let mut beat = 0i64;
            while t < BASE_MS + SPAN {
                flows.push(FlowRecord::from_triple(
                    t + (beat % 3) * 300,
                    bot,
                    v4(0x2d00_0000 + b * 16 + p),
                ));
                t += 10 * MIN;
                beat += 1;
            }
        }
    }
    flows.sort_by_key(|f| f.start_ms);
    (flows, bots)
}

/// The value of the samples whose line starts with `prefix`, summed (0 when absent).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanner_stays_within_budget_and_bots_are_found() -> anyhow::Result<()> {
    let Some(broker) = TestBroker::connect(TEST).await else {
        return Ok(());
    };
    let scanned: u32 = std::env::var("RELBOT_SCANNER_ADDRESSES")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let (flows, bots) = generate(scanned);
    let topics = DetectorTopics::create(&broker, TEST, 1).await?;
    let kafka = broker.config(TEST);
    produce_flows(&kafka, &topics.flows, &flows).await?;
    eprintln!(
        "produced {} flows ({scanned} scanned addresses) in {:?}",
        flows.len(),
        started.elapsed()
    );

    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let engine = format!(
        r#"horizon = "24h"
eval_interval = "5m"
allowed_lateness = "5m"
max_peers_per_host = 16384
max_times_per_pair = 4096
sparse_idle_periods = 2
budget_bytes = {BUDGET}
emit = "escalation"
max_listed_peers = 256"#
    );
    let toml = topics.toml(&broker.brokers, &format!("127.0.0.1:{port}"), &engine, "");
    let config = load_config(dir.path(), "detector", &toml)?;
    let shutdown = CancellationToken::new();
    let service = spawn_in_process(config, shutdown.clone());

    // Follow the state on /metrics until every flow is consumed and the partition flushed.
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut peak = 0.0f64;
    let deadline = Instant::now() + Duration::from_secs(600);
    let body = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok((_, body)) = http_get(&url).await else {
            continue;
        };
        peak = peak.max(metric(&body, "relbot_detector_state_bytes"));
        let consumed = metric(&body, "relbot_detector_flows_consumed") as usize;
        if consumed >= flows.len() && metric(&body, "relbot_detector_idle_flushes") >= 1.0 {
            break body;
        }
        ensure!(
            Instant::now() < deadline,
            "{consumed} of {} flows consumed after 10 min",
            flows.len()
        );
    };
    ensure!(
        body.contains("relbot_detector_consumer_lag{partition=\"0\"}"),
        "no consumer lag on /metrics:\n{body}"
    );
    let evicted = metric(&body, "relbot_detector_evictions");
    let capped = metric(
        &body,
        "relbot_detector_flows_total{outcome=\"peer_capped\"}",
    );
    eprintln!(
        "consumed in {:?}: peak state {peak} B of {BUDGET} B, {evicted} evictions, {capped} \
         flows peer-capped",
        started.elapsed()
    );
    ensure!(
        peak > 0.0 && peak <= BUDGET as f64,
        "state {peak} B over the budget {BUDGET} B"
    );
    ensure!(
        evicted + capped >= f64::from(scanned) / 2.0,
        "the scanner did not press the caps and budget ({evicted} evictions, {capped} capped)"
    );

    let mut detections = Vec::new();
    let found = read_detections_until(
        &kafka,
        &topics.detections,
        &mut detections,
        Duration::from_secs(60),
        |ds| bots.iter().all(|b| ds.iter().any(|d| d.host == *b)),
    )
    .await?;
    let detected: BTreeSet<IpAddr> = detections.iter().map(|d| d.host).collect();
    shutdown.cancel();
    service.await.context("detector task")?;
    ensure!(
        found,
        "bots not detected: {:?}",
        bots.difference(&detected).collect::<Vec<_>>()
    );
    eprintln!("all {BOTS} bots detected, {:?}", started.elapsed());
    topics.delete(&broker).await;
    Ok(())
}
