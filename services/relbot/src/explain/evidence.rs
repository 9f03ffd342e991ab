//! The evidence behind a pair's verdict, per algorithm: for `beacon` the estimated period with
//! the gaps it explains, leaves unexplained and the beats missing inside explained gaps; for
//! `classic` the wrapped-and-binned array's statistics per candidate period. `relbot explain`
//! prints it and `relbot analyze --output json` lists it per periodic peer, from this one
//! function, so the two always agree.

use relbot_periodicity::{Algorithm, ClassicEvidence};
use serde::Serialize;

/// Why a pair is (or is not) periodic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PairEvidence {
    /// `beacon`: the best period found and how well it explains the gaps.
    Beacon(BeaconEvidence),
    /// `beacon`: no period explains `min_explained_gaps` gaps.
    NoPeriod {
        /// Flows of the pair.
        flows: usize,
        /// Explained gaps a period needs.
        min_explained_gaps: u32,
    },
    /// `classic`: the check per candidate period.
    Classic {
        /// One entry per candidate period, ascending.
        periods: Vec<ClassicEvidence>,
    },
    /// Fewer flows than any period needs.
    TooFewFlows {
        /// Flows of the pair.
        flows: usize,
        /// Flows a periodic pair needs at least.
        min_flows: usize,
    },
}

/// The beacon algorithm's estimate for a pair (see `crates/periodicity/src/beacon/`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeaconEvidence {
    /// The reported period, ms (the fitted period, or the candidate it snapped to).
    pub period_ms: u64,
    /// The fitted period, ms.
    pub fitted_period_ms: f64,
    /// Confidence in [0, 1]: coverage × (1 − chance).
    pub confidence: f64,
    /// Whether every criterion is met.
    pub periodic: bool,
    /// Contacts after merging flows within `dedup_ms`.
    pub contacts: u32,
    /// Gaps explained by the period (one to `max_multiple` periods long).
    pub explained_gaps: u32,
    /// Gaps not explained (extra flows, phase jumps, offline spells).
    pub unexplained_gaps: u32,
    /// Beats missing inside explained gaps.
    pub missing_beats: u32,
    /// Bound on the chance that random gaps explain as many.
    pub chance: f64,
    /// Why it is not periodic (`None` when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PairEvidence {
    /// The evidence for a pair with start times `sorted_times` (ascending).
    pub fn of(algorithm: &Algorithm, sorted_times: &[i64]) -> Self {
        let flows = sorted_times.len();
        if !algorithm.is_candidate(flows) {
            return Self::TooFewFlows {
                flows,
                min_flows: algorithm.min_times(),
            };
        }
        match algorithm {
            Algorithm::Classic(c) => {
                let mut scratch = c.scratch();
                let periods = c
                    .params()
                    .periods_ms
                    .iter()
                    .map(|&p| c.explain(sorted_times, p, &mut scratch))
                    .collect();
                Self::Classic { periods }
            }
            Algorithm::Beacon(b) => {
                let p = b.params();
                match b.estimate(sorted_times, &mut b.scratch()) {
                    None => Self::NoPeriod {
                        flows,
                        min_explained_gaps: p.min_explained_gaps,
                    },
                    Some(e) => {
                        let reason = if e.periodic {
                            None
                        } else if e.explained_gaps < p.min_explained_gaps {
                            Some(format!(
                                "{} explained gaps, {} needed",
                                e.explained_gaps, p.min_explained_gaps
                            ))
                        } else if e.chance > p.max_chance {
                            Some(format!(
                                "chance {:.2e} above max_chance {}",
                                e.chance, p.max_chance
                            ))
                        } else {
                            Some(format!(
                                "confidence {:.2} below min_confidence {}",
                                e.confidence, p.min_confidence
                            ))
                        };
                        Self::Beacon(BeaconEvidence {
                            period_ms: e.period_ms,
                            fitted_period_ms: e.fitted_period_ms,
                            confidence: e.confidence,
                            periodic: e.periodic,
                            contacts: e.contacts,
                            explained_gaps: e.explained_gaps,
                            unexplained_gaps: e.unexplained_gaps,
                            missing_beats: e.missing_beats,
                            chance: e.chance,
                            reason,
                        })
                    }
                }
            }
        }
    }

    /// Whether the algorithm judges the pair periodic on its own (before the `[filter]`
    /// rules, which look at other peers and hosts).
    pub fn is_periodic(&self) -> bool {
        match self {
            Self::Beacon(e) => e.periodic,
            Self::Classic { periods } => periods.iter().any(|p| p.periodic),
            Self::NoPeriod { .. } | Self::TooFewFlows { .. } => false,
        }
    }

    /// The period this evidence points at, ms: beacon's estimate; classic's periodic candidate
    /// with the largest bin, else the candidate with the largest bin.
    pub fn best_period_ms(&self) -> Option<u64> {
        match self {
            Self::Beacon(b) => Some(b.period_ms),
            Self::Classic { periods } => periods
                .iter()
                .max_by(|a, b| {
                    (a.periodic, a.max)
                        .partial_cmp(&(b.periodic, b.max))
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .map(|e| e.period_ms),
            Self::NoPeriod { .. } | Self::TooFewFlows { .. } => None,
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Self::Beacon(b) => {
                let mut text = format!(
                    "{} contacts: {} gaps explained, {} unexplained, {} missing beats, chance {:.1e}",
                    b.contacts, b.explained_gaps, b.unexplained_gaps, b.missing_beats, b.chance
                );
                if let Some(reason) = &b.reason {
                    text.push_str(&format!("; not periodic: {reason}"));
                }
                text
            }
            Self::NoPeriod {
                flows,
                min_explained_gaps,
            } => format!(
                "{flows} flows: no period explains {min_explained_gaps} gaps between contacts"
            ),
            Self::TooFewFlows { flows, min_flows } => {
                format!("{flows} flow(s), a periodic pair needs at least {min_flows}")
            }
            Self::Classic { periods } => periods
                .iter()
                .map(|e| {
                    let head = format!(
                        "{}: max bin {:.2} at +{}",
                        crate::output::human_period(e.period_ms),
                        e.max,
                        crate::output::human_period(e.peak_offset_ms)
                    );
                    match e.reason() {
                        None => format!("{head}, the only bin over {:.2}: periodic", e.threshold),
                        Some(r) => format!("{head}, {r}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}
