//! The reporting rule: the original submitter's `MIN_IDX` (a host is reported when at least
//! one candidate period has a count `>= min_idx`), plus a minimum detector confidence.

use relbot_codec::Detection;
use serde::{Deserialize, Serialize};

/// When a detection is worth a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportingRule {
    /// Minimum number of periodic peers for at least one period (the original's `MIN_IDX`,
    /// default 1).
    pub min_idx: u32,
    /// Minimum detector confidence, 0.0..=1.0 (default 0.0: every detection that meets
    /// `min_idx`).
    pub min_confidence: f64,
}

impl Default for ReportingRule {
    fn default() -> Self {
        Self {
            min_idx: 1,
            min_confidence: 0.0,
        }
    }
}

/// Why a detection is not reported.
#[derive(Debug, Clone, PartialEq)]
pub enum BelowRule {
    /// No period reached `min_idx`.
    Count {
        /// The largest count of any period.
        max_count: u32,
    },
    /// The detector's confidence is below `min_confidence`.
    Confidence {
        /// The detection's confidence.
        confidence: f64,
    },
}

impl std::fmt::Display for BelowRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count { max_count } => {
                write!(f, "no period reaches min_idx (max count {max_count})")
            }
            Self::Confidence { confidence } => {
                write!(f, "confidence {confidence} below min_confidence")
            }
        }
    }
}

impl ReportingRule {
    /// Problems, naming keys under `at` (e.g. `rule`).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.min_idx == 0 {
            problems.push(format!("`{at}.min_idx` must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            problems.push(format!("`{at}.min_confidence` must be within 0.0..=1.0"));
        }
        problems
    }

    /// `Ok` when `detection` is to be reported, else why not.
    pub fn check(&self, detection: &Detection) -> Result<(), BelowRule> {
        let max_count = max_count(detection);
        if max_count < self.min_idx {
            return Err(BelowRule::Count { max_count });
        }
        if detection.confidence < self.min_confidence {
            return Err(BelowRule::Confidence {
                confidence: detection.confidence,
            });
        }
        Ok(())
    }
}

/// The largest count over the detection's periods (0 without periods).
pub fn max_count(detection: &Detection) -> u32 {
    detection.periods.iter().map(|p| p.count).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::detection;

    #[test]
    fn min_idx_and_confidence() {
        let rule = ReportingRule {
            min_idx: 2,
            min_confidence: 0.5,
        };
        let mut d = detection("192.0.2.1", &[0, 1, 2, 0]);
        d.confidence = 0.6;
        assert_eq!(rule.check(&d), Ok(()));
        d.confidence = 0.4;
        assert!(matches!(rule.check(&d), Err(BelowRule::Confidence { .. })));
        let d = detection("192.0.2.1", &[1, 1, 0, 0]);
        assert_eq!(rule.check(&d), Err(BelowRule::Count { max_count: 1 }));
        assert_eq!(
            ReportingRule::default().check(&detection("192.0.2.1", &[0, 0, 1, 0])),
            Ok(())
        );
        assert!(ReportingRule::default()
            .check(&detection("192.0.2.1", &[0, 0, 0, 0]))
            .is_err());
    }
}
