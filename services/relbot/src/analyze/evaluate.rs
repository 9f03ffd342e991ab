//! Runs the configured algorithm over every pair (hosts in parallel) and tallies periodic
//! peers per host with the algorithm's own rule — the same [`Algorithm`] calls the detector's
//! engine makes, so the embedded and the distributed paths judge a pair identically.

use std::collections::HashMap;
use std::net::IpAddr;

use relbot_engine::{fold_replies, tally_periods, HostResult, PeerFilter, Prevalence};
use relbot_periodicity::{Algorithm, PairVerdict};

use super::columns::{FlowRows, PairCursor};
use crate::explain::PairEvidence;

/// The evidence of every periodic pair, by (host, peer).
pub type EvidenceMap = HashMap<(IpAddr, IpAddr), PairEvidence>;

/// Totals over all hosts, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Distinct (source, destination) pairs.
    pub pairs: usize,
}

/// A host's pairs: the periodic ones with their verdicts, and counters over all of them.
struct HostPairs {
    flows: u64,
    peers: u32,
    first_ms: i64,
    last_ms: i64,
    /// ((peer, flows to it), verdict, first flow start) of the pairs found periodic.
    periodic: Vec<((IpAddr, u64), PairVerdict, i64)>,
    /// The evidence of the periodic pairs, in the same order.
    evidence: Vec<PairEvidence>,
}

/// Evaluates every pair and returns the hosts with at least one periodic peer that survives
/// `filter` (see `relbot_engine::filter`: replies folded, allow-listed and infrastructure
/// peers dropped, at least `min_peers` sharing a period), sorted by the address's text, byte
/// order (the original compared and sorted addresses as strings), with each period's peers
/// sorted the same way, and the evidence of every periodic pair of those hosts.
pub fn evaluate(
    algorithm: &Algorithm,
    rows: FlowRows,
    filter: &PeerFilter,
) -> (Vec<HostResult>, Totals, EvidenceMap) {
    let per_host = rows.for_each_host(|host, pairs: &mut PairCursor<'_>| {
        let mut scratch = algorithm.scratch();
        let mut seen = HostPairs {
            flows: 0,
            peers: 0,
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            periodic: Vec::new(),
            evidence: Vec::new(),
        };
        while let Some((peer, times)) = pairs.next() {
            let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
                continue;
            };
            let flows = times.len() as u64;
            seen.flows += flows;
            seen.peers += 1;
            seen.first_ms = seen.first_ms.min(first);
            seen.last_ms = seen.last_ms.max(last);
            if algorithm.is_candidate(times.len()) {
                let verdict = algorithm.evaluate_pair(times, &mut scratch);
                if verdict.is_periodic() {
                    seen.evidence.push(PairEvidence::of(algorithm, times));
                    seen.periodic.push(((peer, flows), verdict, first));
                }
            }
        }
        (host, seen)
    });
    let totals = Totals {
        pairs: per_host.iter().map(|(_, seen)| seen.peers as usize).sum(),
    };
    let mut per_host = per_host;
    apply_filter(filter, &mut per_host);
    let mut evidence = EvidenceMap::new();
    let mut found: Vec<(String, HostResult)> = per_host
        .into_iter()
        .filter(|(_, seen)| !seen.periodic.is_empty())
        .filter_map(|(host, mut seen)| {
            let result = host_result(algorithm, host, &seen);
            if !result
                .periods
                .iter()
                .any(|p| p.count() >= filter.min_peers())
            {
                return None;
            }
            let pairs = seen.periodic.iter().map(|((peer, _), _, _)| (host, *peer));
            evidence.extend(pairs.zip(std::mem::take(&mut seen.evidence)));
            Some((host.to_string(), result))
        })
        .collect();
    found.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    (
        found.into_iter().map(|(_, h)| h).collect(),
        totals,
        evidence,
    )
}

/// The false-positive control over all hosts at once (the engine applies the same rules
/// host by host): prevalence counts every periodic pair; replies, allow-listed and
/// infrastructure peers are then dropped.
fn apply_filter(filter: &PeerFilter, per_host: &mut [(IpAddr, HostPairs)]) {
    let mut prevalence = Prevalence::default();
    for (_, seen) in per_host.iter() {
        prevalence.replace([], seen.periodic.iter().map(|((peer, _), _, _)| *peer));
    }
    let limit = filter.prevalence_limit(prevalence.periodic_hosts());
    let replies: Vec<usize> = if filter.folds_replies() {
        let pairs: Vec<(IpAddr, IpAddr, i64)> = per_host
            .iter()
            .flat_map(|(host, seen)| {
                seen.periodic
                    .iter()
                    .map(move |((peer, _), _, first)| (*host, *peer, *first))
            })
            .collect();
        fold_replies(&pairs)
    } else {
        Vec::new()
    };
    let mut index = 0;
    let mut replies = replies.into_iter().peekable();
    for (_, seen) in per_host.iter_mut() {
        let keep: Vec<bool> = seen
            .periodic
            .iter()
            .map(|((peer, _), _, _)| {
                let reply = replies.next_if_eq(&index).is_some();
                index += 1;
                !reply && !filter.allows_peer(*peer) && !prevalence.is_infrastructure(*peer, limit)
            })
            .collect();
        // The evidence is kept in step with its pair.
        let mut verdicts = keep.iter();
        seen.periodic
            .retain(|_| verdicts.next().copied().unwrap_or(true));
        let mut verdicts = keep.iter();
        seen.evidence
            .retain(|_| verdicts.next().copied().unwrap_or(true));
    }
}

fn host_result(algorithm: &Algorithm, host: IpAddr, seen: &HostPairs) -> HostResult {
    let mut periods = tally_periods(algorithm, seen.periodic.iter().map(|(p, v, _)| (*p, v)));
    // The original listed addresses in text order.
    for period in &mut periods {
        period.peers.sort_by_cached_key(|p| p.peer.to_string());
    }
    HostResult {
        host,
        window_start_ms: seen.first_ms,
        window_end_ms: seen.last_ms.saturating_add(1),
        flows: seen.flows,
        peers: seen.peers,
        first_flow_ms: seen.first_ms,
        last_flow_ms: seen.last_ms,
        periods,
    }
}
