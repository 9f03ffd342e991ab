//! Equivalence with the batch classic result: the engine with a horizon covering the whole
//! input and a final flush finds exactly the hosts, counts and peers of the original tool
//! (its `.expected` outputs) and of a literal batch evaluation, in any input order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::time::Duration;

use common::*;
use relbot_engine::{EmitRule, EngineConfig};

const FIXTURES: [(&str, &str, &str); 3] = [
    ("basic.triples", "seed-default.conf.json", "basic.expected"),
    ("custom.triples", "radius0.conf.json", "custom.expected"),
    (
        "nfdump-fmt.txt",
        "seed-default.conf.json",
        "nfdump-fmt.expected",
    ),
];

/// Streaming settings whose horizon covers any test input and that evict nothing.
fn streaming_covering(lateness: Duration) -> EngineConfig {
    EngineConfig {
        horizon: Some(Duration::from_secs(400 * 24 * 3600)),
        eval_interval: Some(Duration::from_secs(300)),
        allowed_lateness: Some(lateness),
        sparse_idle_periods: None,
        max_peers_per_host: usize::MAX,
        max_times_per_pair: usize::MAX,
        budget_bytes: None,
        ..EngineConfig::streaming()
    }
}

#[test]
fn batch_engine_prints_what_the_original_printed() {
    for (input, config, expected) in FIXTURES {
        let params = seed_params(config);
        let flows = fixture_flows(input);
        let want = std::fs::read_to_string(data(expected)).unwrap();
        for (order, flows) in [("file", flows.clone()), ("shuffled", shuffle(&flows, 7))] {
            let (engine, detections) = run(EngineConfig::batch(), &params, &flows, 0);
            let results = engine.host_results();
            assert_eq!(render_relbot(&results), want, "{input}, {order} order");
            assert_eq!(counts_of(&results), reference(&flows, &params), "{input}");
            // One detection per flagged host, with the same counts.
            assert_eq!(detections.len(), results.len(), "{input}");
            let mut detections = detections;
            detections.sort_by_key(|d| d.host.to_string());
            for (d, r) in detections.iter().zip(&results) {
                let counts: Vec<u32> = d.periods.iter().map(|p| p.count).collect();
                let want: Vec<u32> = r.periods.iter().map(|p| p.count() as u32).collect();
                assert_eq!((d.host, counts), (r.host, want), "{input}");
                // A host result (peers in text order) rebuilds exactly the emitted detection.
                let rebuilt = relbot_engine::detection_for(
                    r,
                    &classic(&params),
                    EngineConfig::batch().max_listed_peers,
                );
                assert_eq!(&rebuilt, d, "{input}: detection_for({})", r.host);
            }
            let stats = engine.stats();
            assert_eq!(stats.flows_ingested, flows.len() as u64);
            assert_eq!(stats.flows_late + stats.evictions.times_expired, 0);
        }
    }
}

#[test]
fn streaming_engine_with_covering_horizon_matches_batch_on_fixtures() {
    for (input, config, expected) in FIXTURES {
        let params = seed_params(config);
        let mut flows = fixture_flows(input);
        flows.sort_by_key(|f| f.start_ms);
        let lateness = 10 * MIN;
        let flows = shuffle_within(&flows, lateness, 3);
        let cfg = streaming_covering(Duration::from_millis(lateness as u64));
        let (engine, _) = run(cfg, &params, &flows, 500);
        let results = engine.host_results();
        assert_eq!(
            render_relbot(&results),
            std::fs::read_to_string(data(expected)).unwrap(),
            "{input}"
        );
        let stats = engine.stats();
        assert_eq!(stats.flows_late, 0);
        assert!(
            stats.host_evaluations > results.len() as u64,
            "{input}: ticks evaluated"
        );
    }
}

#[test]
fn generated_multi_hour_input_matches_batch_in_any_order() {
    let params = relbot_periodicity::ClassicParams::seed_shipped();
    let flows = workload(11, 300, 8, 7, 5, &params.periods_ms, 1500);
    let want = reference(&flows, &params);
    assert!(want.len() >= 30, "the workload has bots: {}", want.len());

    let (batch, _) = run(EngineConfig::batch(), &params, &shuffle(&flows, 1), 0);
    assert_eq!(counts_of(&batch.host_results()), want);

    let lateness = 5 * MIN;
    for seed in [1, 2] {
        let order = shuffle_within(&flows, lateness, seed);
        let mut cfg = streaming_covering(Duration::from_millis(lateness as u64));
        cfg.emit = EmitRule::AnyChange;
        let (engine, detections) = run(cfg, &params, &order, 1000);
        assert_eq!(counts_of(&engine.host_results()), want, "seed {seed}");
        assert_eq!(engine.stats().flows_late, 0);
        // With AnyChange the last detection of each host is its final result.
        let mut last = std::collections::BTreeMap::new();
        for d in &detections {
            last.insert(d.host, d);
        }
        let flagged: Vec<_> = last
            .iter()
            .filter(|(_, d)| d.periods.iter().any(|p| p.count > 0))
            .map(|(h, d)| {
                (
                    *h,
                    d.periods
                        .iter()
                        .map(|p| (p.period_ms as u64, p.peers.iter().copied().collect()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            flagged,
            want.clone().into_iter().collect::<Vec<_>>(),
            "seed {seed}"
        );
    }
}

#[test]
fn same_flows_in_any_order_within_lateness_give_identical_detections() {
    let params = relbot_periodicity::ClassicParams::seed_shipped();
    let flows = workload(5, 150, 10, 5, 4, &params.periods_ms, 1000);
    let lateness = 3 * MIN;
    let mut cfg = EngineConfig::streaming();
    cfg.horizon = Some(Duration::from_secs(4 * 3600));
    cfg.allowed_lateness = Some(Duration::from_millis(lateness as u64));
    let runs: Vec<_> = [10u64, 20, 30]
        .iter()
        .map(|&seed| {
            let order = shuffle_within(&flows, lateness, seed);
            let (engine, detections) = run(cfg.clone(), &params, &order, 97 * seed as usize);
            (engine.host_results(), detections, engine.stats().flows_late)
        })
        .collect();
    assert!(!runs[0].1.is_empty());
    for r in &runs[1..] {
        assert_eq!(r.2, 0);
        assert_eq!(r.1.len(), runs[0].1.len());
        for (i, (a, b)) in r.1.iter().zip(&runs[0].1).enumerate() {
            assert_eq!(a, b, "detection {i} (ids included) is identical");
        }
        assert_eq!(r.0, runs[0].0);
    }
}
