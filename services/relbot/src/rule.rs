//! Whether `relbot analyze` would have a host reported: the reporter's own default
//! [`ReportingRule`] (`crates/report/src/rule.rs`: a period with count ≥ `MIN_IDX`, confidence
//! ≥ `min_confidence`) applied to the [`Detection`] the detector would emit for the host's
//! result. Used by `--output hosts` and `relbot explain`.

use relbot_codec::Detection;
use relbot_engine::{detection_for, EngineConfig, HostResult};
use relbot_periodicity::Algorithm;
pub use relbot_report::{BelowRule, ReportingRule};

/// The detection for `host`, exactly as the detector's engine builds it in a batch run
/// ([`relbot_engine::detection_for`]).
pub fn detection(algorithm: &Algorithm, host: &HostResult) -> Detection {
    detection_for(host, algorithm, EngineConfig::batch().max_listed_peers)
}

/// `Ok` when the reporter's default rule reports `host`, else why not.
pub fn check_default(algorithm: &Algorithm, host: &HostResult) -> Result<(), BelowRule> {
    ReportingRule::default().check(&detection(algorithm, host))
}
