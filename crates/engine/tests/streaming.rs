//! Streaming behaviour: lateness and the watermark, ticks, emission rules, expiry, caps,
//! the monitored-networks filter, and the detections' contract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use relbot_codec::Detection;
use relbot_engine::{EmitRule, Engine, EngineConfig, Ingest, Networks};
use relbot_flow::FlowRecord;
use relbot_periodicity::ClassicParams;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn engine(config: EngineConfig) -> Engine {
    Engine::new(config, classic(&ClassicParams::seed_shipped())).unwrap()
}

fn config(interval_s: u64, lateness_s: u64, horizon_h: u64) -> EngineConfig {
    EngineConfig {
        eval_interval: Some(Duration::from_secs(interval_s)),
        allowed_lateness: Some(Duration::from_secs(lateness_s)),
        horizon: Some(Duration::from_secs(horizon_h * 3600)),
        ..EngineConfig::streaming()
    }
}

/// Flows of `host` to each of `peers` every `period` ms over `[from, to)`, sorted.
fn beacons(host: &str, peers: &[&str], period: i64, from: i64, to: i64) -> Vec<FlowRecord> {
    let mut v: Vec<FlowRecord> = peers
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let offset = i as i64 * 7_000;
            (0..)
                .map(move |k| from + offset + k * period)
                .take_while(move |&t| t < to)
                .map(|t| FlowRecord::from_triple(t, ip(host), ip(p)))
        })
        .collect();
    v.sort_by_key(|f| f.start_ms);
    v
}

fn feed(e: &mut Engine, flows: &[FlowRecord]) -> Vec<Detection> {
    let mut out = Vec::new();
    for f in flows {
        e.ingest(f);
        out.extend(e.advance());
    }
    out
}

#[test]
fn late_flows_are_dropped_and_the_watermark_lags_by_the_lateness() {
    let mut e = engine(config(60, 150, 24));
    let (a, b) = (ip("10.0.0.1"), ip("192.0.2.1"));
    assert_eq!(
        e.ingest(&FlowRecord::from_triple(T0 + 600_000, a, b)),
        Ingest::Accepted
    );
    let s = e.stats();
    assert_eq!(s.watermark_ms, Some(T0 + 450_000));
    // The last tick the watermark reached closes the windows before it.
    assert_eq!(e.closed_end_ms(), Some(T0 + 420_000));
    assert_eq!(
        e.ingest(&FlowRecord::from_triple(T0 + 419_999, a, b)),
        Ingest::Late
    );
    // Behind the watermark but after the closed end: no evaluated window holds it.
    assert_eq!(
        e.ingest(&FlowRecord::from_triple(T0 + 430_000, a, b)),
        Ingest::Accepted
    );
    let s = e.stats();
    assert_eq!(
        (s.flows_ingested, s.flows_late, s.retained_times),
        (2, 1, 2)
    );
    // A flush closes everything seen: later flows before its end are late.
    e.flush();
    assert_eq!(e.closed_end_ms(), Some(T0 + 660_000));
    assert_eq!(
        e.ingest(&FlowRecord::from_triple(T0 + 650_000, a, b)),
        Ingest::Late
    );
}

#[test]
fn unmonitored_sources_are_filtered() {
    let mut cfg = config(60, 60, 24);
    cfg.monitored = Networks::parse(&["10.0.0.0/8", "2001:db8::/32"]).unwrap();
    let mut e = engine(cfg);
    let peer = ip("198.51.100.1");
    assert_eq!(
        e.ingest(&FlowRecord::from_triple(T0, ip("192.168.1.1"), peer)),
        Ingest::Filtered
    );
    assert_eq!(
        e.ingest(&FlowRecord::from_triple(T0, ip("10.9.9.9"), peer)),
        Ingest::Accepted
    );
    assert_eq!(
        e.ingest(&FlowRecord::from_triple(T0, ip("2001:db8::5"), peer)),
        Ingest::Accepted
    );
    let s = e.stats();
    assert_eq!((s.flows_filtered, s.hosts), (1, 2));
}

#[test]
fn detections_escalate_and_unchanged_results_emit_nothing() {
    let mut e = engine(config(300, 60, 24));
    let host = "10.0.0.7";
    let mut flows = beacons(host, &["45.0.0.1", "45.0.0.2"], 10 * MIN, T0, T0 + 3 * HOUR);
    flows.extend(beacons(
        host,
        &["45.0.0.3"],
        10 * MIN,
        T0 + 3 * HOUR,
        T0 + 6 * HOUR,
    ));
    flows.extend(beacons(
        host,
        &["45.0.0.1", "45.0.0.2"],
        10 * MIN,
        T0 + 3 * HOUR,
        T0 + 6 * HOUR,
    ));
    flows.sort_by_key(|f| f.start_ms);
    let detections = feed(&mut e, &flows);
    assert!(detections.len() >= 2, "{}", detections.len());
    for d in &detections {
        d.validate().unwrap();
        assert_eq!(d.detection_id, d.compute_id());
        assert_eq!(d.host, ip(host));
        assert_eq!(d.window_end_ms - d.window_start_ms, 24 * HOUR);
        assert_eq!(d.algorithm, "classic");
    }
    for w in detections.windows(2) {
        let grew = w[1].periods.iter().zip(&w[0].periods).any(|(new, old)| {
            new.count > old.count || new.peers.iter().any(|p| !old.peers.contains(p))
        });
        assert!(grew, "each detection escalates the previous one");
    }
    let last = detections.last().unwrap();
    let ten = last
        .periods
        .iter()
        .find(|p| p.period_ms == 600_000)
        .unwrap();
    assert_eq!(ten.count, 3);
    assert_eq!(
        ten.peers,
        vec![ip("45.0.0.1"), ip("45.0.0.2"), ip("45.0.0.3")]
    );

    // The same beacons for another two hours change nothing: no detection.
    let more = beacons(
        host,
        &["45.0.0.1", "45.0.0.2", "45.0.0.3"],
        10 * MIN,
        T0 + 6 * HOUR,
        T0 + 8 * HOUR,
    );
    assert!(feed(&mut e, &more).is_empty());
    assert!(e.stats().host_evaluations > 20);
    // And they are the host's result.
    let r = e.host_results();
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].periods
            .iter()
            .find(|p| p.period_ms == 600_000)
            .unwrap()
            .count(),
        3
    );
}

#[test]
fn expired_hosts_are_retracted_removed_and_tombstoned() {
    let mut cfg = config(300, 60, 2);
    cfg.emit = EmitRule::AnyChange;
    let mut e = engine(cfg);
    let host = ip("10.0.0.8");
    let flows = beacons(
        "10.0.0.8",
        &["45.0.0.1", "45.0.0.2"],
        10 * MIN,
        T0,
        T0 + 2 * HOUR,
    );
    let mut detections = feed(&mut e, &flows);
    assert!(detections
        .iter()
        .any(|d| d.periods.iter().any(|p| p.count == 2)));
    let _ = e.take_changed();
    // Another host keeps the clock moving for three hours; the bot is silent.
    let other = beacons(
        "10.0.0.9",
        &["45.9.9.9"],
        7 * MIN,
        T0 + 2 * HOUR,
        T0 + 5 * HOUR,
    );
    detections.extend(feed(&mut e, &other));
    let last = detections.iter().rev().find(|d| d.host == host).unwrap();
    assert!(
        last.periods.iter().all(|p| p.count == 0),
        "retracted: {last:?}"
    );
    assert!(e.host_counters(host).is_none());
    let s = e.stats();
    assert!(s.evictions.hosts_expired >= 1 && s.evictions.times_expired >= 24);
    let changes = e.take_changed();
    let bot = changes.hosts.iter().find(|c| c.host == host).unwrap();
    assert_eq!(bot.state, None, "a tombstone");
}

#[test]
fn caps_bound_peers_and_times_and_are_counted() {
    let mut cfg = config(300, 60, 24);
    cfg.max_peers_per_host = 3;
    cfg.max_times_per_pair = 5;
    let mut e = engine(cfg);
    let h = ip("10.0.0.1");
    for (i, p) in ["45.0.0.1", "45.0.0.2", "45.0.0.3", "45.0.0.4"]
        .iter()
        .enumerate()
    {
        let want = if i < 3 {
            Ingest::Accepted
        } else {
            Ingest::PeerCapped
        };
        assert_eq!(
            e.ingest(&FlowRecord::from_triple(T0 + i as i64, h, ip(p))),
            want
        );
    }
    for k in 0..10 {
        e.ingest(&FlowRecord::from_triple(
            T0 + 10 + k * MIN,
            h,
            ip("45.0.0.1"),
        ));
    }
    let s = e.stats();
    assert_eq!(s.flows_peer_capped, 1);
    assert_eq!(s.evictions.times_pair_cap, 6);
    assert_eq!(e.host_counters(h).unwrap().retained_times, 5 + 2);
    assert_eq!(e.host_counters(h).unwrap().pairs, 3);
}

#[test]
fn idle_sparse_sessions_are_evicted_but_periodic_peers_stay() {
    let mut e = engine(config(300, 60, 24));
    let host = "10.0.0.5";
    // A bot beaconing for 6 hours, and 500 one-off peers in its first hour.
    let mut flows = beacons(host, &["45.0.0.1", "45.0.0.2"], 15 * MIN, T0, T0 + 6 * HOUR);
    for k in 0..500u32 {
        flows.push(FlowRecord::from_triple(
            T0 + i64::from(k) * 7_000,
            ip(host),
            v4(0xc633_6400 + k),
        ));
    }
    flows.sort_by_key(|f| f.start_ms);
    let detections = feed(&mut e, &flows);
    let c = e.host_counters(ip(host)).unwrap();
    assert_eq!(c.pairs, 2, "one-off peers idle for 2 × 40 min are gone");
    let s = e.stats();
    assert_eq!(s.evictions.pairs_sparse, 500);
    assert!(detections
        .iter()
        .any(|d| d.periods.iter().any(|p| p.count == 2)));
}

#[test]
fn batch_results_carry_what_analyze_prints() {
    let mut e = engine(EngineConfig::batch());
    let flows = beacons(
        "10.0.0.3",
        &["45.0.0.1", "45.0.0.2"],
        30 * MIN,
        T0,
        T0 + 5 * HOUR,
    );
    for f in &flows {
        e.ingest(f);
    }
    e.ingest(&FlowRecord::from_triple(T0, ip("10.0.0.3"), ip("8.8.8.8")));
    let detections = e.flush();
    let r = e.host_results();
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!((r.flows, r.peers), (flows.len() as u64 + 1, 3));
    assert_eq!(r.window_start_ms, T0);
    assert_eq!(r.window_end_ms, flows.last().unwrap().start_ms + 1);
    let half = r.periods.iter().find(|p| p.period_ms == 1_800_000).unwrap();
    assert_eq!(half.count(), 2);
    assert_eq!(half.peers[0].flows, 10);
    assert_eq!(half.peers[0].confidence, 1.0);
    assert_eq!(detections.len(), 1);
    assert_eq!(detections[0].evidence.flows_seen, flows.len() as u64 + 1);
    assert_eq!(detections[0].score, 0.75);
    // A second flush finds nothing new.
    assert!(e.flush().is_empty());
}
