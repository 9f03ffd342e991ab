//! Pins every quirk of the original algorithm, and checks the fast path against a literal,
//! dense transcription of `SEED-ALGORITHM.md`.

use proptest::prelude::*;

use super::*;

const MIN: i64 = 60_000;

/// The algorithm exactly as written in the spec: dense array, statistics and scan over all of
/// it. Slow and obvious on purpose.
// `!(a >= b)` is the spec's wording (false for NaN), kept literally.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn reference(times: &[i64], p: &ClassicParams) -> Vec<bool> {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let r = p.radius as i64;
    let kern = |x: i64| -> f64 {
        if r == 0 {
            1.0
        } else {
            let q = (x.abs() as f32) / (r as f32);
            1.0 - (q as f64).powf(1.0 / std::f64::consts::E)
        }
    };
    p.periods_ms
        .iter()
        .map(|&period| {
            if sorted.is_empty() || (sorted.len() as f64) < p.min_val {
                return false;
            }
            let period = period as i64;
            let u = p.unit_ms as i64;
            let b = period / u;
            let mut s = vec![0.0f64; (b + r + 1) as usize];
            let t0 = sorted[0];
            let mut prev = None;
            for &t in &sorted {
                let d = t - t0;
                let level = d / period;
                let w = d - level * period;
                let i = w / u;
                if prev == Some((level, i)) {
                    continue;
                }
                prev = Some((level, i));
                for x in -r..=r {
                    let v = i - x;
                    if v < 0 {
                        continue;
                    }
                    s[v as usize] += kern(x);
                }
            }
            let n = s.iter().filter(|&&y| y != 0.0).count() as f64;
            let sum: f64 = s.iter().fold(0.0, |a, &y| a + y);
            let sum_sq: f64 = s.iter().fold(0.0, |a, &y| a + y * y);
            let mean = sum / n;
            let disp = (sum_sq / n - mean * mean).sqrt();
            let max = s.iter().fold(0.0f64, |a, &y| if y > a { y } else { a });
            if !(max >= p.min_val) {
                return false;
            }
            let thr = p.free_coef + p.max_coef * max + p.disp_coef * disp + p.mean_coef * mean;
            let mut seen = false;
            for &y in &s {
                if y >= thr {
                    if seen || y != max {
                        return false;
                    }
                    seen = true;
                }
            }
            seen
        })
        .collect()
}

fn eval(times: &[i64], p: &ClassicParams) -> Vec<bool> {
    let c = Classic::new(p.clone()).unwrap();
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mask = c.evaluate(&sorted, &mut c.scratch());
    // `Classic` sorts and de-duplicates its periods; answer in the order of `p`.
    let order = &c.params().periods_ms;
    p.periods_ms
        .iter()
        .map(|period| mask.contains(order.binary_search(period).unwrap()))
        .collect()
}

fn params(periods: &[u64], unit_ms: u64, radius: u32) -> ClassicParams {
    ClassicParams {
        periods_ms: periods.to_vec(),
        unit_ms,
        radius,
        ..ClassicParams::seed_shipped()
    }
}

/// Dense bins after step 4, for inspecting the array itself.
fn bins_after_spread(times: &[i64], p: &ClassicParams, period_ms: u64) -> Vec<f64> {
    let c = Classic::new(p.clone()).unwrap();
    let mut bins = vec![0.0; bins_for(period_ms, p)];
    let mut touched = Vec::new();
    c.spread(times, period_ms, &mut bins, &mut touched);
    bins
}

#[test]
fn kernel_values_at_each_distance() {
    // Computed independently (Python: q rounded to binary32, pow in binary64).
    let k = kernel(3);
    assert_eq!(k.len(), 7);
    assert_eq!(k[3], 1.0, "k(0)");
    assert_eq!(k[4], 0.332460599748444, "k(1)");
    assert_eq!(k[5], 0.13857067749624108, "k(2)");
    assert_eq!(k[6], 0.0, "k(R)");
    assert_eq!(k[..3], [k[6], k[5], k[4]], "symmetric");
    // Single precision matters: with q in double, k(1) would be 0.33246060706712.
    assert_ne!(k[4], 1.0 - (1.0f64 / 3.0).powf(1.0 / std::f64::consts::E));
    let k = kernel(2);
    assert_eq!(
        k,
        vec![0.0, 0.22507931549004934, 1.0, 0.22507931549004934, 0.0]
    );
    assert_eq!(kernel(0), vec![1.0]);
}

#[test]
fn one_beat_per_level_is_periodic() {
    let p = params(&[10 * MIN as u64], 1000, 3);
    let times: Vec<i64> = (0..6).map(|l| 1_000_000 + l * 10 * MIN).collect();
    assert_eq!(eval(&times, &p), vec![true]);
    assert_eq!(reference(&times, &p), vec![true]);
}

#[test]
fn duplicate_bins_in_a_level_count_once() {
    let p = params(&[10 * MIN as u64], 1000, 3);
    // Four flows in one bin of one level: one distinct (level, bin), peak 1 < MIN_VAL.
    let same_bin = [5_000, 5_100, 5_200, 5_999];
    assert_eq!(eval(&same_bin, &p), vec![false]);
    let bins = bins_after_spread(&same_bin, &p, 10 * MIN as u64);
    assert_eq!(bins[0], 1.0, "bins are relative to the first time");
    // The same flows spread over four levels do reach the peak.
    let four_levels = [5_000, 5_100 + 10 * MIN, 5_200 + 20 * MIN, 5_999 + 30 * MIN];
    assert_eq!(bins_after_spread(&four_levels, &p, 10 * MIN as u64)[0], 4.0);
    assert_eq!(eval(&four_levels, &p), vec![true]);
}

#[test]
fn no_wrap_around_at_either_end() {
    let p = params(&[10 * MIN as u64], 1000, 3);
    let period = 10 * MIN as u64;
    // t0 in bin 0: kernel mass left of bin 0 is dropped, not wrapped to the end.
    let bins = bins_after_spread(&[0, 10 * MIN], &p, period);
    let len = bins.len();
    assert_eq!(len, 600 + 3 + 1);
    assert_eq!(bins[0], 2.0);
    assert_eq!(bins[1], 2.0 * kernel(3)[4]);
    assert!(
        bins[len - 4..].iter().all(|&y| y == 0.0),
        "nothing wrapped to the end"
    );
    // A time in the last bin (599) spreads into the R extra bins past the period.
    let bins = bins_after_spread(&[0, 599_500], &p, period);
    assert_eq!(bins[599], 1.0);
    assert_eq!(bins[601], kernel(3)[5], "k(2) lands past the period");
    assert_eq!(bins[602], 0.0, "k(R) is 0");
    assert_eq!(
        bins[0], 1.0,
        "bin 0 holds only t0, nothing wrapped from the end"
    );
}

#[test]
fn fewer_than_min_val_times_weigh_zero() {
    let p = params(&[10 * MIN as u64], 1000, 3);
    let times: Vec<i64> = (0..3).map(|l| l * 10 * MIN).collect();
    assert_eq!(eval(&times, &p), vec![false]);
    let c = Classic::new(p).unwrap();
    assert!(!c.is_candidate(3) && c.is_candidate(4));
}

#[test]
fn two_equal_maxima_are_rejected() {
    let p = params(&[10 * MIN as u64], 1000, 0);
    // Bins 10 and 20 both reach 5 over five levels.
    let mut times = Vec::new();
    for l in 0..5 {
        times.push(10_000 + l * 10 * MIN);
        times.push(20_000 + l * 10 * MIN);
    }
    assert_eq!(eval(&times, &p), vec![false]);
    // Drop one beat of the second bin: a single maximum of 5 against 4 is periodic.
    times.pop();
    assert_eq!(eval(&times, &p), vec![true]);
    assert_eq!(reference(&times, &p), vec![true]);
}

#[test]
fn nan_dispersion_is_rejected() {
    // Bins 5.1, 5.1, 5.1+ulp: a unique maximum, but sum_sq/n - mean^2 rounds to -3.6e-15, so
    // the dispersion is NaN and so is the threshold, whatever its coefficients.
    let hi = 5.1000000000000005;
    let bins = [0.0, 5.1, 5.1, hi, 0.0];
    let mut touched = [1u32, 2, 3];
    let (n, sum, sum_sq): (f64, f64, f64) = (3.0, 5.1 + 5.1 + hi, 5.1 * 5.1 + 5.1 * 5.1 + hi * hi);
    assert!((sum_sq / n - (sum / n) * (sum / n)).sqrt().is_nan());
    // thr = max (if the dispersion were a number) would single out the maximum.
    let p = ClassicParams {
        periods_ms: vec![4000],
        unit_ms: 1000,
        radius: 0,
        min_val: 4.0,
        max_coef: 1.0,
        disp_coef: 0.0,
        mean_coef: 0.0,
        free_coef: 0.0,
    };
    let c = Classic::new(p).unwrap();
    assert!(
        !c.decide(&bins, &mut touched),
        "NaN threshold: nothing reaches it"
    );
    // The same rule with a well-defined dispersion accepts the unique maximum.
    let bins = [0.0, 5.0, 5.0, 6.0, 0.0];
    assert!(c.decide(&bins, &mut touched));
}

#[test]
fn non_positive_threshold_lets_zero_bins_count() {
    // The original's built-in DISP_COEF is -3: thresholds can drop to 0 or below, and then the
    // zero bins reach them too and reject the pair. The fast path must not skip them.
    let p = ClassicParams {
        periods_ms: vec![10 * MIN as u64],
        ..ClassicParams::seed_builtin()
    };
    let mut times: Vec<i64> = (0..6).map(|l| 7_000 + l * 10 * MIN).collect();
    times.extend((0..3).map(|l| 300_000 + l * 10 * MIN));
    assert_eq!(eval(&times, &p), reference(&times, &p));
}

#[test]
fn no_periods_no_result() {
    let p = params(&[], 1000, 3);
    let c = Classic::new(p).unwrap();
    assert!(c.evaluate(&[1, 2, 3, 4, 5], &mut c.scratch()).is_empty());
}

fn arb_params() -> impl Strategy<Value = ClassicParams> {
    (
        prop::collection::vec(1u64..4_000_000, 1..5),
        prop::sample::select(vec![1u64, 7, 500, 1000, 60_000]),
        0u32..6,
        prop::sample::select(vec![0.0, 1.0, 3.0, 4.0, 6.0]),
        (-3.0f64..2.0, -3.0f64..2.0, -1.0f64..2.0, -2.0f64..2.0),
    )
        .prop_filter("bins fit", |(periods, unit, radius, _, _)| {
            periods
                .iter()
                .all(|p| p / unit + u64::from(*radius) < 100_000)
        })
        .prop_map(
            |(
                periods_ms,
                unit_ms,
                radius,
                min_val,
                (max_coef, disp_coef, mean_coef, free_coef),
            )| {
                ClassicParams {
                    periods_ms,
                    unit_ms,
                    radius,
                    min_val,
                    max_coef,
                    disp_coef,
                    mean_coef,
                    free_coef,
                }
            },
        )
}

/// Start times: a noisy beacon plus random extra flows, over about a day.
fn arb_times() -> impl Strategy<Value = Vec<i64>> {
    (
        1u64..3_000_000,
        0u64..30_000,
        prop::collection::vec(0i64..86_400_000, 0..40),
        prop::collection::vec(0i64..20_000, 0..60),
    )
        .prop_map(|(period, jitter, extra, noise)| {
            let mut t: Vec<i64> = noise
                .iter()
                .enumerate()
                .map(|(k, n)| {
                    1_416_000_000_000 + k as i64 * period as i64 + n % (jitter as i64 + 1)
                })
                .collect();
            t.extend(extra.iter().map(|e| 1_416_000_000_000 + e));
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn fast_path_equals_literal_transcription(p in arb_params(), times in arb_times()) {
        prop_assert_eq!(eval(&times, &p), reference(&times, &p));
    }

    #[test]
    fn result_does_not_depend_on_input_order(times in arb_times(), seed in any::<u64>()) {
        let p = ClassicParams::seed_shipped();
        let mut shuffled = times.clone();
        // Deterministic Fisher-Yates from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(eval(&times, &p), eval(&shuffled, &p));
    }
}
