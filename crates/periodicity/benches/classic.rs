//! Cost of the classic check per pair and per flow time, on beacon and random pairs.

#![allow(clippy::expect_used)] // a bench with invalid setup should stop loudly

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use relbot_periodicity::{Classic, ClassicParams};

/// A xorshift stream, so the bench needs no RNG crate.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A 24 h pair: a 30-minute beacon with ±1 s jitter (48 times), or `n` random times.
fn pairs() -> Vec<(&'static str, Vec<i64>)> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let beacon: Vec<i64> = (0..48)
        .map(|k| 1_416_268_800_000 + k * 1_800_000 + (noise(&mut seed) % 2000) as i64)
        .collect();
    let random = |n: usize, seed: &mut u64| -> Vec<i64> {
        let mut t: Vec<i64> = (0..n)
            .map(|_| 1_416_268_800_000 + (noise(seed) % 86_400_000) as i64)
            .collect();
        t.sort_unstable();
        t
    };
    vec![
        ("beacon-48", beacon),
        ("random-8", random(8, &mut seed)),
        ("random-200", random(200, &mut seed)),
        ("random-5000", random(5000, &mut seed)),
    ]
}

fn classic(c: &mut Criterion) {
    let algo = Classic::new(ClassicParams::seed_shipped()).expect("valid params");
    let mut scratch = algo.scratch();
    let mut group = c.benchmark_group("classic/evaluate");
    for (name, times) in pairs() {
        group.throughput(Throughput::Elements(times.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &times, |b, t| {
            b.iter(|| algo.evaluate(t, &mut scratch))
        });
    }
    group.finish();
}

criterion_group!(benches, classic);
criterion_main!(benches);
