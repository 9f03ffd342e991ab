//! Runs the classic check over every pair (in parallel) and tallies periodic peers per host.

use std::net::IpAddr;

use hashbrown::HashMap;
use rayon::prelude::*;
use relbot_periodicity::{Classic, PeriodMask};

use super::pairs::Pair;

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

/// Evaluates every pair and returns the hosts with at least one periodic peer, sorted by the
/// address's text, byte order (the original compared and sorted addresses as strings).
pub fn evaluate(classic: &Classic, mut pairs: Vec<Pair>) -> Vec<HostResult> {
    let verdicts: Vec<PeriodMask> = pairs
        .par_iter_mut()
        .map_init(
            || classic.scratch(),
            |scratch, pair| {
                if !classic.is_candidate(pair.times.len()) {
                    return PeriodMask::EMPTY;
                }
                pair.times.sort_unstable();
                classic.evaluate(&pair.times, scratch)
            },
        )
        .collect();

    let n_periods = classic.params().periods_ms.len();
    let mut hosts: HashMap<IpAddr, HostResult> = HashMap::new();
    for (pair, mask) in pairs.iter().zip(&verdicts) {
        let host = hosts.entry(pair.src).or_insert_with(|| HostResult {
            host: pair.src,
            flows: 0,
            peers: 0,
            periods: vec![Vec::new(); n_periods],
        });
        host.flows += pair.times.len() as u64;
        host.peers += 1;
        for index in mask.iter() {
            host.periods[index].push(PeerEvidence {
                peer: pair.dst,
                flows: pair.times.len() as u64,
            });
        }
    }
    let mut found: Vec<(String, HostResult)> = hosts
        .into_values()
        .filter(|h| h.periods.iter().any(|p| !p.is_empty()))
        .map(|mut h| {
            for peers in &mut h.periods {
                peers.sort_by_cached_key(|e| e.peer.to_string());
            }
            (h.host.to_string(), h)
        })
        .collect();
    found.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    found.into_iter().map(|(_, h)| h).collect()
}
