//! `beacon`: relbot's own periodicity algorithm. It *estimates* each pair's period from the
//! gaps between its contacts, instead of wrapping start times by fixed candidate periods.
//!
//! # Per pair
//! 1. **Contacts.** Flows of the pair starting within [`BeaconParams::dedup_ms`] of the
//!    previous flow are one contact (bursts, retries), and so are flows that start one
//!    exporter active timeout ([`BeaconParams::split_timeouts_ms`], within
//!    `split_tolerance_ms`) after the previous one: a long connection the exporter split into
//!    back-to-back flows is one contact, not a beacon with the timeout's period.
//! 2. **Gaps** between consecutive contacts. Gaps are local: a drifting clock (the beacon's
//!    period is 1 s off its nominal value) shifts every gap by the same second instead of
//!    smearing a wrapped histogram, and a timer restart or an offline spell breaks one gap only.
//! 3. **Candidate periods.** The densest cluster of gaps (a window of width `2·tol(P)` over the
//!    sorted gaps within the period bounds) gives a first estimate (its half and third are
//!    tried too, for series missing many beats), each refined as
//!    `Σ gaps / Σ multiples` over the gaps it explains (a least-squares-like ratio that is exact
//!    on clean series and averages jitter out). Every configured candidate period is tried as
//!    well. An estimate within tolerance of a candidate is reported as that candidate.
//! 4. **Explained gaps.** A gap `g` is explained by period `P` when `|g − k·P| ≤ tol(P)` for a
//!    whole `k` in `1..=max_multiple` (`k − 1` missing beats), with
//!    `tol(P) = max(abs_tolerance_ms, rel_tolerance·P)`. Other gaps are unexplained: extra
//!    flows, a restart's phase jump, an offline spell.
//! 5. **Chance.** Under the null model the gaps are random: a shifted exponential (gaps are
//!    at least `dedup_ms`) whose mean is the smaller of the mean gap and `median/ln 2`, robust
//!    to long offline gaps and conservative for heavy-tailed traffic. The probability `q` that
//!    one random gap lands in an explained window is exact under that model; the chance of
//!    `B` or more explained gaps out of `m` is bounded by Chernoff's
//!    `exp(−m·KL(B/m ‖ q))`, multiplied by the number of periods effectively tried
//!    (`∫ dP / 2·tol(P)` over the bounds, plus the candidates). Allowing missing beats widens
//!    `q`, so multiples cost significance automatically. That is what keeps Poisson arrivals
//!    from being reported at any rate.
//! 6. **Confidence** in [0, 1]: `coverage × (1 − chance)`, where
//!    `coverage = B / (B + U + M/2)`: the share of gaps the period explains, with each missing
//!    beat `M` counting as half an unexplained gap. It reads as "the share of this pair's
//!    traffic that is a beacon of this period, discounted by the chance that it is a
//!    coincidence". A pair is periodic when `B ≥ min_explained_gaps`, `chance ≤ max_chance`
//!    and `confidence ≥ min_confidence`.
//!
//! # Per host
//! [`Algorithm::tally`](crate::Algorithm::tally) groups the host's periodic peers — and its
//! *weak* ones, whose chance is at most `pool_max_chance` ([`Beacon::evaluate_pooled`]) —
//! whose estimated periods agree within `tol` of the group's smallest period (P2P bots
//! contact all their neighbours with one period), reporting the group's median period. A
//! group is kept when the product of its peers' chances is at most `host_max_chance`: a lone
//! peer needs a small chance, and peers too short to be periodic alone count together. A host's
//! confidence for a period is [`Beacon::host_confidence`]: `1 − Π(1 − cᵢ)` over the peers of the
//! group, the probability that at least one of them is a true beacon if the pair confidences
//! were independent probabilities; it grows with every peer sharing the period.
//!
//! Cost: `O(n log n)` per pair (one sort of the gaps), linear passes otherwise, and no
//! allocation once the [`BeaconScratch`] has grown.

mod params;

pub use params::{BeaconParams, BeaconParamsError};

use crate::algorithm::{PeerScore, PeriodTally};

/// The beacon algorithm, ready to evaluate pairs.
#[derive(Debug, Clone)]
pub struct Beacon {
    params: BeaconParams,
    /// Number of periods effectively tried per pair (look-elsewhere correction).
    trials: f64,
}

/// Reusable working memory for [`Beacon::estimate`]: one per thread.
#[derive(Debug, Default, Clone)]
pub struct BeaconScratch {
    contacts: Vec<i64>,
    /// The gaps between contacts, ascending.
    sorted: Vec<i64>,
}

/// The best period found for one pair, with its evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeaconEstimate {
    /// The reported period, ms: the fitted period, or the candidate it snapped to.
    pub period_ms: u64,
    /// The fitted period, ms, before snapping to a candidate.
    pub fitted_period_ms: f64,
    /// Confidence in [0, 1] (see the module documentation).
    pub confidence: f64,
    /// Whether the pair passes every criterion (gaps, chance, confidence).
    pub periodic: bool,
    /// Contacts after de-duplication.
    pub contacts: u32,
    /// Gaps explained by the period (one to `max_multiple` periods long).
    pub explained_gaps: u32,
    /// Gaps not explained (extra flows, phase jumps, offline spells).
    pub unexplained_gaps: u32,
    /// Beats missing inside explained gaps (`Σ (k − 1)`).
    pub missing_beats: u32,
    /// Bound on the chance that random gaps explain as many, corrected for the periods tried.
    pub chance: f64,
}

/// How well one period explains a pair's gaps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fit {
    explained: u32,
    unexplained: u32,
    missing: u32,
    /// Σ explained gaps, ms (exact: integers, not float sums that depend on order).
    sum_gap: i64,
    sum_k: u64,
}

impl Beacon {
    /// Validates the parameters; candidate periods are sorted and de-duplicated.
    pub fn new(mut params: BeaconParams) -> Result<Self, BeaconParamsError> {
        params.validate()?;
        params.candidate_periods_ms.sort_unstable();
        params.candidate_periods_ms.dedup();
        let trials = free_trials(&params) + params.candidate_periods_ms.len() as f64;
        Ok(Self {
            params,
            trials: trials.max(1.0),
        })
    }

    /// The parameters in use.
    pub fn params(&self) -> &BeaconParams {
        &self.params
    }

    /// A scratch buffer for [`Beacon::estimate`].
    pub fn scratch(&self) -> BeaconScratch {
        BeaconScratch::default()
    }

    /// The fewest start times a periodic pair needs: `min_explained_gaps + 1`.
    pub fn min_times(&self) -> usize {
        self.params.min_explained_gaps as usize + 1
    }

    /// The longest period this algorithm can report, ms.
    pub fn max_period_ms(&self) -> u64 {
        let c = self
            .params
            .candidate_periods_ms
            .last()
            .copied()
            .unwrap_or(0);
        self.params.max_period_ms.max(c)
    }

    /// Tolerance for period `period_ms`, ms.
    pub fn tolerance_ms(&self, period_ms: f64) -> f64 {
        self.params.tolerance_ms(period_ms)
    }

    /// The pair's periodic verdict: its estimate when it passes every criterion.
    pub fn evaluate(
        &self,
        sorted_times: &[i64],
        scratch: &mut BeaconScratch,
    ) -> Option<BeaconEstimate> {
        self.estimate(sorted_times, scratch).filter(|e| e.periodic)
    }

    /// The pair's verdict with pooling: its estimate when it is periodic, or when it is a weak
    /// verdict that may count together with other peers of its host (explained gaps, chance
    /// at most `pool_max_chance`, confidence at least `min_confidence`; see [`Beacon::tally`]).
    pub fn evaluate_pooled(
        &self,
        sorted_times: &[i64],
        scratch: &mut BeaconScratch,
    ) -> Option<BeaconEstimate> {
        let p = &self.params;
        self.estimate(sorted_times, scratch).filter(|e| {
            e.periodic
                || (e.explained_gaps >= 2
                    && e.chance <= p.pool_max_chance
                    && e.confidence >= p.min_confidence)
        })
    }

    /// The best period for the pair whose start times are `sorted_times` (ascending), periodic
    /// or not (for explanations); `None` when too few gaps are explained by any period.
    pub fn estimate(
        &self,
        sorted_times: &[i64],
        scratch: &mut BeaconScratch,
    ) -> Option<BeaconEstimate> {
        let p = &self.params;
        debug_assert!(sorted_times.windows(2).all(|w| w[0] <= w[1]));
        if sorted_times.len() < self.min_times() {
            return None;
        }
        let BeaconScratch { contacts, sorted } = scratch;
        // 1. Contacts: a flow within dedup_ms of the previous flow continues its contact.
        contacts.clear();
        let mut previous = None;
        let split = p.split_tolerance_ms as i64;
        for &t in sorted_times {
            let continues = previous.is_some_and(|prev: i64| {
                let gap = t - prev;
                gap <= p.dedup_ms as i64
                    || p.split_timeouts_ms
                        .iter()
                        .any(|&timeout| (gap - timeout as i64).abs() <= split)
            });
            if !continues {
                contacts.push(t);
            }
            previous = Some(t);
        }
        if contacts.len() < self.min_times() {
            return None;
        }
        // 2. Gaps, sorted (for the cluster search, the median and the fits).
        sorted.clear();
        sorted.extend(contacts.windows(2).map(|w| w[1] - w[0]));
        sorted.sort_unstable();
        let m = sorted.len();
        let dedup = p.dedup_ms as f64;
        let mean = (contacts[m] - contacts[0]) as f64 / m as f64;
        let median = sorted[m / 2] as f64;
        let scale = ((mean - dedup).min((median - dedup) / std::f64::consts::LN_2)).max(1.0);
        let null = Null { dedup, scale };

        // The best period: periodic first, then the most confident (coverage penalises the
        // missing beats of a sub-multiple of the true period), then the least likely by chance.
        let mut best: Option<BeaconEstimate> = None;
        let mut consider = |e: BeaconEstimate| {
            let better = match &best {
                None => true,
                Some(b) => {
                    (e.periodic, e.confidence, -e.chance) > (b.periodic, b.confidence, -b.chance)
                }
            };
            if better {
                best = Some(e);
            }
        };
        // 3. The free estimate, refined; also its half and third, in case the densest
        //    cluster is a multiple of the period (many missing beats).
        if let Some(densest) = self.densest_cluster(sorted) {
            for divisor in 1..=3 {
                let start = densest / f64::from(divisor);
                if start < p.min_period_ms as f64 - self.tolerance_ms(p.min_period_ms as f64) {
                    break;
                }
                let (period, fit) = self.refine(sorted, start);
                let snapped = self.snap(period);
                let in_bounds = (p.min_period_ms as f64..=p.max_period_ms as f64).contains(&period);
                if snapped.is_some() || in_bounds {
                    let reported = snapped.unwrap_or(period.round() as u64);
                    consider(self.score(fit, m, period, reported, &null));
                }
            }
        }
        // Every candidate period, as is.
        for &c in &p.candidate_periods_ms {
            let fit = self.fit(sorted, c as f64);
            consider(self.score(fit, m, c as f64, c, &null));
        }
        best.filter(|b| b.explained_gaps >= 1)
    }

    /// The median gap of the densest window of width `2·tol` over the sorted gaps that lie
    /// within the period bounds (the first such window on ties, so the base period wins
    /// over its multiples).
    fn densest_cluster(&self, sorted: &[i64]) -> Option<f64> {
        let p = &self.params;
        let lo_bound = p.min_period_ms as f64 - self.tolerance_ms(p.min_period_ms as f64);
        let hi_bound = p.max_period_ms as f64 + self.tolerance_ms(p.max_period_ms as f64);
        let start = sorted.partition_point(|&g| (g as f64) < lo_bound);
        let end = sorted.partition_point(|&g| (g as f64) <= hi_bound);
        let window = &sorted[start..end];
        let (mut lo, mut best) = (0usize, None::<(usize, usize)>);
        for hi in 0..window.len() {
            let width = 2.0 * self.tolerance_ms(window[hi] as f64);
            while (window[hi] - window[lo]) as f64 > width {
                lo += 1;
            }
            if best.is_none_or(|(l, h)| hi - lo > h - l) {
                best = Some((lo, hi));
            }
        }
        best.map(|(l, h)| window[(l + h) / 2] as f64)
    }

    /// Refines `period` as `Σ gaps / Σ multiples` over the gaps it explains (a few rounds,
    /// stopping when fewer gaps would be explained), with its final fit.
    fn refine(&self, gaps: &[i64], mut period: f64) -> (f64, Fit) {
        let mut fit = self.fit(gaps, period);
        for _ in 0..3 {
            if fit.sum_k == 0 {
                break;
            }
            let refined = fit.sum_gap as f64 / fit.sum_k as f64;
            if refined == period {
                break;
            }
            let next = self.fit(gaps, refined);
            if next.explained < fit.explained {
                break;
            }
            (period, fit) = (refined, next);
        }
        (period, fit)
    }

    /// The nearest candidate period within tolerance of `period`, if any.
    fn snap(&self, period: f64) -> Option<u64> {
        self.params
            .candidate_periods_ms
            .iter()
            .map(|&c| (c, (c as f64 - period).abs()))
            .filter(|&(c, d)| d <= self.tolerance_ms(c as f64))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(c, _)| c)
    }

    /// Which of the gaps (`sorted` ascending) `period` explains.
    ///
    /// The gaps `period` explains lie in the windows `k·period ± tol`, `k` in
    /// `1..=max_multiple`: while the windows are apart (`2·tol` well under the period, always
    /// with the default tolerances), only the gaps in them are looked at, found by binary
    /// search, and each is judged exactly as [`Beacon::fit_each`] judges it, which gives the
    /// same fit in `O(max_multiple · log m)` plus the explained gaps instead of `O(m)`.
    fn fit(&self, sorted: &[i64], period: f64) -> Fit {
        let tol = self.tolerance_ms(period);
        // (Also the way for a NaN period, which explains nothing either way.)
        let windows_apart = 2.0 * tol + 4.0 < period;
        if !windows_apart {
            return self.fit_each(sorted, period);
        }
        let mut fit = Fit::default();
        let mut from = 0;
        for k in 1..=self.params.max_multiple {
            let centre = f64::from(k) * period;
            // One ms wider than the window on each side, so that no gap the exact test
            // accepts is left out by rounding; the windows stay apart (2·tol + 4 < period).
            let (lo, hi) = ((centre - tol).floor() - 1.0, (centre + tol).ceil() + 1.0);
            let rest = &sorted[from..];
            let start = rest.partition_point(|&g| (g as f64) < lo);
            let len = rest[start..].partition_point(|&g| (g as f64) <= hi);
            for &g in &rest[start..start + len] {
                self.judge_gap(g, period, tol, &mut fit);
            }
            from += start + len;
            if from == sorted.len() {
                break;
            }
        }
        fit.unexplained = sorted.len() as u32 - fit.explained;
        fit
    }

    /// [`Beacon::fit`] gap by gap: the definition, and the way when windows overlap.
    fn fit_each(&self, gaps: &[i64], period: f64) -> Fit {
        let tol = self.tolerance_ms(period);
        let mut fit = Fit::default();
        for &g in gaps {
            self.judge_gap(g, period, tol, &mut fit);
        }
        fit.unexplained = gaps.len() as u32 - fit.explained;
        fit
    }

    /// Adds gap `g` to `fit` when `period` explains it: `|g − k·period| ≤ tol` for the whole
    /// `k = round(g / period)` in `1..=max_multiple`.
    fn judge_gap(&self, g: i64, period: f64, tol: f64, fit: &mut Fit) {
        let x = g as f64;
        let k = round_positive(x / period);
        if (1.0..=f64::from(self.params.max_multiple)).contains(&k) && (x - k * period).abs() <= tol
        {
            fit.explained += 1;
            fit.missing += k as u32 - 1;
            fit.sum_gap += g;
            fit.sum_k += k as u64;
        }
    }

    /// Chance, confidence and verdict of a fit.
    fn score(&self, fit: Fit, m: usize, period: f64, reported: u64, null: &Null) -> BeaconEstimate {
        let p = &self.params;
        // Too few explained gaps to be periodic: skip the null model (most pairs end here).
        let chance = if fit.explained < p.min_explained_gaps {
            1.0
        } else {
            let tol = self.tolerance_ms(period);
            let q = null.hit_probability(period, tol, p.max_multiple);
            (self.trials * chernoff_tail(m, fit.explained as usize, q)).min(1.0)
        };
        let coverage = f64::from(fit.explained)
            / (f64::from(fit.explained)
                + f64::from(fit.unexplained)
                + 0.5 * f64::from(fit.missing))
            .max(1.0);
        let confidence = (coverage * (1.0 - chance)).clamp(0.0, 1.0);
        let periodic = fit.explained >= p.min_explained_gaps
            && chance <= p.max_chance
            && confidence >= p.min_confidence;
        BeaconEstimate {
            period_ms: reported,
            fitted_period_ms: period,
            confidence,
            periodic,
            contacts: (m + 1) as u32,
            explained_gaps: fit.explained,
            unexplained_gaps: fit.unexplained,
            missing_beats: fit.missing,
            chance,
        }
    }

    /// Whether two estimated periods are one period for the tally: `b` within tolerance of `a`.
    pub fn same_period(&self, a: u64, b: u64) -> bool {
        (a.abs_diff(b) as f64) <= self.tolerance_ms(a.min(b) as f64)
    }

    /// A host's confidence for one period from the confidences of the peers sharing it:
    /// `1 − Π(1 − cᵢ)`, the probability that at least one peer is a true beacon if the pair
    /// confidences were independent probabilities. 0 for no peers; grows with every peer.
    pub fn host_confidence(confidences: impl IntoIterator<Item = f64>) -> f64 {
        let miss: f64 = confidences
            .into_iter()
            .map(|c| 1.0 - c.clamp(0.0, 1.0))
            .product();
        (1.0 - miss).clamp(0.0, 1.0)
    }

    /// Groups the periodic peers of one host by period (see the module documentation),
    /// ascending by period; each group's period is its median member's. Entries are
    /// `(peer, period, confidence, chance)`; a group is kept when the product of its members'
    /// chances is at most `host_max_chance` (weak members need company; a lone peer needs a
    /// small chance).
    pub fn tally<P: Copy>(
        &self,
        entries: impl IntoIterator<Item = (P, u64, f64, f64)>,
    ) -> Vec<PeriodTally<P>> {
        let mut all: Vec<(u64, usize, P, f64, f64)> = entries
            .into_iter()
            .enumerate()
            .map(|(i, (peer, period, c, chance))| (period, i, peer, c, chance))
            .collect();
        all.sort_by_key(|e| (e.0, e.1));
        let mut out = Vec::new();
        let mut start = 0;
        while start < all.len() {
            let anchor = all[start].0;
            let mut end = start + 1;
            while end < all.len() && self.same_period(anchor, all[end].0) {
                end += 1;
            }
            let group = &mut all[start..end];
            start = end;
            let combined: f64 = group.iter().map(|e| e.4.clamp(0.0, 1.0)).product();
            if combined > self.params.host_max_chance {
                continue;
            }
            let period_ms = group[(group.len() - 1) / 2].0;
            group.sort_by_key(|e| e.1);
            out.push(PeriodTally {
                period_ms,
                peers: group
                    .iter()
                    .map(|&(_, _, peer, confidence, _)| PeerScore { peer, confidence })
                    .collect(),
            });
        }
        out
    }
}

/// The null model: gaps are `dedup + Exp(scale)`.
struct Null {
    dedup: f64,
    scale: f64,
}

impl Null {
    /// Probability that one random gap lies within `tol` of `k·period`, `k` in `1..=max_k`.
    fn hit_probability(&self, period: f64, tol: f64, max_k: u32) -> f64 {
        let survive = |x: f64| (-((x - self.dedup).max(0.0)) / self.scale).exp();
        let q: f64 = (1..=max_k)
            .map(|k| {
                let centre = f64::from(k) * period;
                survive(centre - tol) - survive(centre + tol)
            })
            .sum();
        q.clamp(1e-12, 1.0)
    }
}

/// `x.round()` for `x ≥ 0` (ties away from zero, as [`f64::round`]) without the library
/// call that `f64::round` is on a baseline x86-64 target. Exact: the fraction `x − trunc(x)`
/// of a double is exactly representable. Values beyond `i64` (and NaN) go to `f64::round`.
fn round_positive(x: f64) -> f64 {
    if !(0.0..9.0e18).contains(&x) {
        return x.round();
    }
    let t = x as i64 as f64;
    if x - t >= 0.5 {
        t + 1.0
    } else {
        t
    }
}

/// Chernoff bound on `P(X ≥ hits)` for `X ~ Binomial(n, q)`: `exp(−n·KL(hits/n ‖ q))` when
/// `hits/n > q`, else 1.
fn chernoff_tail(n: usize, hits: usize, q: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let b = hits as f64 / n as f64;
    if b <= q {
        return 1.0;
    }
    if q >= 1.0 {
        return 1.0;
    }
    let term = |x: f64, y: f64| if x <= 0.0 { 0.0 } else { x * (x / y).ln() };
    let kl = term(b, q) + term(1.0 - b, 1.0 - q);
    (-(n as f64) * kl).exp()
}

/// Number of distinguishable periods in the bounds: `∫ dP / (2·tol(P))`.
fn free_trials(p: &BeaconParams) -> f64 {
    let (lo, hi) = (p.min_period_ms as f64, p.max_period_ms as f64);
    let abs = p.abs_tolerance_ms as f64;
    let rel = p.rel_tolerance;
    // tol = abs below the crossover abs/rel, rel·P above it.
    let cross = if rel > 0.0 { abs / rel } else { f64::INFINITY };
    let mut n = 0.0;
    if lo < cross {
        n += (hi.min(cross) - lo) / (2.0 * abs.max(1.0));
    }
    if hi > cross {
        n += (hi / lo.max(cross)).ln() / (2.0 * rel);
    }
    n.max(1.0)
}

#[cfg(test)]
mod tests;
