//! Parameters of the beacon algorithm and their validation.

use serde::{Deserialize, Serialize};

/// Parameters of [`Beacon`](super::Beacon). Every duration is in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BeaconParams {
    /// Shortest base period the free estimate may report, ms (default 60 000 = 1 min).
    pub min_period_ms: u64,
    /// Longest base period the free estimate may report, ms (default 7 200 000 = 2 h).
    pub max_period_ms: u64,
    /// Candidate periods, ms, tried on every pair in addition to the free estimate; an estimate
    /// within tolerance of a candidate is reported as the candidate. May lie outside
    /// `min_period_ms..=max_period_ms` (default: the original's 10, 15, 30 and 40 minutes).
    pub candidate_periods_ms: Vec<u64>,
    /// Absolute tolerance on a gap between two beats, ms: a gap `g` is explained by period `P`
    /// when `|g − k·P| ≤ max(abs_tolerance_ms, rel_tolerance·P)` for some whole `k` (default
    /// 25 000: ±10 s jitter on each of two beats plus estimation error).
    pub abs_tolerance_ms: u64,
    /// Relative tolerance on a gap, as a fraction of the period (dimensionless, default 0.02).
    pub rel_tolerance: f64,
    /// Flows of a pair that start within this many ms of the previous flow of the pair are one
    /// contact (exporter active-timeout splits, bursts, retries), ms (default 10 000).
    pub dedup_ms: u64,
    /// Exporter active timeouts, ms: a flow starting within `split_tolerance_ms` of one of
    /// these after the previous flow of the pair continues the same connection, split by the
    /// exporter, and is not a new contact (default 60 000, 120 000 and 300 000; a beacon
    /// whose period is one of these within the tolerance is not seen).
    pub split_timeouts_ms: Vec<u64>,
    /// Tolerance of the split check, ms (default 1 000).
    pub split_tolerance_ms: u64,
    /// Largest number of periods one explained gap may span, i.e. up to `max_multiple − 1`
    /// missing beats in a row (whole number ≥ 1, default 4). Longer gaps are breaks (offline).
    pub max_multiple: u32,
    /// Fewest explained gaps a periodic pair needs (count, ≥ 2; default 3, i.e. four beats).
    pub min_explained_gaps: u32,
    /// Largest chance, under the null model of random (exponential) gaps and corrected for the
    /// number of periods tried, that the explained gaps arose by chance (probability, default
    /// 0.001). Smaller is stricter.
    pub max_chance: f64,
    /// Smallest pair confidence reported as periodic (in [0, 1], default 0.5).
    pub min_confidence: f64,
    /// Pooling across peers: a pair whose chance is above `max_chance` but at most this
    /// (probability, default 0.05) is a *weak* verdict, which counts only in a period group
    /// of its host that passes `host_max_chance` with its other peers. Set it to
    /// `max_chance` to turn pooling off.
    pub pool_max_chance: f64,
    /// A host's period group (its peers sharing a period) is reported when the product of
    /// its peers' chances is at most this (probability, default 0.0001, tuned with
    /// `scripts/quality`): a single peer needs a chance ten times smaller than `max_chance`
    /// (there are many more pairs than hosts), two peers at `max_chance` pass, and so do
    /// three weak peers at 0.04.
    pub host_max_chance: f64,
}

impl Default for BeaconParams {
    fn default() -> Self {
        Self {
            min_period_ms: 60_000,
            max_period_ms: 7_200_000,
            candidate_periods_ms: vec![600_000, 900_000, 1_800_000, 2_400_000],
            abs_tolerance_ms: 25_000,
            rel_tolerance: 0.02,
            dedup_ms: 10_000,
            split_timeouts_ms: vec![60_000, 120_000, 300_000],
            split_tolerance_ms: 1_000,
            max_multiple: 4,
            min_explained_gaps: 3,
            max_chance: 0.001,
            min_confidence: 0.5,
            pool_max_chance: 0.05,
            host_max_chance: 0.0001,
        }
    }
}

/// A beacon parameter set the algorithm cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BeaconParamsError {
    /// `min_period_ms` is not above zero, or `max_period_ms` below it.
    #[error("periods: need 0 < min_period_ms ({min}) <= max_period_ms ({max}) <= 7 days")]
    PeriodBounds {
        /// `min_period_ms`.
        min: u64,
        /// `max_period_ms`.
        max: u64,
    },
    /// A period (bound or candidate) too short for the tolerance or the de-duplication window:
    /// windows around successive multiples would overlap.
    #[error(
        "period {period_ms} ms must exceed 2 × dedup_ms and 2 × its tolerance ({tolerance_ms} ms)"
    )]
    PeriodTooShort {
        /// The offending period.
        period_ms: u64,
        /// Its tolerance.
        tolerance_ms: u64,
    },
    /// A candidate period longer than 7 days.
    #[error("candidate period {0} ms is longer than 7 days")]
    CandidateTooLong(u64),
    /// More than 64 candidate periods.
    #[error("at most 64 candidate periods are supported, got {0}")]
    TooManyCandidates(usize),
    /// A number outside its range (the key names it).
    #[error("`{key}` is out of range: {problem}")]
    OutOfRange {
        /// The parameter.
        key: &'static str,
        /// The allowed range.
        problem: &'static str,
    },
}

/// Seven days, ms: the longest period accepted.
const WEEK_MS: u64 = 7 * 86_400_000;

impl BeaconParams {
    /// The tolerance for period `period_ms`: `max(abs_tolerance_ms, rel_tolerance·P)`, ms.
    pub fn tolerance_ms(&self, period_ms: f64) -> f64 {
        (self.abs_tolerance_ms as f64).max(self.rel_tolerance * period_ms)
    }

    /// Checks that the algorithm can run with these parameters.
    pub fn validate(&self) -> Result<(), BeaconParamsError> {
        let range = |key, ok: bool, problem| {
            if ok {
                Ok(())
            } else {
                Err(BeaconParamsError::OutOfRange { key, problem })
            }
        };
        range(
            "rel_tolerance",
            self.rel_tolerance.is_finite() && (0.0..0.2).contains(&self.rel_tolerance),
            "must be in [0, 0.2)",
        )?;
        range(
            "max_multiple",
            (1..=64).contains(&self.max_multiple),
            "must be in 1..=64",
        )?;
        range(
            "min_explained_gaps",
            (2..=1_000_000).contains(&self.min_explained_gaps),
            "must be in 2..=1000000",
        )?;
        range(
            "max_chance",
            self.max_chance.is_finite() && self.max_chance > 0.0 && self.max_chance <= 1.0,
            "must be in (0, 1]",
        )?;
        range(
            "min_confidence",
            self.min_confidence.is_finite() && (0.0..=1.0).contains(&self.min_confidence),
            "must be in [0, 1]",
        )?;
        range(
            "pool_max_chance",
            self.pool_max_chance.is_finite()
                && self.pool_max_chance >= self.max_chance
                && self.pool_max_chance <= 1.0,
            "must be in [max_chance, 1]",
        )?;
        range(
            "host_max_chance",
            self.host_max_chance.is_finite()
                && self.host_max_chance > 0.0
                && self.host_max_chance <= 1.0,
            "must be in (0, 1]",
        )?;
        if self.min_period_ms == 0
            || self.max_period_ms < self.min_period_ms
            || self.max_period_ms > WEEK_MS
        {
            return Err(BeaconParamsError::PeriodBounds {
                min: self.min_period_ms,
                max: self.max_period_ms,
            });
        }
        range(
            "split_timeouts_ms",
            self.split_timeouts_ms.len() <= 16
                && self
                    .split_timeouts_ms
                    .iter()
                    .all(|&t| t > self.split_tolerance_ms),
            "at most 16 timeouts, each longer than split_tolerance_ms",
        )?;
        if self.candidate_periods_ms.len() > 64 {
            return Err(BeaconParamsError::TooManyCandidates(
                self.candidate_periods_ms.len(),
            ));
        }
        for &p in std::iter::once(&self.min_period_ms).chain(&self.candidate_periods_ms) {
            if p > WEEK_MS {
                return Err(BeaconParamsError::CandidateTooLong(p));
            }
            let tol = self.tolerance_ms(p as f64);
            if (p as f64) <= 2.0 * tol || p <= 2 * self.dedup_ms {
                return Err(BeaconParamsError::PeriodTooShort {
                    period_ms: p,
                    tolerance_ms: tol as u64,
                });
            }
        }
        Ok(())
    }
}
