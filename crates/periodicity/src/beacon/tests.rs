//! Estimator tests of the beacon algorithm: exact periods, jitter, drift, missing beats,
//! offline spells, Poisson arrivals, tally and confidence.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::{Algorithm, PairVerdict, PeriodicFor};

const S: i64 = 1_000;
const MIN: i64 = 60 * S;
const H: i64 = 60 * MIN;
const T0: i64 = 1_416_268_800_000;

/// xorshift64*: deterministic noise without an RNG crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [-a, a], ms.
    fn jitter(&mut self, a: i64) -> i64 {
        if a == 0 {
            0
        } else {
            (self.next() % (2 * a as u64 + 1)) as i64 - a
        }
    }
}

/// A beacon over `window` ms: period `period` (+ `drift` ms per cycle, so the true period is
/// `period + drift`), each beat jittered by ±`jitter`, each beat dropped with probability
/// `drop`, first beat at a random phase.
fn beacon(period: i64, window: i64, drift: i64, jitter: i64, drop: f64, rng: &mut Rng) -> Vec<i64> {
    let true_period = period + drift;
    let phase = (rng.unit() * period as f64) as i64;
    let mut t: Vec<i64> = (0..)
        .map(|k| phase + k * true_period)
        .take_while(|&d| d < window)
        .filter_map(|d| {
            let keep = rng.unit() >= drop;
            let j = rng.jitter(jitter);
            keep.then_some(T0 + d + j)
        })
        .collect();
    t.sort_unstable();
    t
}

/// Poisson arrivals at `rate_per_h` over `window` ms.
fn poisson(rate_per_h: f64, window: i64, rng: &mut Rng) -> Vec<i64> {
    let mean_ms = H as f64 / rate_per_h;
    let mut t = Vec::new();
    let mut now = 0.0;
    loop {
        now += -mean_ms * (1.0 - rng.unit()).ln();
        if now >= window as f64 {
            break;
        }
        t.push(T0 + now as i64);
    }
    t
}

fn default_beacon() -> Beacon {
    Beacon::new(BeaconParams::default()).unwrap()
}

fn eval(b: &Beacon, times: &[i64]) -> Option<BeaconEstimate> {
    b.evaluate(times, &mut b.scratch())
}

/// Periods that are not configured candidates, so the estimate itself is checked.
const FREE_PERIODS: [i64; 5] = [90 * S, 7 * MIN, 23 * MIN + 17 * S, 61 * MIN, 97 * MIN];

#[test]
fn defaults_are_valid_and_documented_ranges_are_enforced() {
    let p = BeaconParams::default();
    p.validate().unwrap();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<BeaconParams>(&json).unwrap(), p);
    assert!(serde_json::from_str::<BeaconParams>(r#"{"nope": 1}"#).is_err());
    let partial: BeaconParams = serde_json::from_str(r#"{"max_multiple": 6}"#).unwrap();
    assert_eq!(partial.max_multiple, 6);
    let bad = [
        BeaconParams {
            min_period_ms: 0,
            ..p.clone()
        },
        BeaconParams {
            max_period_ms: 30_000,
            ..p.clone()
        },
        BeaconParams {
            rel_tolerance: f64::NAN,
            ..p.clone()
        },
        BeaconParams {
            rel_tolerance: 0.5,
            ..p.clone()
        },
        BeaconParams {
            abs_tolerance_ms: 30_000,
            ..p.clone()
        },
        BeaconParams {
            dedup_ms: 30_000,
            ..p.clone()
        },
        BeaconParams {
            max_multiple: 0,
            ..p.clone()
        },
        BeaconParams {
            min_explained_gaps: 1,
            ..p.clone()
        },
        BeaconParams {
            max_chance: 0.0,
            ..p.clone()
        },
        BeaconParams {
            min_confidence: 1.5,
            ..p.clone()
        },
        BeaconParams {
            candidate_periods_ms: vec![40_000],
            ..p.clone()
        },
        BeaconParams {
            candidate_periods_ms: vec![8 * 86_400_000],
            ..p.clone()
        },
        BeaconParams {
            candidate_periods_ms: (1..=65).map(|k| k * 600_000).collect(),
            ..p.clone()
        },
    ];
    for b in bad {
        assert!(Beacon::new(b.clone()).is_err(), "{b:?}");
    }
}

#[test]
fn clean_series_give_exact_periods() {
    let b = default_beacon();
    let mut rng = Rng::new(1);
    for window in [6 * H, 24 * H] {
        for period in FREE_PERIODS.iter().chain(&[10 * MIN, 30 * MIN, 2 * H]) {
            if window / period < 4 {
                continue;
            }
            let t = beacon(*period, window, 0, 0, 0.0, &mut rng);
            let e = eval(&b, &t).unwrap_or_else(|| panic!("{period} over {window}: {t:?}"));
            assert_eq!(e.period_ms, *period as u64, "{e:?}");
            assert_eq!(e.unexplained_gaps, 0);
            assert!(e.confidence > 0.95, "{e:?}");
        }
    }
}

#[test]
fn four_beats_of_a_half_hour_beacon_in_two_hours_are_enough() {
    let b = default_beacon();
    let t: Vec<i64> = (0..5)
        .map(|k| T0 + k * 30 * MIN + (k % 2) * 3 * S)
        .collect();
    let e = eval(&b, &t).expect("5 contacts in 2 h");
    assert_eq!(e.period_ms, 1_800_000);
    let e = eval(&b, &t[..4]).expect("4 contacts");
    assert_eq!(e.period_ms, 1_800_000);
    assert!(eval(&b, &t[..3]).is_none());
}

/// Worst absolute error of the fitted period over seeds, ms; panics if any series is missed.
fn worst_error(
    b: &Beacon,
    period: i64,
    window: i64,
    drift: i64,
    jitter: i64,
    drop: f64,
    seeds: u64,
) -> f64 {
    let mut worst = 0.0f64;
    for seed in 0..seeds {
        let mut rng = Rng::new(seed + 100);
        let t = beacon(period, window, drift, jitter, drop, &mut rng);
        let e = eval(b, &t).unwrap_or_else(|| {
            panic!("missed period {period} window {window} drift {drift} jitter {jitter} drop {drop} seed {seed}: {:?}", b.estimate(&t, &mut b.scratch()))
        });
        worst = worst.max((e.fitted_period_ms - (period + drift) as f64).abs());
        // The reported period is the candidate the estimate snapped to, or the estimate.
        let reported_ok =
            e.period_ms == period as u64 || (e.period_ms as f64 - e.fitted_period_ms).abs() < 1.0;
        assert!(reported_ok, "{e:?}");
    }
    worst
}

/// Bounded error under ±10 s jitter over 6 h and 24 h, 20 seeds each; the bound asserted is
/// `0.5 %·P + 2 s`. Measured worst fitted-period error over 200 seeds
/// (`estimation_error_measured`), 6 h: 0.08 s at 90 s, 0.34 s at 7 min, 0.55 s at 10 min,
/// 1.3 s at 23 min, 1.6 s at 30 min, 5.0 s at 61 min (6 beats); 24 h: 0.02 s at 90 s to 1.5 s
/// at 97 min. Always below 0.14 % of the period. With +1 s/cycle drift the figures are the
/// same (measured against the true period); with 30 % of the beats missing as well they at most
/// double, but 6 h series with fewer than ~6 beats left are missed (61 min: 108/200) and 3/200
/// 6 h 30-min series are reported at twice the period (gaps 1P, 2P, 2P, 2P, 2P: ambiguous).
#[test]
fn jitter_of_ten_seconds_keeps_the_error_bounded() {
    let b = default_beacon();
    for window in [6 * H, 24 * H] {
        for &period in FREE_PERIODS.iter().chain(&[10 * MIN, 30 * MIN]) {
            if window / period < 5 {
                continue;
            }
            let err = worst_error(&b, period, window, 0, 10 * S, 0.0, 20);
            assert!(
                err <= 0.005 * period as f64 + 2_000.0,
                "period {period} window {window}: {err}"
            );
        }
    }
}

/// A clock 1 s per cycle off the nominal period (the drift that defeats classic), with ±10 s
/// jitter on top: the fitted period tracks the true one and candidates still snap.
#[test]
fn drift_of_one_second_per_cycle_is_tracked() {
    let b = default_beacon();
    for window in [6 * H, 24 * H] {
        for &period in FREE_PERIODS.iter().chain(&[10 * MIN, 30 * MIN]) {
            if window / period < 5 {
                continue;
            }
            for drift in [S, -S, 2 * S] {
                let err = worst_error(&b, period, window, drift, 10 * S, 0.0, 10);
                assert!(
                    err <= 0.005 * period as f64 + 2_000.0,
                    "period {period} drift {drift}: {err}"
                );
            }
        }
    }
}

/// A period that lengthens by 1 s every cycle (chirp) stays one period over 6 h (10 min,
/// 30 min) and 24 h (30 min): the estimate lies within the range of the true gaps.
#[test]
fn period_growing_one_second_per_cycle_is_detected() {
    let b = default_beacon();
    for (period, window) in [(10 * MIN, 6 * H), (30 * MIN, 6 * H), (30 * MIN, 24 * H)] {
        let mut t = vec![T0];
        let mut gap = period;
        while t.last().unwrap() - T0 + gap < window {
            t.push(t.last().unwrap() + gap);
            gap += S;
        }
        let e = eval(&b, &t).unwrap_or_else(|| panic!("{period} {window}"));
        assert!(
            e.fitted_period_ms >= period as f64 && e.fitted_period_ms <= gap as f64,
            "{e:?}"
        );
    }
}

/// 30 % of the beats dropped at random (plus ±10 s jitter): every seed detected.
#[test]
fn thirty_percent_missing_beats_are_tolerated() {
    let b = default_beacon();
    for window in [6 * H, 24 * H] {
        for &period in &[7 * MIN, 10 * MIN, 30 * MIN] {
            let err = worst_error(&b, period, window, 0, 10 * S, 0.3, 20);
            assert!(
                err <= 0.005 * period as f64 + 2_000.0,
                "period {period}: {err}"
            );
        }
    }
}

/// Offline for half of a 24 h window (and a quarter of 6 h), with the timer keeping its phase or
/// restarting at a random one: one unexplained gap, period exact.
#[test]
fn offline_spells_with_and_without_timer_restart() {
    let b = default_beacon();
    for (window, period) in [(24 * H, 30 * MIN), (24 * H, 7 * MIN), (6 * H, 10 * MIN)] {
        for restart in [false, true] {
            for seed in 0..10 {
                let mut rng = Rng::new(seed);
                let full = beacon(period, window, 0, 0, 0.0, &mut rng);
                let off_start = T0 + window / 4;
                let off_end = off_start + window / 2;
                let shift = if restart { rng.jitter(period / 2) } else { 0 };
                let t: Vec<i64> = full
                    .iter()
                    .filter(|&&x| x < off_start)
                    .copied()
                    .chain(full.iter().filter(|&&x| x >= off_end).map(|&x| x + shift))
                    .collect();
                let e = eval(&b, &t).unwrap_or_else(|| panic!("{period} restart {restart}"));
                assert_eq!(e.period_ms, period as u64, "{e:?}");
                assert_eq!(e.unexplained_gaps, 1, "{e:?}");
                assert!(e.confidence > 0.85, "{e:?}");
            }
        }
    }
}

/// Exporter splits and bursts (2–3 flows within 5 s per beat) are one contact each.
#[test]
fn split_flows_are_one_contact() {
    let b = default_beacon();
    let mut rng = Rng::new(7);
    let mut t: Vec<i64> = beacon(23 * MIN, 6 * H, 0, 0, 0.0, &mut rng)
        .into_iter()
        .flat_map(|x| [x, x + 2 * S, x + 4 * S])
        .collect();
    t.sort_unstable();
    let e = eval(&b, &t).unwrap();
    assert_eq!(e.period_ms, 23 * 60_000);
    assert_eq!(e.contacts as usize, t.len() / 3);
}

/// Poisson arrivals at `rates` (per hour) over `window`: the share of `seeds` series reported
/// periodic.
fn poisson_false_positive_rate(
    b: &Beacon,
    rates: &[f64],
    window: i64,
    seeds: u64,
) -> Vec<(f64, f64)> {
    let mut scratch = b.scratch();
    rates
        .iter()
        .map(|&rate| {
            let hits = (0..seeds)
                .filter(|&seed| {
                    let mut rng = Rng::new(seed * 7919 + (rate * 1000.0) as u64);
                    let t = poisson(rate, window, &mut rng);
                    b.evaluate(&t, &mut scratch).is_some()
                })
                .count();
            (rate, hits as f64 / seeds as f64)
        })
        .collect()
}

/// No detection on Poisson arrivals, at rates from 1 per 4 h to 180 per hour (one per 20 s),
/// over 6 h and 24 h windows: 150 seeds per rate and window here (2 400 series), no false
/// positive allowed.
///
/// Measured false-positive rate (`cargo test --release -p relbot-periodicity -- --ignored
/// poisson_false_positive_rate_measured`): 2 000 seeds for each of the rates 0.25, 0.5, 1, 2,
/// 6, 20, 60 and 180 per hour and windows of 2 h, 6 h and 24 h (48 000 series): **1** pair
/// reported periodic, i.e. 2.1·10⁻⁵ per pair overall; the worst cell is 6 h at 0.5 per hour
/// (about 3 contacts expected) with 1/2 000 = 5·10⁻⁴; every other cell 0/2 000.
#[test]
fn poisson_arrivals_are_never_periodic() {
    let b = default_beacon();
    for window in [6 * H, 24 * H] {
        for (rate, fp) in poisson_false_positive_rate(&b, &POISSON_RATES, window, 150) {
            assert_eq!(fp, 0.0, "rate {rate}/h window {window}");
        }
    }
}

const POISSON_RATES: [f64; 8] = [0.25, 0.5, 1.0, 2.0, 6.0, 20.0, 60.0, 180.0];

#[test]
#[ignore = "slow: run with --release to measure the false-positive rate"]
fn poisson_false_positive_rate_measured() {
    let b = default_beacon();
    let mut total = 0.0;
    let mut n = 0.0;
    for window in [2 * H, 6 * H, 24 * H] {
        for (rate, fp) in poisson_false_positive_rate(&b, &POISSON_RATES, window, 2_000) {
            println!(
                "window {} h rate {rate}/h: false-positive rate {fp}",
                window / H
            );
            total += fp;
            n += 1.0;
        }
    }
    println!("mean false-positive rate {}", total / n);
}

/// Detection rate on beacons, measured alongside (for calibration).
#[test]
#[ignore = "slow: run with --release to measure"]
fn beacon_detection_rate_measured() {
    let b = default_beacon();
    for (window, period, jitter, drop) in [
        (2 * H, 30 * MIN, 0, 0.0),
        (2 * H, 30 * MIN, 10 * S, 0.0),
        (2 * H, 10 * MIN, 10 * S, 0.3),
        (6 * H, 30 * MIN, 10 * S, 0.3),
        (6 * H, 61 * MIN, 10 * S, 0.0),
        (6 * H, 90 * S, 10 * S, 0.3),
        (24 * H, 97 * MIN, 10 * S, 0.3),
    ] {
        let hits = (0..1000)
            .filter(|&seed| {
                let mut rng = Rng::new(seed);
                eval(&b, &beacon(period, window, S, jitter, drop, &mut rng)).is_some()
            })
            .count();
        println!("window {window} period {period} jitter {jitter} drop {drop}: {hits}/1000");
    }
}

#[test]
fn confidence_grows_with_evidence_and_falls_with_noise() {
    let b = default_beacon();
    let mut rng = Rng::new(3);
    let full = beacon(23 * MIN, 24 * H, 0, 5 * S, 0.0, &mut rng);
    let mut last = 0.0;
    for n in 4..=full.len() {
        let e = b.estimate(&full[..n], &mut b.scratch()).unwrap();
        assert!(e.confidence >= last, "{n}: {e:?} after {last}");
        last = e.confidence;
    }
    // Extra random flows lower it.
    let mut noisy = full.clone();
    noisy.extend((0..10).map(|_| T0 + (rng.unit() * (24 * H) as f64) as i64));
    noisy.sort_unstable();
    let e = b.estimate(&noisy, &mut b.scratch()).unwrap();
    assert!(e.confidence < last, "{e:?}");
    // Missing beats lower it too.
    let with_gaps: Vec<i64> = full
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 1)
        .map(|(_, &t)| t)
        .collect();
    let e = b.estimate(&with_gaps, &mut b.scratch()).unwrap();
    assert!(e.confidence < last && e.missing_beats > 0, "{e:?}");
}

#[test]
fn tally_groups_close_estimates_and_separates_periods() {
    let alg = Algorithm::beacon(BeaconParams::default()).unwrap();
    let v = |period_ms, confidence| {
        PairVerdict::new(vec![PeriodicFor {
            period_ms,
            confidence,
            chance: 0.0,
        }])
    };
    let (a, b, c, d, e) = (
        v(1_379_400, 0.9),
        v(1_380_600, 0.8),
        v(1_381_000, 0.7),
        v(420_000, 0.6),
        v(1_500_000, 0.9),
    );
    let tally = alg.tally([
        ("a", &a),
        ("d", &d),
        ("none", &PairVerdict::NONE),
        ("b", &b),
        ("c", &c),
        ("e", &e),
    ]);
    let got: Vec<(u64, Vec<&str>)> = tally
        .iter()
        .map(|t| (t.period_ms, t.peers.iter().map(|p| p.peer).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            (420_000, vec!["d"]),
            (1_380_600, vec!["a", "b", "c"]),
            (1_500_000, vec!["e"]),
        ]
    );
    let host = Beacon::host_confidence(tally[1].peers.iter().map(|p| p.confidence));
    assert!((host - (1.0 - 0.1 * 0.2 * 0.3)).abs() < 1e-12);
    assert_eq!(Beacon::host_confidence([]), 0.0);
}

#[test]
fn peers_of_one_bot_share_a_tally_entry_under_jitter_and_drift() {
    let alg = Algorithm::beacon(BeaconParams::default()).unwrap();
    let mut scratch = alg.scratch();
    let mut rng = Rng::new(11);
    let verdicts: Vec<PairVerdict> = (0..6)
        .map(|_| {
            let t = beacon(23 * MIN, 6 * H, S, 10 * S, 0.2, &mut rng);
            alg.evaluate_pair(&t, &mut scratch)
        })
        .collect();
    let tally = alg.tally(verdicts.iter().enumerate());
    assert_eq!(tally.len(), 1, "{tally:?}");
    assert_eq!(tally[0].count(), 6);
}

#[test]
fn algorithm_interface() {
    let alg = Algorithm::beacon(BeaconParams::default()).unwrap();
    assert_eq!(alg.name(), "beacon");
    assert!(alg.scores_peers());
    assert_eq!(alg.min_times(), 4);
    assert!(!alg.is_candidate(3) && alg.is_candidate(4));
    assert_eq!(alg.max_period_ms(), 7_200_000);
    let v = alg.version();
    assert!(v.starts_with("2-") && v.len() == 10, "{v}");
    let other = Algorithm::beacon(BeaconParams {
        max_multiple: 3,
        ..BeaconParams::default()
    })
    .unwrap();
    assert_ne!(other.version(), v);
    // A scratch made for another algorithm is replaced, not misused.
    let classic = Algorithm::classic(crate::ClassicParams::seed_shipped()).unwrap();
    let mut scratch = classic.scratch();
    let t: Vec<i64> = (0..8).map(|k| T0 + k * 30 * MIN).collect();
    let verdict = alg.evaluate_pair(&t, &mut scratch);
    assert_eq!(verdict.periods()[0].period_ms, 1_800_000);
    assert!(classic.evaluate_pair(&t, &mut scratch).is_periodic());
}

mod props {
    use super::Rng;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The windowed fit (binary search over sorted gaps) equals the gap-by-gap
        /// definition, field for field, for any gaps and period, including tolerances so wide
        /// that the windows overlap (where it falls back to the definition).
        #[test]
        fn windowed_fit_equals_the_gap_by_gap_fit(
            mut gaps in prop::collection::vec(1i64..20_000_000, 0..300),
            period in 1.0f64..8_000_000.0,
            abs_tolerance_ms in prop::sample::select(vec![0u64, 1, 25_000, 400_000]),
            rel_tolerance in prop::sample::select(vec![0.0f64, 0.02, 0.19]),
            max_multiple in 1u32..8,
            near in any::<bool>(),
        ) {
            if near {
                // Gaps at or next to multiples of the period and window edges.
                let tol = abs_tolerance_ms as f64 * 1.0;
                for (i, g) in gaps.iter_mut().enumerate() {
                    let k = (i % 9) as f64;
                    let edge = [0.0, tol, -tol, tol + 1.0, -tol - 1.0][i % 5];
                    *g = (k * period + edge).round().max(1.0) as i64;
                }
            }
            gaps.sort_unstable();
            // The shortest period must exceed twice the tolerance: raised with wide ones, so
            // that every case is valid (rejected cases once made up half the runs).
            let defaults = BeaconParams::default();
            let shortest = 3 * abs_tolerance_ms + 1;
            let candidate_periods_ms =
                defaults.candidate_periods_ms.iter().copied().filter(|&p| p >= shortest).collect();
            let b = Beacon::new(BeaconParams {
                abs_tolerance_ms,
                rel_tolerance,
                max_multiple,
                min_period_ms: defaults.min_period_ms.max(shortest),
                max_period_ms: defaults.max_period_ms.max(shortest),
                candidate_periods_ms,
                ..defaults
            })
            .unwrap();
            prop_assert_eq!(b.fit(&gaps, period), b.fit_each(&gaps, period));
        }

        /// Any beacon in the bounds with ≥ 8 beats seen (≥ 16 under 5 min), ±10 s jitter,
        /// ≤ 1 s/cycle drift and ≤ 30 % missing beats is periodic with a period within
        /// tolerance of the truth.
        #[test]
        fn beacons_are_found(
            period in 90_000i64..7_200_000,
            cycles in 8i64..60,
            jitter in 0i64..=10_000,
            drift in -1_000i64..=1_000,
            drop in 0.0f64..0.3,
            seed in any::<u64>(),
        ) {
            let b = default_beacon();
            // Known limits: under 5 min the ±25 s tolerance is a large share of the period, so
            // a few beats are not significant (16 are); and a period within the jitter of an
            // exporter active timeout (split_timeouts_ms) is taken for a split connection.
            let p = b.params();
            prop_assume!(period + drift <= p.max_period_ms as i64);
            prop_assume!(p.split_timeouts_ms.iter().all(|&s| {
                ((period + drift) - s as i64).abs() > 2 * jitter + p.split_tolerance_ms as i64
            }));
            let mut rng = Rng::new(seed);
            let t = beacon(period, period * cycles, drift, jitter, drop, &mut rng);
            prop_assume!(t.len() >= 8 && (period >= 300_000 || t.len() >= 16));
            let e = b.estimate(&t, &mut b.scratch());
            let e = e.unwrap();
            let truth = (period + drift) as f64;
            prop_assert!(e.periodic, "{:?}", e);
            // Within tolerance of the truth; a period snapped to a candidate is within the
            // candidate's tolerance (slightly wider than the truth's when the candidate is
            // longer).
            let tol = b.tolerance_ms(truth).max(b.tolerance_ms(e.period_ms as f64));
            prop_assert!((e.period_ms as f64 - truth).abs() <= tol, "{:?}", e);
        }

        /// Confidence is in [0, 1] and the verdict consistent, whatever the input.
        #[test]
        fn any_input_is_handled(mut t in prop::collection::vec(0i64..200_000_000, 0..200)) {
            t.sort_unstable();
            let b = default_beacon();
            if let Some(e) = b.estimate(&t, &mut b.scratch()) {
                prop_assert!((0.0..=1.0).contains(&e.confidence));
                prop_assert!(e.chance >= 0.0 && e.chance <= 1.0);
                prop_assert_eq!(e.explained_gaps + e.unexplained_gaps + 1, e.contacts);
            }
        }
    }
}

/// Worst fitted-period error (ms) and number of missed series over `seeds`.
fn error_and_misses(
    b: &Beacon,
    period: i64,
    window: i64,
    drift: i64,
    drop: f64,
    seeds: u64,
) -> (f64, u64) {
    let (mut worst, mut missed) = (0.0f64, 0);
    for seed in 0..seeds {
        let mut rng = Rng::new(seed + 100);
        let t = beacon(period, window, drift, 10 * S, drop, &mut rng);
        match eval(b, &t) {
            Some(e) => worst = worst.max((e.fitted_period_ms - (period + drift) as f64).abs()),
            None => missed += 1,
        }
    }
    (worst, missed)
}

/// Worst fitted-period errors and misses under ±10 s jitter, +1 s/cycle drift and 30 % missing
/// beats, 200 seeds each (for the documentation).
#[test]
#[ignore = "prints a table; run with --nocapture"]
fn estimation_error_measured() {
    let b = default_beacon();
    for window in [6 * H, 24 * H] {
        for &period in FREE_PERIODS.iter().chain(&[10 * MIN, 30 * MIN]) {
            if window / period < 5 {
                continue;
            }
            let j = error_and_misses(&b, period, window, 0, 0.0, 200);
            let d = error_and_misses(&b, period, window, S, 0.0, 200);
            let m = error_and_misses(&b, period, window, S, 0.3, 200);
            println!(
                "| {} h | {} s | {:.0} ms ({} missed) | {:.0} ms ({}) | {:.0} ms ({}) |",
                window / H,
                period / S,
                j.0,
                j.1,
                d.0,
                d.1,
                m.0,
                m.1
            );
        }
    }
}

/// A long connection split by the exporter's active timeout (back-to-back flows every 300 s
/// for two hours, then again later) is one contact per connection, not a 5-minute beacon;
/// a 7-minute beacon next to it is still found.
#[test]
fn active_timeout_splits_are_not_beacons() {
    let b = default_beacon();
    let mut t: Vec<i64> = (0..24).map(|k| T0 + k * 300 * S).collect();
    t.extend((0..30).map(|k| T0 + 5 * H + k * 300 * S + 400));
    assert!(
        eval(&b, &t).is_none(),
        "{:?}",
        b.estimate(&t, &mut b.scratch())
    );
    let mut scratch = b.scratch();
    let beacon: Vec<i64> = (0..30).map(|k| T0 + k * 7 * MIN).collect();
    assert_eq!(
        b.evaluate(&beacon, &mut scratch).unwrap().period_ms,
        7 * MIN as u64
    );
}

/// Host level, with pooling: hosts whose 20 peers all see Poisson arrivals (rates from 1 per
/// 4 h to 180 per hour, 6 h and 24 h windows, 100 seeds each: 1 600 hosts, 32 000 pairs)
/// never have a reported period group; weak verdicts alone do not make a host.
#[test]
fn poisson_hosts_are_never_reported() {
    let alg = Algorithm::beacon(BeaconParams::default()).unwrap();
    let mut scratch = alg.scratch();
    let mut reported = 0;
    for window in [6 * H, 24 * H] {
        for rate in POISSON_RATES {
            for seed in 0..100u64 {
                let mut rng = Rng::new(seed * 7919 + 13);
                let verdicts: Vec<PairVerdict> = (0..20)
                    .map(|_| alg.evaluate_pair(&poisson(rate, window, &mut rng), &mut scratch))
                    .collect();
                if !alg.tally(verdicts.iter().enumerate()).is_empty() {
                    reported += 1;
                }
            }
        }
    }
    assert_eq!(reported, 0);
}

/// Pooling: a bot whose peers each show only three beats in a row between restarts (too
/// little for any one pair to be reported alone) is found through the peers sharing its
/// period.
#[test]
fn weak_peers_sharing_a_period_are_pooled() {
    let alg = Algorithm::beacon(BeaconParams::default()).unwrap();
    let mut scratch = alg.scratch();
    let b = default_beacon();
    let verdicts: Vec<PairVerdict> = (0..8i64)
        .map(|peer| {
            // Two online spells of three beats at 40 min, the timer restarted in between.
            let phase = peer * 97 * S;
            let mut t: Vec<i64> = (0..3).map(|k| T0 + phase + k * 40 * MIN).collect();
            t.extend((0..3).map(|k| T0 + 4 * H + 17 * MIN + phase / 3 + k * 40 * MIN));
            if let Some(e) = b.estimate(&t, &mut b.scratch()) {
                assert!(e.chance > b.params().host_max_chance, "{e:?}");
            }
            alg.evaluate_pair(&t, &mut scratch)
        })
        .collect();
    let tally = alg.tally(verdicts.iter().enumerate());
    assert_eq!(tally.len(), 1, "{tally:?}");
    assert_eq!(tally[0].count(), 8);
    assert!(tally[0].period_ms.abs_diff(2_400_000) <= 48_000);
    // One such peer alone is not reported.
    assert!(alg.tally(verdicts.iter().take(1).enumerate()).is_empty());
}
