//! Tests of the simulator: determinism, the presets, and the planted behaviours.

use super::*;

fn small(name: &str) -> Scenario {
    let mut s = preset(name).unwrap();
    s.hosts = 200;
    s.duration_ms = 6 * 3_600_000;
    s.bots.share = 0.05;
    s
}

#[test]
fn deterministic_per_seed_and_sorted() {
    let s = small("realistic");
    let (a, ta) = generate(&s);
    let (b, _) = generate(&s);
    assert_eq!(a, b);
    assert_eq!(ta.bots.len(), 10);
    assert!(a.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
    assert!(a
        .iter()
        .all(|f| (s.start_ms..s.end_ms()).contains(&f.start_ms)));
    let (c, _) = generate(&Scenario { seed: 2, ..s });
    assert_ne!(a, c);
}

#[test]
fn every_preset_exists() {
    for (name, _) in PRESETS {
        assert!(preset(name).is_some(), "{name}");
    }
    assert!(preset("nope").is_none());
}

/// Start times of one bot's flows to one of its peers.
fn beats(flows: &[SimFlow], bot: &BotTruth, peer: IpAddr) -> Vec<i64> {
    flows
        .iter()
        .filter(|f| IpAddr::V4(f.src) == bot.host && IpAddr::V4(f.dst) == peer)
        .map(|f| f.start_ms)
        .collect()
}

#[test]
fn clean_bots_beat_exactly_and_drift_shifts_every_gap() {
    let s = small("clean");
    let (flows, truth) = generate(&s);
    let bot = &truth.bots[0];
    let times = beats(&flows, bot, bot.peers[0]);
    assert!(times.len() >= 6, "{times:?}");
    assert!(times.windows(2).all(|w| w[1] - w[0] == bot.period_ms));

    let mut s = small("clean");
    s.bots.drift_ms = 1000;
    let (flows, truth) = generate(&s);
    let bot = &truth.bots[0];
    let times = beats(&flows, bot, bot.peers[0]);
    assert!(times
        .windows(2)
        .all(|w| w[1] - w[0] == bot.period_ms + 1000));
}

#[test]
fn replies_unfolded_mirror_every_bot_flow() {
    let s = small("replies-unfolded");
    let (flows, truth) = generate(&s);
    let bot = &truth.bots[0];
    let peer = IpAddr::V4(
        flows
            .iter()
            .find(|f| IpAddr::V4(f.src) == bot.host && bot.peers.contains(&IpAddr::V4(f.dst)))
            .unwrap()
            .dst,
    );
    let out = beats(&flows, bot, peer);
    let back: Vec<i64> = flows
        .iter()
        .filter(|f| IpAddr::V4(f.src) == peer && IpAddr::V4(f.dst) == bot.host)
        .map(|f| f.start_ms)
        .collect();
    assert!(!out.is_empty());
    for t in out.iter().filter(|&&t| t < s.end_ms() - 1000) {
        assert!(
            back.iter().any(|b| (t + 5..t + 300).contains(b)),
            "no reply to {t}"
        );
    }
}

#[test]
fn offline_bots_are_offline_about_half_the_time() {
    let mut s = small("offline-restart");
    s.duration_ms = 48 * 3_600_000;
    let (_, truth) = generate(&s);
    let mean: f64 =
        truth.bots.iter().map(|b| b.offline_share).sum::<f64>() / truth.bots.len() as f64;
    assert!((0.3..0.7).contains(&mean), "{mean}");
}

#[test]
fn long_connections_are_split_back_to_back() {
    let mut s = small("realistic");
    s.background.long_share = 0.2;
    s.background.active_timeout_ms = 300_000;
    let (flows, _) = generate(&s);
    let split = flows.iter().filter(|f| f.duration_ms == 300_000).count();
    assert!(split > 100, "{split}");
}

#[test]
fn ipfix_file_reads_back() {
    let s = small("clean");
    let (flows, _) = generate(&s);
    let flows = &flows[..1000];
    let mut bytes = Vec::new();
    write_flows(flows, SimFormat::IpfixFile, &mut bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.ipfix");
    std::fs::write(&path, &bytes).unwrap();
    let (got, _) = relbot_flow::ipfix_file::read_file(&path).unwrap();
    assert_eq!(got.len(), flows.len());
    for (r, f) in got.iter().zip(flows) {
        assert_eq!(
            (r.start_ms, r.src, r.dst),
            (f.start_ms, IpAddr::V4(f.src), IpAddr::V4(f.dst))
        );
    }
}

#[test]
fn udp_sender_delivers_every_flow_as_ipfix() {
    let s = small("clean");
    let (flows, _) = generate(&s);
    let flows = &flows[..1_000];
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    let receiver = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = socket.recv(&mut buf) {
            bytes.extend_from_slice(&buf[..n]);
        }
        bytes
    });
    let report = send::send(
        flows,
        &addr,
        relbot_flow::netflow::template::Protocol::Ipfix,
        0.0,
    )
    .unwrap();
    assert_eq!(report.flows, 1_000);
    assert_eq!(report.datagrams, 5);
    let bytes = receiver.join().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("received.ipfix");
    std::fs::write(&path, &bytes).unwrap();
    let (got, _) = relbot_flow::ipfix_file::read_file(&path).unwrap();
    assert_eq!(got.len(), flows.len());
    assert!(got
        .iter()
        .zip(flows)
        .all(|(r, f)| (r.start_ms, r.dst) == (f.start_ms, IpAddr::V4(f.dst))));
}
