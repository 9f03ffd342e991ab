//! [`Algorithm`]: the one interface through which the detection engine (and so both
//! `relbot analyze` and `relbot-detector`) runs any periodicity algorithm.
//!
//! An algorithm answers two questions:
//! 1. per (host, peer) pair, from the pair's sorted start times: for which periods is the pair
//!    periodic, and how sure is it ([`Algorithm::evaluate_pair`] → [`PairVerdict`]);
//! 2. per host, from the verdicts of all its pairs: how many peers share each period
//!    ([`Algorithm::tally`] → one [`PeriodTally`] per reported period).
//!
//! `classic` answers with fixed candidate periods and confidence 1.0, and tallies exactly per
//! candidate period (zero counts included), as the original printed them. An algorithm that
//! *estimates* periods (e.g. 1 799 s for one peer, 1 801 s for another) returns its estimates in
//! the verdict and groups nearby estimates in its tally, so that the engine never needs to know
//! how periods are compared. This is an enum, not a trait-object registry: adding an algorithm
//! means adding a variant and the arms of the `match`es below, and the compiler lists them.

use std::fmt::Write as _;

use crate::{
    Beacon, BeaconParams, BeaconParamsError, BeaconScratch, Classic, ClassicParams, ClassicScratch,
    ParamsError,
};

/// A periodicity algorithm with its parameters, ready to evaluate pairs.
#[derive(Debug, Clone)]
pub enum Algorithm {
    /// The original RelBot check, bit for bit (see [`Classic`]).
    Classic(Classic),
    /// relbot's own: per-pair period estimation from inter-contact gaps, tolerant of jitter,
    /// drift, missing beats and restarts, with a confidence (see [`Beacon`]).
    Beacon(Beacon),
}

/// Reusable working memory of an [`Algorithm`], one per thread; made by
/// [`Algorithm::scratch`].
#[derive(Debug, Clone)]
pub struct AlgorithmScratch(Scratch);

#[derive(Debug, Clone)]
enum Scratch {
    Classic {
        classic: ClassicScratch,
        /// Bin indices of one period, for the pre-check.
        bins: Vec<u32>,
    },
    Beacon(BeaconScratch),
}

/// One period a pair is periodic for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodicFor {
    /// The period, ms: a configured candidate (classic) or an estimate.
    pub period_ms: u64,
    /// How sure the algorithm is, in [0, 1] (classic: always 1.0).
    pub confidence: f64,
    /// Bound on the chance that this periodicity is a coincidence (beacon; classic: 0). A
    /// beacon pair above `max_chance` only counts together with other peers of its host
    /// sharing the period (see `Beacon::tally`).
    pub chance: f64,
}

/// What an algorithm concluded for one pair: the periods it is periodic for, ascending.
///
/// Empty for the vast majority of pairs; it allocates only when the pair is periodic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairVerdict {
    periods: Vec<PeriodicFor>,
}

impl PairVerdict {
    /// The verdict "not periodic for any period".
    pub const NONE: Self = Self {
        periods: Vec::new(),
    };

    /// A verdict from its periods; sorts them by period (ascending) and keeps one entry per
    /// period (the most confident), clamping confidences into [0, 1] (NaN becomes 0).
    pub fn new(mut periods: Vec<PeriodicFor>) -> Self {
        for p in &mut periods {
            p.confidence = if p.confidence.is_nan() {
                0.0
            } else {
                p.confidence.clamp(0.0, 1.0)
            };
        }
        periods.sort_by(|a, b| {
            a.period_ms
                .cmp(&b.period_ms)
                .then(b.confidence.total_cmp(&a.confidence))
        });
        periods.dedup_by_key(|p| p.period_ms);
        Self { periods }
    }

    /// Whether the pair is periodic for at least one period.
    pub fn is_periodic(&self) -> bool {
        !self.periods.is_empty()
    }

    /// The periods the pair is periodic for, ascending.
    pub fn periods(&self) -> &[PeriodicFor] {
        &self.periods
    }
}

/// One peer counted for a period in a host's tally.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerScore<P> {
    /// The caller's handle of the peer (an address, an index…).
    pub peer: P,
    /// The pair's confidence for this period, in [0, 1].
    pub confidence: f64,
}

/// The peers of one host that share one period.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodTally<P> {
    /// The period, ms (classic: a candidate period; estimating algorithms: the group's
    /// representative period).
    pub period_ms: u64,
    /// The peers periodic with this period, in the order the verdicts were given.
    pub peers: Vec<PeerScore<P>>,
}

impl<P> PeriodTally<P> {
    /// Number of peers contacted with this period: the count the original printed.
    pub fn count(&self) -> usize {
        self.peers.len()
    }
}

/// Revision of the classic algorithm's implementation: bump it when its results change.
const CLASSIC_REVISION: &str = "1";

/// Revision of the beacon algorithm's implementation: bump it when its results change.
const BEACON_REVISION: &str = "2";

impl Algorithm {
    /// The classic algorithm with these parameters.
    pub fn classic(params: ClassicParams) -> Result<Self, ParamsError> {
        Classic::new(params).map(Self::Classic)
    }

    /// The beacon algorithm with these parameters.
    pub fn beacon(params: BeaconParams) -> Result<Self, BeaconParamsError> {
        Beacon::new(params).map(Self::Beacon)
    }

    /// Short stable name, e.g. `classic` (the `algorithm` field of a detection).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Classic(_) => "classic",
            Self::Beacon(_) => "beacon",
        }
    }

    /// Algorithm and parameter version, `REVISION-FINGERPRINT`, e.g. `1-3f2a9c01`: the
    /// implementation's revision and a stable hash of the parameters. Detections made with
    /// different parameters therefore never share an id.
    pub fn version(&self) -> String {
        match self {
            Self::Classic(c) => {
                let p = c.params();
                let mut h = Fnv::new();
                h.u64(p.periods_ms.len() as u64);
                p.periods_ms.iter().for_each(|&v| h.u64(v));
                h.u64(p.unit_ms);
                h.u64(u64::from(p.radius));
                for v in [p.min_val, p.max_coef, p.disp_coef, p.mean_coef, p.free_coef] {
                    h.u64(v.to_bits());
                }
                let mut s = String::with_capacity(12);
                let _ = write!(s, "{CLASSIC_REVISION}-{:08x}", h.0 >> 32);
                s
            }
            Self::Beacon(b) => {
                let p = b.params();
                let mut h = Fnv::new();
                h.u64(p.candidate_periods_ms.len() as u64);
                p.candidate_periods_ms.iter().for_each(|&v| h.u64(v));
                h.u64(p.split_timeouts_ms.len() as u64);
                p.split_timeouts_ms.iter().for_each(|&v| h.u64(v));
                h.u64(p.split_tolerance_ms);
                for v in [
                    p.min_period_ms,
                    p.max_period_ms,
                    p.abs_tolerance_ms,
                    p.dedup_ms,
                    u64::from(p.max_multiple),
                    u64::from(p.min_explained_gaps),
                ] {
                    h.u64(v);
                }
                for v in [
                    p.rel_tolerance,
                    p.max_chance,
                    p.min_confidence,
                    p.pool_max_chance,
                    p.host_max_chance,
                ] {
                    h.u64(v.to_bits());
                }
                let mut s = String::with_capacity(12);
                let _ = write!(s, "{BEACON_REVISION}-{:08x}", h.0 >> 32);
                s
            }
        }
    }

    /// A scratch buffer sized for this algorithm.
    pub fn scratch(&self) -> AlgorithmScratch {
        match self {
            Self::Classic(c) => AlgorithmScratch(Scratch::Classic {
                classic: c.scratch(),
                bins: Vec::new(),
            }),
            Self::Beacon(b) => AlgorithmScratch(Scratch::Beacon(b.scratch())),
        }
    }

    /// Whether a pair with `count` start times can be periodic at all; callers skip the
    /// others without sorting or decoding their times.
    pub fn is_candidate(&self, count: usize) -> bool {
        match self {
            Self::Classic(c) => count > 0 && c.is_candidate(count),
            Self::Beacon(b) => count >= b.min_times(),
        }
    }

    /// The fewest start times a pair needs to be periodic (at least 1). Pairs with fewer times
    /// that have been idle for long are what the engine evicts first.
    pub fn min_times(&self) -> usize {
        match self {
            Self::Classic(c) => {
                let min_val = c.params().min_val;
                if min_val <= 1.0 {
                    1
                } else if min_val >= 1e9 {
                    1_000_000_000
                } else {
                    // Smallest n with n as f64 >= MIN_VAL (rule 1 of the classic check).
                    min_val.ceil() as usize
                }
            }
            Self::Beacon(b) => b.min_times(),
        }
    }

    /// The longest period the algorithm can report, ms (for eviction rules).
    pub fn max_period_ms(&self) -> u64 {
        match self {
            Self::Classic(c) => c.params().periods_ms.last().copied().unwrap_or(0),
            Self::Beacon(b) => b.max_period_ms(),
        }
    }

    /// Whether two reported periods are the same period: equal for `classic` (its periods are
    /// the configured candidates), within the tolerance of the shorter one for `beacon`,
    /// whose estimates move a little from one evaluation to the next as contacts arrive.
    pub fn same_period(&self, a_ms: u64, b_ms: u64) -> bool {
        match self {
            Self::Classic(_) => a_ms == b_ms,
            Self::Beacon(b) => {
                let shorter = a_ms.min(b_ms) as f64;
                (a_ms.abs_diff(b_ms) as f64) <= b.tolerance_ms(shorter)
            }
        }
    }

    /// Whether confidences carry information (so that detections list them per peer);
    /// classic's are always 1.0, so it does not.
    pub fn scores_peers(&self) -> bool {
        match self {
            Self::Classic(_) => false,
            Self::Beacon(_) => true,
        }
    }

    /// Evaluates one pair from its start times, sorted ascending (duplicates kept: they count
    /// towards the classic minimum).
    pub fn evaluate_pair(
        &self,
        sorted_times: &[i64],
        scratch: &mut AlgorithmScratch,
    ) -> PairVerdict {
        match self {
            Self::Classic(c) => {
                let Scratch::Classic { classic, bins } = &mut scratch.0 else {
                    // A scratch of another algorithm: start a fresh one of the right kind.
                    *scratch = self.scratch();
                    return self.evaluate_pair(sorted_times, scratch);
                };
                let periods = &c.params().periods_ms;
                if !periods
                    .iter()
                    .any(|&p| classic_may_be_periodic(c, sorted_times, p, bins))
                {
                    return PairVerdict::NONE;
                }
                let mask = c.evaluate(sorted_times, classic);
                if mask.is_empty() {
                    return PairVerdict::NONE;
                }
                let periods = mask
                    .iter()
                    .map(|i| PeriodicFor {
                        period_ms: c.params().periods_ms[i],
                        confidence: 1.0,
                        chance: 0.0,
                    })
                    .collect();
                // Candidate periods are ascending and distinct: already in verdict order.
                PairVerdict { periods }
            }
            Self::Beacon(b) => {
                let Scratch::Beacon(s) = &mut scratch.0 else {
                    *scratch = self.scratch();
                    return self.evaluate_pair(sorted_times, scratch);
                };
                match b.evaluate_pooled(sorted_times, s) {
                    Some(e) => PairVerdict {
                        periods: vec![PeriodicFor {
                            period_ms: e.period_ms,
                            confidence: e.confidence,
                            chance: e.chance,
                        }],
                    },
                    None => PairVerdict::NONE,
                }
            }
        }
    }

    /// Tallies the verdicts of one host's pairs into peers per period, ascending by period.
    /// Classic: one entry per candidate period, zero counts included, each peer counted for
    /// every candidate period it is periodic for.
    /// Beacon: one entry per group of peers whose estimated periods agree within tolerance,
    /// with the group's median period (see [`Beacon::tally`]); no empty entries.
    pub fn tally<'a, P: Copy + 'a>(
        &self,
        verdicts: impl IntoIterator<Item = (P, &'a PairVerdict)>,
    ) -> Vec<PeriodTally<P>> {
        match self {
            Self::Classic(c) => {
                let periods = &c.params().periods_ms;
                let mut out: Vec<PeriodTally<P>> = periods
                    .iter()
                    .map(|&period_ms| PeriodTally {
                        period_ms,
                        peers: Vec::new(),
                    })
                    .collect();
                for (peer, verdict) in verdicts {
                    for p in verdict.periods() {
                        if let Ok(i) = periods.binary_search(&p.period_ms) {
                            out[i].peers.push(PeerScore {
                                peer,
                                confidence: p.confidence,
                            });
                        }
                    }
                }
                out
            }
            Self::Beacon(b) => b.tally(verdicts.into_iter().flat_map(|(peer, verdict)| {
                verdict
                    .periods()
                    .iter()
                    .map(move |p| (peer, p.period_ms, p.confidence, p.chance))
            })),
        }
    }
}

/// A cheap necessary condition for the classic check to find `times` periodic for
/// `period_ms`, so that most aperiodic pairs skip the full check (its result is unchanged).
///
/// Each distinct (level, bin) entry adds `k(x) ≤ 1` to the bins within `R` of its own, and
/// `k(±R) = 1 − 1^(1/e) = 0` exactly, so a bin can only reach `MIN_VAL` (which periodicity
/// requires of the maximum) if at least `MIN_VAL` entries lie within `R − 1` bins of it: some
/// run of `⌈MIN_VAL⌉` entries spans at most `2(R − 1)` bins (0 when `R = 0`). Floating-point
/// sums of values ≤ 1 never exceed their count, so the bound holds as computed too.
fn classic_may_be_periodic(
    c: &Classic,
    times: &[i64],
    period_ms: u64,
    bins: &mut Vec<u32>,
) -> bool {
    let p = c.params();
    let Some(&t0) = times.first() else {
        return false;
    };
    let period = period_ms as i64;
    let unit = p.unit_ms as i64;
    bins.clear();
    let mut previous = None;
    for &t in times {
        // The same arithmetic as the check itself (step 4).
        let d = t - t0;
        let level = d / period;
        let i = (d - level * period) / unit;
        if previous == Some((level, i)) {
            continue;
        }
        previous = Some((level, i));
        bins.push(i as u32);
    }
    if (bins.len() as f64) < p.min_val {
        return false;
    }
    bins.sort_unstable();
    let span = 2 * p.radius.saturating_sub(1);
    let (mut lo, mut best) = (0, 0);
    for hi in 0..bins.len() {
        while bins[hi] - bins[lo] > span {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best as f64 >= p.min_val
}

impl From<Beacon> for Algorithm {
    fn from(b: Beacon) -> Self {
        Self::Beacon(b)
    }
}

impl From<Classic> for Algorithm {
    fn from(c: Classic) -> Self {
        Self::Classic(c)
    }
}

/// FNV-1a, 64 bits: a tiny stable hash for parameter fingerprints (not for untrusted keys).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn u64(&mut self, v: u64) {
        for b in v.to_be_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn classic() -> Algorithm {
        Algorithm::classic(ClassicParams::seed_shipped()).unwrap()
    }

    #[test]
    fn classic_verdicts_follow_the_mask() {
        let alg = classic();
        let Algorithm::Classic(c) = &alg else {
            unreachable!()
        };
        let mut scratch = alg.scratch();
        let mut cs = c.scratch();
        // A 10-minute beacon is periodic for 10 and 30 minutes (both wrap it onto one bin).
        let beacon: Vec<i64> = (0..12).map(|k| 1_000_000 + k * 10 * MIN).collect();
        let v = alg.evaluate_pair(&beacon, &mut scratch);
        let mask = c.evaluate(&beacon, &mut cs);
        let expected: Vec<u64> = mask.iter().map(|i| c.params().periods_ms[i]).collect();
        assert!(!expected.is_empty());
        assert_eq!(
            v.periods().iter().map(|p| p.period_ms).collect::<Vec<_>>(),
            expected
        );
        assert!(v.periods().iter().all(|p| p.confidence == 1.0));
        // Too few times: never periodic, and not a candidate.
        assert!(!alg.is_candidate(3) && alg.is_candidate(4) && !alg.is_candidate(0));
        assert_eq!(
            alg.evaluate_pair(&beacon[..3], &mut scratch),
            PairVerdict::NONE
        );
        assert_eq!(alg.min_times(), 4);
        assert_eq!(alg.max_period_ms(), 2_400_000);
    }

    #[test]
    fn classic_tally_has_every_candidate_period() {
        let alg = classic();
        let both = PairVerdict::new(vec![
            PeriodicFor {
                period_ms: 1_800_000,
                confidence: 1.0,
                chance: 0.0,
            },
            PeriodicFor {
                period_ms: 600_000,
                confidence: 1.0,
                chance: 0.0,
            },
        ]);
        let tally = alg.tally([("a", &both), ("b", &PairVerdict::NONE), ("c", &both)]);
        let counts: Vec<(u64, usize)> = tally.iter().map(|t| (t.period_ms, t.count())).collect();
        assert_eq!(
            counts,
            vec![(600_000, 2), (900_000, 0), (1_800_000, 2), (2_400_000, 0)]
        );
        assert_eq!(tally[0].peers[1].peer, "c");
    }

    #[test]
    fn verdicts_are_normalised() {
        let v = PairVerdict::new(vec![
            PeriodicFor {
                period_ms: 5,
                confidence: 0.2,
                chance: 0.0,
            },
            PeriodicFor {
                period_ms: 3,
                confidence: f64::NAN,
                chance: 0.0,
            },
            PeriodicFor {
                period_ms: 5,
                confidence: 7.0,
                chance: 0.0,
            },
        ]);
        assert_eq!(
            v.periods(),
            &[
                PeriodicFor {
                    period_ms: 3,
                    confidence: 0.0,
                    chance: 0.0,
                },
                PeriodicFor {
                    period_ms: 5,
                    confidence: 1.0,
                    chance: 0.0,
                }
            ]
        );
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The pre-check only skips pairs the full check rejects.
        #[test]
        fn pre_check_never_changes_a_verdict(
            period in prop::sample::select(vec![60_000u64, 600_000, 1_800_000]),
            unit in prop::sample::select(vec![1u64, 500, 1000]),
            radius in 0u32..5,
            min_val in prop::sample::select(vec![-1.0, 0.0, 1.0, 2.5, 3.0, 4.0, 6.0]),
            coefs in (-1.0f64..1.0, -1.0f64..1.0, -1.0f64..1.0, -0.5f64..0.5),
            beat_kind in 0u8..4,
            random_beat in 1i64..3_000_000,
            jitter in 0i64..5_000,
            noise in prop::collection::vec((0i64..5_000, any::<bool>()), 0..30),
            extra in prop::collection::vec(0i64..86_400_000, 0..12),
        ) {
            let params = ClassicParams {
                periods_ms: vec![period, period / 2 + 1, 2_400_000],
                unit_ms: unit,
                radius,
                min_val,
                max_coef: coefs.0,
                disp_coef: coefs.1,
                mean_coef: coefs.2,
                free_coef: coefs.3,
            };
            prop_assume!(params.validate().is_ok());
            // Mostly beats at (or near) a candidate period, so that many pairs are periodic.
            let beat = match beat_kind {
                0 => period as i64,
                1 => (period / 2 + 1) as i64,
                2 => 2_400_000,
                _ => random_beat,
            };
            let alg = Algorithm::classic(params).unwrap();
            let Algorithm::Classic(c) = &alg else {
            unreachable!()
        };
            let mut times: Vec<i64> = noise
                .iter()
                .enumerate()
                .filter(|(_, (_, keep))| *keep)
                .map(|(k, (n, _))| 1_416_000_000_000 + k as i64 * beat + n % (jitter + 1))
                .chain(extra.iter().map(|e| 1_416_000_000_000 + e))
                .collect();
            times.sort_unstable();
            let mask = c.evaluate(&times, &mut c.scratch());
            let expected: Vec<u64> = mask.iter().map(|i| c.params().periods_ms[i]).collect();
            let got: Vec<u64> = alg
                .evaluate_pair(&times, &mut alg.scratch())
                .periods()
                .iter()
                .map(|p| p.period_ms)
                .collect();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn pre_check_rejects_random_times_and_keeps_beacons() {
        let alg = classic();
        let Algorithm::Classic(c) = &alg else {
            unreachable!()
        };
        let mut bins = Vec::new();
        let beacon: Vec<i64> = (0..10).map(|k| 5_000 + k * 30 * MIN).collect();
        assert!(classic_may_be_periodic(c, &beacon, 1_800_000, &mut bins));
        let scattered: Vec<i64> = (0..10).map(|k| k * k * 7_919_000 + k * 13_001).collect();
        assert!(!classic_may_be_periodic(
            c, &scattered, 1_800_000, &mut bins
        ));
    }

    #[test]
    fn version_is_stable_and_follows_the_parameters() {
        let v = classic().version();
        assert!(v.starts_with("1-") && v.len() == 10, "{v}");
        assert_eq!(v, classic().version());
        let mut p = ClassicParams::seed_shipped();
        p.radius = 2;
        assert_ne!(Algorithm::classic(p).unwrap().version(), v);
        assert_eq!(classic().name(), "classic");
    }
}
