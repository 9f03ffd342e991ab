//! The original RelBot `timedetector` periodicity check, reproduced bit for bit.
//!
//! For one (host, peer) pair and one candidate period P, the sorted start times are wrapped by
//! P into levels, binned by U, and each distinct (level, bin) spreads a kernel over the bins
//! around it into an array `S` of `P/U + R + 1` doubles. The pair is periodic for P when the
//! array's maximum reaches `MIN_VAL` and exactly one bin reaches the outlier threshold
//! `FREE + MAX·max + DISP·dispersion + MEAN·mean`, that bin being the maximum. Mean and
//! dispersion are over the non-zero bins only. See `../shared/SEED-ALGORITHM.md`; every quirk
//! there is kept on purpose, because users compare relbot's output with the original's.
//!
//! Speed without changing a bit: the array is a reusable scratch buffer, and only the bins
//! that became non-zero are visited for the statistics and the outlier scan. Adding the zeros
//! the original added changes no sum, and a zero bin can only reach a threshold that is not
//! positive, in which case the dense scan of the original is used as is.

mod explain;
mod params;

pub use explain::ClassicEvidence;
pub use params::{ClassicParams, ParamsError};

use crate::PeriodMask;

/// The classic algorithm, ready to evaluate pairs: parameters plus the precomputed kernel.
#[derive(Debug, Clone)]
pub struct Classic {
    params: ClassicParams,
    /// `kernel[x + R]` = k(x) for x in -R..=R.
    kernel: Vec<f64>,
    /// Largest bin array over the candidate periods.
    max_bins: usize,
}

/// Reusable working memory for [`Classic::evaluate`]: one per thread.
#[derive(Debug, Default, Clone)]
pub struct ClassicScratch {
    bins: Vec<f64>,
    touched: Vec<u32>,
}

impl Classic {
    /// Validates the parameters and precomputes the kernel. Candidate periods are sorted
    /// ascending and de-duplicated (the original reported each period once, ascending), so
    /// mask index `i` is the `i`-th smallest period.
    pub fn new(mut params: ClassicParams) -> Result<Self, ParamsError> {
        params.validate()?;
        params.periods_ms.sort_unstable();
        params.periods_ms.dedup();
        let kernel = kernel(params.radius);
        let max_bins = params
            .periods_ms
            .iter()
            .map(|&p| bins_for(p, &params))
            .max()
            .unwrap_or(0);
        Ok(Self {
            params,
            kernel,
            max_bins,
        })
    }

    /// The parameters in use.
    pub fn params(&self) -> &ClassicParams {
        &self.params
    }

    /// A scratch buffer sized for these parameters.
    pub fn scratch(&self) -> ClassicScratch {
        ClassicScratch {
            bins: vec![0.0; self.max_bins],
            touched: Vec::new(),
        }
    }

    /// Whether a pair with `count` start times can be periodic at all (rule 1: fewer than
    /// `MIN_VAL` times give weight 0). Lets callers skip sorting hopeless pairs.
    pub fn is_candidate(&self, count: usize) -> bool {
        count as f64 >= self.params.min_val
    }

    /// The candidate periods (indices into [`ClassicParams::periods_ms`]) for which the pair
    /// whose start times are `sorted_times` (ascending) is periodic.
    pub fn evaluate(&self, sorted_times: &[i64], scratch: &mut ClassicScratch) -> PeriodMask {
        let mut mask = PeriodMask::EMPTY;
        if sorted_times.is_empty() || !self.is_candidate(sorted_times.len()) {
            return mask;
        }
        debug_assert!(sorted_times.windows(2).all(|w| w[0] <= w[1]));
        if scratch.bins.len() < self.max_bins {
            scratch.bins.resize(self.max_bins, 0.0);
        }
        for (index, &period_ms) in self.params.periods_ms.iter().enumerate() {
            if self.periodic_for(sorted_times, period_ms, scratch) {
                mask.insert(index);
            }
        }
        mask
    }

    /// Steps 3–7 of the algorithm for one period. Leaves the scratch bins all zero.
    fn periodic_for(&self, times: &[i64], period_ms: u64, scratch: &mut ClassicScratch) -> bool {
        let len = bins_for(period_ms, &self.params);
        let bins = &mut scratch.bins[..len];
        self.spread(times, period_ms, bins, &mut scratch.touched);
        let periodic = self.decide(bins, &mut scratch.touched);
        for &v in &scratch.touched {
            bins[v as usize] = 0.0;
        }
        periodic
    }

    /// Step 4: spreads each distinct (level, bin) of `times` over `bins` (all zero on entry)
    /// and lists the bins that became non-zero in `touched` (unordered).
    fn spread(&self, times: &[i64], period_ms: u64, bins: &mut [f64], touched: &mut Vec<u32>) {
        touched.clear();
        let r = i64::from(self.params.radius);
        let period = period_ms as i64;
        let unit = self.params.unit_ms as i64;
        let t0 = times[0];
        let mut previous: Option<(i64, i64)> = None;
        for &t in times {
            let d = t - t0;
            let level = d / period;
            let i = (d - level * period) / unit;
            if previous == Some((level, i)) {
                continue;
            }
            previous = Some((level, i));
            for (x, &k) in (-r..=r).zip(&self.kernel) {
                let v = i - x;
                if v < 0 {
                    continue;
                }
                // v <= i + R <= P/U + R < bins.len(), see `bins_for`.
                let slot = &mut bins[v as usize];
                if *slot == 0.0 && k != 0.0 {
                    touched.push(v as u32);
                }
                *slot += k;
            }
        }
    }

    /// Steps 6–7: the outlier rule over `bins`, whose non-zero entries are exactly `touched`
    /// (in any order; sorted here when that is cheaper than walking the whole array).
    fn decide(&self, bins: &[f64], touched: &mut [u32]) -> bool {
        let p = &self.params;
        // Sparse pairs visit their few non-zero bins in index order; busy pairs walk the array.
        let sparse = touched.len() * 16 < bins.len();
        if sparse {
            touched.sort_unstable();
        }
        // Statistics over the non-zero bins, accumulated left to right.
        let (mut n, mut sum, mut sum_sq, mut max) = (0u64, 0.0f64, 0.0f64, 0.0f64);
        let mut add = |y: f64| {
            n += 1;
            sum += y;
            sum_sq += y * y;
            if y > max {
                max = y;
            }
        };
        if sparse {
            touched.iter().for_each(|&v| add(bins[v as usize]));
        } else {
            bins.iter().filter(|&&y| y != 0.0).for_each(|&y| add(y));
        }
        if max < p.min_val {
            return false;
        }
        let mean = sum / n as f64;
        let disp = (sum_sq / n as f64 - mean * mean).sqrt();
        let thr = p.free_coef + p.max_coef * max + p.disp_coef * disp + p.mean_coef * mean;
        if sparse && thr > 0.0 {
            // Zero bins cannot reach a positive threshold: visit the non-zero ones only.
            exactly_one_outlier(touched.iter().map(|&v| bins[v as usize]), thr, max)
        } else {
            exactly_one_outlier(bins.iter().copied(), thr, max)
        }
    }
}

/// Step 7's scan: true when exactly one value reaches `thr` and that value equals `max`.
/// Stops at the first offending value, as the original did; a NaN `thr` is never reached.
fn exactly_one_outlier(values: impl Iterator<Item = f64>, thr: f64, max: f64) -> bool {
    let mut seen = false;
    for y in values {
        if y >= thr {
            if seen || y != max {
                return false;
            }
            seen = true;
        }
    }
    seen
}

/// Length of the bin array for `period_ms`: `P/U + R + 1`.
fn bins_for(period_ms: u64, p: &ClassicParams) -> usize {
    (period_ms / p.unit_ms + u64::from(p.radius) + 1) as usize
}

/// Kernel values k(x) for x in -R..=R (step 5).
///
/// `q` is computed in single precision and widened, as the original did; `pow` is in double.
fn kernel(radius: u32) -> Vec<f64> {
    let r = radius as i64;
    (-r..=r)
        .map(|x| {
            if radius == 0 {
                1.0
            } else {
                let q = (x.unsigned_abs() as f32) / (radius as f32);
                1.0 - f64::from(q).powf(1.0 / std::f64::consts::E)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
