//! Snapshots: round trips, the changelog protocol across a crash (no flow counted twice, no
//! detection id with different contents, the same prevalence), and malformed bytes (errors,
//! never panics).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use relbot_codec::Detection;
use relbot_engine::{ChangeSet, ClockState, Engine, EngineConfig, EngineError, Ingest};
use relbot_flow::FlowRecord;
use relbot_periodicity::ClassicParams;

const LATENESS: i64 = 2 * MIN;

fn config() -> EngineConfig {
    EngineConfig {
        horizon: Some(Duration::from_secs(3 * 3600)),
        eval_interval: Some(Duration::from_secs(300)),
        allowed_lateness: Some(Duration::from_millis(LATENESS as u64)),
        ..EngineConfig::streaming()
    }
}

fn engine() -> Engine {
    Engine::new(config(), classic(&ClassicParams::seed_shipped())).unwrap()
}

fn flows() -> Vec<FlowRecord> {
    let p = ClassicParams::seed_shipped();
    shuffle_within(&workload(21, 120, 6, 4, 4, &p.periods_ms, 800), LATENESS, 4)
}

/// A compacted changelog: the latest value per host, and the latest clock.
#[derive(Default)]
struct Changelog {
    hosts: BTreeMap<IpAddr, Vec<u8>>,
    clock: Option<ClockState>,
}

impl Changelog {
    fn write_hosts(&mut self, cs: &ChangeSet) {
        for c in &cs.hosts {
            match &c.state {
                Some(bytes) => self.hosts.insert(c.host, bytes.clone()),
                None => self.hosts.remove(&c.host),
            };
        }
    }

    fn write(&mut self, cs: &ChangeSet) {
        self.write_hosts(cs);
        self.clock = Some(ClockState::decode(&cs.clock.encode()).unwrap());
    }

    fn restore(&self) -> Engine {
        let mut e = engine();
        for (host, bytes) in &self.hosts {
            e.restore(*host, Some(bytes)).unwrap();
        }
        if let Some(c) = &self.clock {
            e.restore_clock(c);
        }
        e
    }
}

/// Processes `flows[from..to]` in poll batches of `batch`: ingest with positions, advance,
/// write the changelog, "commit". Returns the detections and the last committed position.
fn process(
    e: &mut Engine,
    log: &mut Changelog,
    flows: &[FlowRecord],
    from: usize,
    to: usize,
    batch: usize,
    produced: &mut Vec<Detection>,
) -> usize {
    let mut committed = from;
    for start in (from..to).step_by(batch) {
        let end = (start + batch).min(to);
        for (i, f) in flows.iter().enumerate().take(end).skip(start) {
            e.ingest_at(f, i as u64);
        }
        produced.extend(e.advance());
        log.write(&e.take_changed());
        committed = end;
    }
    committed
}

fn by_id(detections: &[Detection]) -> BTreeMap<String, Detection> {
    let mut m = BTreeMap::new();
    for d in detections {
        if let Some(old) = m.insert(d.detection_id.to_string(), d.clone()) {
            assert_eq!(&old, d, "one id, one content");
        }
    }
    m
}

#[test]
fn a_crash_and_restore_counts_no_flow_twice_and_changes_no_detection() {
    let flows = flows();
    let n = flows.len();

    // The reference: one replica, no crash.
    let mut reference = engine();
    let mut ref_log = Changelog::default();
    let mut want = Vec::new();
    process(&mut reference, &mut ref_log, &flows, 0, n, 400, &mut want);
    want.extend(reference.flush());
    assert!(want.len() > 10);

    for (crash_at, clock_lost) in [(n / 3, false), (n / 2 + 17, true)] {
        let mut e = engine();
        let mut log = Changelog::default();
        let mut produced = Vec::new();
        let committed = process(&mut e, &mut log, &flows, 0, crash_at, 400, &mut produced);
        // Past the commit: more flows, their state written (the clock too, or not), then
        // the replica dies before committing the offsets.
        let dirty_end = (committed + 300).min(n);
        for (i, f) in flows.iter().enumerate().take(dirty_end).skip(committed) {
            e.ingest_at(f, i as u64);
        }
        produced.extend(e.advance());
        let cs = e.take_changed();
        if clock_lost {
            log.write_hosts(&cs);
        } else {
            log.write(&cs);
        }
        drop(e);

        // A new replica restores and resumes from the committed offset.
        let mut e = log.restore();
        let mut skipped = 0;
        for (i, f) in flows.iter().enumerate().take(dirty_end).skip(committed) {
            if e.ingest_at(f, i as u64) == Ingest::Duplicate {
                skipped += 1;
            }
        }
        assert!(skipped > 0);
        produced.extend(e.advance());
        log.write(&e.take_changed());
        process(&mut e, &mut log, &flows, dirty_end, n, 400, &mut produced);
        produced.extend(e.flush());

        // No flow counted twice: every host's counter matches the single run.
        for host in reference.hosts() {
            assert_eq!(
                e.host_counters(host).map(|c| c.flows_accepted),
                reference.host_counters(host).map(|c| c.flows_accepted),
                "{host}"
            );
        }
        assert_eq!(e.hosts(), reference.hosts());
        assert_eq!(e.host_results(), reference.host_results());
        // Same detections, and no id with different contents.
        let (got, want) = (by_id(&produced), by_id(&want));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        assert_eq!(got, want);
    }
}

#[test]
fn snapshots_round_trip_byte_for_byte_and_continue_identically() {
    let flows = flows();
    let half = flows.len() / 2;
    let mut a = engine();
    let mut out_a = Vec::new();
    for f in &flows[..half] {
        a.ingest(f);
    }
    out_a.extend(a.advance());
    let mut b = engine();
    for host in a.hosts() {
        let bytes = a.host_snapshot(host).unwrap();
        b.restore(host, Some(&bytes)).unwrap();
        assert_eq!(b.host_snapshot(host).unwrap(), bytes, "{host}");
    }
    b.restore_clock(&a.clock_state());
    assert_eq!(b.stats().retained_times, a.stats().retained_times);
    assert_eq!(b.stats().hosts_restored, a.stats().hosts);
    let mut out_b = Vec::new();
    for f in &flows[half..] {
        a.ingest(f);
        b.ingest(f);
    }
    out_a.extend(a.advance());
    out_a.extend(a.flush());
    out_b.extend(b.advance());
    out_b.extend(b.flush());
    assert!(!out_b.is_empty());
    // b emits exactly what a emitted after the snapshot.
    assert_eq!(&out_a[out_a.len() - out_b.len()..], &out_b[..]);
    assert_eq!(a.host_results(), b.host_results());
}

#[test]
fn findings_of_another_algorithm_version_are_dropped_on_restore() {
    let mut a = engine();
    for f in beacon_host() {
        a.ingest(&f);
    }
    a.flush();
    let host = v4(0x0a00_0001);
    let bytes = a.host_snapshot(host).unwrap();
    let mut p = ClassicParams::seed_shipped();
    p.radius = 2;
    let mut b = Engine::new(config(), classic(&p)).unwrap();
    b.restore(host, Some(&bytes)).unwrap();
    assert!(b.host_results().is_empty());
    assert_eq!(b.host_counters(host), a.host_counters(host));
    let mut c = engine();
    c.restore(host, Some(&bytes)).unwrap();
    assert_eq!(c.host_results(), a.host_results());
}

fn beacon_host() -> Vec<FlowRecord> {
    (0..20)
        .flat_map(|k| {
            [1u32, 2].map(|p| {
                FlowRecord::from_triple(T0 + k * 10 * MIN + i64::from(p), v4(0x0a00_0001), v4(p))
            })
        })
        .collect()
}

#[test]
fn every_truncation_of_a_snapshot_is_an_error() {
    let mut a = engine();
    for f in beacon_host() {
        a.ingest(&f);
    }
    a.flush();
    let host = v4(0x0a00_0001);
    let bytes = a.host_snapshot(host).unwrap();
    let mut b = engine();
    for len in 0..bytes.len() {
        let e = b.restore(host, Some(&bytes[..len])).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::SnapshotTruncated { .. } | EngineError::SnapshotInvalid { .. }
            ),
            "{len}: {e}"
        );
    }
    assert!(
        b.host_counters(host).is_none(),
        "failed restores change nothing"
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(b.restore(host, Some(&longer)).is_err());
    let mut newer = bytes.clone();
    newer[0] = 3;
    assert!(matches!(
        b.restore(host, Some(&newer)),
        Err(EngineError::SnapshotVersion { found: 3, .. })
    ));
    b.restore(host, Some(&bytes)).unwrap();
    b.restore(host, None).unwrap();
    assert!(
        b.host_counters(host).is_none(),
        "a tombstone removes the host"
    );
}

/// LEB128 of `v`.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

#[test]
fn version_1_snapshots_are_still_read_and_re_evaluated_once() {
    // A version 1 record as the previous build wrote it: no drift, no verdicts. One host,
    // one peer with the beacon host's 20 times, none evaluated yet.
    let (host, peer) = (v4(0x0a00_0001), v4(1));
    let times: Vec<i64> = (0..20).map(|k| T0 + k * 10 * MIN + 1).collect();
    let mut v1 = vec![1u8, 0];
    varint(&mut v1, 20);
    zigzag(&mut v1, times[19]);
    zigzag(&mut v1, T0);
    zigzag(&mut v1, i64::MIN);
    let version = engine().algorithm_version().to_owned();
    varint(&mut v1, version.len() as u64);
    v1.extend_from_slice(version.as_bytes());
    varint(&mut v1, 1);
    v1.push(4);
    v1.extend_from_slice(&[0, 0, 0, 1]);
    varint(&mut v1, 20);
    varint(&mut v1, 0);
    zigzag(&mut v1, times[0]);
    for w in times.windows(2) {
        varint(&mut v1, (w[1] - w[0]) as u64);
    }
    let mut b = engine();
    b.restore(host, Some(&v1)).unwrap();
    let counters = b.host_counters(host).unwrap();
    assert_eq!((counters.flows_accepted, counters.retained_times), (20, 20));
    // Rewritten in the current format, and judged like the same flows ingested afresh.
    assert_eq!(b.host_snapshot(host).unwrap()[0], 2);
    b.restore_clock(&ClockState {
        max_event_ms: Some(times[19]),
        flushed_through_ms: None,
        position: None,
    });
    b.flush();
    let mut a = engine();
    for &t in &times {
        a.ingest(&FlowRecord::from_triple(t, host, peer));
    }
    a.flush();
    assert!(!a.host_results().is_empty());
    assert_eq!(b.host_results(), a.host_results());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut e = engine();
        let _ = e.restore(v4(1), Some(&bytes));
        let _ = ClockState::decode(&bytes);
    }

    #[test]
    fn corrupted_snapshots_never_panic(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut a = engine();
        for f in beacon_host() {
            a.ingest(&f);
        }
        a.flush();
        let mut bytes = a.host_snapshot(v4(0x0a00_0001)).unwrap();
        for (at, v) in flips {
            let len = bytes.len();
            bytes[at % len] = v;
        }
        let mut e = engine();
        if e.restore(v4(7), Some(&bytes)).is_ok() {
            // Whatever decoded is usable.
            e.ingest(&FlowRecord::from_triple(T0 + 400 * MIN, v4(7), v4(1)));
            let _ = e.flush();
            let _ = e.host_results();
        }
    }
}

/// Eight hosts beacon to one shared peer (infrastructure: periodic for more than
/// `prevalence_max_hosts` = 3 hosts) and each to two peers of its own, every 10 minutes.
fn shared_peer_flows() -> Vec<FlowRecord> {
    let shared = v4(0xc000_0201);
    let mut flows = Vec::new();
    for h in 0..8_u32 {
        let src = v4(0x0a00_0000 + h + 1);
        let own = [v4(0xc633_6400 + 2 * h), v4(0xc633_6401 + 2 * h)];
        for k in 0..30_i64 {
            let t = k * 10 * MIN + i64::from(h) * 1_000;
            flows.push(FlowRecord::from_triple(t, src, shared));
            for (i, peer) in own.iter().enumerate() {
                flows.push(FlowRecord::from_triple(
                    t + 30_000 + i as i64 * 7,
                    src,
                    *peer,
                ));
            }
        }
    }
    flows.sort_by_key(|f| (f.start_ms, f.src, f.dst));
    flows
}

/// The prevalence filter after a restore counts what it counted before: the snapshots list
/// each host's periodic peers. (Rebuilt from empty, it let the hosts evaluated first after
/// the restore count the shared peer as evidence, with detections the uninterrupted engine
/// never emitted.)
#[test]
fn a_restore_keeps_the_prevalence_of_periodic_peers() {
    let filter = relbot_engine::PeerFilter::new(&relbot_engine::FilterConfig {
        prevalence_max_hosts: 3,
        prevalence_max_share: 0.01,
        fold_replies: false,
        ..relbot_engine::FilterConfig::default()
    })
    .unwrap();
    let with_filter = |mut e: Engine| {
        e.set_filter(filter.clone());
        e
    };
    let flows = shared_peer_flows();
    let n = flows.len();
    let mut reference = with_filter(engine());
    let mut want = Vec::new();
    process(
        &mut reference,
        &mut Changelog::default(),
        &flows,
        0,
        n,
        50,
        &mut want,
    );
    want.extend(reference.flush());
    assert!(!want.is_empty());

    // A crash half-way: the next owner restores the changelog and continues.
    let mut e = with_filter(engine());
    let mut log = Changelog::default();
    let mut got = Vec::new();
    let committed = process(&mut e, &mut log, &flows, 0, n / 2, 50, &mut got);
    drop(e);
    let mut e = with_filter(log.restore());
    process(&mut e, &mut log, &flows, committed, n, 50, &mut got);
    got.extend(e.flush());
    assert_eq!(by_id(&got), by_id(&want));
}
