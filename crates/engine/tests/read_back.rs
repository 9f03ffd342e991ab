//! Reading a host's last evaluation back pair by pair ([`Engine::periodic_pairs`],
//! [`Engine::host_window`], [`Engine::pair_times`]): what `relbot analyze` builds its results
//! and evidence from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Duration;

use relbot_engine::{Engine, EngineConfig, FilterConfig, PeerFilter};
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, ClassicParams};

const T0: i64 = 1_416_268_800_000;
const MIN: i64 = 60_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn classic() -> Algorithm {
    Algorithm::classic(ClassicParams::seed_shipped()).unwrap()
}

/// Host .1: a beacon every 10 min to .7 (12 flows), three irregular flows to .8; host .2: one
/// flow to .7. Fed out of order.
fn flows() -> Vec<FlowRecord> {
    let (h1, h2) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let mut flows: Vec<FlowRecord> = (0..12)
        .rev()
        .map(|k| FlowRecord::from_triple(T0 + k * 10 * MIN, h1, ip("192.0.2.7")))
        .collect();
    for t in [3 * MIN, 4 * MIN + 17, 71 * MIN] {
        flows.push(FlowRecord::from_triple(T0 + t, h1, ip("192.0.2.8")));
    }
    flows.push(FlowRecord::from_triple(T0 + 5 * MIN, h2, ip("192.0.2.7")));
    flows
}

fn batch(filter: Option<PeerFilter>) -> Engine {
    let mut engine = Engine::new(EngineConfig::batch(), classic()).unwrap();
    if let Some(f) = filter {
        engine.set_filter(f);
    }
    for f in flows() {
        engine.ingest(&f);
    }
    engine.flush();
    engine
}

#[test]
fn batch_read_back_matches_the_host_result() {
    let engine = batch(None);
    let host = ip("10.0.0.1");
    let result = engine.host_results().remove(0);
    let window = engine.host_window(host).unwrap();
    assert_eq!(
        (
            window.window_start_ms,
            window.window_end_ms,
            window.flows,
            window.peers,
            window.first_flow_ms,
            window.last_flow_ms
        ),
        (
            result.window_start_ms,
            result.window_end_ms,
            result.flows,
            result.peers,
            result.first_flow_ms,
            result.last_flow_ms
        )
    );
    assert_eq!((window.flows, window.peers), (15, 2));

    let periodic = engine.periodic_pairs(host);
    assert_eq!(periodic.len(), 1);
    let pair = &periodic[0];
    assert_eq!(
        (pair.peer, pair.flows, pair.first_flow_ms),
        (ip("192.0.2.7"), 12, T0)
    );
    assert!(pair.verdict.is_periodic());
    // The tally of the read-back pairs is the host's result.
    let tallied = relbot_engine::tally_periods(
        engine.algorithm(),
        periodic.iter().map(|p| ((p.peer, p.flows), &p.verdict)),
    );
    assert_eq!(tallied, result.periods);

    let times = engine.pair_times(host, ip("192.0.2.7")).unwrap();
    assert_eq!(
        times,
        (0..12).map(|k| T0 + k * 10 * MIN).collect::<Vec<_>>()
    );
    assert_eq!(
        engine.pair_times(host, ip("192.0.2.8")).unwrap(),
        vec![T0 + 3 * MIN, T0 + 4 * MIN + 17, T0 + 71 * MIN]
    );
    assert_eq!(engine.pair_times(host, ip("192.0.2.9")), None);

    // A host without periodic peers still has its window; unknown hosts have nothing.
    let other = engine.host_window(ip("10.0.0.2")).unwrap();
    assert_eq!((other.flows, other.peers), (1, 1));
    assert!(engine.periodic_pairs(ip("10.0.0.2")).is_empty());
    assert_eq!(engine.host_window(ip("10.9.9.9")), None);
    assert!(engine.periodic_pairs(ip("10.9.9.9")).is_empty());
}

#[test]
fn periodic_pairs_are_listed_before_the_filter() {
    let allow = FilterConfig {
        allow_peers: vec!["192.0.2.7".into()],
        ..FilterConfig::off()
    };
    let engine = batch(Some(PeerFilter::new(&allow).unwrap()));
    let host = ip("10.0.0.1");
    // The filter drops the only periodic peer from the result…
    assert!(engine.host_results().is_empty());
    // …but the pair read back is still there, for a caller that filters over all hosts.
    let periodic = engine.periodic_pairs(host);
    assert_eq!(periodic.len(), 1);
    assert_eq!(periodic[0].peer, ip("192.0.2.7"));
}

#[test]
fn nothing_is_read_back_before_an_evaluation() {
    let mut engine = Engine::new(EngineConfig::batch(), classic()).unwrap();
    for f in flows() {
        engine.ingest(&f);
    }
    let host = ip("10.0.0.1");
    assert_eq!(engine.host_window(host), None);
    assert!(engine.periodic_pairs(host).is_empty());
    assert_eq!(engine.pair_times(host, ip("192.0.2.7")), None);
}

#[test]
fn streaming_read_back_is_the_window_of_the_last_tick() {
    // A one-hour horizon, ticks every 5 min: at the last tick only the last hour counts.
    let config = EngineConfig {
        horizon: Some(Duration::from_secs(3600)),
        eval_interval: Some(Duration::from_secs(300)),
        allowed_lateness: Some(Duration::ZERO),
        ..EngineConfig::streaming()
    };
    let mut engine = Engine::new(config, classic()).unwrap();
    let (host, peer) = (ip("10.0.0.1"), ip("192.0.2.7"));
    // Every 10 min for 3 hours, in time order, evaluated as the clock moves.
    for k in 0..18 {
        engine.ingest(&FlowRecord::from_triple(T0 + k * 10 * MIN, host, peer));
        engine.advance();
    }
    // The last tick evaluated is before the newest flow (it is not closed yet); the window
    // is the hour before that tick, and only the times in it are read back.
    let window = engine.host_window(host).unwrap();
    let tick = window.window_end_ms;
    assert!(
        tick > T0 + 120 * MIN && tick <= T0 + 170 * MIN,
        "tick {tick}"
    );
    assert_eq!(window.window_start_ms, tick - 60 * MIN);
    let expected: Vec<i64> = (0..18)
        .map(|k| T0 + k * 10 * MIN)
        .filter(|t| (tick - 60 * MIN..tick).contains(t))
        .collect();
    assert!(expected.len() < 18);
    assert_eq!(window.flows, expected.len() as u64);
    assert_eq!(window.peers, 1);
    assert_eq!(window.first_flow_ms, expected[0]);
    assert_eq!(window.last_flow_ms, *expected.last().unwrap());
    assert_eq!(engine.pair_times(host, peer).unwrap(), expected);
}

#[test]
fn a_reset_engine_is_a_fresh_one() {
    // One engine judges host .1's flows, is reset, then judges host .2's flows (which start
    // before the first run's flush: a fresh clock must not find them late).
    let host1 = ip("10.0.0.1");
    let host2 = ip("10.0.0.2");
    let later: Vec<FlowRecord> = flows()
        .into_iter()
        .filter(|f| f.src == host1)
        .map(|mut f| {
            f.start_ms += 3600 * MIN;
            f
        })
        .collect();
    let second: Vec<FlowRecord> = flows()
        .into_iter()
        .map(|mut f| {
            f.src = host2;
            f
        })
        .collect();

    let mut reused = Engine::new(EngineConfig::batch(), classic()).unwrap();
    for f in &later {
        reused.ingest(f);
    }
    assert!(!reused.flush().is_empty());
    reused.reset();
    assert_eq!(reused.hosts(), Vec::<IpAddr>::new());
    assert_eq!(reused.closed_end_ms(), None);
    let mut fresh = Engine::new(EngineConfig::batch(), classic()).unwrap();
    for f in &second {
        assert_eq!(reused.ingest(f), fresh.ingest(f));
    }
    assert_eq!(reused.flush(), fresh.flush());
    assert_eq!(reused.host_results(), fresh.host_results());
    // Every counter and gauge alike, but the state bytes: they count the buffers kept.
    let (kept, new) = (reused.stats(), fresh.stats());
    assert!(kept.state_bytes >= new.state_bytes);
    assert_eq!(
        relbot_engine::EngineStats {
            state_bytes: new.state_bytes,
            ..kept
        },
        new
    );
    assert_eq!(reused.periodic_pairs(host2), fresh.periodic_pairs(host2));
    assert_eq!(reused.host_window(host1), None);
    assert_eq!(reused.host_results().len(), 1);
}
