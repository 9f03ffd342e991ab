//! Runs the classic check over every pair (hosts in parallel) and tallies periodic peers per
//! host.

use std::net::IpAddr;

use relbot_periodicity::Classic;

use super::columns::{FlowRows, PairCursor};

/// What the analysis found for one host that has at least one periodic peer.
#[derive(Debug, Clone, PartialEq)]
pub struct HostResult {
    /// The host.
    pub host: IpAddr,
    /// Flows the host initiated, over all its peers.
    pub flows: u64,
    /// Distinct peers the host contacted.
    pub peers: u32,
    /// Per candidate period (same order as the configured periods): the periodic peers.
    pub periods: Vec<Vec<PeerEvidence>>,
}

/// One peer found periodic for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerEvidence {
    /// The peer's address.
    pub peer: IpAddr,
    /// Flows from the host to this peer.
    pub flows: u64,
}

impl HostResult {
    /// Periodic peer count per period, as the original printed it.
    pub fn counts(&self) -> impl Iterator<Item = usize> + '_ {
        self.periods.iter().map(Vec::len)
    }
}

/// Totals over all hosts, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Distinct (source, destination) pairs.
    pub pairs: usize,
}

/// Evaluates every pair and returns the hosts with at least one periodic peer, sorted by the
/// address's text, byte order (the original compared and sorted addresses as strings).
pub fn evaluate(classic: &Classic, rows: FlowRows) -> (Vec<HostResult>, Totals) {
    let n_periods = classic.params().periods_ms.len();
    let per_host = rows.for_each_host(|host, pairs: &mut PairCursor<'_>| {
        let mut scratch = classic.scratch();
        let mut result = HostResult {
            host,
            flows: 0,
            peers: 0,
            periods: vec![Vec::new(); n_periods],
        };
        while let Some((peer, times)) = pairs.next() {
            result.flows += times.len() as u64;
            result.peers += 1;
            if !classic.is_candidate(times.len()) {
                continue;
            }
            for index in classic.evaluate(times, &mut scratch).iter() {
                result.periods[index].push(PeerEvidence {
                    peer,
                    flows: times.len() as u64,
                });
            }
        }
        result
    });
    let totals = Totals {
        pairs: per_host.iter().map(|h| h.peers as usize).sum(),
    };
    let mut found: Vec<(String, HostResult)> = per_host
        .into_iter()
        .filter(|h| h.periods.iter().any(|p| !p.is_empty()))
        .map(|mut h| {
            for peers in &mut h.periods {
                peers.sort_by_cached_key(|e| e.peer.to_string());
            }
            (h.host.to_string(), h)
        })
        .collect();
    found.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    (found.into_iter().map(|(_, h)| h).collect(), totals)
}
