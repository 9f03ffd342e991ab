//! Bounded memory: a scanner cannot push the state past its budget, bots elsewhere in the
//! same stream are still found, and the budget evicts least recently active hosts first.
//! (The release-mode figure for 5 million scanned addresses is in the bench.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relbot_engine::{Engine, EngineConfig};
use relbot_flow::FlowRecord;
use relbot_periodicity::ClassicParams;

/// 20 bots (3 peers each, 10 min), a scanner of `scanned` distinct addresses and some
/// background, over `hours`, in time order.
fn scanner_stream(scanned: u32, hours: i64) -> (Vec<FlowRecord>, Vec<IpAddr>) {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let span = hours * HOUR;
    let scanner = v4(0x0a63_0001);
    let mut flows: Vec<FlowRecord> = (0..scanned)
        .map(|k| {
            let t = T0 + i64::from(k) * span / i64::from(scanned);
            FlowRecord::from_triple(t, scanner, v4(0x2000_0000 + k))
        })
        .collect();
    let bots: Vec<IpAddr> = (0..20).map(|b| v4(0x0a01_0000 + b)).collect();
    for (b, &bot) in bots.iter().enumerate() {
        for p in 0..3u32 {
            let peer = v4(0x2d00_0000 + b as u32 * 16 + p);
            let mut t = T0 + rng.random_range(0..10 * MIN);
            while t < T0 + span {
                flows.push(FlowRecord::from_triple(
                    t + rng.random_range(-800..800),
                    bot,
                    peer,
                ));
                t += 10 * MIN;
            }
        }
    }
    for _ in 0..50_000 {
        let src = v4(0x0a02_0000 + rng.random_range(0..500));
        let dst = v4(0x5db8_0000 + rng.random_range(0..3000));
        flows.push(FlowRecord::from_triple(
            T0 + rng.random_range(0..span),
            src,
            dst,
        ));
    }
    flows.sort_by_key(|f| f.start_ms);
    (flows, bots)
}

#[test]
fn a_scanner_stays_within_the_budget_and_bots_are_still_found() {
    let scanned = if cfg!(debug_assertions) {
        1_000_000
    } else {
        5_000_000
    };
    let (flows, bots) = scanner_stream(scanned, 6);
    let budget = 8 << 20;
    let cfg = EngineConfig {
        budget_bytes: Some(budget),
        horizon: Some(Duration::from_secs(6 * 3600)),
        ..EngineConfig::streaming()
    };
    let mut e = Engine::new(cfg, classic(&ClassicParams::seed_shipped())).unwrap();
    let mut detections = Vec::new();
    let mut peak = 0;
    for (i, f) in flows.iter().enumerate() {
        e.ingest(f);
        if i % 1000 == 0 {
            detections.extend(e.advance());
            peak = peak.max(e.stats().state_bytes);
        }
    }
    detections.extend(e.flush());
    let s = e.stats();
    peak = peak.max(s.state_bytes);
    assert!(peak <= budget as u64, "peak {peak} over budget {budget}");
    assert!(
        s.flows_peer_capped > 0 || s.evictions.pairs_sparse > 100_000,
        "{s:?}"
    );
    for bot in bots {
        let found = detections.iter().filter(|d| d.host == bot).any(|d| {
            d.periods
                .iter()
                .any(|p| p.period_ms == 600_000 && p.count == 3)
        });
        assert!(found, "bot {bot} found");
    }
    eprintln!(
        "scanner {scanned}: peak {peak} B, peer-capped {}, sparse pairs evicted {}, hosts evicted {}",
        s.flows_peer_capped, s.evictions.pairs_sparse, s.evictions.hosts_budget
    );
}

#[test]
fn over_budget_the_least_recently_active_hosts_go_first() {
    let budget = 512 << 10;
    let cfg = EngineConfig {
        budget_bytes: Some(budget),
        max_peers_per_host: 256,
        ..EngineConfig::streaming()
    };
    let mut e = Engine::new(cfg.clone(), classic(&ClassicParams::seed_shipped())).unwrap();
    let too_many_peers = EngineConfig {
        max_peers_per_host: 16_384,
        ..cfg
    };
    assert!(Engine::new(too_many_peers, classic(&ClassicParams::seed_shipped())).is_err());
    // 4000 hosts, each active for a while in turn, 8 peers each.
    let mut peak = 0;
    for h in 0..4000u32 {
        for p in 0..8u32 {
            for k in 0..3i64 {
                let t = T0 + i64::from(h) * 1000 + k * 100 + i64::from(p);
                e.ingest(&FlowRecord::from_triple(
                    t,
                    v4(0x0a00_0000 + h),
                    v4(0x2000_0000 + p),
                ));
            }
        }
        peak = peak.max(e.stats().state_bytes);
    }
    let s = e.stats();
    assert!(peak <= budget as u64, "peak {peak}");
    assert!(s.evictions.hosts_budget > 1000, "{s:?}");
    assert_eq!(s.hosts + s.evictions.hosts_budget, 4000);
    // The newest hosts are kept, the oldest are gone.
    assert!(e.host_counters(v4(0x0a00_0000 + 3999)).is_some());
    assert!(e.host_counters(v4(0x0a00_0000)).is_none());
    assert_eq!(
        s.evictions.times_budget + s.retained_times,
        4000 * 8 * 3,
        "every time is either retained or counted as evicted"
    );
}
