//! Runs the configured algorithm over every pair (hosts in parallel) and tallies periodic
//! peers per host with the algorithm's own rule — the same [`Algorithm`] calls the detector's
//! engine makes, so the embedded and the distributed paths judge a pair identically.

use std::collections::HashMap;
use std::net::IpAddr;

use relbot_engine::{tally_periods, HostResult};
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
    /// ((peer, flows to it), verdict) of the pairs found periodic.
    periodic: Vec<((IpAddr, u64), PairVerdict)>,
    /// The evidence of the periodic pairs, in the same order.
    evidence: Vec<PairEvidence>,
}

/// Evaluates every pair and returns the hosts with at least one periodic peer, sorted by the
/// address's text, byte order (the original compared and sorted addresses as strings), with
/// each period's peers sorted the same way, and the evidence of every periodic pair.
pub fn evaluate(algorithm: &Algorithm, rows: FlowRows) -> (Vec<HostResult>, Totals, EvidenceMap) {
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
                    seen.periodic.push(((peer, flows), verdict));
                }
            }
        }
        (host, seen)
    });
    let totals = Totals {
        pairs: per_host.iter().map(|(_, seen)| seen.peers as usize).sum(),
    };
    let mut evidence = EvidenceMap::new();
    let mut found: Vec<(String, HostResult)> = per_host
        .into_iter()
        .filter(|(_, seen)| !seen.periodic.is_empty())
        .map(|(host, mut seen)| {
            let pairs = seen.periodic.iter().map(|((peer, _), _)| (host, *peer));
            evidence.extend(pairs.zip(std::mem::take(&mut seen.evidence)));
            (host.to_string(), host_result(algorithm, host, &seen))
        })
        .collect();
    found.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    (
        found.into_iter().map(|(_, h)| h).collect(),
        totals,
        evidence,
    )
}

fn host_result(algorithm: &Algorithm, host: IpAddr, seen: &HostPairs) -> HostResult {
    let mut periods = tally_periods(algorithm, seen.periodic.iter().map(|(p, v)| (*p, v)));
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
