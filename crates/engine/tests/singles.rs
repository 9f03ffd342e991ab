//! Peers with one flow time held as compact singles: the engine decides, evicts, reports and
//! restores exactly as with every peer a full pair, in less memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use common::*;
use relbot_codec::Detection;
use relbot_engine::{EmitRule, Engine, EngineConfig, EngineStats, FilterConfig, PeerFilter};
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, BeaconParams};

/// 12 hours of bots, background and one-off peers (IPv4 and IPv6), a host with hundreds of
/// one-off peers, and pairs that get a second flow hours after their first.
fn flows() -> Vec<FlowRecord> {
    let mut flows = workload(11, 80, 12, 4, 3, &[120_000, 600_000, 1_800_000], 2_000);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for h in 0..80u32 {
        let src = v4(0x0a00_0000 + h + 1);
        for _ in 0..30 {
            let peer = IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                h as u16,
                next() as u16,
            ));
            let t = T0 + (next() % (12 * HOUR) as u64) as i64;
            flows.push(FlowRecord::from_triple(t, src, peer));
            if next() % 4 == 0 {
                // The same peer again, up to 5 hours later: a single becomes a pair.
                let later = t + (next() % (5 * HOUR) as u64) as i64;
                flows.push(FlowRecord::from_triple(later, src, peer));
            }
        }
    }
    let scanner = v4(0x0a00_0fff);
    for k in 0..3_000u32 {
        let t = T0 + i64::from(k) * 14_000;
        flows.push(FlowRecord::from_triple(
            t,
            scanner,
            v4(0xc100_0000 + k % 2_500),
        ));
    }
    flows.sort_by_key(|f| f.start_ms);
    shuffle_within(&flows, 2 * MIN, 5)
}

fn engine(horizon_h: u64, singles: bool) -> Engine {
    let config = EngineConfig {
        horizon: Some(Duration::from_secs(horizon_h * 3600)),
        max_times_per_pair: 40,
        // Every change of a result is a detection: the most to compare.
        emit: EmitRule::AnyChange,
        ..EngineConfig::streaming()
    };
    let mut e = Engine::new(config, Algorithm::beacon(BeaconParams::default()).unwrap()).unwrap();
    let filter = FilterConfig {
        prevalence_max_hosts: 8,
        ..FilterConfig::default()
    };
    e.set_filter(PeerFilter::new(&filter).unwrap());
    e.set_compact_singles(singles);
    e
}

fn stream(e: &mut Engine, flows: &[FlowRecord]) -> Vec<Detection> {
    let mut out = Vec::new();
    for chunk in flows.chunks(500) {
        for f in chunk {
            e.ingest(f);
        }
        out.extend(e.advance());
        e.take_changed();
    }
    out
}

/// Everything observable about the engine but its memory.
fn observed(e: &Engine) -> (EngineStats, Vec<impl PartialEq + std::fmt::Debug>) {
    let mut stats = e.stats();
    stats.state_bytes = 0;
    let hosts = e
        .hosts()
        .into_iter()
        .map(|h| {
            let periodic = e.periodic_pairs(h);
            let times: Vec<_> = periodic.iter().map(|p| e.pair_times(h, p.peer)).collect();
            (h, e.host_counters(h), e.host_window(h), periodic, times)
        })
        .collect();
    (stats, hosts)
}

#[test]
fn singles_change_nothing_but_memory() {
    let flows = flows();
    for horizon_h in [3, 24] {
        let (mut compact, mut full) = (engine(horizon_h, true), engine(horizon_h, false));
        let (half, rest) = flows.split_at(flows.len() / 2);
        let a = stream(&mut compact, half);
        let b = stream(&mut full, half);
        assert!(!a.is_empty(), "{horizon_h} h: some detections");
        assert_eq!(a, b, "{horizon_h} h: detections");
        assert_eq!(observed(&compact), observed(&full), "{horizon_h} h: state");
        let (small, large) = (compact.stats().state_bytes, full.stats().state_bytes);
        assert!(
            small * 10 < large * 8,
            "{horizon_h} h: singles save memory ({small} vs {large} bytes)"
        );
        // A peer's one time can be read back like any pair's.
        let scanner = v4(0x0a00_0fff);
        let one = v4(0xc100_0000 + 2_400);
        assert_eq!(
            compact.pair_times(scanner, one),
            full.pair_times(scanner, one)
        );

        let mut out_a = stream(&mut compact, rest);
        let mut out_b = stream(&mut full, rest);
        out_a.extend(compact.flush());
        out_b.extend(full.flush());
        assert_eq!(out_a, out_b, "{horizon_h} h: detections after flush");
        assert_eq!(compact.host_results(), full.host_results());
        assert_eq!(
            observed(&compact),
            observed(&full),
            "{horizon_h} h: final state"
        );
    }
}

#[test]
fn snapshots_do_not_depend_on_the_layout_and_restore_into_either() {
    let flows = flows();
    let (half, rest) = flows.split_at(flows.len() / 2);
    let (mut compact, mut full) = (engine(3, true), engine(3, false));
    stream(&mut compact, half);
    stream(&mut full, half);
    // What an engine that never stops emits after the first half.
    let mut reference = engine(3, true);
    stream(&mut reference, half);
    let mut want = stream(&mut reference, rest);
    want.extend(reference.flush());
    assert!(!want.is_empty());
    // Restored from either layout's snapshots into either: the snapshots are canonical (the
    // same bytes again), and every restored engine goes on exactly as one that never stopped.
    for (from, singles) in [
        (&compact, true),
        (&compact, false),
        (&full, true),
        (&full, false),
    ] {
        let mut restored = engine(3, singles);
        restored.restore_clock(&from.clock_state());
        for host in from.hosts() {
            let bytes = from.host_snapshot(host).unwrap();
            restored.restore(host, Some(&bytes)).unwrap();
            assert_eq!(restored.host_snapshot(host).unwrap(), bytes, "{host}");
        }
        let mut got = stream(&mut restored, rest);
        got.extend(restored.flush());
        assert_eq!(got, want, "restored with singles {singles}");
        assert_eq!(restored.host_results(), reference.host_results());
    }
}
