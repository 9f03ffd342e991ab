//! Whether `relbot analyze` would have a host reported: the reporter's own default
//! [`ReportingRule`] (`crates/report/src/rule.rs`: a period with count ≥ `MIN_IDX`, confidence
//! ≥ `min_confidence`) applied to the [`Detection`] the detector would emit for the host's
//! result. Used by `--output hosts` and `relbot explain`.

use std::net::IpAddr;

use relbot_codec::{Detection, DetectionId, Evidence, PeriodResult};
use relbot_engine::HostResult;
pub use relbot_report::{BelowRule, ReportingRule};

/// The detection for `host`, as the detector's engine builds it: one period entry per
/// reported period with its count and peers, score `1 − 0.5^s` (s: the largest sum of peer
/// confidences of a period), confidence the mean confidence of the listed peers (1.0 when
/// none).
pub fn detection(algorithm: &str, version: &str, host: &HostResult) -> Detection {
    let mut strongest = 0.0f64;
    let (mut sum, mut n) = (0.0f64, 0u64);
    let periods = host
        .periods
        .iter()
        .map(|p| {
            let confidence: f64 = p.peers.iter().map(|x| x.confidence).sum();
            strongest = strongest.max(confidence);
            sum += confidence;
            n += p.peers.len() as u64;
            PeriodResult {
                period_ms: i64::try_from(p.period_ms).unwrap_or(i64::MAX),
                count: u32::try_from(p.count()).unwrap_or(u32::MAX),
                peers: p.peers.iter().map(|x| x.peer).collect::<Vec<IpAddr>>(),
                peer_confidence: Some(p.peers.iter().map(|x| x.confidence).collect()),
            }
        })
        .collect();
    Detection {
        detection_id: DetectionId::from_bytes([0; 16]),
        host: host.host,
        window_start_ms: host.window_start_ms,
        window_end_ms: host.window_end_ms,
        algorithm: algorithm.to_string(),
        algorithm_version: version.to_string(),
        periods,
        score: (1.0 - 0.5f64.powf(strongest)).clamp(0.0, 1.0),
        confidence: if n == 0 {
            1.0
        } else {
            (sum / n as f64).clamp(0.0, 1.0)
        },
        evidence: Evidence {
            flows_seen: host.flows,
            pairs_evaluated: u64::from(host.peers),
            first_flow_ms: host.first_flow_ms,
            last_flow_ms: host.last_flow_ms,
        },
        emitted_at_ms: host.window_end_ms,
    }
    .with_computed_id()
}

/// `Ok` when the reporter's default rule reports `host`, else why not.
pub fn check_default(algorithm: &str, version: &str, host: &HostResult) -> Result<(), BelowRule> {
    ReportingRule::default().check(&detection(algorithm, version, host))
}
