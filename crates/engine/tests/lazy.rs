//! Lazy re-estimation (`EngineConfig::reevaluate_change`): long series are re-estimated only
//! after a share of their window changed, which saves most algorithm runs, changes nothing at
//! the end of input, and survives a snapshot and restore exactly. Nothing depends on where
//! the poll batches of the input end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::*;
use relbot_codec::Detection;
use std::time::Duration;

use relbot_engine::{EmitRule, Engine, EngineConfig, FilterConfig, PeerFilter};
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, BeaconParams};

/// 12 hours: bots beaconing every 2 or 3 minutes (long series, several hundred flows per
/// pair) and every 10 minutes, irregular background, one busy server pair per host, and a
/// bot that starts at hour 8.
fn flows() -> Vec<FlowRecord> {
    let mut flows = workload(7, 60, 12, 3, 3, &[120_000, 180_000, 600_000], 2_000);
    for h in 0..60u32 {
        // A busy, irregular pair: ~200 flows at pseudo-random times.
        let mut x = 0x9e37_79b9_u64.wrapping_mul(u64::from(h) + 1);
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = T0 + (x % (12 * HOUR) as u64) as i64;
            flows.push(FlowRecord::from_triple(
                t,
                v4(0x0a00_0000 + h + 1),
                v4(0x0808_0808),
            ));
        }
    }
    // A bot that starts late (hour 8), every 7 minutes to three peers.
    for peer in 1..=3u32 {
        let mut t = T0 + 8 * HOUR + i64::from(peer) * 1_000;
        while t < T0 + 12 * HOUR {
            flows.push(FlowRecord::from_triple(
                t,
                v4(0x0a00_0100),
                v4(0x2e00_0000 + peer),
            ));
            t += 7 * MIN;
        }
    }
    flows.sort_by_key(|f| f.start_ms);
    shuffle_within(&flows, 2 * MIN, 3)
}

fn engine(reevaluate_change: f64) -> Engine {
    engine_emitting(reevaluate_change, EmitRule::Escalation)
}

fn engine_emitting(reevaluate_change: f64, emit: EmitRule) -> Engine {
    let config = EngineConfig {
        reevaluate_change,
        emit,
        ..EngineConfig::streaming()
    };
    Engine::new(config, Algorithm::beacon(BeaconParams::default()).unwrap()).unwrap()
}

/// Ingests `flows` in batches of `batch`, advancing after each; returns the detections.
fn stream(e: &mut Engine, flows: &[FlowRecord], batch: usize) -> Vec<Detection> {
    let mut out = Vec::new();
    for chunk in flows.chunks(batch) {
        for f in chunk {
            e.ingest(f);
        }
        out.extend(e.advance());
        e.take_changed();
    }
    out
}

#[test]
fn long_series_are_re_estimated_less_often_and_end_exactly() {
    let flows = flows();
    let (mut lazy, mut eager) = (engine(0.125), engine(0.0));
    let lazy_out = stream(&mut lazy, &flows, 500);
    let eager_out = stream(&mut eager, &flows, 500);
    let (l, e) = (lazy.stats(), eager.stats());
    eprintln!(
        "pair evaluations: lazy {} eager {}; detections lazy {} eager {}",
        l.pair_evaluations,
        e.pair_evaluations,
        lazy_out.len(),
        eager_out.len()
    );
    assert!(
        l.pair_evaluations * 2 < e.pair_evaluations,
        "lazy {} vs eager {}",
        l.pair_evaluations,
        e.pair_evaluations
    );
    // Both found bots while streaming, and the end of input brings every verdict up to date.
    assert!(!lazy_out.is_empty() && !eager_out.is_empty());
    lazy.flush();
    eager.flush();
    let results = lazy.host_results();
    assert!(results.len() >= 15, "{} hosts flagged", results.len());
    assert_eq!(results, eager.host_results());
}

#[test]
fn a_restored_engine_goes_on_exactly_with_verdicts_kept_lazily() {
    let flows = flows();
    // Six hours in, the fast bots' series are long and re-estimated lazily; every later
    // change of a finding is emitted (`AnyChange`), so the second half has detections.
    let half = flows.len() / 2;
    let mut a = engine_emitting(0.125, EmitRule::AnyChange);
    stream(&mut a, &flows[..half], 500);
    let mut b = engine_emitting(0.125, EmitRule::AnyChange);
    for host in a.hosts() {
        b.restore(host, Some(&a.host_snapshot(host).unwrap()))
            .unwrap();
    }
    b.restore_clock(&a.clock_state());
    let before = a.stats().pair_evaluations;
    let out_a = stream(&mut a, &flows[half..], 500);
    let out_b = stream(&mut b, &flows[half..], 500);
    // Whole detections (windows, evidence, ids) are the same, and the restored engine ran the
    // algorithm exactly as often: it kept the saved verdicts instead of re-estimating all.
    assert!(!out_a.is_empty());
    assert_eq!(out_a, out_b);
    assert_eq!(
        a.stats().pair_evaluations - before,
        b.stats().pair_evaluations
    );
    assert_eq!(a.flush(), b.flush());
    assert_eq!(a.host_results(), b.host_results());
}

#[test]
fn detections_do_not_depend_on_where_batches_end() {
    // A replica advances after every poll batch, and where batches end depends on timing: a
    // restored replica, or one that reads the same input in other chunks, must emit exactly
    // the same detections. Evaluation decisions may depend only on event time.
    let flows = flows();
    for horizon_h in [24, 3] {
        let run = |batch: usize| {
            let config = EngineConfig {
                horizon: Some(Duration::from_secs(horizon_h * 3600)),
                ..EngineConfig::streaming()
            };
            let mut e =
                Engine::new(config, Algorithm::beacon(BeaconParams::default()).unwrap()).unwrap();
            let filter = FilterConfig {
                prevalence_max_hosts: 8,
                ..FilterConfig::default()
            };
            e.set_filter(PeerFilter::new(&filter).unwrap());
            let mut out = stream(&mut e, &flows, batch);
            out.extend(e.flush());
            // Pairs are kept in no particular order (a sparse pair evicted and seen again
            // goes to the end), so the state is compared pair by pair, not as bytes.
            let state: Vec<_> = e
                .hosts()
                .into_iter()
                .map(|h| {
                    let c = e.host_counters(h).unwrap();
                    let periodic = e.periodic_pairs(h);
                    let times: Vec<_> = periodic
                        .iter()
                        .map(|p| e.pair_times(h, p.peer).unwrap())
                        .collect();
                    (h, c, e.host_window(h), periodic, times)
                })
                .collect();
            (out, state, e.stats().pair_evaluations)
        };
        let whole = run(flows.len());
        assert!(!whole.0.is_empty(), "{horizon_h} h");
        for batch in [1, 37, 500] {
            let got = run(batch);
            assert_eq!(
                got.0, whole.0,
                "{horizon_h} h, batches of {batch}: detections"
            );
            assert_eq!(got.1, whole.1, "{horizon_h} h, batches of {batch}: state");
            assert_eq!(
                got.2, whole.2,
                "{horizon_h} h, batches of {batch}: algorithm runs"
            );
        }
    }
}
