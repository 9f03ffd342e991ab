//! Engine throughput and memory on a synthetic day: 2,000 hosts over 24 h with background
//! traffic (popular servers, one-off peers) and 10 % bots beaconing to 6 peers each.
//!
//! - `engine/stream-24h`: ingest + evaluate (5-min ticks, 24 h horizon, 5-min lateness,
//!   flows arriving shuffled within the lateness), then flush;
//! - `engine/stream-dense-1h`: the same flows squeezed into one hour, so that evaluation is
//!   amortised over ~40 flows per host and tick, as at a real network's rates;
//! - `engine/batch-24h`: the `relbot analyze` path (keep everything, evaluate at flush);
//! - `engine/scanner-5M`: a host scanning 5 million addresses among bots, within an 8 MiB
//!   budget;
//! - `algorithm/classic-24h` and `algorithm/beacon-24h`: the streaming day through the
//!   engine with each algorithm (issue 7: beacon at most 3× classic per flow).
//!
//! Before the timings it prints bytes of state per retained flow time and per pair, both as
//! the engine estimates them (`EngineStats::state_bytes`, what the budget is checked
//! against) and as a counting allocator measures them.
#![allow(unsafe_code)] // the counting allocator below: GlobalAlloc is an unsafe trait.
#![allow(clippy::expect_used)] // bench set-up: failing loudly is the point

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relbot_engine::{Engine, EngineConfig};
use relbot_flow::FlowRecord;
use relbot_periodicity::{Algorithm, BeaconParams, ClassicParams};

/// Counts live heap bytes as glibc charges them (request + 8, rounded to 16, at least 32),
/// the same model as the engine's estimate.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

fn charge(size: usize) -> usize {
    (size + 8).next_multiple_of(16).max(32)
}

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(charge(layout.size()), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(charge(layout.size()), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(charge(new_size), Ordering::Relaxed);
        LIVE.fetch_sub(charge(layout.size()), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const T0: i64 = 1_416_268_800_000;

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

/// The synthetic day (or the same flows squeezed into `span_ms`), arriving shuffled within
/// `lateness_ms`.
fn day(hosts: u32, span_ms: i64, lateness_ms: i64) -> Vec<FlowRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let periods = ClassicParams::seed_shipped().periods_ms;
    let mut flows = Vec::new();
    let at = |rng: &mut ChaCha8Rng| T0 + rng.random_range(0..span_ms);
    for h in 0..hosts {
        let src = v4(0x0a00_0000 + h);
        for _ in 0..40 {
            let server = v4(0x5db8_0000 + rng.random_range(0..20_000));
            for _ in 0..rng.random_range(1..20) {
                flows.push(FlowRecord::from_triple(at(&mut rng), src, server));
            }
        }
        for _ in 0..30 {
            let peer = v4(0xc000_0000 + rng.random_range(0..50_000_000));
            flows.push(FlowRecord::from_triple(at(&mut rng), src, peer));
        }
        if h % 10 == 0 {
            let period = periods[rng.random_range(0..periods.len())] as i64;
            for _ in 0..6 {
                let peer = v4(0x2d00_0000 + rng.random_range(0..5_000_000));
                let mut t = T0 + rng.random_range(0..period);
                while t < T0 + span_ms {
                    if rng.random_range(0..20) != 0 {
                        flows.push(FlowRecord::from_triple(
                            t + rng.random_range(-1500..=1500),
                            src,
                            peer,
                        ));
                    }
                    t += period;
                }
            }
        }
    }
    let mut keyed: Vec<(i64, FlowRecord)> = flows
        .into_iter()
        .map(|f| (f.start_ms + rng.random_range(0..=lateness_ms), f))
        .collect();
    keyed.sort_by_key(|k| k.0);
    keyed.into_iter().map(|k| k.1).collect()
}

fn algorithm() -> Algorithm {
    Algorithm::classic(ClassicParams::seed_shipped()).expect("valid params")
}

fn streaming() -> EngineConfig {
    EngineConfig::streaming()
}

/// Ingests everything, advancing every 4096 flows (a poll batch); returns the detections.
fn run(engine: &mut Engine, flows: &[FlowRecord], flush: bool) -> usize {
    let mut n = 0;
    for chunk in flows.chunks(4096) {
        for f in chunk {
            engine.ingest(f);
        }
        n += engine.advance().len();
    }
    if flush {
        n += engine.flush().len();
    }
    n
}

fn report_memory(flows: &[FlowRecord]) {
    for (name, config) in [("stream", streaming()), ("batch", EngineConfig::batch())] {
        let before = LIVE.load(Ordering::Relaxed);
        let mut engine = Engine::new(config, algorithm()).expect("engine");
        let started = Instant::now();
        let detections = run(&mut engine, flows, false);
        let secs = started.elapsed().as_secs_f64();
        let measured = LIVE.load(Ordering::Relaxed) - before;
        let s = engine.stats();
        let times = s.retained_times as f64;
        println!(
            "{name}: {} flows in {secs:.2} s ({:.0} flows/s), {} hosts, {} pairs, {} retained \
             times, {} host and {} pair evaluations, {detections} detections before flush",
            flows.len(),
            flows.len() as f64 / secs,
            s.hosts,
            s.pairs,
            s.retained_times,
            s.host_evaluations,
            s.pair_evaluations,
        );
        println!(
            "{name}: state {} B estimated = {:.2} B per retained time, {:.1} B per pair; \
             allocator: {measured} B = {:.2} B per retained time",
            s.state_bytes,
            s.state_bytes as f64 / times,
            s.state_bytes as f64 / s.pairs as f64,
            measured as f64 / times
        );
        black_box(engine);
    }
}

fn scanner_flows(scanned: u32) -> Vec<FlowRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let span = 12 * HOUR;
    let scanner = v4(0x0a63_0001);
    let mut flows: Vec<FlowRecord> = (0..scanned)
        .map(|k| {
            let t = T0 + i64::from(k) * span / i64::from(scanned);
            FlowRecord::from_triple(t, scanner, v4(0x2000_0000 + k))
        })
        .collect();
    for b in 0..20u32 {
        for p in 0..3u32 {
            let mut t = T0 + rng.random_range(0..10 * MIN);
            while t < T0 + span {
                flows.push(FlowRecord::from_triple(
                    t,
                    v4(0x0a01_0000 + b),
                    v4(0x2d00_0000 + b * 16 + p),
                ));
                t += 10 * MIN;
            }
        }
    }
    flows.sort_by_key(|f| f.start_ms);
    flows
}

fn scanner_config() -> EngineConfig {
    EngineConfig {
        budget_bytes: Some(8 << 20),
        ..streaming()
    }
}

fn benches(c: &mut Criterion) {
    let flows = day(2000, 24 * HOUR, 5 * MIN);
    report_memory(&flows);
    let dense = day(2000, HOUR, 5 * MIN);

    let mut g = c.benchmark_group("engine");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("stream-24h", |b| {
        b.iter(|| {
            let mut e = Engine::new(streaming(), algorithm()).expect("engine");
            black_box(run(&mut e, &flows, true))
        })
    });
    g.bench_function("stream-24h-beacon", |b| {
        b.iter(|| {
            let beacon = Algorithm::beacon(BeaconParams::default()).expect("valid params");
            let mut e = Engine::new(streaming(), beacon).expect("engine");
            black_box(run(&mut e, &flows, true))
        })
    });
    g.throughput(Throughput::Elements(dense.len() as u64));
    g.bench_function("stream-dense-1h", |b| {
        b.iter(|| {
            let mut e = Engine::new(streaming(), algorithm()).expect("engine");
            black_box(run(&mut e, &dense, true))
        })
    });
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("batch-24h", |b| {
        b.iter(|| {
            let mut e = Engine::new(EngineConfig::batch(), algorithm()).expect("engine");
            black_box(run(&mut e, &flows, true))
        })
    });

    let scan = scanner_flows(5_000_000);
    {
        let mut e = Engine::new(scanner_config(), algorithm()).expect("engine");
        let mut peak = 0;
        let mut bots = std::collections::BTreeSet::new();
        for chunk in scan.chunks(4096) {
            for f in chunk {
                e.ingest(f);
            }
            bots.extend(e.advance().into_iter().map(|d| d.host));
            peak = peak.max(e.stats().state_bytes);
        }
        bots.extend(e.flush().into_iter().map(|d| d.host));
        let s = e.stats();
        println!(
            "scanner-5M: peak state {peak} B (budget {} B), {} hosts detected, peer-capped {}, \
             sparse pairs evicted {}",
            8 << 20,
            bots.len(),
            s.flows_peer_capped,
            s.evictions.pairs_sparse
        );
    }
    g.throughput(Throughput::Elements(scan.len() as u64));
    g.bench_function("scanner-5M", |b| {
        b.iter(|| {
            let mut e = Engine::new(scanner_config(), algorithm()).expect("engine");
            black_box(run(&mut e, &scan, true))
        })
    });
    g.finish();

    // Per-flow cost of each algorithm: same flows, same engine settings.
    let mut g = c.benchmark_group("algorithm");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(flows.len() as u64));
    let beacon = Algorithm::beacon(BeaconParams::default()).expect("valid params");
    for (name, algo) in [("classic-24h", algorithm()), ("beacon-24h", beacon)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut e = Engine::new(streaming(), algo.clone()).expect("engine");
                black_box(run(&mut e, &flows, true))
            })
        });
    }
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
