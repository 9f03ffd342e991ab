//! Why the classic check finds a pair periodic for a period, or not: the wrapped-and-binned
//! array's statistics and the outlier rule's outcome, for `relbot explain` and the evidence in
//! `relbot analyze --output json`. Reuses the check's own steps; the decision reported is the
//! check's own.

use serde::Serialize;

use super::{bins_for, Classic, ClassicScratch};

/// The classic check's evidence for one pair and one candidate period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassicEvidence {
    /// The candidate period, ms.
    pub period_ms: u64,
    /// The check's decision.
    pub periodic: bool,
    /// Bins of the array (`P/U + R + 1`).
    pub bins: usize,
    /// Bins with weight (flows within `R` bins).
    pub nonzero_bins: usize,
    /// The largest bin weight.
    pub max: f64,
    /// Offset of the (first) largest bin within the period, ms: where the flows cluster.
    pub peak_offset_ms: u64,
    /// `MIN_VAL`: the largest bin must reach it.
    pub min_val: f64,
    /// The outlier threshold `FREE + MAX·max + DISP·dispersion + MEAN·mean`.
    pub threshold: f64,
    /// Mean weight of the non-zero bins.
    pub mean: f64,
    /// Dispersion (standard deviation) of the non-zero bins.
    pub dispersion: f64,
    /// Bins reaching the threshold: exactly one, the largest, makes the pair periodic.
    pub bins_at_threshold: usize,
}

impl ClassicEvidence {
    /// Why the check said no, in words; `None` when it said yes.
    pub fn reason(&self) -> Option<String> {
        if self.periodic {
            return None;
        }
        Some(if self.nonzero_bins == 0 {
            "too few flows".to_string()
        } else if self.max < self.min_val {
            format!("largest bin {:.2} below MIN_VAL {}", self.max, self.min_val)
        } else if self.bins_at_threshold != 1 {
            format!(
                "{} bins reach the outlier threshold {:.2} (exactly one needed)",
                self.bins_at_threshold, self.threshold
            )
        } else {
            "the bin reaching the threshold is not the largest".to_string()
        })
    }
}

impl Classic {
    /// The evidence for the pair whose start times are `sorted_times` (ascending) and
    /// `period_ms` (one of the candidate periods or any other period).
    pub fn explain(
        &self,
        sorted_times: &[i64],
        period_ms: u64,
        scratch: &mut ClassicScratch,
    ) -> ClassicEvidence {
        let p = &self.params;
        let len = bins_for(period_ms, p);
        let mut evidence = ClassicEvidence {
            period_ms,
            periodic: false,
            bins: len,
            nonzero_bins: 0,
            max: 0.0,
            peak_offset_ms: 0,
            min_val: p.min_val,
            threshold: f64::NAN,
            mean: 0.0,
            dispersion: 0.0,
            bins_at_threshold: 0,
        };
        if sorted_times.is_empty() || !self.is_candidate(sorted_times.len()) || period_ms == 0 {
            return evidence;
        }
        if scratch.bins.len() < len {
            scratch.bins.resize(len, 0.0);
        }
        let bins = &mut scratch.bins[..len];
        self.spread(sorted_times, period_ms, bins, &mut scratch.touched);
        let (mut n, mut sum, mut sum_sq, mut max, mut peak) = (0usize, 0.0, 0.0, 0.0f64, 0usize);
        for (i, &y) in bins.iter().enumerate() {
            if y != 0.0 {
                n += 1;
                sum += y;
                sum_sq += y * y;
                if y > max {
                    max = y;
                    peak = i;
                }
            }
        }
        if n > 0 {
            let mean = sum / n as f64;
            let disp = (sum_sq / n as f64 - mean * mean).sqrt();
            let thr = p.free_coef + p.max_coef * max + p.disp_coef * disp + p.mean_coef * mean;
            evidence.nonzero_bins = n;
            evidence.max = max;
            evidence.peak_offset_ms = peak as u64 * p.unit_ms;
            evidence.mean = mean;
            evidence.dispersion = disp;
            evidence.threshold = thr;
            evidence.bins_at_threshold = bins.iter().filter(|&&y| y >= thr).count();
        }
        evidence.periodic = self.decide(bins, &mut scratch.touched);
        for &v in &scratch.touched {
            bins[v as usize] = 0.0;
        }
        evidence
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClassicParams;

    #[test]
    fn decision_is_the_checks_and_the_peak_is_where_the_flows_land() {
        let classic = Classic::new(ClassicParams::seed_shipped()).unwrap();
        let mut scratch = classic.scratch();
        let t0 = 1_416_268_800_000i64;
        // A beacon every 10 minutes, 5 s into each cycle after the first, plus noise flows.
        let mut beacon: Vec<i64> = (0..30).map(|k| t0 + k * 600_000).collect();
        beacon.extend([t0 + 123_457, t0 + 4_000_321, t0 + 9_100_000]);
        beacon.sort_unstable();
        let mut lcg = 12_345u64;
        let mut random: Vec<i64> = (0..40)
            .map(|_| {
                lcg = lcg.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                t0 + (lcg >> 33) as i64 % 86_400_000
            })
            .collect();
        random.sort_unstable();
        for times in [&beacon, &random] {
            let mask = classic.evaluate(times, &mut scratch);
            for (i, &period) in classic.params().periods_ms.iter().enumerate() {
                let e = classic.explain(times, period, &mut scratch);
                assert_eq!(e.periodic, mask.contains(i), "period {period}");
                assert_eq!(e.reason().is_none(), e.periodic);
            }
        }
        let e = classic.explain(&beacon, 600_000, &mut scratch);
        assert!(e.periodic);
        assert_eq!(e.bins_at_threshold, 1);
        assert!(e.max >= e.min_val && e.max >= e.threshold);
        assert!(e.peak_offset_ms < classic.params().unit_ms * 2, "{e:?}");
        // The scratch is left clean: the check itself is unchanged afterwards.
        assert_eq!(
            classic.evaluate(&beacon, &mut scratch),
            classic.evaluate(&beacon, &mut classic.scratch())
        );
    }
}
