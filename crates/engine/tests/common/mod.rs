//! Helpers shared by the engine's integration tests: fixtures, a literal batch reference,
//! synthetic workloads and orderings within a lateness bound.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relbot_engine::{Engine, EngineConfig, HostResult};
use relbot_flow::text::{detect_format, LineParser};
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, Classic, ClassicParams};

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
/// 2014-11-18 00:00 UTC, the day of the fixtures.
pub const T0: i64 = 1_416_268_800_000;

/// Per host: per period (ascending), the sorted periodic peers.
pub type Counts = BTreeMap<IpAddr, Vec<(u64, BTreeSet<IpAddr>)>>;

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/classic")
        .join(name)
}

/// The flows of a fixture, in file order.
pub fn fixture_flows(name: &str) -> Vec<FlowRecord> {
    let bytes = std::fs::read(data(name)).expect("read fixture");
    let format = detect_format(&bytes).expect("known format");
    let parser = LineParser::new(format, &bytes).expect("parser");
    bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| parser.parse_line(line).expect("fixture line parses"))
        .collect()
}

pub fn seed_params(config: &str) -> ClassicParams {
    let text = std::fs::read_to_string(data(config)).expect("read config");
    ClassicParams::from_seed_json(&text).expect("seed config")
}

pub fn classic(params: &ClassicParams) -> Algorithm {
    Algorithm::classic(params.clone()).expect("valid params")
}

/// The batch result computed the obvious way: group by pair, sort, evaluate once.
pub fn reference(flows: &[FlowRecord], params: &ClassicParams) -> Counts {
    let c = Classic::new(params.clone()).expect("valid params");
    let periods = &c.params().periods_ms;
    let mut pairs: HashMap<(IpAddr, IpAddr), Vec<i64>> = HashMap::new();
    for f in flows {
        pairs.entry((f.src, f.dst)).or_default().push(f.start_ms);
    }
    let mut scratch = c.scratch();
    let mut out: Counts = BTreeMap::new();
    for ((src, dst), mut times) in pairs {
        times.sort_unstable();
        let mask = c.evaluate(&times, &mut scratch);
        if mask.is_empty() {
            continue;
        }
        let host = out
            .entry(src)
            .or_insert_with(|| periods.iter().map(|&p| (p, BTreeSet::new())).collect());
        for i in mask.iter() {
            host[i].1.insert(dst);
        }
    }
    out
}

/// Per host per period peers from engine results.
pub fn counts_of(results: &[HostResult]) -> Counts {
    results
        .iter()
        .map(|r| {
            (
                r.host,
                r.periods
                    .iter()
                    .map(|p| (p.period_ms, p.peers.iter().map(|x| x.peer).collect()))
                    .collect(),
            )
        })
        .collect()
}

/// Runs an engine over `flows` in the given order, advancing after every `advance_every`
/// flows, and flushes; returns the engine and every detection.
pub fn run(
    config: EngineConfig,
    params: &ClassicParams,
    flows: &[FlowRecord],
    advance_every: usize,
) -> (Engine, Vec<relbot_codec::Detection>) {
    let mut engine = Engine::new(config, classic(params)).expect("engine");
    let mut detections = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        engine.ingest(f);
        if advance_every > 0 && i % advance_every == 0 {
            detections.extend(engine.advance());
        }
    }
    detections.extend(engine.flush());
    (engine, detections)
}

/// The original's output format, from engine results.
pub fn render_relbot(results: &[HostResult]) -> String {
    let mut s = String::new();
    for r in results {
        s.push_str("=============================\n");
        s.push_str(&format!("{}\n", r.host));
        for p in &r.periods {
            s.push_str(&format!("{} -> {}\n", p.period_ms, p.count()));
        }
    }
    s
}

/// Reorders `flows` so that each arrives at most `lateness_ms` after the newest start seen
/// before it: sorted by start plus a random delay in `[0, lateness_ms]`.
pub fn shuffle_within(flows: &[FlowRecord], lateness_ms: i64, seed: u64) -> Vec<FlowRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut keyed: Vec<(i64, u64, FlowRecord)> = flows
        .iter()
        .map(|f| {
            (
                f.start_ms + rng.random_range(0..=lateness_ms),
                rng.random(),
                *f,
            )
        })
        .collect();
    keyed.sort_by_key(|k| (k.0, k.1));
    keyed.into_iter().map(|k| k.2).collect()
}

/// Fully random order.
pub fn shuffle(flows: &[FlowRecord], seed: u64) -> Vec<FlowRecord> {
    let mut v = flows.to_vec();
    v.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    v
}

pub fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

/// A synthetic workload over `hours`: `hosts` hosts (10.0.x.y) with background traffic to a
/// shared pool of servers and a few random peers each, and every `bot_every`-th host a bot
/// beaconing to `peers_per_bot` peers with a period from `periods_ms` (± `jitter_ms`, some
/// missed beats). Sorted by start time.
pub fn workload(
    seed: u64,
    hosts: u32,
    hours: i64,
    bot_every: u32,
    peers_per_bot: u32,
    periods_ms: &[u64],
    jitter_ms: i64,
) -> Vec<FlowRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let span = hours * HOUR;
    let mut flows = Vec::new();
    for h in 0..hosts {
        let src = v4(0x0a00_0000 + h + 1);
        // Background: popular servers (many flows, irregular) and one-off peers.
        let background = rng.random_range(5..60);
        for _ in 0..background {
            let server = v4(0x5db8_0000 + rng.random_range(0..200));
            let n = rng.random_range(1..12);
            for _ in 0..n {
                flows.push(FlowRecord::from_triple(
                    T0 + rng.random_range(0..span),
                    src,
                    server,
                ));
            }
        }
        for _ in 0..rng.random_range(0..20) {
            let peer = v4(0xc000_0000 + rng.random_range(0..1_000_000));
            flows.push(FlowRecord::from_triple(
                T0 + rng.random_range(0..span),
                src,
                peer,
            ));
        }
        if bot_every > 0 && h % bot_every == 0 {
            let period = periods_ms[rng.random_range(0..periods_ms.len())] as i64;
            for _ in 0..peers_per_bot {
                let peer = v4(0x2d00_0000 + rng.random_range(0..5_000_000));
                let mut t = T0 + rng.random_range(0..period);
                while t < T0 + span {
                    if rng.random_range(0..20) != 0 {
                        let j = if jitter_ms > 0 {
                            rng.random_range(-jitter_ms..=jitter_ms)
                        } else {
                            0
                        };
                        flows.push(FlowRecord::from_triple(t + j, src, peer));
                    }
                    t += period;
                }
            }
        }
    }
    flows.sort_by_key(|f| f.start_ms);
    flows
}
