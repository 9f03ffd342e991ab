//! [`EngineConfig`]: retention, evaluation schedule, lateness, caps and budget of an engine.
//!
//! Durations are event time (flow start times), never wall-clock time. Two presets:
//! [`EngineConfig::batch`] keeps everything and evaluates once, at [`flush`](crate::Engine::flush)
//! (what `relbot analyze` needs to reproduce the original's batch output exactly), and
//! [`EngineConfig::streaming`] has the bounded defaults of the detector service.

use std::time::Duration;

use crate::{EngineError, Networks};

/// When an evaluation of a host produces a [`Detection`](relbot_codec::Detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitRule {
    /// Only when the result escalates against the last emitted one: a period has a higher
    /// count, or a periodic peer that was not listed for it. Unchanged or shrinking results
    /// emit nothing.
    #[default]
    Escalation,
    /// Whenever the result differs from the last emitted one in any count or peer, including
    /// a drop to no periodic peer at all (a detection with all counts zero, which retracts the
    /// earlier one). The latest detection of a host then always describes its latest
    /// evaluation.
    AnyChange,
}

/// Configuration of an [`Engine`](crate::Engine).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Retention horizon, and length of every evaluation window `[tick − horizon, tick)`;
    /// `None` keeps every flow time (batch).
    pub horizon: Option<Duration>,
    /// Evaluation interval: ticks are the multiples of it since the Unix epoch; `None`
    /// evaluates only on [`flush`](crate::Engine::flush) (batch).
    pub eval_interval: Option<Duration>,
    /// How far behind the newest flow start a flow may arrive and still be counted; the
    /// watermark is the newest start minus this. `None`: any order (nothing is late before
    /// a flush).
    pub allowed_lateness: Option<Duration>,
    /// Sources whose state is kept; others are counted as filtered (empty: all).
    pub monitored: Networks,
    /// Most peers kept per host; flows to further peers are dropped and counted.
    pub max_peers_per_host: usize,
    /// Most flow times kept per pair; beyond it the oldest time is dropped and counted.
    pub max_times_per_pair: usize,
    /// Sparse-session eviction, in longest candidate periods: a pair's oldest *session* (its
    /// times up to the first gap longer than this) that holds fewer times than the algorithm
    /// needs (classic: `MIN_VAL`) is dropped once it is this old; a peer contacted with a
    /// period would have been contacted again. A scan's one-off peers go this way. `None`:
    /// never (batch).
    pub sparse_idle_periods: Option<u32>,
    /// Overall budget for the engine's state, bytes; above it whole hosts are evicted, least
    /// recently active first (newest flow start), down to 90 % of it. `None`: unbounded.
    pub budget_bytes: Option<usize>,
    /// Lazy re-estimation: the algorithm runs again on a pair whose window holds at least
    /// [`LAZY_MIN_TIMES`](Self::LAZY_MIN_TIMES) flow times only once at least this share of
    /// its window changed (flows in plus flows out) since it last ran; in between, the pair
    /// keeps its last verdict (its flow count stays current). A pair with fewer times, a
    /// restored pair without a saved verdict and every pair at a [`flush`](crate::Engine::flush)
    /// are always evaluated afresh, so results at the end of input do not depend on it.
    /// Re-running a long series on every new flow costs its length each time; with 1/8 the
    /// cost per flow stays bounded. `0.0`: the algorithm runs on every change (batch).
    pub reevaluate_change: f64,
    /// When evaluations produce detections.
    pub emit: EmitRule,
    /// Most peers listed per period in a detection (the count is always complete).
    pub max_listed_peers: usize,
    /// Track which hosts changed since the last [`take_changed`](crate::Engine::take_changed)
    /// (the detector's changelog); off in batch use.
    pub track_changes: bool,
}

impl EngineConfig {
    /// Smallest accepted [`budget_bytes`](Self::budget_bytes).
    pub const MIN_BUDGET_BYTES: usize = 64 * 1024;
    /// Pairs with fewer flow times in their window are re-estimated on every change (see
    /// [`reevaluate_change`](Self::reevaluate_change)): young series, where every beat counts.
    pub const LAZY_MIN_TIMES: usize = 32;

    /// Keeps everything, accepts any order, evaluates once at flush: the batch result of the
    /// original tool.
    pub fn batch() -> Self {
        Self {
            horizon: None,
            eval_interval: None,
            allowed_lateness: None,
            monitored: Networks::all(),
            max_peers_per_host: usize::MAX,
            max_times_per_pair: usize::MAX,
            sparse_idle_periods: None,
            budget_bytes: None,
            reevaluate_change: 0.0,
            emit: EmitRule::Escalation,
            max_listed_peers: usize::MAX,
            track_changes: false,
        }
    }

    /// The detector's defaults: a 24 h horizon, evaluation every 5 min, 5 min of allowed
    /// lateness, 16 384 peers per host, 4 096 times per pair, sparse pairs evicted after two
    /// longest periods idle, a 1 GiB budget, long series re-estimated after 1/8 of their
    /// window changed, change tracking on.
    pub fn streaming() -> Self {
        Self {
            horizon: Some(Duration::from_secs(24 * 3600)),
            eval_interval: Some(Duration::from_secs(300)),
            allowed_lateness: Some(Duration::from_secs(300)),
            monitored: Networks::all(),
            max_peers_per_host: 16_384,
            max_times_per_pair: 4_096,
            sparse_idle_periods: Some(2),
            budget_bytes: Some(1 << 30),
            reevaluate_change: 0.125,
            emit: EmitRule::Escalation,
            max_listed_peers: 256,
            track_changes: true,
        }
    }

    /// Checks ranges and cross-field rules.
    pub fn validate(&self) -> Result<(), EngineError> {
        positive_ms("horizon", self.horizon)?;
        positive_ms("eval_interval", self.eval_interval)?;
        if let Some(l) = self.allowed_lateness {
            to_ms("allowed_lateness", l)?;
        }
        if self.max_peers_per_host == 0 {
            return Err(EngineError::config(
                "max_peers_per_host",
                "must be at least 1",
            ));
        }
        if self.max_times_per_pair == 0 {
            return Err(EngineError::config(
                "max_times_per_pair",
                "must be at least 1",
            ));
        }
        if self.sparse_idle_periods == Some(0) {
            return Err(EngineError::config(
                "sparse_idle_periods",
                "must be at least 1 (or none)",
            ));
        }
        if !(0.0..=1.0).contains(&self.reevaluate_change) {
            return Err(EngineError::config(
                "reevaluate_change",
                format!("must be in [0, 1], got {}", self.reevaluate_change),
            ));
        }
        if let Some(b) = self.budget_bytes {
            if b < Self::MIN_BUDGET_BYTES {
                return Err(EngineError::config(
                    "budget_bytes",
                    format!("must be at least {} bytes, got {b}", Self::MIN_BUDGET_BYTES),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn horizon_ms(&self) -> Option<i64> {
        self.horizon.map(saturating_ms)
    }

    pub(crate) fn interval_ms(&self) -> Option<i64> {
        self.eval_interval.map(saturating_ms)
    }

    pub(crate) fn lateness_ms(&self) -> Option<i64> {
        self.allowed_lateness.map(saturating_ms)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::streaming()
    }
}

fn saturating_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn to_ms(field: &'static str, d: Duration) -> Result<i64, EngineError> {
    // Keep ms arithmetic on event times far from overflow: at most ~292 years.
    const MAX_MS: i64 = 1 << 53;
    let ms = saturating_ms(d);
    if ms > MAX_MS {
        return Err(EngineError::config(field, "is longer than 2^53 ms"));
    }
    Ok(ms)
}

fn positive_ms(field: &'static str, d: Option<Duration>) -> Result<(), EngineError> {
    match d {
        None => Ok(()),
        Some(d) if to_ms(field, d)? >= 1 => Ok(()),
        Some(_) => Err(EngineError::config(
            field,
            "must be at least 1 ms (or none)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_values_name_the_field() {
        EngineConfig::batch().validate().unwrap();
        EngineConfig::streaming().validate().unwrap();
        let mut c = EngineConfig::streaming();
        c.eval_interval = Some(Duration::from_micros(10));
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("eval_interval"));
        let mut c = EngineConfig::streaming();
        c.budget_bytes = Some(100);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("budget_bytes"));
        let mut c = EngineConfig::streaming();
        c.reevaluate_change = 1.5;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("reevaluate_change"));
        let mut c = EngineConfig::streaming();
        c.max_peers_per_host = 0;
        assert!(c.validate().is_err());
        let mut c = EngineConfig::streaming();
        c.horizon = Some(Duration::from_secs(u64::MAX));
        assert!(c.validate().is_err());
    }
}
