//! Per-flow cost of `Algorithm::evaluate_pair` (what the engine calls) for `classic` and
//! `beacon` on the same pairs: throughput is in flow start times.

#![allow(clippy::expect_used)] // a bench with invalid setup should stop loudly

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use relbot_periodicity::{Algorithm, BeaconParams, ClassicParams};

/// A xorshift stream, so the bench needs no RNG crate.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

const T0: i64 = 1_416_268_800_000;

/// 24 h pairs: beacons (clean-ish, jittered with missing beats) and random times.
fn pairs() -> Vec<(&'static str, Vec<i64>)> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let beacon48: Vec<i64> = (0..48)
        .map(|k| T0 + k * 1_800_000 + (noise(&mut seed) % 2000) as i64)
        .collect();
    // 7-minute beacon, ±10 s jitter, ~30 % of the beats missing, 2 flows per beat.
    let mut beacon7 = Vec::new();
    for k in 0..205 {
        if noise(&mut seed) % 10 >= 3 {
            let t = T0 + k * 420_000 + (noise(&mut seed) % 20_001) as i64 - 10_000;
            beacon7.extend([t, t + 1_500]);
        }
    }
    beacon7.sort_unstable();
    let random = |n: usize, seed: &mut u64| -> Vec<i64> {
        let mut t: Vec<i64> = (0..n)
            .map(|_| T0 + (noise(seed) % 86_400_000) as i64)
            .collect();
        t.sort_unstable();
        t
    };
    vec![
        ("beacon-48", beacon48),
        ("beacon7-jitter-missing", beacon7),
        ("random-8", random(8, &mut seed)),
        ("random-200", random(200, &mut seed)),
        ("random-5000", random(5000, &mut seed)),
    ]
}

fn algorithms(c: &mut Criterion) {
    let algorithms = [
        Algorithm::classic(ClassicParams::seed_shipped()).expect("valid params"),
        Algorithm::beacon(BeaconParams::default()).expect("valid params"),
    ];
    for (name, times) in pairs() {
        let mut group = c.benchmark_group(format!("evaluate_pair/{name}"));
        group.throughput(Throughput::Elements(times.len() as u64));
        for alg in &algorithms {
            let mut scratch = alg.scratch();
            group.bench_with_input(BenchmarkId::from_parameter(alg.name()), &times, |b, t| {
                b.iter(|| alg.evaluate_pair(t, &mut scratch))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, algorithms);
criterion_main!(benches);
