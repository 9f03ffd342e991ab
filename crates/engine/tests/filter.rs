//! False-positive control in the engine: allow-listed peers and ports, prevalence
//! (a peer periodic for many hosts is infrastructure), the minimum number of peers sharing a
//! period, and the beacon host confidence as the detection's score and confidence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::IpAddr;

use relbot_codec::Detection;
use relbot_engine::{Engine, EngineConfig, FilterConfig, PeerFilter};
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, Beacon, BeaconParams};

const T0: i64 = 1_416_268_800_000;
const MIN: i64 = 60_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `host` contacts `peer` every `period` minutes for 6 hours, from `phase` ms, to `port`.
fn beacon(
    flows: &mut Vec<FlowRecord>,
    host: IpAddr,
    peer: IpAddr,
    period: i64,
    phase: i64,
    port: u16,
) {
    let mut t = T0 + phase;
    while t < T0 + 6 * 60 * MIN {
        let mut r = FlowRecord::from_triple(t, host, peer);
        r.dst_port = port;
        flows.push(r);
        t += period * MIN;
    }
}

/// A streaming engine (evaluations every 5 min) fed `flows` in time order, then flushed.
/// Prevalence is counted as hosts are evaluated, so it is complete from the second tick on.
fn stream(filter: Option<FilterConfig>, mut flows: Vec<FlowRecord>) -> (Engine, Vec<Detection>) {
    let alg = Algorithm::beacon(BeaconParams::default()).unwrap();
    let mut engine = Engine::new(EngineConfig::streaming(), alg).unwrap();
    if let Some(f) = filter {
        engine.set_filter(PeerFilter::new(&f).unwrap());
    }
    flows.sort_by_key(|r| r.start_ms);
    let mut detections = Vec::new();
    for r in &flows {
        engine.ingest(r);
        detections.extend(engine.advance());
    }
    detections.extend(engine.flush());
    (engine, detections)
}

/// Twelve hosts beacon to one NTP server; host .1 (the bot) also to three peers at 30 min;
/// host .2 to one peer at 20 min and to an allow-listed update server at 30 min.
fn run(filter: FilterConfig) -> Vec<(IpAddr, usize)> {
    let mut flows = Vec::new();
    let engine = &mut flows;
    let ntp = ip("198.51.100.123");
    for h in 1..=12u8 {
        let host = IpAddr::from([10, 0, 0, h]);
        beacon(engine, host, ntp, 17, i64::from(h) * 7_000, 123);
    }
    let bot = ip("10.0.0.1");
    for (k, peer) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        beacon(engine, bot, ip(peer), 30, k as i64 * 91_000, 16_471);
    }
    beacon(engine, ip("10.0.0.2"), ip("203.0.113.9"), 20, 5_000, 443);
    beacon(engine, ip("10.0.0.2"), ip("192.0.2.80"), 30, 9_000, 443);
    let (engine, _) = stream(Some(filter), flows);
    let mut out: Vec<(IpAddr, usize)> = engine
        .host_results()
        .iter()
        .map(|h| {
            (
                h.host,
                h.periods.iter().map(|p| p.count()).max().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn without_a_filter_every_periodic_peer_counts() {
    let got = run(FilterConfig::off());
    assert_eq!(got.len(), 12, "{got:?}");
    assert!(got.contains(&(ip("10.0.0.1"), 3)), "{got:?}");
}

#[test]
fn prevalent_peers_are_infrastructure() {
    let got = run(FilterConfig::default());
    // The NTP server is periodic for 12 hosts > 5: gone; what remains is the bot's three
    // peers and host .2's two single peers.
    assert_eq!(
        got,
        vec![(ip("10.0.0.1"), 3), (ip("10.0.0.2"), 1)],
        "{got:?}"
    );
}

#[test]
fn allow_lists_and_minimum_peers() {
    let got = run(FilterConfig {
        allow_peers: vec!["192.0.2.0/24".into()],
        min_peers: 2,
        ..FilterConfig::default()
    });
    assert_eq!(got, vec![(ip("10.0.0.1"), 3)], "{got:?}");
    // Ignoring the bot's port at ingest removes it as well.
    let got = run(FilterConfig {
        allow_ports: vec![16_471],
        min_peers: 2,
        ..FilterConfig::default()
    });
    assert_eq!(got, vec![], "{got:?}");
}

#[test]
fn detections_carry_the_beacon_host_confidence() {
    let mut flows = Vec::new();
    let bot = ip("10.0.0.1");
    for (k, peer) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        beacon(&mut flows, bot, ip(peer), 30, k as i64 * 91_000, 16_471);
    }
    let (_, detections) = stream(None, flows);
    let d = detections.last().unwrap();
    assert_eq!(d.periods[0].count, 2);
    let confidences = d.periods[0].peer_confidence.clone().unwrap();
    let expected = Beacon::host_confidence(confidences.iter().copied());
    assert!(expected > 0.0);
    assert_eq!(d.score, expected);
    assert_eq!(d.confidence, expected);
}
