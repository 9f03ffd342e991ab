//! The detector's engines on `relbot simulate`'s workload without the broker: how much of a
//! replica's time goes to ingesting and evaluating, and how much evaluation work the workload
//! makes.
//!
//! `cargo bench -p relbot-e2e --bench engine_workload`. The same workload and settings as
//! `detector_throughput` (`RELBOT_BENCH_FLOWS`, `_HOSTS`, `_PARTITIONS`, `_HOURS`,
//! `_ALGORITHM`, `_PREVALENCE`): flows in start-time order are dealt to one engine per
//! partition by initiator (as the flows topic's key does), and every `RELBOT_BENCH_BATCH`
//! flows (default 100,000, the detector's `max_batch`) every engine advances and hands over
//! its changed hosts' encoded state, as the replica's batch loop does. One thread, so the
//! figure is per core. `RELBOT_BENCH_REEVALUATE` sets `engine.reevaluate_change` (default
//! the product's 0.125; 0 re-estimates on every change); `RELBOT_BENCH_SINGLES=off` holds
//! every peer as a full pair (the layout before compact singles), to compare the two in one
//! run. Not a test: no assertion on time.
//! Results go to docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench with a broken setup stops loudly

use std::hash::{BuildHasher, BuildHasherDefault};
use std::time::Instant;

use relbot_cli::simulate::{generate, record, Scenario};
use relbot_engine::{Engine, EngineConfig, EngineStats, FilterConfig, PeerFilter};
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, BeaconParams, ClassicParams};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("RELBOT_BENCH_FLOWS", 2_000_000);
    let hosts = env("RELBOT_BENCH_HOSTS", 20_000) as u32;
    let partitions = env("RELBOT_BENCH_PARTITIONS", 12) as usize;
    let hours = env("RELBOT_BENCH_HOURS", 24) as i64;
    let batch = env("RELBOT_BENCH_BATCH", 100_000) as usize;
    let algorithm = match std::env::var("RELBOT_BENCH_ALGORITHM").as_deref() {
        Ok("classic") => Algorithm::classic(ClassicParams::seed_shipped()).unwrap(),
        _ => Algorithm::beacon(BeaconParams::default()).unwrap(),
    };
    let mut filter = FilterConfig::default();
    if std::env::var("RELBOT_BENCH_PREVALENCE").as_deref() == Ok("off") {
        filter.prevalence_max_hosts = u32::MAX;
        filter.prevalence_max_share = 1.0;
    }
    let filter = PeerFilter::new(&filter).unwrap();

    let mut scenario = Scenario {
        hosts,
        duration_ms: hours * 3_600_000,
        ..Scenario::default()
    };
    scenario.background.flows_per_host_hour = n as f64 / (f64::from(hosts) * hours as f64);
    let (sim, _) = generate(&scenario);
    let flows: Vec<FlowRecord> = sim.iter().map(record).collect();
    drop(sim);

    let mut config = EngineConfig::streaming();
    if let Some(share) = std::env::var("RELBOT_BENCH_REEVALUATE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.reevaluate_change = share;
    }
    // `off`: every peer a full pair (the layout before singles), to compare in one run.
    let singles = std::env::var("RELBOT_BENCH_SINGLES").as_deref() != Ok("off");
    let mut engines: Vec<Engine> = (0..partitions)
        .map(|_| {
            let mut e = Engine::new(config.clone(), algorithm.clone()).unwrap();
            e.set_filter(filter.clone());
            e.set_compact_singles(singles);
            e
        })
        .collect();
    let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let (mut detections, mut changelog, mut changelog_bytes) = (0usize, 0usize, 0usize);
    // The largest state after a batch, with its flow times.
    let mut peak = (0u64, 0u64);
    let started = Instant::now();
    for chunk in flows.chunks(batch) {
        for f in chunk {
            let p = (hasher.hash_one(f.src) % partitions as u64) as usize;
            engines[p].ingest(f);
        }
        for e in &mut engines {
            detections += e.advance().len();
            let changes = e.take_changed();
            changelog += changes.hosts.len();
            changelog_bytes += changes
                .hosts
                .iter()
                .map(|h| h.state.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
        }
        let now = engines.iter().map(Engine::stats).fold((0, 0), |(b, t), s| {
            (b + s.state_bytes, t + s.retained_times)
        });
        peak = peak.max(now);
    }
    for e in &mut engines {
        detections += e.flush().len();
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = engines
        .iter()
        .map(Engine::stats)
        .fold(EngineStats::default(), sum);
    println!(
        "engine_workload: {} flows ({} accepted) over {hours} h, {} partitions, batches of \
         {batch}: {seconds:.2} s on one thread = {:.0} flows/s",
        flows.len(),
        total.flows_ingested,
        partitions,
        flows.len() as f64 / seconds
    );
    println!(
        "  {} host evaluations, {} pair evaluations ({:.2} per flow), {} detections, \
         {changelog} changelog records ({:.1} MB)",
        total.host_evaluations,
        total.pair_evaluations,
        total.pair_evaluations as f64 / flows.len() as f64,
        detections,
        changelog_bytes as f64 / 1e6
    );
    println!(
        "  state: {} hosts, {} pairs, {} flow times, {} B ({:.1} B per flow time)",
        total.hosts,
        total.pairs,
        total.retained_times,
        total.state_bytes,
        total.state_bytes as f64 / total.retained_times.max(1) as f64
    );
    println!(
        "  peak state (before the flush; singles {}): {} B for {} flow times ({:.1} B per \
         flow time)",
        if singles { "on" } else { "off" },
        peak.0,
        peak.1,
        peak.0 as f64 / peak.1.max(1) as f64
    );
}

fn sum(a: EngineStats, s: EngineStats) -> EngineStats {
    EngineStats {
        flows_ingested: a.flows_ingested + s.flows_ingested,
        host_evaluations: a.host_evaluations + s.host_evaluations,
        pair_evaluations: a.pair_evaluations + s.pair_evaluations,
        hosts: a.hosts + s.hosts,
        pairs: a.pairs + s.pairs,
        retained_times: a.retained_times + s.retained_times,
        state_bytes: a.state_bytes + s.state_bytes,
        ..a
    }
}
