//! Parameters of the classic algorithm, their validation, and the original JSON config file.

use serde::{Deserialize, Serialize};

use crate::PeriodMask;

/// Parameters of the classic check, named as in the original `timedetector.conf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassicParams {
    /// Candidate periods P, milliseconds (`times`). Reported in ascending order.
    pub periods_ms: Vec<u64>,
    /// Bin width U, milliseconds (`UNIT_MS`).
    pub unit_ms: u64,
    /// Kernel radius R, bins (`RADIUS`).
    pub radius: u32,
    /// Minimum number of start times of a pair, and minimum peak height (`MIN_VAL`).
    pub min_val: f64,
    /// Weight of the maximum in the outlier threshold (`MAX_COEF`).
    pub max_coef: f64,
    /// Weight of the dispersion in the outlier threshold (`DISP_COEF`).
    pub disp_coef: f64,
    /// Weight of the mean in the outlier threshold (`MEAN_COEF`).
    pub mean_coef: f64,
    /// Constant term of the outlier threshold (`FREE_COEF`).
    pub free_coef: f64,
}

/// A parameter set the algorithm cannot run with, or an original config file it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// A candidate period of zero (the original divided by it).
    #[error("`times`: a period of 0 ms is not allowed")]
    ZeroPeriod,
    /// More candidate periods than a [`PeriodMask`] holds.
    #[error("`times`: at most {max} periods are supported, got {got}")]
    TooManyPeriods {
        /// The limit.
        max: usize,
        /// How many were given.
        got: usize,
    },
    /// `UNIT_MS` of zero (the original divided by it).
    #[error("`UNIT_MS` must be at least 1")]
    ZeroUnit,
    /// A bin array so large that it cannot be allocated sensibly.
    #[error("`times`/`UNIT_MS`/`RADIUS`: period {period_ms} ms needs {bins} bins; at most {max} are supported")]
    TooManyBins {
        /// The offending period.
        period_ms: u64,
        /// Bins it needs (P / U + R + 1).
        bins: u64,
        /// The limit.
        max: u64,
    },
    /// A coefficient that is not a finite number.
    #[error("`{key}` must be a finite number")]
    NotFinite {
        /// The key, as in the original config.
        key: &'static str,
    },
    /// The original JSON config could not be parsed.
    #[error("seed config: {0}")]
    SeedJson(#[from] serde_json::Error),
    /// A key of the original JSON config has a value of the wrong kind.
    #[error("seed config: `{key}` {problem}")]
    SeedValue {
        /// The key, as in the original config.
        key: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl ClassicParams {
    /// Largest bin array accepted (P / U + R + 1), about 128 MiB of doubles.
    pub const MAX_BINS: u64 = 1 << 24;

    /// The shipped `timedetector.conf` of the original project (10, 15, 30 and 40 minutes).
    pub fn seed_shipped() -> Self {
        Self {
            periods_ms: vec![600_000, 900_000, 1_800_000, 2_400_000],
            unit_ms: 1000,
            radius: 3,
            min_val: 4.0,
            max_coef: 0.5,
            disp_coef: 0.5,
            mean_coef: 0.5,
            free_coef: 0.0,
        }
    }

    /// The original program's built-in values, used for keys missing from its config file.
    /// It has no built-in periods.
    pub fn seed_builtin() -> Self {
        Self {
            periods_ms: Vec::new(),
            unit_ms: 1000,
            radius: 3,
            min_val: 4.0,
            max_coef: 1.0,
            disp_coef: -3.0,
            mean_coef: 0.0,
            free_coef: 0.0,
        }
    }

    /// Reads the original program's JSON config (`timedetector.conf`) unchanged: known keys are
    /// taken, missing keys keep the original's built-in values, other keys (`comment_*`,
    /// `threads`) are ignored as the original ignored them.
    pub fn from_seed_json(text: &str) -> Result<Self, ParamsError> {
        let doc: serde_json::Value = serde_json::from_str(text)?;
        let obj = doc.as_object().ok_or(ParamsError::SeedValue {
            key: "(top level)",
            problem: "must be a JSON object",
        })?;
        let mut p = Self::seed_builtin();
        if let Some(times) = obj.get("times") {
            let list = times.as_array().ok_or(ParamsError::SeedValue {
                key: "times",
                problem: "must be an array of milliseconds",
            })?;
            p.periods_ms = list
                .iter()
                .map(|v| {
                    json_u64(v).ok_or(ParamsError::SeedValue {
                        key: "times",
                        problem: "must hold non-negative whole numbers",
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = obj.get("UNIT_MS") {
            p.unit_ms = json_u64(v).ok_or(ParamsError::SeedValue {
                key: "UNIT_MS",
                problem: "must be a non-negative whole number",
            })?;
        }
        if let Some(v) = obj.get("RADIUS") {
            p.radius =
                json_u64(v)
                    .and_then(|r| u32::try_from(r).ok())
                    .ok_or(ParamsError::SeedValue {
                        key: "RADIUS",
                        problem: "must be a non-negative whole number",
                    })?;
        }
        for (key, slot) in [
            ("MIN_VAL", &mut p.min_val),
            ("MAX_COEF", &mut p.max_coef),
            ("DISP_COEF", &mut p.disp_coef),
            ("MEAN_COEF", &mut p.mean_coef),
            ("FREE_COEF", &mut p.free_coef),
        ] {
            if let Some(v) = obj.get(key) {
                *slot = v.as_f64().ok_or(ParamsError::SeedValue {
                    key,
                    problem: "must be a number",
                })?;
            }
        }
        p.validate()?;
        Ok(p)
    }

    /// Checks the rules the algorithm relies on.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.unit_ms == 0 {
            return Err(ParamsError::ZeroUnit);
        }
        if self.periods_ms.len() > PeriodMask::CAPACITY {
            return Err(ParamsError::TooManyPeriods {
                max: PeriodMask::CAPACITY,
                got: self.periods_ms.len(),
            });
        }
        for &period_ms in &self.periods_ms {
            if period_ms == 0 {
                return Err(ParamsError::ZeroPeriod);
            }
            let bins = period_ms / self.unit_ms + u64::from(self.radius) + 1;
            if bins > Self::MAX_BINS {
                return Err(ParamsError::TooManyBins {
                    period_ms,
                    bins,
                    max: Self::MAX_BINS,
                });
            }
        }
        for (key, v) in [
            ("MIN_VAL", self.min_val),
            ("MAX_COEF", self.max_coef),
            ("DISP_COEF", self.disp_coef),
            ("MEAN_COEF", self.mean_coef),
            ("FREE_COEF", self.free_coef),
        ] {
            if !v.is_finite() {
                return Err(ParamsError::NotFinite { key });
            }
        }
        Ok(())
    }
}

/// A JSON number that is a non-negative whole number (`600000` or `600000.0`).
fn json_u64(v: &serde_json::Value) -> Option<u64> {
    if let Some(u) = v.as_u64() {
        return Some(u);
    }
    let f = v.as_f64()?;
    // Whole, non-negative and exactly representable: the cast below is then exact.
    (f >= 0.0 && f.fract() == 0.0 && f < 9.0e15).then_some(f as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = r#"{
	"times" :
		[600000, 900000, 1800000, 2400000],
	"DISP_COEF" : 0.5,
	"MEAN_COEF" : 0.5,
	"FREE_COEF" : 0,
	"MAX_COEF" : 0.5,
	"comment_1" : "if we have exactly one value greater than ...",
	"UNIT_MS" : 1000,
	"RADIUS" : 3,
	"MIN_VAL" : 4.0,
	"threads": 4
}"#;

    #[test]
    fn shipped_file_reads_as_shipped_defaults() {
        let p = ClassicParams::from_seed_json(SHIPPED).unwrap();
        assert_eq!(p, ClassicParams::seed_shipped());
    }

    #[test]
    fn missing_keys_take_builtin_values() {
        let p = ClassicParams::from_seed_json(r#"{"times": [60000]}"#).unwrap();
        let mut expected = ClassicParams::seed_builtin();
        expected.periods_ms = vec![60000];
        assert_eq!(p, expected);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = ClassicParams::from_seed_json(r#"{"times": [600000], "RADIUS": "x"}"#);
        assert!(e.unwrap_err().to_string().contains("RADIUS"));
        let e = ClassicParams::from_seed_json(r#"{"times": [0]}"#);
        assert!(matches!(e, Err(ParamsError::ZeroPeriod)));
        let e = ClassicParams::from_seed_json(r#"{"times": [60000], "UNIT_MS": 0}"#);
        assert!(matches!(e, Err(ParamsError::ZeroUnit)));
        let e = ClassicParams::from_seed_json("[1,2]");
        assert!(e.unwrap_err().to_string().contains("object"));
        let e = ClassicParams::from_seed_json("{");
        assert!(matches!(e, Err(ParamsError::SeedJson(_))));
    }

    #[test]
    fn whole_float_periods_are_accepted() {
        let p = ClassicParams::from_seed_json(r#"{"times": [600000.0]}"#).unwrap();
        assert_eq!(p.periods_ms, vec![600000]);
        assert!(ClassicParams::from_seed_json(r#"{"times": [1.5]}"#).is_err());
    }
}
