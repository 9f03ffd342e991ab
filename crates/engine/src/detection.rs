//! Turning a host's finding into a [`Detection`], and deciding whether it is emitted.

use std::net::IpAddr;

use relbot_codec::{Detection, DetectionId, Evidence, PeriodResult};
use relbot_periodicity::{Algorithm, Beacon};

use crate::result::{Finding, HostResult};
use crate::EmitRule;

/// Whether a new finding is emitted, given the finding of the last detection (if any).
/// `algorithm` says when two reported periods are one ([`Algorithm::same_period`]).
pub(crate) fn should_emit(
    rule: EmitRule,
    algorithm: &Algorithm,
    new: &Finding,
    emitted: Option<&Finding>,
) -> bool {
    let same = |a, b| algorithm.same_period(a, b);
    match rule {
        EmitRule::Escalation => new.escalates(emitted, &same),
        EmitRule::AnyChange => match emitted {
            None => new.is_flagged(),
            Some(old) => !new.same_peers(old, &same),
        },
    }
}

/// What identifies the algorithm in a detection.
#[derive(Debug, Clone)]
pub(crate) struct AlgorithmLabel {
    pub name: &'static str,
    pub version: String,
    pub scores_peers: bool,
    pub max_listed_peers: usize,
}

/// The detection for `host` and `finding`, with its idempotent id.
///
/// - Peers are listed in ascending address order (IPv4 as IPv4-mapped IPv6, as in the id),
///   at most `max_listed_peers` per period; counts are complete.
/// - Algorithms that score peers (beacon): `score` and `confidence` are both the host
///   confidence, the largest over the periods of `1 − Π(1 − cᵢ)` over the period's peers
///   (`Beacon::host_confidence`); the reporter sends the score as CCH `confidence_level`.
/// - Classic: `score` = 1 − 0.5^n for the largest count n: one periodic peer scores 0.5, as
///   the original reported, two 0.75, three 0.875; `confidence` is 1.0.
/// - `emitted_at_ms` is the tick (event time): the engine has no clock; a service may
///   overwrite it with wall-clock time, which is not part of the id.
pub(crate) fn build(host: IpAddr, f: &Finding, label: &AlgorithmLabel) -> Detection {
    let mut strongest = 0.0f64;
    let mut host_confidence = 0.0f64;
    let (mut conf_sum, mut conf_n) = (0.0f64, 0u64);
    let periods = f
        .periods
        .iter()
        .map(|p| {
            let mut listed: Vec<(IpAddr, f64)> =
                p.peers.iter().map(|x| (x.peer, x.confidence)).collect();
            listed.sort_unstable_by_key(|(ip, _)| octets(*ip));
            listed.truncate(label.max_listed_peers);
            strongest = strongest.max(p.peers.iter().map(|x| x.confidence).sum());
            host_confidence = host_confidence.max(Beacon::host_confidence(
                p.peers.iter().map(|x| x.confidence),
            ));
            conf_sum += listed.iter().map(|(_, c)| c).sum::<f64>();
            conf_n += listed.len() as u64;
            PeriodResult {
                period_ms: i64::try_from(p.period_ms).unwrap_or(i64::MAX),
                count: u32::try_from(p.peers.len())
                    .unwrap_or(u32::MAX)
                    .min(i32::MAX as u32),
                peers: listed.iter().map(|(ip, _)| *ip).collect(),
                peer_confidence: label
                    .scores_peers
                    .then(|| listed.iter().map(|(_, c)| *c).collect()),
            }
        })
        .collect();
    Detection {
        detection_id: DetectionId::from_bytes([0; 16]),
        host,
        window_start_ms: f.window_start_ms,
        window_end_ms: f.window_end_ms,
        algorithm: label.name.to_string(),
        algorithm_version: label.version.clone(),
        periods,
        score: if label.scores_peers {
            host_confidence
        } else {
            (1.0 - 0.5f64.powf(strongest)).clamp(0.0, 1.0)
        },
        confidence: if label.scores_peers {
            host_confidence
        } else if conf_n == 0 {
            1.0
        } else {
            (conf_sum / conf_n as f64).clamp(0.0, 1.0)
        },
        evidence: Evidence {
            flows_seen: f.flows,
            pairs_evaluated: u64::from(f.peers),
            first_flow_ms: f.first_flow_ms,
            last_flow_ms: f.last_flow_ms,
        },
        emitted_at_ms: f.window_end_ms,
    }
    .with_computed_id()
}

/// The [`Detection`] the engine emits for `result` (a host's finding, e.g. from
/// [`Engine::host_results`](crate::Engine::host_results) or `relbot analyze`) judged by
/// `algorithm`, listing at most `max_listed_peers` peers per period
/// ([`EngineConfig::max_listed_peers`](crate::EngineConfig::max_listed_peers)): the same
/// construction, score and idempotent id as the detector's, whatever order `result`'s peers
/// are in.
pub fn detection_for(
    result: &HostResult,
    algorithm: &Algorithm,
    max_listed_peers: usize,
) -> Detection {
    let label = AlgorithmLabel {
        name: algorithm.name(),
        version: algorithm.version(),
        scores_peers: algorithm.scores_peers(),
        max_listed_peers,
    };
    let mut periods = result.periods.clone();
    // The engine keeps peers in address order; sums over them must add in that order.
    for p in &mut periods {
        p.peers.sort_unstable_by_key(|x| x.peer);
    }
    let finding = Finding {
        window_start_ms: result.window_start_ms,
        window_end_ms: result.window_end_ms,
        flows: result.flows,
        peers: result.peers,
        first_flow_ms: result.first_flow_ms,
        last_flow_ms: result.last_flow_ms,
        periods,
    };
    build(result.host, &finding, &label)
}

/// The address as 16 bytes, IPv4 mapped into IPv6 (the id's order).
fn octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}
